package fiveid

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The key memo holds at most its bound, keeping the latest reads, and a
// key no longer than a lease from the start of the read that fetched it.
func TestKeyMemoIsBoundedAndLeased(t *testing.T) {
	t.Parallel()
	m := newKeyMemo(time.Second)
	m.max = 64
	t0 := time.Now()
	hash := func(i int) [sha256.Size]byte { return sha256.Sum256([]byte(strconv.Itoa(i))) }
	for i := range 1000 {
		m.put(hash(i), APIKey{ID: "k" + strconv.Itoa(i)}, t0.Add(time.Duration(i)*time.Microsecond))
		if len(m.m) > m.max {
			t.Fatalf("after %d keys the memo holds %d; bound %d", i+1, len(m.m), m.max)
		}
	}
	last := t0.Add(999 * time.Microsecond)
	if k, ok := m.get(hash(999), last); !ok || k.ID != "k999" {
		t.Fatalf("the latest key was dropped: %+v %v", k, ok)
	}
	if _, ok := m.get(hash(0), last); ok {
		t.Fatal("the oldest key is still held")
	}
	if _, ok := m.get(hash(999), last.Add(time.Second)); ok {
		t.Fatal("a key is used a lease after the read that fetched it started")
	}
	// A read that started earlier never replaces a later one's key.
	m.put(hash(999), APIKey{ID: "stale"}, t0)
	if k, _ := m.get(hash(999), last); k.ID != "k999" {
		t.Fatalf("an earlier read replaced a later one: %+v", k)
	}
	m.forget("k999")
	if _, ok := m.get(hash(999), last); ok {
		t.Fatal("a forgotten key is still held")
	}
}

// Requests that find a key's lease run out together share one read of it;
// an unknown key is read each time.
func TestKeyMemoSharesAReadInFlight(t *testing.T) {
	t.Parallel()
	m := newKeyMemo(time.Minute)
	h := sha256.Sum256([]byte("secret"))
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(context.Context) (APIKey, error) {
		loads.Add(1)
		<-release
		return APIKey{ID: "k1"}, nil
	}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if k, err := m.read(t.Context(), h, m.now(), load); err != nil || k.ID != "k1" {
				t.Errorf("read: %+v %v", k, err)
			}
		})
	}
	for deadline := time.Now().Add(5 * time.Second); loads.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others find the read in flight
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("32 requests read the key %d times; want 1", n)
	}
	unknown := func(context.Context) (APIKey, error) { loads.Add(1); return APIKey{}, ErrNotFound }
	other := sha256.Sum256([]byte("unknown"))
	for range 2 {
		if _, err := m.read(t.Context(), other, m.now(), unknown); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	}
	if n := loads.Load(); n != 3 {
		t.Fatalf("an unknown key was read %d times in 2 requests; want 2 (never memoized)", n-1)
	}
}
