package fiveid_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

// li is another person than zhang (another checksum-valid citizen number).
var li = match.Input{Name: "李娜", Sex: "女", BirthDate: "1990-01-01", IDType: "01", IDNumber: "110105199001011232"}

// cacheObserver counts cache hits and invalidation outcomes.
type cacheObserver struct {
	hits, skipped, invalidated, raised atomic.Int64
}

func (o *cacheObserver) MatchOutcome(string, string) {}
func (o *cacheObserver) GrantOutcome(string)         {}
func (o *cacheObserver) CacheLookup(hit bool, err error) {
	if hit {
		o.hits.Add(1)
	}
	if errors.Is(err, fiveid.ErrCacheSkipped) {
		o.skipped.Add(1)
	}
}
func (o *cacheObserver) CacheInvalidation(result string) {
	switch result {
	case "ok":
		o.invalidated.Add(1)
	case "epoch_raised":
		o.raised.Add(1)
	}
}

// identifyCached identifies in twice and checks the second answer came
// from the cache.
func identifyCached(t *testing.T, svc *fiveid.Service, obs *cacheObserver, p fiveid.Principal, in match.Input) fiveid.IdentifyResult {
	t.Helper()
	first, err := svc.Identify(t.Context(), p, in)
	if err != nil {
		t.Fatalf("identify: %v", err)
	}
	hits := obs.hits.Load()
	again, err := svc.Identify(t.Context(), p, in)
	if err != nil || again.CustomerID != first.CustomerID {
		t.Fatalf("identify again: %+v %v", again, err)
	}
	if obs.hits.Load() == hits {
		t.Fatal("the second identify did not come from the cache: the test proves nothing")
	}
	return again
}

// The reproduction of issue 11 (5): identify X (the answer is cached in
// Redis); Redis stops; X's record is registered again with another
// person's values (200; the invalidation fails); Redis starts again from
// its own files, stale answer included; identify X must not name the
// customer that now holds the other person's record — with scopes, no
// grant may be signed for it.
func TestNoStaleAnswerAfterRedisRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		stop func(*storetest.RedisServer)
	}{
		{"aof/sigterm", []string{"--appendonly", "yes", "--save", ""}, (*storetest.RedisServer).Stop},
		// Every write on disk before it is acknowledged: the crash keeps
		// the stale answer.
		{"aof-always/sigkill", []string{"--appendonly", "yes", "--appendfsync", "always", "--save", ""}, (*storetest.RedisServer).Kill},
		{"rdb/sigterm", []string{"--appendonly", "no", "--save", "3600 1"}, (*storetest.RedisServer).Stop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			rs := storetest.StartRedisServer(t, tc.args...)
			url := storetest.PostgresURL(t)
			pg, err := store.OpenPostgres(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pg.Close() })
			rc := redis.NewClient(&redis.Options{Addr: rs.Addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
			t.Cleanup(func() { rc.Close() })
			obs := &cacheObserver{}
			svc := newService(t, pg, store.NewRedisCache(rc, "fiveid", time.Hour, store.Breaker{}), obs, 0)
			p := setup(t, svc, "hosp", "care")
			if _, err := svc.CreatePolicy(ctx, admin, fiveid.Policy{Grantee: "care", Scopes: []string{"medical"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			req := fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment"}

			x, err := svc.Register(ctx, p["hosp"], "P1", zhang)
			if err != nil {
				t.Fatal(err)
			}
			identifyCached(t, svc, obs, p["care"], zhang)

			tc.stop(rs)
			// The same local record now holds another person: it stays on
			// its customer (its only record), which is now that person.
			y, err := svc.Register(ctx, p["hosp"], "P1", li)
			if err != nil || y.CustomerID != x.CustomerID || obs.raised.Load() != 1 {
				t.Fatalf("re-register with Redis down: %+v %v (epoch raised %d times)", y, err, obs.raised.Load())
			}
			rs.Start()

			if res, err := svc.Identify(ctx, p["care"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
				t.Fatalf("identify X after the restart: %+v %v; want no match (customer %s is now someone else)", res, err, x.CustomerID)
			}
			res, err := svc.IdentifyAndGrant(ctx, p["care"], zhang, req)
			if !errors.Is(err, fiveid.ErrNoMatch) || res.Grant != nil {
				t.Fatalf("identify X with scopes after the restart: %+v %v", res, err)
			}
			// The cache works again, with the new answers.
			if res, err := svc.Identify(ctx, p["care"], li); err != nil || res.CustomerID != x.CustomerID {
				t.Fatalf("identify Y: %+v %v", res, err)
			}
			identifyCached(t, svc, obs, p["care"], li)
		})
	}
}

// Two serve processes on one database and one Redis. Process A cannot
// reach Redis (a network partition: the failure the other process does not
// see) and registers X's record again with another person's values; process
// B, which holds X's answer in the shared cache and has just read the
// cache epoch, must not serve it once A has answered.
func TestNoStaleAnswerAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.PostgresURL(t)
	rurl := storetest.RedisURL(t)
	live, err := store.OpenRedis(ctx, rurl, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	prefix := storetest.Prefix(t, live)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })

	// A long lease, the same in both processes: without A's wait, B's
	// epoch, read just before A's write, would still be in force.
	const lease = time.Second
	var svcs [2]*fiveid.Service
	var obs [2]*cacheObserver
	for i, rc := range []*redis.Client{dead, live} {
		pg, err := store.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		obs[i] = &cacheObserver{}
		svcs[i] = newService(t, pg, store.NewRedisCache(rc, prefix, time.Hour, store.Breaker{}), obs[i], lease)
	}
	a, b := svcs[0], svcs[1]
	p := setup(t, b, "hosp", "care")

	x, err := b.Register(ctx, p["hosp"], "P1", zhang)
	if err != nil {
		t.Fatal(err)
	}
	identifyCached(t, b, obs[1], p["care"], zhang) // B's epoch is fresh now

	y, err := a.Register(ctx, p["hosp"], "P1", li)
	if err != nil || y.CustomerID != x.CustomerID {
		t.Fatalf("re-register on A: %+v %v", y, err)
	}
	if obs[0].raised.Load() != 1 {
		t.Fatalf("A raised the epoch %d times; want 1", obs[0].raised.Load())
	}
	if res, err := b.Identify(ctx, p["care"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
		t.Fatalf("B answered X after A's change was acknowledged: %+v %v; want no match", res, err)
	}
}

// TestNoStaleAnswerAcrossProcesses again, with A's circuit breaker open:
// A's connection to the shared Redis is cut (B's is not), A's lookups are
// misses answered from the store without asking Redis, and A's change —
// whose invalidation the open breaker skips — raises the epoch all the
// same, so B does not serve X's old answer. When A reaches Redis again, a
// probe closes its breaker and A uses the cache again.
func TestNoStaleAnswerWithTheBreakerOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.PostgresURL(t)
	rurl := storetest.RedisURL(t)
	live, err := store.OpenRedis(ctx, rurl, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close() })
	prefix := storetest.Prefix(t, live)
	proxy := storetest.StartTCPProxy(t, live.Options().Addr)
	opt := *live.Options()
	opt.Addr = proxy.Addr()
	viaProxy := redis.NewClient(&opt)
	t.Cleanup(func() { viaProxy.Close() })

	const lease, cooldown = 500 * time.Millisecond, 300 * time.Millisecond
	var states stateLog
	var svcs [2]*fiveid.Service
	var obs [2]*cacheObserver
	for i, rc := range []*redis.Client{viaProxy, live} {
		pg, err := store.OpenPostgres(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pg.Close() })
		obs[i] = &cacheObserver{}
		b := store.Breaker{Failures: 2, Cooldown: cooldown}
		if i == 0 {
			b.OnChange = states.add
		}
		svcs[i] = newService(t, pg, store.NewRedisCache(rc, prefix, time.Hour, b), obs[i], lease)
	}
	a, b := svcs[0], svcs[1]
	p := setup(t, b, "hosp", "care")
	x, err := b.Register(ctx, p["hosp"], "P1", zhang)
	if err != nil {
		t.Fatal(err)
	}
	identifyCached(t, a, obs[0], p["care"], zhang)

	proxy.Cut()
	for range 2 { // two failures open A's breaker
		if res, err := a.Identify(ctx, p["care"], zhang); err != nil || res.CustomerID != x.CustomerID {
			t.Fatalf("identify on A, Redis cut: %+v %v", res, err)
		}
	}
	if s := states.String(); s != "closed>open" {
		t.Fatalf("A's breaker: %q; want closed>open", s)
	}
	for range 5 {
		if res, err := a.Identify(ctx, p["care"], zhang); err != nil || res.CustomerID != x.CustomerID {
			t.Fatalf("identify on A, breaker open: %+v %v", res, err)
		}
	}
	if n := obs[0].skipped.Load(); n != 5 {
		t.Fatalf("%d of A's lookups were skipped; want 5 (misses answered from the store)", n)
	}
	identifyCached(t, b, obs[1], p["care"], zhang) // in the shared cache; B's epoch fresh

	y, err := a.Register(ctx, p["hosp"], "P1", li)
	if err != nil || y.CustomerID != x.CustomerID {
		t.Fatalf("re-register on A, breaker open: %+v %v", y, err)
	}
	if obs[0].raised.Load() != 1 {
		t.Fatalf("A raised the epoch %d times; want 1 (a skipped invalidation is a failed one)", obs[0].raised.Load())
	}
	if res, err := b.Identify(ctx, p["care"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
		t.Fatalf("B answered X after A's change was acknowledged: %+v %v; want no match", res, err)
	}

	proxy.Restore()
	// The breaker lets a probe through after each cooldown; on a loaded
	// machine a probe may still time out (half_open>open) and the next one
	// closes it. Every answer meanwhile must be right.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(states.String(), "half_open>closed") {
		if time.Now().After(deadline) {
			t.Fatalf("A's breaker never closed after Redis came back: %q", states.String())
		}
		time.Sleep(cooldown + 50*time.Millisecond)
		if res, err := a.Identify(ctx, p["care"], li); err != nil || res.CustomerID != x.CustomerID {
			t.Fatalf("identify on A, Redis back: %+v %v", res, err)
		}
	}
	identifyCached(t, a, obs[0], p["care"], li) // the breaker closed: answers are cached again
	s := states.String()
	mid := strings.TrimSuffix(strings.TrimPrefix(s, "closed>open "), " half_open>closed")
	for _, step := range strings.Fields(mid) {
		if step != "open>half_open" && step != "half_open>open" {
			t.Fatalf("A's breaker: %q; want closed>open, probes, then closed", s)
		}
	}
}

// stateLog records a circuit breaker's changes of state.
type stateLog struct {
	mu  sync.Mutex
	log []string
}

func (s *stateLog) add(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, from+">"+to)
}

func (s *stateLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, " ")
}

// newService is a Service on st with cache; lease 0 is the default.
func newService(t *testing.T, st *store.DB, cache fiveid.Cache, obs fiveid.Observer, lease time.Duration) *fiveid.Service {
	t.Helper()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: st, Grants: st, WebhookStore: st, Records: st, Statistics: st, Cache: cache, Scorer: sc, Observer: obs, CacheEpochLease: lease})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// flakyCache is an in-process cache that can be made to fail; what it
// held before comes back when it works again, as a Redis restarted from
// its own files does.
type flakyCache struct {
	*store.MemoryCache
	down atomic.Bool
}

var errCacheDown = errors.New("cache down")

func (c *flakyCache) Get(ctx context.Context, key string, deps []string) ([]byte, bool, string, error) {
	if c.down.Load() {
		return nil, false, "", errCacheDown
	}
	return c.MemoryCache.Get(ctx, key, deps)
}

func (c *flakyCache) Set(ctx context.Context, key, stamp string, val []byte) error {
	if c.down.Load() {
		return errCacheDown
	}
	return c.MemoryCache.Set(ctx, key, stamp, val)
}

func (c *flakyCache) Invalidate(ctx context.Context, deps []string) error {
	if c.down.Load() {
		return errCacheDown
	}
	return c.MemoryCache.Invalidate(ctx, deps)
}

// epochDownStore is a store whose cache epoch setting can be made
// unreadable and unwritable (the store failing right after a change
// committed).
type epochDownStore struct {
	*store.DB
	down atomic.Bool
}

func (s *epochDownStore) Setting(ctx context.Context, name string) (int64, bool, error) {
	if s.down.Load() && name == "cache_epoch" {
		return 0, false, fmt.Errorf("setting: %w", fiveid.ErrUnavailable)
	}
	return s.DB.Setting(ctx, name)
}

func (s *epochDownStore) Update(ctx context.Context, keys []string, fn func(tx fiveid.Tx) error) error {
	return s.DB.Update(ctx, keys, func(tx fiveid.Tx) error { return fn(epochDownTx{tx, s}) })
}

type epochDownTx struct {
	fiveid.Tx
	s *epochDownStore
}

func (t epochDownTx) PutSetting(ctx context.Context, name string, v int64) error {
	if t.s.down.Load() && name == "cache_epoch" {
		return fmt.Errorf("put setting: %w", fiveid.ErrUnavailable)
	}
	return t.Tx.PutSetting(ctx, name, v)
}

// When neither the cache nor the epoch can be changed, the change is
// committed but answered with an error. Until a raise of the epoch
// succeeds (retried in the background) this process uses no cached answer,
// and a repeat of the registration invalidates again.
func TestNoStaleAnswerWhenTheEpochCannotBeRaised(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := teststore.Embedded(t)
	st := &epochDownStore{DB: db}
	cache := &flakyCache{MemoryCache: store.NewMemoryCache(time.Hour, 1000)}
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	obs := &cacheObserver{}
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: st, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: cache, Scorer: sc, Observer: obs, CacheEpochLease: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	p := setup(t, svc, "hosp", "care")
	if _, err := svc.Register(ctx, p["hosp"], "P1", zhang); err != nil {
		t.Fatal(err)
	}
	identifyCached(t, svc, obs, p["care"], zhang)

	cache.down.Store(true)
	st.down.Store(true)
	if _, err := svc.Register(ctx, p["hosp"], "P1", li); !errors.Is(err, fiveid.ErrUnavailable) {
		t.Fatalf("register with neither cache nor epoch: %v; want ErrUnavailable", err)
	}
	// The cache is back with X's old answer; the epoch is still stuck.
	cache.down.Store(false)
	if res, err := svc.Identify(ctx, p["care"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
		t.Fatalf("identify X while the epoch could not be raised: %+v %v", res, err)
	}
	st.down.Store(false)
	n := obs.invalidated.Load()
	if y, err := svc.Register(ctx, p["hosp"], "P1", li); err != nil || !y.Unchanged {
		t.Fatalf("repeated register: %+v %v", y, err)
	}
	if obs.invalidated.Load() != n+1 {
		t.Fatal("the repeated registration did not invalidate")
	}
	deadline := time.Now().Add(10 * time.Second)
	for obs.raised.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if obs.raised.Load() == 0 {
		t.Fatal("the background retry did not raise the epoch")
	}
	if res, err := svc.Identify(ctx, p["care"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
		t.Fatalf("identify X after the epoch was raised: %+v %v", res, err)
	}
	identifyCached(t, svc, obs, p["care"], li) // cached answers count again
}
