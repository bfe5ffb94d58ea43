package fiveid_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

// rawOnly is a store whose records come without stored features, as rows
// written before migration 0008 do: their candidates are normalized again.
type rawOnly struct{ *store.DB }

func (r rawOnly) Candidates(ctx context.Context, keys []string, limit int) ([]fiveid.SourceRecord, error) {
	return clearFeatures(r.DB.Candidates(ctx, keys, limit))
}

func (r rawOnly) CustomerRecords(ctx context.Context, id string) ([]fiveid.SourceRecord, error) {
	return clearFeatures(r.DB.CustomerRecords(ctx, id))
}

func clearFeatures(recs []fiveid.SourceRecord, err error) ([]fiveid.SourceRecord, error) {
	for i := range recs {
		recs[i].Features = ""
	}
	return recs, err
}

// Records keep their comparison features, and identify decides exactly
// as it does by normalizing every candidate again (both stores).
func TestStoredFeaturesDecideAsNormalizingAgain(t *testing.T) {
	t.Parallel()
	for _, env := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{
		{"embedded", teststore.Embedded},
		{"postgres", teststore.Postgres},
	} {
		t.Run(env.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := env.open(t)
			sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
			if err != nil {
				t.Fatal(err)
			}
			newSvc := func(st interface {
				fiveid.Store
				fiveid.GrantStore
			}) *fiveid.Service {
				svc, err := fiveid.NewService(ctx, fiveid.Config{Store: st, Grants: st, Cache: store.NewMemoryCache(time.Hour, 1000), Scorer: sc})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(svc.Close)
				return svc
			}
			stored, raw := newSvc(db), newSvc(rawOnly{db})
			ds := benchmarks.Synthetic(20261201, 120, benchmarks.Realistic)
			if err := benchmarks.CreateSystems(ctx, stored, ds.Records); err != nil {
				t.Fatal(err)
			}
			if _, err := benchmarks.Register(ctx, stored, ds.Records); err != nil {
				t.Fatal(err)
			}
			r0 := ds.Records[0]
			sr, err := db.SourceRecord(ctx, r0.System, r0.LocalID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := match.Normalize(sr.Raw, match.Options{IDTable: sr.IDTable})
			if err != nil {
				t.Fatal(err)
			}
			want.Findings = nil
			if got, ok := match.DecodeFeatures(sr.Features); !ok || cmp.Diff(want, got) != "" {
				t.Fatalf("stored features of %s/%s (ok %v): %s", r0.System, r0.LocalID, ok, cmp.Diff(want, got))
			}
			caller := fiveid.Principal{KeyID: "t", Role: fiveid.RoleSystem, System: "care-c"}
			matched := 0
			for _, q := range ds.Queries {
				a, aerr := stored.Identify(ctx, caller, q.Input)
				b, berr := raw.Identify(ctx, caller, q.Input)
				if !errors.Is(aerr, berr) && (aerr == nil || berr == nil || aerr.Error() != berr.Error()) {
					t.Fatalf("query %s: errors differ: %v / %v", q.LocalID, aerr, berr)
				}
				a.ReviewTaskID, b.ReviewTaskID = "", ""
				if d := cmp.Diff(a.Decision, b.Decision); d != "" {
					t.Fatalf("query %s: decisions differ (-stored features +normalized again):\n%s", q.LocalID, d)
				}
				if aerr == nil {
					matched++
				}
			}
			if matched < len(ds.Queries)/3 {
				t.Fatalf("only %d of %d queries matched: the comparison says little", matched, len(ds.Queries))
			}
		})
	}
}

// noCache misses every lookup.
type noCache struct{}

func (noCache) Get(context.Context, string, []string) ([]byte, bool, string, error) {
	return nil, false, "", nil
}
func (noCache) Set(context.Context, string, string, []byte) error { return nil }
func (noCache) Invalidate(context.Context, []string) error        { return nil }
func (noCache) Ping(context.Context) error                        { return nil }

// BenchmarkResolveCacheMiss times identify's lookup on a cache miss —
// candidate query, name frequency, scoring, the would-be customer's
// records — on the embedded store, with the candidates' stored features
// and with every candidate normalized again, interleaved in one run:
//
//	go test -run '^$' -bench ResolveCacheMiss -benchmem .
func BenchmarkResolveCacheMiss(b *testing.B) {
	ctx := b.Context()
	db := teststore.Embedded(b)
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		b.Fatal(err)
	}
	newSvc := func(st interface {
		fiveid.Store
		fiveid.GrantStore
	}) *fiveid.Service {
		svc, err := fiveid.NewService(ctx, fiveid.Config{Store: st, Grants: st, Cache: noCache{}, Scorer: sc})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(svc.Close)
		return svc
	}
	stored, raw := newSvc(db), newSvc(rawOnly{db})
	ds := benchmarks.Synthetic(20261201, 2000, benchmarks.Realistic)
	if err := benchmarks.CreateSystems(ctx, stored, ds.Records); err != nil {
		b.Fatal(err)
	}
	var items []fiveid.RegisterItem
	seen := map[int]bool{}
	for _, r := range ds.Records {
		if r.System == "hosp-a" && !seen[r.PersonID] {
			seen[r.PersonID] = true
			items = append(items, fiveid.RegisterItem{LocalID: r.LocalID, Input: r.Input})
		}
	}
	if err := stored.LoadDistinct(ctx, fiveid.Principal{Role: fiveid.RoleAdmin}, "hosp-a", items); err != nil {
		b.Fatal(err)
	}
	var recs []match.Record
	for _, q := range ds.Queries[:300] {
		if r, err := match.Normalize(q.Input, match.Options{}); err == nil {
			recs = append(recs, r)
		}
	}
	for _, c := range []struct {
		name string
		svc  *fiveid.Service
	}{{"stored_features", stored}, {"normalized_again", raw}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := c.svc.Resolve(ctx, recs[i%len(recs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
