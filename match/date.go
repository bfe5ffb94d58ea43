package match

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

func validDay(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	days := [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[m]
	if m == 2 && (y%4 == 0 && (y%100 != 0 || y%400 == 0)) {
		days = 29
	}
	return d <= days
}

// after reports a > b, comparing only what both dates know.
func after(a, b Date) bool {
	if a.Year != b.Year {
		return a.Year > b.Year
	}
	if a.Precision < PrecisionMonth || b.Precision < PrecisionMonth {
		return false
	}
	if a.Month != b.Month {
		return a.Month > b.Month
	}
	if a.Precision < PrecisionDay || b.Precision < PrecisionDay {
		return false
	}
	return a.Day > b.Day
}

var dobPlaceholders = map[string]bool{
	"1800-01-01": true, "1900-01-01": true, "0000-00-00": true, "0001-01-01": true, "1970-01-01": true,
}

var chineseDigits = map[rune]int{'〇': 0, '零': 0, 'O': 0, '一': 1, '二': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}

// chineseNumber reads 一九四九 (digit by digit) or 十二 / 三十一 (tens).
func chineseNumber(s string) (int, bool) {
	rs := []rune(s)
	if len(rs) == 0 {
		return 0, false
	}
	n, tens := 0, false
	for i, r := range rs {
		if r == '十' {
			if tens {
				return 0, false
			}
			tens = true
			if i == 0 {
				n = 1
			}
			n *= 10
			continue
		}
		d, ok := chineseDigits[r]
		if !ok {
			return 0, false
		}
		if tens {
			n += d
		} else {
			n = n*10 + d
		}
	}
	return n, true
}

// ParseBirthDate reads the birth-date formats seen in source systems:
// YYYYMMDD, YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD, YYYY年M月D日 (also in Chinese
// numerals), YYYYMMDDhhmmss, any of them with a time part (dropped; an
// RFC 3339 date keeps the civil date as written), and year-only or
// year-month dates at their precision. Placeholders (1900-01-01...) and
// anything ambiguous (YYMMDD, day- or month-first) are missing, with a
// finding: a date is never guessed. today bounds it (zero: no bound).
func ParseBirthDate(raw string, today Date) (Date, []Finding) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Date{}, nil
	}
	if !isASCII(s) {
		s = strings.TrimSpace(norm.NFKC.String(s))
	}
	switch s {
	case "不详", "未知", "无", "-", "/", "NULL", "null", "UNKNOWN", "unknown":
		return Date{}, []Finding{{"birth_date", "dob_placeholder", SeverityWarning}}
	}
	var fs []Finding
	// Drop a time part: "1949-12-31 00:00:00", "1949-12-31T00:00:00+08:00".
	if i := strings.IndexAny(s, "T "); i > 0 {
		s = s[:i]
		fs = append(fs, Finding{"birth_date", "dob_time_dropped", SeverityInfo})
	}
	y, m, d, prec, ok := splitDate(s)
	if !ok {
		code := "dob_unparseable"
		if ambiguous(s) {
			code = "dob_ambiguous"
		}
		return Date{}, append(fs, Finding{"birth_date", code, SeverityWarning})
	}
	dt := Date{Year: y, Month: m, Day: d, Precision: prec}
	if prec == PrecisionDay && dobPlaceholders[dt.String()] || y == 0 {
		return Date{}, append(fs, Finding{"birth_date", "dob_placeholder", SeverityWarning})
	}
	valid := y >= 1800 && (prec < PrecisionMonth || (m >= 1 && m <= 12)) && (prec < PrecisionDay || validDay(y, m, d))
	if !valid {
		return Date{}, append(fs, Finding{"birth_date", "dob_invalid", SeverityWarning})
	}
	if !today.IsZero() && after(dt, today) {
		return Date{}, append(fs, Finding{"birth_date", "dob_future", SeverityWarning})
	}
	if prec != PrecisionDay {
		fs = append(fs, Finding{"birth_date", "dob_partial", SeverityInfo})
	}
	return dt, fs
}

// splitDate recognizes the accepted shapes; it validates nothing.
func splitDate(s string) (y, m, d int, p Precision, ok bool) {
	if allDigits(s) {
		switch len(s) {
		case 8, 14: // YYYYMMDD, YYYYMMDDhhmmss
			return atoi(s[:4]), atoi(s[4:6]), atoi(s[6:8]), PrecisionDay, true
		case 6: // YYYYMM when the year is plausible; else YYMMDD (ambiguous)
			if yy := atoi(s[:4]); yy >= 1800 && yy <= 2199 {
				return yy, atoi(s[4:]), 0, PrecisionMonth, true
			}
			return 0, 0, 0, 0, false
		case 4:
			return atoi(s), 0, 0, PrecisionYear, true
		}
		return 0, 0, 0, 0, false
	}
	if strings.Contains(s, "年") {
		rest := s
		ys, rest, _ := strings.Cut(rest, "年")
		ms, rest, hasM := strings.Cut(rest, "月")
		ds, _, _ := strings.Cut(rest, "日")
		num := func(x string) (int, bool) {
			if allDigits(x) {
				return atoi(x), true
			}
			return chineseNumber(x)
		}
		if y, ok = num(ys); !ok || len([]rune(ys)) != 4 {
			return 0, 0, 0, 0, false
		}
		if !hasM || ms == "" {
			return y, 0, 0, PrecisionYear, true
		}
		if m, ok = num(ms); !ok {
			return 0, 0, 0, 0, false
		}
		if strings.TrimSpace(ds) == "" {
			return y, m, 0, PrecisionMonth, true
		}
		if d, ok = num(ds); !ok {
			return 0, 0, 0, 0, false
		}
		return y, m, d, PrecisionDay, true
	}
	var sep byte
	for _, c := range []byte{'-', '/', '.'} {
		if strings.IndexByte(s, c) > 0 {
			sep = c
			break
		}
	}
	if sep == 0 {
		return 0, 0, 0, 0, false
	}
	parts := strings.Split(s, string(sep))
	if len(parts[0]) != 4 || len(parts) > 3 {
		return 0, 0, 0, 0, false // day- or month-first: never guessed
	}
	for _, p := range parts {
		if !allDigits(p) || len(p) > 4 {
			return 0, 0, 0, 0, false
		}
	}
	for _, p := range parts[1:] {
		if len(p) > 2 {
			return 0, 0, 0, 0, false
		}
	}
	switch len(parts) {
	case 2:
		return atoi(parts[0]), atoi(parts[1]), 0, PrecisionMonth, true
	case 3:
		return atoi(parts[0]), atoi(parts[1]), atoi(parts[2]), PrecisionDay, true
	}
	return 0, 0, 0, 0, false
}

// ambiguous reports day- or month-first and two-digit-year dates.
func ambiguous(s string) bool {
	if allDigits(s) && len(s) == 6 {
		return true
	}
	for _, c := range []string{"-", "/", "."} {
		parts := strings.Split(s, c)
		if len(parts) == 3 && len(parts[2]) == 4 && allDigits(parts[0]) && allDigits(parts[1]) && allDigits(parts[2]) {
			return true
		}
	}
	return false
}
