package fiveid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// The cache epoch: an answer cached before a change whose invalidation
// failed is never served again.
//
// Cached identify answers live under keys that include the cache epoch, a
// number kept in the store (setting cache_epoch). When a use case has
// changed the index and the cache could not drop the answers that depended
// on the change (Redis down, unreachable from this process, timing out),
// the use case writes a fresh epoch to the store before it answers: every
// answer cached under an earlier epoch is then out of reach wherever it
// survives — in a Redis that comes back from its own AOF or RDB file, or in
// one that only this process could not reach. The epoch is read before the
// answer is computed, so an answer is never keyed with an epoch newer than
// the data it was computed from.
//
// Reading the store on every cache hit would cost the round trip the cache
// saves, so each process memoizes the epoch for a lease L
// (Config.CacheEpochLease), counted from the START of the read that
// fetched it, and a use case that raised the epoch waits L after the raise
// committed before it answers. Lease argument: the raise commits at tb and
// the use case answers at ta ≥ tb + L. A request that starts after ta, in
// any process, uses an epoch only if the read that fetched it started less
// than L before the request asked for it, so after ta − L ≥ tb: that read
// began after the raise committed and returned the new epoch. Only
// durations are compared, each on one machine's monotonic clock: the
// processes' clocks need not agree on the time, only on its pace. Every
// process sharing a store must therefore use the same L.
//
// A raise writes a fresh random value rather than adding one: two raises at
// once cannot write the same value, so neither is lost, without a lock.
// When the raise fails too (the store is down), the use case fails — its
// change is committed, and a repeat invalidates again — and this process
// uses no cached answer until a raise succeeds, retrying every L in the
// background. Another process may serve an answer cached before the change
// from the moment the store is back until that retry lands, plus L; if this
// process dies first, until the answer's TTL ends. That needs Redis and the
// store to fail around the same write.
//
// During a Redis outage the cache's circuit breaker fails every
// invalidation at once (ErrCacheSkipped), so every change raises the epoch
// and waits L: a registration takes about L plus one store write instead of
// Redis's timeouts. Each change must raise again, even while this process
// already ignores the cache: the breaker is this process's view, and
// another process that still reaches Redis may have cached answers under
// the current epoch since the last raise — only a fresh one puts them out
// of reach. Changes at once wait their leases side by side: the cost is
// latency, not throughput. (Raises at once could share one write, when it
// starts after each of their commits; that would save writes to one row,
// not the wait.)

// settingCacheEpoch names the store setting holding the cache epoch.
const settingCacheEpoch = "cache_epoch"

// DefaultCacheEpochLease is Config.CacheEpochLease's default: short,
// since a change waits this long only while the cache fails, and a process
// reads the epoch at most once per lease.
const DefaultCacheEpochLease = 250 * time.Millisecond

// errEpochPending: a raise failed and has not been retried successfully;
// no cached answer counts meanwhile.
var errEpochPending = errors.New("cache epoch: a raise is pending: the cache is not used")

type cacheEpoch struct {
	store Store
	lease time.Duration
	log   *slog.Logger
	obs   Observer
	// now is the real monotonic clock, never Config.Clock: the lease
	// compares durations measured by different processes. sleep waits on
	// the same clock.
	now   func() time.Time
	sleep func(time.Duration)

	mu       sync.Mutex
	v        int64
	at       time.Time  // start of the read that fetched v; zero: no memo
	read     *epochRead // the read in flight, shared by callers meanwhile
	pending  bool       // a raise failed: see errEpochPending
	retrying bool
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type epochRead struct {
	start time.Time
	done  chan struct{}
	v     int64
	err   error
}

func newCacheEpoch(st Store, lease time.Duration, log *slog.Logger, obs Observer) *cacheEpoch {
	return &cacheEpoch{store: st, lease: lease, log: log, obs: obs,
		now: time.Now, sleep: time.Sleep, stop: make(chan struct{})}
}

// current returns the cache epoch, memoized for the lease.
func (e *cacheEpoch) current(ctx context.Context) (int64, error) {
	asked := e.now()
	e.mu.Lock()
	if e.pending {
		e.mu.Unlock()
		return 0, errEpochPending
	}
	if !e.at.IsZero() && asked.Sub(e.at) < e.lease {
		v := e.v
		e.mu.Unlock()
		return v, nil
	}
	// A read in flight will do if it started less than L ago, as a memo
	// would; otherwise start one.
	if r := e.read; r != nil && asked.Sub(r.start) < e.lease {
		e.mu.Unlock()
		select {
		case <-r.done:
			return r.v, r.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	r := &epochRead{start: asked, done: make(chan struct{})}
	e.read = r
	e.mu.Unlock()

	r.v, _, r.err = e.store.Setting(ctx, settingCacheEpoch)
	e.mu.Lock()
	if e.read == r { // not superseded by a raise meanwhile
		e.read = nil
		if r.err == nil {
			e.v, e.at = r.v, r.start
		}
	}
	e.mu.Unlock()
	close(r.done)
	return r.v, r.err
}

// raise writes a fresh epoch and returns once every process's memo
// postdates it (L after its commit). When the write fails, the raise stays
// pending and is retried in the background.
func (e *cacheEpoch) raise(ctx context.Context) error {
	if err := e.write(ctx); err != nil {
		e.mu.Lock()
		e.pending = true
		if !e.retrying {
			e.retrying = true
			e.wg.Add(1)
			go e.retry()
		}
		e.mu.Unlock()
		return err
	}
	e.obs.CacheInvalidation(invalidationEpochRaised)
	e.sleep(e.lease)
	return nil
}

func (e *cacheEpoch) write(ctx context.Context) error {
	v := 1 + rand.Int64N(math.MaxInt64-1) // 0 is the epoch of a store that never had one
	err := e.store.Update(ctx, nil, func(tx Tx) error { return tx.PutSetting(ctx, settingCacheEpoch, v) })
	if err != nil {
		return err
	}
	e.mu.Lock()
	// Forget the old epoch here at once (other processes within L).
	e.pending, e.at, e.read = false, time.Time{}, nil
	e.mu.Unlock()
	return nil
}

// retry raises the epoch every lease until a raise succeeds (this one or
// another use case's) or the service closes.
func (e *cacheEpoch) retry() {
	defer e.wg.Done()
	for {
		select {
		case <-e.stop:
			return
		case <-time.After(e.lease):
		}
		e.mu.Lock()
		if !e.pending {
			e.retrying = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := e.write(ctx)
		cancel()
		if err == nil {
			e.obs.CacheInvalidation(invalidationEpochRaised)
			e.log.LogAttrs(context.Background(), slogWarn, "cache epoch raised by the background retry: cached answers count again")
		}
	}
}

func (e *cacheEpoch) close() {
	e.stopOnce.Do(func() { close(e.stop) })
	e.wg.Wait()
}

// raiseEpoch is what a change does when it could not invalidate the
// answers it makes stale (cause): it raises the cache epoch, or fails when
// it cannot.
func (s *Service) raiseEpoch(ctx context.Context, cause error) error {
	if err := s.epoch.raise(ctx); err != nil {
		s.obs.CacheInvalidation(invalidationFailed)
		return fmt.Errorf("the change is committed, but the cache could not drop the answers it makes stale (%v) nor the cache epoch be raised (%v): repeat the request: %w",
			cause, err, ErrUnavailable)
	}
	s.log.LogAttrs(ctx, slogWarn, "cache invalidation failed: cache epoch raised", attr("error", cause.Error()))
	return nil
}

// invalidateCustomers is invalidateAnswers for keys and for every record of
// the customers ids ("" skipped) as they are now. A decision reads each
// candidate customer whole — a record holding another valid identifier caps
// it at possible even when it shares no key with the query — so an answer
// that found any record of a customer may change with any change to its
// records.
func (s *Service) invalidateCustomers(ctx context.Context, keys []string, ids ...string) error {
	ctx = context.WithoutCancel(ctx)
	var known []string
	for _, id := range ids {
		if id != "" && !slices.Contains(known, id) {
			known = append(known, id)
		}
	}
	more, err := s.customerKeys(ctx, known...)
	if err != nil {
		// Which answers depended on them is unknown: all of them, then.
		return s.raiseEpoch(ctx, fmt.Errorf("the customers' records: %w", err))
	}
	return s.invalidateAnswers(ctx, union(keys, more))
}

// Outcomes of an invalidation (Observer.CacheInvalidation).
const (
	invalidationOK          = "ok"           // the cache dropped the answers
	invalidationEpochRaised = "epoch_raised" // the cache failed; the epoch was raised
	invalidationFailed      = "failed"       // raising failed too: the use case failed
)
