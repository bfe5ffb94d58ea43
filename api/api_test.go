package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"fiveid"
	"fiveid/api"
	"fiveid/internal/apitest"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

type env struct {
	e     *echo.Echo
	h     http.Handler // e, every exchange checked against openapi.yaml (apitest)
	svc   *fiveid.Service
	keys  map[string]string // role -> secret
	other string            // a system key of a second system
}

// newEnv serves the API on the embedded store.
func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, teststore.Embedded(t), nil)
}

// envs serves the API on each store: the embedded one, and PostgreSQL
// (storetest: skipped when unreachable, unless CI=true).
func envs(t testing.TB) map[string]*env {
	t.Helper()
	out := map[string]*env{"embedded": newEnv(t)}
	out["postgres"] = newEnvOn(t, teststore.Postgres(t), nil)
	return out
}

// newEnvOn is newEnv on a given store, with a clock (nil: time.Now).
func newEnvOn(t testing.TB, db *store.DB, clock fiveid.Clock) *env {
	t.Helper()
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Idempotency: db, Cache: store.NewMemoryCache(time.Minute, 100),
		Scorer: sc, Observer: m, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e, err := api.New(api.Config{Service: svc, Metrics: m, Gatherer: reg, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	admin := fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}
	for _, code := range []string{"hosp", "care"} {
		if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: code, Name: code, Kind: fiveid.KindMedical}); err != nil {
			t.Fatal(err)
		}
	}
	en := &env{e: e, h: apitest.Handler(t, e), svc: svc, keys: map[string]string{}}
	for role, system := range map[fiveid.Role]string{fiveid.RoleAdmin: "", fiveid.RoleAuditor: "", fiveid.RoleSystem: "hosp"} {
		_, secret, err := svc.CreateKey(ctx, admin, role, system, "")
		if err != nil {
			t.Fatal(err)
		}
		en.keys[string(role)] = secret
	}
	_, en.other, _ = svc.CreateKey(ctx, admin, fiveid.RoleSystem, "care", "")
	return en
}

func (en *env) do(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, r)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	en.h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

var zhang = map[string]string{"local_id": "P1", "name": "张伟", "sex": "女", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X"}

// openapi.yaml names every comparison level an explanation can carry.
func TestOpenAPIDocumentsEveryLevel(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("description: \"comparison level."))
	if i < 0 {
		t.Fatal("openapi.yaml does not describe the comparison levels")
	}
	doc := string(b[i : i+bytes.IndexByte(b[i:], '\n')])
	for _, f := range match.Fields {
		for _, l := range match.Levels(f) {
			if !regexp.MustCompile(f + `: [a-z_, ]*\b` + l + `\b`).MatchString(doc) {
				t.Errorf("openapi.yaml does not list %s level %s", f, l)
			}
		}
	}
}

// loadOpenAPI is openapi.yaml as kin-openapi reads it, validated: a
// spec third-party tools cannot read fails here first.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../openapi.yaml")
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// openapi.yaml is a valid OpenAPI document.
func TestOpenAPIValidates(t *testing.T) {
	t.Parallel()
	loadOpenAPI(t)
}

// Every operation has a unique camelCase operationId and tags declared at
// the top of openapi.yaml.
func TestOpenAPIOperationsAreNamedAndTagged(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	camel := regexp.MustCompile(`^[a-z]+[A-Za-z0-9]*$`)
	seen := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			switch id := op.OperationID; {
			case id == "":
				t.Errorf("%s has no operationId", where)
			case !camel.MatchString(id):
				t.Errorf("%s: operationId %q is not camelCase", where, id)
			case seen[id] != "":
				t.Errorf("%s and %s share operationId %q", seen[id], where, id)
			default:
				seen[id] = where
			}
			if len(op.Tags) == 0 {
				t.Errorf("%s has no tags", where)
			}
			for _, tag := range op.Tags {
				if doc.Tags.Get(tag) == nil {
					t.Errorf("%s: tag %q is not declared in the top-level tags", where, tag)
				}
			}
		}
	}
}

// Every authenticated operation declares, with the shared responses, the
// statuses any request to it may get before or instead of its handler's
// answer: 400 (a path segment or query parameter that is not text), 401
// (no or a bad key), 403 (a role that may not; every role may normalize),
// 429 (over the key's rate limit), 503 (authentication reads the store),
// and 413 and 415 where it reads a JSON body (decode refuses a body over
// its limit and any other Content-Type). The public ones (health, metrics,
// JWKS) declare none of them.
func TestOpenAPIDeclaresAuthStatuses(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	anyRole := map[string]bool{"normalizeElements": true}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			public := op.Security != nil && len(*op.Security) == 0
			want := map[string]string{}
			if !public {
				want["400"] = "BadRequest"
				want["401"] = "Unauthenticated"
				want["429"] = "RateLimited"
				want["503"] = "Unavailable"
				if !anyRole[op.OperationID] {
					want["403"] = "Forbidden"
				}
				if op.RequestBody != nil {
					want["413"] = "TooLarge"
					want["415"] = "UnsupportedMediaType"
				}
			}
			for _, status := range []string{"400", "401", "403", "413", "415", "429"} {
				r := op.Responses.Value(status)
				name, ok := want[status]
				switch {
				case ok && r == nil:
					t.Errorf("%s does not declare %s", where, status)
				case ok && r.Ref != "#/components/responses/"+name:
					t.Errorf("%s: %s is %q, want the shared #/components/responses/%s", where, status, r.Ref, name)
				case !ok && r != nil:
					t.Errorf("%s declares %s, which it cannot answer", where, status)
				}
			}
			if r := op.Responses.Value("503"); !public && (r == nil || r.Ref != "#/components/responses/Unavailable") {
				t.Errorf("%s does not declare 503 as the shared #/components/responses/Unavailable", where)
			}
		}
	}
}

// Every response openapi.yaml declares, but a 204, says what its body is:
// each media type has a schema, and every error status uses the shared
// Error schema. (apitest fails a test whose response has a body the spec
// gives no schema; this catches the statuses no test reaches.)
func TestOpenAPIResponsesHaveSchemas(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	errSchema := doc.Components.Schemas["Error"].Value
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, r := range op.Responses.Map() {
				where := method + " " + path + " " + status
				if status == "204" {
					if len(r.Value.Content) != 0 {
						t.Errorf("%s declares a body", where)
					}
					continue
				}
				if len(r.Value.Content) == 0 {
					t.Errorf("%s has no content", where)
				}
				for mt, c := range r.Value.Content {
					switch {
					case c.Schema == nil:
						t.Errorf("%s %s has no schema", where, mt)
					case status >= "400" && c.Schema.Value != errSchema:
						t.Errorf("%s %s is not the shared Error schema", where, mt)
					}
				}
			}
		}
	}
}

// The routes and openapi.yaml list the same (method, path) pairs.
func TestRoutesMatchOpenAPI(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var spec []string
	for p, ops := range doc.Paths {
		for m := range ops {
			spec = append(spec, strings.ToUpper(m)+" "+p)
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	var routes []string
	for _, r := range newEnv(t).e.Routes() {
		if strings.HasPrefix(r.Method, "echo_") {
			continue
		}
		routes = append(routes, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(spec)
	slices.Sort(routes)
	routes = slices.Compact(routes)
	for _, s := range spec {
		if !slices.Contains(routes, s) {
			t.Errorf("openapi.yaml documents %s, which is not routed", s)
		}
	}
	for _, r := range routes {
		if !slices.Contains(spec, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
}

// Every /v1 endpoint × every role: allowed, or 401/403.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	type ep struct {
		method, path string
		body         any
		allowed      []string
	}
	eps := []ep{
		{"POST", "/v1/systems", map[string]string{"code": "x-" + "%s", "name": "X"}, []string{"admin"}},
		{"GET", "/v1/systems", nil, []string{"admin"}},
		{"POST", "/v1/keys", map[string]string{"role": "auditor"}, []string{"admin"}},
		{"GET", "/v1/keys", nil, []string{"admin"}},
		{"DELETE", "/v1/keys/nope", nil, []string{"admin"}},
		{"DELETE", "/v1/keys/nope?revoke_grants=true", nil, []string{"admin"}},
		{"POST", "/v1/customers", zhang, []string{"system"}},
		{"POST", "/v1/customers/batch", map[string]any{"records": []any{zhang}}, []string{"system"}},
		{"GET", "/v1/customers/nope", nil, []string{"admin"}},
		{"POST", "/v1/identify", zhang, []string{"system"}},
		{"GET", "/v1/xref?system=hosp&local_id=P1", nil, []string{"system", "admin"}},
		{"POST", "/v1/normalize", zhang, []string{"system", "admin", "auditor"}},
		{"GET", "/v1/review-tasks", nil, []string{"admin"}},
		{"GET", "/v1/review-tasks/nope", nil, []string{"admin"}},
		{"POST", "/v1/review-tasks/nope/resolve", map[string]any{"version": 1, "resolution": "not_duplicate"}, []string{"admin"}},
		{"GET", "/v1/customers/nope/history", nil, []string{"admin"}},
		{"POST", "/v1/customers/nope/death", map[string]string{"date": "2026-11-20"}, []string{"admin"}}, // and funeral systems only
		{"POST", "/v1/links", map[string]string{"system": "hosp", "local_id": "P1", "customer_id": "nope"}, []string{"admin"}},
		{"POST", "/v1/unlink", map[string]string{"system": "hosp", "local_id": "nope"}, []string{"admin"}},
		{"POST", "/v1/merges/preview", map[string]string{"from": "a", "into": "b"}, []string{"admin"}},
		{"POST", "/v1/merges", map[string]string{"from": "a", "into": "b"}, []string{"admin"}},
		{"POST", "/v1/merges/nope/unmerge", nil, []string{"admin"}},
		{"POST", "/v1/scans", nil, []string{"admin"}},
		{"POST", "/v1/webhooks", map[string]string{"url": "http://127.0.0.1:9/hook"}, []string{"admin"}},
		{"GET", "/v1/webhooks", nil, []string{"admin"}},
		{"DELETE", "/v1/webhooks/nope", nil, []string{"admin"}},
		{"POST", "/v1/policies", map[string]any{"grantee": "care", "scopes": []string{"medical"}, "purposes": []string{"treatment"}}, []string{"admin"}},
		{"GET", "/v1/policies", nil, []string{"admin", "auditor"}},
		{"DELETE", "/v1/policies/nope", nil, []string{"admin"}},
		{"POST", "/v1/holders", map[string]any{"system": "hosp", "scopes": []string{"medical"}}, []string{"admin"}},
		{"GET", "/v1/holders", nil, []string{"admin", "auditor"}},
		{"DELETE", "/v1/holders/nope", nil, []string{"admin"}},
		{"GET", "/v1/grants", nil, []string{"admin", "auditor"}},
		{"DELETE", "/v1/grants/nope", nil, []string{"admin", "system"}},
		{"POST", "/v1/grants/introspect", map[string]string{"token": "x"}, []string{"system", "admin"}},
		{"GET", "/v1/audit/events", nil, []string{"auditor"}},
		{"GET", "/v1/audit/verify", nil, []string{"auditor", "admin"}},
	}
	delete(zhang, "local_id")
	zhang["local_id"] = "P1"
	for i, e := range eps {
		if e.path == "/v1/identify" {
			e.body = map[string]string{"name": "张伟", "birth_date": "1949-12-31"}
		}
		if code, _ := en.do(t, e.method, e.path, "", e.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s without a key: %d", e.method, e.path, code)
		}
		if code, _ := en.do(t, e.method, e.path, "fk_wrong", e.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong key: %d", e.method, e.path, code)
		}
		for _, role := range []string{"system", "auditor", "admin"} {
			body := e.body
			if m, ok := body.(map[string]string); ok && strings.Contains(m["code"], "%s") {
				body = map[string]string{"code": "x-" + role + string(rune('a'+i)), "name": "X"}
			}
			code, out := en.do(t, e.method, e.path, en.keys[role], body)
			allowed := slices.Contains(e.allowed, role)
			if allowed && (code == http.StatusForbidden || code == http.StatusUnauthorized || code >= 500) {
				t.Errorf("%s %s as %s: %d %v, want allowed", e.method, e.path, role, code, out)
			}
			if !allowed && code != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d %v, want 403", e.method, e.path, role, code, out)
			}
		}
	}
}

func TestBadInputIsA4xxNamingTheField(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	key := en.keys["system"]
	tests := []struct {
		name, body string
		status     int
		code       string
		field      string
	}{
		{"malformed JSON", `{"local_id": `, 400, "bad_request", ""},
		{"unknown field", `{"local_id":"1","nmae":"x"}`, 400, "bad_request", "nmae"},
		{"wrong type", `{"local_id": 7}`, 400, "bad_request", "local_id"},
		{"empty body", ``, 400, "bad_request", ""},
		{"trailing data", `{"local_id":"1","name":"张伟","birth_date":"1949-12-31"} {}`, 400, "bad_request", ""},
		{"missing local_id", `{"name":"张伟","birth_date":"1949-12-31"}`, 400, "validation_failed", "local_id"},
		{"no name", `{"local_id":"1","birth_date":"1949-12-31"}`, 400, "validation_failed", "name"},
		{"nothing identifying", `{"local_id":"1","name":"张伟"}`, 400, "validation_failed", "id_number"},
		{"oversized", `{"local_id":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "too_large", ""},
	}
	for _, tc := range tests {
		code, out := en.do(t, "POST", "/v1/customers", key, tc.body)
		if code != tc.status || out["code"] != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, out, tc.status, tc.code)
			continue
		}
		if tc.field != "" {
			fields, _ := out["fields"].([]any)
			if len(fields) == 0 || fields[0].(map[string]any)["field"] != tc.field {
				t.Errorf("%s: fields %v, want %s", tc.name, out["fields"], tc.field)
			}
		}
	}
	if code, out := en.do(t, "GET", "/v1/nowhere", key, nil); code != 404 || out["code"] != "not_found" {
		t.Errorf("unknown route: %d %v", code, out)
	}
	if code, out := en.do(t, "PUT", "/v1/identify", key, nil); code != 405 || out["code"] != "method_not_allowed" {
		t.Errorf("wrong method: %d %v", code, out)
	}
	if code, out := en.do(t, "POST", "/v1/customers/batch", key, map[string]any{"records": make([]any, 1001)}); code != 400 || out["code"] != "validation_failed" {
		t.Errorf("a batch of 1001: %d %v", code, out)
	}
}

func TestRegisterIdentifyXrefOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	code, reg := en.do(t, "POST", "/v1/customers", en.keys["system"], zhang)
	if code != 201 || reg["created"] != true {
		t.Fatalf("register: %d %v", code, reg)
	}
	cid := reg["customer_id"].(string)
	code, batch := en.do(t, "POST", "/v1/customers/batch", en.other, map[string]any{"records": []any{
		map[string]string{"local_id": "R1", "name": "張偉", "birth_date": "19491231", "id_type": "身份证", "id_number": "110105491231002"},
		map[string]string{"local_id": "R2", "name": ""},
	}})
	results, _ := batch["results"].([]any)
	if code != 200 || len(results) != 2 {
		t.Fatalf("batch: %d %v", code, batch)
	}
	first, second := results[0].(map[string]any), results[1].(map[string]any)
	if first["ok"] != true || first["result"].(map[string]any)["customer_id"] != cid {
		t.Errorf("batch record 0: %v", first)
	}
	if second["ok"] != false || second["error"].(map[string]any)["code"] != "validation_failed" {
		t.Errorf("batch record 1: %v", second)
	}
	code, id := en.do(t, "POST", "/v1/identify", en.other, map[string]string{"name": "张伟", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X"})
	if code != 200 || id["customer_id"] != cid || id["match"] == nil {
		t.Fatalf("identify: %d %v", code, id)
	}
	code, nm := en.do(t, "POST", "/v1/identify", en.other, map[string]string{"name": "李娜", "birth_date": "1990-01-01"})
	if code != 404 || nm["code"] != "no_match" || nm["customer_id"] != nil {
		t.Errorf("no match: %d %v", code, nm)
	}
	code, x := en.do(t, "GET", "/v1/xref?system=care&local_id=R1", en.keys["system"], nil)
	if code != 200 || x["customer_id"] != cid || len(x["records"].([]any)) != 2 {
		t.Errorf("xref: %d %v", code, x)
	}
	code, c := en.do(t, "GET", "/v1/customers/"+cid, en.keys["admin"], nil)
	if code != 200 || c["id_number_masked"] != "110105********002X" || len(c["records"].([]any)) != 2 {
		t.Errorf("customer: %d %v", code, c)
	}
	code, n := en.do(t, "POST", "/v1/normalize", en.keys["auditor"], map[string]string{"name": "阿卜杜拉•艾力", "id_type": "身份证", "id_number": "110105491231002"})
	if code != 200 || n["normalized"].(map[string]any)["name"] != "阿卜杜拉·艾力" || n["derived"].(map[string]any)["birth_date"] != "1949-12-31" {
		t.Errorf("normalize: %d %v", code, n)
	}
	// A possible match opens a review task a steward sees side by side.
	code, poss := en.do(t, "POST", "/v1/customers", en.other, map[string]string{"local_id": "R9", "name": "张伟", "birth_date": "1949-12-30"})
	if code != 201 || poss["review_task_id"] == nil {
		t.Fatalf("possible match: %d %v", code, poss)
	}
	code, task := en.do(t, "GET", "/v1/review-tasks/"+poss["review_task_id"].(string), en.keys["admin"], nil)
	if code != 200 || task["customer"] == nil || task["candidate"] == nil || task["match"] == nil {
		t.Fatalf("review task side by side: %d %v", code, task)
	}
	code, res := en.do(t, "POST", "/v1/review-tasks/"+task["id"].(string)+"/resolve", en.keys["admin"], map[string]any{"version": task["version"], "resolution": "merge"})
	if code != 200 || res["status"] != "resolved" {
		t.Fatalf("resolve by merge: %d %v", code, res)
	}
	code, _ = en.do(t, "POST", "/v1/review-tasks/"+task["id"].(string)+"/resolve", en.keys["admin"], map[string]any{"version": task["version"], "resolution": "merge"})
	if code != 409 {
		t.Fatalf("resolving a stale version: %d", code)
	}

	// Metrics saw the routes by pattern.
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	en.h.ServeHTTP(rec, req)
	for _, want := range []string{`fiveid_http_request_duration_seconds_count{method="POST",route="/v1/identify",status="200"}`,
		`fiveid_match_outcomes_total{grade="certain",op="identify"}`, `fiveid_cache_lookups_total{result="miss"}`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func FuzzRegisterBody(f *testing.F) {
	for _, s := range []string{`{}`, `{"local_id":"1","name":"张伟","birth_date":"1949-12-31"}`, `[]`, `null`, `{"local_id":null}`,
		`{"local_id":"\u0000","name":"\ud800"}`, `{"records":[{}]}`, `"x"`, `{"local_id":"1","name":1e999}`} {
		f.Add(s)
	}
	en := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/customers", "/v1/identify", "/v1/normalize", "/v1/customers/batch"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+en.keys["system"])
			rec := httptest.NewRecorder()
			apitest.Handler(t, en.e).ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q: %d %s", path, body, rec.Code, rec.Body.String())
			}
		}
	})
}
