package fiveid

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// API keys are memoized in each process under a lease, by the argument of
// the cache epoch (cacheepoch.go): reading the key on every request was a
// PostgreSQL round trip per request, an eighth of a cache hit's CPU.
//
// A process keeps a key it read for at most L (Config.CacheEpochLease),
// counted from the START of the read that fetched it, and every use case
// that makes a key stop working waits L after its commit before it
// answers. Revoking is the only such change: a key's hash, role and system
// never change, and nothing else deletes a key (the admin API, the
// console and the command line all revoke through Service.RevokeKey). So
// once RevokeKey has answered, no process accepts the key: a request that
// starts after the answer at ta, in any process, uses a memoized key only
// if the read that fetched it started after ta − L ≥ the commit, and that
// read saw the key revoked. As for the epoch, only durations are compared,
// each on one machine's monotonic clock, and every process sharing a store
// must use the same L. The lease is the cache epoch's own setting: both are
// "how stale may this process's copy of a row be", the rule that every
// process must agree on it is the same, and one number is one thing to
// keep equal across processes.
//
// Only keys the store holds are memoized (a revoked key too: it never
// becomes active again). An unknown secret is never memoized, so a key
// works as soon as CreateKey has answered.

// maxKeyMemo bounds the memo: keys are made by admins, so a few thousand
// cover any deployment; past it the oldest reads are dropped first.
const maxKeyMemo = 4096

type keyMemo struct {
	lease time.Duration
	max   int
	// now is the real monotonic clock, never Config.Clock (see above);
	// sleep waits on the same clock.
	now   func() time.Time
	sleep func(time.Duration)

	mu sync.Mutex
	m  map[[sha256.Size]byte]keyMemoEntry
	// reads in flight, by hash: the requests that find a key's lease run
	// out together (all of them, under load) share one read.
	reads map[[sha256.Size]byte]*keyRead
}

type keyRead struct {
	start time.Time
	done  chan struct{}
	k     APIKey
	err   error
}

type keyMemoEntry struct {
	k  APIKey
	at time.Time // start of the read that fetched k
}

func newKeyMemo(lease time.Duration) *keyMemo {
	return &keyMemo{lease: lease, max: maxKeyMemo, now: time.Now, sleep: time.Sleep,
		m: map[[sha256.Size]byte]keyMemoEntry{}, reads: map[[sha256.Size]byte]*keyRead{}}
}

// get returns the key with this hash when it was read less than a lease
// before asked.
func (m *keyMemo) get(h [sha256.Size]byte, asked time.Time) (APIKey, bool) {
	m.mu.Lock()
	e, ok := m.m[h]
	m.mu.Unlock()
	if !ok || asked.Sub(e.at) >= m.lease {
		return APIKey{}, false
	}
	return e.k, true
}

// read returns the key with this hash, asked at asked: from the memo, or
// from a read in flight that started less than a lease before asked (as
// good as a memo), or from a read of its own. An unknown key is
// ErrNotFound and is not memoized.
func (m *keyMemo) read(ctx context.Context, h [sha256.Size]byte, asked time.Time, load func(context.Context) (APIKey, error)) (APIKey, error) {
	m.mu.Lock()
	if e, ok := m.m[h]; ok && asked.Sub(e.at) < m.lease {
		m.mu.Unlock()
		return e.k, nil
	}
	if r := m.reads[h]; r != nil && asked.Sub(r.start) < m.lease {
		m.mu.Unlock()
		select {
		case <-r.done:
			return r.k, r.err
		case <-ctx.Done():
			return APIKey{}, ctx.Err()
		}
	}
	r := &keyRead{start: asked, done: make(chan struct{})}
	m.reads[h] = r
	m.mu.Unlock()

	r.k, r.err = load(ctx)
	m.mu.Lock()
	if m.reads[h] == r {
		delete(m.reads, h)
	}
	m.mu.Unlock()
	if r.err == nil {
		m.put(h, r.k, r.start)
	}
	close(r.done)
	return r.k, r.err
}

// put keeps k, read by a read that started at at.
func (m *keyMemo) put(h [sha256.Size]byte, k APIKey, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.m[h]; ok && old.at.After(at) {
		return // a later read got there first
	}
	if len(m.m) >= m.max {
		m.evictLocked(at)
	}
	m.m[h] = keyMemoEntry{k: k, at: at}
}

// evictLocked drops the entries whose lease has run out, and when that is
// not enough, the oldest reads until an eighth is free.
func (m *keyMemo) evictLocked(now time.Time) {
	type aged struct {
		h  [sha256.Size]byte
		at time.Time
	}
	var live []aged
	for h, e := range m.m {
		if now.Sub(e.at) >= m.lease {
			delete(m.m, h)
		} else {
			live = append(live, aged{h, e.at})
		}
	}
	if len(live) <= m.max*7/8 {
		return
	}
	slices.SortFunc(live, func(a, b aged) int { return a.at.Compare(b.at) })
	for _, a := range live[:len(live)-m.max*7/8] {
		delete(m.m, a.h)
	}
}

// forget drops the key with this ID, so that this process stops accepting
// it at once (the others within the lease).
func (m *keyMemo) forget(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, e := range m.m {
		if e.k.ID == id {
			delete(m.m, h)
		}
	}
}

// Authenticate resolves an API key secret to its principal.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, fmt.Errorf("missing API key: %w", ErrUnauthenticated)
	}
	h := hashSecret(secret)
	k, err := s.keys.read(ctx, h, s.keys.now(), func(ctx context.Context) (APIKey, error) { return s.store.KeyByHash(ctx, h[:]) })
	if errors.Is(err, ErrNotFound) {
		return Principal{}, fmt.Errorf("unknown API key: %w", ErrUnauthenticated)
	}
	if err != nil {
		return Principal{}, fmt.Errorf("authenticate: %w", err)
	}
	if !k.Active() {
		return Principal{}, fmt.Errorf("revoked API key: %w", ErrUnauthenticated)
	}
	return Principal{KeyID: k.ID, Role: k.Role, System: k.System}, nil
}

// keyStopped is what a change that makes a key stop working does after
// it committed and before it answers: forget the key here, and wait until
// every process's memo of it postdates the commit.
func (s *Service) keyStopped(id string) {
	s.keys.forget(id)
	s.keys.sleep(s.keys.lease)
}
