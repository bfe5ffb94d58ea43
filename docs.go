package fiveid

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"fiveid/match"
)

// Documents fiveid stores or serves as JSON — history entries' before and
// after, stored explanations, cached decisions — are these tagged,
// versioned types, converted from the domain types by the functions
// below. json.Marshal of a domain struct would make its Go field names the
// API and the storage format: renaming a field would silently change both,
// old rows included.

// docVersion is the format version every history document carries ("v").
// Entries written before it (Go field names, no "v") are upgraded when read
// (History).
const docVersion = 1

// ExplanationDoc is the stored form of a match.Explanation. Its single-word
// keys also read the untagged form rows were written in before it (JSON
// keys match field names case-insensitively).
type ExplanationDoc struct {
	Score        float64          `json:"score"`
	Grade        string           `json:"grade"`
	Version      string           `json:"version,omitempty"`
	Rules        []string         `json:"rules,omitempty"`
	Fields       []FieldDoc       `json:"fields,omitempty"`
	Conflicts    []ConflictDoc    `json:"conflicts,omitempty"`
	Alternatives []AlternativeDoc `json:"alternatives,omitempty"`
}

// FieldDoc is one field's comparison level and weight.
type FieldDoc struct {
	Field  string  `json:"field"`
	Level  string  `json:"level"`
	Weight float64 `json:"weight"`
}

// ConflictDoc is a record of a candidate customer that excludes the query.
type ConflictDoc struct {
	Rule     string `json:"rule"`
	System   string `json:"system"`
	LocalID  string `json:"local_id"`
	MaskedID string `json:"id_number_masked"`
}

// AlternativeDoc is one customer of an ambiguous decision.
type AlternativeDoc struct {
	CustomerID string  `json:"customer_id"`
	Grade      string  `json:"grade"`
	Score      float64 `json:"score"`
}

func explanationDoc(e match.Explanation) ExplanationDoc {
	d := ExplanationDoc{Score: e.Score, Grade: string(e.Grade), Version: e.Version, Rules: e.Rules}
	for _, f := range e.Fields {
		d.Fields = append(d.Fields, FieldDoc{Field: f.Field, Level: f.Level, Weight: f.Weight})
	}
	for _, c := range e.Conflicts {
		d.Conflicts = append(d.Conflicts, ConflictDoc{Rule: c.Rule, System: c.System, LocalID: c.LocalID, MaskedID: c.MaskedID})
	}
	for _, a := range e.Alternatives {
		d.Alternatives = append(d.Alternatives, AlternativeDoc{CustomerID: a.Customer, Grade: string(a.Grade), Score: a.Score})
	}
	return d
}

func (d ExplanationDoc) explanation() match.Explanation {
	e := match.Explanation{Score: d.Score, Grade: match.Grade(d.Grade), Version: d.Version, Rules: d.Rules}
	for _, f := range d.Fields {
		e.Fields = append(e.Fields, match.FieldScore{Field: f.Field, Level: f.Level, Weight: f.Weight})
	}
	for _, c := range d.Conflicts {
		e.Conflicts = append(e.Conflicts, match.Conflict{Rule: c.Rule, System: c.System, LocalID: c.LocalID, MaskedID: c.MaskedID})
	}
	for _, a := range d.Alternatives {
		e.Alternatives = append(e.Alternatives, match.Alternative{Customer: a.CustomerID, Grade: match.Grade(a.Grade), Score: a.Score})
	}
	return e
}

// EncodeExplanation is an explanation's stored form ("" for none): the
// store keeps it in a text column.
func EncodeExplanation(e match.Explanation) (string, error) {
	if e.Grade == "" && e.Fields == nil && e.Version == "" {
		return "", nil
	}
	b, err := json.Marshal(explanationDoc(e))
	return string(b), err
}

// DecodeExplanation reads what EncodeExplanation wrote, and the untagged
// form written before it.
func DecodeExplanation(s string) (match.Explanation, error) {
	if s == "" {
		return match.Explanation{}, nil
	}
	var d ExplanationDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return match.Explanation{}, fmt.Errorf("explanation: %w", err)
	}
	return d.explanation(), nil
}

// customerDoc is a golden record in a history entry.
type customerDoc struct {
	V           int        `json:"v"`
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	MergedInto  string     `json:"merged_into,omitempty"`
	Name        string     `json:"name,omitempty"`
	Sex         string     `json:"sex,omitempty"`
	BirthDate   string     `json:"birth_date,omitempty"`
	IDType      string     `json:"id_type,omitempty"`
	IDNumber    string     `json:"id_number,omitempty"`
	DeathDate   string     `json:"death_date,omitempty"`
	DeathSource string     `json:"death_source,omitempty"`
	Version     int64      `json:"version"`
	Merge       *mergeNote `json:"merge,omitempty"` // on a merge's entries: the merge
}

func customerSnapshot(c Customer, merge *mergeNote) string {
	d := docOf(c)
	d.Merge = merge
	return doc(d)
}

// elementsDoc is a source record's five elements as received.
type elementsDoc struct {
	V         int    `json:"v"`
	Name      string `json:"name"`
	Sex       string `json:"sex"`
	BirthDate string `json:"birth_date"`
	IDType    string `json:"id_type"`
	IDNumber  string `json:"id_number"`
}

func elementsSnapshot(in match.Input) string {
	return doc(elementsDoc{V: docVersion, Name: in.Name, Sex: in.Sex, BirthDate: in.BirthDate, IDType: in.IDType, IDNumber: in.IDNumber})
}

// linkDoc is how a source record belongs to its customer.
type linkDoc struct {
	V           int             `json:"v"`
	Grade       string          `json:"grade,omitempty"`
	Score       float64         `json:"score"`
	Manual      bool            `json:"manual"`
	Merge       string          `json:"merge,omitempty"` // the merge that moved it
	Explanation *ExplanationDoc `json:"explanation,omitempty"`
}

func linkSnapshot(l Link) string { return doc(linkDocOf(l)) }

func linkDocOf(l Link) linkDoc {
	d := linkDoc{V: docVersion, Grade: string(l.Grade), Score: l.Score, Manual: l.Manual, Merge: l.Merge}
	if l.Explanation.Grade != "" || len(l.Explanation.Fields) > 0 {
		e := explanationDoc(l.Explanation)
		d.Explanation = &e
	}
	return d
}

func doc(v any) string {
	b, err := json.Marshal(v)
	if err != nil { // only plain strings, numbers and slices of them
		panic(fmt.Sprintf("fiveid: history document: %v", err))
	}
	return string(b)
}

// upgradeDoc turns a history document written before docVersion (the
// untagged JSON of a Customer, a Link or a match.Input) into its
// documented form; a current document, or one it cannot read, comes back
// unchanged.
func upgradeDoc(s string) string {
	if s == "" {
		return s
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &keys) != nil {
		return s
	}
	if _, ok := keys["v"]; ok {
		return s
	}
	switch {
	case keys["Status"] != nil:
		var c struct {
			Customer
			Merge *mergeNote `json:"merge"`
		}
		if json.Unmarshal([]byte(s), &c) == nil {
			return customerSnapshot(c.Customer, c.Merge)
		}
	case keys["Manual"] != nil:
		var l Link
		if json.Unmarshal([]byte(s), &l) == nil {
			return linkSnapshot(l)
		}
	case keys["IDNumber"] != nil || keys["Name"] != nil:
		var in match.Input
		if json.Unmarshal([]byte(s), &in) == nil {
			return elementsSnapshot(in)
		}
	}
	return s
}

// A cached identify answer (resolve's answer) is kept in a compact text
// form of its own, versioned by its prefix, rather than as JSON: decoding
// JSON was half of a cache hit's lookup (12 µs of 24). Strings are
// length-prefixed ("5:hello"), numbers end with ','; lists start with
// their length. Its fields, in order: customer ID, grade, score, death
// date, then the explanation — score, grade, weights version, rules,
// fields (field, level, weight), conflicts (rule, system, local ID,
// masked ID number), alternatives (customer ID, grade, score).
const answerFormat = "a1;"

func encodeAnswer(a answer) []byte {
	e := a.Explanation
	b := make([]byte, 0, 256)
	b = append(b, answerFormat...)
	str := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	num := func(n int) {
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ',')
	}
	flt := func(f float64) {
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		b = append(b, ',')
	}
	str(a.CustomerID)
	str(string(a.Grade))
	flt(a.Score)
	str(a.DeathDate)
	flt(e.Score)
	str(string(e.Grade))
	str(e.Version)
	num(len(e.Rules))
	for _, r := range e.Rules {
		str(r)
	}
	num(len(e.Fields))
	for _, f := range e.Fields {
		str(f.Field)
		str(f.Level)
		flt(f.Weight)
	}
	num(len(e.Conflicts))
	for _, c := range e.Conflicts {
		str(c.Rule)
		str(c.System)
		str(c.LocalID)
		str(c.MaskedID)
	}
	num(len(e.Alternatives))
	for _, x := range e.Alternatives {
		str(x.Customer)
		str(string(x.Grade))
		flt(x.Score)
	}
	return b
}

// decodeAnswer reads what encodeAnswer wrote; ok is false for anything
// else (a value of another format, or damaged, is a miss).
func decodeAnswer(b []byte) (answer, bool) {
	s, ok := strings.CutPrefix(string(b), answerFormat)
	if !ok {
		return answer{}, false
	}
	r := answerReader{s: s}
	var a answer
	e := &a.Explanation
	a.CustomerID = r.str()
	a.Grade = match.Grade(r.str())
	a.Score = r.flt()
	a.DeathDate = r.str()
	e.Score = r.flt()
	e.Grade = match.Grade(r.str())
	e.Version = r.str()
	if n := r.count(); n > 0 {
		e.Rules = make([]string, n)
		for i := range e.Rules {
			e.Rules[i] = r.str()
		}
	}
	if n := r.count(); n > 0 {
		e.Fields = make([]match.FieldScore, n)
		for i := range e.Fields {
			e.Fields[i] = match.FieldScore{Field: r.str(), Level: r.str(), Weight: r.flt()}
		}
	}
	if n := r.count(); n > 0 {
		e.Conflicts = make([]match.Conflict, n)
		for i := range e.Conflicts {
			e.Conflicts[i] = match.Conflict{Rule: r.str(), System: r.str(), LocalID: r.str(), MaskedID: r.str()}
		}
	}
	if n := r.count(); n > 0 {
		e.Alternatives = make([]match.Alternative, n)
		for i := range e.Alternatives {
			e.Alternatives[i] = match.Alternative{Customer: r.str(), Grade: match.Grade(r.str()), Score: r.flt()}
		}
	}
	if r.bad || r.s != "" {
		return answer{}, false
	}
	return a, true
}

// answerReader reads encodeAnswer's pieces; bad is set by the first that
// does not parse, and every piece after it reads as zero.
type answerReader struct {
	s   string
	bad bool
}

func (r *answerReader) upTo(sep byte) string {
	i := strings.IndexByte(r.s, sep)
	if r.bad || i < 0 {
		r.bad = true
		return ""
	}
	v := r.s[:i]
	r.s = r.s[i+1:]
	return v
}

func (r *answerReader) str() string {
	n, err := strconv.Atoi(r.upTo(':'))
	if r.bad || err != nil || n < 0 || n > len(r.s) {
		r.bad = true
		return ""
	}
	v := r.s[:n]
	r.s = r.s[n:]
	return v
}

// count reads a list's length, which cannot exceed what is left.
func (r *answerReader) count() int {
	n, err := strconv.Atoi(r.upTo(','))
	if r.bad || err != nil || n < 0 || n > len(r.s) {
		r.bad = true
		return 0
	}
	return n
}

func (r *answerReader) flt() float64 {
	f, err := strconv.ParseFloat(r.upTo(','), 64)
	if r.bad || err != nil {
		r.bad = true
		return 0
	}
	return f
}

// mergeSnapshotDoc is a merge's stored snapshot: what unmerge needs of the
// two customers before the merge and of the records it moved.
type mergeSnapshotDoc struct {
	Version int           `json:"version"` // mergeSnapshotVersion
	From    customerDoc   `json:"from"`
	Into    customerDoc   `json:"into"`
	Records []movedRecord `json:"records"`
}

// movedRecord is a record a merge moved, with the link it had before.
type movedRecord struct {
	System  string  `json:"system"`
	LocalID string  `json:"local_id"`
	Link    linkDoc `json:"link"`
}

func customerOf(d customerDoc) Customer {
	return Customer{ID: d.ID, Status: CustomerStatus(d.Status), MergedInto: d.MergedInto, Name: d.Name, Sex: d.Sex,
		BirthDate: d.BirthDate, IDType: d.IDType, IDNumber: d.IDNumber, DeathDate: d.DeathDate, DeathSource: d.DeathSource,
		Version: d.Version}
}

func docOf(c Customer) customerDoc {
	return customerDoc{V: docVersion, ID: c.ID, Status: string(c.Status), MergedInto: c.MergedInto, Name: c.Name, Sex: c.Sex,
		BirthDate: c.BirthDate, IDType: c.IDType, IDNumber: c.IDNumber, DeathDate: c.DeathDate, DeathSource: c.DeathSource,
		Version: c.Version}
}

func (d linkDoc) link() Link {
	l := Link{Grade: match.Grade(d.Grade), Score: d.Score, Manual: d.Manual, Merge: d.Merge}
	if d.Explanation != nil {
		l.Explanation = d.Explanation.explanation()
	}
	return l
}

func encodeMergeSnapshot(s mergeSnapshot) string {
	d := mergeSnapshotDoc{Version: mergeSnapshotVersion, From: docOf(s.From), Into: docOf(s.Into), Records: []movedRecord{}}
	for _, r := range s.Records {
		d.Records = append(d.Records, movedRecord{System: r.System, LocalID: r.LocalID, Link: linkDocOf(r.Link)})
	}
	return doc(d)
}

// decodeMergeSnapshot reads a stored snapshot: a mergeSnapshotDoc, or the
// untagged form merges before version 3 stored.
func decodeMergeSnapshot(s string) (mergeSnapshot, error) {
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return mergeSnapshot{}, err
	}
	if v.Version < 3 {
		var old mergeSnapshot
		err := json.Unmarshal([]byte(s), &old)
		return old, err
	}
	var d mergeSnapshotDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return mergeSnapshot{}, err
	}
	out := mergeSnapshot{From: customerOf(d.From), Into: customerOf(d.Into), Version: d.Version}
	for _, r := range d.Records {
		out.Records = append(out.Records, SourceRecord{System: r.System, LocalID: r.LocalID, Link: r.Link.link()})
	}
	return out, nil
}
