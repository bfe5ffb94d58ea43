package fhir

import (
	"testing"

	"fiveid/match"
)

// TestNameRoundTrip: a HumanName read into fiveid's one name string and
// rendered back keeps family and given — compound Han surnames and Latin
// names included — and a name that cannot be split keeps its text only.
func TestNameRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text, family string
		given        []string
		want         string // nameText
		family2      string // after match.SplitName
		given2       string
	}{
		{"", "欧阳", []string{"雪婧"}, "欧阳雪婧", "欧阳", "雪婧"},
		{"", "张", []string{"伟"}, "张伟", "张", "伟"},
		{"", "Smith", []string{"John", "Paul"}, "Smith, John Paul", "Smith", "John Paul"},
		{"", "ZHANG", []string{"WEI"}, "ZHANG, WEI", "ZHANG", "WEI"},
		{"张伟", "X", []string{"Y"}, "张伟", "张", "伟"},
		{"阿卜杜拉·艾力", "", nil, "阿卜杜拉·艾力", "", ""},
		{"", "", []string{"Wei"}, "Wei", "", ""},
	} {
		got := nameText(tc.text, tc.family, tc.given)
		if got != tc.want {
			t.Errorf("nameText(%q, %q, %q) = %q, want %q", tc.text, tc.family, tc.given, got, tc.want)
		}
		f, g, _ := match.SplitName(got)
		if f != tc.family2 || g != tc.given2 {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", got, f, g, tc.family2, tc.given2)
		}
	}
}

// TestIdentifierSystems: configured URIs win over the defaults, a system's
// URI maps back to its code, and two things cannot share one URI.
func TestIdentifierSystems(t *testing.T) {
	t.Parallel()
	s, err := newIdentifierSystems(Config{IDTypeSystems: map[match.IDType]string{match.IDTypePassportCN: "urn:oid:1.2.3"},
		SystemURIs: map[string]string{"hosp-a": "urn:oid:1.2.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.idType[match.IDTypePassportCN] != "urn:oid:1.2.3" || s.idTypeOf["urn:oid:2.16.156.10011.1.3"] != match.IDTypeCitizen {
		t.Errorf("ID type systems: %v", s.idType)
	}
	for uri, want := range map[string]string{"urn:oid:1.2.4": "hosp-a", "urn:fiveid:system:care-b": "care-b", "urn:fiveid:system:hosp-a": "", "urn:oid:9": ""} {
		if got, _ := s.code(uri); got != want {
			t.Errorf("code(%q) = %q, want %q", uri, got, want)
		}
	}
	if s.system("hosp-a") != "urn:oid:1.2.4" || s.system("care-b") != "urn:fiveid:system:care-b" {
		t.Errorf("system URIs: %q %q", s.system("hosp-a"), s.system("care-b"))
	}
	for name, cfg := range map[string]Config{
		"two ID types, one URI":     {IDTypeSystems: map[match.IDType]string{match.IDTypePassportCN: "urn:oid:2.16.156.10011.1.3"}},
		"a system on an ID type's":  {SystemURIs: map[string]string{"x": "urn:oid:2.16.156.10011.1.3"}},
		"not a URI":                 {SystemURIs: map[string]string{"x": "hospital a"}},
		"an ID type fiveid lacks":   {IDTypeSystems: map[match.IDType]string{"NOPE": "urn:oid:1"}},
		"the customer system taken": {CustomerSystem: "urn:oid:1.2.5", SystemURIs: map[string]string{"x": "urn:oid:1.2.5"}},
	} {
		if err := cfg.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
