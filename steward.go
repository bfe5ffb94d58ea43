package fiveid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"fiveid/match"
)

// snapshot is a customer's JSON form in history entries.
func snapshot(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (s *Service) change(ctx context.Context, tx Tx, c Change) error {
	c.ID = newID("H")
	if c.At.IsZero() {
		c.At = s.now().UTC().Truncate(time.Microsecond)
	}
	return tx.AppendChange(ctx, c)
}

// History lists every change of a customer, oldest first (admin). A merged
// ID answers with its own history.
func (s *Service) History(ctx context.Context, p Principal, customerID string) ([]Change, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	if _, err := s.store.Customer(ctx, customerID); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return s.store.History(ctx, customerID, 10_000)
}

// RecordDeath records a death on a customer (admin, or a funeral system).
// The date is parsed like a birth date; the customer's history keeps it.
func (s *Service) RecordDeath(ctx context.Context, p Principal, customerID, date, source string) (Customer, error) {
	if err := require(p, RoleAdmin, RoleSystem); err != nil {
		return Customer{}, err
	}
	if p.Role == RoleSystem {
		sys, err := s.store.System(ctx, p.System)
		if err != nil {
			return Customer{}, fmt.Errorf("record death: %w", err)
		}
		if sys.Kind != KindFuneral {
			return Customer{}, fmt.Errorf("only funeral systems record deaths: %w", ErrDenied)
		}
		source = p.System
	}
	d, _ := match.ParseBirthDate(date, s.today())
	if d.IsZero() {
		return Customer{}, invalid("date", "invalid_date", "date must be a past date such as 2026-11-20")
	}
	if source == "" {
		source = "admin"
	}
	c, _, err := s.follow(ctx, customerID)
	if err != nil {
		return Customer{}, fmt.Errorf("record death: %w", err)
	}
	var out Customer
	err = s.store.Update(ctx, nil, func(tx Tx) error {
		cur, err := tx.Customer(ctx, c.ID)
		if err != nil {
			return err
		}
		before := cur
		cur.DeathDate, cur.DeathSource = d.String(), source
		cur.Version++
		cur.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
		if err := tx.UpdateCustomer(ctx, cur); err != nil {
			return err
		}
		out = cur
		return s.change(ctx, tx, Change{CustomerID: cur.ID, Kind: ChangeDeathRecorded, Actor: p.KeyID,
			Before: snapshot(before), After: snapshot(cur), Detail: source})
	})
	if err != nil {
		return Customer{}, fmt.Errorf("record death: %w", err)
	}
	return out, nil
}

// Link moves a source record to a customer by hand (admin). Manual links
// are sticky: automatic matching and re-registration never move them. A
// customer left without records redirects to the target.
func (s *Service) Link(ctx context.Context, p Principal, system, localID, customerID string) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	target, _, err := s.follow(ctx, customerID)
	if err != nil {
		return fmt.Errorf("link: customer: %w", err)
	}
	return s.relink(ctx, p, system, localID, target.ID, ChangeLinked, "manual link")
}

// Unlink moves a source record to a new customer of its own, by hand
// (admin); the decision is sticky like a manual link.
func (s *Service) Unlink(ctx context.Context, p Principal, system, localID string) (string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return "", err
	}
	id := newID("C")
	return id, s.relink(ctx, p, system, localID, id, ChangeUnlinked, "manual unlink")
}

func (s *Service) relink(ctx context.Context, p Principal, system, localID, to string, kind ChangeKind, detail string) error {
	sr, err := s.store.SourceRecord(ctx, system, localID)
	if err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	rec, err := s.normalize(sr.Raw, sr.IDTable)
	if err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	keys := s.blockingKeys(rec)
	err = s.store.Update(ctx, keys, func(tx Tx) error {
		cur, err := tx.SourceRecord(ctx, system, localID)
		if err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		from := cur.CustomerID
		if target, err := tx.Customer(ctx, to); errors.Is(err, ErrNotFound) && kind == ChangeUnlinked {
			if err := tx.InsertCustomer(ctx, Customer{ID: to, Status: StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := s.change(ctx, tx, Change{CustomerID: to, Kind: ChangeCreated, Actor: p.KeyID, System: system, LocalID: localID, Detail: detail}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else if err := activeTarget(target); err != nil {
			return err // merged since Link followed it
		}
		before := cur
		cur.CustomerID = to
		cur.Link = Link{Grade: match.GradeCertain, Manual: true}
		cur.Version++
		cur.UpdatedAt = now
		if err := tx.PutSourceRecord(ctx, cur, keys); err != nil {
			return err
		}
		for _, c := range []Change{
			{CustomerID: from, Kind: ChangeUnlinked, Actor: p.KeyID, System: system, LocalID: localID, Before: snapshot(before.Link), After: snapshot(cur.Link), Detail: detail + " to " + to},
			{CustomerID: to, Kind: ChangeLinked, Actor: p.KeyID, System: system, LocalID: localID, Before: snapshot(before.Link), After: snapshot(cur.Link), Detail: detail + " from " + from},
		} {
			if err := s.change(ctx, tx, c); err != nil {
				return err
			}
		}
		if err := s.refreshGolden(ctx, tx, to, "", now); err != nil {
			return err
		}
		if from != to {
			return s.refreshGolden(ctx, tx, from, to, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	if err := s.invalidateAnswers(ctx, keys); err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	return nil
}

// Review resolutions.
const (
	ResolveNotDuplicate = "not_duplicate"
	ResolveKeepSeparate = "keep_separate"
	ResolveLink         = "link"
	ResolveMerge        = "merge"
)

// ResolveReviewTask settles a review task (admin). version must be the
// task's current version: a reviewer working on a stale copy gets
// ErrConflict. merge merges the task's customer into the candidate; link
// moves the task's source record to the candidate customer (a sticky
// manual link); not_duplicate closes the task and remembers the pair;
// keep_separate only closes it.
func (s *Service) ResolveReviewTask(ctx context.Context, p Principal, id string, version int64, resolution string) (ReviewTask, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ReviewTask{}, err
	}
	t, err := s.store.ReviewTask(ctx, id)
	if err != nil {
		return ReviewTask{}, fmt.Errorf("resolve: %w", err)
	}
	switch resolution {
	case ResolveNotDuplicate, ResolveKeepSeparate:
	case ResolveLink:
		if t.System == "" || t.CandidateID == "" {
			return ReviewTask{}, invalid("resolution", "not_applicable", "link needs a task raised by a source record, with a candidate customer")
		}
	case ResolveMerge:
		if t.CandidateID == "" {
			return ReviewTask{}, invalid("resolution", "not_applicable", "merge needs a task about two customers")
		}
	default:
		return ReviewTask{}, invalid("resolution", "invalid_resolution", "resolution must be merge, not_duplicate, keep_separate or link")
	}
	err = s.store.Update(ctx, nil, func(tx Tx) error {
		now := s.now().UTC().Truncate(time.Microsecond)
		if err := tx.ResolveReviewTask(ctx, id, version, resolution, p.KeyID, now); err != nil {
			return err
		}
		if resolution == ResolveNotDuplicate && t.CandidateID != "" {
			return tx.PutNotDuplicate(ctx, t.CustomerID, t.CandidateID, now, p.KeyID)
		}
		return nil
	})
	if err != nil {
		return ReviewTask{}, fmt.Errorf("resolve: %w", err)
	}
	if resolution == ResolveMerge {
		// The task's customer (the newer one) merges into the candidate.
		if _, err := s.CommitMerge(ctx, p, t.CustomerID, t.CandidateID); err != nil {
			return ReviewTask{}, err
		}
	}
	if resolution == ResolveLink {
		if err := s.Link(ctx, p, t.System, t.LocalID, t.CandidateID); err != nil {
			return ReviewTask{}, err
		}
	}
	return s.store.ReviewTask(ctx, id)
}

// ReviewTask returns one review task (admin).
func (s *Service) ReviewTask(ctx context.Context, p Principal, id string) (ReviewTask, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ReviewTask{}, err
	}
	return s.store.ReviewTask(ctx, id)
}
