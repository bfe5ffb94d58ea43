package match

import "testing"

func TestSplitName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, family, given string
		ok                  bool
	}{
		{"张伟", "张", "伟", true},
		{"王秀英", "王", "秀英", true},
		{"欧阳修", "欧阳", "修", true},
		{"欧阳雪婧", "欧阳", "雪婧", true},
		{"歐陽修", "歐陽", "修", true},
		{"司马相如", "司马", "相如", true},
		{"欧阳", "欧", "阳", true}, // two characters: a surname and a given name
		{"ZHANG, WEI", "ZHANG", "WEI", true},
		{"Smith, John Paul", "Smith", "John Paul", true},
		{"ZHANG WEI", "", "", false},
		{"阿卜杜拉·艾力", "", "", false},
		{"张", "", "", false},
		{", WEI", "", "", false},
		{"A, B, C", "", "", false},
	} {
		f, g, ok := SplitName(tc.name)
		if f != tc.family || g != tc.given || ok != tc.ok {
			t.Errorf("SplitName(%q) = %q, %q, %v; want %q, %q, %v", tc.name, f, g, ok, tc.family, tc.given, tc.ok)
		}
	}
}
