// Package apitest holds every test's HTTP traffic to openapi.yaml: a
// RoundTripper for tests that call a running server (the real binary in
// cmd/fiveid) and a Handler for tests that serve the echo instance in
// process (api). Each request is checked before it is sent and each
// response after, error responses included; a mismatch fails the test
// with the method, path, status and kin-openapi's message.
//
// A request outside the contract is allowed only when the server refuses
// it with a 4xx: tests send malformed bodies on purpose, and the contract
// and the server must then agree that it is malformed. A request the
// server accepts must conform. Every response must: a status the
// operation declares, a body (when there is one) with a declared schema it
// matches, declared headers that parse.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Unspecified are the path prefixes served outside openapi.yaml, left
// unchecked: each surface has its own contract (the web console's pages;
// FHIR R4, checked against FHIR's own definitions; Go's profiler).
var Unspecified = []string{"/console/", "/fhir/", "/debug/pprof/"}

type contract struct {
	doc    *openapi3.T
	router routers.Router
	err    error
}

var (
	loadOnce sync.Once
	loaded   contract
)

// load reads openapi.yaml from the module root once per test binary.
func load() contract {
	loadOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		path := filepath.Join(filepath.Dir(file), "..", "..", "openapi.yaml")
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			loaded.err = fmt.Errorf("openapi.yaml does not load: %w", err)
			return
		}
		// Servers name the default address; tests listen anywhere.
		doc.Servers = nil
		r, err := legacy.NewRouter(doc)
		if err != nil {
			loaded.err = fmt.Errorf("openapi.yaml: %w", err)
			return
		}
		loaded = contract{doc: doc, router: r}
	})
	return loaded
}

// NDJSON (the grant log export) is a string to the contract, as text/csv
// is: kin-openapi has no decoder of its own for it.
func init() {
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
}

// options: authentication is the server's to check (it does, and the
// tests of 401 say how); the check never changes the request (no
// defaults set) and fails on a status the operation does not declare.
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		SkipSettingDefaults:   true,
	}
}

// Check holds one exchange to openapi.yaml and reports every mismatch with
// t.Errorf.
func Check(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	if err := check(req, reqBody, status, header, body); err != nil {
		t.Errorf("openapi.yaml: %s %s -> %d: %v", req.Method, req.URL.RequestURI(), status, err)
	}
}

func check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	c := load()
	if c.err != nil {
		return c.err
	}
	for _, p := range Unspecified {
		if strings.HasPrefix(req.URL.Path, p) {
			return nil
		}
	}
	// A copy to validate: the original may be sent on.
	reqBody = withoutNulls(reqBody)
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	r.ContentLength = int64(len(reqBody))
	if len(reqBody) > 0 && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json") // documented: a body without a type is read as JSON
	}
	head := r.Method == http.MethodHead
	if head {
		r.Method = http.MethodGet // echo answers HEAD on GET routes
	}
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		// Not an operation: the server's answer is 404 or 405 with the
		// error body.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("no operation in openapi.yaml (%v), yet answered %d", err, status)
		}
		return errorBody(c.doc, status, header, body, head)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: options()}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	if reqErr != nil && (status < 400 || status > 499) {
		return fmt.Errorf("the request does not conform, yet answered %d: %v", status, brief(reqErr))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: options()}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("response: %v", brief(err))
	}
	if head || len(body) == 0 {
		return nil
	}
	// ValidateResponse passes a body the operation declares no content
	// for: the contract must say what every body is.
	resp := route.Operation.Responses.Status(status)
	if resp == nil || resp.Value == nil {
		return nil // reported above
	}
	mt := resp.Value.Content.Get(header.Get("Content-Type"))
	if mt == nil || mt.Schema == nil {
		return fmt.Errorf("response: a %s body that openapi.yaml gives no schema", header.Get("Content-Type"))
	}
	return nil
}

// withoutNulls drops the object members whose value is null from a JSON
// body: the server reads them as absent (openapi.yaml says so), which the
// schemas, listing types without null, cannot say member by member. Any
// other body is returned as it is.
func withoutNulls(body []byte) []byte {
	if !bytes.Contains(body, []byte("null")) {
		return body
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil || dec.More() {
		return body
	}
	var strip func(any) any
	strip = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, m := range v {
				if m == nil {
					delete(v, k)
				} else {
					v[k] = strip(m)
				}
			}
		case []any:
			for i := range v {
				v[i] = strip(v[i])
			}
		}
		return v
	}
	out, err := json.Marshal(strip(v))
	if err != nil {
		return body
	}
	return out
}

// errorBody checks an answer to a request no operation matches: the
// shared Error schema.
func errorBody(doc *openapi3.T, status int, header http.Header, body []byte, head bool) error {
	if head {
		return nil
	}
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("a %d answered with Content-Type %q, want application/json", status, ct)
	}
	s := doc.Components.Schemas["Error"]
	if s == nil || s.Value == nil {
		return errors.New("openapi.yaml has no Error schema")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("a %d body that is not JSON: %v", status, err)
	}
	opts := []openapi3.SchemaValidationOption{openapi3.VisitAsResponse()}
	if doc.IsOpenAPI31OrLater() {
		opts = append(opts, openapi3.EnableJSONSchema2020())
	}
	if err := s.Value.VisitJSON(v, opts...); err != nil {
		return fmt.Errorf("a %d body that is not an Error: %v", status, brief(err))
	}
	return nil
}

// brief is a validation error without the schema and value dumps
// kin-openapi appends (they run to pages).
func brief(err error) string {
	s := err.Error()
	for _, cut := range []string{"\nSchema:", "\nValue:"} {
		if i := strings.Index(s, cut); i >= 0 {
			s = s[:i]
		}
	}
	return s
}

// Transport checks every exchange it carries (base nil: the default
// transport).
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return transport{t: t, base: base}
}

// Client is an http.Client whose exchanges are checked.
func Client(t testing.TB) *http.Client {
	return &http.Client{Transport: Transport(t, nil)}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
}

func (tr transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody != nil {
			rc, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			reqBody, err = io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return nil, err
			}
		} else {
			b, err := io.ReadAll(req.Body)
			req.Body.Close()
			if err != nil {
				return nil, err
			}
			reqBody = b
			req.Body = io.NopCloser(bytes.NewReader(b))
		}
	}
	resp, err := tr.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil // the caller reads the same short body and sees the error its own way
	}
	Check(tr.t, req, reqBody, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// Handler serves h and checks every exchange.
func Handler(t testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			reqBody, _ = io.ReadAll(r.Body)
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		Check(t, r, reqBody, rec.Code, rec.Header(), rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}
