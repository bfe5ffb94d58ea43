package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"fiveid"
	"fiveid/store/teststore"
)

// patient is zhang's record, a fresh map: TestRoleMatrix edits the shared
// one while other tests run.
func patient() map[string]string {
	return map[string]string{"local_id": "P1", "name": "张伟", "sex": "女", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X"}
}

// idemEnvs is an env on each store: embedded always, PostgreSQL when
// reachable (skipped otherwise, failed when CI=true). clock may be nil.
func idemEnvs(t *testing.T, clock fiveid.Clock) map[string]*env {
	t.Helper()
	out := map[string]*env{"embedded": newEnvOn(t, teststore.Embedded(t), clock)}
	out["postgres"] = newEnvOn(t, teststore.Postgres(t), clock)
	return out
}

// send posts body with an Idempotency-Key (none when key is "") and
// returns the whole response.
func (en *env) send(t *testing.T, path, apiKey, idemKey string, body any) *httptest.ResponseRecorder {
	t.Helper()
	var r *strings.Reader
	if s, ok := body.(string); ok {
		r = strings.NewReader(s)
	} else {
		j, _ := json.Marshal(body)
		r = strings.NewReader(string(j))
	}
	req := httptest.NewRequestWithContext(t.Context(), "POST", path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	rec := httptest.NewRecorder()
	en.h.ServeHTTP(rec, req)
	return rec
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return out
}

// grantsWith lets the env's hosp system receive medical data for
// treatment and registers the patient, so that identify finds her.
func (en *env) grantsWith(t *testing.T) map[string]any {
	t.Helper()
	if _, err := en.svc.CreatePolicy(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}, fiveid.Policy{
		Grantee: "hosp", Scopes: []string{"medical"}, Purposes: []string{"treatment"}}); err != nil {
		t.Fatal(err)
	}
	z := patient()
	if rec := en.send(t, "/v1/customers", en.keys["system"], "", z); rec.Code != 201 {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	return map[string]any{"name": z["name"], "sex": z["sex"], "birth_date": z["birth_date"], "id_type": z["id_type"],
		"id_number": z["id_number"], "scopes": []string{"medical"}, "purpose": "treatment", "ttl_seconds": 600}
}

func (en *env) grantCount(t *testing.T) int {
	t.Helper()
	code, out := en.do(t, "GET", "/v1/grants?limit=1000", en.keys["admin"], nil)
	if code != 200 {
		t.Fatalf("list grants: %d %v", code, out)
	}
	return len(out["grants"].([]any))
}

// The finding: 110 retries of an identify asking for a grant gave
// 112 grants. With an Idempotency-Key they give one grant and 110
// identical answers; the token served again is the token first issued.
func TestIdempotentIdentifyMintsOneGrant(t *testing.T) {
	t.Parallel()
	for name, en := range idemEnvs(t, nil) {
		t.Run(name, func(t *testing.T) {
			body := en.grantsWith(t)
			key := en.keys["system"]
			first := en.send(t, "/v1/identify", key, "order-4711", body)
			if first.Code != 200 || first.Header().Get("Idempotent-Replayed") != "" {
				t.Fatalf("first: %d %v %s", first.Code, first.Header(), first.Body)
			}
			grant, _ := decodeBody(t, first)["grant"].(map[string]any)
			if grant == nil || grant["token"] == "" || grant["token"] == nil {
				t.Fatalf("no grant: %s", first.Body)
			}
			for i := range 109 {
				again := en.send(t, "/v1/identify", key, "order-4711", body)
				if again.Code != 200 || again.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
					t.Fatalf("retry %d: %d %v\n%s\nwant\n%s", i+1, again.Code, again.Header(), again.Body, first.Body)
				}
			}
			if n := en.grantCount(t); n != 1 {
				t.Fatalf("110 retries minted %d grants", n)
			}
			if code, in := en.do(t, "POST", "/v1/grants/introspect", key, map[string]any{"token": grant["token"]}); code != 200 || in["active"] != true {
				t.Errorf("the replayed token: %d %v", code, in)
			}
			// The same request spelled differently is the same request.
			var spelled bytes.Buffer
			j, _ := json.Marshal(body)
			json.Indent(&spelled, j, "", "   ")
			if again := en.send(t, "/v1/identify", key, `"order-4711"`, spelled.String()); again.Code != 200 || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
				t.Errorf("the same request reformatted, the key quoted: %d %s", again.Code, again.Body)
			}
			// Another request under the key: 422, nothing runs.
			other := map[string]any{}
			for k, v := range body {
				other[k] = v
			}
			other["ttl_seconds"] = 60
			for path, b := range map[string]any{"/v1/identify": other, "/v1/customers": patient()} {
				rec := en.send(t, path, key, "order-4711", b)
				if out := decodeBody(t, rec); rec.Code != 422 || out["code"] != "idempotency_key_reused" {
					t.Errorf("%s under a used key: %d %v", path, rec.Code, out)
				}
			}
			if n := en.grantCount(t); n != 1 {
				t.Errorf("grants after the refused requests: %d", n)
			}
		})
	}
}

// Two API keys may use the same key string: each gets its own answer.
func TestIdempotencyKeysBelongToTheirAPIKey(t *testing.T) {
	t.Parallel()
	for name, en := range idemEnvs(t, nil) {
		t.Run(name, func(t *testing.T) {
			body := en.grantsWith(t)
			_, second, err := en.svc.CreateKey(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}, fiveid.RoleSystem, "hosp", "second")
			if err != nil {
				t.Fatal(err)
			}
			a := en.send(t, "/v1/identify", en.keys["system"], "shared", body)
			b := en.send(t, "/v1/identify", second, "shared", body)
			if a.Code != 200 || b.Code != 200 || b.Header().Get("Idempotent-Replayed") != "" {
				t.Fatalf("two keys of one system: %d, %d %v", a.Code, b.Code, b.Header())
			}
			ga, gb := decodeBody(t, a)["grant"].(map[string]any), decodeBody(t, b)["grant"].(map[string]any)
			if ga["id"] == gb["id"] {
				t.Errorf("the second key got the first key's grant")
			}
			// Another system, no policy: its own (kept) answer.
			c := en.send(t, "/v1/identify", en.other, "shared", body)
			if out := decodeBody(t, c); c.Code != 403 || out["code"] != "policy_denied" || c.Header().Get("Idempotent-Replayed") != "" {
				t.Errorf("another system: %d %v", c.Code, out)
			}
			if again := en.send(t, "/v1/identify", en.other, "shared", body); again.Code != 403 || again.Header().Get("Idempotent-Replayed") != "true" {
				t.Errorf("a denial is kept: %d %v", again.Code, again.Header())
			}
			if n := en.grantCount(t); n != 2 {
				t.Errorf("grants: %d, want one per API key", n)
			}
		})
	}
}

// Concurrent duplicates: one runs, the others wait for its answer (or,
// past the wait, hear that it is still running); one grant.
func TestIdempotentConcurrentDuplicatesMintOneGrant(t *testing.T) {
	t.Parallel()
	for name, en := range idemEnvs(t, nil) {
		t.Run(name, func(t *testing.T) {
			body := en.grantsWith(t)
			var wg sync.WaitGroup
			recs := make([]*httptest.ResponseRecorder, 24)
			for i := range recs {
				wg.Go(func() { recs[i] = en.send(t, "/v1/identify", en.keys["system"], "burst", body) })
			}
			wg.Wait()
			var ok []*httptest.ResponseRecorder
			ran := 0
			for _, r := range recs {
				switch {
				case r.Code == 200:
					ok = append(ok, r)
					if r.Header().Get("Idempotent-Replayed") == "" {
						ran++
					}
				case r.Code == 409 && decodeBody(t, r)["code"] == "idempotency_in_progress" && r.Header().Get("Retry-After") != "":
				default:
					t.Errorf("a duplicate: %d %s", r.Code, r.Body)
				}
			}
			if ran != 1 || len(ok) == 0 {
				t.Errorf("%d ran, %d answered", ran, len(ok))
			}
			for _, r := range ok {
				if !bytes.Equal(r.Body.Bytes(), ok[0].Body.Bytes()) {
					t.Errorf("duplicates answered differently:\n%s\n%s", r.Body, ok[0].Body)
				}
			}
			if n := en.grantCount(t); n != 1 {
				t.Errorf("concurrent duplicates minted %d grants", n)
			}
		})
	}
}

// After the TTL (24 h) a key is new again: the request runs again.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	clock := &testClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	for name, en := range idemEnvs(t, clock.Now) {
		t.Run(name, func(t *testing.T) {
			body := en.grantsWith(t)
			key := en.keys["system"]
			first := en.send(t, "/v1/identify", key, "daily", body)
			if first.Code != 200 {
				t.Fatalf("first: %d %s", first.Code, first.Body)
			}
			if again := en.send(t, "/v1/identify", key, "daily", body); again.Header().Get("Idempotent-Replayed") != "true" {
				t.Fatalf("not replayed within the TTL")
			}
			if rec := en.send(t, "/v1/customers", key, "once", map[string]string{"local_id": "P9", "name": "王芳", "birth_date": "1970-05-05"}); rec.Code != 201 {
				t.Fatalf("register: %d", rec.Code)
			}
			clock.Add(fiveid.DefaultIdempotencyTTL)
			later := en.send(t, "/v1/identify", key, "daily", body)
			if later.Code != 200 || later.Header().Get("Idempotent-Replayed") != "" {
				t.Fatalf("after the TTL: %d %v", later.Code, later.Header())
			}
			if decodeBody(t, later)["grant"].(map[string]any)["id"] == decodeBody(t, first)["grant"].(map[string]any)["id"] {
				t.Error("the expired key's grant was served again")
			}
			if n := en.grantCount(t); n != 2 {
				t.Errorf("grants: %d", n)
			}
			// And the new answer is the one replayed now.
			if again := en.send(t, "/v1/identify", key, "daily", body); !bytes.Equal(again.Body.Bytes(), later.Body.Bytes()) {
				t.Errorf("replay after renewal: %s", again.Body)
			}
			// The sweep deletes what expired ("once"), not the renewed key.
			if n, err := en.svc.SweepIdempotency(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}); err != nil || n != 1 {
				t.Errorf("sweep: %d %v", n, err)
			}
		})
	}
}

// testClock is a settable clock shared by the envs of one test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A register replay answers the same customer (201 created, as first)
// and writes no history; a batch replay is the first batch answer.
func TestIdempotentRegisterAndBatchReplay(t *testing.T) {
	t.Parallel()
	for name, en := range idemEnvs(t, nil) {
		t.Run(name, func(t *testing.T) {
			key := en.keys["system"]
			z := patient()
			first := en.send(t, "/v1/customers", key, "reg-1", z)
			if first.Code != 201 {
				t.Fatalf("register: %d %s", first.Code, first.Body)
			}
			cid := decodeBody(t, first)["customer_id"].(string)
			history := func() int {
				code, out := en.do(t, "GET", "/v1/customers/"+cid+"/history", en.keys["admin"], nil)
				if code != 200 {
					t.Fatalf("history: %d %v", code, out)
				}
				return len(out["changes"].([]any))
			}
			before := history()
			for range 5 {
				again := en.send(t, "/v1/customers", key, "reg-1", z)
				if again.Code != 201 || again.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
					t.Fatalf("replay: %d %v %s", again.Code, again.Header(), again.Body)
				}
			}
			if after := history(); after != before {
				t.Errorf("history grew from %d to %d entries on replays", before, after)
			}
			batch := map[string]any{"records": []any{
				map[string]string{"local_id": "B1", "name": "李娜", "sex": "女", "birth_date": "1990-01-01"},
				map[string]string{"local_id": "B2", "name": ""},
			}}
			b1 := en.send(t, "/v1/customers/batch", key, "batch-1", batch)
			b2 := en.send(t, "/v1/customers/batch", key, "batch-1", batch)
			if b1.Code != 200 || b2.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(b1.Body.Bytes(), b2.Body.Bytes()) {
				t.Errorf("batch replay: %d %s / %s", b1.Code, b1.Body, b2.Body)
			}
		})
	}
}

// Bad keys are a 400 with a stable code; a request refused for its input
// is not kept (a corrected request may reuse the key); a decision is.
func TestIdempotencyKeyRules(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	key := en.keys["system"]
	for name, k := range map[string]string{
		"empty quotes": `""`, "too long": strings.Repeat("k", 256), "space": "a b", "non-ASCII": "订单1", "control": "a\tb",
	} {
		rec := en.send(t, "/v1/customers", key, k, patient())
		if out := decodeBody(t, rec); rec.Code != 400 || out["code"] != "invalid_idempotency_key" {
			t.Errorf("%s: %d %v", name, rec.Code, out)
		}
	}
	req := httptest.NewRequestWithContext(t.Context(), "POST", "/v1/customers", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Add("Idempotency-Key", "a")
	req.Header.Add("Idempotency-Key", "b")
	rec := httptest.NewRecorder()
	en.h.ServeHTTP(rec, req)
	if rec.Code != 400 {
		t.Errorf("two keys: %d", rec.Code)
	}
	if rec := en.send(t, "/v1/customers", key, strings.Repeat("k", 255), patient()); rec.Code != 201 {
		t.Errorf("a 255-character key: %d %s", rec.Code, rec.Body)
	}

	bad := map[string]string{"local_id": "P2", "name": "张伟"} // nothing identifying
	if rec := en.send(t, "/v1/customers", key, "fix-me", bad); rec.Code != 400 {
		t.Fatalf("invalid record: %d %s", rec.Code, rec.Body)
	}
	fixed := map[string]string{"local_id": "P2", "name": "王芳", "birth_date": "1970-05-05"}
	if rec := en.send(t, "/v1/customers", key, "fix-me", fixed); rec.Code != 201 || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("the corrected request under the same key: %d %s", rec.Code, rec.Body)
	}
	// A malformed body never reaches the key at all.
	if rec := en.send(t, "/v1/customers", key, "malformed", `{"local_id":`); rec.Code != 400 {
		t.Errorf("malformed: %d", rec.Code)
	}
	if rec := en.send(t, "/v1/customers", key, "malformed", fixed); rec.Code != 200 || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("after a malformed body: %d %v", rec.Code, rec.Header())
	}

	// no_match is a decision: kept, even when the person is registered
	// meanwhile (a new question takes a new key).
	who := map[string]string{"name": "赵敏", "sex": "女", "birth_date": "1985-03-03"}
	if rec := en.send(t, "/v1/identify", key, "who-1", who); rec.Code != 404 {
		t.Fatalf("no match: %d %s", rec.Code, rec.Body)
	}
	if rec := en.send(t, "/v1/customers", key, "", map[string]string{"local_id": "P3", "name": "赵敏", "sex": "女", "birth_date": "1985-03-03"}); rec.Code != 201 {
		t.Fatalf("register: %d", rec.Code)
	}
	if rec := en.send(t, "/v1/identify", key, "who-1", who); rec.Code != 404 || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("kept no_match: %d %v", rec.Code, rec.Header())
	}
	// Routes without idempotency ignore the header.
	if code, _ := en.do(t, "POST", "/v1/normalize", key, who); code != 200 {
		t.Errorf("normalize: %d", code)
	}
}
