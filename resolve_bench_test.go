package fiveid_test

import (
	"sync/atomic"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

// BenchmarkResolveCacheHit times identify's cached lookup alone on a hit
// — blocking keys, cache key, cache read, decoding — without the grant-log
// write every identify also makes, on the in-process cache and on Redis.
func BenchmarkResolveCacheHit(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchmarkResolveCacheHit(b, store.NewMemoryCache(time.Hour, 1000))
	})
	b.Run("redis", func(b *testing.B) {
		rc, err := store.OpenRedis(b.Context(), storetest.RedisURL(b), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		benchmarkResolveCacheHit(b, store.NewRedisCache(rc, storetest.Prefix(b, rc), time.Hour, store.Breaker{}))
	})
}

func benchmarkResolveCacheHit(b *testing.B, cache fiveid.Cache) {
	ctx := b.Context()
	db := teststore.Embedded(b)
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		b.Fatal(err)
	}
	obs := &hitCounter{}
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: cache, Scorer: sc, Observer: obs})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	if _, err := svc.CreateSystem(ctx, fiveid.Principal{Role: fiveid.RoleAdmin}, fiveid.System{Code: "a", Name: "a", Kind: fiveid.KindMedical}); err != nil {
		b.Fatal(err)
	}
	p := fiveid.Principal{Role: fiveid.RoleSystem, System: "a"}
	in := match.Input{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}
	if _, err := svc.Register(ctx, p, "1", in); err != nil {
		b.Fatal(err)
	}
	rec, err := svc.Normalize(ctx, p, in, "")
	if err != nil {
		b.Fatal(err)
	}
	want, err := svc.Resolve(ctx, rec) // computed and cached
	if err != nil || want.CustomerID == "" {
		b.Fatalf("resolve: %+v %v", want, err)
	}
	hits := obs.hits.Load()
	n := 0
	for b.Loop() {
		if d, err := svc.Resolve(ctx, rec); err != nil || d.CustomerID != want.CustomerID {
			b.Fatalf("resolve: %+v %v", d, err)
		}
		n++
	}
	if got := obs.hits.Load() - hits; got != int64(n) {
		b.Fatalf("%d of %d lookups hit the cache", got, n)
	}
}

type hitCounter struct{ hits atomic.Int64 }

func (o *hitCounter) MatchOutcome(string, string) {}
func (o *hitCounter) GrantOutcome(string)         {}
func (o *hitCounter) CacheInvalidation(string)    {}
func (o *hitCounter) CacheLookup(hit bool, _ error) {
	if hit {
		o.hits.Add(1)
	}
}
