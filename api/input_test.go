package api_test

import (
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"fiveid"
	"fiveid/internal/apitest"
)

// A NUL or invalid UTF-8 anywhere — a body field at any depth, a member
// name, a path segment, a query parameter — is the same 400 naming the
// field on both stores: PostgreSQL cannot store it (it said 500), SQLite
// would (it said 201 or 404).
func TestUnstorableTextIs400NamingTheField(t *testing.T) {
	t.Parallel()
	for name, en := range envs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sys, adm, aud := en.keys["system"], en.keys["admin"], en.keys["auditor"]
			tests := []struct {
				name, method, path, key, body string
				field                         string
			}{
				{"NUL in a name", "POST", "/v1/customers", sys, `{"local_id":"N1","name":"张\u0000伟","birth_date":"1949-12-31"}`, "name"},
				{"NUL in a local ID", "POST", "/v1/customers", sys, `{"local_id":"N\u00001","name":"张伟","birth_date":"1949-12-31"}`, "local_id"},
				{"invalid UTF-8 in a name", "POST", "/v1/customers", sys, "{\"local_id\":\"N2\",\"name\":\"\xe5\xbc\",\"birth_date\":\"1949-12-31\"}", "name"},
				{"a batch record", "POST", "/v1/customers/batch", sys, `{"records":[{"local_id":"B1","name":"张伟"},{"local_id":"B2","id_number":"\u0000"}]}`, "records[1].id_number"},
				{"a scope", "POST", "/v1/identify", sys, `{"name":"张伟","birth_date":"1949-12-31","scopes":["medical","x\u0000"],"purpose":"treatment"}`, "scopes[1]"},
				{"a member name", "POST", "/v1/normalize", sys, `{"na\u0000me":"张伟"}`, `na\u0000me`},
				{"a system name", "POST", "/v1/systems", adm, `{"code":"s1","name":"\u0000","kind":"medical"}`, "name"},
				{"a key name", "POST", "/v1/keys", adm, "{\"role\":\"auditor\",\"name\":\"\xff\"}", "name"},
				{"a link", "POST", "/v1/links", adm, `{"system":"hosp","local_id":"\u0000","customer_id":"C1"}`, "local_id"},
				{"a merge reason", "POST", "/v1/merges", adm, `{"from":"a","into":"b","override":true,"reason":"\u0000"}`, "reason"},
				{"a webhook URL", "POST", "/v1/webhooks", adm, `{"url":"http://127.0.0.1:9/\u0000"}`, "url"},
				{"a token", "POST", "/v1/grants/introspect", sys, `{"token":"\u0000"}`, "token"},
				{"a path segment", "GET", "/v1/customers/%00", adm, "", "id"},
				{"invalid UTF-8 in a path segment", "GET", "/v1/customers/%E5%BC/history", adm, "", "id"},
				{"a path segment of a POST", "POST", "/v1/customers/%00/death", adm, `{"date":"2026-11-20"}`, "id"},
				{"a deletion", "DELETE", "/v1/keys/%00", adm, "", "id"},
				{"a query parameter", "GET", "/v1/xref?system=hosp&local_id=%00", sys, "", "local_id"},
				{"invalid UTF-8 in a query parameter", "GET", "/v1/grants?grantee=%FF", adm, "", "grantee"},
				{"an audit filter", "GET", "/v1/audit/events?customer_id=C%00&format=csv", aud, "", "customer_id"},
				{"a query parameter's name", "GET", "/v1/review-tasks?st%00atus=open", adm, "", `st\u0000atus`},
			}
			for _, tc := range tests {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				code, out := en.do(t, tc.method, tc.path, tc.key, body)
				fields, _ := out["fields"].([]any)
				if code != http.StatusBadRequest || out["code"] != "validation_failed" || len(fields) != 1 {
					t.Errorf("%s: %d %v, want 400 validation_failed with one field", tc.name, code, out)
					continue
				}
				if f := fields[0].(map[string]any); f["field"] != tc.field || f["code"] != "invalid_text" {
					t.Errorf("%s: field %v, want %s invalid_text", tc.name, f, tc.field)
				}
			}
			// An escaped backslash before u0000 is text like any other.
			if code, out := en.do(t, "POST", "/v1/normalize", sys, `{"name":"张\\u0000伟","birth_date":"1949-12-31"}`); code != http.StatusOK {
				t.Errorf("a literal \\u0000: %d %v", code, out)
			}
			// Nothing was registered on the way.
			if code, out := en.do(t, "GET", "/v1/xref?system=hosp&local_id=N1", sys, nil); code != http.StatusNotFound {
				t.Errorf("a refused record was stored: %d %v", code, out)
			}
			// Without a key the answer is still 401.
			if code, _ := en.do(t, "GET", "/v1/customers/%00", "", nil); code != http.StatusUnauthorized {
				t.Errorf("no key: %d, want 401", code)
			}
		})
	}
}

// fuzzRoutes are the JSON endpoints the body fuzz drives, each with a
// template whose «slots» take hostile values one at a time (the others
// keep their «defaults»).
var fuzzRoutes = []struct {
	method, path, role, template string
}{
	{"POST", "/v1/customers", "system", `{"local_id":«"F1"»,"name":«"张伟"»,"sex":«"女"»,"birth_date":«"1949-12-31"»,"id_type":«"01"»,"id_number":«"11010519491231002X"»}`},
	{"POST", "/v1/customers/batch", "system", `{"records":[{"local_id":«"F2"»,"name":«"张伟"»,"birth_date":"1949-12-31"},{"local_id":"F3","id_number":«"110105491231002"»}]}`},
	{"POST", "/v1/identify", "system", `{"name":«"张伟"»,"birth_date":«"1949-12-31"»,"scopes":[«"medical"»],"purpose":«"treatment"»,"ttl_seconds":«60»}`},
	{"POST", "/v1/normalize", "system", `{"name":«"阿卜杜拉•艾力"»,"id_type":«"身份证"»,"id_number":«"110105491231002"»,"id_table":«"ws364"»}`},
	{"POST", "/v1/grants/introspect", "system", `{"token":«"eyJhbGciOiJFZERTQSJ9.e30.x"»,"presenter":«"care"»}`},
	{"POST", "/v1/systems", "admin", `{"code":«"fz"»,"name":«"第一医院"»,"kind":«"medical"»,"id_table":«"ws364"»}`},
	{"POST", "/v1/keys", "admin", `{"role":«"system"»,"system":«"hosp"»,"name":«"HIS"»}`},
	{"POST", "/v1/policies", "admin", `{"grantee":«"care"»,"scopes":[«"medical"»],"purposes":[«"treatment"»],"max_ttl_seconds":«3600»}`},
	{"POST", "/v1/holders", "admin", `{"system":«"hosp"»,"scopes":[«"medical"»]}`},
	{"POST", "/v1/links", "admin", `{"system":«"hosp"»,"local_id":«"F1"»,"customer_id":«"C1"»}`},
	{"POST", "/v1/unlink", "admin", `{"system":«"hosp"»,"local_id":«"F1"»}`},
	{"POST", "/v1/merges/preview", "admin", `{"from":«"C1"»,"into":«"C2"»}`},
	{"POST", "/v1/merges", "admin", `{"from":«"C1"»,"into":«"C2"»,"override":«true»,"reason":«"same person"»}`},
	{"POST", "/v1/review-tasks/R1/resolve", "admin", `{"version":«1»,"resolution":«"link"»,"customer_id":«"C1"»,"reason":«"ok"»}`},
	{"POST", "/v1/customers/C1/death", "admin", `{"date":«"2026-11-20"»,"source":«"hospital"»}`},
	{"POST", "/v1/webhooks", "admin", `{"url":«"https://his.example/hook"»}`},
}

// hostile JSON values, as raw bytes: the JSON encoder would have repaired
// the invalid UTF-8 ones.
var hostile = []string{`"\u0000"`, `"张\u0000伟"`, "\"\xff\xfe\"", "\"\xed\xa0\x80\"", "\"张\xe4\xbc\"", `"\ud800"`, `"\\u0000"`,
	`"\u202e伟张"`, `""`, `null`, `-1`, `1e999`, `9223372036854775808`, `[]`, `{}`, `"` + strings.Repeat("王", 3000) + `"`}

var slot = regexp.MustCompile(`«(.*?)»`)

// FuzzBodies drives the real echo instance on both stores — PostgreSQL
// refuses text SQLite keeps — and asserts that no body is a 5xx and that
// both stores answer alike. make test runs the seeds (every slot of every
// route with every hostile value); `make fuzz` mutates them.
func FuzzBodies(f *testing.F) {
	for i, r := range fuzzRoutes {
		slots := slot.FindAllStringSubmatchIndex(r.template, -1)
		for s := range slots {
			for _, h := range hostile {
				n := 0
				body := slot.ReplaceAllStringFunc(r.template, func(m string) string {
					n++
					if n-1 == s {
						return h
					}
					return slot.FindStringSubmatch(m)[1]
				})
				f.Add(uint8(i), body)
			}
		}
	}
	ens := envs(f)
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		codes := map[string]int{}
		for name, en := range ens {
			req := httptest.NewRequestWithContext(t.Context(), r.method, r.path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+en.keys[r.role])
			rec := httptest.NewRecorder()
			apitest.Handler(t, en.e).ServeHTTP(rec, req) // the fuzz target's t, not the env's f
			if rec.Code >= 500 {
				t.Fatalf("%s: %s %s %q: %d %s", name, r.method, r.path, body, rec.Code, rec.Body.String())
			}
			codes[name] = rec.Code
		}
		if pg, ok := codes["postgres"]; ok && pg != codes["embedded"] {
			t.Fatalf("%s %s %q: embedded %d, postgres %d", r.method, r.path, body, codes["embedded"], pg)
		}
	})
}

// A client's X-Request-Id is taken only when short and plain; anything else
// gets a fresh one, which is what the response, the log and the grant log
// carry. On both stores.
func TestRequestIDIsTakenOnlyWhenPlain(t *testing.T) {
	t.Parallel()
	for name, en := range envs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			identify := func(rid string) string {
				req := httptest.NewRequestWithContext(t.Context(), "POST", "/v1/identify",
					strings.NewReader(`{"name":"李娜","birth_date":"1990-01-01"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+en.keys["system"])
				req.Header.Set("X-Request-Id", rid)
				rec := httptest.NewRecorder()
				en.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusNotFound {
					t.Fatalf("identify: %d %s", rec.Code, rec.Body.String())
				}
				return rec.Header().Get("X-Request-Id")
			}
			var sent []string
			for _, rid := range []string{"req-42.a:b_c", strings.Repeat("x", 500_000), "<img src=x>", "=HYPERLINK(\"http://evil\")", ""} {
				got := identify(rid)
				if !fiveid.ValidRequestID(got) {
					t.Fatalf("X-Request-Id %q answered with %.80q", rid, got)
				}
				if (rid == "req-42.a:b_c") != (got == rid) {
					t.Errorf("X-Request-Id %.80q answered with %q", rid, got)
				}
				sent = append(sent, got)
			}
			code, out := en.do(t, "GET", "/v1/audit/events?action=identify.no_match", en.keys["auditor"], nil)
			evs, _ := out["events"].([]any)
			if code != http.StatusOK || len(evs) != len(sent) {
				t.Fatalf("audit: %d %v", code, out)
			}
			for i, e := range evs {
				if rid := e.(map[string]any)["request_id"]; rid != sent[i] {
					t.Errorf("entry %d: request_id %.80q, want %q", i, rid, sent[i])
				}
			}
		})
	}
}

// The CSV export neutralizes cells a spreadsheet would run as formulas
// (the system code and request ID here start with "-"); NDJSON carries the
// values unchanged. On both stores.
func TestAuditCSVIsFormulaSafe(t *testing.T) {
	t.Parallel()
	for name, en := range envs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if code, out := en.do(t, "POST", "/v1/systems", en.keys["admin"], map[string]string{"code": "-2-3", "name": "X", "kind": "medical"}); code != http.StatusCreated {
				t.Fatalf("system: %d %v", code, out)
			}
			code, key := en.do(t, "POST", "/v1/keys", en.keys["admin"], map[string]string{"role": "system", "system": "-2-3"})
			if code != http.StatusCreated {
				t.Fatalf("key: %d %v", code, key)
			}
			req := httptest.NewRequestWithContext(t.Context(), "POST", "/v1/identify", strings.NewReader(`{"name":"李娜","birth_date":"1990-01-01"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key["key"].(string))
			req.Header.Set("X-Request-Id", "-A1-A2")
			en.h.ServeHTTP(httptest.NewRecorder(), req)

			export := func(format string) string {
				req := httptest.NewRequestWithContext(t.Context(), "GET", "/v1/audit/events?action=identify.no_match&format="+format, nil)
				req.Header.Set("Authorization", "Bearer "+en.keys["auditor"])
				rec := httptest.NewRecorder()
				en.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					t.Fatalf("%s export: %d %s", format, rec.Code, rec.Body.String())
				}
				return rec.Body.String()
			}
			rows, err := csv.NewReader(strings.NewReader(export("csv"))).ReadAll()
			if err != nil || len(rows) != 2 {
				t.Fatalf("csv: %v %q", err, rows)
			}
			cell := func(col string) string { return rows[1][slices.Index(rows[0], col)] }
			if cell("actor_system") != "'-2-3" || cell("request_id") != "'-A1-A2" {
				t.Errorf("csv cells actor_system %q, request_id %q: want them neutralized", cell("actor_system"), cell("request_id"))
			}
			if nd := export("ndjson"); !strings.Contains(nd, `"actor_system":"-2-3"`) || !strings.Contains(nd, `"request_id":"-A1-A2"`) {
				t.Errorf("ndjson changed the values: %s", nd)
			}
		})
	}
}

// A JSON endpoint takes application/json (parameters allowed; a charset
// only if UTF-8) or an unlabelled body; any other type is 415 before the
// body is read.
func TestJSONEndpointsRefuseOtherContentTypes(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	body := `{"name":"张伟","birth_date":"1949-12-31"}`
	for ct, want := range map[string]int{
		"application/json":                  http.StatusOK,
		"application/json; charset=utf-8":   http.StatusOK,
		`Application/JSON; charset="UTF-8"`: http.StatusOK,
		"":                                  http.StatusOK,
		"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType, // curl -d without -H
		"text/plain;charset=UTF-8":          http.StatusUnsupportedMediaType, // a browser's fetch default
		"multipart/form-data; boundary=x":   http.StatusUnsupportedMediaType,
		"application/xml":                   http.StatusUnsupportedMediaType,
		"application/json; charset=gbk":     http.StatusUnsupportedMediaType,
		"application/json;;":                http.StatusUnsupportedMediaType,
	} {
		req := httptest.NewRequestWithContext(t.Context(), "POST", "/v1/normalize", strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+en.keys["system"])
		rec := httptest.NewRecorder()
		en.h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, rec.Code, rec.Body.String(), want)
		}
		if want == http.StatusUnsupportedMediaType && !strings.Contains(rec.Body.String(), `"code":"unsupported_media_type"`) {
			t.Errorf("Content-Type %q: %s", ct, rec.Body.String())
		}
	}
}

// README's curl examples that send a body say it is JSON: curl -d alone
// sends application/x-www-form-urlencoded, which is 415. (With -G the data
// goes into the query; /fhir bodies are application/fhir+json.)
func TestREADMECurlBodiesAreJSON(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cmds := strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n")
	n := 0
	for _, c := range cmds {
		if !strings.Contains(c, "curl ") || !regexp.MustCompile(`\s(-d|--data\S*)\s`).MatchString(c) || strings.Contains(c, " -G ") {
			continue
		}
		n++
		fhirJSON := strings.Contains(c, "$FHIR/") && strings.Contains(c, "Content-Type: application/fhir+json")
		if !strings.Contains(c, "Content-Type: application/json") && !strings.Contains(c, "--json") && !fhirJSON {
			t.Errorf("README sends a body without Content-Type: application/json:\n%s", c)
		}
	}
	if n == 0 {
		t.Error("found no curl example with a body in README.md")
	}
}

// Every response — data, errors, exports, probes — carries no-store (but
// the JWKS, which holds public keys only) and the usual security headers.
func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	code, reg := en.do(t, "POST", "/v1/customers", en.keys["system"], zhang)
	if code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, reg)
	}
	want := map[string]string{
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	}
	for _, tc := range []struct {
		method, path, key, body string
		status                  int
	}{
		{"GET", "/v1/customers/" + reg["customer_id"].(string), en.keys["admin"], "", http.StatusOK},
		{"POST", "/v1/identify", en.keys["system"], `{"name":"张伟","birth_date":"1949-12-31","id_type":"01","id_number":"11010519491231002X"}`, http.StatusOK},
		{"GET", "/v1/keys", en.keys["admin"], "", http.StatusOK},
		{"GET", "/v1/audit/events?format=csv", en.keys["auditor"], "", http.StatusOK},
		{"GET", "/v1/audit/events?format=ndjson", en.keys["auditor"], "", http.StatusOK},
		{"GET", "/v1/customers/nope", en.keys["admin"], "", http.StatusNotFound},
		{"GET", "/v1/customers/nope", "", "", http.StatusUnauthorized},
		{"POST", "/v1/customers", en.keys["system"], `{"local_id":`, http.StatusBadRequest},
		{"PUT", "/v1/identify", en.keys["system"], "", http.StatusMethodNotAllowed},
		{"GET", "/nowhere", "", "", http.StatusNotFound},
		{"GET", "/healthz", "", "", http.StatusOK},
		{"GET", "/metrics", "", "", http.StatusOK},
		{"GET", "/.well-known/jwks.json", "", "", http.StatusOK},
	} {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		if tc.key != "" {
			req.Header.Set("Authorization", "Bearer "+tc.key)
		}
		rec := httptest.NewRecorder()
		en.h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
		for h, v := range want {
			if h == "Cache-Control" && tc.path == "/.well-known/jwks.json" {
				continue // public keys, no personal data: its handler lets verifiers cache them
			}
			if got := rec.Header().Get(h); got != v {
				t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, h, got, v)
			}
		}
	}
}
