package match

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func held(t testing.TB, system, local, number string) Held {
	t.Helper()
	r := rec(t, "某人", "", "", "01", number)
	return Held{System: system, LocalID: local, ID: r.ID}
}

func TestCustomerConflicts(t *testing.T) {
	t.Parallel()
	n1 := "11010519491231002X"
	n2 := "440524188001010014"
	tests := []struct {
		name  string
		query Record
		held  []Held
		want  []string // rules, in order
	}{
		{"another valid number of the query's namespace", rec(t, "张伟", "女", "1949-12-31", "01", n1), []Held{held(t, "a", "1", n2)}, []string{RuleIDConflict}},
		{"the query's own number", rec(t, "张伟", "女", "1949-12-31", "01", n1), []Held{held(t, "a", "1", n1)}, nil},
		{"the query's own number beside another a steward joined", rec(t, "张伟", "女", "1949-12-31", "01", n1), []Held{held(t, "a", "1", n2), held(t, "b", "2", n1)}, nil},
		{"no number in the query, the customer's number has another birth date", rec(t, "张伟", "女", "1980-05-05", "", ""), []Held{held(t, "a", "1", n1)}, []string{RuleIDBirthDate}},
		{"no number in the query, the same birth date", rec(t, "张伟", "女", "1949-12-31", "", ""), []Held{held(t, "a", "1", n1)}, nil},
		{"a day-month swap is a typo, not another date", rec(t, "张伟", "女", "1949-12-13", "", ""), []Held{held(t, "a", "1", citizen17("11010519491213002"))}, nil},
		{"a mainland number against an HK/Macau permit", rec(t, "张娜娜", "女", "1952-11-23", "01", citizen17("34010419521123634")), []Held{{System: "a", LocalID: "1", ID: rec(t, "x", "", "", "HKMO_PERMIT", "M54247184").ID}}, []string{RulePopulation}},
		{"an HK residence permit number with an HK/Macau permit", rec(t, "张娜娜", "女", "1952-11-23", "01", citizen17("81000019521123634")), []Held{{System: "a", LocalID: "1", ID: rec(t, "x", "", "", "HKMO_PERMIT", "M54247184").ID}}, nil},
		{"a mainland number against a passport", rec(t, "张娜娜", "女", "1952-11-23", "01", citizen17("34010419521123634")), []Held{{System: "a", LocalID: "1", ID: rec(t, "x", "", "", "PASSPORT_CN", "E12345678").ID}}, nil},
		{"an invalid number never excludes", rec(t, "张伟", "女", "1980-05-05", "", ""), []Held{{System: "a", LocalID: "1", ID: rec(t, "x", "", "", "01", "110105194912310021").ID}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, c := range CustomerConflicts(tt.query, tt.held) {
				got = append(got, c.Rule)
				if c.MaskedID == "" || c.System != "a" || c.LocalID != "1" {
					t.Errorf("conflict does not name its record: %+v", c)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func citizen17(first17 string) string { return first17 + string(CheckChar(first17)) }

func TestWithConflictsCapsAtPossible(t *testing.T) {
	t.Parallel()
	e := Explanation{Score: 14, Grade: GradeProbable}
	got := e.WithConflicts([]Conflict{{Rule: RuleIDConflict, System: "a", LocalID: "1", MaskedID: "110105********002X"}})
	if got.Grade != GradePossible || !slices.Contains(got.Rules, RuleIDConflict) || len(got.Conflicts) != 1 || got.Score != 14 {
		t.Fatalf("got %+v", got)
	}
	if len(e.Rules) != 0 || len(e.Conflicts) != 0 {
		t.Fatal("WithConflicts changed its receiver's slices")
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	s := scorer(t) // AmbiguityMargin 10
	c := func(id string, g Grade, score float64, conflicts ...Conflict) Candidate {
		return Candidate{Customer: id, Explanation: Explanation{Grade: g, Score: score, Conflicts: conflicts}}
	}
	tests := []struct {
		name      string
		cs        []Candidate
		wantBest  string
		wantGrade Grade
		wantTied  []string
	}{
		{"one customer links", []Candidate{c("C1", GradeProbable, 14)}, "C1", GradeProbable, nil},
		{"two customers both link: a tie", []Candidate{c("C2", GradeProbable, 13), c("C1", GradeProbable, 13)}, "C1", GradePossible, []string{"C1", "C2"}},
		{"a runner-up within the margin", []Candidate{c("C1", GradeCertain, 20), c("C2", GradePossible, 15)}, "C1", GradePossible, []string{"C1", "C2"}},
		{"a runner-up beyond the margin", []Candidate{c("C1", GradeCertain, 30), c("C2", GradePossible, 15)}, "C1", GradeCertain, nil},
		{"a rival that links on name and date alone, far behind the number", []Candidate{c("C1", GradeCertain, 26), c("C2", GradeProbable, 13)}, "C1", GradeCertain, nil},
		{"a rival that links just within the margin", []Candidate{c("C1", GradeCertain, 22), c("C2", GradeProbable, 13)}, "C1", GradePossible, []string{"C1", "C2"}},
		{"a runner-up below possible never ties", []Candidate{c("C1", GradeProbable, 12), c("C2", GradeCertainlyNot, 10)}, "C1", GradeProbable, nil},
		{"a runner-up the query's identifier excludes never ties", []Candidate{c("C1", GradeProbable, 13), c("C2", GradePossible, 13, Conflict{Rule: RuleIDConflict})}, "C1", GradeProbable, nil},
		{"no one links: nothing to disambiguate", []Candidate{c("C1", GradePossible, 5), c("C2", GradePossible, 5)}, "C1", GradePossible, nil},
		{"three-way tie lists all, best first", []Candidate{c("C3", GradeProbable, 12), c("C1", GradeProbable, 13), c("C2", GradePossible, 9)}, "C1", GradePossible, []string{"C1", "C3", "C2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i, e := s.Choose(tt.cs)
			if tt.cs[i].Customer != tt.wantBest || e.Grade != tt.wantGrade {
				t.Fatalf("chose %s %s, want %s %s", tt.cs[i].Customer, e.Grade, tt.wantBest, tt.wantGrade)
			}
			var tied []string
			for _, a := range e.Alternatives {
				tied = append(tied, a.Customer)
			}
			if diff := cmp.Diff(tt.wantTied, tied); diff != "" {
				t.Errorf("alternatives (-want +got):\n%s", diff)
			}
			if (tt.wantTied != nil) != slices.Contains(e.Rules, RuleAmbiguous) {
				t.Errorf("rules %v", e.Rules)
			}
		})
	}
	if i, _ := s.Choose(nil); i != -1 {
		t.Fatal("no candidates must choose nothing")
	}
}
