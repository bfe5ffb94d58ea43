package fiveid_test

import (
	"errors"
	"testing"

	"fiveid"
	"fiveid/match"
)

// A record indexed under older rules (here: without the pinyin keys a
// Latin-written name now gets) is found after fiveid reindex, and the
// "no match" cached before does not survive it.
func TestReindexRewritesOldKeys(t *testing.T) {
	t.Parallel()
	for name, s := range servicesAndStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, st := s.svc, s.st
			p := setup(t, svc, "a", "b")
			latin := match.Input{Name: "ZHANG XIAOMING", Sex: "男", BirthDate: "1961-03-08"}
			if _, err := svc.Register(ctx, p["a"], "1", latin); err != nil {
				t.Fatal(err)
			}
			rec, err := st.SourceRecord(ctx, "a", "1")
			if err != nil {
				t.Fatal(err)
			}
			// Older rules gave this record no key a Han query meets.
			err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
				_, _, err := tx.ReplaceBlockingKeys(ctx, []fiveid.RecordKeys{{System: "a", LocalID: "1", Version: rec.Version, Keys: []string{"old-rules-key"}}})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			han := match.Input{Name: "张晓明", Sex: "男", BirthDate: "1961-03-08"}
			for range 2 { // the second answer is cached
				if _, err := svc.Identify(ctx, p["b"], han); !errors.Is(err, fiveid.ErrNoMatch) {
					t.Fatalf("before reindex: %v", err)
				}
			}
			if _, err := svc.Reindex(ctx, p["a"], nil); !errors.Is(err, fiveid.ErrDenied) {
				t.Errorf("a system reindexed: %v", err)
			}
			// An index built before the current rules says so until reindexed.
			if idx, cur, err := svc.BlockingRules(ctx); err != nil || idx != cur {
				t.Fatalf("a new index: rules %d, current %d (%v)", idx, cur, err)
			}
			if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.PutSetting(ctx, "blocking_rules", 1) }); err != nil {
				t.Fatal(err)
			}
			if idx, cur, _ := svc.BlockingRules(ctx); idx >= cur {
				t.Fatalf("old index: rules %d, current %d", idx, cur)
			}
			res, err := svc.Reindex(ctx, admin, nil)
			if err != nil || res.Records != 1 || res.Updated != 1 {
				t.Fatalf("reindex: %+v %v", res, err)
			}
			if idx, cur, _ := svc.BlockingRules(ctx); idx != cur {
				t.Errorf("after reindex: rules %d, current %d", idx, cur)
			}
			// The pinyin spelling of a Han name, no ID: a possible match for
			// review, never a link.
			id, err := svc.Identify(ctx, p["b"], han)
			if !errors.Is(err, fiveid.ErrNeedsReview) || id.ReviewTaskID == "" || id.CustomerID != "" {
				t.Fatalf("after reindex: %+v %v", id, err)
			}
			// A record registered again after it was read is left alone.
			err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
				done, _, err := tx.ReplaceBlockingKeys(ctx, []fiveid.RecordKeys{{System: "a", LocalID: "1", Version: rec.Version - 1}})
				if len(done) == 1 && done[0] {
					t.Error("keys replaced at a stale version")
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Identify(ctx, p["b"], han); !errors.Is(err, fiveid.ErrNeedsReview) {
				t.Fatalf("a stale replace changed the keys: %v", err)
			}
		})
	}
}
