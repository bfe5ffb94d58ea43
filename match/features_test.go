package match

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

// featureInputs are the inputs the features tests normalize: the fuzz
// seeds' hostile values in every field position, and ordinary records of
// every document kind, under every ID table.
func featureInputs() []Input {
	ins := []Input{
		{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"},
		{Name: "王芳", Sex: "2", BirthDate: "19800101", IDType: "居民身份证", IDNumber: "110105800101002"},
		{Name: "阿卜杜拉•艾力", Sex: "M", BirthDate: "1980年1月2日", IDType: "身份证", IDNumber: "110105800102001"},
		{Name: "單?明", Sex: "女", BirthDate: "1975-06", IDType: "06", IDNumber: "H12345678"},
		{Name: "Smith John", Sex: "1", BirthDate: "1990", IDType: "03", IDNumber: "E12345678"},
		{Name: "陈小明", Sex: "", BirthDate: "2001/2/3", IDType: "", IDNumber: ""},
		{Name: "李娜", Sex: "F", BirthDate: "1988-08-08", IDType: "99", IDNumber: "ABC123"},
	}
	for i := range hostile {
		at := func(k int) string { return hostile[(i+k)%len(hostile)] }
		ins = append(ins, Input{Name: at(0), Sex: at(1), BirthDate: at(2), IDType: at(3), IDNumber: at(4)},
			Input{Name: "张伟", Sex: at(0), BirthDate: at(0), IDType: "01", IDNumber: at(0)})
	}
	return ins
}

var featureTables = []IDTable{IDTableAuto, IDTableWS364, IDTableNHSA, IDTableGAT2000}

// A stored record's features read back as the very record Normalize
// gives (findings aside), and comparing with them scores the same.
func TestFeaturesRoundTrip(t *testing.T) {
	sc, err := NewScorer(DefaultWeights(), DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	query, err := Normalize(Input{Name: "张伟", Sex: "女", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, table := range featureTables {
		for _, in := range featureInputs() {
			r, err := Normalize(in, Options{IDTable: table})
			if err != nil {
				continue
			}
			n++
			got, ok := DecodeFeatures(EncodeFeatures(r))
			if !ok {
				t.Fatalf("%+v: features do not decode: %q", in, EncodeFeatures(r))
			}
			r.Findings = nil
			if !reflect.DeepEqual(got, r) {
				t.Fatalf("%+v: round trip changed the record:\n got %+v\nwant %+v", in, got, r)
			}
			f := TermFreq{N: 3, Total: 1000}
			if a, b := sc.Score(sc.Pattern(query, r), query, r, f), sc.Score(sc.Pattern(query, got), query, got, f); !reflect.DeepEqual(a, b) {
				t.Fatalf("%+v: scores differ: %+v vs %+v", in, a, b)
			}
		}
	}
	if n < 40 {
		t.Fatalf("only %d inputs normalized", n)
	}
}

// Text of another rules version, or not features at all, is refused:
// the record is then normalized again.
func TestFeaturesRefuseOtherVersionsAndGarbage(t *testing.T) {
	r, err := Normalize(Input{Name: "张伟", BirthDate: "1949-12-31"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := EncodeFeatures(r)
	for _, s := range []string{"", "f0;" + good[3:], "f999;" + good[3:], good[:len(good)-1], good + "1,", "f1;x", "f1;99999:abc"} {
		if _, ok := DecodeFeatures(s); ok {
			t.Errorf("DecodeFeatures(%q) accepted", s)
		}
	}
}

// normalizeDigests records, per NormalizeRules version, a digest of the
// features of every featureInputs record under every table. When this
// test fails, Normalize (or EncodeFeatures) now gives other output: bump
// NormalizeRules — stored features of the old rules are then ignored and
// their records normalized again — and record the new digest here.
var normalizeDigests = map[int]string{
	1: "b171964b0bd391f1",
}

func TestNormalizeRulesDigest(t *testing.T) {
	h := sha256.New()
	for _, table := range featureTables {
		for _, in := range featureInputs() {
			r, err := Normalize(in, Options{IDTable: table})
			if err != nil {
				h.Write([]byte("invalid\n"))
				continue
			}
			h.Write([]byte(EncodeFeatures(r) + "\n"))
		}
	}
	got := hex.EncodeToString(h.Sum(nil))[:16]
	if want := normalizeDigests[NormalizeRules]; got != want {
		t.Errorf("Normalize's output under NormalizeRules %d has digest %s, recorded %q: bump NormalizeRules and record the new digest", NormalizeRules, got, want)
	}
}
