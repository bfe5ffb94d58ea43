package fiveid

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"fiveid/match"
)

// mergeSnapshot is the state a merge changed, kept for unmerge. It is
// stored as a mergeSnapshotDoc (docs.go); this struct, with its untagged
// customers and records, is also how merges before version 3 stored it.
type mergeSnapshot struct {
	From    Customer       `json:"from"`
	Into    Customer       `json:"into"`
	Records []SourceRecord `json:"records"` // the merged customer's records, as they were
	// Version 2: the moved records name the merge (Link.Merge). Before it
	// (0), unmerge tells later moves by the survivor's history.
	Version int `json:"version,omitempty"`
}

// mergeSnapshotVersion 3: stored as mergeSnapshotDoc.
const mergeSnapshotVersion = 3

// MaxReasonLength bounds a merge's reason, in characters.
const MaxReasonLength = 500

// MergeOptions are an admin's instructions for one merge.
type MergeOptions struct {
	// Override lets the merge join customers whose records hold different
	// checksum-valid identifiers of one namespace (two people, unless a
	// steward knows better: DOMAIN §3); Reason is then required.
	Override bool
	// Reason is kept on the merge and in both customers' histories.
	Reason string
}

// check trims the reason and rejects an override without one, or a reason
// too long to be a note.
func (o MergeOptions) check() (MergeOptions, error) {
	o.Reason = strings.TrimSpace(o.Reason)
	if !utf8.ValidString(o.Reason) {
		return o, invalid("reason", "invalid_utf8", "reason must be UTF-8 text")
	}
	if utf8.RuneCountInString(o.Reason) > MaxReasonLength {
		return o, invalid("reason", "too_long", fmt.Sprintf("reason must be at most %d characters", MaxReasonLength))
	}
	if o.Override && o.Reason == "" {
		return o, invalid("reason", "required", "an override needs a reason")
	}
	return o, nil
}

// MergePlan is what a merge does: the survivor exactly as it would be.
type MergePlan struct {
	From     Customer
	Into     Customer // the survivor after the merge
	Moved    []SourceRecord
	Resulted []SourceRecord // the survivor's records after the merge
	// Conflicts pairs From's records (A) with Into's (B) where the two hold
	// different checksum-valid identifiers of one namespace. A merge with
	// any needs an override with a reason.
	Conflicts []IdentifierConflict

	intoBefore Customer
}

// Survivorship (documented in README): the surviving golden record keeps
// the target's ID; its values are recomputed from all records of both
// customers — a checksum-valid citizen-number record wins, then any valid
// identifier, then the most recently updated record; a value the winner
// lacks comes from the most recent record that has it. A recorded death on
// either customer survives.
func (s *Service) planMerge(ctx context.Context, r Reader, fromID, intoID string, now time.Time) (MergePlan, error) {
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
	var all []SourceRecord
	all = append(all, intoRecs...)
	for _, rec := range fromRecs {
		rec.CustomerID = intoID
		all = append(all, rec)
	}
	after := withGolden(into, survivor(all))
	if after.DeathDate == "" && from.DeathDate != "" {
		after.DeathDate, after.DeathSource = from.DeathDate, from.DeathSource
	}
	after.Version++
	after.UpdatedAt = now
	return MergePlan{From: from, Into: after, Moved: fromRecs, Resulted: all,
		Conflicts: identifierConflicts(heldIDs(fromRecs), heldIDs(intoRecs)), intoBefore: into}, nil
}

// withGolden sets c's golden values to g's (survivor's output).
func withGolden(c, g Customer) Customer {
	c.Name, c.Sex, c.BirthDate, c.IDType, c.IDNumber = g.Name, g.Sex, g.BirthDate, g.IDType, g.IDNumber
	return c
}

// PreviewMerge returns the survivor exactly as merging from into into would
// make it, and the identifier conflicts an override would have to accept,
// changing nothing (admin).
func (s *Service) PreviewMerge(ctx context.Context, p Principal, fromID, intoID string) (MergePlan, error) {
	if err := require(p, RoleAdmin); err != nil {
		return MergePlan{}, err
	}
	plan, err := s.planMerge(ctx, s.store, fromID, intoID, s.changeTime())
	if err != nil {
		return MergePlan{}, fmt.Errorf("merge preview: %w", err)
	}
	return plan, nil
}

// CommitMerge merges customer from into customer into (admin): from's
// records move to into (as manual, sticky links), from redirects to into
// forever, the prior state is kept for Unmerge, both histories record it,
// open review tasks about the pair close, and cached answers that could
// change are invalidated. Customers whose records hold different
// checksum-valid identifiers of one namespace merge only with
// o.Override and a reason; otherwise the error is an
// *IdentifierConflictError naming them.
func (s *Service) CommitMerge(ctx context.Context, p Principal, fromID, intoID string, o MergeOptions) (Merge, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Merge{}, err
	}
	return s.merge(ctx, p, fromID, intoID, o, nil)
}

// merge checks o and commits the merge in one transaction; first, when
// given, runs first in it (a review resolution resolves its task there).
func (s *Service) merge(ctx context.Context, p Principal, fromID, intoID string, o MergeOptions, first func(Tx, time.Time) error) (Merge, error) {
	o, err := o.check()
	if err != nil {
		return Merge{}, err
	}
	keys, err := s.customerKeys(ctx, fromID, intoID)
	if err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	var m Merge
	err = s.update(ctx, keys, func(tx Tx, now time.Time) error {
		if first != nil {
			if err := first(tx, now); err != nil {
				return err
			}
		}
		var err error
		m, err = s.commitMerge(ctx, tx, p, fromID, intoID, o, now)
		return err
	})
	if err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	// IDs and whether it overrode an identifier conflict, never the
	// reason: free text may name the person.
	s.log.LogAttrs(ctx, slogInfo, "merge", attr("merge_id", m.ID), attr("from", m.From), attr("into", m.Into),
		attrB("override", m.Override))
	// The records of both as they are now: a record linked to either
	// since keys was read names a customer the merge changed too.
	if err := s.invalidateCustomers(ctx, keys, fromID, intoID); err != nil {
		return Merge{}, fmt.Errorf("merge: %w", err)
	}
	return m, nil
}

// commitMerge is a merge's work inside its transaction; o is checked.
func (s *Service) commitMerge(ctx context.Context, tx Tx, p Principal, fromID, intoID string, o MergeOptions, now time.Time) (Merge, error) {
	plan, err := s.planMerge(ctx, tx, fromID, intoID, now)
	if err != nil {
		return Merge{}, err
	}
	if len(plan.Conflicts) > 0 && !o.Override {
		return Merge{}, &IdentifierConflictError{Conflicts: plan.Conflicts}
	}
	snap := encodeMergeSnapshot(mergeSnapshot{From: plan.From, Into: plan.intoBefore, Records: plan.Moved})
	m := Merge{ID: newID("M"), From: fromID, Into: intoID, At: now, Actor: p.KeyID, Snapshot: snap,
		Override: o.Override && len(plan.Conflicts) > 0, Reason: o.Reason}
	if err := tx.InsertMerge(ctx, m); err != nil {
		return Merge{}, err
	}
	for _, r := range plan.Moved {
		moved := r
		moved.CustomerID = intoID
		moved.Link = Link{Grade: match.GradeCertain, Manual: true, Merge: m.ID, Explanation: r.Link.Explanation}
		moved.Version++
		moved.UpdatedAt = now
		rec, err := s.normalize(r.Raw, r.IDTable)
		if err != nil {
			return Merge{}, err
		}
		if err := tx.PutSourceRecord(ctx, moved, s.blockingKeys(rec)); err != nil {
			return Merge{}, err
		}
	}
	if err := tx.UpdateCustomer(ctx, plan.Into); err != nil {
		return Merge{}, err
	}
	from := plan.From
	from.Status, from.MergedInto = StatusMerged, intoID
	from.Version++
	from.UpdatedAt = now
	if err := tx.UpdateCustomer(ctx, from); err != nil {
		return Merge{}, err
	}
	if t, err := tx.OpenReviewTask(ctx, fromID, intoID); err == nil {
		if err := tx.ResolveReviewTask(ctx, t.ID, t.Version, ResolveMerge, p.KeyID, now); err != nil {
			return Merge{}, err
		}
	} else if !errors.Is(err, ErrNotFound) {
		return Merge{}, err
	}
	// The reason goes into the entries' after (read by admins through the
	// API), not into Detail, which webhooks deliver: it is free text and
	// may name the person.
	note := mergeNote{ID: m.ID, Override: m.Override, Conflicts: len(plan.Conflicts), Reason: m.Reason}
	overridden := ""
	if m.Override {
		overridden = "; identifier conflict overridden"
	}
	for _, c := range []Change{
		{CustomerID: fromID, Kind: ChangeMerged, Actor: p.KeyID, Before: customerSnapshot(plan.From, nil), After: customerSnapshot(from, &note),
			Detail: "merged into " + intoID + " (" + m.ID + ")" + overridden},
		{CustomerID: intoID, Kind: ChangeMerged, Actor: p.KeyID, Before: customerSnapshot(plan.intoBefore, nil), After: customerSnapshot(plan.Into, &note),
			Detail: "absorbed " + fromID + " (" + m.ID + ")" + overridden},
	} {
		if err := s.change(ctx, tx, now, c); err != nil {
			return Merge{}, err
		}
	}
	return m, nil
}

// mergeNote is the merge in the after of a merge's history entries.
type mergeNote struct {
	ID        string `json:"id"`
	Override  bool   `json:"override"`
	Conflicts int    `json:"conflicts,omitempty"` // pairs of records with conflicting identifiers
	Reason    string `json:"reason,omitempty"`
}

// customerKeys are the blocking keys of every record of the customers.
func (s *Service) customerKeys(ctx context.Context, ids ...string) ([]string, error) {
	return s.customerKeysIn(ctx, s.store, nil, ids...)
}

// customerKeysIn is customerKeys read through r, leaving out the records
// skip names (nil: none).
func (s *Service) customerKeysIn(ctx context.Context, r CustomerReader, skip func(SourceRecord) bool, ids ...string) ([]string, error) {
	var keys []string
	seen := map[string]bool{}
	for _, id := range ids {
		recs, err := r.CustomerRecords(ctx, id)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if skip != nil && skip(r) {
				continue
			}
			if rec, err := s.normalize(r.Raw, r.IDTable); err == nil {
				for _, k := range s.blockingKeys(rec) {
					if !seen[k] {
						seen[k] = true
						keys = append(keys, k)
					}
				}
			}
		}
	}
	return keys, nil
}

// Unmerge undoes a merge and nothing that happened after it (admin):
//   - the records the merge moved return to from with their former links
//     and their current values (a record re-registered since keeps what it
//     says now); a record a steward linked or unlinked since stays where
//     that decision put it; records that joined the survivor later stay;
//   - a death the merge copied from from leaves the survivor, unless a
//     death was recorded on the survivor since; a death recorded after
//     the merge stays;
//   - both customers' values are recomputed from their records, from is
//     active again, and both versions grow;
//   - the pair is remembered as not a duplicate.
//
// Unmerge refuses (ErrConflict) a merge whose survivor has been merged
// away since (undo that merge first), and one that would leave either
// customer without records.
func (s *Service) Unmerge(ctx context.Context, p Principal, mergeID string) (Merge, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Merge{}, err
	}
	m, err := s.store.Merge(ctx, mergeID)
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	snap, err := decodeMergeSnapshot(m.Snapshot)
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge %s: snapshot: %w", mergeID, err)
	}
	keys, err := s.customerKeys(ctx, m.Into)
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	err = s.update(ctx, keys, func(tx Tx, now time.Time) error {
		if err := tx.MarkUnmerged(ctx, mergeID, now, p.KeyID); err != nil {
			return err
		}
		from, err := tx.Customer(ctx, m.From)
		if err != nil {
			return err
		}
		if from.Status != StatusMerged || from.MergedInto != m.Into {
			return fmt.Errorf("customer %s changed since the merge: %w", m.From, ErrConflict)
		}
		into, err := tx.Customer(ctx, m.Into)
		if err != nil {
			return err
		}
		if into.Status != StatusActive {
			return fmt.Errorf("customer %s was merged into %s since: unmerge that first: %w", m.Into, into.MergedInto, ErrConflict)
		}
		ours, err := s.movedBy(ctx, tx, m, snap)
		if err != nil {
			return err
		}
		back := 0
		for _, r := range snap.Records {
			cur, err := tx.SourceRecord(ctx, r.System, r.LocalID)
			if err != nil {
				return err
			}
			if !ours(cur) {
				continue // moved since, by a steward or another merge: it stays
			}
			rec, err := s.normalize(cur.Raw, cur.IDTable)
			if err != nil {
				return err
			}
			cur.CustomerID, cur.Link = m.From, r.Link
			cur.Version++
			cur.UpdatedAt = now
			if err := tx.PutSourceRecord(ctx, cur, s.blockingKeys(rec)); err != nil {
				return err
			}
			back++
		}
		if back == 0 {
			return fmt.Errorf("every record merge %s moved has been moved again since: %w", mergeID, ErrConflict)
		}
		fromRecs, err := tx.CustomerRecords(ctx, m.From)
		if err != nil {
			return err
		}
		intoRecs, err := tx.CustomerRecords(ctx, m.Into)
		if err != nil {
			return err
		}
		if len(intoRecs) == 0 {
			return fmt.Errorf("customer %s would be left without records: %w", m.Into, ErrConflict)
		}
		fromAfter := withGolden(from, survivor(fromRecs))
		fromAfter.Status, fromAfter.MergedInto = StatusActive, ""
		fromAfter.Version++
		fromAfter.UpdatedAt = now
		intoAfter := withGolden(into, survivor(intoRecs))
		if copied := snap.Into.DeathDate == "" && snap.From.DeathDate != ""; copied &&
			into.DeathDate == snap.From.DeathDate && into.DeathSource == snap.From.DeathSource {
			intoAfter.DeathDate, intoAfter.DeathSource = "", ""
		}
		intoAfter.Version++
		intoAfter.UpdatedAt = now
		if err := tx.UpdateCustomer(ctx, fromAfter); err != nil {
			return err
		}
		if err := tx.UpdateCustomer(ctx, intoAfter); err != nil {
			return err
		}
		if err := tx.PutNotDuplicate(ctx, m.From, m.Into, now, p.KeyID); err != nil {
			return err
		}
		detail := fmt.Sprintf("unmerged %s (%d records back to %s)", mergeID, back, m.From)
		for _, c := range []Change{
			{CustomerID: m.From, Kind: ChangeUnmerged, Actor: p.KeyID, Before: customerSnapshot(from, nil), After: customerSnapshot(fromAfter, nil), Detail: detail},
			{CustomerID: m.Into, Kind: ChangeUnmerged, Actor: p.KeyID, Before: customerSnapshot(into, nil), After: customerSnapshot(intoAfter, nil), Detail: detail},
		} {
			if err := s.change(ctx, tx, now, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	if err := s.invalidateCustomers(ctx, keys, m.From, m.Into); err != nil {
		return Merge{}, fmt.Errorf("unmerge: %w", err)
	}
	return s.store.Merge(ctx, mergeID)
}

// movedBy reports whether a record is still where merge m put it: on the
// survivor, named by the merge. Merges from before records were marked
// tell by the survivor's history instead: a record a steward linked or
// unlinked off the survivor after the merge (Link and Unlink write
// "unlinked" on the customer a record leaves) is not the merge's anymore.
func (s *Service) movedBy(ctx context.Context, tx Tx, m Merge, snap mergeSnapshot) (func(SourceRecord) bool, error) {
	if snap.Version >= 2 { // moved records name their merge
		return func(r SourceRecord) bool { return r.CustomerID == m.Into && r.Link.Merge == m.ID }, nil
	}
	hist, err := tx.History(ctx, m.Into, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	relinked := map[[2]string]bool{}
	for _, ch := range hist {
		if ch.At.After(m.At) && ch.Kind == ChangeUnlinked && ch.System != "" {
			relinked[[2]string{ch.System, ch.LocalID}] = true
		}
	}
	return func(r SourceRecord) bool { return r.CustomerID == m.Into && !relinked[[2]string{r.System, r.LocalID}] }, nil
}
