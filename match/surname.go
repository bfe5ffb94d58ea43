package match

import (
	"strings"
	"unicode"
)

// compoundSurnames are the two-character Chinese surnames (复姓) in use, in
// simplified and traditional forms. A Han name that starts with one is split
// after two characters (欧阳 + 修); any other after one (张 + 伟). The list is
// the compound surnames of the Hundred Family Surnames (百家姓) that still
// occur, which is what registers carry; a rarer one splits after one
// character, as a clerk would.
var compoundSurnames = map[string]bool{}

func init() {
	for _, s := range strings.Fields(`欧阳 歐陽 司马 司馬 上官 诸葛 諸葛 东方 東方 皇甫 尉迟 尉遲 公孙 公孫
		慕容 长孙 長孫 宇文 司徒 夏侯 轩辕 軒轅 令狐 钟离 鍾離 鐘離 闾丘 閭丘 南宫 南宮 西门 西門
		独孤 獨孤 端木 申屠 公羊 澹台 澹臺 太史 拓跋 司空 百里 呼延 东郭 東郭 万俟 萬俟 赫连 赫連
		第五 濮阳 濮陽 单于 單于 淳于 仲孙 仲孫 宗政 公冶 左丘 谷梁 穀梁 梁丘 乐正 樂正 漆雕 巫马 巫馬
		亓官 羊舌 微生 公良 夹谷 夾谷 宰父 段干 百里 东门 東門 公西 壤驷 壤駟 颛孙 顓孫 子车 子車
		闻人 聞人 太叔 公户 公戶 司寇 鲜于 鮮于`) {
		compoundSurnames[s] = true
	}
}

// SplitName splits a normalized display name (Name.Display) into family and
// given name for standards that want both (HL7 FHIR HumanName):
//   - a Han name without a dot: the surname is its first character, or its
//     first two when they are a compound surname (欧阳修 -> 欧阳, 修);
//   - a Latin name written "FAMILY, GIVEN" (the comma form of ICAO 9303
//     and of most registers): the parts around the comma.
//
// Anything else is not split (ok false): a name with a middle dot (阿卜杜拉·艾力)
// follows the conventions of its people, not the Han order, and a Latin
// name without a comma may be written surname first (ZHANG WEI, as on a
// Chinese passport) or last (Wei Zhang): guessing would be wrong half the
// time.
func SplitName(display string) (family, given string, ok bool) {
	if f, g, found := strings.Cut(display, ","); found {
		f, g = strings.TrimSpace(f), strings.TrimSpace(g)
		if f == "" || g == "" || strings.Contains(g, ",") {
			return "", "", false
		}
		return f, g, true
	}
	rs := []rune(display)
	if len(rs) < 2 {
		return "", "", false
	}
	for _, r := range rs {
		if !unicode.Is(unicode.Han, r) {
			return "", "", false
		}
	}
	n := 1
	if len(rs) > 2 && compoundSurnames[string(rs[:2])] {
		n = 2
	}
	return string(rs[:n]), string(rs[n:]), true
}
