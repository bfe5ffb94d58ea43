package match_test

import (
	"fmt"

	"fiveid/match"
)

func ExampleNormalize() {
	r, err := match.Normalize(match.Input{
		Name: "張偉", Sex: "1", BirthDate: "1949年12月31日", IDType: "居民身份证", IDNumber: "１１０１０５４９１２３１００２",
	}, match.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Name.Display, r.Name.Key, r.Name.PinyinKey)
	fmt.Println(r.Sex, r.BirthDate)
	fmt.Println(r.ID.Key, r.ID.ChecksumValid, r.ID.BirthDate, r.ID.Sex)
	for _, f := range r.Findings {
		fmt.Println(f.Field, f.Code, f.Severity)
	}
	// Output:
	// 張偉 张伟 zhangwei
	// male 1949-12-31
	// CN_RIC:11010519491231002X true 1949-12-31 female
	// name name_traditional_folded info
	// id_number id_fullwidth_folded info
	// id_number id_upgraded_from_15 info
	// id_number id_sex_mismatch warning
}

func ExampleMaskID() {
	fmt.Println(match.MaskID("11010519491231002X"))
	// Output: 110105********002X
}

func ExampleScorer_Compare() {
	s, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	a, _ := match.Normalize(match.Input{Name: "张伟", Sex: "女", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}, match.Options{})
	b, _ := match.Normalize(match.Input{Name: "张卫", BirthDate: "19491231", IDType: "01", IDNumber: "11010519491231003X"}, match.Options{})
	e := s.Compare(a, b, match.TermFreq{})
	fmt.Println(e.Grade, e.Rules)
	for _, f := range e.Fields {
		fmt.Printf("%s %s %.1f\n", f.Field, f.Level, f.Weight)
	}
	// Output:
	// probable [certain_requires_id]
	// id typo 11.6
	// name pinyin_equal 3.3
	// birth_date equal 14.3
	// sex missing 0.0
	// prior index_size -13.3
}
