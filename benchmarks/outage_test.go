package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

// BenchmarkIdentifyRedisOutage measures, in one run, identify throughput
// with (a) the in-process cache, (b) Redis — a redis-server of the
// benchmark's own — and (c) that Redis killed, and reports (b) and (c) as
// ratios to (a); also (c) against identify without any cache, and the
// latency of registrations with Redis up and down. Issue 13: with Redis
// killed, identify fell from 1,332 to 40 requests/s and registrations took
// 3 s; its target is at least half the in-process cache's throughput.
//
// An index of 2,000 people (embedded store; PostgreSQL too when
// reachable); 300 noisy questions about them, asked once before timing, so
// that (a) and (b) answer every one from the cache — the worst case for
// the ratio — then over and over by 16 concurrent callers. Every identify
// writes its grant-log entry, as in production. (c) answers every one from
// the store: a Redis outage can cost no less than a cold cache. Each round
// measures (a) for 400 ms, then (b), registers 16 records at once, kills
// Redis, measures (c) — the breaker opening included — then (a) again,
// identify without a cache, and 16 registrations; the next round starts
// Redis again (empty), waits for a probe to close the breaker and warms it,
// untimed. Each ratio compares phases measured next to each other — the
// load of this shared machine drifts, the ratios hardly do — and the
// figures reported are medians over rounds:
//
//	go test -run '^$' -bench IdentifyRedisOutage -benchtime 10x ./benchmarks
//
// From 3 rounds on it fails when the outage costs more than a quarter
// beyond running without a cache (redis_down/no_cache < 0.75): what the
// failure handling owns. The ratio (redis_down/memory) is
// reported, and logged when under one half: how far a cache miss is from
// a hit is the store's (README, "Security and failure modes").
func BenchmarkIdentifyRedisOutage(b *testing.B) {
	b.Run("embedded", func(b *testing.B) { benchmarkRedisOutage(b, teststore.Embedded(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkRedisOutage(b, teststore.Postgres(b)) })
}

const (
	outageClients   = 16
	outageChunk     = 400 * time.Millisecond // each measured phase
	outageQuestions = 300
	outageRegisters = 16
)

func benchmarkRedisOutage(b *testing.B, db *store.DB) {
	ctx := b.Context()
	rs := storetest.StartRedisServer(b, "--appendonly", "no", "--save", "")
	rc, err := store.OpenRedis(ctx, "redis://"+rs.Addr(), 0) // the production timeouts
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	var breaker atomic.Value
	breaker.Store("closed")
	redisCache := store.NewRedisCache(rc, "bench", time.Hour, store.Breaker{ // the production breaker
		OnChange: func(_, to string) { breaker.Store(to) },
	})
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		b.Fatal(err)
	}
	newSvc := func(c fiveid.Cache) *fiveid.Service {
		svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: c, Scorer: sc, CandidateLimit: 200})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(svc.Close)
		return svc
	}
	memory, withRedis, uncached := newSvc(store.NewMemoryCache(time.Hour, 100_000)), newSvc(redisCache), newSvc(noCache{})

	ds := Synthetic(SeedTuning, 2000, Realistic)
	if err := CreateSystems(ctx, memory, ds.Records); err != nil {
		b.Fatal(err)
	}
	var items []fiveid.RegisterItem
	seen := map[int]bool{}
	for _, r := range ds.Records {
		if r.System == "hosp-a" && !seen[r.PersonID] {
			seen[r.PersonID] = true
			items = append(items, fiveid.RegisterItem{LocalID: r.LocalID, Input: r.Input})
		}
	}
	if err := memory.LoadDistinct(ctx, admin, "hosp-a", items); err != nil {
		b.Fatal(err)
	}
	caller := fiveid.Principal{KeyID: "bench", Role: fiveid.RoleSystem, System: "care-c"}
	qs := ds.Queries[:outageQuestions]
	// identify asks questions with outageClients callers for d (or, when
	// d is 0, each question once) and returns their rate.
	identify := func(svc *fiveid.Service, d time.Duration) float64 {
		var next atomic.Int64
		var failed atomic.Value
		var wg sync.WaitGroup
		start := time.Now()
		more := func(i int64) bool {
			if d == 0 {
				return i < int64(len(qs))
			}
			return time.Since(start) < d
		}
		for range outageClients {
			wg.Go(func() {
				for i := next.Add(1) - 1; more(i); i = next.Add(1) - 1 {
					_, err := svc.Identify(ctx, caller, qs[i%int64(len(qs))].Input)
					if err != nil && !isAnswer(err) {
						failed.Store(err)
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatalf("identify: %v", err)
		}
		return float64(next.Load()-outageClients) / time.Since(start).Seconds()
	}
	identify(memory, 0) // warm
	identify(withRedis, 0)
	round := 0
	// register registers outageRegisters new records at once and returns
	// their median latency.
	register := func(svc *fiveid.Service) time.Duration {
		lat := make([]time.Duration, outageRegisters)
		var wg sync.WaitGroup
		for i := range outageRegisters {
			wg.Go(func() {
				start := time.Now()
				if _, err := svc.Register(ctx, caller, fmt.Sprintf("outage-%d-%d", round, i), qs[i].Input); err != nil {
					b.Errorf("register during the outage: %v", err)
				}
				lat[i] = time.Since(start)
			})
		}
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)/2]
	}

	var rateA, rateB, rateC, upRatio, downRatio, coldRatio []float64
	var regUp, regLat []time.Duration
	down := false
	for b.Loop() {
		round++
		if down { // untimed: Redis back (empty), the breaker closed, warm
			b.StopTimer()
			rs.Start()
			for deadline := time.Now().Add(10 * time.Second); breaker.Load() != "closed"; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatal("the breaker did not close after Redis came back")
				}
				withRedis.Identify(ctx, caller, qs[0].Input)
			}
			identify(withRedis, 0)
			down = false
			b.StartTimer()
		}
		a1 := identify(memory, outageChunk)
		up := identify(withRedis, outageChunk)
		regUp = append(regUp, register(withRedis))
		rs.Kill()
		down = true
		c := identify(withRedis, outageChunk)
		a2 := identify(memory, outageChunk)
		d := identify(uncached, outageChunk)
		regLat = append(regLat, register(withRedis))
		if got := breaker.Load(); got != "open" {
			b.Fatalf("Redis killed, the breaker is %s: the phase measured something else", got)
		}
		rateA, rateB, rateC = append(rateA, a1, a2), append(rateB, up), append(rateC, c)
		upRatio, downRatio, coldRatio = append(upRatio, up/a1), append(downRatio, c/a2), append(coldRatio, c/d)
	}
	b.ReportMetric(median(rateA), "identify/s_memory")
	b.ReportMetric(median(rateB), "identify/s_redis")
	b.ReportMetric(median(rateC), "identify/s_redis_down")
	b.ReportMetric(median(upRatio), "redis/memory")
	b.ReportMetric(median(downRatio), "redis_down/memory")
	b.ReportMetric(median(coldRatio), "redis_down/no_cache")
	b.ReportMetric(medianMS(regUp), "register_ms_redis")
	b.ReportMetric(medianMS(regLat), "register_ms_redis_down")
	b.Logf("rounds: identifies/s memory %.0f, redis %.0f, redis down %.0f; redis_down/memory %.2f, redis_down/no_cache %.2f",
		rateA, rateB, rateC, downRatio, coldRatio)
	if len(downRatio) < 3 {
		return // too few rounds to judge
	}
	if r := median(coldRatio); r < 0.75 {
		b.Errorf("with Redis down identify ran at %.0f%% of its speed without any cache (median of %d rounds): the outage costs more than the cache's absence", 100*r, len(coldRatio))
	}
	if r := median(downRatio); r < 0.5 {
		b.Logf("issue 13's target not met here: with Redis down identify kept %.0f%% of its in-process-cache throughput (median of %d rounds), at %.0f%% of its speed without any cache",
			100*r, len(downRatio), 100*median(coldRatio))
	}
}

func medianMS(ds []time.Duration) float64 {
	s := slices.Sorted(slices.Values(ds))
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// noCache never hits: identify without a cache, what a Redis outage
// should cost at most.
type noCache struct{}

func (noCache) Get(context.Context, string, []string) ([]byte, bool, string, error) {
	return nil, false, "", nil
}
func (noCache) Set(context.Context, string, string, []byte) error { return nil }
func (noCache) Invalidate(context.Context, []string) error        { return nil }
func (noCache) Ping(context.Context) error                        { return nil }

// isAnswer: needs review and no match are answers, not failures.
func isAnswer(err error) bool {
	return errors.Is(err, fiveid.ErrNeedsReview) || errors.Is(err, fiveid.ErrNoMatch)
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}
