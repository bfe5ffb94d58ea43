package store_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
	c := store.NewRedisCache(rc, "fiveid", time.Hour)
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
