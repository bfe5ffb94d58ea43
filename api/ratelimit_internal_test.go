package api

import (
	"fmt"
	"testing"
	"time"
)

// A key gets its burst at once, then its rate; each key has its own
// bucket; a refused request learns how long until a token is there.
func TestRateLimiterBuckets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l := newRateLimiter(10, 20, func() time.Time { return now })
	for i := range 20 {
		if ok, _ := l.allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %v; want refused, 100ms (one token at 10/s)", ok, wait)
	}
	if ok, _ := l.allow("b"); !ok {
		t.Fatal("another key was limited by the first one's bucket")
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.allow("a"); !ok {
		t.Fatal("refused after a token came back")
	}
	if ok, _ := l.allow("a"); ok {
		t.Fatal("allowed a second request on one token")
	}
	if newRateLimiter(0, 0, time.Now) != nil {
		t.Fatal("rate 0 is no limit (nil)")
	}
}

// Buckets left unused long enough to refill are forgotten — which changes
// no answer — so the limiter holds only the keys used lately.
func TestRateLimiterForgetsIdleBuckets(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	l := newRateLimiter(10, 20, func() time.Time { return now }) // full again after 2 s
	for i := range 1000 {
		l.allow(fmt.Sprint("k", i))
	}
	for range 25 { // k0 empties its bucket
		l.allow("k0")
	}
	now = now.Add(time.Second)
	l.allow("busy")
	if n := l.size(); n != 1001 {
		t.Fatalf("%d buckets after 1 s; want all 1001 (none has refilled)", n)
	}
	now = now.Add(time.Second)
	l.allow("busy")
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after 2 s; want 1: only the key used within the refill time", n)
	}
	// A forgotten key starts with a full bucket, as it would have had.
	for i := range 20 {
		if ok, _ := l.allow("k0"); !ok {
			t.Fatalf("request %d of k0's refilled burst refused", i+1)
		}
	}
	if ok, _ := l.allow("k0"); ok {
		t.Fatal("k0 got more than its burst")
	}
}
