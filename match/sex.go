package match

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// ParseSex reads GB/T 2261.1 codes (0 unknown, 1 male, 2 female, 9
// unspecified; 5 female->male and 6 male->female read as the current sex)
// and the common spellings. Unknown is missing data, never a value; ok is
// false for text fiveid does not recognize.
func ParseSex(raw string) (Sex, bool) {
	s := strings.TrimSpace(raw)
	if !isASCII(s) {
		s = strings.TrimSpace(norm.NFKC.String(s))
	}
	switch strings.ToUpper(s) {
	case "1", "男", "男性", "M", "MALE", "MAN", "5", "01":
		return SexMale, true
	case "2", "女", "女性", "F", "FEMALE", "WOMAN", "6", "02":
		return SexFemale, true
	case "", "0", "9", "U", "UNKNOWN", "未知", "未知的性别", "未说明", "未说明的性别", "不详", "-", "00", "09", "X", "O", "OTHER":
		return SexUnknown, true
	}
	return SexUnknown, false
}

func normalizeSex(raw string) (Sex, []Finding) {
	s, ok := ParseSex(raw)
	if !ok {
		return SexUnknown, []Finding{{"sex", "sex_unrecognized", SeverityWarning}}
	}
	switch strings.TrimSpace(raw) {
	case "5", "6":
		return s, []Finding{{"sex", "sex_changed", SeverityInfo}}
	}
	return s, nil
}
