package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"fiveid"
	"fiveid/api"
	"fiveid/api/console"
	"fiveid/api/fhir"
	"fiveid/match"
	"fiveid/store"
)

// app is the wired service and what must be closed after it.
type app struct {
	svc     *fiveid.Service
	metrics *api.Metrics
	reg     *prometheus.Registry
	closers []func() error
	backend string
}

func (a *app) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	return errors.Join(errs...)
}

func openStore(ctx context.Context, cfg config) (*store.DB, string, error) {
	if cfg.DatabaseURL != "" {
		db, err := store.OpenPostgres(ctx, cfg.DatabaseURL)
		if err != nil {
			return nil, "", fmt.Errorf("open PostgreSQL: %w", err)
		}
		return db, "postgres", nil
	}
	db, err := store.OpenEmbeddedWith(ctx, cfg.DataDir, store.EmbeddedOptions{CacheMiB: cfg.SQLiteCacheMiB})
	if err != nil {
		return nil, "", fmt.Errorf("open embedded store in %s: %w", cfg.DataDir, err)
	}
	return db, "embedded", nil
}

func scorer(cfg config) (*match.Scorer, error) {
	w := match.DefaultWeights()
	if cfg.WeightsFile != "" {
		b, err := os.ReadFile(cfg.WeightsFile)
		if err != nil {
			return nil, fmt.Errorf("FIVEID_WEIGHTS: %w", err)
		}
		if w, err = match.ParseWeights(b); err != nil {
			return nil, fmt.Errorf("FIVEID_WEIGHTS %s: %w", cfg.WeightsFile, err)
		}
	}
	t := match.DefaultThresholds()
	for _, th := range []struct {
		v   string
		dst *float64
	}{{cfg.Certain, &t.Certain}, {cfg.Probable, &t.Probable}, {cfg.Possible, &t.Possible}, {cfg.NoID, &t.ProbableWithoutID}, {cfg.Margin, &t.AmbiguityMargin}} {
		if th.v != "" {
			*th.dst, _ = strconv.ParseFloat(th.v, 64) // validated in loadConfig
		}
	}
	return match.NewScorer(w, t)
}

// wire builds the service on the configured store and cache.
func wire(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	a := &app{reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	sc, err := scorer(cfg)
	if err != nil {
		return nil, err
	}
	st, backend, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.backend = backend
	a.closers = append(a.closers, st.Close)
	a.metrics, err = api.NewMetrics(a.reg)
	if err != nil {
		a.Close()
		return nil, err
	}
	var cache fiveid.Cache
	if cfg.RedisURL != "" {
		routeRedisLogs(log)
		rc, err := store.OpenRedis(ctx, cfg.RedisURL, cfg.RedisTimeout)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("open Redis: %w", err)
		}
		a.closers = append(a.closers, rc.Close)
		cache = store.NewRedisCache(rc, "fiveid", cfg.CacheTTL, store.Breaker{
			Failures: cfg.BreakerFailures, Cooldown: cfg.BreakerCooldown,
			OnChange: func(from, to string) {
				a.metrics.CacheBreaker(from, to)
				logBreaker(log, from, to)
			},
		})
		a.backend += "+redis"
	} else {
		cache = store.NewMemoryCache(cfg.CacheTTL, 100_000)
	}
	a.svc, err = fiveid.NewService(ctx, fiveid.Config{
		Store: st, Grants: st, Idempotency: st, WebhookStore: st, Records: st, Statistics: st,
		Cache: cache, Scorer: sc, Observer: a.metrics,
		Logger: log, CandidateLimit: cfg.Candidates, Webhooks: cfg.webhookPolicy(),
		IdempotencyTTL: cfg.IdemTTL,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.closers = append(a.closers, func() error { a.svc.Close(); return nil })
	return a, nil
}

// logBreaker logs the Redis circuit breaker's changes: opening is a
// warning (repeated every cooldown while Redis stays down, so the repeat
// limiter keeps one a period), closing is news; half open is a detail.
func logBreaker(log *slog.Logger, from, to string) {
	ctx := context.Background()
	switch to {
	case "open":
		log.LogAttrs(ctx, slog.LevelWarn, "redis circuit breaker open: cache lookups miss and changes raise the cache epoch until a probe succeeds",
			slog.String("from", from))
	case "closed":
		log.LogAttrs(ctx, slog.LevelInfo, "redis circuit breaker closed: the cache is used again", slog.String("from", from))
	default:
		log.LogAttrs(ctx, slog.LevelDebug, "redis circuit breaker half open: one probe goes through", slog.String("from", from))
	}
}

// serve runs the HTTP service until ctx ends. ready, when not nil, receives
// the bound address (tests listen on port 0).
func serve(ctx context.Context, cfg config, stdout, stderr io.Writer, ready func(addr string)) error {
	log := newLogger(cfg, stderr)
	a, err := wire(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	secret, err := a.svc.Bootstrap(ctx, cfg.AdminKey)
	if err != nil {
		return fmt.Errorf("bootstrap admin key: %w", err)
	}
	if secret != "" {
		fmt.Fprintf(stdout, "bootstrap admin key (shown once, keep it safe):\n%s\n", secret)
	}
	fc := cfg.FHIR
	fc.Service, fc.Logger = a.svc, log
	fhirRoutes, err := fhir.Mount(fc)
	if err != nil {
		return err
	}
	e, err := api.New(api.Config{Service: a.svc, Logger: log, Metrics: a.metrics, Gatherer: a.reg,
		RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, Mount: []api.Mounter{fhirRoutes}})
	if err != nil {
		return err
	}
	if err := console.Mount(e, console.Config{Service: a.svc, Logger: log, IdleTimeout: cfg.ConsoleIdle, SecureCookies: cfg.ConsoleSecure}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	if cfg.PprofAddr != "" {
		addr, stopPprof, err := startPprof(cfg.PprofAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopPprof()
		fmt.Fprintf(stdout, "pprof on http://%s/debug/pprof/\n", addr)
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      5 * time.Minute, // audit exports stream
		IdleTimeout:       2 * time.Minute,
	}
	if index, current, err := a.svc.BlockingRules(ctx); err == nil && index < current {
		fmt.Fprintf(stdout, "the index's blocking keys follow rules v%d, this build's are v%d: run `fiveid reindex` (it works beside live traffic) so that every record can be found\n", index, current)
		log.Warn("blocking keys out of date: run fiveid reindex", slog.Int64("index_rules", index), slog.Int64("current_rules", current))
	}
	fmt.Fprintf(stdout, "fiveid listening on http://%s (store: %s)\n", ln.Addr(), a.backend)
	log.Info("listening", slog.String("addr", ln.Addr().String()), slog.String("store", a.backend))
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// Deliver customer changes to webhooks while serving.
	hooksCtx, stopHooks := context.WithCancel(ctx)
	hooksDone := make(chan struct{})
	go func() {
		defer close(hooksDone)
		a.svc.RunWebhooks(hooksCtx, api.NewPoster(api.PosterConfig{Policy: cfg.webhookPolicy()}), fiveid.WebhookOptions{})
	}()
	// Keep the planner's statistics fresh: registrations can outgrow them
	// on a server whose autovacuum is off.
	stopStats := refreshStatistics(ctx, a.svc, time.Minute, log)
	// Reclaim expired idempotency records (they count as absent already).
	stopSweep := sweepIdempotency(ctx, a.svc, 10*time.Minute, log)
	// Stop background work before the store closes (defers run last-in,
	// first-out).
	defer func() { stopHooks(); <-hooksDone; stopStats(); stopSweep() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

func migrate(ctx context.Context, cfg config, stdout io.Writer) error {
	st, backend, err := openStore(ctx, cfg) // opening applies migrations
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", backend)
	return nil
}

// every runs job each interval until the returned stop is called (stop
// waits for the run in progress to end). A job logs its own outcome; a
// failure waits for the next tick.
func every(ctx context.Context, interval time.Duration, job func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			job(ctx)
		}
	}()
	return func() { cancel(); <-done }
}

// refreshStatistics refreshes the store's planner statistics every
// interval until the returned stop is called.
func refreshStatistics(ctx context.Context, svc *fiveid.Service, interval time.Duration, log *slog.Logger) (stop func()) {
	return every(ctx, interval, func(ctx context.Context) {
		if analyzed, err := svc.RefreshStatistics(ctx, operator); err != nil && ctx.Err() == nil {
			log.Warn("refresh statistics", slog.String("error", err.Error()))
		} else if len(analyzed) > 0 {
			log.Info("statistics refreshed", slog.Any("tables", analyzed))
		}
	})
}

// sweepIdempotency deletes expired idempotency records every interval
// until the returned stop is called.
func sweepIdempotency(ctx context.Context, svc *fiveid.Service, interval time.Duration, log *slog.Logger) (stop func()) {
	return every(ctx, interval, func(ctx context.Context) {
		if n, err := svc.SweepIdempotency(ctx, operator); err != nil && ctx.Err() == nil {
			log.Warn("sweep idempotency keys", slog.String("error", err.Error()))
		} else if n > 0 {
			log.Info("expired idempotency keys deleted", slog.Int64("count", n))
		}
	})
}
