package benchmarks

import (
	"fmt"
	"github.com/6tail/lunar-go/calendar"
	"github.com/mozillazg/go-pinyin"
	"math/rand/v2"
	"strings"

	"fiveid/match"
)

// Seeds: tune on SeedTuning, report on SeedReport (never the same data);
// SeedGate is the accuracy gate's sample in make test, a third one.
const (
	SeedTuning = 1
	SeedReport = 20261122
	SeedGate   = 3
)

// Person is a ground-truth identity.
type Person struct {
	ID       int
	Surname  string
	Given    string
	Sex      match.Sex
	Birth    match.Date
	IDType   match.IDType // IDTypeNone: has no document
	IDNumber string       // canonical number
	TwinOf   int          // -1 when not a twin
}

// Name is the person's full name.
func (p Person) Name() string {
	if strings.Contains(p.Given, "·") {
		return p.Given // minority names are written given·family
	}
	return p.Surname + p.Given
}

// Record is one noisy source record of a person.
type Record struct {
	PersonID int
	System   string
	LocalID  string
	Input    match.Input
	// Distinct records are loaded before any other (Service.LoadDistinct),
	// each as its own customer: a deduplicated legacy index that already
	// knows them to be different people.
	Distinct bool
}

// Systems of the synthetic group and the ID-type table each uses.
var Systems = []struct {
	Code, Kind string
	Table      match.IDTable
}{
	{"hosp-a", "medical", match.IDTableWS364},
	{"hosp-b", "medical", match.IDTableNHSA},
	{"care-c", "eldercare", match.IDTableGAT2000},
	{"funeral-d", "funeral", match.IDTableAuto},
}

// Noise rates per record, from linkage-anchors.md §5 ("realistic").
type Noise struct {
	IDTypo, IDSwap, IDMissing, ID15, IDFullWidth, IDFormat float64
	NameTraditional, NameHomophone, NameTypo, NameSpaces   float64
	DOBSwap, DOBTypo, DOBMissing, DOBPlaceholder           float64
	SexMissing, SexWrong                                   float64
	// Chinese modes beyond linkage-anchors.md's rates (Chinese profile
	// only; rates assumed, not measured): the name written in pinyin (a
	// passport-style ZHANG XIAOMING or a Western-order Xiaoming Zhang), and
	// for people born before 1950 the lunar birthday written as the date
	// (cn-identity.md §5.3: common for the elderly).
	NamePinyin, DOBLunar float64
}

// Chinese is Realistic plus pinyin-written names (2% of records) and lunar
// birthdays (5% of the records of people born before 1950): a stress
// profile for the cross-script and lunar comparisons, at assumed rates.
var Chinese = func() Noise {
	n := Realistic
	n.NamePinyin, n.DOBLunar = 0.02, 0.05
	return n
}()

// Realistic is the default noise profile: ID differs 1–5% (57% adjacent
// transpositions, 43% substitutions), ID missing 5–30%, given name differs
// 10–15% (half misspellings/homophones), DOB differs 0.1–2%, DOB missing
// 0.5–2%, sex differs ≤0.5% (§5); plus Chinese modes: 15-digit legacy
// numbers, full-width digits, traditional characters.
var Realistic = Noise{
	IDTypo: 0.012, IDSwap: 0.016, IDMissing: 0.08, ID15: 0.04, IDFullWidth: 0.03, IDFormat: 0.05,
	NameTraditional: 0.05, NameHomophone: 0.04, NameTypo: 0.02, NameSpaces: 0.03,
	DOBSwap: 0.005, DOBTypo: 0.01, DOBMissing: 0.01, DOBPlaceholder: 0.005,
	SexMissing: 0.05, SexWrong: 0.004,
}

var surnames = []struct {
	s string
	w float64
}{
	{"王", 7.1}, {"李", 7.0}, {"张", 6.7}, {"刘", 5.4}, {"陈", 4.6}, {"杨", 3.1}, {"黄", 2.2}, {"赵", 2.0}, {"吴", 1.9},
	{"周", 1.9}, {"徐", 1.5}, {"孙", 1.5}, {"马", 1.3}, {"朱", 1.2}, {"胡", 1.1}, {"郭", 1.1}, {"何", 1.0}, {"林", 1.0},
	{"高", 1.0}, {"罗", 0.9}, {"郑", 0.9}, {"梁", 0.8}, {"谢", 0.7}, {"宋", 0.6}, {"唐", 0.6}, {"许", 0.6}, {"韩", 0.6},
	{"冯", 0.6}, {"邓", 0.6}, {"曹", 0.5}, {"彭", 0.5}, {"曾", 0.5}, {"肖", 0.5}, {"田", 0.5}, {"董", 0.5}, {"袁", 0.4},
	{"潘", 0.4}, {"于", 0.4}, {"蒋", 0.4}, {"蔡", 0.4}, {"余", 0.4}, {"杜", 0.4}, {"叶", 0.4}, {"程", 0.4}, {"苏", 0.3},
	{"魏", 0.3}, {"吕", 0.3}, {"丁", 0.3}, {"任", 0.3}, {"沈", 0.3}, {"姚", 0.3}, {"卢", 0.3}, {"姜", 0.3}, {"崔", 0.3},
	{"钟", 0.3}, {"谭", 0.2}, {"陆", 0.2}, {"汪", 0.2}, {"范", 0.2}, {"金", 0.2}, {"石", 0.2}, {"廖", 0.2}, {"贾", 0.2},
	{"夏", 0.2}, {"韦", 0.2}, {"方", 0.2}, {"白", 0.2}, {"邹", 0.2}, {"孟", 0.2}, {"熊", 0.2}, {"秦", 0.2}, {"邱", 0.2},
	{"江", 0.2}, {"尹", 0.2}, {"薛", 0.2}, {"段", 0.2}, {"雷", 0.2}, {"侯", 0.2}, {"龙", 0.2}, {"史", 0.2}, {"陶", 0.1},
	{"贺", 0.1}, {"顾", 0.1}, {"毛", 0.1}, {"郝", 0.1}, {"龚", 0.1}, {"邵", 0.1}, {"钱", 0.1}, {"严", 0.1},
	{"欧阳", 0.05}, {"司马", 0.02}, {"诸葛", 0.01}, {"上官", 0.01},
}

// Given-name characters by sex, most common first (Zipf weights make
// namesakes such as 王伟 and 李娜 common, as they are).
var (
	maleChars = []rune("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林洋阳东亮建国志文博成峰毅晨昊然哲" +
		"德永海荣新庆祥福生春金锋清正松宏振彬江天子轩睿泽航铭诚瀚鸿嘉乐晖凡翔远坤启铮骏琦韬彦立卫忠良义仁")
	femaleChars = []rune("芳娜敏静丽艳娟霞燕玲桂英秀兰红梅琳雪婷慧颖倩洁晶莉萍欣怡佳雯琴云丹蓉薇悦璐婧瑶琪嘉月" +
		"凤凤珍翠玉素淑惠爱春秋冬露冰晓宁思梦涵妍诗语馨彤欢茜菲蕾楠娅芸妮洋瑞媛岚青曼菊莲荷萱淼")
	minority = []string{"阿卜杜拉", "买买提", "艾力", "吐尔逊", "热合曼", "古丽", "阿依努尔", "帕提古丽", "努尔", "阿不都", "依明", "卡德尔"}
)

// homophones: input-method errors (same pinyin, other character).
var homophones = map[rune][]rune{
	'伟': []rune("卫维玮"), '明': []rune("名铭"), '丽': []rune("莉俐"), '静': []rune("晶菁"), '华': []rune("桦"), '军': []rune("君均"),
	'勇': []rune("永"), '杰': []rune("洁捷"), '涛': []rune("韬"), '斌': []rune("彬宾"), '平': []rune("萍苹"), '辉': []rune("晖"),
	'鹏': []rune("朋"), '飞': []rune("菲"), '波': []rune("博"), '宇': []rune("雨羽"), '浩': []rune("昊皓"), '健': []rune("建剑"),
	'芳': []rune("方"), '娜': []rune("纳"), '敏': []rune("民"), '艳': []rune("燕"), '霞': []rune("侠"), '玲': []rune("琳铃"),
	'英': []rune("莹瑛"), '红': []rune("虹鸿"), '梅': []rune("媚"), '婷': []rune("亭"), '慧': []rune("惠蕙"), '颖': []rune("莹"),
	'欣': []rune("昕"), '怡': []rune("仪"), '佳': []rune("嘉"), '琴': []rune("勤"), '云': []rune("芸"), '丹': []rune("单"),
}

// traditional forms of common name characters.
var traditional = map[rune]rune{
	'张': '張', '刘': '劉', '陈': '陳', '杨': '楊', '黄': '黃', '赵': '趙', '吴': '吳', '孙': '孫', '马': '馬', '郑': '鄭',
	'罗': '羅', '谢': '謝', '韩': '韓', '冯': '馮', '邓': '鄧', '叶': '葉', '苏': '蘇', '吕': '呂', '卢': '盧', '钟': '鍾',
	'伟': '偉', '强': '強', '军': '軍', '涛': '濤', '刚': '剛', '辉': '輝', '鹏': '鵬', '华': '華', '飞': '飛', '鑫': '鑫',
	'丽': '麗', '艳': '艷', '娟': '娟', '燕': '燕', '红': '紅', '梅': '梅', '兰': '蘭', '颖': '穎', '洁': '潔', '云': '雲',
	'东': '東', '阳': '陽', '龙': '龍', '国': '國', '志': '誌', '宁': '寧', '凯': '凱', '晓': '曉',
}

var districts = []string{
	"110101", "110105", "110108", "120101", "130102", "140105", "210102", "220102", "230102", "310104", "310115",
	"320102", "320506", "330105", "330106", "340104", "350203", "350303", "360102", "370102", "370202", "410105",
	"420102", "430104", "440106", "440304", "440524", "450103", "460105", "500103", "510107", "520102", "530102",
	"610104", "620102", "650102",
}

// Generator makes a deterministic population and its records.
type Generator struct {
	r     *rand.Rand
	noise Noise
	used  map[string]bool
	zipfM *rand.Zipf
	zipfF *rand.Zipf
	cum   []float64
}

// NewGenerator returns a generator for seed with the given noise.
func NewGenerator(seed uint64, noise Noise) *Generator {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	g := &Generator{r: r, noise: noise, used: map[string]bool{},
		zipfM: rand.NewZipf(r, 1.05, 8, uint64(len(maleChars)-1)),
		zipfF: rand.NewZipf(r, 1.05, 8, uint64(len(femaleChars)-1))}
	total := 0.0
	for _, s := range surnames {
		total += s.w
		g.cum = append(g.cum, total)
	}
	return g
}

func (g *Generator) surname() string {
	x := g.r.Float64() * g.cum[len(g.cum)-1]
	for i, c := range g.cum {
		if x < c {
			return surnames[i].s
		}
	}
	return "王"
}

func (g *Generator) given(sex match.Sex) string {
	pick := func() rune {
		if sex == match.SexMale {
			return maleChars[g.zipfM.Uint64()]
		}
		return femaleChars[g.zipfF.Uint64()]
	}
	if g.r.Float64() < 0.35 {
		return string(pick())
	}
	return string([]rune{pick(), pick()})
}

func (g *Generator) birth() match.Date {
	y := 1925 + g.r.IntN(100)
	m := 1 + g.r.IntN(12)
	d := 1 + g.r.IntN(28)
	return match.Date{Year: y, Month: m, Day: d, Precision: match.PrecisionDay}
}

// citizen makes a GB 11643-1999 number with a valid check character.
func (g *Generator) citizen(district string, b match.Date, sex match.Sex, seq int) string {
	for {
		s := seq
		if s < 0 {
			s = g.r.IntN(500) * 2
		}
		if sex == match.SexMale && s%2 == 0 {
			s++
		}
		if sex == match.SexFemale && s%2 == 1 {
			s--
		}
		body := fmt.Sprintf("%s%04d%02d%02d%03d", district, b.Year, b.Month, b.Day, s%1000)
		n := body + string(match.CheckChar(body))
		if !g.used[n] {
			g.used[n] = true
			return n
		}
		seq = -1
	}
}

// Population makes n people; twins and namesakes are hard negatives.
func (g *Generator) Population(n int) []Person {
	ps := make([]Person, 0, n)
	for len(ps) < n {
		p := Person{ID: len(ps), TwinOf: -1}
		p.Sex = match.SexMale
		if g.r.IntN(2) == 0 {
			p.Sex = match.SexFemale
		}
		p.Surname = g.surname()
		p.Given = g.given(p.Sex)
		if g.r.Float64() < 0.02 {
			p.Surname = ""
			p.Given = minority[g.r.IntN(len(minority))] + "·" + minority[g.r.IntN(len(minority))]
		}
		p.Birth = g.birth()
		district := districts[g.r.IntN(len(districts))]
		switch x := g.r.Float64(); {
		case x < 0.90:
			p.IDType, p.IDNumber = match.IDTypeCitizen, g.citizen(district, p.Birth, p.Sex, -1)
		case x < 0.93:
			p.IDType, p.IDNumber = match.IDTypeHKMOPermit, fmt.Sprintf("%c%08d", "HM"[g.r.IntN(2)], g.r.IntN(1e8))
		case x < 0.95:
			p.IDType, p.IDNumber = match.IDTypeTWPermit, fmt.Sprintf("%08d", g.r.IntN(1e8))
		case x < 0.97:
			p.IDType, p.IDNumber = match.IDTypePassportCN, fmt.Sprintf("E%08d", g.r.IntN(1e8))
		default:
			p.IDType = match.IDTypeNone
		}
		ps = append(ps, p)
		if len(ps) < n && p.IDType == match.IDTypeCitizen && g.r.Float64() < 0.03 {
			// A twin: same surname, birth date and address code; the next
			// sequence numbers; another given name.
			t := Person{ID: len(ps), TwinOf: p.ID, Surname: p.Surname, Sex: p.Sex, Birth: p.Birth, IDType: match.IDTypeCitizen}
			if g.r.IntN(3) == 0 {
				t.Sex = 3 - p.Sex
			}
			t.Given = g.given(t.Sex)
			for t.Given == p.Given {
				t.Given = g.given(t.Sex)
			}
			seq := (int(p.IDNumber[14]-'0')*100 + int(p.IDNumber[15]-'0')*10 + int(p.IDNumber[16]-'0')) + 2
			t.IDNumber = g.citizen(p.IDNumber[:6], t.Birth, t.Sex, seq)
			ps = append(ps, t)
		}
		if len(ps) < n && g.r.Float64() < 0.02 && g.common(p) {
			// A namesake of a common name: same name and birth year
			// (sometimes the same day — a deliberately hard negative, far
			// more often than chance), another identity.
			s := Person{ID: len(ps), TwinOf: -1, Surname: p.Surname, Given: p.Given, Sex: p.Sex, Birth: g.birth(), IDType: match.IDTypeCitizen}
			s.Birth.Year = p.Birth.Year
			if g.r.IntN(10) == 0 {
				s.Birth = p.Birth
			}
			s.IDNumber = g.citizen(districts[g.r.IntN(len(districts))], s.Birth, s.Sex, -1)
			ps = append(ps, s)
		}
	}
	return ps
}

func (g *Generator) chance(p float64) bool { return g.r.Float64() < p }

// pinyinName writes p's name in pinyin: passport style (surname first,
// upper case, ü as YU: GB/T 28039) or Western order (given name first).
func (g *Generator) pinyinName(p Person) string {
	syll := func(s string) string {
		return strings.Join(pinyin.LazyPinyin(s, pinyin.NewArgs()), "")
	}
	sur, given := syll(p.Surname), syll(p.Given)
	if g.chance(0.5) {
		return strings.ToUpper(strings.ReplaceAll(sur, "v", "yu") + " " + strings.ReplaceAll(given, "v", "yu"))
	}
	title := func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return title(given) + " " + title(sur)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// common reports a name from the head of the distributions (namesakes
// cluster there: 张伟, 王芳, 李娜).
func (g *Generator) common(p Person) bool {
	if p.Surname == "" {
		return false
	}
	top := 0
	for i, s := range surnames {
		if s.s == p.Surname {
			top = i
		}
	}
	return top < 10 && strings.IndexFunc(p.Given, func(r rune) bool {
		return !strings.ContainsRune(string(maleChars[:12])+string(femaleChars[:12]), r)
	}) < 0
}

// Record makes one noisy record of p as system sys would type it.
func (g *Generator) Record(p Person, sys int, localID string) Record {
	s := Systems[sys]
	in := match.Input{}
	// Name.
	name := []rune(p.Name())
	if g.chance(g.noise.NameTraditional) {
		for i, r := range name {
			if t, ok := traditional[r]; ok {
				name[i] = t
			}
		}
	}
	if g.chance(g.noise.NameHomophone) {
		for i := len(name) - 1; i > 0; i-- {
			if hs, ok := homophones[name[i]]; ok {
				name[i] = hs[g.r.IntN(len(hs))]
				break
			}
		}
	}
	if g.chance(g.noise.NameTypo) && len(name) >= 3 {
		i := 1 + g.r.IntN(len(name)-1)
		pool := maleChars
		if p.Sex == match.SexFemale {
			pool = femaleChars
		}
		name[i] = pool[g.r.IntN(len(pool))]
	}
	in.Name = string(name)
	// (A zero rate draws nothing: the Realistic stream stays as it was.)
	if g.noise.NamePinyin > 0 && g.chance(g.noise.NamePinyin) && !strings.Contains(p.Given, "·") {
		in.Name = g.pinyinName(p)
	}
	if strings.Contains(in.Name, "·") && g.chance(0.3) {
		in.Name = strings.ReplaceAll(in.Name, "·", []string{"•", "・", ".", "．"}[g.r.IntN(4)])
	}
	if g.chance(g.noise.NameSpaces) {
		r := []rune(in.Name)
		in.Name = string(r[:1]) + " " + string(r[1:])
	}
	// Sex.
	switch {
	case g.chance(g.noise.SexMissing):
	case g.chance(g.noise.SexWrong):
		in.Sex = []string{"", "2", "1"}[p.Sex]
	default:
		in.Sex = [][]string{nil, {"男", "1", "M", "男性"}, {"女", "2", "F", "女性"}}[p.Sex][g.r.IntN(4)]
	}
	// Birth date.
	b := p.Birth
	switch {
	case g.chance(g.noise.DOBMissing):
		b = match.Date{}
	case g.chance(g.noise.DOBPlaceholder):
		in.BirthDate = "1900-01-01"
		b = match.Date{}
	case g.chance(g.noise.DOBSwap) && b.Day <= 12:
		b.Month, b.Day = b.Day, b.Month
	case g.chance(g.noise.DOBTypo):
		d := b.Day
		b.Day = (d/10)*10 + g.r.IntN(10)
		if b.Day == 0 || b.Day > 28 || b.Day == d {
			b.Day = d%10 + 10
		}
	case g.noise.DOBLunar > 0 && b.Year < 1950 && g.chance(g.noise.DOBLunar):
		l := calendar.NewSolarFromYmd(b.Year, b.Month, b.Day).GetLunar()
		b = match.Date{Year: l.GetYear(), Month: abs(l.GetMonth()), Day: l.GetDay(), Precision: match.PrecisionDay}
	}
	if !b.IsZero() {
		f := []string{"%04d-%02d-%02d", "%04d%02d%02d", "%04d/%d/%d", "%04d.%02d.%02d", "%04d年%d月%d日"}[g.r.IntN(5)]
		in.BirthDate = fmt.Sprintf(f, b.Year, b.Month, b.Day)
	}
	// Identifier.
	if p.IDType != match.IDTypeNone && !g.chance(g.noise.IDMissing) {
		in.IDType = idTypeCode(p.IDType, s.Table, g.r)
		n := p.IDNumber
		switch {
		case p.IDType == match.IDTypeCitizen && p.Birth.Year < 2000 && p.Birth.Year >= 1900 && g.chance(g.noise.ID15):
			n = n[:6] + n[8:17] // legacy 15-digit form
		case g.chance(g.noise.IDSwap):
			i := g.r.IntN(len(n) - 2)
			b := []byte(n)
			b[i], b[i+1] = b[i+1], b[i]
			n = string(b)
		case g.chance(g.noise.IDTypo):
			i := g.r.IntN(len(n) - 1)
			b := []byte(n)
			if b[i] >= '0' && b[i] <= '9' {
				b[i] = byte('0' + (int(b[i]-'0')+1+g.r.IntN(8))%10)
			}
			n = string(b)
		}
		if g.chance(g.noise.IDFullWidth) {
			var sb strings.Builder
			for _, r := range n {
				if r >= '0' && r <= '9' {
					r = r - '0' + '０'
				}
				sb.WriteRune(r)
			}
			n = sb.String()
		} else if g.chance(g.noise.IDFormat) {
			n = strings.ToLower(n[:6]) + " " + strings.ToLower(n[6:])
		}
		in.IDNumber = n
	}
	return Record{PersonID: p.ID, System: s.Code, LocalID: localID, Input: in}
}

// idTypeCode writes a type the way a system of table t would.
func idTypeCode(typ match.IDType, t match.IDTable, r *rand.Rand) string {
	codes := map[match.IDTable]map[match.IDType][]string{
		match.IDTableWS364:   {match.IDTypeCitizen: {"01", "02"}, match.IDTypeHKMOPermit: {"06"}, match.IDTypeTWPermit: {"07"}, match.IDTypePassportCN: {"03"}},
		match.IDTableNHSA:    {match.IDTypeCitizen: {"01", "90"}, match.IDTypeHKMOPermit: {"05"}, match.IDTypeTWPermit: {"06"}, match.IDTypePassportCN: {"16"}},
		match.IDTableGAT2000: {match.IDTypeCitizen: {"111", "113"}, match.IDTypeHKMOPermit: {"516"}, match.IDTypeTWPermit: {"511"}, match.IDTypePassportCN: {"414"}},
		match.IDTableAuto:    {match.IDTypeCitizen: {"居民身份证", "身份证", "01"}, match.IDTypeHKMOPermit: {"回乡证"}, match.IDTypeTWPermit: {"台胞证"}, match.IDTypePassportCN: {"中国护照"}},
	}
	cs := codes[t][typ]
	return cs[r.IntN(len(cs))]
}

// Dataset is a registration set and a query set with ground truth.
type Dataset struct {
	People  []Person
	Records []Record // to register
	// Queries about registered people (fresh noisy records) and about
	// people never registered (including twins and namesakes of registered
	// people): PersonID tells which.
	Queries    []Record
	Registered map[int]bool
	// Ties are namesake ties added on purpose (SyntheticWithHardCases):
	// their records are in Records, their probes are not in Queries.
	Ties []Tie
}

// Synthetic builds a dataset of n people: 80% are registered with 1–4
// records across systems; queries are one fresh record of every person.
func Synthetic(seed uint64, n int, noise Noise) Dataset {
	ds, _ := synthetic(seed, n, noise)
	return ds
}

func synthetic(seed uint64, n int, noise Noise) (Dataset, *Generator) {
	g := NewGenerator(seed, noise)
	ds := Dataset{People: g.Population(n), Registered: map[int]bool{}}
	local := 0
	for _, p := range ds.People {
		if g.r.Float64() < 0.8 {
			ds.Registered[p.ID] = true
			k := 1 + g.r.IntN(3)
			if g.r.Float64() < 0.1 {
				k = 4
			}
			for _, sys := range g.r.Perm(len(Systems))[:k] {
				local++
				ds.Records = append(ds.Records, g.Record(p, sys, fmt.Sprintf("L%07d", local)))
			}
		}
		local++
		ds.Queries = append(ds.Queries, g.Record(p, g.r.IntN(len(Systems)), fmt.Sprintf("Q%07d", local)))
	}
	return ds, g
}

// LoadQueries are the cache-miss queries the load command asks of an
// index of people (benchmarks/cmd/load; benchmarks/cmd/keys counts their
// keys): n noisy records, each of the person beside it in asked, spread
// over the index. Each set asks about other people with other noise, so
// that a second run on one index does not read the pages the first one
// cached; set 0 is the queries the load command always asked.
func LoadQueries(people []Person, n, set int) (asked []Person, queries []Record) {
	noisy := NewGenerator(99+uint64(set), Realistic)
	asked, queries = make([]Person, n), make([]Record, n)
	for i := range n {
		asked[i] = people[(i*7919+set*104729)%len(people)]
		queries[i] = noisy.Record(asked[i], 2, "")
	}
	return asked, queries
}
