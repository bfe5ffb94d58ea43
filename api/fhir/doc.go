// Package fhir is fiveid's HL7 FHIR R4 interface at /fhir: the IHE PIXm
// cross-reference (ITI-83) and Patient Identity Feed (ITI-104), PDQm search
// and read (ITI-78) and Patient/$match (ITI-119), in application/fhir+json.
//
// It is an adapter, like package api, whose guard (keys, roles, rate limits)
// and error table it reuses: every answer comes from the use cases of package
// fiveid — Register, Xref, Identify(AndGrant), Patient — so no matching,
// visibility or grant rule is written here a second time. What it owns is the
// mapping between FHIR resources and fiveid's values (mapping.go), the
// identifier system URIs (Config), and rendering errors as OperationOutcome
// with fiveid's stable codes.
//
// It must not read the store, score records or decide who may see whom.
package fhir
