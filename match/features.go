package match

import (
	"strconv"
	"strings"
)

// NormalizeRules is the version of Normalize's output. Bump it whenever
// Normalize gives another Record (findings aside) for some input: stored
// features (EncodeFeatures) of an older version are not read
// (DecodeFeatures reports false), and their records are normalized again
// from their raw values. TestNormalizeRulesDigest fails until it is
// bumped.
const NormalizeRules = 1

// EncodeFeatures writes what comparison reads of a normalized record —
// every field of Record but its findings — as compact text, tagged with
// NormalizeRules, so that a stored record need not be normalized again each
// time it is a candidate. Each value is written as its length, ':' and
// its bytes: any text round-trips. The record must be Normalize's output
// without a date bound (Options.Today zero), as candidates are read.
func EncodeFeatures(r Record) string {
	var b strings.Builder
	b.Grow(96 + 2*len(r.Name.Display) + 2*len(r.Name.Key) + len(r.ID.Number) + len(r.ID.Key) + 8*len(r.Name.Pinyin))
	b.WriteString("f")
	b.WriteString(strconv.Itoa(NormalizeRules))
	b.WriteByte(';')
	str := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	num := func(n int) {
		b.WriteString(strconv.Itoa(n))
		b.WriteByte(',')
	}
	date := func(d Date) { num(d.Year); num(d.Month); num(d.Day); num(int(d.Precision)) }
	n := r.Name
	str(n.Display)
	str(n.Key)
	str(n.Dotless)
	num(int(n.Script))
	str(n.PinyinKey)
	num(n.Placeholders)
	if n.Pinyin == nil {
		num(-1)
	} else {
		num(len(n.Pinyin))
		for _, rs := range n.Pinyin {
			num(len(rs))
			for _, s := range rs {
				str(s)
			}
		}
	}
	num(int(r.Sex))
	date(r.BirthDate)
	id := r.ID
	str(string(id.Type))
	str(id.TypeRaw)
	str(id.Namespace)
	str(id.Number)
	str(id.Key)
	flags := 0
	for i, f := range []bool{id.ChecksumValid, id.HasChecksum, id.Upgraded15} {
		if f {
			flags |= 1 << i
		}
	}
	num(flags)
	date(id.BirthDate)
	num(int(id.Sex))
	return b.String()
}

// DecodeFeatures reads EncodeFeatures' text back into a Record (without
// findings). ok is false for text of another NormalizeRules version or
// not written by EncodeFeatures: normalize the raw values instead.
func DecodeFeatures(s string) (r Record, ok bool) {
	d := featureReader{s: s}
	if !strings.HasPrefix(s, "f"+strconv.Itoa(NormalizeRules)+";") {
		return Record{}, false
	}
	d.s = s[len(strconv.Itoa(NormalizeRules))+2:]
	n := &r.Name
	n.Display, n.Key, n.Dotless = d.str(), d.str(), d.str()
	n.Script = Script(d.num())
	n.PinyinKey = d.str()
	n.Placeholders = d.num()
	if chars := d.num(); chars >= 0 && !d.bad {
		if chars > len(d.s) {
			return Record{}, false
		}
		n.Pinyin = make([][]string, chars)
		for i := range n.Pinyin {
			k := d.num()
			if k < 0 || k > len(d.s) || d.bad {
				return Record{}, false
			}
			rs := make([]string, k)
			for j := range rs {
				rs[j] = d.str()
			}
			n.Pinyin[i] = rs
		}
	}
	r.Sex = Sex(d.num())
	r.BirthDate = d.date()
	id := &r.ID
	id.Type = IDType(d.str())
	id.TypeRaw, id.Namespace, id.Number, id.Key = d.str(), d.str(), d.str(), d.str()
	flags := d.num()
	id.ChecksumValid, id.HasChecksum, id.Upgraded15 = flags&1 != 0, flags&2 != 0, flags&4 != 0
	id.BirthDate = d.date()
	id.Sex = Sex(d.num())
	if d.bad || d.s != "" {
		return Record{}, false
	}
	return r, true
}

// featureReader consumes EncodeFeatures' values; bad is set at the first
// malformed one (later reads return zero values).
type featureReader struct {
	s   string
	bad bool
}

func (d *featureReader) str() string {
	i := strings.IndexByte(d.s, ':')
	if d.bad || i < 0 {
		d.bad = true
		return ""
	}
	n, err := strconv.Atoi(d.s[:i])
	if err != nil || n < 0 || n > len(d.s)-i-1 {
		d.bad = true
		return ""
	}
	v := d.s[i+1 : i+1+n]
	d.s = d.s[i+1+n:]
	return v
}

func (d *featureReader) num() int {
	i := strings.IndexByte(d.s, ',')
	if d.bad || i < 0 {
		d.bad = true
		return 0
	}
	n, err := strconv.Atoi(d.s[:i])
	if err != nil {
		d.bad = true
		return 0
	}
	d.s = d.s[i+1:]
	return n
}

func (d *featureReader) date() Date {
	y, m, day, p := d.num(), d.num(), d.num(), d.num()
	return Date{Year: y, Month: m, Day: day, Precision: Precision(p)}
}
