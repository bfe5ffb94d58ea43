package match

import (
	"slices"
	"strings"
)

// Field comparisons: each returns the agreement level of one identity
// element, and the string metrics they rest on.

// strongNamespace reports whether the numbers of namespace ns carry a check
// character: a single substitution or adjacent swap always breaks it, so
// two valid numbers that differ are different numbers.
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
