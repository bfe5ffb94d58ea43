package fiveid_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
	"fiveid/store"
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
				_, _, err := tx.ReplaceBlockingKeys(ctx, []fiveid.RecordKeys{{System: "a", LocalID: "1", Version: rec.Version, Keys: []string{fiveid.KeyText(12345)}}})
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
			if err != nil || res.Records != 1 || res.Updated != 1 || res.Rewritten != 1 {
				t.Fatalf("reindex: %+v %v", res, err)
			}
			// Again: the keys are current, nothing is rewritten.
			if res, err := svc.Reindex(ctx, admin, nil); err != nil || res.Records != 1 || res.Updated != 1 || res.Rewritten != 0 {
				t.Fatalf("second reindex: %+v %v", res, err)
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

// Records stored without comparison features (before migration 0008) or
// with features of older normalization rules get current ones from
// fiveid reindex — what registration writes — and are found alike before
// and after; a record with current features is not written again.
func TestReindexStoresMissingFeatures(t *testing.T) {
	t.Parallel()
	for name, s := range servicesAndStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, st := s.svc, s.st
			p := setup(t, svc, "a", "b")
			ins := []match.Input{
				{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"},
				{Name: "王秀英", Sex: "女", BirthDate: "1952-07-02"},
				{Name: "ZHANG XIAOMING", Sex: "男", BirthDate: "1961-03-08"},
			}
			var want []string
			var ids []string
			for i, in := range ins {
				r, err := svc.Register(ctx, p["a"], fmt.Sprint(i), in)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, r.CustomerID)
				rec, err := st.SourceRecord(ctx, "a", fmt.Sprint(i))
				if err != nil || rec.Features == "" {
					t.Fatalf("registration stored no features: %q %v", rec.Features, err)
				}
				want = append(want, rec.Features)
			}
			// Record 0 as stored before features were kept, record 1 with
			// features of other rules; record 2 keeps its own.
			for i, f := range []string{"", "f0;older rules"} {
				rec, _ := st.SourceRecord(ctx, "a", fmt.Sprint(i))
				err := st.Update(ctx, nil, func(tx fiveid.Tx) error {
					done, err := tx.PutRecordFeatures(ctx, []fiveid.RecordFeatures{{System: "a", LocalID: fmt.Sprint(i), Version: rec.Version, Features: f}})
					if err == nil && (len(done) != 1 || !done[0]) {
						err = fmt.Errorf("features not set: %v", done)
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			identifyAll := func(when string) {
				t.Helper()
				for i, in := range ins[:2] {
					if r, err := svc.Identify(ctx, p["b"], in); err != nil || r.CustomerID != ids[i] {
						t.Fatalf("%s: identify %d: %+v %v", when, i, r, err)
					}
				}
			}
			identifyAll("without features")
			res, err := svc.Reindex(ctx, admin, nil)
			if err != nil || res.Records != 3 || res.Features != 2 {
				t.Fatalf("reindex: %+v %v; want 3 records, features stored for 2", res, err)
			}
			for i := range ins {
				rec, err := st.SourceRecord(ctx, "a", fmt.Sprint(i))
				if err != nil || rec.Features != want[i] {
					t.Errorf("record %d after reindex: features %q, want %q (%v)", i, rec.Features, want[i], err)
				}
			}
			identifyAll("after reindex")
			if res, err := svc.Reindex(ctx, admin, nil); err != nil || res.Features != 0 {
				t.Errorf("a second reindex: %+v %v; want no features written", res, err)
			}
		})
	}
}

// A reindex beside registrations that rewrite the records it walks leaves
// every record with the keys of its raw values as they are at the end:
// never the keys of values a registration replaced after the reindex
// read them, never the old rules' keys.
func TestReindexBesideRegistrations(t *testing.T) {
	t.Parallel()
	for name, s := range servicesAndStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, st := s.svc, s.st
			p := setup(t, svc, "a", "b")
			g := benchmarks.NewGenerator(11, benchmarks.Noise{})
			people := g.Population(120)
			var stale []fiveid.RecordKeys
			for i, person := range people[:60] {
				local := fmt.Sprint(i)
				if _, err := svc.Register(ctx, p["a"], local, g.Record(person, 0, "").Input); err != nil {
					t.Fatal(err)
				}
				rec, err := st.SourceRecord(ctx, "a", local)
				if err != nil {
					t.Fatal(err)
				}
				stale = append(stale, fiveid.RecordKeys{System: "a", LocalID: local, Version: rec.Version, Keys: []string{fiveid.KeyText(12345)}})
			}
			if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { _, _, err := tx.ReplaceBlockingKeys(ctx, stale); return err }); err != nil {
				t.Fatal(err)
			}
			// Every third record becomes another person's right after the
			// reindex read it, the rest while it runs.
			rewrite := func(from, step int) {
				for i := from; i < 60; i += step {
					if _, err := svc.Register(ctx, p["a"], fmt.Sprint(i), g.Record(people[60+i], 0, "").Input); err != nil {
						t.Error(err)
					}
				}
			}
			var once sync.Once
			sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			racing, err := fiveid.NewService(ctx, fiveid.Config{Store: st, Records: afterScan{st, func() { once.Do(func() { rewrite(0, 3) }) }},
				Grants: st, Cache: store.NewMemoryCache(time.Minute, 1000), Scorer: sc})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(racing.Close)
			var wg sync.WaitGroup
			wg.Go(func() { rewrite(1, 5) })
			res, err := racing.Reindex(ctx, admin, nil)
			wg.Wait()
			if err != nil || res.Records != 60 || res.Changed < 20 || res.Updated+res.Changed != 60 {
				t.Fatalf("reindex: %+v %v", res, err)
			}
			// Each record's keys are those a fresh registration of its
			// final values gets.
			keysOf := func() map[string][]string {
				out := map[string][]string{}
				err := st.EachBlockingKey(ctx, func(k int64, sys, local []byte) error {
					out[string(sys)+"/"+string(local)] = append(out[string(sys)+"/"+string(local)], fiveid.KeyText(k))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			for i := range 60 {
				rec, err := st.SourceRecord(ctx, "a", fmt.Sprint(i))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Register(ctx, p["b"], fmt.Sprint(i), rec.Raw); err != nil {
					t.Fatal(err)
				}
			}
			keys := keysOf()
			for i := range 60 {
				a, b := keys[fmt.Sprint("a/", i)], keys[fmt.Sprint("b/", i)]
				slices.Sort(a)
				slices.Sort(b)
				if len(b) == 0 || !slices.Equal(a, b) {
					t.Errorf("record a/%d: keys %v, its values' keys %v", i, a, b)
				}
			}
		})
	}
}

// afterScan is a store that calls then after each page of records it
// scans, before the caller sees the page.
type afterScan struct {
	*store.DB
	then func()
}

func (a afterScan) ScanKeyedRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]fiveid.KeyedRecord, error) {
	page, err := a.DB.ScanKeyedRecords(ctx, afterSystem, afterLocalID, limit)
	a.then()
	return page, err
}

// A reindex of an index whose keys and features are current only reads:
// its one transaction records the rules' version.
func TestReindexOfACurrentIndexOnlyReads(t *testing.T) {
	t.Parallel()
	for name, s := range servicesAndStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, s.svc, "a", "b")
			g := benchmarks.NewGenerator(12, benchmarks.Noise{})
			for i, person := range g.Population(30) {
				if _, err := s.svc.Register(ctx, p["a"], fmt.Sprint(i), g.Record(person, 0, "").Input); err != nil {
					t.Fatal(err)
				}
			}
			sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			counted := &countingUpdates{DB: s.st}
			svc, err := fiveid.NewService(ctx, fiveid.Config{Store: counted, Records: counted, Grants: s.st,
				Cache: store.NewMemoryCache(time.Minute, 1000), Scorer: sc})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(svc.Close)
			counted.n.Store(0)
			res, err := svc.Reindex(ctx, admin, nil)
			if err != nil || res != (fiveid.ReindexResult{Records: 30, Updated: 30}) {
				t.Fatalf("reindex: %+v %v", res, err)
			}
			if n := counted.n.Load(); n != 1 {
				t.Errorf("a reindex of a current index opened %d transactions, want 1 (the rules' version)", n)
			}
		})
	}
}

// countingUpdates is a store that counts its transactions.
type countingUpdates struct {
	*store.DB
	n atomic.Int64
}

func (c *countingUpdates) Update(ctx context.Context, lockKeys []string, fn func(tx fiveid.Tx) error) error {
	c.n.Add(1)
	return c.DB.Update(ctx, lockKeys, fn)
}
