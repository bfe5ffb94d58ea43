package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"fiveid/api"
	"fiveid/internal/apitest"
)

// Each API key has its own token bucket: over it, 429 rate_limited with
// Retry-After, counted by role in /metrics. Unauthenticated requests (the
// probes, a failed authentication) are not limited.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// A token every 10 s: none comes back while the test runs.
	e, err := api.New(api.Config{Service: en.svc, Metrics: m, Gatherer: reg, RateLimit: 0.1, RateBurst: 3})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, key string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(t.Context(), "GET", path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		rec := httptest.NewRecorder()
		apitest.Handler(t, e).ServeHTTP(rec, req)
		return rec
	}
	limited := func(rec *httptest.ResponseRecorder) {
		t.Helper()
		var body api.Error
		json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusTooManyRequests || body.Code != "rate_limited" {
			t.Fatalf("over the limit: %d %s; want 429 rate_limited", rec.Code, rec.Body)
		}
		if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 || s > 10 {
			t.Fatalf("Retry-After %q; want 1..10 seconds", rec.Header().Get("Retry-After"))
		}
	}
	for i := range 3 {
		if rec := get("/v1/xref?system=hosp&local_id=none", en.keys["system"]); rec.Code != http.StatusNotFound {
			t.Fatalf("request %d of the burst: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	limited(get("/v1/xref?system=hosp&local_id=none", en.keys["system"]))
	for i := range 3 { // another key, another bucket
		if rec := get("/v1/systems", en.keys["admin"]); rec.Code != http.StatusOK {
			t.Fatalf("admin request %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	limited(get("/v1/systems", en.keys["admin"]))
	limited(get("/v1/systems", en.keys["admin"]))
	for range 10 {
		if rec := get("/healthz", ""); rec.Code != http.StatusOK {
			t.Fatalf("/healthz: %d", rec.Code)
		}
		if rec := get("/v1/systems", "not-a-key"); rec.Code != http.StatusUnauthorized {
			t.Fatalf("a wrong key: %d; want 401", rec.Code)
		}
	}
	metrics := get("/metrics", "").Body.String()
	for _, want := range []string{`fiveid_rate_limited_total{role="system"} 1`, `fiveid_rate_limited_total{role="admin"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, err := api.New(api.Config{Service: en.svc, Metrics: m, Gatherer: reg, RateLimit: 5}); err == nil {
		t.Error("a rate limit without a burst was accepted")
	}
}
