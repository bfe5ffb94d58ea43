package match

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Comparison levels per field. Every pair of records gets exactly one level
// per field; the level's weight is log2(m/u), where m = P(level | same
// person) and u = P(level | different people).
const (
	// id
	LevelEqual          = "equal"           // same identifier key
	LevelTypo           = "typo"            // one substitution or adjacent swap, a checksum failing on one side
	LevelOtherNamespace = "other_namespace" // both present, different document kinds
	LevelDifferent      = "different"       // same checksum-carrying namespace, different numbers
	LevelDifferentWeak  = "different_weak"  // same namespace without a checksum (passports renew)
	LevelMissing        = "missing"         // either side has none: contributes nothing
	// name
	LevelVariant     = "variant"      // equal after traditional->simplified or dot folding
	LevelWildcard    = "wildcard"     // equal where placeholder characters stand in
	LevelPinyinEqual = "pinyin_equal" // every character's readings intersect (伟/卫)
	LevelClose       = "close"        // one edit, or every Latin token nearly equal
	LevelPartial     = "partial"      // Latin names sharing some tokens but not all (a changed or missing name part)
	LevelPlaceholder = "placeholder"  // 无名氏, 新生儿...: names nobody, contributes nothing
	// birth_date
	LevelSwapped      = "swapped"       // day and month swapped
	LevelOneOff       = "one_off"       // one component off by a one-digit typo
	LevelPartialEqual = "partial_equal" // agree at year or month precision
	LevelNear         = "near"          // at most three days apart (a time-zone shift, a slip), no one-digit typo
	LevelLunar        = "lunar"         // one date, read as a lunar date, is the other (a lunar birthday recorded as solar)
	// sex
	LevelAgree    = "agree"
	LevelDisagree = "disagree"
)

// Fields in explanation order.
var Fields = []string{"id", "name", "birth_date", "sex"}

var fieldLevels = map[string][]string{
	"id":         {LevelEqual, LevelTypo, LevelOtherNamespace, LevelDifferent, LevelDifferentWeak, LevelMissing},
	"name":       {LevelEqual, LevelVariant, LevelWildcard, LevelPinyinEqual, LevelClose, LevelPartial, LevelDifferent, LevelPlaceholder, LevelMissing},
	"birth_date": {LevelEqual, LevelSwapped, LevelOneOff, LevelNear, LevelLunar, LevelPartialEqual, LevelDifferent, LevelMissing},
	"sex":        {LevelAgree, LevelDisagree, LevelMissing},
}

// Levels lists a field's comparison levels (nil for an unknown field).
func Levels(field string) []string { return slices.Clone(fieldLevels[field]) }

// MU is a level's m and u probability.
type MU struct {
	M float64 `json:"m"`
	U float64 `json:"u"`
}

// Weights are the Fellegi-Sunter parameters: m and u per field and level.
// Missing and placeholder levels always weigh 0 whatever the file says.
type Weights struct {
	Version string                   `json:"version"`
	Levels  map[string]map[string]MU `json:"levels"`
	// NameTFPrior is the u of name equality when the index cannot say how
	// common a name is, and the prior the observed frequency is smoothed
	// towards (NameTFStrength pseudo-records).
	NameTFPrior    float64 `json:"name_tf_prior"`
	NameTFStrength float64 `json:"name_tf_strength"`
	// NameTFFloor bounds u for the rarest names: one record in a small index
	// must not make a name look unique in the population.
	NameTFFloor float64 `json:"name_tf_floor"`
	// PriorFloor is the smallest population the prior assumes: the prior
	// log-odds that two records are one person is -log2(max(index size,
	// PriorFloor)), so a small, young index does not look safer than the
	// population it will grow into.
	PriorFloor float64 `json:"prior_floor"`
}

// indexSize is the population size the prior and identifier equality
// assume for an index of total records.
func (w Weights) indexSize(total int64) float64 {
	return math.Max(float64(total), w.PriorFloor)
}

// DefaultWeights are sound starting weights, set from published error
// rates (docs/references.md) and population facts:
//   - id: a citizen number is typed wrong in ~1-3% of records (m typo 0.03).
//     An identifier names one person, so two different people share a
//     number only when a record carries somebody else's valid number (a
//     relative's card, a copied or overlaid record). The u of equality is
//     therefore a per-record rate, not a per-pair one: U of id.equal is that
//     rate (assumed 1e-3: one record in a thousand carries another
//     person's number), and a pair's u is U / N in an index of N records
//     (at least PriorFloor). Equal numbers then weigh log2(m·N/U), which
//     with the -log2 N prior leaves the same evidence, log2(m/U) ≈ 9.9
//     bits, in an index of ten thousand records or of ten million.
//     GB 11643's check character catches every single substitution, so two
//     checksum-valid numbers that differ are different numbers: m
//     different 0.002 (wrong number typed or an overlay).
//   - name: m equal 0.88; traditional/simplified or dot variants 0.04 —
//     and a variant is just as rare among different people as equality
//     is, in the same proportion (a namesake is written in the variant
//     form as often as the person is), so u variant = u equal × 0.04/0.88
//     and a variant weighs what equality weighs;
//     input-method homophones 0.03; one-character typos 0.03 (u 2e-3: a
//     random pair is rarely one typo apart); Latin names sharing some but
//     not all tokens 0.02 (middle names and surnames change: §5 of
//     linkage-anchors.md), u 1e-2. u of equality
//     is the name's frequency in the index (term frequency), smoothed
//     towards 1e-4 (the most common full name, 张伟, is ~2e-4 of China's
//     population) with the weight of 10,000 records; 1e-3 when unknown.
//   - birth_date: u equal ≈ 1/(365×60) for day precision; day-month swaps
//     ~1%, one-digit typos ~4% of dirty records. Dates at most three days
//     apart (a date stored as a UTC timestamp and read back a day early,
//     a slip) and a lunar birthday recorded as a solar one (common for the
//     elderly; cn-identity.md §5.3) are rarer, m 0.005 each; u is six days
//     out of 365×60 for near, one date (as for equality) for lunar.
//   - sex: u agree 0.5; recorded wrong ~2%.
func DefaultWeights() Weights {
	return Weights{
		Version: "fs-default-3",
		Levels: map[string]map[string]MU{
			"id": {
				LevelEqual:          {0.95, 1e-3}, // U is a per-record rate: see above
				LevelTypo:           {0.03, 1e-5},
				LevelOtherNamespace: {0.05, 0.05},
				LevelDifferent:      {0.002, 0.999},
				LevelDifferentWeak:  {0.05, 0.95},
			},
			"name": {
				LevelEqual:       {0.88, 1e-3},
				LevelVariant:     {0.04, 1e-3 * 0.04 / 0.88},
				LevelWildcard:    {0.01, 3e-3},
				LevelPinyinEqual: {0.03, 3e-3},
				LevelClose:       {0.03, 2e-3},
				LevelPartial:     {0.02, 1e-2},
				LevelDifferent:   {0.01, 0.985},
			},
			"birth_date": {
				LevelEqual:        {0.90, 4.6e-5},
				LevelSwapped:      {0.01, 4.6e-5},
				LevelOneOff:       {0.04, 2.5e-3},
				LevelNear:         {0.005, 2.7e-4},
				LevelLunar:        {0.005, 4.6e-5},
				LevelPartialEqual: {0.90, 1e-2},
				LevelDifferent:    {0.05, 0.997},
			},
			"sex": {
				LevelAgree:    {0.98, 0.5},
				LevelDisagree: {0.02, 0.5},
			},
		},
		NameTFPrior:    1e-4,
		NameTFStrength: 10_000,
		NameTFFloor:    1e-5,
		PriorFloor:     10_000,
	}
}

// DefaultThresholds are on the posterior log2-odds that two records are
// one person: the sum of the fields' log2(m/u) weights plus the prior
// -log2(N) for an index of N records (at least PriorFloor). Probable (10)
// means odds of at least 1024:1 — a wrong link at most ~0.1% of the time,
// the safety target of linkage-anchors.md §6.2 — and certain (12) at
// least 4096:1 with an equal identifier. Possible (-3, odds 1:8 or better)
// sends the rest worth a look to review: low enough that two records
// agreeing on surname and exact birth date under two numbers without a
// check character (-2.3: a given name replaced, a number retyped) reach a
// steward — recall that is found is not lost (found recall, README)
// — at a cost measured in README (the synthetic index's review tasks do
// not change; FEBRL4's grow by 19). Without an agreeing identifier a
// link needs 11 (2,048:1): twice the odds, because name, birth date and
// sex are not quite independent (popular names cluster by birth cohort). The hard rules in Compare cap grades whatever
// the score.
func DefaultThresholds() Thresholds {
	return Thresholds{Certain: 12, Probable: 10, Possible: -3, ProbableWithoutID: 11, AmbiguityMargin: 10}
}

// Validate checks every probability is in (0, 1) and every level is known.
func (w Weights) Validate() error {
	if w.Version == "" {
		return errors.New("weights: version is required")
	}
	for f, levels := range w.Levels {
		known, ok := fieldLevels[f]
		if !ok {
			return fmt.Errorf("weights: unknown field %q", f)
		}
		for l, mu := range levels {
			if !contains(known, l) {
				return fmt.Errorf("weights: unknown level %s.%s", f, l)
			}
			if !(mu.M > 0 && mu.M < 1 && mu.U > 0 && mu.U < 1) {
				return fmt.Errorf("weights: %s.%s: m and u must be in (0, 1)", f, l)
			}
		}
	}
	for _, f := range Fields {
		for _, l := range fieldLevels[f] {
			if l == LevelMissing || l == LevelPlaceholder {
				continue
			}
			if _, ok := w.Levels[f][l]; !ok {
				return fmt.Errorf("weights: %s.%s is missing", f, l)
			}
		}
	}
	if !(w.PriorFloor >= 1) {
		return errors.New("weights: prior_floor must be at least 1")
	}
	if !(w.NameTFPrior > 0 && w.NameTFPrior < 1 && w.NameTFFloor > 0 && w.NameTFFloor < 1 && w.NameTFStrength >= 0) {
		return errors.New("weights: name term-frequency parameters out of range")
	}
	return nil
}

// ParseWeights reads a weights file (JSON, as fiveid train writes it). A
// level the file predates (added by a later release) takes its default m
// and u; the file's version is kept.
func ParseWeights(b []byte) (Weights, error) {
	var w Weights
	if err := json.Unmarshal(b, &w); err != nil {
		return Weights{}, fmt.Errorf("weights: %w", err)
	}
	def := DefaultWeights()
	for f, levels := range w.Levels {
		if _, known := fieldLevels[f]; !known {
			continue // Validate names it
		}
		for l, mu := range def.Levels[f] {
			if _, ok := levels[l]; !ok {
				levels[l] = mu
			}
		}
	}
	return w, w.Validate()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// weight is log2(m/u), 0 for levels that carry no evidence.
func (w Weights) weight(field, level string) float64 {
	mu, ok := w.Levels[field][level]
	if !ok {
		return 0
	}
	return math.Log2(mu.M / mu.U)
}

// Table lists every field's levels with m, u and weight, for docs.
func (w Weights) Table() []FieldScore {
	var out []FieldScore
	for _, f := range Fields {
		levels := make([]string, 0, len(w.Levels[f]))
		for l := range w.Levels[f] {
			levels = append(levels, l)
		}
		sort.Slice(levels, func(i, j int) bool { return w.weight(f, levels[i]) > w.weight(f, levels[j]) })
		for _, l := range levels {
			out = append(out, FieldScore{Field: f, Level: l, Weight: w.weight(f, l)})
		}
	}
	return out
}
