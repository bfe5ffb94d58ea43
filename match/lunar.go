package match

import "time"

// lunarMonth is one month of a lunar year: its number (negative for a
// leap month), day count and the solar date of its first day as days
// since 1900-01-01.
type lunarMonth struct {
	month, days, first int32
}

var epoch1900 = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// dayNumber is a day-precision date as days since 1900-01-01.
func dayNumber(d Date) int {
	return int(time.Date(d.Year, time.Month(d.Month), d.Day, 0, 0, 0, 0, time.UTC).Sub(epoch1900).Hours() / 24)
}

// lunarToSolar reads (y, m, d) as a date of the Chinese lunisolar calendar
// (leap: in the leap month m) and returns its solar date.
func lunarToSolar(y, m, d int, leap bool) (Date, bool) {
	if y < lunarFirstYear || y > lunarLastYear || d < 1 {
		return Date{}, false
	}
	want := int32(m)
	if leap {
		want = -want
	}
	for _, lm := range lunarYears[y-lunarFirstYear] {
		if lm.month != want {
			continue
		}
		if int32(d) > lm.days {
			return Date{}, false
		}
		t := epoch1900.AddDate(0, 0, int(lm.first)+d-1)
		return Date{t.Year(), int(t.Month()), t.Day(), PrecisionDay}, true
	}
	return Date{}, false
}

// lunarRelated reports whether one of two day-precision dates, read as a
// lunar date, is the other: a lunar birthday recorded as a solar one,
// common for the elderly (cn-identity.md §5.3). The lunar reading is the
// earlier of the two, by roughly 20 to 50 days. da and db are their
// dayNumbers.
func lunarRelated(a, b Date, da, db int) bool {
	if da > db {
		a, b, da, db = b, a, db, da
	}
	if diff := db - da; diff < 10 || diff > 60 {
		return false
	}
	for _, leap := range [...]bool{false, true} {
		if s, ok := lunarToSolar(a.Year, a.Month, a.Day, leap); ok && s == b {
			return true
		}
	}
	return false
}
