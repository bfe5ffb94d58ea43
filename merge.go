package fiveid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fiveid/match"
)

// mergeSnapshot is the exact state a merge changed, kept for unmerge.
type mergeSnapshot struct {
	From    Customer       `json:"from"`
	Into    Customer       `json:"into"`
	Records []SourceRecord `json:"records"` // the merged customer's records, as they were
}

// MergePlan is what a merge does: the survivor exactly as it would be.
type MergePlan struct {
	From     Customer
	Into     Customer // the survivor after the merge
	Moved    []SourceRecord
	Resulted []SourceRecord // the survivor's records after the merge
}

// Survivorship (documented in README): the surviving golden record keeps
// the target's ID; its values are recomputed from all records of both
// customers — a checksum-valid citizen-number record wins, then any valid
// identifier, then the most recently updated record; a value the winner
// lacks comes from the most recent record that has it. A recorded death on
// either customer survives.
func (s *Service) planMerge(ctx context.Context, r Reader, fromID, intoID string) (MergePlan, error) {
	if fromID == intoID {
		return MergePlan{}, invalid("from", "same_customer", "a customer cannot be merged into itself")
	}
	from, err := r.Customer(ctx, fromID)
	if err != nil {
		return MergePlan{}, fmt.Errorf("from: %w", err)
	}
	into, err := r.Customer(ctx, intoID)
	if err != nil {
		return MergePlan{}, fmt.Errorf("into: %w", err)
	}
	if from.Status != StatusActive || into.Status != StatusActive {
		return MergePlan{}, fmt.Errorf("only active customers merge: %w", ErrConflict)
	}
	fromRecs, err := r.CustomerRecords(ctx, fromID)
	if err != nil {
		return MergePlan{}, err
	}
	intoRecs, err := r.CustomerRecords(ctx, intoID)
	if err != nil {
		return MergePlan{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	var all []SourceRecord
	all = append(all, intoRecs...)
	for _, rec := range fromRecs {
		rec.CustomerID = intoID
		all = append(all, rec)
	}
	g := survivor(all)
	after := into
	after.Name, after.Sex, after.BirthDate, after.IDType, after.IDNumber = g.Name, g.Sex, g.BirthDate, g.IDType, g.IDNumber
	if after.DeathDate == "" && from.DeathDate != "" {
		after.DeathDate, after.DeathSource = from.DeathDate, from.DeathSource
	}
	after.Version++
	after.UpdatedAt = now
	return MergePlan{From: from, Into: after, Moved: fromRecs, Resulted: all}, nil
}

// PreviewMerge returns the survivor exactly as merging from into into would
// make it, changing nothing (admin).
func (s *Service) PreviewMerge(ctx context.Context, p Principal, fromID, intoID string) (MergePlan, error) {
	if err := require(p, RoleAdmin); err != nil {
		return MergePlan{}, err
	}
	plan, err := s.planMerge(ctx, s.store, fromID, intoID)
	if err != nil {
		return MergePlan{}, fmt.Errorf("merge preview: %w", err)
	}
	return plan, nil
}

// CommitMerge merges customer from into customer into (admin): from's
// records move to into (as manual, sticky links), from redirects to into
// forever, the exact prior state is kept for Unmerge, both histories record
// it, open review tasks about the pair close, and cached answers that could
// change are invalidated.
func (s *Service) CommitMerge(ctx context.Context, p Principal, fromID, intoID string) (Merge, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Merge{}, err
	}
	keys, err := s.customerKeys(ctx, fromID, intoID)
	if err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	var m Merge
	err = s.store.Update(ctx, keys, func(tx Tx) error {
		plan, err := s.planMerge(ctx, tx, fromID, intoID)
		if err != nil {
			return err
		}
		snap, err := json.Marshal(mergeSnapshot{From: plan.From, Into: mustCustomer(ctx, tx, intoID), Records: plan.Moved})
		if err != nil {
			return err
		}
		now := plan.Into.UpdatedAt
		m = Merge{ID: newID("M"), From: fromID, Into: intoID, At: now, Actor: p.KeyID, Snapshot: string(snap)}
		if err := tx.InsertMerge(ctx, m); err != nil {
			return err
		}
		for _, r := range plan.Moved {
			moved := r
			moved.CustomerID = intoID
			moved.Link = Link{Grade: match.GradeCertain, Manual: true, Explanation: r.Link.Explanation}
			moved.Version++
			moved.UpdatedAt = now
			rec, err := s.normalize(r.Raw, r.IDTable)
			if err != nil {
				return err
			}
			if err := tx.PutSourceRecord(ctx, moved, s.blockingKeys(rec)); err != nil {
				return err
			}
		}
		if err := tx.UpdateCustomer(ctx, plan.Into); err != nil {
			return err
		}
		from := plan.From
		from.Status, from.MergedInto = StatusMerged, intoID
		from.Version++
		from.UpdatedAt = now
		if err := tx.UpdateCustomer(ctx, from); err != nil {
			return err
		}
		if t, err := tx.OpenReviewTask(ctx, fromID, intoID); err == nil {
			if err := tx.ResolveReviewTask(ctx, t.ID, t.Version, ResolveMerge, p.KeyID, now); err != nil {
				return err
			}
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, c := range []Change{
			{CustomerID: fromID, Kind: ChangeMerged, Actor: p.KeyID, Before: snapshot(plan.From), After: snapshot(from), Detail: "merged into " + intoID + " (" + m.ID + ")"},
			{CustomerID: intoID, Kind: ChangeMerged, Actor: p.KeyID, After: snapshot(plan.Into), Detail: "absorbed " + fromID + " (" + m.ID + ")"},
		} {
			if err := s.change(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	if err := s.invalidateAnswers(ctx, keys); err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	return m, nil
}

func mustCustomer(ctx context.Context, r Reader, id string) Customer {
	c, _ := r.Customer(ctx, id)
	return c
}

// customerKeys are the blocking keys of every record of the customers.
func (s *Service) customerKeys(ctx context.Context, ids ...string) ([]string, error) {
	var keys []string
	for _, id := range ids {
		recs, err := s.store.CustomerRecords(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if rec, err := s.normalize(r.Raw, r.IDTable); err == nil {
				keys = union(keys, s.blockingKeys(rec))
			}
		}
	}
	return keys, nil
}

// Unmerge undoes a merge exactly (admin): both customers get back their
// values as they were, the moved records return with their former links
// (unless a steward has moved them since), and the pair is remembered as
// not a duplicate.
func (s *Service) Unmerge(ctx context.Context, p Principal, mergeID string) (Merge, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Merge{}, err
	}
	m, err := s.store.Merge(ctx, mergeID)
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	var snap mergeSnapshot
	if err := json.Unmarshal([]byte(m.Snapshot), &snap); err != nil {
		return Merge{}, fmt.Errorf("unmerge %s: snapshot: %w", mergeID, err)
	}
	keys, err := s.customerKeys(ctx, m.Into)
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	err = s.store.Update(ctx, keys, func(tx Tx) error {
		now := s.now().UTC().Truncate(time.Microsecond)
		if err := tx.MarkUnmerged(ctx, mergeID, now, p.KeyID); err != nil {
			return err
		}
		cur, err := tx.Customer(ctx, m.From)
		if err != nil {
			return err
		}
		if cur.Status != StatusMerged || cur.MergedInto != m.Into {
			return fmt.Errorf("customer %s changed since the merge: %w", m.From, ErrConflict)
		}
		for _, r := range snap.Records {
			now, err := tx.SourceRecord(ctx, r.System, r.LocalID)
			if err != nil {
				return err
			}
			if now.CustomerID != m.Into {
				continue // a steward moved it since: leave it
			}
			rec, err := s.normalize(r.Raw, r.IDTable)
			if err != nil {
				return err
			}
			if err := tx.PutSourceRecord(ctx, r, s.blockingKeys(rec)); err != nil {
				return err
			}
		}
		if err := tx.UpdateCustomer(ctx, snap.From); err != nil {
			return err
		}
		into, err := tx.Customer(ctx, m.Into)
		if err != nil {
			return err
		}
		if err := tx.UpdateCustomer(ctx, snap.Into); err != nil {
			return err
		}
		// Records that joined the survivor after the merge stay; its values
		// then follow them.
		recs, err := tx.CustomerRecords(ctx, m.Into)
		if err != nil {
			return err
		}
		if g := survivor(recs); g.Name != snap.Into.Name || g.IDNumber != snap.Into.IDNumber || g.BirthDate != snap.Into.BirthDate || g.Sex != snap.Into.Sex {
			if err := s.refreshGolden(ctx, tx, m.Into, "", now); err != nil {
				return err
			}
		}
		if err := tx.PutNotDuplicate(ctx, m.From, m.Into, now, p.KeyID); err != nil {
			return err
		}
		for _, c := range []Change{
			{CustomerID: m.From, Kind: ChangeUnmerged, Actor: p.KeyID, Before: snapshot(cur), After: snapshot(snap.From), Detail: "unmerged " + mergeID},
			{CustomerID: m.Into, Kind: ChangeUnmerged, Actor: p.KeyID, Before: snapshot(into), After: snapshot(snap.Into), Detail: "unmerged " + mergeID},
		} {
			if err := s.change(ctx, tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	if err := s.invalidateAnswers(ctx, keys); err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	return s.store.Merge(ctx, mergeID)
}

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
