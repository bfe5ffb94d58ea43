// Command hotpath measures identify with a grant on a cache hit over real
// HTTP against a bare echo JSON handler measured in the same run, and
// reports the ratio (issue 14: at least 0.20):
//
//	DATABASE_URL=postgres://... REDIS_URL=redis://127.0.0.1:6379/0 go run ./benchmarks/cmd/hotpath
//
// One process serves both on loopback listeners — the bare handler (echo,
// decode the request's JSON, answer a small JSON document) and fiveid's
// API wired as serve wires it (JSON logs, metrics, security headers,
// request IDs, auth; no rate limit) on PostgreSQL + Redis, or on the
// embedded store and the in-process cache when DATABASE_URL / REDIS_URL
// are unset — and -clients concurrent callers, each on its own keep-alive
// connection, send requests over TCP. The phases alternate (echo, identify
// + grant, identify) for -rounds rounds of -phase each, so the load of
// this shared machine hits both sides alike; the figures are the medians.
//
// The index holds -people people; -questions noisy records of them are
// asked once before timing, so that every timed identify is answered from
// the cache. Every answer still writes its durable grant-log entry, and
// every grant is signed and stored before it is answered.
//
// Each phase also reports the CPU time it cost per request: this process
// (the server and the callers), the PostgreSQL backends serving this
// database and the Redis server (shared with whatever else uses it), read
// from the kernel's counters before and after the phase. On a shared
// machine the throughput ratio moves with the other load; the CPU ratio —
// echo's CPU per request over identify's — is what the ratio would be on
// an idle machine where every side is CPU-bound.
//
// The process runs with the garbage collector paced as fiveid's binary
// paces it (internal/gctune), for the echo handler as for fiveid's API.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"fiveid"
	"fiveid/api"
	"fiveid/benchmarks"
	"fiveid/internal/gctune"
	"fiveid/match"
	"fiveid/store"
)

func main() {
	gctune.Apply(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hotpath:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	clients := flag.Int("clients", 64, "concurrent HTTP callers")
	phase := flag.Duration("phase", 4*time.Second, "length of each measured phase")
	rounds := flag.Int("rounds", 3, "rounds of (echo, identify+grant, identify)")
	people := flag.Int("people", 2000, "people in the index")
	questions := flag.Int("questions", 500, "distinct questions, asked over and over")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the identify+grant phases to this file")
	flag.Parse()

	dir, err := os.MkdirTemp("", "fiveid-hotpath")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, backend, meter, closeFn, err := open(ctx, dir)
	if err != nil {
		return err
	}
	defer closeFn()

	admin := fiveid.Principal{KeyID: "hotpath", Role: fiveid.RoleAdmin}
	for _, code := range []string{"hosp-a", "care-c"} {
		if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: code, Name: code, Kind: fiveid.KindMedical}); err != nil && !errors.Is(err, fiveid.ErrConflict) {
			return err
		}
	}
	if _, err := svc.CreatePolicy(ctx, admin, fiveid.Policy{Grantee: "care-c", Scopes: []string{"medical"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
		return err
	}
	_, secret, err := svc.CreateKey(ctx, admin, fiveid.RoleSystem, "care-c", "hotpath")
	if err != nil {
		return err
	}
	// A fresh population per run (its own seed; local IDs carry it), so
	// that a database used before does not hold these people already:
	// a second copy of each would make every answer ambiguous.
	run := time.Now().UnixNano()
	pop := benchmarks.NewGenerator(uint64(run), benchmarks.Noise{}).Population(*people)
	clean := benchmarks.NewGenerator(8, benchmarks.Noise{})
	var items []fiveid.RegisterItem
	for _, p := range pop {
		in := clean.Record(p, 0, "").Input
		if _, err := match.Normalize(in, match.Options{}); err != nil {
			continue
		}
		items = append(items, fiveid.RegisterItem{LocalID: fmt.Sprintf("H%d-%d", run, p.ID), Input: in})
	}
	for start := 0; start < len(items); start += 1000 {
		if err := svc.LoadDistinct(ctx, admin, "hosp-a", items[start:min(start+1000, len(items))]); err != nil {
			return err
		}
	}
	noisy := benchmarks.NewGenerator(99, benchmarks.Realistic)
	type wire struct {
		Name      string   `json:"name"`
		Sex       string   `json:"sex"`
		BirthDate string   `json:"birth_date"`
		IDType    string   `json:"id_type"`
		IDNumber  string   `json:"id_number"`
		Scopes    []string `json:"scopes,omitempty"`
		Purpose   string   `json:"purpose,omitempty"`
	}
	var plain, granted [][]byte
	for i := range *questions {
		in := noisy.Record(pop[(i*7919)%len(pop)], 2, "").Input
		w := wire{Name: in.Name, Sex: in.Sex, BirthDate: in.BirthDate, IDType: in.IDType, IDNumber: in.IDNumber}
		b, _ := json.Marshal(w)
		plain = append(plain, b)
		w.Scopes, w.Purpose = []string{"medical"}, "treatment"
		b, _ = json.Marshal(w)
		granted = append(granted, b)
	}

	fiveidURL, stopFiveid, err := serveFiveid(svc)
	if err != nil {
		return err
	}
	defer stopFiveid()
	echoURL, stopEcho, err := serveEcho()
	if err != nil {
		return err
	}
	defer stopEcho()

	tr := &http.Transport{MaxIdleConns: 4 * *clients, MaxIdleConnsPerHost: 2 * *clients, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	auth := "Bearer " + secret
	identify := fiveidURL + "/v1/identify"
	// Fill the cache: every question once (untimed).
	// A question the noise left nothing identifying in (400) is dropped.
	codes := map[int]int{}
	var keptPlain, keptGranted [][]byte
	for i := range plain {
		code, err := post(ctx, hc, identify, auth, plain[i])
		if err != nil {
			return fmt.Errorf("warm-up identify: %w", err)
		}
		codes[code]++
		if answered(code) {
			keptPlain, keptGranted = append(keptPlain, plain[i]), append(keptGranted, granted[i])
		}
	}
	plain, granted = keptPlain, keptGranted
	fmt.Printf("questions answered %d with a match, %d needs review, %d no match; %d dropped (nothing identifying)\n",
		codes[http.StatusOK], codes[http.StatusConflict], codes[http.StatusNotFound], codes[http.StatusBadRequest])
	type phaseDef struct {
		name   string
		url    string
		bodies [][]byte
		auth   string
	}
	phases := []phaseDef{
		{"echo JSON handler", echoURL + "/echo", plain, ""},
		{"identify+grant (cache hit)", identify, granted, auth},
		{"identify (cache hit)", identify, plain, auth},
	}
	rates := make([][]float64, len(phases))
	cpus := make([][]cpuCost, len(phases))
	var failures int64
	var prof *os.File
	if *cpuProfile != "" {
		if prof, err = os.Create(*cpuProfile); err != nil {
			return err
		}
		defer prof.Close()
	}
	for range *rounds {
		for i, ph := range phases {
			if prof != nil && i == 1 {
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
			before := meter.sample(ctx)
			n, failed := hammer(ctx, hc, ph.url, ph.auth, ph.bodies, *clients, *phase)
			cpus[i] = append(cpus[i], meter.sample(ctx).since(before, n))
			if prof != nil && i == 1 {
				pprof.StopCPUProfile()
				prof = nil // one phase's profile: a second Start would append a second profile to the file
			}
			failures += failed
			rates[i] = append(rates[i], float64(n)/phase.Seconds())
		}
	}
	fmt.Printf("store %s, %d people, %d questions, %d clients over HTTP, %d rounds of %s per phase (medians):\n",
		backend, len(items), len(plain), *clients, *rounds, *phase)
	base := median(rates[0])
	for i, ph := range phases {
		fmt.Printf("  %-28s %8.0f requests/s  (%.3f of the echo handler; rounds %s)\n", ph.name, median(rates[i]), median(rates[i])/base, list(rates[i]))
	}
	fmt.Printf("CPU per request (medians of the rounds; µs of this process = server and callers, PostgreSQL backends, Redis server):\n")
	baseCPU := medianCost(cpus[0]).total()
	for i, ph := range phases {
		c := medianCost(cpus[i])
		fmt.Printf("  %-28s %6.0f µs  (process %.0f, postgres %.0f, redis %.0f)  CPU ratio %.3f; %.3f commits per request\n",
			ph.name, c.total(), c.self, c.pg, c.redis, baseCPU/c.total(), c.commits)
	}
	fmt.Printf("The whole machine per request (medians; busy = every process and the kernel, counted or not above; idle = CPU time nobody used):\n")
	for i, ph := range phases {
		c := medianCost(cpus[i])
		fmt.Printf("  %-28s busy %6.0f µs, idle %6.0f µs; busy beyond the processes above %6.0f µs\n", ph.name, c.busy, c.idle, c.busy-c.total())
	}
	fmt.Printf("load average at the end: %s\n", benchmarks.LoadAverage())
	if failures > 0 {
		return fmt.Errorf("%d requests failed", failures)
	}
	return nil
}

// open wires the service as serve does, on the store and cache the
// environment names.
func open(ctx context.Context, dir string) (*fiveid.Service, string, *cpuMeter, func(), error) {
	var db *store.DB
	var err error
	backend := "embedded"
	meter := &cpuMeter{}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		db, err = store.OpenPostgres(ctx, u)
		backend = "postgres"
	} else {
		db, err = store.OpenEmbedded(ctx, filepath.Join(dir, "data"))
	}
	if err != nil {
		return nil, "", nil, nil, err
	}
	closers := []func(){func() { db.Close() }}
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if u := os.Getenv("DATABASE_URL"); u != "" {
		// A connection of its own to find the backends serving the
		// benchmark's database.
		if meter.pg, err = sql.Open("pgx", u); err != nil {
			closeAll()
			return nil, "", nil, nil, err
		}
		closers = append(closers, func() { meter.pg.Close() })
	}
	var cache fiveid.Cache = store.NewMemoryCache(5*time.Minute, 100_000)
	if u := os.Getenv("REDIS_URL"); u != "" {
		rc, err := store.OpenRedis(ctx, u, store.DefaultRedisTimeout)
		if err != nil {
			closeAll()
			return nil, "", nil, nil, err
		}
		closers = append(closers, func() { rc.Close() })
		meter.redis = rc
		// A prefix of the run's own: cached answers of another run (or of
		// a server sharing this Redis) are not this index's.
		cache = store.NewRedisCache(rc, fmt.Sprintf("hotpath-%d", time.Now().UnixNano()), 5*time.Minute, store.Breaker{})
		backend += "+redis"
	}
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		closeAll()
		return nil, "", nil, nil, err
	}
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, Idempotency: db, Cache: cache, Scorer: sc,
		CandidateLimit: 200, Logger: serverLog()})
	if err != nil {
		closeAll()
		return nil, "", nil, nil, err
	}
	closers = append(closers, svc.Close)
	return svc, backend, meter, closeAll, nil
}

// cpuMeter reads the CPU time used so far by this process, by the
// PostgreSQL backends connected to the benchmark's database (nil pg: none)
// and by the Redis server (nil redis: none).
type cpuMeter struct {
	pg    *sql.DB
	redis *redis.Client
}

type cpuSample struct {
	self    time.Duration
	pg      map[int]time.Duration // by backend pid
	commits int64                 // the database's, so far
	redis   time.Duration
	// The whole machine's busy and idle time (benchmarks.MachineCPU).
	busy, idle time.Duration
}

// cpuCost is a phase's CPU time per request, in microseconds, and its
// PostgreSQL commits per request; busy and idle are the whole machine's
// per request.
type cpuCost struct{ self, pg, redis, commits, busy, idle float64 }

func (c cpuCost) total() float64 { return c.self + c.pg + c.redis }

func (m *cpuMeter) sample(ctx context.Context) cpuSample {
	var s cpuSample
	s.self = benchmarks.SelfCPU()
	s.busy, s.idle, _ = benchmarks.MachineCPU() // zero on failure: no machine figure
	if m.pg != nil {
		s.pg, _ = benchmarks.BackendsCPU(ctx, m.pg) // nil on failure: no PostgreSQL figure
		_ = m.pg.QueryRowContext(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()").Scan(&s.commits)
	}
	if m.redis != nil {
		if info, err := m.redis.Info(ctx, "cpu").Result(); err == nil {
			for line := range strings.Lines(info) {
				name, v, ok := strings.Cut(strings.TrimSpace(line), ":")
				if ok && (name == "used_cpu_sys" || name == "used_cpu_user") {
					f, _ := strconv.ParseFloat(v, 64)
					s.redis += time.Duration(f * float64(time.Second))
				}
			}
		}
	}
	return s
}

// since is the CPU per request of the n requests between before and s.
// A backend that ended between the two is not counted; one that started
// counts from its start.
func (s cpuSample) since(before cpuSample, n int64) cpuCost {
	if n == 0 {
		return cpuCost{}
	}
	pg := benchmarks.CPUSince(s.pg, before.pg)
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
	return cpuCost{self: us(s.self - before.self), pg: us(pg), redis: us(s.redis - before.redis),
		commits: float64(s.commits-before.commits) / float64(n), busy: us(s.busy - before.busy), idle: us(s.idle - before.idle)}
}

func medianCost(cs []cpuCost) cpuCost {
	pick := func(f func(cpuCost) float64) float64 {
		xs := make([]float64, len(cs))
		for i, c := range cs {
			xs[i] = f(c)
		}
		return median(xs)
	}
	return cpuCost{self: pick(func(c cpuCost) float64 { return c.self }), pg: pick(func(c cpuCost) float64 { return c.pg }),
		redis: pick(func(c cpuCost) float64 { return c.redis }), commits: pick(func(c cpuCost) float64 { return c.commits }),
		busy: pick(func(c cpuCost) float64 { return c.busy }), idle: pick(func(c cpuCost) float64 { return c.idle })}
}

// serverLog is serve's logger (JSON, info) writing to the null device: the
// lines are encoded and written as in production.
func serverLog() *slog.Logger {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewJSONHandler(f, nil))
}

func serveFiveid(svc *fiveid.Service) (string, func(), error) {
	reg := prometheus.NewRegistry()
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return "", nil, err
	}
	e, err := api.New(api.Config{Service: svc, Logger: serverLog(), Metrics: metrics, Gatherer: reg})
	if err != nil {
		return "", nil, err
	}
	return listen(e)
}

// serveEcho is the baseline: echo routing one POST whose JSON body is
// decoded and answered with a small JSON document.
func serveEcho() (string, func(), error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.POST("/echo", func(c echo.Context) error {
		var in struct {
			Name      string `json:"name"`
			Sex       string `json:"sex"`
			BirthDate string `json:"birth_date"`
			IDType    string `json:"id_type"`
			IDNumber  string `json:"id_number"`
		}
		if err := c.Bind(&in); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"name": in.Name, "birth_date": in.BirthDate})
	})
	return listen(e)
}

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// hammer sends bodies round robin from clients callers for d and counts
// the answered requests and the failed ones.
func hammer(ctx context.Context, hc *http.Client, url, auth string, bodies [][]byte, clients int, d time.Duration) (done, failed int64) {
	var ok, bad atomic.Int64
	stopAt := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; time.Now().Before(stopAt) && ctx.Err() == nil; i += clients {
				code, err := post(ctx, hc, url, auth, bodies[i%len(bodies)])
				if err == nil && answered(code) {
					ok.Add(1)
				} else {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load(), bad.Load()
}

func post(ctx context.Context, hc *http.Client, url, auth string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// answered: a match (200), or an answer that names nobody (404 no match,
// 409 needs review) — each one logged and, for a grant, decided by policy.
func answered(code int) bool {
	return code == http.StatusOK || code == http.StatusNotFound || code == http.StatusConflict
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func list(xs []float64) string {
	var b bytes.Buffer
	for i, x := range xs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%.0f", x)
	}
	return b.String()
}
