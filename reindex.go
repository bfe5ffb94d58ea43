package fiveid

import (
	"context"
	"fmt"
	"slices"

	"fiveid/match"
)

// ReindexResult counts what a reindex did.
type ReindexResult struct {
	Records int // records scanned
	// Updated counts records whose blocking keys are current after the
	// reindex: Rewritten of them had keys that differed and were
	// rewritten, the others already had the current keys.
	Updated   int
	Rewritten int
	Changed   int // skipped: registered again while the reindex ran (their keys are new already)
	Invalid   int // skipped: no longer normalize under the current rules (kept as they are)
	// Features counts records whose stored comparison features were
	// written: missing (stored before features were kept) or of older
	// normalization rules.
	Features int
}

// reindexPage is how many records one reindex transaction rewrites: few
// enough that the rows it locks are not held long, many enough that round
// trips are not what a reindex waits for.
const reindexPage = 2000

// Reindex recomputes every record's blocking keys with the current rules
// and rewrites them (admin): after an upgrade that adds or changes keys
// (fiveid reindex). It also stores the comparison features of records
// that lack current ones, so candidates need not be normalized again.
// Raw values, links and name statistics are untouched.
// It runs beside live traffic: a record registered again meanwhile is
// left alone (its keys are current), and every key added to or dropped
// from a record is invalidated in the cache, since identify answers
// cached before may have missed the record it now finds (or found one it
// no longer does).
// Three stages run at once: one goroutine reads pages of records with
// the keys they carry (one query a page), another derives their keys on
// all cores and compares them with those carried, and the caller's
// writes, a transaction a page, only the records whose keys differ or
// whose features are missing (ReplaceBlockingKeys checks again, under
// lock, that each is still at the version read). A page whose records
// are all current is not written: a reindex of an index that is current
// only reads.
func (s *Service) Reindex(ctx context.Context, p Principal, progress func(ReindexResult)) (ReindexResult, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ReindexResult{}, err
	}
	scan := s.records
	if scan == nil {
		return ReindexResult{}, fmt.Errorf("reindex: no record scanner configured: %w", ErrUnavailable)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan []KeyedRecord, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(pages)
		readErr <- func() error {
			afterSys, afterLocal := "", ""
			for {
				page, err := scan.ScanKeyedRecords(ctx, afterSys, afterLocal, reindexPage)
				if err != nil {
					return fmt.Errorf("reindex: %w", err)
				}
				if len(page) == 0 {
					return nil
				}
				afterSys, afterLocal = page[len(page)-1].System, page[len(page)-1].LocalID
				select {
				case pages <- page:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}()
	}()
	type keyed struct {
		read, invalid, current int
		recs                   []RecordKeys // keys that differ from those carried
		feats                  []RecordFeatures
	}
	keyedPages := make(chan keyed, 1)
	go func() {
		defer close(keyedPages)
		defer func() {
			for range pages { // let the reader end
			}
		}()
		for page := range pages {
			keys := make([][]string, len(page))
			feats := make([]string, len(page))
			valid := make([]bool, len(page))
			parallel(len(page), func(i, _ int) {
				r := &page[i]
				rec, err := s.normalize(r.Raw, r.IDTable)
				if err != nil {
					return
				}
				valid[i] = true
				if k := s.blockingKeys(rec); !sameKeys(k, r.Keys) {
					keys[i] = k
				}
				if _, current := match.DecodeFeatures(r.Features); !current {
					feats[i] = recordFeatures(r.Raw, r.IDTable)
				}
			})
			k := keyed{read: len(page)}
			for i, ok := range valid {
				r := &page[i]
				switch {
				case !ok:
					k.invalid++
					continue
				case keys[i] == nil:
					k.current++
				default:
					k.recs = append(k.recs, RecordKeys{System: r.System, LocalID: r.LocalID, Version: r.Version, Keys: keys[i]})
				}
				if feats[i] != "" {
					k.feats = append(k.feats, RecordFeatures{System: r.System, LocalID: r.LocalID, Version: r.Version, Features: feats[i]})
				}
			}
			select {
			case keyedPages <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	var res ReindexResult
	fail := func(err error) (ReindexResult, error) {
		cancel()
		for range keyedPages { // let the other stages end
		}
		return res, fmt.Errorf("reindex: %w", err)
	}
	for page := range keyedPages {
		res.Records += page.read
		res.Invalid += page.invalid
		res.Updated += page.current
		if len(page.recs) == 0 && len(page.feats) == 0 {
			if progress != nil {
				progress(res)
			}
			continue
		}
		var done, featured []bool
		var changed []string
		err := s.store.Update(ctx, nil, func(tx Tx) error {
			var err error
			if len(page.recs) > 0 {
				if done, changed, err = tx.ReplaceBlockingKeys(ctx, page.recs); err != nil {
					return err
				}
			}
			if len(page.feats) > 0 {
				featured, err = tx.PutRecordFeatures(ctx, page.feats)
			}
			return err
		})
		if err != nil {
			return fail(err)
		}
		for _, ok := range done {
			if ok {
				res.Updated++
				res.Rewritten++
			} else {
				res.Changed++
			}
		}
		for _, ok := range featured {
			if ok {
				res.Features++
			}
		}
		if err := s.invalidateAnswers(ctx, changed); err != nil {
			return fail(err)
		}
		if progress != nil {
			progress(res)
		}
	}
	if err := <-readErr; err != nil {
		return res, err
	}
	// Every record now carries the current rules' keys.
	if err := s.store.Update(ctx, nil, func(tx Tx) error {
		return tx.PutSetting(ctx, settingBlockingRules, match.BlockingRules)
	}); err != nil {
		return res, fmt.Errorf("reindex: %w", err)
	}
	return res, nil
}

// sameKeys reports whether a record's derived keys are the set it
// carries (carried: distinct, as the index holds them). About ten keys a
// side: comparing every pair costs less than sorting copies, which was a
// twentieth of a reindex's CPU.
func sameKeys(derived, carried []string) bool {
	n := 0
	for i, d := range derived {
		if slices.Contains(derived[:i], d) {
			continue // a repeat
		}
		if !slices.Contains(carried, d) {
			return false
		}
		n++
	}
	return n == len(carried)
}

// settingBlockingRules names the store setting holding the version of the
// blocking rules the index's keys were derived with.
const settingBlockingRules = "blocking_rules"

// markBlockingRules records, for an index that never had it, which
// blocking rules built it: the current ones for an empty index; 1 (the
// rules before versioning) for one with records.
func (s *Service) markBlockingRules(ctx context.Context) error {
	if _, ok, err := s.store.Setting(ctx, settingBlockingRules); err != nil || ok {
		return err
	}
	_, total, err := s.store.NameFrequency(ctx, "")
	if err != nil {
		return err
	}
	v := int64(match.BlockingRules)
	if total > 0 {
		v = 1
	}
	return s.store.Update(ctx, nil, func(tx Tx) error {
		if _, ok, err := tx.Setting(ctx, settingBlockingRules); err != nil || ok {
			return err // set meanwhile by another instance
		}
		return tx.PutSetting(ctx, settingBlockingRules, v)
	})
}

// BlockingRules returns the version of the blocking rules the index's
// keys were derived with and the version this build derives: when the
// index's is older, records may miss candidates until fiveid reindex runs.
func (s *Service) BlockingRules(ctx context.Context) (index, current int64, err error) {
	v, _, err := s.store.Setting(ctx, settingBlockingRules)
	return v, match.BlockingRules, err
}
