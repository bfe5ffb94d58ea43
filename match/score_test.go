package match

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func rec(t testing.TB, name, sex, dob, typ, id string) Record {
	t.Helper()
	r, err := Normalize(Input{Name: name, Sex: sex, BirthDate: dob, IDType: typ, IDNumber: id}, Options{Today: today})
	if err != nil {
		t.Fatalf("normalize %s: %v", name, err)
	}
	return r
}

func scorer(t testing.TB) *Scorer {
	t.Helper()
	s, err := NewScorer(DefaultWeights(), DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCompareGrades(t *testing.T) {
	t.Parallel()
	s := scorer(t)
	zhang := rec(t, "张伟", "女", "1949-12-31", "01", "11010519491231002X")
	common := TermFreq{N: 5000, Total: 1_000_000} // 王伟/张伟-like frequency
	tests := []struct {
		name      string
		b         Record
		tf        TermFreq
		want      Grade
		wantLevel map[string]string
	}{
		{"same person, same values", zhang, TermFreq{}, GradeCertain, map[string]string{"id": "equal", "name": "equal"}},
		{"15-digit form and traditional name", rec(t, "張偉", "2", "19491231", "身份证", "110105491231002"), TermFreq{},
			GradeCertain, map[string]string{"id": "equal", "name": "variant"}},
		{"homophone with an equal ID", rec(t, "张卫", "女", "1949-12-31", "01", "11010519491231002X"), TermFreq{},
			GradeCertain, map[string]string{"name": "pinyin_equal"}},
		{"ID typo links but is not certain", rec(t, "张伟", "女", "1949-12-31", "01", "11010519491231003X"), TermFreq{},
			GradeProbable, map[string]string{"id": "typo"}},
		{"adjacent swap in the ID", rec(t, "张伟", "女", "1949-12-31", "01", "11010519492131002X"), TermFreq{},
			GradeProbable, map[string]string{"id": "typo"}},
		{"namesake, same birth date, another valid ID never links", rec(t, "张伟", "女", "1949-12-31", "01", "110105194912310046"), common,
			GradeCertainlyNot, map[string]string{"id": "different"}},
		{"twin: same surname, date and address code", rec(t, "张强", "女", "1949-12-31", "01", "110105194912310046"), TermFreq{},
			GradeCertainlyNot, map[string]string{"id": "different", "name": "different"}},
		{"same ID, another name: overlay suspect goes to review", rec(t, "李娜", "女", "1949-12-31", "01", "11010519491231002X"), TermFreq{},
			GradePossible, map[string]string{"name": "different"}},
		{"no ID, common name and birth date: review", rec(t, "张伟", "女", "1949-12-31", "", ""), common,
			GradePossible, map[string]string{"id": "missing"}},
		{"no ID, rare name and birth date in a 20k index: probable", rec(t, "张伟", "女", "1949-12-31", "", ""), TermFreq{N: 1, Total: 20_000},
			GradeProbable, map[string]string{"id": "missing"}},
		{"no ID, rare name and birth date in a 1M index: probable", rec(t, "张伟", "女", "1949-12-31", "", ""), TermFreq{N: 1, Total: 1_000_000},
			GradeProbable, map[string]string{"id": "missing"}},
		{"no ID, a name 200 people share, birth date in a 1M index: review", rec(t, "张伟", "女", "1949-12-31", "", ""), TermFreq{N: 200, Total: 1_000_000},
			GradePossible, map[string]string{"id": "missing"}},
		{"missing sex is neutral", rec(t, "张伟", "", "1949-12-31", "01", "11010519491231002X"), TermFreq{},
			GradeCertain, map[string]string{"sex": "agree"}}, // the ID's sex digit stands in
		{"day-month swap", rec(t, "张伟", "女", "1949-12-03", "", ""), TermFreq{}, GradeCertainlyNot, map[string]string{"birth_date": "different"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := s.Compare(zhang, tc.b, tc.tf)
			if e.Grade != tc.want {
				t.Errorf("grade = %s (score %.1f, fields %+v, rules %v), want %s", e.Grade, e.Score, e.Fields, e.Rules, tc.want)
			}
			for _, f := range e.Fields {
				if want, ok := tc.wantLevel[f.Field]; ok && f.Level != want {
					t.Errorf("%s level = %s, want %s", f.Field, f.Level, want)
				}
			}
			if e.Version != DefaultWeights().Version || len(e.Fields) != 5 {
				t.Errorf("explanation: %+v", e)
			}
		})
	}
}

// An equal identifier is evidence about one person, not a coincidence
// that grows likelier in a bigger index: the same pair of records gets the
// same grade and score in ten thousand records and in ten million.
func TestEqualIDEvidenceDoesNotShrinkWithTheIndex(t *testing.T) {
	t.Parallel()
	s := scorer(t)
	a := rec(t, "张伟", "", "", "01", "11010519491231002X")
	b := rec(t, "张卫", "", "", "01", "11010519491231002X") // homophone, no stated date
	small := s.Compare(a, b, TermFreq{N: 1, Total: 10_000})
	big := s.Compare(a, b, TermFreq{N: 1000, Total: 10_000_000})
	if small.Grade != big.Grade || !small.Grade.AutoLink() {
		t.Errorf("grades %s (10k) and %s (10M), want the same auto-link grade", small.Grade, big.Grade)
	}
	if math.Abs(small.Score-big.Score) > 0.01 {
		t.Errorf("scores %.3f (10k) and %.3f (10M) differ", small.Score, big.Score)
	}
	// Without the identifier the bigger index holds more namesakes: the
	// same name and date are weaker evidence there.
	c, d := rec(t, "张伟", "", "1949-12-31", "", ""), rec(t, "张伟", "", "1949-12-31", "", "")
	if s.Compare(c, d, TermFreq{N: 1000, Total: 10_000_000}).Score >= s.Compare(c, d, TermFreq{N: 1, Total: 10_000}).Score {
		t.Error("name and birth date weigh as much in 10M records as in 10k")
	}
}

// 張偉 and 张伟 are one name written two ways: a namesake is written in
// either form as often as the person is, so the variant is as strong as
// equality and common names weigh less in both.
func TestVariantWeighsLikeEquality(t *testing.T) {
	t.Parallel()
	s := scorer(t)
	a, b := rec(t, "张伟", "", "1949-12-31", "", ""), rec(t, "張偉", "", "1949-12-31", "", "")
	for _, tf := range []TermFreq{{}, {N: 1, Total: 20_000}, {N: 5000, Total: 1_000_000}} {
		eq, v := s.Compare(a, a, tf), s.Compare(a, b, tf)
		if v.Fields[1].Level != LevelVariant {
			t.Fatalf("level %s", v.Fields[1].Level)
		}
		if math.Abs(eq.Fields[1].Weight-v.Fields[1].Weight) > 0.01 || eq.Grade != v.Grade {
			t.Errorf("tf %+v: equal %.2f %s, variant %.2f %s", tf, eq.Fields[1].Weight, eq.Grade, v.Fields[1].Weight, v.Grade)
		}
	}
}

func TestDayMonthSwapIsALevel(t *testing.T) {
	t.Parallel()
	a := Date{1980, 3, 7, PrecisionDay}
	b := Date{1980, 7, 3, PrecisionDay}
	if got := compareDate(a, b); got != LevelSwapped {
		t.Errorf("swap: %s", got)
	}
	if got := compareDate(a, Date{1980, 3, 8, PrecisionDay}); got != LevelOneOff {
		t.Errorf("one digit: %s", got)
	}
	if got := compareDate(a, Date{1980, 0, 0, PrecisionYear}); got != LevelPartialEqual {
		t.Errorf("year only: %s", got)
	}
}

func TestRareNamesWeighMoreThanCommonOnes(t *testing.T) {
	t.Parallel()
	s := scorer(t)
	a := rec(t, "欧阳雪婧", "女", "1988-02-29", "", "")
	rare := s.Compare(a, a, TermFreq{N: 1, Total: 1_000_000})
	common := s.Compare(a, a, TermFreq{N: 5000, Total: 1_000_000})
	if rare.Score <= common.Score {
		t.Errorf("rare %.2f <= common %.2f", rare.Score, common.Score)
	}
}

func TestLatinAgainstHan(t *testing.T) {
	t.Parallel()
	han, _ := normalizeName("张伟")
	lv, _ := normalizeName("吕芳")
	for _, l := range []string{"LYU FANG", "Lv Fang", "LU FANG"} {
		lat, _ := normalizeName(l)
		if got := compareName(lv, lat); got != LevelPinyinEqual {
			t.Errorf("%s vs 吕芳: %s", l, got)
		}
	}
	for _, l := range []string{"ZHANG WEI", "Wei Zhang", "zhang, wei"} {
		lat, _ := normalizeName(l)
		if got := compareName(han, lat); got != LevelPinyinEqual {
			t.Errorf("%s vs 张伟: %s", l, got)
		}
	}
}

func TestBlockingKeys(t *testing.T) {
	t.Parallel()
	a := rec(t, "张伟", "女", "1949-12-31", "01", "11010519491231002X")
	typo := rec(t, "张伟", "女", "1949-12-31", "01", "11010519491231003X")
	if !shares(BlockingKeys(a), BlockingKeys(typo)) {
		t.Error("an ID typo shares no blocking key")
	}
	homophone := rec(t, "张卫", "男", "1949-12-31", "", "")
	if !shares(BlockingKeys(a), BlockingKeys(homophone)) {
		t.Error("a homophone with the same birth date shares no key")
	}
	swapped := rec(t, "张伟", "女", "1949-12-03", "", "")
	b := rec(t, "张伟", "女", "1949-03-12", "", "")
	if !shares(BlockingKeys(swapped), BlockingKeys(b)) {
		t.Error("a day-month swap shares no key")
	}
	for _, k := range BlockingKeys(rec(t, "无名氏", "男", "1949-12-31", "", "")) {
		t.Errorf("a placeholder name blocks: %s", k)
	}
}

// TestCitizenIDKeysSurviveOneTypo checks the claim of BlockingKeys for
// citizen numbers: every single wrong character and every swap of two
// neighbouring digits leaves an ID key intact, but for the two swaps across
// the birth date's end (the day's last digit with the sequence's first),
// which the name and birth date keys are left to find. And that address and
// sequence alone no longer meet, nor address and birth date alone: people of
// one district who share a sequence number but no part of a birth date, or a
// birth date but the sequence's middle digit at most, share no key.
func TestCitizenIDKeysSurviveOneTypo(t *testing.T) {
	t.Parallel()
	const id = "11010519491231002X"
	// The name with the birth date the number carries blocks too: keep
	// only the number's own keys.
	idKeys := func(r Record) []string {
		return slices.DeleteFunc(BlockingKeys(r), func(k string) bool { return !strings.HasPrefix(k, "id") })
	}
	keys := idKeys(rec(t, "张伟", "", "", "01", id))
	variant := func(v string) {
		t.Helper()
		if v == id {
			return
		}
		r, err := Normalize(Input{Name: "张伟", IDType: "01", IDNumber: v}, Options{Today: today})
		if err != nil {
			t.Errorf("%s: %v", v, err)
			return
		}
		if !shares(keys, idKeys(r)) {
			t.Errorf("%s shares no key with %s: %v / %v", v, id, idKeys(r), keys)
		}
	}
	for i := range len(id) {
		for _, c := range "0123456789X" {
			if i < 17 && c == 'X' {
				continue
			}
			variant(id[:i] + string(c) + id[i+1:])
		}
	}
	for i := range len(id) - 1 {
		if i == 13 {
			continue
		}
		variant(id[:i] + id[i+1:i+2] + id[i:i+1] + id[i+2:])
	}
	other := idKeys(rec(t, "李娜", "", "", "01", "110105"+"19800615"+"002"+"X"))
	if shares(keys, other) {
		t.Errorf("address and sequence alone meet: %v / %v", keys, other)
	}
	// Nor do address and birth date alone: a neighbour born the same day
	// whose sequence differs in its first and last digits.
	neighbour := idKeys(rec(t, "李娜", "", "", "01", "110105"+"19491231"+"108"+"X"))
	if shares(keys, neighbour) {
		t.Errorf("address and birth date alone meet: %v / %v", keys, neighbour)
	}
}

func shares(a, b []string) bool {
	for _, k := range a {
		if slices.Contains(b, k) {
			return true
		}
	}
	return false
}

func TestEMRecoversKnownParameters(t *testing.T) {
	t.Parallel()
	// Synthesize pairs from known m and u: 20% matches.
	truth := DefaultWeights()
	truth.Levels["name"][LevelEqual] = MU{0.85, 1e-3}
	truth.Levels["name"][LevelClose] = MU{0.05, 0.01}
	var ps []Pattern
	rnd := uint64(42)
	next := func() float64 {
		rnd ^= rnd << 13
		rnd ^= rnd >> 7
		rnd ^= rnd << 17
		return float64(rnd%1_000_000) / 1_000_000
	}
	draw := func(field string, match bool) string {
		x := next()
		levels := fieldLevels[field]
		for _, l := range levels {
			mu, ok := truth.Levels[field][l]
			if !ok {
				continue
			}
			p := mu.U
			if match {
				p = mu.M
			}
			if x < p {
				return l
			}
			x -= p
		}
		return LevelMissing
	}
	for i := 0; i < 20000; i++ {
		m := next() < 0.2
		ps = append(ps, Pattern{ID: draw("id", m), Name: draw("name", m), BirthDate: draw("birth_date", m), Sex: draw("sex", m)})
	}
	// Random pairs are different people: they show u.
	var random []Pattern
	for i := 0; i < 200_000; i++ {
		random = append(random, Pattern{ID: draw("id", false), Name: draw("name", false), BirthDate: draw("birth_date", false), Sex: draw("sex", false)})
	}
	start, err := EstimateU(random, DefaultWeights())
	if err != nil {
		t.Fatal(err)
	}
	if got := start.Levels["name"][LevelClose].U; math.Abs(got-0.01) > 0.002 {
		t.Errorf("u(name close) = %.4f, want ~0.01", got)
	}
	if got := start.Levels["sex"][LevelDisagree].U; math.Abs(got-0.5) > 0.01 {
		t.Errorf("u(sex disagree) = %.3f, want ~0.5", got)
	}
	if got := start.Levels["birth_date"][LevelOneOff].U; math.Abs(got-2.5e-3)/2.5e-3 > 0.3 {
		t.Errorf("u(birth_date one_off) = %.5f, want ~0.0025", got)
	}
	if got := start.Levels["id"][LevelEqual].U; got != truth.Levels["id"][LevelEqual].U {
		t.Errorf("u(id equal) is a per-record rate and must be kept, got %g", got)
	}
	w, rep, err := Train(ps, start, 200)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.MatchShare-0.2) > 0.03 {
		t.Errorf("match share %.3f, want ~0.2", rep.MatchShare)
	}
	if got := w.Levels["name"][LevelEqual].M; math.Abs(got-0.85) > 0.05 {
		t.Errorf("m(name equal) = %.3f, want ~0.85", got)
	}
	if got := w.Levels["birth_date"][LevelEqual].M; math.Abs(got-0.90) > 0.03 {
		t.Errorf("m(birth_date equal) = %.3f, want ~0.90", got)
	}
	if w.Version == truth.Version {
		t.Error("trained weights kept the start version")
	}
	if _, err := NewScorer(w, DefaultThresholds()); err != nil {
		t.Errorf("trained weights do not load: %v", err)
	}
}

// A name written in pinyin (passports, systems without Han input) meets
// its Han form in blocking, whatever the token order.
func TestBlockingAcrossScripts(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ han, latin string }{
		{"张伟", "ZHANG WEI"}, {"张伟", "Wei Zhang"}, {"张伟", "ZHANG, WEI"},
		{"吕芳", "LYU FANG"}, {"吕芳", "Fang Lyu"}, {"张晓明", "Xiao-Ming Zhang"}, {"欧阳娜娜", "OUYANG NANA"},
	} {
		h, l := rec(t, c.han, "", "1980-01-02", "", ""), rec(t, c.latin, "", "1980-01-02", "", "")
		if !shares(BlockingKeys(h), BlockingKeys(l)) {
			t.Errorf("%s and %s share no blocking key: %v / %v", c.han, c.latin, BlockingKeys(h), BlockingKeys(l))
		}
		if got := compareName(h.Name, l.Name); got != LevelPinyinEqual {
			t.Errorf("%s vs %s: %s", c.han, c.latin, got)
		}
	}
	// Another date, or another name, does not block together.
	if shares(BlockingKeys(rec(t, "张伟", "", "1980-01-02", "", "")), BlockingKeys(rec(t, "ZHANG WEI", "", "1991-05-06", "", ""))) {
		t.Error("different dates share a key")
	}
	if shares(BlockingKeys(rec(t, "张伟", "", "1980-01-02", "", "")), BlockingKeys(rec(t, "LI NA", "", "1980-01-02", "", ""))) {
		t.Error("different names share a key")
	}
}
