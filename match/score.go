package match

import (
	"errors"
	"math"
)

// TermFreq is how common the candidate's name is in the index: N records
// carry its name key out of Total, the index size (which also sets the
// prior). The zero value means unknown.
type TermFreq struct {
	N, Total int64
}

// Scorer compares records with Fellegi-Sunter weights and grades them.
type Scorer struct {
	w       Weights
	t       Thresholds
	weights map[string]map[string]float64
}

// NewScorer validates weights and thresholds (Certain >= Probable >=
// Possible) and precomputes the level weights.
func NewScorer(w Weights, t Thresholds) (*Scorer, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if !(t.Certain >= t.Probable && t.Probable >= t.Possible && t.ProbableWithoutID >= t.Probable && t.AmbiguityMargin >= 0) || math.IsNaN(t.Certain+t.Probable+t.Possible+t.ProbableWithoutID+t.AmbiguityMargin) {
		return nil, errors.New("thresholds: want certain >= probable >= possible, probable_without_id >= probable and ambiguity_margin >= 0")
	}
	s := &Scorer{w: w, t: t, weights: map[string]map[string]float64{}}
	for f, levels := range w.Levels {
		s.weights[f] = map[string]float64{}
		for l := range levels {
			s.weights[f][l] = w.weight(f, l)
		}
	}
	return s, nil
}

// Version is the weights version every explanation carries.
func (s *Scorer) Version() string { return s.w.Version }

// Thresholds returns the grade thresholds.
func (s *Scorer) Thresholds() Thresholds { return s.t }

// Weights returns the scorer's weights.
func (s *Scorer) Weights() Weights { return s.w }

// Pattern is a pair's comparison level per field (the EM input).
type Pattern struct {
	ID, Name, BirthDate, Sex string
}

// Pattern compares a and b field by field.
func (s *Scorer) Pattern(a, b Record) Pattern {
	return Pattern{
		ID:        compareID(a.ID, b.ID),
		Name:      compareName(a.Name, b.Name),
		BirthDate: compareDate(effectiveDOB(a), effectiveDOB(b)),
		Sex:       compareSex(effectiveSex(a), effectiveSex(b)),
	}
}

// effectiveDOB is the stated birth date, or the one a checksum-valid
// citizen number embeds when none was stated.
func effectiveDOB(r Record) Date {
	if !r.BirthDate.IsZero() {
		return r.BirthDate
	}
	if r.ID.ChecksumValid {
		return r.ID.BirthDate
	}
	return Date{}
}

func effectiveSex(r Record) Sex {
	if r.Sex != SexUnknown {
		return r.Sex
	}
	if r.ID.ChecksumValid {
		return r.ID.Sex
	}
	return SexUnknown
}

// Compare scores query a against candidate b and grades the result.
func (s *Scorer) Compare(a, b Record, tf TermFreq) Explanation {
	return s.Score(s.Pattern(a, b), a, b, tf)
}

// Score grades the pattern p that Pattern(a, b) returned: Compare for a
// caller that looked at the pattern first (to fetch TermFreq only when
// UsesNameFrequency says it matters).
func (s *Scorer) Score(p Pattern, a, b Record, tf TermFreq) Explanation {
	e := Explanation{Version: s.w.Version, Fields: make([]FieldScore, 0, 5)} // id, name, birth_date, sex, prior
	add := func(field, level string, w float64) {
		e.Fields = append(e.Fields, FieldScore{Field: field, Level: level, Weight: round(w)})
		e.Score += w
	}
	idW := s.weights["id"][p.ID]
	if p.ID == LevelEqual {
		// U of id.equal is a per-record rate: the pair's u is U/N.
		mu := s.w.Levels["id"][LevelEqual]
		idW = math.Log2(mu.M * s.w.indexSize(tf.Total) / mu.U)
	}
	add("id", p.ID, idW)
	nameW := s.weights["name"][p.Name]
	if p.UsesNameFrequency() {
		nameW = s.nameWeight(p.Name, tf)
	}
	if b.Name.Placeholders > 0 || a.Name.Placeholders > 0 {
		// A character the source could not type: agreement is weaker.
		if nameW > 0 {
			nameW /= 2
		}
	}
	add("name", p.Name, nameW)
	add("birth_date", p.BirthDate, s.weights["birth_date"][p.BirthDate])
	add("sex", p.Sex, s.weights["sex"][p.Sex])
	// The prior: in an index of N records, two records picked at random
	// are one person with odds about 1:N.
	add("prior", "index_size", -math.Log2(s.w.indexSize(tf.Total)))
	e.Score = round(e.Score)
	e.Grade, e.Rules = s.grade(e.Score, p, a, b)
	return e
}

// UsesNameFrequency reports whether the names compare at a level the
// name's term frequency weighs (equal or variant): only then does
// TermFreq.N matter to Score (TermFreq.Total always does).
func (p Pattern) UsesNameFrequency() bool {
	return p.Name == LevelEqual || p.Name == LevelVariant
}

// nameWeight adjusts name agreement for how common the name is: the u of
// equality is the name's frequency in the index, smoothed towards the
// prior and floored; another level's u (variant) keeps its ratio to the
// u of equality.
func (s *Scorer) nameWeight(level string, tf TermFreq) float64 {
	mu := s.w.Levels["name"][level]
	u := mu.U
	if tf.Total > 0 {
		f := (float64(tf.N) + s.w.NameTFPrior*s.w.NameTFStrength) / (float64(tf.Total) + s.w.NameTFStrength)
		f = math.Min(math.Max(f, s.w.NameTFFloor), 0.5)
		u = math.Min(f*mu.U/s.w.Levels["name"][LevelEqual].U, 0.5)
	}
	return math.Log2(mu.M / u)
}

func round(f float64) float64 { return math.Round(f*1000) / 1000 }

// grade maps the score to a grade and applies the hard safety rules.
func (s *Scorer) grade(score float64, p Pattern, a, b Record) (Grade, []string) {
	g := GradeCertainlyNot
	switch {
	case score >= s.t.Certain:
		g = GradeCertain
	case score >= s.t.Probable:
		g = GradeProbable
	case score >= s.t.Possible:
		g = GradePossible
	}
	var rules []string
	capAt := func(max Grade, rule string) {
		if g.Rank() > max.Rank() {
			g = max
			rules = append(rules, rule)
		}
	}
	nameAgrees := p.Name == LevelEqual || p.Name == LevelVariant || p.Name == LevelPinyinEqual || p.Name == LevelWildcard
	idAgrees := p.ID == LevelEqual || p.ID == LevelTypo
	// 1. Two checksum-valid numbers that differ are two people (twins,
	// namesakes) unless a human says otherwise.
	if p.ID == LevelDifferent {
		capAt(GradePossible, "id_conflict_cap")
	}
	// 2. The same number under a different name may be an overlay (one
	// person's number on another's record): never automatic.
	if idAgrees && (p.Name == LevelDifferent) {
		capAt(GradePossible, "name_conflict_cap")
	}
	// 3. Certain needs an equal identifier, an agreeing name and no birth
	// date disagreement.
	if !(p.ID == LevelEqual && nameAgrees && p.BirthDate != LevelDifferent) {
		capAt(GradeProbable, "certain_requires_id")
	}
	// 4. Without identifier evidence, auto-linking needs an equal name, an
	// equal full birth date and no sex disagreement; the score (with the
	// name's term frequency) then decides whether the name is rare enough.
	if !idAgrees && (!((p.Name == LevelEqual || p.Name == LevelVariant) && p.BirthDate == LevelEqual && p.Sex != LevelDisagree) ||
		score < s.t.ProbableWithoutID) {
		capAt(GradePossible, "no_id_cap")
	}
	// 5. Placeholder names (无名氏) never link without an identifier.
	if p.Name == LevelPlaceholder && !idAgrees {
		capAt(GradeCertainlyNot, "placeholder_name")
	}
	return g, rules
}
