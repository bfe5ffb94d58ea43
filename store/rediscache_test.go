package store_test

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
	"fiveid/store"
	"fiveid/store/storetest"
)

// A Redis that crashes and starts again from its files may have lost
// acknowledged writes: here an invalidation made after its last RDB
// snapshot. The snapshot brings back the old value together with the
// tokens it was stamped with; it must not hit.
func TestRedisCacheRestartedWithLostInvalidation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rs := storetest.StartRedisServer(t, "--appendonly", "no", "--save", "")
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr(), DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { rc.Close() })
	c := store.NewRedisCache(rc, "fiveid", time.Hour, store.Breaker{})
	deps := []string{"d1", "d2"}

	_, _, stamp, err := c.Get(ctx, "q", deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "q", stamp, []byte("old")); err != nil {
		t.Fatal(err)
	}
	if v, hit, _, err := c.Get(ctx, "q", deps); !hit || string(v) != "old" || err != nil {
		t.Fatalf("before the snapshot: %q %v %v", v, hit, err)
	}
	if err := rc.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(ctx, []string{"d2"}); err != nil {
		t.Fatal(err)
	}
	if _, hit, _, _ := c.Get(ctx, "q", deps); hit {
		t.Fatal("hit after the invalidation")
	}
	rs.Kill()
	rs.Start()

	// Proof that the snapshot is what it should be: the old value and
	// its tokens are back.
	if n, err := rc.Exists(ctx, "fiveid:v1:val:q").Result(); err != nil || n != 1 {
		t.Fatalf("the snapshot did not bring the value back (%d, %v): the test proves nothing", n, err)
	}
	for range 3 { // whichever connection answers
		v, hit, _, err := c.Get(ctx, "q", deps)
		if hit {
			t.Fatalf("the value the lost invalidation dropped hit again: %q", v)
		}
		if err != nil {
			t.Logf("get after the restart: %v", err)
		}
	}
	// The cache works on the restarted server.
	_, _, stamp, err = c.Get(ctx, "q", deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "q", stamp, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, hit, _, err := c.Get(ctx, "q", deps); !hit || string(v) != "new" || err != nil {
		t.Fatalf("after the restart: %q %v %v", v, hit, err)
	}
}

// cmdCounter is a go-redis hook counting the commands the client sends
// (or tries to), n, and the round trips they make, trips: a command, or a
// pipeline whatever it carries.
type cmdCounter struct{ n, trips atomic.Int64 }

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		h.trips.Add(1)
		return next(ctx, cmd)
	}
}
func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		h.trips.Add(1)
		return next(ctx, cmds)
	}
}

// stateLog records a breaker's changes of state.
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

// With Redis down, the cache fails fast: after Failures failed operations
// in a row it stops asking Redis (every operation returns ErrCacheSkipped
// at once — an invalidation too: it is a failure, never a success), lets
// exactly one probe through after the cooldown, and closes again once
// Redis answers a probe. A caller that gave up counts as no failure.
func TestRedisCacheBreaker(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rs := storetest.StartRedisServer(t, "--appendonly", "no", "--save", "")
	rc, err := store.OpenRedis(ctx, "redis://"+rs.Addr(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	sent := &cmdCounter{}
	rc.AddHook(sent)
	states := &stateLog{}
	const cooldown = 300 * time.Millisecond
	c := store.NewRedisCache(rc, "fiveid", time.Hour, store.Breaker{Failures: 3, Cooldown: cooldown, OnChange: states.add})
	deps := []string{"d"}
	_, _, stamp, err := c.Get(ctx, "q", deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "q", stamp, []byte("v")); err != nil {
		t.Fatal(err)
	}

	rs.Kill()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	for range 10 {
		if _, _, _, err := c.Get(gone, "q", deps); err == nil || errors.Is(err, fiveid.ErrCacheSkipped) {
			t.Fatalf("get by a caller that gave up, Redis down: %v; want a failure", err)
		}
	}
	if s := states.String(); s != "" {
		t.Fatalf("callers that gave up changed the breaker: %s", s)
	}
	for i := range 3 {
		_, hit, _, err := c.Get(ctx, "q", deps)
		if hit || err == nil || errors.Is(err, fiveid.ErrCacheSkipped) {
			t.Fatalf("get %d, Redis down: hit %v, %v; want a failure", i, hit, err)
		}
	}
	if s := states.String(); s != "closed>open" {
		t.Fatalf("after 3 failures the breaker went %q, want closed>open", s)
	}
	before := sent.n.Load()
	for range 100 {
		if _, hit, _, err := c.Get(ctx, "q", deps); hit || !errors.Is(err, fiveid.ErrCacheSkipped) {
			t.Fatalf("get with the breaker open: hit %v, %v; want skipped", hit, err)
		}
	}
	if err := c.Invalidate(ctx, deps); !errors.Is(err, fiveid.ErrCacheSkipped) {
		t.Fatalf("invalidate with the breaker open: %v; want skipped (a failure)", err)
	}
	if err := c.Set(ctx, "q", stamp, []byte("v")); !errors.Is(err, fiveid.ErrCacheSkipped) {
		t.Fatalf("set with the breaker open: %v; want skipped", err)
	}
	if n := sent.n.Load() - before; n != 0 {
		t.Fatalf("%d commands went to Redis with the breaker open", n)
	}

	// Half open, Redis still down: one probe, the others skipped.
	time.Sleep(cooldown + 50*time.Millisecond)
	var wg sync.WaitGroup
	var probes, skipped atomic.Int64
	for range 20 {
		wg.Go(func() {
			_, _, _, err := c.Get(ctx, "q", deps)
			switch {
			case errors.Is(err, fiveid.ErrCacheSkipped):
				skipped.Add(1)
			case err != nil:
				probes.Add(1)
			}
		})
	}
	wg.Wait()
	if probes.Load() != 1 || skipped.Load() != 19 {
		t.Fatalf("half open: %d probes and %d skipped of 20; want 1 and 19", probes.Load(), skipped.Load())
	}
	if s := states.String(); s != "closed>open open>half_open half_open>open" {
		t.Fatalf("states %q", s)
	}

	// Redis is back: the next probe closes the breaker.
	rs.Start()
	time.Sleep(cooldown + 50*time.Millisecond)
	if _, _, _, err := c.Get(ctx, "q", deps); err != nil {
		t.Fatalf("the probe after Redis came back: %v", err)
	}
	_, _, stamp, err = c.Get(ctx, "q", deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "q", stamp, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if v, hit, _, err := c.Get(ctx, "q", deps); !hit || string(v) != "again" || err != nil {
		t.Fatalf("after the breaker closed: %q %v %v", v, hit, err)
	}
	if s := states.String(); !strings.HasSuffix(s, "open>half_open half_open>closed") {
		t.Fatalf("states %q; want closed at the end", s)
	}
}

// cmdNamed counts the commands of one name the client sends.
type cmdNamed struct {
	name string
	n    atomic.Int64
}

func (h *cmdNamed) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cmdNamed) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == h.name {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *cmdNamed) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// When Redis dies under load, every request in flight meets a new, failed
// connection and needs the boot check; they must not each ask the dead
// server in turn behind the check's lock (a stall of one failed round trip
// per request: identify fell to 4% with 64 callers). A caller that waited
// for a failed check fails with it.
func TestRedisCacheBootCheckFailsTogether(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rs := storetest.StartRedisServer(t, "--appendonly", "no", "--save", "")
	rc, err := store.OpenRedis(ctx, "redis://"+rs.Addr(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	infos := &cmdNamed{name: "info"}
	rc.AddHook(infos)
	// A breaker that never opens: this is about the requests already
	// past it.
	c := store.NewRedisCache(rc, "fiveid", time.Hour, store.Breaker{Failures: 1 << 20})
	deps := []string{"d"}
	var wg sync.WaitGroup
	for range 64 { // 64 callers fill the pool (a miss meanwhile is fine)
		wg.Go(func() {
			for range 20 {
				c.Get(ctx, "q", deps)
			}
		})
	}
	wg.Wait()
	rs.Kill()
	before := infos.n.Load()
	start := make(chan struct{})
	var failed atomic.Int64
	for range 64 {
		wg.Go(func() {
			<-start
			if _, _, _, err := c.Get(ctx, "q", deps); err != nil {
				failed.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if failed.Load() != 64 {
		t.Fatalf("%d of 64 gets failed with Redis down", failed.Load())
	}
	if n := infos.n.Load() - before; n > 8 {
		t.Fatalf("64 requests in flight when Redis died made %d boot checks; want a few, shared", n)
	}
}

// Concurrent lookups share round trips (a pipeline carries the lookups
// that arrived while the previous one was out), and each still gets its
// own answer: its value, hit or miss by its own dependencies.
func TestRedisCacheBatchesConcurrentLookups(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rc, err := store.OpenRedis(ctx, storetest.RedisURL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	c := store.NewRedisCache(rc, storetest.Prefix(t, rc), time.Hour, store.Breaker{})
	const callers, rounds = 64, 50
	deps := func(i int) []string { return []string{fmt.Sprintf("d%d", i), "shared"} }
	for i := range callers {
		k := fmt.Sprintf("q%d", i)
		_, _, stamp, err := c.Get(ctx, k, deps(i))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, k, stamp, []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 { // the odd ones miss from now on
			if err := c.Invalidate(ctx, []string{fmt.Sprintf("d%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sent := &cmdCounter{}
	rc.AddHook(sent)
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range callers {
		wg.Go(func() {
			k := fmt.Sprintf("q%d", i)
			for range rounds {
				v, hit, stamp, err := c.Get(ctx, k, deps(i))
				if err != nil || hit != (i%2 == 0) || hit && string(v) != "v"+k || stamp == "" {
					wrong.Add(1)
					t.Errorf("lookup %s: %q hit %v stamp %q %v", k, v, hit, stamp, err)
				}
			}
		})
	}
	wg.Wait()
	if wrong.Load() > 0 {
		return
	}
	if n := sent.trips.Load(); n > callers*rounds/2 {
		t.Fatalf("%d lookups made %d round trips; want them shared", callers*rounds, n)
	} else {
		t.Logf("%d lookups, %d round trips", callers*rounds, n)
	}
}
