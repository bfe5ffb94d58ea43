package match

import (
	"errors"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
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
	e := Explanation{Version: s.w.Version, Fields: make([]FieldScore, 0, 4)}
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

// ---- field comparisons ----

// checksumNamespaces carry a check character: a single substitution or
// adjacent swap always breaks it, so two valid numbers that differ are
// different numbers.
func strongNamespace(ns string) bool {
	return ns == string(IDTypeCitizen) || ns == string(IDTypeForeignPR) || ns == string(IDTypeHKMOPermit) || ns == string(IDTypeTWPermit)
}

func compareID(a, b Identifier) string {
	if a.IsZero() || b.IsZero() {
		return LevelMissing
	}
	if a.Key == b.Key {
		return LevelEqual
	}
	if a.Namespace != b.Namespace {
		return LevelOtherNamespace
	}
	bothValid := a.HasChecksum && b.HasChecksum && a.ChecksumValid && b.ChecksumValid
	if !bothValid && oneEdit(a.Number, b.Number) {
		return LevelTypo
	}
	if a.HasChecksum && b.HasChecksum && !bothValid && oneEdit(a.Number[:min(17, len(a.Number))], b.Number[:min(17, len(b.Number))]) {
		return LevelTypo
	}
	if strongNamespace(a.Namespace) && (bothValid || (!a.HasChecksum && !b.HasChecksum)) {
		return LevelDifferent
	}
	return LevelDifferentWeak
}

// oneEdit reports equal-length strings that differ in exactly one position
// or by one adjacent transposition.
func oneEdit(a, b string) bool {
	if len(a) != len(b) || a == b {
		return false
	}
	first := -1
	for i := 0; i < len(a); i++ {
		if a[i] != b[i] {
			first = i
			break
		}
	}
	// One substitution.
	if a[first+1:] == b[first+1:] {
		return true
	}
	// One adjacent transposition.
	return first+1 < len(a) && a[first] == b[first+1] && a[first+1] == b[first] && a[first+2:] == b[first+2:]
}

func compareName(a, b Name) string {
	if a.IsZero() || b.IsZero() {
		return LevelMissing
	}
	if IsPlaceholderName(a.Key) || IsPlaceholderName(b.Key) {
		return LevelPlaceholder
	}
	if a.Key == b.Key {
		if a.Display == b.Display {
			return LevelEqual
		}
		return LevelVariant
	}
	if a.Dotless == b.Dotless {
		return LevelVariant
	}
	aHan, bHan := a.Script == ScriptHan || a.Script == ScriptMixed, b.Script == ScriptHan || b.Script == ScriptMixed
	switch {
	case aHan && bHan:
		if wildcardEqual(a.Dotless, b.Dotless) {
			return LevelWildcard
		}
		if pinyinEqual(a.Pinyin, b.Pinyin) {
			return LevelPinyinEqual
		}
		if runeEditOne(a.Dotless, b.Dotless) {
			return LevelClose
		}
		return LevelDifferent
	case aHan != bHan:
		// 张伟 against ZHANG WEI / Wei Zhang.
		han, lat := a, b
		if bHan {
			han, lat = b, a
		}
		if latinMatchesPinyin(han, lat) {
			return LevelPinyinEqual
		}
		return LevelDifferent
	}
	if wildcardEqual(a.Dotless, b.Dotless) {
		return LevelWildcard
	}
	return compareLatin(a, b)
}

// compareLatin compares Latin names token by token (order is free: SMITH
// JOHN = John Smith): close when every token of the shorter name has a
// distinct near-equal partner (Jaro-Winkler ≥ 0.88: typos) or the names
// agree with spaces removed (KATE LIN / Katelin); partial when some tokens
// agree and others do not (a changed surname, a missing middle name).
func compareLatin(a, b Name) string {
	at, bt := strings.Fields(a.Key), strings.Fields(b.Key)
	if len(at) > len(bt) {
		at, bt = bt, at
	}
	if len(at) == 0 {
		return LevelDifferent
	}
	// Spaces inserted or removed, in written order.
	if jaroWinkler(strings.ReplaceAll(latinFold.Replace(strings.ToUpper(a.Display)), " ", ""),
		strings.ReplaceAll(latinFold.Replace(strings.ToUpper(b.Display)), " ", "")) >= 0.95 {
		return LevelClose
	}
	used := make([]bool, len(bt))
	matched := 0
	for _, x := range at {
		best, bestJ := -1, 0.0
		for j, y := range bt {
			if used[j] {
				continue
			}
			if jw := jaroWinkler(x, y); jw > bestJ {
				best, bestJ = j, jw
			}
		}
		if best >= 0 && bestJ >= 0.88 {
			used[best] = true
			matched++
		}
	}
	switch {
	case matched == len(at) && (len(at) >= 2 || len(bt) == 1):
		return LevelClose
	case matched > 0:
		return LevelPartial
	}
	return LevelDifferent
}

func wildcardEqual(a, b string) bool {
	if !strings.Contains(a, "?") && !strings.Contains(b, "?") {
		return false
	}
	ar, br := []rune(a), []rune(b)
	if len(ar) != len(br) {
		return false
	}
	for i := range ar {
		if ar[i] != br[i] && ar[i] != '?' && br[i] != '?' {
			return false
		}
	}
	return true
}

func pinyinEqual(a, b [][]string) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if !intersects(a[i], b[i]) {
			return false
		}
	}
	return true
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if x == "?" {
			return true
		}
		for _, y := range b {
			if x == y || y == "?" {
				return true
			}
		}
	}
	return false
}

// runeEditOne: one inserted or deleted character or one adjacent swap for
// names of at least two characters; one substituted character only for
// names of three or more (in a two-character name a substitution changes
// half the name: 张伟/张强 are two people).
func runeEditOne(a, b string) bool {
	ar, br := []rune(a), []rune(b)
	if len(ar) < 2 || len(br) < 2 {
		return false
	}
	if len(ar) == len(br) {
		diff := 0
		for i := range ar {
			if ar[i] != br[i] {
				diff++
			}
		}
		if diff == 1 {
			return len(ar) >= 3
		}
		if diff == 2 {
			for i := 0; i+1 < len(ar); i++ {
				if ar[i] != br[i] {
					return ar[i] == br[i+1] && ar[i+1] == br[i] && string(ar[i+2:]) == string(br[i+2:])
				}
			}
		}
		return false
	}
	if len(ar) > len(br) {
		ar, br = br, ar
	}
	if len(br)-len(ar) != 1 {
		return false
	}
	for i := range ar {
		if ar[i] != br[i] {
			return string(ar[i:]) == string(br[i+1:])
		}
	}
	return true
}

// latinPinyinKeys are the pinyin blocking keys a Latin name may share with
// a Han name (ZHANG WEI, Wei Zhang, Zhang Xiao-Ming against 张伟, 张晓明):
// the tokens joined in written order and with the last token (a surname
// written last) moved to the front, lower case as Han pinyin keys are;
// LYU/NYU (GB/T 28039 for 吕/女) also as go-pinyin's lv/nv. Names of two
// to four tokens only.
func latinPinyinKeys(n Name) []string {
	if n.Script != ScriptLatin {
		return nil
	}
	if toks := latinTokens(n.Display); len(toks) < 2 || len(toks) > 4 {
		return nil
	}
	var out []string
	for _, k := range latinSpellings(n) {
		for _, v := range []string{k, yuToV.Replace(k)} {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// latinSpellings are a Latin name's letters, lower case, in written order
// and with the last token (a surname written last) moved to the front:
// the two ways a Chinese name in pinyin is ordered.
func latinSpellings(n Name) []string {
	toks := latinTokens(n.Display)
	if len(toks) == 0 {
		return nil
	}
	last := len(toks) - 1
	return []string{strings.ToLower(strings.Join(toks, "")), strings.ToLower(toks[last] + strings.Join(toks[:last], ""))}
}

// yuToV writes ü as go-pinyin does (lv, nv).
var yuToV = strings.NewReplacer("lyu", "lv", "nyu", "nv")

// latinMatchesPinyin reports whether a Latin name spells the Han name's
// pinyin: its letters, in written order or with the last token (a surname
// written last) moved to the front, split into the Han characters'
// readings in order (any heteronym; ü as v, yu or u), so that ZHANG WEI,
// Wei Zhang, Zhang Xiao-Ming and LYU FANG all read as 张伟, 张晓明, 吕芳.
func latinMatchesPinyin(han Name, latin Name) bool {
	if len(han.Pinyin) < 2 || len(han.Pinyin) > 20 {
		return false
	}
	for _, s := range latinSpellings(latin) {
		if spells(s, han.Pinyin) {
			return true
		}
	}
	return false
}

// spells reports whether s is the concatenation of one reading per
// character, in order (a set of reachable offsets per character: linear,
// whatever the heteronyms).
func spells(s string, readings [][]string) bool {
	cur := map[int]bool{0: true}
	for _, rs := range readings {
		next := map[int]bool{}
		for j := range cur {
			for _, r := range rs {
				forms := []string{r}
				if strings.Contains(r, "v") { // ü: lv, lyu, lu
					forms = append(forms, strings.ReplaceAll(r, "v", "yu"), strings.ReplaceAll(r, "v", "u"))
				}
				for _, f := range forms {
					if f != "" && strings.HasPrefix(s[j:], f) {
						next[j+len(f)] = true
					}
				}
			}
		}
		if len(next) == 0 {
			return false
		}
		cur = next
	}
	return cur[len(s)]
}

// jaroWinkler similarity of two strings, in [0, 1].
func jaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	ar, br := []rune(a), []rune(b)
	la, lb := len(ar), len(br)
	if la == 0 || lb == 0 || la > 64 || lb > 64 {
		return 0
	}
	window := max(la, lb)/2 - 1
	if window < 0 {
		window = 0
	}
	var am, bm [64]bool
	m := 0
	for i := 0; i < la; i++ {
		lo, hi := max(0, i-window), min(lb-1, i+window)
		for j := lo; j <= hi; j++ {
			if !bm[j] && ar[i] == br[j] {
				am[i], bm[j] = true, true
				m++
				break
			}
		}
	}
	if m == 0 {
		return 0
	}
	t, k := 0, 0
	for i := 0; i < la; i++ {
		if am[i] {
			for !bm[k] {
				k++
			}
			if ar[i] != br[k] {
				t++
			}
			k++
		}
	}
	mf := float64(m)
	j := (mf/float64(la) + mf/float64(lb) + (mf-float64(t)/2)/mf) / 3
	l := 0
	for l < min(4, la, lb) && ar[l] == br[l] {
		l++
	}
	return j + float64(l)*0.1*(1-j)
}

func compareDate(a, b Date) string {
	if a.IsZero() || b.IsZero() {
		return LevelMissing
	}
	if a.Precision == PrecisionDay && b.Precision == PrecisionDay {
		switch {
		case a == b:
			return LevelEqual
		case a.Year == b.Year && a.Month == b.Day && a.Day == b.Month:
			return LevelSwapped
		}
		diffs := 0
		typo := true
		if a.Year != b.Year {
			diffs++
			typo = typo && oneEdit(pad(a.Year, 4), pad(b.Year, 4))
		}
		if a.Month != b.Month {
			diffs++
			typo = typo && oneEdit(pad(a.Month, 2), pad(b.Month, 2))
		}
		if a.Day != b.Day {
			diffs++
			typo = typo && oneEdit(pad(a.Day, 2), pad(b.Day, 2))
		}
		if diffs == 1 && typo {
			return LevelOneOff
		}
		da, db := dayNumber(a), dayNumber(b)
		if d := da - db; d >= -3 && d <= 3 {
			return LevelNear
		}
		if lunarRelated(a, b, da, db) {
			return LevelLunar
		}
		return LevelDifferent
	}
	if datesAgree(a, b) {
		return LevelPartialEqual
	}
	return LevelDifferent
}

func pad(n, width int) string {
	s := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		s[i] = byte('0' + n%10)
		n /= 10
	}
	return string(s)
}

func compareSex(a, b Sex) string {
	switch {
	case a == SexUnknown || b == SexUnknown:
		return LevelMissing
	case a == b:
		return LevelAgree
	}
	return LevelDisagree
}

// ---- blocking ----

// BlockingRules versions BlockingKeys: it goes up whenever the keys a
// record gets change, and an index built under an older version needs
// fiveid reindex. 2: pinyin keys for Latin-written names. 3: a name key
// with the birth date read as a lunar date. 4: each token of a Latin name
// with the full birth date.
const BlockingRules = 4

// BlockingKeys are the candidate-retrieval keys of r, each prefixed with
// its kind. Any single typo in an ID number leaves at least one ID key
// intact; names block only together with a birth date; placeholder names,
// missing or placeholder IDs and missing dates never block.
func BlockingKeys(r Record) []string {
	keys := make([]string, 0, 10)
	add := func(k string) {
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
	}
	id := r.ID
	if !id.IsZero() {
		add("id:" + id.Key)
		n := id.Number
		if id.Namespace == string(IDTypeCitizen) && len(n) == 18 {
			// Address | birth date | sequence: a typo in one segment leaves
			// the key made of the other two equal.
			add("idab:" + n[:14])
			add("idbs:" + n[6:17])
			add("idas:" + n[:6] + n[14:17])
		} else if utf8.RuneCountInString(n) >= 7 && isASCII(n) {
			h := len(n) / 2
			add("idh1:" + id.Namespace + ":" + n[:h])
			add("idh2:" + id.Namespace + ":" + n[h:])
		}
	}
	name := r.Name
	if name.IsZero() || IsPlaceholderName(name.Key) || name.Placeholders*2 >= utf8.RuneCountInString(name.Dotless) {
		return keys
	}
	dates := []Date{}
	if d := effectiveDOB(r); !d.IsZero() {
		dates = append(dates, d)
	}
	if r.ID.ChecksumValid && !r.ID.BirthDate.IsZero() && r.ID.BirthDate != r.BirthDate {
		dates = append(dates, r.ID.BirthDate)
	}
	nk := name.Dotless
	if name.Script == ScriptLatin {
		nk = name.Key
	}
	pys := latinPinyinKeys(name)
	if name.PinyinKey != "" {
		pys = append(pys, name.PinyinKey)
	}
	for _, d := range dates {
		ds := d.String()
		add("nd:" + nk + "|" + ds)
		for _, py := range pys {
			add("py:" + py + "|" + ds)
		}
		if d.Precision == PrecisionDay && name.Script == ScriptLatin {
			// A typo in one token of a Latin name (JOHN SMTIH), a token
			// replaced or dropped (a middle or a married name): each other
			// token still meets the record with the same full date.
			for _, tok := range strings.Fields(name.Key) {
				if len(tok) >= 2 {
					add("ntd:" + tok + "|" + ds)
				}
			}
		}
		if d.Precision == PrecisionDay {
			// A typo in the day or the year keeps one of these.
			add("nym:" + nk + "|" + ds[:7])
			add("nmd:" + nk + "|" + ds[4:])
			if d.Day <= 12 && d.Day != d.Month {
				add("nd:" + nk + "|" + Date{d.Year, d.Day, d.Month, PrecisionDay}.String())
			}
			// A lunar birthday recorded as a solar one (the elderly's
			// habit): read as lunar, the date is the solar date another
			// system holds, which carries that key as its own.
			if s, ok := lunarToSolar(d.Year, d.Month, d.Day, false); ok {
				add("nd:" + nk + "|" + s.String())
			}
		}
	}
	return keys
}

// IDsConflict reports two identifiers that name two different people for
// certain: both checksum-valid, in one namespace, with different keys. A
// check character (GB 11643's ISO 7064 MOD 11-2 and its relatives) catches
// every single substitution and adjacent swap, so two valid numbers that
// differ are not a typo of one another. A customer whose records hold such
// a number is in conflict with the other side whichever of its records
// matched best (DOMAIN.md §3: decisions are about customers).
func IDsConflict(a, b Identifier) bool {
	return a.ChecksumValid && b.ChecksumValid && a.HasChecksum && b.HasChecksum &&
		a.Namespace == b.Namespace && a.Key != "" && b.Key != "" && a.Key != b.Key
}
