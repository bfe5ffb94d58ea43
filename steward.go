package fiveid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fiveid/match"
)

// change appends c to the history at now, its transaction's time.
func (s *Service) change(ctx context.Context, tx HistoryWriter, now time.Time, c Change) error {
	c.ID, c.At = newID("H"), now
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
	hs, err := s.store.History(ctx, customerID, 10_000)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	for i := range hs {
		// Entries written before the documents were versioned read as
		// the documents they are now (docs.go).
		hs[i].Before, hs[i].After = upgradeDoc(hs[i].Before), upgradeDoc(hs[i].After)
	}
	return hs, nil
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
	err = s.update(ctx, nil, func(tx Tx, now time.Time) error {
		cur, err := tx.Customer(ctx, c.ID)
		if err != nil {
			return err
		}
		before := cur
		cur.DeathDate, cur.DeathSource = d.String(), source
		cur.Version++
		cur.UpdatedAt = now
		if err := tx.UpdateCustomer(ctx, cur); err != nil {
			return err
		}
		out = cur
		return s.change(ctx, tx, now, Change{CustomerID: cur.ID, Kind: ChangeDeathRecorded, Actor: p.KeyID,
			Before: customerSnapshot(before, nil), After: customerSnapshot(cur, nil), Detail: source})
	})
	if err != nil {
		return Customer{}, fmt.Errorf("record death: %w", err)
	}
	// Cached identify answers carry the death date (resolve's answer).
	if err := s.invalidateCustomers(ctx, nil, out.ID); err != nil {
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
	return s.relink(ctx, p, system, localID, target.ID, ChangeLinked, "manual link", nil)
}

// Unlink moves a source record to a new customer of its own, by hand
// (admin); the decision is sticky like a manual link.
func (s *Service) Unlink(ctx context.Context, p Principal, system, localID string) (string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return "", err
	}
	id := newID("C")
	return id, s.relink(ctx, p, system, localID, id, ChangeUnlinked, "manual unlink", nil)
}

// relink moves a record to customer to. first, when given, runs first in
// the same transaction (a review resolution resolves its task there).
func (s *Service) relink(ctx context.Context, p Principal, system, localID, to string, kind ChangeKind, detail string, first func(tx Tx, now time.Time) error) error {
	sr, err := s.store.SourceRecord(ctx, system, localID)
	if err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	rec, err := s.normalize(sr.Raw, sr.IDTable)
	if err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	keys := s.blockingKeys(rec)
	from := sr.CustomerID // as the transaction finds it
	err = s.update(ctx, keys, func(tx Tx, now time.Time) error {
		cur, err := tx.SourceRecord(ctx, system, localID)
		if err != nil {
			return err
		}
		if first != nil {
			if err := first(tx, now); err != nil {
				return err
			}
		}
		from = cur.CustomerID
		if target, err := tx.Customer(ctx, to); errors.Is(err, ErrNotFound) && kind == ChangeUnlinked {
			if err := tx.InsertCustomer(ctx, Customer{ID: to, Status: StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
			if err := s.change(ctx, tx, now, Change{CustomerID: to, Kind: ChangeCreated, Actor: p.KeyID, System: system, LocalID: localID, Detail: detail}); err != nil {
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
			{CustomerID: from, Kind: ChangeUnlinked, Actor: p.KeyID, System: system, LocalID: localID, Before: linkSnapshot(before.Link), After: linkSnapshot(cur.Link), Detail: detail + " to " + to},
			{CustomerID: to, Kind: ChangeLinked, Actor: p.KeyID, System: system, LocalID: localID, Before: linkSnapshot(before.Link), After: linkSnapshot(cur.Link), Detail: detail + " from " + from},
		} {
			if err := s.change(ctx, tx, now, c); err != nil {
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
	if err := s.invalidateCustomers(ctx, keys, from, to); err != nil {
		return fmt.Errorf("%s: %w", detail, err)
	}
	return nil
}

// Review resolutions.
const (
	ResolveMerge        = "merge"
	ResolveLink         = "link"
	ResolveNotDuplicate = "not_duplicate"
	ResolveKeepSeparate = "keep_separate"
)

// Resolutions lists every review resolution. openapi.yaml's enum and
// README list the same ones (an api test checks both).
func Resolutions() []string {
	return []string{ResolveMerge, ResolveLink, ResolveNotDuplicate, ResolveKeepSeparate}
}

// Resolution is a steward's decision on a review task.
type Resolution struct {
	Kind string // one of Resolutions()
	// CustomerID picks the target of a link or merge among the task's
	// candidates (ReviewTask.Candidates); "" means the task's CandidateID.
	CustomerID string
	// Merge is a merge resolution's override and reason, checked as
	// CommitMerge checks them.
	Merge MergeOptions
}

// Candidates are the customers a link or merge resolution may pick: the
// task's candidate, then every other customer its explanation lists as
// tied (an ambiguous decision).
func (t ReviewTask) Candidates() []string {
	var out []string
	if t.CandidateID != "" {
		out = append(out, t.CandidateID)
	}
	for _, a := range t.Explanation.Alternatives {
		if a.Customer != "" && a.Customer != t.CustomerID && !slices.Contains(out, a.Customer) {
			out = append(out, a.Customer)
		}
	}
	return out
}

// ResolveReviewTask settles a review task (admin). version must be the
// task's current version: a reviewer working on a stale copy gets
// ErrConflict. merge merges the task's customer into the candidate; link
// moves the task's source record to the candidate customer (a sticky
// manual link); not_duplicate closes the task and remembers the pair;
// keep_separate only closes it. A link or merge applies to r.CustomerID
// when given (one of the task's Candidates). A merge obeys CommitMerge's
// identifier rule. The task is resolved in the transaction that links or
// merges: when that fails, the task stays open.
func (s *Service) ResolveReviewTask(ctx context.Context, p Principal, id string, version int64, r Resolution) (ReviewTask, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ReviewTask{}, err
	}
	t, err := s.store.ReviewTask(ctx, id)
	if err != nil {
		return ReviewTask{}, fmt.Errorf("resolve: %w", err)
	}
	if !slices.Contains(Resolutions(), r.Kind) {
		return ReviewTask{}, invalid("resolution", "invalid_resolution", "resolution must be one of "+strings.Join(Resolutions(), ", "))
	}
	if r.Kind != ResolveMerge && (r.Merge.Override || r.Merge.Reason != "") {
		return ReviewTask{}, invalid("override", "not_applicable", "override and reason apply to a merge only")
	}
	if r.CustomerID != "" && r.Kind != ResolveLink && r.Kind != ResolveMerge {
		return ReviewTask{}, invalid("customer_id", "not_applicable", "customer_id picks the target of a link or merge only")
	}
	target := t.CandidateID
	if r.CustomerID != "" {
		if !slices.Contains(t.Candidates(), r.CustomerID) {
			return ReviewTask{}, invalid("customer_id", "not_a_candidate", "customer_id must be the task's candidate or a customer its explanation lists as tied")
		}
		target = r.CustomerID
	}
	resolve := func(tx Tx, now time.Time) error {
		return tx.ResolveReviewTask(ctx, id, version, r.Kind, p.KeyID, now)
	}
	switch r.Kind {
	case ResolveNotDuplicate, ResolveKeepSeparate:
		err = s.update(ctx, nil, func(tx Tx, now time.Time) error {
			if err := resolve(tx, now); err != nil {
				return err
			}
			if r.Kind == ResolveNotDuplicate && t.CandidateID != "" {
				return tx.PutNotDuplicate(ctx, t.CustomerID, t.CandidateID, now, p.KeyID)
			}
			return nil
		})
	case ResolveLink:
		if t.System == "" || t.LocalID == "" || target == "" {
			return ReviewTask{}, invalid("resolution", "not_applicable", "link needs a task raised by a source record, with a candidate customer")
		}
		to, _, ferr := s.follow(ctx, target)
		if ferr != nil {
			return ReviewTask{}, fmt.Errorf("resolve: customer: %w", ferr)
		}
		err = s.relink(ctx, p, t.System, t.LocalID, to.ID, ChangeLinked, "manual link", resolve)
	case ResolveMerge:
		if t.CustomerID == "" || target == "" {
			return ReviewTask{}, invalid("resolution", "not_applicable", "merge needs a task about two customers")
		}
		// The task's customer (the newer one) merges into the target.
		_, err = s.merge(ctx, p, t.CustomerID, target, r.Merge, resolve)
	}
	if err != nil {
		return ReviewTask{}, fmt.Errorf("resolve: %w", err)
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

// RevealIDNumber returns a customer's ID number in full (admin). Every
// other view masks it; who saw it, and whose, is in the grant log before
// the number is returned.
func (s *Service) RevealIDNumber(ctx context.Context, p Principal, customerID string) (string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return "", err
	}
	v, err := s.Customer(ctx, p, customerID)
	if err != nil {
		return "", err
	}
	c := v.Customer
	if err := s.appendAudit(ctx, AuditEvent{Action: ActionIDRevealed, ActorKey: p.KeyID, ActorSystem: p.System,
		CustomerID: c.ID, IDMasked: match.MaskID(c.IDNumber)}, nil); err != nil {
		return "", fmt.Errorf("reveal ID number: %w", err)
	}
	return c.IDNumber, nil
}
