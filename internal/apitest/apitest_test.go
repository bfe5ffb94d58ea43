package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// check passes what openapi.yaml allows and names what it does not.
func TestCheck(t *testing.T) {
	t.Parallel()
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	readyHeader := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name         string
		method, path string
		reqBody      string
		status       int
		header       http.Header
		body         string
		wantErr      string // "" passes
	}{
		{"a conforming answer", "GET", "/healthz", "", 200, jsonHeader, `{"status":"ok"}`, ""},
		{"a body off its schema", "GET", "/healthz", "", 200, jsonHeader, `{"status":"fine"}`, "response"},
		{"a status not declared", "GET", "/healthz", "", 201, jsonHeader, `{"status":"ok"}`, "status is not supported"},
		{"an error body off the Error schema", "GET", "/v1/systems", "", 401, jsonHeader, `{"code":"nope","message":"x"}`, "response"},
		{"a declared error", "GET", "/v1/systems", "", 401, jsonHeader, `{"code":"unauthenticated","message":"x"}`, ""},
		{"a 503 declared nowhere", "GET", "/healthz", "", 503, jsonHeader, `{"code":"unavailable","message":"x"}`, "status is not supported"},
		{"a readiness answer", "GET", "/readyz", "", 200, readyHeader, `{"status":"ready","cache":"ok"}`, ""},
		{"a malformed request refused", "POST", "/v1/merges", `{"from":1}`, 400, jsonHeader,
			`{"code":"bad_request","message":"x","fields":[{"field":"from","code":"bad_request","message":"x"}]}`, ""},
		{"a malformed request accepted", "POST", "/v1/merges", `{"from":1}`, 201, jsonHeader,
			`{"id":"M1","from":"a","into":"b","at":"2026-11-22T08:00:00Z","actor":"k","override":false}`, "does not conform"},
		{"a null member is absent", "POST", "/v1/links", `{"system":"s","local_id":"l","customer_id":"c","x":null}`, 200, jsonHeader,
			`{"customer_id":"c","manual":true}`, ""},
		{"an unknown route's 404", "GET", "/v1/nowhere", "", 404, jsonHeader, `{"code":"not_found","message":"no such route"}`, ""},
		{"an unknown route's 200", "GET", "/v1/nowhere", "", 200, jsonHeader, `{}`, "no operation"},
		{"an unknown route's bad error", "PUT", "/v1/identify", "", 405, jsonHeader, `{"message":"x"}`, "not an Error"},
		{"a surface outside the contract", "GET", "/fhir/Patient", "", 200, http.Header{"Content-Type": {"application/fhir+json"}}, `{}`, ""},
		{"a CSV export", "GET", "/v1/audit/events?format=csv", "", 200, http.Header{"Content-Type": {"text/csv; charset=utf-8"}}, "seq,id\n", ""},
		{"an NDJSON export", "GET", "/v1/audit/events?format=ndjson", "", 200, http.Header{"Content-Type": {"application/x-ndjson"}}, "{}\n", ""},
		{"a media type not declared", "GET", "/v1/audit/events", "", 200, http.Header{"Content-Type": {"text/html"}}, "<p>", "response"},
		{"a body where none is declared", "DELETE", "/v1/webhooks/wh1", "", 204, jsonHeader, `{}`, "no schema"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.reqBody))
		if tc.reqBody != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		err := check(req, []byte(tc.reqBody), tc.status, tc.header, []byte(tc.body))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: passed, want an error with %q", tc.name, tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: %v, want %q in it", tc.name, err, tc.wantErr)
		}
	}
}

// Transport and Handler report through the test; a conforming exchange
// reports nothing.
func TestTransportAndHandler(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	srv := httptest.NewServer(Handler(t, h))
	defer srv.Close()
	resp, err := Client(t).Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}
