package main

import (
	"fmt"
	"strings"

	"fiveid/api/fhir"
	"fiveid/match"
)

// fhirConfig reads the FHIR interface's identifier systems:
//
//	FIVEID_FHIR_ID_SYSTEMS         ID type=URI pairs, comma-separated (CN_RIC=urn:oid:...,PASSPORT_CN=urn:oid:...), over fhir.DefaultIDTypeSystems
//	FIVEID_FHIR_SYSTEM_URIS        system code=URI pairs (hosp-a=urn:oid:1.2.156....), comma-separated
//	FIVEID_FHIR_SYSTEM_URI_PREFIX  the URI of a system not listed is this prefix + its code (default urn:fiveid:system:)
//	FIVEID_FHIR_CUSTOMER_SYSTEM    the golden record ID's system (default urn:fiveid:customer)
func fhirConfig(getenv func(string) string) (fhir.Config, error) {
	c := fhir.Config{SystemURIPrefix: getenv("FIVEID_FHIR_SYSTEM_URI_PREFIX"), CustomerSystem: getenv("FIVEID_FHIR_CUSTOMER_SYSTEM"),
		IDTypeSystems: map[match.IDType]string{}, SystemURIs: map[string]string{}}
	for _, kv := range []struct {
		name string
		put  func(k, v string)
	}{
		{"FIVEID_FHIR_ID_SYSTEMS", func(k, v string) { c.IDTypeSystems[match.IDType(k)] = v }},
		{"FIVEID_FHIR_SYSTEM_URIS", func(k, v string) { c.SystemURIs[k] = v }},
	} {
		for _, pair := range splitList(getenv(kv.name)) {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return c, fmt.Errorf("%s: want NAME=URI pairs separated by commas, got %q", kv.name, pair)
			}
			kv.put(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	if err := c.Check(); err != nil {
		return c, fmt.Errorf("FIVEID_FHIR_*: %w", err)
	}
	return c, nil
}
