package match

import "testing"

var benchInputs = []Input{
	{Name: "张伟", Sex: "男", BirthDate: "1985-03-07", IDType: "01", IDNumber: "110101198503078671"},
	{Name: "張麗華", Sex: "2", BirthDate: "19700521", IDType: "居民身份证", IDNumber: "440524700521002"},
	{Name: "阿卜杜拉•艾力", Sex: "1", BirthDate: "1990年1月2日", IDType: "111", IDNumber: "650102199001020011"},
	{Name: "欧阳雪婧", Sex: "F", BirthDate: "1988/2/29", IDType: "", IDNumber: ""},
	{Name: "SMITH, John", Sex: "M", BirthDate: "1975-11-30", IDType: "03", IDNumber: "E12345678"},
	{Name: "王芳", Sex: "女", BirthDate: "1962-09-27 00:00:00", IDType: "01", IDNumber: "６１０１０４１９６２０９２７６９０８"},
}

// BenchmarkNormalize measures realistic records; records/s = 1e9 / ns/op.
func BenchmarkNormalize(b *testing.B) {
	opt := Options{IDTable: IDTableWS364, Today: today}
	i := 0
	for b.Loop() {
		if _, err := Normalize(benchInputs[i%len(benchInputs)], opt); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkCompare(b *testing.B) {
	s, _ := NewScorer(DefaultWeights(), DefaultThresholds())
	recs := make([]Record, len(benchInputs))
	for i, in := range benchInputs {
		recs[i], _ = Normalize(in, Options{Today: today})
	}
	i := 0
	for b.Loop() {
		s.Compare(recs[i%len(recs)], recs[(i+1)%len(recs)], TermFreq{N: 10, Total: 1000})
		i++
	}
}

func BenchmarkBlockingKeys(b *testing.B) {
	r, _ := Normalize(benchInputs[0], Options{Today: today})
	for b.Loop() {
		BlockingKeys(r)
	}
}

// What a stored candidate costs to read: normalizing its raw values again
// against decoding its stored features.
func BenchmarkCandidateFeatures(b *testing.B) {
	in := Input{Name: "阿卜杜拉•艾力", Sex: "男", BirthDate: "1980-01-02", IDType: "01", IDNumber: "11010519491231002X"}
	r, err := Normalize(in, Options{})
	if err != nil {
		b.Fatal(err)
	}
	enc := EncodeFeatures(r)
	b.Run("normalize", func(b *testing.B) {
		for b.Loop() {
			_, _ = Normalize(in, Options{})
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			_, _ = DecodeFeatures(enc)
		}
	})
}
