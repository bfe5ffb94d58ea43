package fiveid

import (
	"crypto/sha256"
	"strconv"
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
