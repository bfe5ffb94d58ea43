package match

import (
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"
	"golang.org/x/text/unicode/norm"
)

// MaxNameRunes bounds a name: long enough for any real name (minority
// names in transliteration exceed 20 characters), short enough to keep
// scoring cheap.
const MaxNameRunes = 100

// dotVariants fold to U+00B7, the minority-name separator (民委发〔2016〕33号);
// NFKC does not fold these (docs/references.md).
var dotVariants = map[rune]bool{
	0x00B7: true, 0x0387: true, 0x2022: true, 0x2027: true, 0x2219: true, 0x22C5: true,
	0x30FB: true, 0xFF65: true, 0x2E31: true, 0x16EB: true, 0x2024: true, 0xFE52: true,
}

// periods are dot variants only between two Han characters (a typo there;
// elsewhere an abbreviation).
var periods = map[rune]bool{'.': true, 0xFF0E: true, 0x3002: true, 0xFE52: true, 0x2024: true}

func isPlaceholderRune(r rune) bool {
	return r == '?' || r == 0xFF1F || r == 0x25A1 || r == 0x3013 || r == 0xFFFD || unicode.Is(unicode.Co, r)
}

func isVariationSelector(r rune) bool {
	return (r >= 0xFE00 && r <= 0xFE0F) || (r >= 0xE0100 && r <= 0xE01EF) || (r >= 0x180B && r <= 0x180D)
}

// placeholderNames stand for "no name" (unidentified patients, newborns).
var placeholderNames = map[string]bool{
	"无名氏": true, "无名": true, "新生儿": true, "婴儿": true, "不详": true, "未知": true, "无": true,
	"匿名": true, "某某": true, "测试": true, "患者": true, "病人": true, "UNKNOWN": true, "NONAME": true,
	"BABY": true, "TEST": true, "NA": true, "NULL": true, "JOHN DOE": true, "DOE JOHN": true, "DOE JANE": true,
}

// IsPlaceholderName reports a name key that names nobody (无名氏, 新生儿,
// "王芳之子"-style newborn names): it never blocks and weighs nothing.
func IsPlaceholderName(key string) bool {
	if placeholderNames[key] {
		return true
	}
	return strings.HasSuffix(key, "之子") || strings.HasSuffix(key, "之女") || strings.HasPrefix(key, "新生儿") ||
		strings.HasPrefix(key, "无名")
}

var latinFold = strings.NewReplacer("Ø", "O", "ø", "o", "Æ", "AE", "æ", "ae", "ß", "SS", "Œ", "OE", "œ", "oe",
	"Ł", "L", "ł", "l", "Đ", "D", "đ", "d", "Þ", "TH", "þ", "th", "ı", "i")

// normalizeName applies the name rules of README (How fiveid reads the
// five elements).
func normalizeName(raw string) (Name, []Finding) { return normalizeNameDepth(raw, 0) }

func normalizeNameDepth(raw string, depth int) (Name, []Finding) {
	var fs []Finding
	add := func(code string, sev Severity) {
		for _, f := range fs {
			if f.Code == code {
				return
			}
		}
		fs = append(fs, Finding{"name", code, sev})
	}
	s := raw
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		add("name_invalid_utf8", SeverityWarning)
	}
	if !isASCII(s) {
		if n := norm.NFKC.String(s); n != s {
			s = n
			add("name_width_folded", SeverityInfo)
		}
	}
	// Pass 1: strip what is not part of a name, fold dots and placeholders.
	rs := make([]rune, 0, len(s))
	hasHan := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || isVariationSelector(r):
			add("name_control_stripped", SeverityInfo)
			continue
		case dotVariants[r]:
			if r != 0x00B7 {
				add("name_dot_folded", SeverityInfo)
			}
			r = 0x00B7
		case isPlaceholderRune(r):
			add("name_placeholder_char", SeverityWarning)
			r = '?'
		case unicode.Is(unicode.Han, r):
			hasHan = true
		}
		rs = append(rs, r)
	}
	// Pass 2: whitespace rules, periods between Han characters.
	out := make([]rune, 0, len(rs))
	for i, r := range rs {
		if unicode.IsSpace(r) {
			if hasHan {
				add("name_whitespace_removed", SeverityInfo)
				continue
			}
			if len(out) == 0 || out[len(out)-1] == ' ' {
				continue
			}
			out = append(out, ' ')
			continue
		}
		if periods[r] && hasHan && i > 0 && i+1 < len(rs) && unicode.Is(unicode.Han, rs[i-1]) && unicode.Is(unicode.Han, rs[i+1]) {
			add("name_dot_folded", SeverityInfo)
			r = 0x00B7
		}
		out = append(out, r)
	}
	// Trim separators at the ends.
	for len(out) > 0 && (out[len(out)-1] == ' ' || out[len(out)-1] == 0x00B7) {
		out = out[:len(out)-1]
	}
	for len(out) > 0 && (out[0] == ' ' || out[0] == 0x00B7) {
		out = out[1:]
	}
	if len(out) > MaxNameRunes {
		// Normalize the truncated name again: cutting can change the
		// script (the Han characters were past the cut) and so the
		// whitespace rules; the second pass is a fixed point.
		add("name_truncated", SeverityWarning)
		if depth < 3 {
			again, more := normalizeNameDepth(string(out[:MaxNameRunes]), depth+1)
			for _, f := range more {
				add(f.Code, f.Severity)
			}
			return again, fs
		}
		out = out[:MaxNameRunes]
	}
	n := Name{Display: string(out)}
	if n.Display == "" {
		return n, fs
	}
	// Stripping can leave a sequence NFKC would change (a combining mark
	// now after a letter): normalize the result again so that normalizing
	// a normalized name changes nothing.
	if !isASCII(n.Display) && !norm.NFKC.IsNormalString(n.Display) && depth < 3 {
		again, more := normalizeNameDepth(n.Display, depth+1)
		for _, f := range more {
			add(f.Code, f.Severity)
		}
		return again, fs
	}
	if hasHan {
		n.Script = ScriptHan
		key := make([]rune, len(out))
		folded := false
		latin := false
		for i, r := range out {
			if t, ok := tsChars[r]; ok {
				r, folded = t, true
			} else if r < 0x80 && unicode.IsLetter(r) {
				r, latin = unicode.ToUpper(r), true
			}
			if r == '?' {
				n.Placeholders++
			}
			key[i] = r
		}
		if latin {
			n.Script = ScriptMixed
		}
		if folded {
			add("name_traditional_folded", SeverityInfo)
		}
		n.Key = string(key)
		n.Dotless = strings.Map(func(r rune) rune {
			if r == 0x00B7 || r == ' ' {
				return -1
			}
			return r
		}, n.Key)
		n.Pinyin, n.PinyinKey = pinyinOf(n.Dotless)
	} else {
		n.Script = ScriptLatin
		n.Key = latinKey(n.Display)
		n.Placeholders = strings.Count(n.Key, "?")
		n.Dotless = strings.ReplaceAll(n.Key, " ", "")
	}
	if IsPlaceholderName(n.Key) {
		add("name_placeholder", SeverityWarning)
	}
	return n, fs
}

// latinKey: upper case, accents stripped (NFD, drop Mn), special letters
// mapped, punctuation as spaces, tokens sorted (SMITH JOHN = John Smith =
// SMITH,JOHN).
func latinKey(s string) string {
	toks := latinTokens(s)
	sort.Strings(toks)
	return strings.Join(toks, " ")
}

// latinTokens are a Latin name's tokens in written order: upper case,
// accents stripped, punctuation as separators.
func latinTokens(s string) []string {
	s = latinFold.Replace(s)
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r == ',' || r == '.' || r == '\'' || r == '-' || r == '<' || r == '_' || r == '/' || r == 0x00B7 || unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	return strings.Fields(b.String())
}

// toneless maps tone-marked vowels to plain letters and ü to v, as
// go-pinyin's Normal style does, without its per-call regular expressions.
var toneless = func() map[rune]rune {
	m := map[rune]rune{'ü': 'v', 'ḿ': 'm', 'ǹ': 'n', 'ň': 'n', 'ń': 'n'}
	for plain, marked := range map[rune]string{'a': "āáǎà", 'e': "ēéěèê", 'i': "īíǐì", 'o': "ōóǒò", 'u': "ūúǔù", 'v': "ǖǘǚǜ"} {
		for _, r := range marked {
			m[r] = plain
		}
	}
	return m
}()

// readings returns a Han character's toneless readings from go-pinyin's
// dictionary (heteronyms: 单 is dan, chan or shan), deduplicated.
func readings(r rune) []string {
	raw, ok := pinyin.PinyinDict[int(r)]
	if !ok || raw == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.Map(func(c rune) rune {
			if t, ok := toneless[c]; ok {
				return t
			}
			return c
		}, p)
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// pinyinOf returns, per rune of s, every toneless reading, and the first
// readings joined. A placeholder is "?"; a rune without a reading is
// itself, lower-cased.
func pinyinOf(s string) ([][]string, string) {
	out := make([][]string, 0, utf8.RuneCountInString(s))
	var key strings.Builder
	for _, r := range s {
		var ps []string
		if unicode.Is(unicode.Han, r) {
			ps = readings(r)
		}
		if len(ps) == 0 {
			ps = []string{strings.ToLower(string(r))}
		}
		out = append(out, ps)
		key.WriteString(ps[0])
	}
	return out, key.String()
}
