package match

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var today = Date{2026, 11, 22, PrecisionDay}

func codes(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

// GB 11643-1999 Annex A's examples and numbers checked against independent
// implementations (docs/references.md).
func TestCitizenNumberVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		checksum bool
		sex      Sex
		dob      string
		findings []string // must all be present
	}{
		{"11010519491231002X", true, SexFemale, "1949-12-31", nil},
		{"11010519491231002x", true, SexFemale, "1949-12-31", []string{"id_reformatted"}},
		{"440524188001010014", true, SexMale, "1880-01-01", nil},
		{"34052419800101001X", true, SexMale, "1980-01-01", nil},
		{"360426199101010071", true, SexMale, "1991-01-01", nil},
		{"44011320141005001X", true, SexMale, "2014-10-05", nil},
		{"110101199003078670", true, SexMale, "1990-03-07", nil},
		{"500154199804106120", true, SexFemale, "1998-04-10", nil},
		{"44040119580101000X", true, SexFemale, "1958-01-01", nil},
		{"810000199408230021", true, SexFemale, "1994-08-23", nil},
		{"830000199505245608", true, SexFemale, "1995-05-24", nil},
		{"11010119900307867X", false, SexUnknown, "1990-03-07", []string{"id_checksum_invalid"}},
		{"440308199901101513", false, SexUnknown, "1999-01-10", []string{"id_checksum_invalid"}},
		{"36042619910102009X", false, SexUnknown, "1991-01-02", []string{"id_checksum_invalid"}},
		{"140622209101019893", false, SexUnknown, "", []string{"id_checksum_invalid", "id_birth_invalid"}},
		{"440308199902301512", false, SexUnknown, "", []string{"id_birth_invalid"}},
		{"360426199113010079", true, SexMale, "", []string{"id_birth_invalid"}},
		{"990426199112010074", true, SexMale, "1991-12-01", []string{"id_province_invalid"}},
		{"810000199408230022", false, SexUnknown, "1994-08-23", []string{"id_checksum_invalid"}},
		{"44030819990110", false, SexUnknown, "", []string{"id_format_invalid"}},
		{"１１０１０５１９４９１２３１００２Ｘ", true, SexFemale, "1949-12-31", []string{"id_fullwidth_folded"}},
		{"'110105 1949-1231-002X", true, SexFemale, "1949-12-31", []string{"id_reformatted"}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			id, fs := normalizeID("01", tc.in, IDTableWS364, today)
			if id.ChecksumValid != tc.checksum {
				t.Errorf("checksum valid = %v, want %v", id.ChecksumValid, tc.checksum)
			}
			if id.Sex != tc.sex {
				t.Errorf("sex = %v, want %v", id.Sex, tc.sex)
			}
			if got := id.BirthDate.String(); got != tc.dob {
				t.Errorf("dob = %q, want %q", got, tc.dob)
			}
			for _, f := range tc.findings {
				if !slices.Contains(codes(fs), f) {
					t.Errorf("findings %v lack %s", codes(fs), f)
				}
			}
			if id.Namespace != string(IDTypeCitizen) {
				t.Errorf("namespace %s", id.Namespace)
			}
		})
	}
}

func TestFifteenDigitNumbersUpgradeToTheSameKey(t *testing.T) {
	t.Parallel()
	for in15, out18 := range map[string]string{
		"610104620927690": "610104196209276908",
		"110101781027002": "110101197810270029",
		"330105781027002": "330105197810270025",
		"350303900203307": "350303199002033073",
	} {
		a, fs := normalizeID("身份证", in15, IDTableAuto, today)
		b, _ := normalizeID("身份证", out18, IDTableAuto, today)
		if a.Number != out18 || a.Key != b.Key || !a.Upgraded15 || !a.ChecksumValid {
			t.Errorf("%s -> %+v, want %s", in15, a, out18)
		}
		if !slices.Contains(codes(fs), "id_upgraded_from_15") {
			t.Errorf("%s: no id_upgraded_from_15 finding", in15)
		}
	}
	// 1962-09-32 upgrades but its date is invalid.
	id, fs := normalizeID("01", "610104620932690", IDTableAuto, today)
	if !id.BirthDate.IsZero() || !slices.Contains(codes(fs), "id_birth_invalid") {
		t.Errorf("invalid 15-digit date: %+v %v", id, codes(fs))
	}
}

func TestOtherDocumentKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, table, number, key string
		invalid                       bool
	}{
		{"HK permit keys on the lifelong 9 characters", "港澳居民来往内地通行证", "", "H1234567802", "HKMO_PERMIT:H12345678", false},
		{"HK permit renewal matches the first issue", "06", "ws364", "h12345678", "HKMO_PERMIT:H12345678", false},
		{"Macau permit", "516", "gat2000", "M1234567801", "HKMO_PERMIT:M12345678", false},
		{"HK permit of the wrong shape", "回乡证", "", "A1234567801", "HKMO_PERMIT:A1234567801", true},
		{"Taiwan permit keys on 8 digits", "台胞证", "", "1029384756", "TW_PERMIT:10293847", false},
		{"Taiwan permit legacy bracket", "07", "ws364", "10293847(B)", "TW_PERMIT:10293847", false},
		{"Taiwan permit of 9 digits is malformed", "台胞证", "", "102938475", "TW_PERMIT:102938475", true},
		{"foreign PR card 2023", "外国人永久居留身份证", "", "911398199012310021", "FOREIGN_PR:911398199012310021", false},
		{"foreign PR card 2023 bad check", "07", "nhsa", "911398199012310022", "FOREIGN_PR:911398199012310022", true},
		{"foreign PR card old", "553", "gat2000", "KAZ110090123105", "FOREIGN_PR:KAZ110090123105", false},
		{"household register is the citizen namespace", "户口簿", "", "11010519491231002X", "CN_RIC:11010519491231002X", false},
		{"social security card is the citizen namespace", "90", "nhsa", "11010519491231002X", "CN_RIC:11010519491231002X", false},
		{"HMT residence permit", "17", "nhsa", "830000199201300022", "CN_RIC:830000199201300022", false},
		{"Chinese passport", "16", "nhsa", "E12345678", "PASSPORT_CN:E12345678", false},
		{"passport of unknown issuer", "护照", "", "x1234567", "PASSPORT:X1234567", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id, fs := normalizeID(tc.typ, tc.number, IDTable(tc.table), today)
			if id.Key != tc.key {
				t.Errorf("key = %q, want %q", id.Key, tc.key)
			}
			bad := slices.Contains(codes(fs), "id_format_invalid") || slices.Contains(codes(fs), "id_checksum_invalid")
			if bad != tc.invalid {
				t.Errorf("invalid = %v, want %v (%v)", bad, tc.invalid, codes(fs))
			}
		})
	}
}

func TestIDTypeTables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw   string
		table IDTable
		want  IDType
		known bool
	}{
		{"01", IDTableWS364, IDTypeCitizen, true},
		{"03", IDTableWS364, IDTypePassport, true},
		{"03", IDTableNHSA, IDTypeMilitary, true},
		{"03", IDTableAuto, IDTypeUnknown, false}, // means different things: never guessed
		{"07", IDTableNHSA, IDTypeForeignPR, true},
		{"07", IDTableWS364, IDTypeTWPermit, true},
		{"414", IDTableGAT2000, IDTypePassportCN, true},
		{"414", IDTableAuto, IDTypePassportCN, true}, // only GA/T has 3-digit codes
		{"1", IDTableWS364, IDTypeCitizen, true},
		{"居民身份证", IDTableNHSA, IDTypeCitizen, true},
		{" 身份证 ", IDTableAuto, IDTypeCitizen, true},
		{"CN_RIC", IDTableAuto, IDTypeCitizen, true},
		{"passport", IDTableAuto, IDTypePassport, true},
		{"42", IDTableWS364, IDTypeUnknown, false},
		{"", IDTableWS364, IDTypeNone, true},
	}
	for _, tc := range tests {
		got, known := NormalizeIDType(tc.raw, tc.table)
		if got != tc.want || known != tc.known {
			t.Errorf("NormalizeIDType(%q, %q) = %s %v, want %s %v", tc.raw, tc.table, got, known, tc.want, tc.known)
		}
	}
}

func TestUnknownTypeIsKeptNotGuessed(t *testing.T) {
	t.Parallel()
	id, fs := normalizeID("42", "AB123456", IDTableWS364, today)
	if id.Type != IDTypeUnknown || id.TypeRaw != "42" || id.Key != "UNKNOWN:AB123456" {
		t.Errorf("unknown type: %+v", id)
	}
	if !slices.Contains(codes(fs), "id_type_unknown") {
		t.Errorf("findings: %v", codes(fs))
	}
	// A checksum-valid citizen number under no type is inferred, and said.
	id, fs = normalizeID("", "11010519491231002X", IDTableAuto, today)
	if id.Namespace != "CN_RIC" || !slices.Contains(codes(fs), "id_type_inferred") {
		t.Errorf("inference: %+v %v", id, codes(fs))
	}
}

func TestPlaceholderIDsAreMissing(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"000000000000000000", "111111111111111111", "123456789", "无", "不详", "N/A"} {
		id, fs := normalizeID("01", n, IDTableWS364, today)
		if !id.IsZero() || !slices.Contains(codes(fs), "id_placeholder") {
			t.Errorf("%q: %+v %v", n, id, codes(fs))
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in              string
		display, key, dotless string
		findings              []string
		placeholders          int
	}{
		{"traditional folds to simplified in the key only", "張偉", "張偉", "张伟", "张伟", []string{"name_traditional_folded"}, 0},
		{"inner spaces of Han names go", " 张 伟 ", "张伟", "张伟", "张伟", []string{"name_whitespace_removed"}, 0},
		{"bullet is a minority-name dot", "阿卜杜拉•艾力", "阿卜杜拉·艾力", "阿卜杜拉·艾力", "阿卜杜拉艾力", []string{"name_dot_folded"}, 0},
		{"katakana dot", "买买提・吐尔逊", "买买提·吐尔逊", "买买提·吐尔逊", "买买提吐尔逊", []string{"name_dot_folded"}, 0},
		{"period between Han characters", "买买提.吐尔逊", "买买提·吐尔逊", "买买提·吐尔逊", "买买提吐尔逊", []string{"name_dot_folded"}, 0},
		{"full-width letters", "ＬＩ　ＭＩＮＧ", "LI MING", "LI MING", "LIMING", []string{"name_width_folded"}, 0},
		{"zero-width and variation selectors", "李\u200b娜\ufe0f", "李娜", "李娜", "李娜", []string{"name_control_stripped"}, 0},
		{"placeholder characters are wildcards", "王?明", "王?明", "王?明", "王?明", []string{"name_placeholder_char"}, 1},
		{"geta mark", "王〓明", "王?明", "王?明", "王?明", []string{"name_placeholder_char"}, 1},
		{"Latin names sort tokens", "Smith, John", "Smith, John", "JOHN SMITH", "JOHNSMITH", nil, 0},
		{"Latin accents", "José Müller-Lüdenscheidt", "José Müller-Lüdenscheidt", "JOSE LUDENSCHEIDT MULLER", "JOSELUDENSCHEIDTMULLER", nil, 0},
		{"Ext-B character is Han", "\U00020000明", "\U00020000明", "\U00020000明", "\U00020000明", nil, 0},
		{"placeholder name", "无名氏", "无名氏", "无名氏", "无名氏", []string{"name_placeholder"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, fs := normalizeName(tc.in)
			got := []string{n.Display, n.Key, n.Dotless}
			if d := cmp.Diff([]string{tc.display, tc.key, tc.dotless}, got); d != "" {
				t.Errorf("display, key, dotless (-want +got):\n%s", d)
			}
			for _, f := range tc.findings {
				if !slices.Contains(codes(fs), f) {
					t.Errorf("findings %v lack %s", codes(fs), f)
				}
			}
			if n.Placeholders != tc.placeholders {
				t.Errorf("placeholders = %d", n.Placeholders)
			}
		})
	}
}

func TestLongNamesAndRareCharacters(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("阿", 30) + "·" + strings.Repeat("\U00031350", 25) // Ext-G
	n, _ := normalizeName(long)
	if utf8.RuneCountInString(n.Key) != 56 || n.Script != ScriptHan {
		t.Errorf("a 56-character name: %d runes, script %d", utf8.RuneCountInString(n.Key), n.Script)
	}
}

func TestPinyinHeteronyms(t *testing.T) {
	t.Parallel()
	n, _ := normalizeName("单伟")
	if !slices.Contains(n.Pinyin[0], "dan") || !slices.Contains(n.Pinyin[0], "shan") {
		t.Errorf("单 readings: %v", n.Pinyin[0])
	}
	a, _ := normalizeName("张伟")
	b, _ := normalizeName("张卫")
	if !pinyinEqual(a.Pinyin, b.Pinyin) {
		t.Errorf("伟/卫 homophones: %v %v", a.Pinyin, b.Pinyin)
	}
}

func TestBirthDates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		finding  string
	}{
		{"19491231", "1949-12-31", ""},
		{"1949-12-31", "1949-12-31", ""},
		{"1949/12/31", "1949-12-31", ""},
		{"1949/1/3", "1949-01-03", ""},
		{"1949.12.31", "1949-12-31", ""},
		{"1949年12月31日", "1949-12-31", ""},
		{"1949年1月3日", "1949-01-03", ""},
		{"１９４９年１２月３１日", "1949-12-31", ""},
		{"一九四九年十二月三十一日", "1949-12-31", ""},
		{"19491231000000", "1949-12-31", ""},
		{"1949-12-31 00:00:00", "1949-12-31", "dob_time_dropped"},
		{"1949-12-31T00:00:00+08:00", "1949-12-31", "dob_time_dropped"},
		{"1949", "1949", "dob_partial"},
		{"194912", "1949-12", "dob_partial"},
		{"1949-12", "1949-12", "dob_partial"},
		{"491231", "", "dob_ambiguous"},
		{"31/12/1949", "", "dob_ambiguous"},
		{"12/31/1949", "", "dob_ambiguous"},
		{"1900-01-01", "", "dob_placeholder"},
		{"1800-01-01", "", "dob_placeholder"},
		{"0000-00-00", "", "dob_placeholder"},
		{"1970-01-01", "", "dob_placeholder"},
		{"不详", "", "dob_placeholder"},
		{"1949-02-30", "", "dob_invalid"},
		{"2030-01-01", "", "dob_future"},
		{"18263", "", "dob_unparseable"},
	}
	for _, tc := range tests {
		d, fs := ParseBirthDate(tc.in, today)
		if d.String() != tc.want {
			t.Errorf("%q -> %q, want %q", tc.in, d.String(), tc.want)
		}
		if tc.finding != "" && !slices.Contains(codes(fs), tc.finding) {
			t.Errorf("%q: findings %v lack %s", tc.in, codes(fs), tc.finding)
		}
	}
}

func TestSex(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Sex{
		"1": SexMale, "男": SexMale, "男性": SexMale, "M": SexMale, "male": SexMale, "Male": SexMale,
		"2": SexFemale, "女": SexFemale, "女性": SexFemale, "f": SexFemale, "FEMALE": SexFemale,
		"0": SexUnknown, "9": SexUnknown, "U": SexUnknown, "": SexUnknown, "未知": SexUnknown,
	} {
		if got, ok := ParseSex(in); got != want || !ok {
			t.Errorf("ParseSex(%q) = %v %v, want %v", in, got, ok, want)
		}
	}
	if s, fs := normalizeSex("yes"); s != SexUnknown || !slices.Contains(codes(fs), "sex_unrecognized") {
		t.Errorf("unrecognized sex: %v %v", s, fs)
	}
}

func TestNormalizeCrossChecksTheIDNumber(t *testing.T) {
	t.Parallel()
	r, err := Normalize(Input{Name: "张伟", Sex: "男", BirthDate: "1950-01-01", IDType: "01", IDNumber: "11010519491231002X"}, Options{Today: today})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id_dob_mismatch", "id_sex_mismatch"} {
		if !slices.Contains(codes(r.Findings), f) {
			t.Errorf("findings %v lack %s", codes(r.Findings), f)
		}
	}
}

func TestIrreparableInputNamesTheField(t *testing.T) {
	t.Parallel()
	_, err := Normalize(Input{Name: " ?? ", BirthDate: "1949-12-31"}, Options{})
	ve, ok := err.(*ValidationError)
	if !ok || ve.Problems[0].Field != "name" {
		t.Fatalf("placeholder-only name: %v", err)
	}
	_, err = Normalize(Input{Name: "张伟", Sex: "男"}, Options{})
	ve, ok = err.(*ValidationError)
	if !ok || len(ve.Problems) != 2 || ve.Problems[0].Field != "id_number" || ve.Problems[1].Field != "birth_date" {
		t.Fatalf("nothing identifying: %v", err)
	}
	if _, err := Normalize(Input{Name: "张伟", BirthDate: "1949-12-31"}, Options{}); err != nil {
		t.Errorf("name + birth date is enough: %v", err)
	}
	if _, err := Normalize(Input{Name: "张伟", IDType: "01", IDNumber: "11010519491231002X"}, Options{}); err != nil {
		t.Errorf("name + ID is enough: %v", err)
	}
}

func TestMaskID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"11010519491231002X": "110105********002X",
		"H12345678":          "H1*****78",
		"":                   "",
		"12":                 "**",
	} {
		if got := MaskID(in); got != want {
			t.Errorf("MaskID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFindingCodesAreListed(t *testing.T) {
	t.Parallel()
	inputs := []Input{
		{Name: "張\u200b偉•?", Sex: "x", BirthDate: "31/12/1949", IDType: "42", IDNumber: "１１０１０５４９１２３１００２"},
		{Name: "无名氏", Sex: "5", BirthDate: "1949-12-31 10:00", IDType: "", IDNumber: "11010519491231002Y"},
	}
	for _, in := range inputs {
		r, _ := Normalize(in, Options{Today: today})
		for _, f := range r.Findings {
			if !slices.Contains(FindingCodes, f.Code) {
				t.Errorf("finding %s is not in FindingCodes", f.Code)
			}
		}
	}
}
