package fiveid_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
)

// countingStore counts the reads identify's hot path must not repeat on
// every request: customers and API keys.
type countingStore struct {
	*store.DB
	customers, keys atomic.Int64
}

func (s *countingStore) Customer(ctx context.Context, id string) (fiveid.Customer, error) {
	s.customers.Add(1)
	return s.DB.Customer(ctx, id)
}

func (s *countingStore) KeyByHash(ctx context.Context, hash []byte) (fiveid.APIKey, error) {
	s.keys.Add(1)
	return s.DB.KeyByHash(ctx, hash)
}

// invalidationsFail is a cache whose invalidations can be made to fail
// while it still answers lookups: the process cannot reach Redis to drop
// answers that other processes (or a Redis restarted from its own files)
// may still serve.
type invalidationsFail struct {
	fiveid.Cache
	fail atomic.Bool
}

func (c *invalidationsFail) Invalidate(ctx context.Context, deps []string) error {
	if c.fail.Load() {
		return errCacheDown
	}
	return c.Cache.Invalidate(ctx, deps)
}

type hotFixture struct {
	svc   *fiveid.Service
	st    *countingStore
	cache *invalidationsFail
	obs   *cacheObserver
}

// hotServices is a fixture on each store: the embedded store with the
// in-process cache, and PostgreSQL with Redis.
func hotServices(t *testing.T, lease time.Duration) map[string]hotFixture {
	t.Helper()
	out := map[string]hotFixture{}
	for name, ts := range testStores(t, true) {
		out[name] = hotFixtureOn(t, ts.db, ts.cache, lease)
	}
	return out
}

func hotFixtureOn(t *testing.T, db *store.DB, cache fiveid.Cache, lease time.Duration) hotFixture {
	t.Helper()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	f := hotFixture{st: &countingStore{DB: db}, cache: &invalidationsFail{Cache: cache}, obs: &cacheObserver{}}
	f.svc, err = fiveid.NewService(t.Context(), fiveid.Config{Store: f.st, Grants: db, Cache: f.cache, Scorer: sc,
		Observer: f.obs, CacheEpochLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.svc.Close)
	return f
}

// A key a process has read is memoized for a lease; revoking it answers a
// lease after its commit, so that from then on no process — here another
// Service on the same store, which has just used the key — accepts it.
func TestRevokedKeyIsRefusedAtOnceEverywhere(t *testing.T) {
	t.Parallel()
	// Long enough that, without the revocation's wait, A's memo would
	// still be in force when A is asked again.
	const lease = 2 * time.Second
	for name, f := range hotServices(t, lease) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			b := f.svc
			// A: another process on the same store.
			a := hotFixtureOn(t, f.st.DB, store.NewMemoryCache(time.Minute, 10), lease)
			setup(t, b, "care")
			k, secret, err := b.CreateKey(ctx, admin, fiveid.RoleSystem, "care", "care key")
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if p, err := a.svc.Authenticate(ctx, secret); err != nil || p.KeyID != k.ID || p.System != "care" {
					t.Fatalf("authenticate on A: %+v %v", p, err)
				}
			}
			if n := a.st.keys.Load(); n != 1 {
				t.Fatalf("A read the key %d times for 3 requests; want 1 (memoized)", n)
			}
			start := time.Now()
			if _, err := b.RevokeKey(ctx, admin, k.ID, false); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < lease {
				t.Fatalf("revoke answered after %s, before the lease (%s) ran out", d, lease)
			}
			if _, err := a.svc.Authenticate(ctx, secret); !errors.Is(err, fiveid.ErrUnauthenticated) {
				t.Fatalf("A accepted the key after its revocation answered: %v", err)
			}
			if _, err := b.Authenticate(ctx, secret); !errors.Is(err, fiveid.ErrUnauthenticated) {
				t.Fatalf("B accepted the key after its revocation answered: %v", err)
			}
		})
	}
}

// An unknown secret is never memoized: a key created right after it was
// refused works at once.
func TestUnknownKeyIsNotMemoized(t *testing.T) {
	t.Parallel()
	for name, f := range hotServices(t, time.Hour) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			secret := fiveid.NewKeySecret()
			if _, err := f.svc.Authenticate(ctx, secret); !errors.Is(err, fiveid.ErrUnauthenticated) {
				t.Fatalf("unknown key: %v", err)
			}
			if _, err := f.svc.Bootstrap(ctx, secret); err != nil { // creates it as an admin key
				t.Fatal(err)
			}
			if p, err := f.svc.Authenticate(ctx, secret); err != nil || p.Role != fiveid.RoleAdmin {
				t.Fatalf("the key just created: %+v %v", p, err)
			}
		})
	}
}

var wang = match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"} // shares no blocking key with zhang

// changeEnv is what a change of TestCachedAnswerFollowsTheCustomersState
// works on: zhang's customer x, wang's customer w, the last merge.
type changeEnv struct {
	t     *testing.T
	svc   *fiveid.Service
	x, w  string
	merge string
}

func (e *changeEnv) recordDeath(id, date string) {
	e.t.Helper()
	if _, err := e.svc.RecordDeath(e.t.Context(), admin, id, date, ""); err != nil {
		e.t.Fatal(err)
	}
}

func (e *changeEnv) commitMerge(from, into string) {
	e.t.Helper()
	m, err := e.svc.CommitMerge(e.t.Context(), admin, from, into, fiveid.MergeOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.merge = m.ID
}

// A cached identify answer says who the customer is and whether they died
// without reading the customer, so every change to that must drop it: the
// answer right after the change is the new one. With the cache failing
// its invalidations (while still serving lookups), the change raises the
// cache epoch instead, and the old answer is not served either.
func TestCachedAnswerFollowsTheCustomersState(t *testing.T) {
	t.Parallel()
	type want struct {
		customer string // "x": zhang's customer; "w": wang's
		death    string
	}
	for _, tc := range []struct {
		name            string
		prepare, change func(e *changeEnv)
		before, after   want
	}{
		{"a death is recorded", nil,
			func(e *changeEnv) { e.recordDeath(e.x, "2026-11-20") },
			want{"x", ""}, want{"x", "2026-11-20"}},
		{"a death is corrected",
			func(e *changeEnv) { e.recordDeath(e.x, "2026-11-20") },
			func(e *changeEnv) { e.recordDeath(e.x, "2026-11-19") },
			want{"x", "2026-11-20"}, want{"x", "2026-11-19"}},
		{"the customer is merged into another", nil,
			func(e *changeEnv) { e.commitMerge(e.x, e.w) },
			want{"x", ""}, want{"w", ""}},
		{"another customer, dead, is merged into it",
			func(e *changeEnv) { e.recordDeath(e.w, "2026-11-18") },
			func(e *changeEnv) { e.commitMerge(e.w, e.x) },
			want{"x", ""}, want{"x", "2026-11-18"}},
		{"a merge is undone",
			func(e *changeEnv) { e.commitMerge(e.x, e.w) },
			func(e *changeEnv) {
				if _, err := e.svc.Unmerge(e.t.Context(), admin, e.merge); err != nil {
					e.t.Fatal(err)
				}
			},
			want{"w", ""}, want{"x", ""}},
		{"its record is linked to another customer by hand", nil,
			func(e *changeEnv) {
				if err := e.svc.Link(e.t.Context(), admin, "a", "1", e.w); err != nil {
					e.t.Fatal(err)
				}
			},
			want{"x", ""}, want{"w", ""}},
	} {
		for _, failing := range []bool{false, true} {
			name := tc.name
			if failing {
				name += "/invalidation fails"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				for store, f := range hotServices(t, 20*time.Millisecond) {
					t.Run(store, func(t *testing.T) {
						t.Parallel()
						ctx := t.Context()
						svc := f.svc
						p := setup(t, svc, "a", "b")
						x, err := svc.Register(ctx, p["a"], "1", zhang)
						if err != nil {
							t.Fatal(err)
						}
						w, err := svc.Register(ctx, p["b"], "2", wang)
						if err != nil || w.CustomerID == x.CustomerID {
							t.Fatalf("register wang: %+v %v", w, err)
						}
						e := &changeEnv{t: t, svc: svc, x: x.CustomerID, w: w.CustomerID}
						ids := map[string]string{"x": e.x, "w": e.w}
						if tc.prepare != nil {
							tc.prepare(e)
						}
						reads := f.st.customers.Load()
						got := identifyCached(t, svc, f.obs, p["b"], zhang)
						if got.CustomerID != ids[tc.before.customer] || got.DeathDate != tc.before.death {
							t.Fatalf("before the change: %s, death %q; want %s, %q", got.CustomerID, got.DeathDate, ids[tc.before.customer], tc.before.death)
						}
						if n := f.st.customers.Load() - reads; n != 1 {
							t.Fatalf("a miss and a hit read %d customers; want 1 (the miss's)", n)
						}
						f.cache.fail.Store(failing)
						raised := f.obs.raised.Load()
						tc.change(e)
						if failing && f.obs.raised.Load() == raised {
							t.Fatal("the change's invalidation failed and the epoch was not raised")
						}
						res, err := svc.Identify(ctx, p["b"], zhang)
						if err != nil || res.CustomerID != ids[tc.after.customer] || res.DeathDate != tc.after.death {
							t.Fatalf("right after the change: %+v %v; want %s, death %q", res, err, ids[tc.after.customer], tc.after.death)
						}
					})
				}
			})
		}
	}
}
