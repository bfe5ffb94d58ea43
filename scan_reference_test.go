package fiveid

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"fiveid/match"
)

// ScanDuplicatesOneByOne is the duplicate scan as it was before it read
// the index in one pass: a candidate query per record, the pair's records
// read from the store. The scan's equivalence test holds ScanDuplicates to
// its results.
func (s *Service) ScanDuplicatesOneByOne(ctx context.Context, p Principal) (ScanResult, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ScanResult{}, err
	}
	var res ScanResult
	seen := map[[2]string]bool{}
	err := s.eachRecordPage(ctx, "scan", 1000, func(page []SourceRecord) error {
		for _, r := range page {
			res.Records++
			rec, err := s.normalize(r.Raw, r.IDTable)
			if err != nil {
				continue
			}
			cands, err := s.store.Candidates(ctx, s.blockingKeys(rec), s.limit)
			if err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			var q *queryScorer // made when a candidate of another customer needs scoring
			for _, c := range cands {
				if c.CustomerID == r.CustomerID {
					continue
				}
				pair := [2]string{min(c.CustomerID, r.CustomerID), max(c.CustomerID, r.CustomerID)}
				if seen[pair] {
					continue
				}
				crec, err := s.normalize(c.Raw, c.IDTable)
				if err != nil {
					continue
				}
				if q == nil {
					if q, err = s.newQueryScorer(ctx, s.store, rec); err != nil {
						return err
					}
				}
				e, err := q.compare(ctx, crec)
				if err != nil {
					return err
				}
				res.Pairs++
				if e.Grade.Rank() < match.GradePossible.Rank() {
					continue
				}
				seen[pair] = true
				if nd, err := s.store.NotDuplicate(ctx, pair[0], pair[1]); err != nil || nd {
					continue
				}
				// A decision about customers, as in identify and register:
				// the pair's best comparison over all their records, with
				// the customer-level conflicts that records of one hold
				// against the other.
				if e, err = s.pairExplanationFromStore(ctx, r.CustomerID, c.CustomerID, e); err != nil {
					return fmt.Errorf("scan: %w", err)
				}
				now := s.changeTime()
				task := ReviewTask{ID: newID("R"), Status: ReviewOpen, Reason: "duplicate_scan", CustomerID: pair[0], CandidateID: pair[1],
					System: r.System, LocalID: r.LocalID, Score: e.Score, Explanation: e, Version: 1, CreatedAt: now, UpdatedAt: now}
				err = s.store.Update(ctx, nil, func(tx Tx) error { return tx.InsertReviewTask(ctx, task) })
				switch {
				case err == nil:
					res.TasksOpened++
				case errors.Is(err, ErrConflict): // already open
				default:
					return fmt.Errorf("scan: %w", err)
				}
			}
		}
		return nil
	})
	return res, err
}

// pairExplanationFromStore is the decision about two customers a scan found
// through one pair of records (e): the best comparison of any record of a
// with any record of b, capped by the customer-level rule of identify and
// register (match.CustomerConflicts) — every record of a against every
// identifier b's records hold — whose conflicts name b's records.
func (s *Service) pairExplanationFromStore(ctx context.Context, a, b string, e match.Explanation) (match.Explanation, error) {
	ra, err := s.store.CustomerRecords(ctx, a)
	if err != nil {
		return e, err
	}
	rb, err := s.store.CustomerRecords(ctx, b)
	if err != nil {
		return e, err
	}
	var nb []match.Record
	for _, r := range rb {
		if n, err := s.normalize(r.Raw, r.IDTable); err == nil {
			nb = append(nb, n)
		}
	}
	hb := heldIDs(rb)
	best := match.Candidate{Explanation: e}
	var conflicts []match.Conflict
	for _, r := range ra {
		qa, err := s.normalize(r.Raw, r.IDTable)
		if err != nil {
			continue
		}
		q, err := s.newQueryScorer(ctx, s.store, qa)
		if err != nil {
			return e, err
		}
		for _, x := range nb {
			ex, err := q.compare(ctx, x)
			if err != nil {
				return e, err
			}
			if c := (match.Candidate{Explanation: ex}); match.Better(c, best) {
				best = c
			}
		}
		for _, c := range match.CustomerConflicts(qa, hb) {
			if !slices.Contains(conflicts, c) {
				conflicts = append(conflicts, c)
			}
		}
	}
	return best.Explanation.WithConflicts(conflicts), nil
}
