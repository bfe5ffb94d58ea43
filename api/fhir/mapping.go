package fhir

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"fiveid"
	"fiveid/match"
)

// identifierSystems maps Identifier.system URIs to fiveid's ID types and
// registered systems, both ways.
type identifierSystems struct {
	idType   map[match.IDType]string
	idTypeOf map[string]match.IDType
	systems  map[string]string // system code -> URI
	codeOf   map[string]string // URI -> system code
	prefix   string
	customer string
}

func newIdentifierSystems(cfg Config) (identifierSystems, error) {
	s := identifierSystems{idType: DefaultIDTypeSystems(), idTypeOf: map[string]match.IDType{},
		systems: map[string]string{}, codeOf: map[string]string{},
		prefix: cfg.SystemURIPrefix, customer: cfg.CustomerSystem}
	if s.prefix == "" {
		s.prefix = DefaultSystemURIPrefix
	}
	if s.customer == "" {
		s.customer = DefaultCustomerSystem
	}
	for t, uri := range cfg.IDTypeSystems {
		if _, ok := s.idType[t]; !ok {
			return s, fmt.Errorf("fhir: unknown ID type %q", t)
		}
		s.idType[t] = uri
	}
	taken := map[string]string{s.customer: "the customer system"}
	for t, uri := range s.idType {
		if err := uriOK(uri); err != nil {
			return s, fmt.Errorf("fhir: ID type %s: %w", t, err)
		}
		if by, dup := taken[uri]; dup {
			return s, fmt.Errorf("fhir: ID type %s and %s share the system %s", t, by, uri)
		}
		taken[uri] = string(t)
		s.idTypeOf[uri] = t
	}
	for code, uri := range cfg.SystemURIs {
		if err := uriOK(uri); err != nil {
			return s, fmt.Errorf("fhir: system %s: %w", code, err)
		}
		if by, dup := taken[uri]; dup {
			return s, fmt.Errorf("fhir: system %s and %s share the URI %s", code, by, uri)
		}
		taken[uri] = code
		s.systems[code], s.codeOf[uri] = uri, code
	}
	if err := uriOK(s.prefix); err != nil {
		return s, fmt.Errorf("fhir: system URI prefix: %w", err)
	}
	if err := uriOK(s.customer); err != nil {
		return s, fmt.Errorf("fhir: customer system: %w", err)
	}
	return s, nil
}

func uriOK(uri string) error {
	if uri == "" || strings.IndexFunc(uri, unicode.IsSpace) >= 0 || !strings.Contains(uri, ":") {
		return errors.New("a system must be an absolute URI without spaces (urn:oid:..., https://...)")
	}
	return nil
}

// system is the URI of a registered system's local IDs.
func (s identifierSystems) system(code string) string {
	if uri, ok := s.systems[code]; ok {
		return uri
	}
	return s.prefix + code
}

// code is the registered system a URI names, if it names one (whether the
// system exists is the service's to say).
func (s identifierSystems) code(uri string) (string, bool) {
	if code, ok := s.codeOf[uri]; ok {
		return code, true
	}
	code, ok := strings.CutPrefix(uri, s.prefix)
	if !ok || code == "" {
		return "", false
	}
	if configured, listed := s.systems[code]; listed && configured != uri {
		return "", false // that system has another URI
	}
	return code, true
}

// idTypeNames are the display names of fiveid's ID types.
var idTypeNames = map[match.IDType]string{
	match.IDTypeCitizen:         "居民身份证",
	match.IDTypeHKMOPermit:      "港澳居民来往内地通行证",
	match.IDTypeTWPermit:        "台湾居民来往大陆通行证",
	match.IDTypeHMTResidence:    "港澳台居民居住证",
	match.IDTypeForeignPR:       "外国人永久居留身份证",
	match.IDTypePassportCN:      "中国护照",
	match.IDTypePassportHKMO:    "香港/澳门特区护照",
	match.IDTypePassportForeign: "外国护照",
	match.IDTypePassport:        "护照",
	match.IDTypeMilitary:        "军官证",
	match.IDTypeDriver:          "驾驶证",
	match.IDTypeBirthCert:       "出生医学证明",
	match.IDTypeDisability:      "残疾人证",
	match.IDTypeOther:           "其他证件",
}

// fhirTime is an R4 instant.
func fhirTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

// patient renders a golden record the caller may see (fiveid.Service.Patient)
// as the Patient Patient/{customer_id}; see README "FHIR" for the table.
func (h *handlers) patient(v fiveid.CustomerView) Patient {
	c := v.Customer
	p := Patient{ResourceType: "Patient", ID: c.ID, Active: yes(),
		Meta:       &Meta{VersionID: strconv.FormatInt(c.Version, 10), LastUpdated: fhirTime(c.UpdatedAt)},
		Identifier: []Identifier{{Use: "official", System: h.ids.customer, Value: c.ID}},
		Gender:     gender(c.Sex), BirthDate: c.BirthDate, DeceasedDateTime: c.DeathDate}
	if c.IDNumber != "" {
		p.Identifier = append(p.Identifier, h.idNumber(match.IDType(c.IDType), c.IDNumber))
	}
	for _, r := range v.Records {
		id := Identifier{System: h.ids.system(r.System), Value: r.LocalID}
		p.Identifier = append(p.Identifier, id)
		p.Link = append(p.Link, PatientLink{Type: "seealso", Other: Reference{Identifier: &id, Display: r.System + " " + r.LocalID}})
	}
	if c.Name != "" {
		n := HumanName{Use: "official", Text: c.Name}
		if f, g, ok := match.SplitName(c.Name); ok {
			n.Family, n.Given = f, []string{g}
		}
		p.Name = []HumanName{n}
	}
	return p
}

// replaced is a merged customer's Patient: inactive, replaced by the
// survivor (R4 Patient.link "replaced-by"). It carries no demographics.
func replaced(id, survivor string) Patient {
	return Patient{ResourceType: "Patient", ID: id, Active: no(),
		Link: []PatientLink{{Type: "replaced-by", Other: Reference{Reference: "Patient/" + survivor}}}}
}

// minimal is a Patient the caller may name but not read (identify, PIXm):
// its ID and, as identify says, a recorded death.
func minimal(id, deathDate string) Patient {
	return Patient{ResourceType: "Patient", ID: id, Active: yes(), DeceasedDateTime: deathDate}
}

func (h *handlers) idNumber(t match.IDType, number string) Identifier {
	id := Identifier{Use: "official", Value: number, System: h.ids.idType[t]}
	if id.System == "" {
		id.System = h.ids.idType[match.IDTypeOther]
	}
	name := idTypeNames[t]
	id.Type = &CodeableConcept{Coding: []Coding{{System: IDTypeCodeSystem, Code: string(t), Display: name}}, Text: name}
	return id
}

func gender(sex string) string {
	switch sex {
	case "male", "female":
		return sex
	}
	return "" // unknown is missing data, not a value
}

// input reads the five elements from a Patient (feed, $match): the official
// (else usual, else first) name; gender; birthDate; the first identifier
// whose system is an ID type's. Identifiers of registered systems and every
// other element are not identity elements and are ignored.
func (h *handlers) input(p Patient) (match.Input, error) {
	if p.ResourceType != "Patient" {
		return match.Input{}, invalid("resourceType", "the resource must be a Patient")
	}
	in := match.Input{BirthDate: p.BirthDate}
	switch p.Gender {
	case "male", "female":
		in.Sex = p.Gender
	case "", "other", "unknown":
	default:
		return match.Input{}, invalid("Patient.gender", "gender must be male, female, other or unknown")
	}
	if n, ok := pickName(p.Name); ok {
		in.Name = nameText(n.Text, n.Family, n.Given)
	}
	for _, id := range p.Identifier {
		if t, ok := h.ids.idTypeOf[id.System]; ok && id.Value != "" {
			in.IDType, in.IDNumber = string(t), id.Value
			break
		}
	}
	return in, nil
}

func pickName(ns []HumanName) (HumanName, bool) {
	for _, use := range []string{"official", "usual"} {
		for _, n := range ns {
			if n.Use == use {
				return n, true
			}
		}
	}
	if len(ns) > 0 {
		return ns[0], true
	}
	return HumanName{}, false
}

// nameText is the one name string fiveid normalizes: the text when given,
// else family and given joined as the script writes them — Han without a
// space, family first (欧阳 + 修 = 欧阳修); Latin in the comma form
// "FAMILY, GIVEN", which keeps the split for match.SplitName when the name
// is read back (the Latin key sorts the tokens, so the comma changes no
// match: "Smith, John" and "John Smith" have one key).
func nameText(text, family string, given []string) string {
	if strings.TrimSpace(text) != "" {
		return text
	}
	family, g := strings.TrimSpace(family), strings.TrimSpace(strings.Join(given, " "))
	switch {
	case han(family) && han(strings.Join(given, "")):
		return family + strings.Join(given, "")
	case family != "" && g != "":
		return family + ", " + g
	}
	return family + g
}

func han(s string) bool {
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return true
}

// token splits a FHIR token parameter value system|value.
func token(v string) (system, value string, ok bool) {
	system, value, ok = strings.Cut(v, "|")
	return system, value, ok && system != "" && value != ""
}

// Check validates the identifier systems (absolute URIs, no two things
// sharing one) without a Service, so that configuration is refused before
// anything connects.
func (cfg Config) Check() error {
	_, err := newIdentifierSystems(cfg)
	return err
}
