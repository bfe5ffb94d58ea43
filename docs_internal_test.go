package fiveid

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid/match"
)

// History entries written before the documents were versioned were the Go
// field names of the domain structs; they read as today's documents.
func TestLegacyHistoryDocumentsAreUpgraded(t *testing.T) {
	t.Parallel()
	legacy := func(v any) string {
		b, err := json.Marshal(v) // the untagged form old rows hold
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c := Customer{ID: "C1", Status: StatusMerged, MergedInto: "C2", Name: "张伟", Sex: "female", BirthDate: "1949-12-31",
		IDType: "CN_RIC", IDNumber: "11010519491231002X", DeathDate: "2026-11-20", DeathSource: "funeral-d", Version: 4,
		CreatedAt: time.Unix(1, 0), UpdatedAt: time.Unix(2, 0)}
	l := Link{Grade: match.GradeProbable, Score: 13.2, Manual: true, Merge: "M1",
		Explanation: match.Explanation{Score: 13.2, Grade: match.GradeProbable, Version: "fs-default-3", Rules: []string{"certain_requires_id"},
			Fields: []match.FieldScore{{Field: "name", Level: "equal", Weight: 12.1}}}}
	in := match.Input{Name: "張偉", Sex: "2", BirthDate: "19491231", IDType: "01", IDNumber: "110105491231002"}
	tests := []struct {
		name, old, want string
	}{
		{"customer", legacy(c), customerSnapshot(c, nil)},
		{"customer of a merge entry", legacy(struct {
			Customer
			Merge mergeNote `json:"merge"`
		}{c, mergeNote{ID: "M1", Override: true, Conflicts: 1, Reason: "checked"}}), customerSnapshot(c, &mergeNote{ID: "M1", Override: true, Conflicts: 1, Reason: "checked"})},
		{"link", legacy(l), linkSnapshot(l)},
		{"elements", legacy(in), elementsSnapshot(in)},
		{"current document", customerSnapshot(c, nil), customerSnapshot(c, nil)},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := upgradeDoc(tt.old)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			for _, goName := range []string{`"IDNumber"`, `"MergedInto"`, `"Explanation"`, `"Fields"`} {
				if strings.Contains(got, goName) {
					t.Errorf("%s still carries Go field name %s", got, goName)
				}
			}
		})
	}
}

func TestExplanationDocumentRoundTrip(t *testing.T) {
	t.Parallel()
	e := match.Explanation{Score: 5.1, Grade: match.GradePossible, Version: "fs-default-3", Rules: []string{"ambiguous"},
		Fields:       []match.FieldScore{{Field: "id", Level: "missing"}, {Field: "name", Level: "equal", Weight: 12.1}},
		Conflicts:    []match.Conflict{{Rule: "id_conflict_cap", System: "a", LocalID: "1", MaskedID: "110105********002X"}},
		Alternatives: []match.Alternative{{Customer: "C1", Grade: match.GradeProbable, Score: 13}, {Customer: "C2", Grade: match.GradeProbable, Score: 12}}}
	s, err := EncodeExplanation(e)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, `"local_id":"1"`) || !strings.Contains(s, `"customer_id":"C1"`) {
		t.Errorf("stored form %s", s)
	}
	got, err := DecodeExplanation(s)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// Rows written before the documents: the untagged struct.
	old, _ := json.Marshal(match.Explanation{Score: 13.2, Grade: match.GradeProbable, Version: "fs-default-2",
		Rules: []string{"certain_requires_id"}, Fields: []match.FieldScore{{Field: "name", Level: "equal", Weight: 12.1}}})
	got, err = DecodeExplanation(string(old))
	if err != nil || got.Score != 13.2 || got.Grade != match.GradeProbable || len(got.Fields) != 1 || got.Fields[0].Level != "equal" || got.Rules[0] != "certain_requires_id" {
		t.Errorf("legacy explanation read as %+v %v", got, err)
	}
	// A cached answer of another format is a miss, never a wrong answer.
	if _, ok := decodeAnswer(old); ok {
		t.Error("a value of another format decoded as an answer")
	}
	a := answer{Decision: Decision{CustomerID: "C1", Grade: match.GradeCertain, Score: 30, Explanation: e}, DeathDate: "2026-11-20"}
	if got, ok := decodeAnswer(encodeAnswer(a)); !ok || !cmp.Equal(a, got) {
		t.Errorf("answer round trip: %+v %v", got, ok)
	}
	a.Explanation.Conflicts = []match.Conflict{{Rule: "id_conflict_cap", System: "b", LocalID: "9:1,", MaskedID: "1101**********123X"}}
	a.Explanation.Alternatives = []match.Alternative{{Customer: "C1", Grade: match.GradeProbable, Score: 14.25}, {Customer: "C2", Grade: match.GradeProbable, Score: -0.5}}
	a.Explanation.Rules = []string{"ambiguous", "名"}
	enc := encodeAnswer(a)
	if got, ok := decodeAnswer(enc); !ok || !cmp.Equal(a, got) {
		t.Errorf("answer round trip, every list: %+v %v", got, ok)
	}
	// Damaged: every cut, and a byte more, is a miss.
	for i := range enc {
		if got, ok := decodeAnswer(enc[:i]); ok {
			t.Fatalf("a cached answer cut at %d decoded: %+v", i, got)
		}
	}
	if _, ok := decodeAnswer(append(enc, '1')); ok {
		t.Error("a cached answer with a byte more decoded")
	}
	if _, ok := decodeAnswer([]byte(`{"v":1,"customer_id":"C1","grade":"certain"}`)); ok {
		t.Error("a JSON document decoded as a cached answer")
	}
}

func TestMergeSnapshotDocument(t *testing.T) {
	t.Parallel()
	s := mergeSnapshot{
		From: Customer{ID: "C2", Status: StatusActive, Name: "王芳", DeathDate: "2026-11-20", DeathSource: "funeral-d", Version: 3},
		Into: Customer{ID: "C1", Status: StatusActive, Name: "王芳", Version: 7},
		Records: []SourceRecord{{System: "a", LocalID: "1", CustomerID: "C2", Raw: match.Input{Name: "王芳"},
			Link: Link{Grade: match.GradeProbable, Score: 13, Explanation: match.Explanation{Score: 13, Grade: match.GradeProbable, Version: "fs-default-3"}}}},
	}
	stored := encodeMergeSnapshot(s)
	// Go field names never; the records' raw elements neither (unmerge
	// needs their links, and reads their values from their own rows).
	for _, goName := range []string{`"DeathDate"`, `"LocalID"`, `"Raw"`} {
		if strings.Contains(stored, goName) {
			t.Errorf("stored snapshot carries %s: %s", goName, stored)
		}
	}
	got, err := decodeMergeSnapshot(stored)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != mergeSnapshotVersion || got.From.DeathDate != "2026-11-20" || got.From.DeathSource != "funeral-d" || got.Into.Version != 7 ||
		len(got.Records) != 1 || got.Records[0].System != "a" || got.Records[0].LocalID != "1" || !cmp.Equal(got.Records[0].Link, s.Records[0].Link) {
		t.Errorf("round trip: %+v", got)
	}
	// Merges stored before version 3: the untagged struct, read as it was.
	for _, v := range []int{0, 2} {
		old := s
		old.Version = v
		b, _ := json.Marshal(old)
		got, err := decodeMergeSnapshot(string(b))
		if err != nil || got.Version != v || got.From.DeathDate != "2026-11-20" || len(got.Records) != 1 || got.Records[0].Link.Score != 13 {
			t.Errorf("version %d snapshot read as %+v %v", v, got, err)
		}
	}
}
