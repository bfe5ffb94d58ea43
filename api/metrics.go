package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"fiveid"
)

// Metrics are fiveid's Prometheus metrics. It implements fiveid.Observer.
type Metrics struct {
	requests *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	cache    *prometheus.CounterVec
	invalid  *prometheus.CounterVec
	grants   *prometheus.CounterVec
	breaker  *prometheus.GaugeVec
	limited  *prometheus.CounterVec
}

var _ fiveid.Observer = (*Metrics)(nil)

// NewMetrics registers fiveid's metrics on reg (never the default registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		return nil, errors.New("api: NewMetrics needs a registerer")
	}
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fiveid_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route", "method", "status"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fiveid_match_outcomes_total",
			Help: "Matching decisions by operation (register, identify) and grade.",
		}, []string{"op", "grade"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fiveid_cache_lookups_total",
			Help: "Cache lookups: hit, miss, error (falls back to the store) or skipped (the cache's circuit breaker is open: a miss without asking).",
		}, []string{"result"}),
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fiveid_cache_invalidations_total",
			Help: "Cache invalidations after a change: ok; epoch_raised (the cache failed, the cache epoch was raised instead); failed (raising failed too: the change was answered with an error).",
		}, []string{"result"}),
		grants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fiveid_grants_total",
			Help: "Grants issued, denied, introspected and revoked.",
		}, []string{"outcome"}),
		breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fiveid_cache_breaker_state",
			Help: "The Redis cache's circuit breaker: 1 for its current state (closed, open, half_open), 0 for the others.",
		}, []string{"state"}),
	}
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "fiveid_rate_limited_total",
		Help: "Requests answered 429 rate_limited (over their API key's rate limit), by the key's role.",
	}, []string{"role"})
	m.breaker.WithLabelValues("closed").Set(1)
	m.breaker.WithLabelValues("open").Set(0)
	m.breaker.WithLabelValues("half_open").Set(0)
	for _, c := range []prometheus.Collector{m.requests, m.outcomes, m.cache, m.invalid, m.grants, m.breaker, m.limited} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// MatchOutcome implements fiveid.Observer.
func (m *Metrics) MatchOutcome(op, grade string) { m.outcomes.WithLabelValues(op, grade).Inc() }

// CacheLookup implements fiveid.Observer.
func (m *Metrics) CacheLookup(hit bool, err error) {
	switch {
	case errors.Is(err, fiveid.ErrCacheSkipped):
		m.cache.WithLabelValues("skipped").Inc()
	case err != nil:
		m.cache.WithLabelValues("error").Inc()
	case hit:
		m.cache.WithLabelValues("hit").Inc()
	default:
		m.cache.WithLabelValues("miss").Inc()
	}
}

// CacheInvalidation implements fiveid.Observer.
func (m *Metrics) CacheInvalidation(result string) { m.invalid.WithLabelValues(result).Inc() }

// CacheBreaker records a change of the cache's circuit breaker state
// (store.Breaker.OnChange).
func (m *Metrics) CacheBreaker(from, to string) {
	m.breaker.WithLabelValues(from).Set(0)
	m.breaker.WithLabelValues(to).Set(1)
}

// RateLimited counts a request over its key's rate limit.
func (m *Metrics) RateLimited(role string) { m.limited.WithLabelValues(role).Inc() }

// GrantOutcome implements fiveid.Observer.
func (m *Metrics) GrantOutcome(kind string) { m.grants.WithLabelValues(kind).Inc() }

// middleware observes every request by its route pattern (never the raw
// URL, which may carry identifiers).
func (m *Metrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return observe(next, func(c echo.Context, status int, d time.Duration) {
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(status)).Observe(d.Seconds())
	})
}
