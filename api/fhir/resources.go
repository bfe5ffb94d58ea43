package fhir

import "encoding/json"

// The FHIR R4 elements this adapter reads and writes: wire types only, JSON
// names as in the specification (hl7.org/fhir/R4). Tests decode every answer
// with an independent R4 parser that enforces the definitions.

// Patient is R4 Patient (the elements fiveid maps).
type Patient struct {
	ResourceType     string        `json:"resourceType"`
	ID               string        `json:"id,omitempty"`
	Meta             *Meta         `json:"meta,omitempty"`
	Identifier       []Identifier  `json:"identifier,omitempty"`
	Active           *bool         `json:"active,omitempty"`
	Name             []HumanName   `json:"name,omitempty"`
	Gender           string        `json:"gender,omitempty"`
	BirthDate        string        `json:"birthDate,omitempty"`
	DeceasedBoolean  *bool         `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime string        `json:"deceasedDateTime,omitempty"`
	Link             []PatientLink `json:"link,omitempty"`
}

// Meta is R4 Meta.
type Meta struct {
	VersionID   string `json:"versionId,omitempty"`
	LastUpdated string `json:"lastUpdated,omitempty"`
}

// Identifier is R4 Identifier.
type Identifier struct {
	Use    string           `json:"use,omitempty"`
	Type   *CodeableConcept `json:"type,omitempty"`
	System string           `json:"system,omitempty"`
	Value  string           `json:"value,omitempty"`
}

// CodeableConcept is R4 CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Coding is R4 Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

func codeable(system, code, text string) *CodeableConcept {
	return &CodeableConcept{Coding: []Coding{{System: system, Code: code}}, Text: text}
}

// HumanName is R4 HumanName.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Text   string   `json:"text,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// PatientLink is R4 Patient.link.
type PatientLink struct {
	Other Reference `json:"other"`
	Type  string    `json:"type"`
}

// Reference is R4 Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// Extension is R4 Extension (the value types fiveid writes).
type Extension struct {
	URL           string      `json:"url"`
	Extension     []Extension `json:"extension,omitempty"`
	ValueCode     string      `json:"valueCode,omitempty"`
	ValueString   string      `json:"valueString,omitempty"`
	ValueInstant  string      `json:"valueInstant,omitempty"`
	ValueDateTime string      `json:"valueDateTime,omitempty"`
}

// OperationOutcome is R4 OperationOutcome.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is R4 OperationOutcome.issue.
type Issue struct {
	Severity    string           `json:"severity"`
	Code        string           `json:"code"`
	Details     *CodeableConcept `json:"details,omitempty"`
	Diagnostics string           `json:"diagnostics,omitempty"`
	Expression  []string         `json:"expression,omitempty"`
}

// Bundle is R4 Bundle (searchset).
type Bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []BundleLink  `json:"link,omitempty"`
	Entry        []BundleEntry `json:"entry,omitempty"`
}

// BundleLink is R4 Bundle.link.
type BundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

// BundleEntry is R4 Bundle.entry.
type BundleEntry struct {
	Extension []Extension   `json:"extension,omitempty"`
	FullURL   string        `json:"fullUrl,omitempty"`
	Resource  any           `json:"resource,omitempty"`
	Search    *BundleSearch `json:"search,omitempty"`
}

// BundleSearch is R4 Bundle.entry.search.
type BundleSearch struct {
	Extension []Extension `json:"extension,omitempty"`
	Mode      string      `json:"mode,omitempty"`
	Score     *float64    `json:"score,omitempty"`
}

// Parameters is R4 Parameters.
type Parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []Parameter `json:"parameter,omitempty"`
}

// Parameter is R4 Parameters.parameter (the value types fiveid reads and
// writes).
type Parameter struct {
	Name            string          `json:"name"`
	ValueIdentifier *Identifier     `json:"valueIdentifier,omitempty"`
	ValueReference  *Reference      `json:"valueReference,omitempty"`
	ValueBoolean    *bool           `json:"valueBoolean,omitempty"`
	ValueInteger    *int64          `json:"valueInteger,omitempty"`
	ValueString     *string         `json:"valueString,omitempty"`
	ValueCode       *string         `json:"valueCode,omitempty"`
	Resource        json.RawMessage `json:"resource,omitempty"`
}
