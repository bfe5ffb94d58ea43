package match

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

var hostile = []string{
	"", " ", "张伟", "張偉", "阿卜杜拉•艾力", "\u200f\u202e伟张", "李\u200d娜", "e\u0301\u0301\u0301", "\xff\xfe",
	"\U0001F600", "\U00020000\U00031350", "\ue000\uf8ff", "??", "〓□", strings.Repeat("王", 1000), "SMITH,JOHN",
	"\x00\x01", "١٢٣", "ＡＢＣ", "·", "..", "。", "无名氏", "H1234567802", "11010519491231002X", "110105491231002",
	"１１０１０５１９４９１２３１００２Ｘ", "1949年12月31日", "一九四九年十二月三十一日", "31/12/1949", "0000-00-00",
}

func FuzzNormalize(f *testing.F) {
	for i, s := range hostile {
		f.Add(s, hostile[(i+1)%len(hostile)], hostile[(i+2)%len(hostile)], hostile[(i+3)%len(hostile)], hostile[(i+4)%len(hostile)])
	}
	f.Add("张伟", "男", "1949-12-31", "01", "11010519491231002X")
	f.Add("王芳", "2", "19800101", "居民身份证", "110105800101002")
	f.Fuzz(func(t *testing.T, name, sex, dob, typ, id string) {
		in := Input{Name: name, Sex: sex, BirthDate: dob, IDType: typ, IDNumber: id}
		r, err := Normalize(in, Options{Today: today})
		for _, s := range []string{r.Name.Display, r.Name.Key, r.Name.Dotless, r.Name.PinyinKey, r.ID.Number, r.ID.Key, r.ID.TypeRaw} {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in output %q", s)
			}
		}
		if err != nil {
			return
		}
		// Normalizing the normalized form changes nothing.
		again, err := Normalize(Input{Name: r.Name.Display, Sex: r.Sex.Code(), BirthDate: r.BirthDate.String(),
			IDType: string(r.ID.Type), IDNumber: r.ID.Number}, Options{Today: today})
		if err != nil {
			t.Fatalf("normalized record does not normalize: %v (%+v)", err, r)
		}
		if again.Name.Key != r.Name.Key || again.Name.Display != r.Name.Display || again.Sex != r.Sex ||
			again.BirthDate != r.BirthDate || again.ID.Key != r.ID.Key {
			t.Fatalf("not idempotent:\n%+v\n%+v", r, again)
		}
		// The 15- and 18-digit forms of one citizen number share the key.
		if r.ID.Upgraded15 {
			up, _ := normalizeID(typ, r.ID.Number, IDTableAuto, today)
			if up.Key != r.ID.Key {
				t.Fatalf("15 and 18 digit keys differ: %s %s", r.ID.Key, up.Key)
			}
		}
		_ = BlockingKeys(r)
	})
}

func FuzzCompare(f *testing.F) {
	f.Add("张伟", "男", "1949-12-31", "01", "11010519491231002X", "張偉", "", "19491231", "01", "110105491231002", int64(3), int64(100))
	f.Add("SMITH JOHN", "M", "1980", "03", "E12345678", "John Smith", "F", "1980-01-02", "护照", "E12345679", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, n1, s1, d1, t1, i1, n2, s2, d2, t2, i2 string, tfN, tfTotal int64) {
		s, _ := NewScorer(DefaultWeights(), DefaultThresholds())
		a, err := Normalize(Input{n1, s1, d1, t1, i1}, Options{Today: today})
		if err != nil {
			return
		}
		b, err := Normalize(Input{n2, s2, d2, t2, i2}, Options{Today: today})
		if err != nil {
			return
		}
		if tfN < 0 || tfTotal < 0 || tfN > tfTotal {
			tfN, tfTotal = 0, 0
		}
		tf := TermFreq{N: tfN, Total: tfTotal}
		ab, ba := s.Compare(a, b, tf), s.Compare(b, a, tf)
		if math.IsNaN(ab.Score) || math.IsInf(ab.Score, 0) || math.Abs(ab.Score) > 200 {
			t.Fatalf("score out of bounds: %v", ab.Score)
		}
		if ab.Score != ba.Score || ab.Grade != ba.Grade {
			t.Fatalf("not symmetric: %v/%s vs %v/%s", ab.Score, ab.Grade, ba.Score, ba.Grade)
		}
		th := s.Thresholds()
		switch ab.Grade {
		case GradeCertain:
			if ab.Score < th.Certain {
				t.Fatalf("certain below threshold: %v", ab.Score)
			}
		case GradeProbable:
			if ab.Score < th.Probable {
				t.Fatalf("probable below threshold: %v", ab.Score)
			}
		case GradePossible:
			if ab.Score < th.Possible && len(ab.Rules) == 0 {
				t.Fatalf("possible below threshold: %v", ab.Score)
			}
		}
	})
}
