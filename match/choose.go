package match

import (
	"slices"
	"strings"
)

// A decision is about a customer, not one of its records (README: How
// fiveid matches):
// this file holds the two rules that look beyond the best-matching record —
// identifier conflicts anywhere in the candidate customer, and ambiguity
// between candidate customers.

// Rule names of the customer-level rules.
const (
	RuleIDConflict  = "id_conflict_cap"        // a record of the customer holds another valid number
	RuleIDBirthDate = "id_birth_date_conflict" // the birth date in a record's valid number disagrees with the query's
	RulePopulation  = "id_document_conflict"   // documents of two populations: a mainland number and an HK/Macau/Taiwan permit
	RuleAmbiguous   = "ambiguous"              // another customer qualifies too: none is chosen
)

// Held is an identifier one record of a candidate customer
// holds; System and LocalID name the record (opaque here).
type Held struct {
	System, LocalID string
	ID              Identifier
}

// CustomerConflicts lists the records of a candidate customer that the
// query's evidence excludes, whichever record matched best:
//   - a checksum-valid number of the query's namespace that differs from
//     the query's valid number (IDsConflict: two people);
//   - a checksum-valid citizen number whose embedded birth date is a
//     different date (not a swap, typo, near or lunar reading) from the
//     query's birth date, when the query does not carry that same number;
//   - documents of two populations: a checksum-valid mainland citizen
//     number on one side, an HK/Macau or Taiwan travel permit or a
//     foreigner's permanent residence card on the other (DocumentsExclude).
//
// held lists every identifier the customer's records hold; an invalid
// number is evidence for comparison, never for exclusion. A customer that
// holds the query's own number has none: the number names that person, and
// any other number the customer holds was joined to it by a steward (a
// merge override, a manual link), whose decision stands.
func CustomerConflicts(q Record, held []Held) []Conflict {
	if holdsID(q, held) {
		return nil
	}
	var out []Conflict
	qDOB := effectiveDOB(q)
	for _, h := range held {
		if h.ID.IsZero() || h.ID.Key == q.ID.Key {
			continue
		}
		rule := ""
		switch {
		case IDsConflict(q.ID, h.ID):
			rule = RuleIDConflict
		case DocumentsExclude(q.ID, h.ID):
			rule = RulePopulation
		case h.ID.ChecksumValid && !h.ID.BirthDate.IsZero() && !qDOB.IsZero() && compareDate(qDOB, h.ID.BirthDate) == LevelDifferent:
			rule = RuleIDBirthDate
		}
		if rule != "" {
			out = append(out, Conflict{Rule: rule, System: h.System, LocalID: h.LocalID, MaskedID: MaskID(h.ID.Number)})
		}
	}
	return out
}

// holdsID reports whether a record of the customer carries the query's
// own identifier (equal keys).
func holdsID(q Record, held []Held) bool {
	if q.ID.IsZero() {
		return false
	}
	for _, h := range held {
		if h.ID.Key == q.ID.Key {
			return true
		}
	}
	return false
}

// IDsConflict reports two identifiers that name two different people for
// certain: both checksum-valid, in one namespace, with different keys. A
// check character (GB 11643's ISO 7064 MOD 11-2 and its relatives) catches
// every single substitution and adjacent swap, so two valid numbers that
// differ are not a typo of one another. A customer whose records hold such
// a number is in conflict with the other side whichever of its records
// matched best: decisions are about customers.
func IDsConflict(a, b Identifier) bool {
	return a.ChecksumValid && b.ChecksumValid && a.HasChecksum && b.HasChecksum &&
		a.Namespace == b.Namespace && a.Key != "" && b.Key != "" && a.Key != b.Key
}

// DocumentsExclude reports identifiers that two different populations
// hold, so one person rarely holds both: a mainland resident's citizen
// number (GB 11643, checksum-valid, not an HK/Macau/Taiwan residence
// permit's 810000/820000/830000) against an HK/Macau or Taiwan travel
// permit (回乡证/台胞证: issued to residents of HK, Macau and Taiwan only,
// whose citizen-namespace number is that residence permit) or a
// foreigner's permanent residence card (foreign nationals only). A person
// who moved from the mainland to Hong Kong may carry both in old records:
// the rule sends such a pair to review, it never declares two people.
func DocumentsExclude(a, b Identifier) bool {
	return mainlandCitizen(a) && nonMainlandDocument(b) || mainlandCitizen(b) && nonMainlandDocument(a)
}

func mainlandCitizen(id Identifier) bool {
	if id.Namespace != string(IDTypeCitizen) || !id.ChecksumValid || len(id.Number) < 2 {
		return false
	}
	p := id.Number[:2]
	return p != "81" && p != "82" && p != "83"
}

func nonMainlandDocument(id Identifier) bool {
	switch IDType(id.Namespace) {
	case IDTypeHKMOPermit, IDTypeTWPermit, IDTypeForeignPR:
		return true
	}
	return false
}

// WithConflicts records the customer-level conflicts on e and caps its
// grade at possible: a human decides whether the customer's other record
// is an error or the customer is someone else.
func (e Explanation) WithConflicts(cs []Conflict) Explanation {
	if len(cs) == 0 {
		return e
	}
	e.Conflicts = append(slices.Clone(e.Conflicts), cs...)
	if e.Grade.Rank() > GradePossible.Rank() {
		e.Grade = GradePossible
		e.Rules = slices.Clone(e.Rules)
		for _, c := range cs {
			if !slices.Contains(e.Rules, c.Rule) {
				e.Rules = append(e.Rules, c.Rule)
			}
		}
	}
	return e
}

// Candidate is one candidate customer's best comparison with the query,
// after customer-level conflicts.
type Candidate struct {
	Customer    string
	Explanation Explanation
}

// Better orders candidates: higher grade, then higher score, then the
// smaller customer ID, so equal evidence always ranks the same way.
func Better(a, b Candidate) bool {
	if ra, rb := a.Explanation.Grade.Rank(), b.Explanation.Grade.Rank(); ra != rb {
		return ra > rb
	}
	if a.Explanation.Score != b.Explanation.Score {
		return a.Explanation.Score > b.Explanation.Score
	}
	return a.Customer < b.Customer
}

// Choose picks the candidate customer the query is, if any one can be
// picked, and returns its index and explanation (-1 when there are no
// candidates). Ambiguity is not evidence: when the best would link but
// another customer (at least possible) scores within
// Thresholds.AmbiguityMargin of it, none is chosen — the best comes back
// graded possible with the rule "ambiguous" and every tied customer in
// Alternatives, for a steward to settle.
//
// Scores are posterior log2-odds, so a runner-up m bits behind means the
// best is 2^m times likelier to be the person than the runner-up. The
// default margin equals the probable threshold (10 bits, 1024:1): the
// chosen customer must beat every rival customer by the same odds an
// auto-link needs against a non-match. Two namesakes without an ID tie
// (both ~13 bits); a customer holding the query's number (~25 bits) wins
// over a namesake that matched on name and birth date alone (~13 bits),
// which may well be the same person registered twice. A customer that the
// query's identifier evidence excludes (Conflicts) never ties: it already
// lost on evidence.
func (s *Scorer) Choose(cs []Candidate) (int, Explanation) {
	if len(cs) == 0 {
		return -1, Explanation{}
	}
	best := 0
	for i := range cs {
		if Better(cs[i], cs[best]) {
			best = i
		}
	}
	e := cs[best].Explanation
	if !e.Grade.AutoLink() {
		return best, e
	}
	tied := []Alternative{{Customer: cs[best].Customer, Grade: e.Grade, Score: e.Score}}
	for i, c := range cs {
		o := c.Explanation
		if i == best || len(o.Conflicts) > 0 || o.Grade.Rank() < GradePossible.Rank() {
			continue
		}
		if o.Score >= e.Score-s.t.AmbiguityMargin {
			tied = append(tied, Alternative{Customer: c.Customer, Grade: o.Grade, Score: o.Score})
		}
	}
	if len(tied) == 1 {
		return best, e
	}
	slices.SortStableFunc(tied[1:], func(a, b Alternative) int {
		switch {
		case a.Grade.Rank() != b.Grade.Rank():
			return b.Grade.Rank() - a.Grade.Rank()
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return strings.Compare(a.Customer, b.Customer)
	})
	e.Grade = GradePossible
	e.Rules = append(slices.Clone(e.Rules), RuleAmbiguous)
	e.Alternatives = tied
	return best, e
}
