package fiveid

import (
	"context"
	"sync"
	"time"
)

// memo is a small per-service read-through cache for data that changes
// rarely and may be slightly stale: systems (their ID-type table) and name
// statistics (term frequencies move slowly). It is bounded and expires.
type memo[V any] struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]memoEntry[V]
}

type memoEntry[V any] struct {
	v   V
	exp time.Time
}

func newMemo[V any](ttl time.Duration, max int) *memo[V] {
	return &memo[V]{ttl: ttl, max: max, entries: map[string]memoEntry[V]{}}
}

func (m *memo[V]) get(ctx context.Context, key string, now time.Time, load func(context.Context) (V, error)) (V, error) {
	m.mu.Lock()
	e, ok := m.entries[key]
	m.mu.Unlock()
	if ok && now.Before(e.exp) {
		return e.v, nil
	}
	v, err := load(ctx)
	if err != nil {
		return v, err
	}
	m.mu.Lock()
	if len(m.entries) >= m.max {
		for k := range m.entries { // drop an arbitrary eighth
			delete(m.entries, k)
			if len(m.entries) < m.max*7/8 {
				break
			}
		}
	}
	m.entries[key] = memoEntry[V]{v: v, exp: now.Add(m.ttl)}
	m.mu.Unlock()
	return v, nil
}

func (m *memo[V]) forget(key string) {
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
}

// system returns a registered system, memoized for a few seconds.
func (s *Service) system(ctx context.Context, code string) (System, error) {
	return s.systems.get(ctx, code, s.now(), func(ctx context.Context) (System, error) { return s.store.System(ctx, code) })
}

type nameFreq struct{ n, total int64 }

// nameFrequency is CandidateIndex.NameFrequency memoized for a few seconds outside
// transactions: term-frequency weights need the order of magnitude, not
// the last record.
func (s *Service) nameFrequency(ctx context.Context, r CandidateIndex, key string) (int64, int64, error) {
	if r != CandidateIndex(s.store) {
		return r.NameFrequency(ctx, key)
	}
	f, err := s.names.get(ctx, key, s.now(), func(ctx context.Context) (nameFreq, error) {
		n, t, err := s.store.NameFrequency(ctx, key)
		return nameFreq{n, t}, err
	})
	return f.n, f.total, err
}
