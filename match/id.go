package match

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// GB 11643-1999 check character: ISO 7064 MOD 11-2 over the first 17
// digits with weights 2^(18-i) mod 11.
var ricWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const ricCheck = "10X98765432"

// CheckChar returns the GB 11643-1999 check character of 17 digits, or 0
// when s is not 17 ASCII digits.
func CheckChar(s string) byte {
	if len(s) != 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		sum += int(c-'0') * ricWeights[i]
	}
	return ricCheck[sum%11]
}

// province codes valid as the first two digits of a citizen number (GB/T
// 2260), plus 81/82/83 which only appear as 810000/820000/830000 (HK, Macau,
// Taiwan residence permits).
var provinces = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
}

// canonID canonicalizes an ID number: NFKC (full-width -> ASCII), drop whitespace,
// '-', zero-width/format characters and a leading apostrophe, upper case.
func canonID(raw string) (string, []Finding) {
	var fs []Finding
	s := strings.ToValidUTF8(raw, "")
	if !isASCII(s) {
		n := norm.NFKC.String(s)
		if n != s {
			fs = append(fs, Finding{"id_number", "id_fullwidth_folded", SeverityInfo})
		}
		s = n
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), r == '-', r == '_', unicode.Is(unicode.Cf, r), unicode.IsControl(r),
			(r == '\'' || r == '`' || r == 0x2018 || r == 0x2019) && b.Len() == 0:
			changed = true
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			changed = true
		default:
			b.WriteRune(r)
		}
	}
	if changed && b.Len() > 0 {
		fs = append(fs, Finding{"id_number", "id_reformatted", SeverityInfo})
	}
	out := b.String()
	// Removing a character can leave a sequence NFKC would change (a
	// combining mark now next to a letter): clean until nothing changes.
	for i := 0; i < 4 && !isASCII(out); i++ {
		again, _ := canonOnce(out)
		if again == out {
			break
		}
		out = again
	}
	return out, fs
}

// canonOnce is canonID without findings or the fixpoint loop.
func canonOnce(s string) (string, bool) {
	s = norm.NFKC.String(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r), r == '-', r == '_', unicode.Is(unicode.Cf, r), unicode.IsControl(r),
			(r == '\'' || r == '`' || r == 0x2018 || r == 0x2019) && b.Len() == 0:
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// placeholderID reports numbers that stand for "no number": all one
// character, ascending runs, and the words sources type instead.
func placeholderID(s string) bool {
	if s == "" {
		return true
	}
	switch s {
	case "无", "不详", "未知", "NULL", "NONE", "NA", "N/A", "0", "/", "空", "暂无", "UNKNOWN":
		return true
	}
	same := true
	for i := 1; i < len(s); i++ {
		if s[i] != s[0] {
			same = false
			break
		}
	}
	if same && len(s) > 1 {
		return true
	}
	return strings.HasPrefix("1234567890123456789", s) && len(s) >= 6
}

// ricInfo is what a GB 11643 number says about itself.
type ricInfo struct {
	number   string // 18 characters
	upgraded bool
	checksum bool
	province bool
	birth    Date
	birthOK  bool
	sex      Sex
}

// parseRIC reads a GB 11643-1999 number of 18 characters (17 digits and a
// check character) or a legacy 15-digit number, which it upgrades: insert
// "19" after the address code and recompute the check character.
func parseRIC(s string, today Date) (ricInfo, bool) {
	var in ricInfo
	switch {
	case len(s) == 15 && allDigits(s):
		body := s[:6] + "19" + s[6:]
		in.number, in.upgraded, in.checksum = body+string(CheckChar(body)), true, true
	case len(s) == 18 && allDigits(s[:17]) && (s[17] == 'X' || (s[17] >= '0' && s[17] <= '9')):
		in.number = s
		in.checksum = CheckChar(s[:17]) == s[17]
	default:
		return in, false
	}
	in.province = provinces[in.number[:2]] || (in.number[2:6] == "0000" && (in.number[:2] == "81" || in.number[:2] == "82" || in.number[:2] == "83"))
	y, m, d := atoi(in.number[6:10]), atoi(in.number[10:12]), atoi(in.number[12:14])
	if validDay(y, m, d) && y >= 1800 && (today.IsZero() || !after(Date{y, m, d, PrecisionDay}, today)) {
		in.birth, in.birthOK = Date{y, m, d, PrecisionDay}, true
	}
	if (in.number[16]-'0')%2 == 1 {
		in.sex = SexMale
	} else {
		in.sex = SexFemale
	}
	return in, true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// normalizeID turns a declared type and a raw number into an Identifier.
func normalizeID(rawType, rawNumber string, table IDTable, today Date) (Identifier, []Finding) {
	var fs []Finding
	typ, known := NormalizeIDType(rawType, table)
	id := Identifier{Type: typ}
	if !known && strings.TrimSpace(rawType) != "" {
		id.TypeRaw = strings.ToValidUTF8(strings.TrimSpace(rawType), "\uFFFD")
	}
	num, cf := canonID(rawNumber)
	if num == "" {
		if typ != IDTypeNone {
			fs = append(fs, Finding{"id_number", "id_missing", SeverityInfo})
		}
		return Identifier{}, fs
	}
	if placeholderID(num) {
		return Identifier{}, append(fs, Finding{"id_number", "id_placeholder", SeverityWarning})
	}
	fs = append(fs, cf...)
	if len([]rune(num)) > 64 {
		return Identifier{}, append(fs, Finding{"id_number", "id_too_long", SeverityWarning})
	}
	if typ == IDTypeNone || typ == IDTypeUnknown {
		// Infer only the unmistakable: a checksum-valid 18-character GB
		// 11643 number. Anything else keeps its declared (unknown) type.
		if in, ok := parseRIC(num, today); ok && !in.upgraded && in.checksum && in.province {
			if typ == IDTypeNone {
				fs = append(fs, Finding{"id_type", "id_type_inferred", SeverityInfo})
			} else {
				fs = append(fs, Finding{"id_type", "id_type_unknown", SeverityWarning})
			}
			typ = IDTypeCitizen
			id.Type = typ
		} else if typ == IDTypeUnknown {
			fs = append(fs, Finding{"id_type", "id_type_unknown", SeverityWarning})
		} else {
			fs = append(fs, Finding{"id_type", "id_type_missing", SeverityWarning})
			typ = IDTypeOther
		}
	}
	switch typ {
	case IDTypeCitizen, IDTypeHMTResidence, IDTypeDriver, IDTypeDisability:
		in, ok := parseRIC(num, today)
		if !ok && typ == IDTypeDisability && len(num) == 20 {
			// 残疾人证: the citizen number followed by two digits.
			in, ok = parseRIC(num[:18], today)
		}
		if !ok {
			if typ == IDTypeCitizen || typ == IDTypeHMTResidence {
				fs = append(fs, Finding{"id_number", "id_format_invalid", SeverityWarning})
			}
			id.Namespace, id.Number = string(typ), num
			break
		}
		// 户口簿, 社保卡, residence permits and (for citizens) driving
		// licences and disability cards carry a GB 11643 number: one
		// namespace, so the same number under any of them matches.
		id.Namespace, id.Number, id.HasChecksum, id.ChecksumValid, id.Upgraded15 = string(IDTypeCitizen), in.number, true, in.checksum, in.upgraded
		if in.upgraded {
			fs = append(fs, Finding{"id_number", "id_upgraded_from_15", SeverityInfo})
		}
		if !in.checksum {
			fs = append(fs, Finding{"id_number", "id_checksum_invalid", SeverityWarning})
		}
		if !in.province {
			fs = append(fs, Finding{"id_number", "id_province_invalid", SeverityWarning})
		}
		if in.birthOK {
			id.BirthDate = in.birth
		} else {
			fs = append(fs, Finding{"id_number", "id_birth_invalid", SeverityWarning})
		}
		if in.checksum {
			// The sex digit of a number whose check character fails may
			// be the typo: only trust it when the number verifies.
			id.Sex = in.sex
		}
	case IDTypeForeignPR:
		id.Namespace, id.Number = string(IDTypeForeignPR), num
		if len(num) == 18 && num[0] == '9' && allDigits(num[:17]) {
			// 2023 外国人永久居留身份证: GB 11643 layout and check character.
			id.HasChecksum, id.ChecksumValid = true, CheckChar(num[:17]) == num[17]
			if !id.ChecksumValid {
				fs = append(fs, Finding{"id_number", "id_checksum_invalid", SeverityWarning})
			}
		} else if !(len(num) == 15 && isUpperLetters(num[:3]) && allDigits(num[3:])) {
			fs = append(fs, Finding{"id_number", "id_format_invalid", SeverityWarning})
		}
	case IDTypeHKMOPermit:
		// 港澳居民来往内地通行证: H/M + 8 digits (+ 2 digits of renewal
		// count). The first 9 characters are lifelong.
		id.Namespace, id.Number = string(IDTypeHKMOPermit), num
		if len(num) >= 9 && (num[0] == 'H' || num[0] == 'M') && allDigits(num[1:9]) && (len(num) == 9 || (len(num) == 11 && allDigits(num[9:]))) {
			id.Key = id.Namespace + ":" + num[:9]
		} else {
			fs = append(fs, Finding{"id_number", "id_format_invalid", SeverityWarning})
		}
	case IDTypeTWPermit:
		// 台湾居民来往大陆通行证: 8 digits lifelong (+ 2 digits, or a
		// bracketed renewal letter on older cards).
		id.Namespace, id.Number = string(IDTypeTWPermit), num
		digits := strings.TrimRight(num, "()ABCDEFGHIJKLMNOPQRSTUVWXYZ（）")
		if len(digits) >= 8 && allDigits(digits[:8]) && (len(digits) == 8 || len(digits) == 10) {
			id.Key = id.Namespace + ":" + digits[:8]
		} else {
			fs = append(fs, Finding{"id_number", "id_format_invalid", SeverityWarning})
		}
	case IDTypePassportCN:
		id.Namespace, id.Number = string(IDTypePassportCN), num
	case IDTypePassportHKMO:
		id.Namespace, id.Number = string(IDTypePassportHKMO), num
	case IDTypePassport, IDTypePassportForeign:
		// Passport numbers are unique per issuing country; without the
		// country, the number alone is the key (weighed lower by scoring).
		id.Namespace, id.Number = string(IDTypePassport), num
	default:
		id.Namespace, id.Number = string(typ), num
	}
	if placeholderID(id.Number) {
		// What survives of the number (the citizen part of a disability
		// card number, say) is itself a placeholder.
		return Identifier{}, append(fs, Finding{"id_number", "id_placeholder", SeverityWarning})
	}
	if id.Key == "" {
		id.Key = id.Namespace + ":" + id.Number
	}
	return id, fs
}

func isUpperLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}

// MaskID masks an ID number for people and logs: 11010519491231002X ->
// 110105********002X. Numbers of other lengths keep at most a quarter at
// each end; the middle is always masked.
func MaskID(number string) string {
	r := []rune(number)
	n := len(r)
	if n == 0 {
		return ""
	}
	head, tail := 6, 4
	if n != 18 {
		head, tail = n/4, n/4
		if n < 4 {
			head, tail = 0, 0
		}
	}
	out := make([]rune, n)
	for i := range r {
		if i < head || i >= n-tail {
			out[i] = r[i]
		} else {
			out[i] = '*'
		}
	}
	return string(out)
}
