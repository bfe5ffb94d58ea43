package fhir

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// IHE profiles the CapabilityStatement claims (instantiates): the PIXm
// Patient Identifier Cross-reference Manager (ITI-83, and ITI-104 with the
// Feed option) and the PDQm Patient Demographics Supplier (ITI-78) with the
// Match Operation option (ITI-119).
var claimed = []string{
	"https://profiles.ihe.net/ITI/PIXm/CapabilityStatement/IHE.PIXm.Manager",
	"https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplier",
	"https://profiles.ihe.net/ITI/PDQm/CapabilityStatement/IHE.PDQm.PatientDemographicsSupplierMatch",
}

type (
	obj = map[string]any
	arr = []any
)

// metadata is GET /fhir/metadata: exactly what this adapter implements —
// the Patient read, search (with the parameters search accepts), the
// conditional update of the feed, $ihe-pix and $match — in JSON only.
func (h *handlers) metadata(c echo.Context) error {
	param := func(name, typ, doc string) obj { return obj{"name": name, "type": typ, "documentation": doc} }
	cs := obj{
		"resourceType": "CapabilityStatement",
		"status":       "active",
		"date":         "2026-12-01",
		"publisher":    "fiveid",
		"kind":         "instance",
		"instantiates": claimed,
		"software":     obj{"name": "fiveid"},
		"implementation": obj{"description": "fiveid master customer index: FHIR R4 interface",
			"url": base(c)},
		"fhirVersion": "4.0.1",
		"format":      arr{"application/fhir+json", "json"},
		"rest": arr{obj{
			"mode": "server",
			"documentation": "Authorization: Bearer <fiveid API key> on every interaction but this one; the same keys, roles and rate limits as /v1. " +
				"Errors are OperationOutcome with fiveid's stable code in issue.details (system " + ErrorCodeSystem + ").",
			"security": obj{"description": "fiveid API keys as Bearer tokens (README: keys and roles)"},
			"resource": arr{obj{
				"type":              "Patient",
				"versioning":        "no-version",
				"readHistory":       false,
				"updateCreate":      false,
				"conditionalCreate": false,
				"conditionalUpdate": true,
				"conditionalDelete": "not-supported",
				"interaction": arr{
					obj{"code": "read", "documentation": "the golden record Patient/{customer_id}, to an admin or a system holding one of its records; a merged ID is inactive and replaced-by the survivor"},
					obj{"code": "search-type", "documentation": "PDQm ITI-78, GET [base]/Patient?... or POST [base]/Patient/_search (form): _id, identifier=<system>|<local id>, or demographics that identify one person (as POST /v1/identify); _count and _offset page"},
					obj{"code": "update", "documentation": "ITI-104 Patient Identity Feed: PUT /fhir/Patient?identifier=<system>|<local id>, as POST /v1/customers"},
				},
				"searchParam": arr{
					param("_id", "token", "customer ID"),
					param("identifier", "token", "<registered system URI>|<local id> (OR with commas, at most 20), or with demographics <ID type URI>|<number>"),
					param("family", "string", "family name (with given, or name)"),
					param("given", "string", "given name"),
					param("name", "string", "full name"),
					param("birthdate", "date", "birth date (eq only)"),
					param("gender", "token", "male | female | other | unknown"),
					param("_count", "number", "page size, 0 to 100 (default 10)"),
					param("_offset", "number", "first result of the page (next links carry it)"),
				},
				"operation": arr{
					obj{"name": "ihe-pix", "definition": "https://profiles.ihe.net/ITI/PIXm/OperationDefinition/IHE.PIXm.pix",
						"documentation": "PIXm ITI-83: sourceIdentifier, targetSystem"},
					obj{"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match",
						"documentation": "ITI-119: resource, onlyCertainMatches, count; and fiveid's scope, purpose, ttl to ask for a grant"},
				},
			}},
		}},
	}
	return write(c, http.StatusOK, cs)
}
