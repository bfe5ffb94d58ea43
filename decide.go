package fiveid

import (
	"context"

	"fiveid/match"
)

// best decides whom rec is among the candidate records' customers (nil
// when there are no candidates). A decision is about a customer, not a
// record (README: How fiveid matches):
//  1. every candidate record is scored; each customer keeps its best one;
//  2. a customer that would link is read whole: a record of it holding a
//     checksum-valid identifier that excludes the query (another number of
//     the query's namespace, or a birth date its number contradicts) caps
//     it at possible, even when the record that matched best has no ID;
//  3. match.Scorer.Choose picks one customer only when no other one
//     qualifies or comes within the ambiguity margin; otherwise the
//     decision is possible ("ambiguous") and lists every tied customer.
//
// The decision's CustomerID is the best candidate; callers link to it only
// when its grade auto-links.
func (s *Service) best(ctx context.Context, r Reader, rec match.Record, cands []SourceRecord) (*Decision, error) {
	cs, err := s.scoreCustomers(ctx, r, rec, cands)
	if err != nil || len(cs) == 0 {
		return nil, err
	}
	i, e := s.scorer.Choose(cs)
	return &Decision{CustomerID: cs[i].Customer, Grade: e.Grade, Score: e.Score, Explanation: e}, nil
}

// scoreCustomers is steps 1 and 2 of best: each candidate customer with
// its best record's explanation, capped by the identifiers it holds, in
// the order the candidates first name them.
func (s *Service) scoreCustomers(ctx context.Context, r Reader, rec match.Record, cands []SourceRecord) ([]match.Candidate, error) {
	if len(cands) == 0 {
		return nil, nil
	}
	q, err := s.newQueryScorer(ctx, r, rec)
	if err != nil {
		return nil, err
	}
	var cs []match.Candidate
	at := map[string]int{} // customer ID -> index in cs
	for _, c := range cands {
		crec, err := recordOf(c)
		if err != nil {
			continue // stored under older rules and no longer valid: not evidence
		}
		e, err := q.compare(ctx, crec)
		if err != nil {
			return nil, err
		}
		cand := match.Candidate{Customer: c.CustomerID, Explanation: e}
		if i, ok := at[c.CustomerID]; !ok {
			at[c.CustomerID] = len(cs)
			cs = append(cs, cand)
		} else if match.Better(cand, cs[i]) {
			cs[i] = cand
		}
	}
	if len(cs) == 0 {
		return nil, nil
	}
	for i := range cs {
		// Only a customer that would link can change the outcome; the
		// others are reviewed (or not) on their own evidence.
		if !cs[i].Explanation.Grade.AutoLink() || cs[i].Explanation.Level("id") == match.LevelEqual {
			// A customer whose best record carries the query's own
			// number holds it: no conflict is possible
			// (match.CustomerConflicts), so it is not read again.
			continue
		}
		recs, err := r.CustomerRecords(ctx, cs[i].Customer)
		if err != nil {
			return nil, err
		}
		cs[i].Explanation = cs[i].Explanation.WithConflicts(match.CustomerConflicts(rec, heldIDs(recs)))
	}
	return cs, nil
}

// recordFeatures is what a source record of raw values in table keeps for
// comparison (SourceRecord.Features): normalized as candidates are read,
// without a date bound. "" when the values do not normalize.
func recordFeatures(raw match.Input, table match.IDTable) string {
	r, err := match.Normalize(raw, match.Options{IDTable: table})
	if err != nil {
		return ""
	}
	return match.EncodeFeatures(r)
}

// recordOf is a stored record normalized: from its stored features when
// they are of the current rules, else from its raw values (records written
// before features were kept, or under older rules). Findings are not kept.
func recordOf(c SourceRecord) (match.Record, error) {
	if r, ok := match.DecodeFeatures(c.Features); ok {
		return r, nil
	}
	return match.Normalize(c.Raw, match.Options{IDTable: c.IDTable})
}
