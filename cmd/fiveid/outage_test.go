package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiveid/internal/apitest"
	"fiveid/store/storetest"
)

// outageAdminKey is a strong admin key for the outage tests.
const outageAdminKey = "fk_outage_Adm1n_k3y_0123456789abcdefXYZq"

var zhangBody = map[string]string{"name": "张伟", "sex": "男", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X"}

// systemKey creates system hosp and returns a key of it.
func systemKey(t *testing.T, base string) client {
	t.Helper()
	admin := client{t, base, outageAdminKey}
	admin.do("POST", "/v1/systems", map[string]string{"code": "hosp", "name": "hosp", "kind": "medical"}, 201, nil)
	var k struct{ Key string }
	admin.do("POST", "/v1/keys", map[string]string{"role": "system", "system": "hosp"}, 201, &k)
	return client{t, base, k.Key}
}

// post sends one request and returns its status and error code.
func post(t *testing.T, c client, path string, body any) (int, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.base+path, bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := apitest.Client(t).Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

// PostgreSQL goes down under load (the server's connections to it pass
// through a proxy the test cuts): every request is a 503 unavailable,
// and the log holds one "request failed" line per interval — each with
// the count of those it stands for — not one per request. When PostgreSQL
// is back, so is the service.
func TestPostgresOutageIsLoggedOncePerInterval(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.StartTCPProxy(t, u.Host)
	u.Host = proxy.Addr()
	const interval = time.Second
	logs := &syncBuffer{}
	base := startServerLog(t, map[string]string{
		"DATABASE_URL": u.String(), "FIVEID_ADMIN_KEY": outageAdminKey,
		"FIVEID_LOG_REPEAT_INTERVAL": interval.String(),
	}, logs)
	hosp := systemKey(t, base)
	hosp.do("POST", "/v1/identify", zhangBody, 404, nil)

	proxy.Cut()
	start := time.Now()
	var requests atomic.Int64
	var wrong sync.Map
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Since(start) < 2500*time.Millisecond && !t.Failed() {
				status, code := post(t, hosp, "/v1/identify", zhangBody)
				requests.Add(1)
				if status != http.StatusServiceUnavailable || code != "unavailable" {
					wrong.Store(status, code)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	wrong.Range(func(k, v any) bool {
		t.Errorf("PostgreSQL down: status %v %v; want 503 unavailable", k, v)
		return true
	})
	n := requests.Load()
	if n < 100 {
		t.Fatalf("only %d requests in %v: the test proves little", n, elapsed)
	}

	var failed, suppressed, warnings int
	for _, m := range logLines(t, logs.String()) {
		if m["level"] == "INFO" || m["level"] == "DEBUG" {
			continue
		}
		warnings++
		if m["code"] == "internal" {
			t.Errorf("an internal error while PostgreSQL was down: %v", m["error"])
		}
		if m["msg"] == "request failed" && m["code"] == "unavailable" {
			failed++
			s, _ := m["suppressed"].(float64)
			suppressed += int(s)
		}
	}
	intervals := int(elapsed/interval) + 2
	if failed == 0 || failed > intervals {
		t.Errorf("%d requests answered 503 in %v: %d \"request failed\" lines; want 1 to %d (one per interval)", n, elapsed, failed, intervals)
	}
	if failed > 1 && suppressed == 0 {
		t.Error("no line carries the count of those it stands for (suppressed)")
	}
	if int64(failed+suppressed) > n {
		t.Errorf("%d lines standing for %d more, for %d requests", failed, suppressed, n)
	}
	// Every other warning or error kind (webhook polling...) is limited too.
	if warnings > 5*intervals {
		t.Errorf("%d warning and error lines for %d requests in %v:\n%s", warnings, n, elapsed, logs.String())
	}
	t.Logf("%d requests in %v, all 503: %d \"request failed\" lines (standing for %d more), %d warnings and errors in all", n, elapsed.Round(time.Millisecond), failed, suppressed, warnings)

	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, code := post(t, hosp, "/v1/identify", zhangBody)
		if status == http.StatusNotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL is back, identify still answers %d %s", status, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Redis killed under a running server: identify and registration still
// answer (from the store; the change raises the cache epoch), the circuit
// breaker's opening is logged, go-redis's own lines come out as JSON
// through the service's logger, and the breaker closes once Redis is back.
//
// Not parallel: go-redis's logger is one per process (redis.SetLogger),
// and a server started by a parallel test would take its lines.
func TestRedisOutageUnderAServer(t *testing.T) {
	rs := storetest.StartRedisServer(t, "--appendonly", "no", "--save", "")
	logs := &syncBuffer{}
	base := startServerLog(t, map[string]string{
		"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data"), "REDIS_URL": "redis://" + rs.Addr(),
		"FIVEID_ADMIN_KEY": outageAdminKey, "FIVEID_LOG_REPEAT_INTERVAL": "0",
		"FIVEID_REDIS_BREAKER_COOLDOWN": "200ms",
	}, logs)
	hosp := systemKey(t, base)
	local := map[string]string{"local_id": "P1"}
	for k, v := range zhangBody {
		local[k] = v
	}
	hosp.do("POST", "/v1/customers", local, 201, nil)
	hosp.do("POST", "/v1/identify", zhangBody, 200, nil)

	rs.Kill()
	for range 20 {
		hosp.do("POST", "/v1/identify", zhangBody, 200, nil)
	}
	local["local_id"] = "P2"
	hosp.do("POST", "/v1/customers", local, 200, nil) // links to the same customer

	var open, redisLine bool
	for _, m := range logLines(t, logs.String()) {
		msg, _ := m["msg"].(string)
		detail, _ := m["detail"].(string)
		open = open || strings.HasPrefix(msg, "redis circuit breaker open") && m["level"] == "WARN"
		redisLine = redisLine || msg == "redis client" && m["level"] == "WARN" && strings.Contains(detail, "dial")
	}
	if !open {
		t.Error("the breaker's opening was not logged")
	}
	if !redisLine {
		t.Error("go-redis's failed dials did not come through the JSON logger")
	}

	rs.Start()
	deadline := time.Now().Add(10 * time.Second)
	for closed := false; !closed; {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not close after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
		hosp.do("POST", "/v1/identify", zhangBody, 200, nil)
		for _, m := range logLines(t, logs.String()) {
			closed = closed || strings.HasPrefix(m["msg"].(string), "redis circuit breaker closed")
		}
	}
}
