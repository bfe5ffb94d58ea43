package match

import (
	"encoding/json"
	"testing"
)

func TestLunarToSolar(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		y, m, d int
		leap    bool
		want    Date
	}{
		{1900, 1, 1, false, Date{1900, 1, 31, PrecisionDay}},  // Spring Festival 1900
		{1940, 1, 1, false, Date{1940, 2, 8, PrecisionDay}},   // Spring Festival 1940
		{1949, 8, 15, false, Date{1949, 10, 6, PrecisionDay}}, // Mid-Autumn 1949
		{2020, 4, 1, true, Date{2020, 5, 23, PrecisionDay}},   // 闰四月初一
		{2023, 2, 1, true, Date{2023, 3, 22, PrecisionDay}},   // 闰二月初一
		{1937, 1, 1, false, Date{1937, 2, 11, PrecisionDay}},  // Spring Festival 1937
	} {
		got, ok := lunarToSolar(c.y, c.m, c.d, c.leap)
		if !ok || got != c.want {
			t.Errorf("lunar %d-%d-%d (leap %v) = %v %v, want %v", c.y, c.m, c.d, c.leap, got, ok, c.want)
		}
	}
	for _, c := range [][3]int{{1899, 1, 1}, {2101, 1, 1}, {1949, 13, 1}, {1949, 8, 31}, {1949, 8, 0}} {
		if _, ok := lunarToSolar(c[0], c[1], c[2], false); ok {
			t.Errorf("lunar %v converted", c)
		}
	}
	if _, ok := lunarToSolar(2021, 4, 1, true); ok {
		t.Error("2021 has no leap fourth month")
	}
}

func TestBirthDateNearAndLunarLevels(t *testing.T) {
	t.Parallel()
	d := func(y, m, dd int) Date { return Date{y, m, dd, PrecisionDay} }
	for _, c := range []struct {
		a, b Date
		want string
	}{
		{d(1949, 12, 31), d(1950, 1, 1), LevelNear},      // a UTC timestamp read a day early
		{d(1980, 3, 29), d(1980, 4, 1), LevelNear},       // three days, no one-digit typo
		{d(1980, 3, 7), d(1980, 3, 8), LevelOneOff},      // one digit stays a typo
		{d(1949, 8, 15), d(1949, 10, 6), LevelLunar},     // 农历八月十五 written as the date
		{d(1949, 10, 6), d(1949, 8, 15), LevelLunar},     // either way round
		{d(2020, 4, 1), d(2020, 5, 23), LevelLunar},      // the leap fourth month's first day
		{d(1949, 8, 15), d(1949, 10, 7), LevelDifferent}, // a day off the lunar reading
		{d(1980, 3, 1), d(1980, 3, 11), LevelOneOff},
		{d(1980, 3, 1), d(1980, 3, 25), LevelDifferent},
	} {
		if got := compareDate(c.a, c.b); got != c.want {
			t.Errorf("%v vs %v: %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

// An elderly person's lunar birthday in one system: with an agreeing ID
// and name it still links (certain); without an ID, a lunar date is not
// the equal date the no-ID bar asks for.
func TestLunarBirthdayGrades(t *testing.T) {
	t.Parallel()
	s := scorer(t)
	solar := rec(t, "王秀英", "女", "1949-10-06", "01", "11010519491006002X")
	lunar := rec(t, "王秀英", "女", "1949-08-15", "01", "11010519491006002X")
	if e := s.Compare(solar, lunar, TermFreq{N: 50, Total: 100_000}); e.Grade != GradeCertain || e.Fields[2].Level != LevelLunar {
		t.Errorf("with ID: %s %+v", e.Grade, e.Fields)
	}
	a, b := rec(t, "王秀英", "女", "1949-10-06", "", ""), rec(t, "王秀英", "女", "1949-08-15", "", "")
	if e := s.Compare(a, b, TermFreq{N: 1, Total: 100_000}); e.Grade.AutoLink() {
		t.Errorf("without ID a lunar date linked: %s %+v", e.Grade, e.Fields)
	}
	// Without an ID they still meet (a review, not a silent duplicate).
	if !shares(BlockingKeys(a), BlockingKeys(b)) {
		t.Errorf("a lunar birthday shares no blocking key with the solar one: %v / %v", BlockingKeys(a), BlockingKeys(b))
	}
}

// A weights file written before a level existed still loads, the new
// level at its default.
func TestOlderWeightsFilesLoad(t *testing.T) {
	t.Parallel()
	w := DefaultWeights()
	w.Version = "fs-em-older"
	delete(w.Levels["birth_date"], LevelNear)
	delete(w.Levels["birth_date"], LevelLunar)
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseWeights(b)
	if err != nil {
		t.Fatalf("older file: %v", err)
	}
	if got.Version != "fs-em-older" || got.Levels["birth_date"][LevelLunar] != DefaultWeights().Levels["birth_date"][LevelLunar] {
		t.Errorf("loaded %s %+v", got.Version, got.Levels["birth_date"])
	}
	if _, err := ParseWeights([]byte(`{"version":"x","levels":{"id":{"equal":{"m":0.9,"u":0.001}}}}`)); err == nil {
		t.Error("a file without most fields loaded")
	}
}

// The table is continuous: every lunar month starts the day after the
// previous one ends, across years, from 1900 to 2100.
func TestLunarTableIsContinuous(t *testing.T) {
	t.Parallel()
	next := int32(-1)
	for i, y := range lunarYears {
		if len(y) != 12 && len(y) != 13 {
			t.Fatalf("lunar year %d has %d months", lunarFirstYear+i, len(y))
		}
		for _, m := range y {
			if next >= 0 && m.first != next {
				t.Fatalf("lunar year %d month %d starts on day %d, want %d", lunarFirstYear+i, m.month, m.first, next)
			}
			if m.days != 29 && m.days != 30 {
				t.Fatalf("lunar year %d month %d has %d days", lunarFirstYear+i, m.month, m.days)
			}
			next = m.first + m.days
		}
	}
}
