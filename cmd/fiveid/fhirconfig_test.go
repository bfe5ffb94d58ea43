package main

import (
	"testing"

	"fiveid/match"
)

// The FHIR identifier systems: read from FIVEID_FHIR_*, and refused before
// anything connects when malformed or clashing.
func TestFHIRConfig(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(env(map[string]string{
		"FIVEID_FHIR_ID_SYSTEMS":  "PASSPORT_CN=urn:oid:1.2.156.1, CN_RIC=urn:oid:1.2.156.2",
		"FIVEID_FHIR_SYSTEM_URIS": "hosp-a=urn:oid:1.2.156.3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.FHIR.IDTypeSystems[match.IDTypePassportCN] != "urn:oid:1.2.156.1" || c.FHIR.IDTypeSystems[match.IDTypeCitizen] != "urn:oid:1.2.156.2" ||
		c.FHIR.SystemURIs["hosp-a"] != "urn:oid:1.2.156.3" {
		t.Errorf("read %+v", c.FHIR)
	}
	for k, v := range map[string]string{
		"FIVEID_FHIR_ID_SYSTEMS":        "NOT_A_TYPE=urn:oid:1",
		"FIVEID_FHIR_SYSTEM_URIS":       "hosp-a",
		"FIVEID_FHIR_SYSTEM_URI_PREFIX": "not a uri",
		"FIVEID_FHIR_CUSTOMER_SYSTEM":   "urn:oid:2.16.156.10011.1.3", // the resident ID's
	} {
		if _, err := loadConfig(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s was accepted", k, v)
		}
	}
}
