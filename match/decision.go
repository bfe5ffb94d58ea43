package match

// Grade follows the FHIR match-grade codes (http://hl7.org/fhir/match-grade).
type Grade string

const (
	GradeCertain      Grade = "certain"       // auto-link
	GradeProbable     Grade = "probable"      // auto-link
	GradePossible     Grade = "possible"      // human review
	GradeCertainlyNot Grade = "certainly-not" // different people
)

// AutoLink reports whether a decision of this grade links without review.
func (g Grade) AutoLink() bool { return g == GradeCertain || g == GradeProbable }

// Rank orders grades: certain 3, probable 2, possible 1, certainly-not 0.
func (g Grade) Rank() int {
	switch g {
	case GradeCertain:
		return 3
	case GradeProbable:
		return 2
	case GradePossible:
		return 1
	}
	return 0
}

// Thresholds map a total match weight (sum of log2(m/u)) to a grade.
// Certain >= Probable >= Possible.
type Thresholds struct {
	Certain  float64
	Probable float64
	Possible float64
	// ProbableWithoutID is the auto-link threshold when no identifier
	// agrees (one side has none, or they are of different kinds): name,
	// birth date and sex are conditionally dependent in real populations
	// (popular names cluster by birth cohort), so the independence model
	// overstates their joint evidence and the bar is higher.
	ProbableWithoutID float64
	// AmbiguityMargin: a second candidate customer (at least possible)
	// scoring within this many bits of the best one makes the decision
	// ambiguous (review). In posterior log2-odds, a runner-up within m
	// bits means the best is less than 2^m times likelier than the
	// runner-up to be the person (see Scorer.Choose).
	AmbiguityMargin float64
}

// FieldScore is one field's comparison: its level and the weight it added.
type FieldScore struct {
	Field  string  // id, name, birth_date, sex
	Level  string  // e.g. equal, one_edit, pinyin_equal, missing
	Weight float64 // log2(m/u) for the level, term-frequency adjusted
}

// Explanation is a scored decision an admin can read: per-field levels and
// weights, the total, the grade, any rule that capped the grade, and the
// weights version that produced it.
type Explanation struct {
	Score   float64
	Grade   Grade
	Fields  []FieldScore
	Rules   []string // e.g. "id_conflict_cap": a hard rule that changed the grade
	Version string   // weights/rules version
	// Conflicts names the records of the candidate customer whose
	// identifiers conflict with the query's even though another of its
	// records matched best (a customer-level rule: "id_conflict_cap" or
	// "id_birth_date_conflict").
	Conflicts []Conflict
	// Alternatives lists every customer that tied with the best one (rule
	// "ambiguous"): none of them was chosen, a steward decides. The best
	// one is listed too.
	Alternatives []Alternative
}

// Level is the comparison level the explanation gives field ("" when it
// has none).
func (e Explanation) Level(field string) string {
	for _, f := range e.Fields {
		if f.Field == field {
			return f.Level
		}
	}
	return ""
}

// Conflict is one record of a candidate customer that disagrees with the
// query on an identifier, named without its raw number.
type Conflict struct {
	Rule     string // id_conflict_cap or id_birth_date_conflict
	System   string
	LocalID  string
	MaskedID string // e.g. 110105********002X
}

// Alternative is a candidate customer of an ambiguous decision.
type Alternative struct {
	Customer string // customer ID
	Grade    Grade  // its grade before the ambiguity rule
	Score    float64
}
