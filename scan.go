package fiveid

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fiveid/match"
)

// ScanResult counts a duplicate scan's work.
type ScanResult struct {
	Records     int
	Pairs       int // candidate pairs of different customers scored
	TasksOpened int
}

// ScanDuplicates finds likely duplicate customers across the whole index
// with the matching engine and opens review tasks for them (admin),
// without duplicating open tasks or reopening pairs marked not duplicate.
func (s *Service) ScanDuplicates(ctx context.Context, p Principal) (ScanResult, error) {
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
				// The same customer-level rule as identify, register and
				// merge: records of the two customers holding different
				// valid numbers make the pair a conflict for the steward
				// to see (a merge would need an override).
				if e.Grade.AutoLink() {
					cf, err := s.pairConflicts(ctx, r.CustomerID, c.CustomerID)
					if err != nil {
						return fmt.Errorf("scan: %w", err)
					}
					e = e.WithConflicts(cf)
				}
				now := s.now().UTC().Truncate(time.Microsecond)
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

// pairConflicts lists the identifier conflicts between two customers'
// records, as explanation conflicts naming b's records.
func (s *Service) pairConflicts(ctx context.Context, a, b string) ([]match.Conflict, error) {
	ra, err := s.store.CustomerRecords(ctx, a)
	if err != nil {
		return nil, err
	}
	rb, err := s.store.CustomerRecords(ctx, b)
	if err != nil {
		return nil, err
	}
	var out []match.Conflict
	for _, c := range identifierConflicts(heldIDs(ra), heldIDs(rb)) {
		out = append(out, match.Conflict{Rule: match.RuleIDConflict, System: c.B.System, LocalID: c.B.LocalID, MaskedID: c.B.MaskedID})
	}
	return out, nil
}
