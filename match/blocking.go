package match

import (
	"strings"
	"unicode/utf8"
)

// BlockingRules versions BlockingKeys: it goes up whenever the keys a
// record gets change, and an index built under an older version needs
// fiveid reindex. 2: pinyin keys for Latin-written names. 3: a name key
// with the birth date read as a lunar date. 4: each token of a Latin name
// with the full birth date. 5: the address+sequence key split in two, each
// with part of the birth date, and the birth date+sequence key without the
// century digit. 6: the address+birth date key split in two, each with
// one digit of the sequence.
const BlockingRules = 6

// BlockingKeys are the candidate-retrieval keys of r, each prefixed with
// its kind. Any single typo in an ID number leaves at least one ID key
// intact; names block only together with a birth date; placeholder names,
// missing or placeholder IDs and missing dates never block.
func BlockingKeys(r Record) []string {
	keys := make([]string, 0, 12)
	add := func(k string) {
		for _, x := range keys {
			if x == k {
				return
			}
		}
		keys = append(keys, k)
	}
	id := r.ID
	if !id.IsZero() {
		add("id:" + id.Key)
		n := id.Number
		if id.Namespace == string(IDTypeCitizen) && len(n) == 18 {
			// Address | birth date | sequence: a typo in one segment leaves
			// the key made of the other two equal. Address and sequence
			// alone are shared by ever more people as the index grows (a
			// district's residents share its thousand sequence numbers),
			// so for a typo in the birth date each takes one half of it:
			// the year, or the month's second digit and the day. A single
			// wrong digit or two swapped neighbours in the date leave one
			// half intact (the month's first digit is in neither, so a swap
			// across the year's end touches only the year). The century
			// digit says nothing the rest does not, so the birth
			// date+sequence key leaves it out and survives a swap with the
			// address's last digit. Address and birth date alone are
			// shared by everyone of a district born that day, so for a typo
			// in the sequence each key takes one digit of it: the first or
			// the last. A wrong digit or two swapped neighbours in the
			// sequence leave one of them intact, and each meets a tenth of
			// the crowd.
			add("idab0:" + n[:15])
			add("idab2:" + n[:14] + n[16:17])
			add("idbs:" + n[7:17])
			add("idasy:" + n[:6] + n[14:17] + n[6:10])
			add("idasd:" + n[:6] + n[14:17] + n[11:14])
		} else if utf8.RuneCountInString(n) >= 7 && isASCII(n) {
			h := len(n) / 2
			add("idh1:" + id.Namespace + ":" + n[:h])
			add("idh2:" + id.Namespace + ":" + n[h:])
		}
	}
	name := r.Name
	if name.IsZero() || IsPlaceholderName(name.Key) || name.Placeholders*2 >= utf8.RuneCountInString(name.Dotless) {
		return keys
	}
	dates := []Date{}
	if d := effectiveDOB(r); !d.IsZero() {
		dates = append(dates, d)
	}
	if r.ID.ChecksumValid && !r.ID.BirthDate.IsZero() && r.ID.BirthDate != r.BirthDate {
		dates = append(dates, r.ID.BirthDate)
	}
	nk := name.Dotless
	if name.Script == ScriptLatin {
		nk = name.Key
	}
	pys := latinPinyinKeys(name)
	if name.PinyinKey != "" {
		pys = append(pys, name.PinyinKey)
	}
	for _, d := range dates {
		ds := d.String()
		add("nd:" + nk + "|" + ds)
		for _, py := range pys {
			add("py:" + py + "|" + ds)
		}
		if d.Precision == PrecisionDay && name.Script == ScriptLatin {
			// A typo in one token of a Latin name (JOHN SMTIH), a token
			// replaced or dropped (a middle or a married name): each other
			// token still meets the record with the same full date.
			for _, tok := range strings.Fields(name.Key) {
				if len(tok) >= 2 {
					add("ntd:" + tok + "|" + ds)
				}
			}
		}
		if d.Precision == PrecisionDay {
			// A typo in the day or the year keeps one of these.
			add("nym:" + nk + "|" + ds[:7])
			add("nmd:" + nk + "|" + ds[4:])
			if d.Day <= 12 && d.Day != d.Month {
				add("nd:" + nk + "|" + Date{d.Year, d.Day, d.Month, PrecisionDay}.String())
			}
			// A lunar birthday recorded as a solar one (the elderly's
			// habit): read as lunar, the date is the solar date another
			// system holds, which carries that key as its own.
			if s, ok := lunarToSolar(d.Year, d.Month, d.Day, false); ok {
				add("nd:" + nk + "|" + s.String())
			}
		}
	}
	return keys
}
