package fiveid

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// epochStore holds only the cache epoch setting; onRead runs inside every
// read, after the value was taken (a read that returns an old value late).
type epochStore struct {
	Store
	mu     sync.Mutex
	v      int64
	reads  int
	down   bool
	onRead func()
}

var errStoreDown = errors.New("store down")

func (s *epochStore) Setting(_ context.Context, name string) (int64, bool, error) {
	s.mu.Lock()
	v, down, hook := s.v, s.down, s.onRead
	s.reads++
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	if down {
		return 0, false, errStoreDown
	}
	return v, v != 0, nil
}

func (s *epochStore) Update(ctx context.Context, _ []string, fn func(Tx) error) error {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return errStoreDown
	}
	return fn(epochTx{s: s})
}

func (s *epochStore) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }
func (s *epochStore) get() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.v }
func (s *epochStore) setDown(d bool) {
	s.mu.Lock()
	s.down = d
	s.mu.Unlock()
}

type epochTx struct {
	Tx
	s *epochStore
}

func (t epochTx) PutSetting(_ context.Context, name string, v int64) error {
	if name != settingCacheEpoch {
		return errors.New("unexpected setting " + name)
	}
	t.s.mu.Lock()
	t.s.v = v
	t.s.mu.Unlock()
	return nil
}

// testClock is a monotonic clock tests move; sleep moves it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) sleep(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testLease = 250 * time.Millisecond

// process is one serve process's epoch memo on the shared store and clock.
func process(st *epochStore, clock *testClock) *cacheEpoch {
	e := newCacheEpoch(st, testLease, slog.New(slog.DiscardHandler), nopObserver{})
	e.now, e.sleep = clock.now, clock.sleep
	return e
}

func mustCurrent(t *testing.T, e *cacheEpoch) int64 {
	t.Helper()
	v, err := e.current(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCacheEpochMemoLastsOneLease(t *testing.T) {
	st, clock := &epochStore{v: 7}, &testClock{t: time.Unix(1000, 0)}
	e := process(st, clock)
	if v := mustCurrent(t, e); v != 7 || st.count() != 1 {
		t.Fatalf("first read: %d after %d reads", v, st.count())
	}
	clock.sleep(testLease - time.Nanosecond)
	mustCurrent(t, e)
	if st.count() != 1 {
		t.Fatalf("the store was read again within the lease: %d reads", st.count())
	}
	clock.sleep(time.Nanosecond)
	mustCurrent(t, e)
	if st.count() != 2 {
		t.Fatalf("the memo outlived its lease: %d reads", st.count())
	}
}

// The lease runs from the start of the read: a slow read leaves less of it.
func TestCacheEpochLeaseStartsWithTheRead(t *testing.T) {
	st, clock := &epochStore{v: 7}, &testClock{t: time.Unix(1000, 0)}
	st.onRead = func() { clock.sleep(200 * time.Millisecond) }
	e := process(st, clock)
	mustCurrent(t, e)
	st.onRead = nil
	clock.sleep(testLease - 200*time.Millisecond)
	mustCurrent(t, e)
	if st.count() != 2 {
		t.Fatalf("a memo was trusted %v after its read started: %d reads", testLease, st.count())
	}
}

// The lease argument, played out: whenever process P last read the epoch,
// and however late that read returned, once writer W's raise has returned,
// P's next request sees the new epoch.
func TestCacheEpochRaiseReachesEveryProcess(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before runs P's reads before W raises; it returns the value P
		// must no longer use.
		before func(t *testing.T, p, w *cacheEpoch, st *epochStore, clock *testClock) int64
	}{
		{"P read just before", func(t *testing.T, p, _ *cacheEpoch, _ *epochStore, _ *testClock) int64 {
			return mustCurrent(t, p)
		}},
		{"P read a lease minus a tick before", func(t *testing.T, p, _ *cacheEpoch, _ *epochStore, clock *testClock) int64 {
			v := mustCurrent(t, p)
			clock.sleep(testLease - time.Nanosecond)
			return v
		}},
		{"P's read returns the old epoch after W committed", func(t *testing.T, p, w *cacheEpoch, st *epochStore, _ *testClock) int64 {
			old := st.get()
			st.onRead = func() {
				st.onRead = nil
				if err := w.raise(t.Context()); err != nil {
					t.Error(err)
				}
			}
			if v := mustCurrent(t, p); v != old {
				t.Fatalf("the late read returned %d, want the old %d", v, old)
			}
			return old
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, clock := &epochStore{v: 7}, &testClock{t: time.Unix(1000, 0)}
			p, w := process(st, clock), process(st, clock)
			old := tc.before(t, p, w, st, clock)
			if st.get() == old {
				if err := w.raise(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if st.get() == old {
				t.Fatal("the raise wrote the old epoch again")
			}
			if v := mustCurrent(t, p); v != st.get() {
				t.Fatalf("after the raise returned, P used epoch %d; the store has %d", v, st.get())
			}
		})
	}
}

func TestCacheEpochRaiseWaitsOneLease(t *testing.T) {
	st, clock := &epochStore{v: 7}, &testClock{t: time.Unix(1000, 0)}
	e := process(st, clock)
	mustCurrent(t, e)
	start := clock.now()
	if err := e.raise(t.Context()); err != nil {
		t.Fatal(err)
	}
	if waited := clock.now().Sub(start); waited != testLease {
		t.Fatalf("the raise waited %v, want the lease %v", waited, testLease)
	}
	if v := mustCurrent(t, e); v != st.get() || v == 7 {
		t.Fatalf("epoch %d after the raise; the store has %d", v, st.get())
	}
}

// A failed read is an error (the caller does not use the cache), never a
// memo.
func TestCacheEpochFailedReadIsNotMemoized(t *testing.T) {
	st, clock := &epochStore{v: 7, down: true}, &testClock{t: time.Unix(1000, 0)}
	e := process(st, clock)
	if _, err := e.current(t.Context()); !errors.Is(err, errStoreDown) {
		t.Fatalf("read with the store down: %v", err)
	}
	st.setDown(false)
	if v := mustCurrent(t, e); v != 7 || st.count() != 2 {
		t.Fatalf("after the store came back: %d after %d reads", v, st.count())
	}
}

// A read in flight serves the callers that arrive while it runs, as long
// as it started less than a lease before they asked.
func TestCacheEpochSharesAReadInFlight(t *testing.T) {
	st, clock := &epochStore{v: 7}, &testClock{t: time.Unix(1000, 0)}
	e := process(st, clock)
	release := make(chan struct{})
	started := make(chan struct{})
	st.onRead = func() { close(started); <-release }
	var wg sync.WaitGroup
	wg.Go(func() { mustCurrent(t, e) })
	<-started
	st.mu.Lock()
	st.onRead = nil
	st.mu.Unlock()
	for range 8 {
		wg.Go(func() { mustCurrent(t, e) })
	}
	// Callers still arriving share the read or find its memo; none reads.
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	if st.count() != 1 {
		t.Fatalf("9 concurrent callers read the store %d times", st.count())
	}

	// A read in flight for a lease or more is too old to share.
	clock.sleep(testLease)
	release = make(chan struct{})
	started = make(chan struct{})
	st.mu.Lock()
	st.onRead = func() { close(started); <-release }
	st.mu.Unlock()
	wg.Go(func() { mustCurrent(t, e) })
	<-started
	st.mu.Lock()
	st.onRead = nil
	st.mu.Unlock()
	clock.sleep(testLease)
	mustCurrent(t, e)
	if st.count() != 3 {
		t.Fatalf("a caller shared a read that started a lease before it asked: %d reads", st.count())
	}
	close(release)
	wg.Wait()
}

// A raise that cannot be written leaves the cache unused in this process
// until a retry succeeds.
func TestCacheEpochFailedRaiseIsRetried(t *testing.T) {
	st := &epochStore{v: 7, down: true}
	e := newCacheEpoch(st, time.Millisecond, slog.New(slog.DiscardHandler), nopObserver{})
	t.Cleanup(e.close)
	if err := e.raise(t.Context()); !errors.Is(err, errStoreDown) {
		t.Fatalf("raise with the store down: %v", err)
	}
	if _, err := e.current(t.Context()); !errors.Is(err, errEpochPending) {
		t.Fatalf("current with a raise pending: %v", err)
	}
	st.setDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for st.get() == 7 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st.get() == 7 {
		t.Fatal("the raise was not retried")
	}
	if v := mustCurrent(t, e); v != st.get() {
		t.Fatalf("epoch %d after the retry; the store has %d", v, st.get())
	}
}

// BenchmarkCacheEpochCurrent is what the epoch adds to a cache hit: a
// memo within its lease.
func BenchmarkCacheEpochCurrent(b *testing.B) {
	e := newCacheEpoch(&epochStore{v: 7}, time.Hour, slog.New(slog.DiscardHandler), nopObserver{})
	ctx := b.Context()
	for b.Loop() {
		if _, err := e.current(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
