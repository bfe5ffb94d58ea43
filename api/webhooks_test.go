package api_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"fiveid"
	"fiveid/api"
)

var loopbackOnly = fiveid.WebhookPolicy{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// Each way a delivery fails gives its reason, and the status when the
// receiver answered.
func TestPosterReasons(t *testing.T) {
	t.Parallel()
	var insideHits atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { insideHits.Add(1) }))
	defer inside.Close()
	status := func(code int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "internal detail: 10.9.8.7", code)
		}))
		t.Cleanup(s.Close)
		return s
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // then the server sees the client go away
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer slow.Close()
	tlsRecv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsRecv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case's handshake error
	tlsRecv.StartTLS()
	defer tlsRecv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(tlsRecv.Certificate())
	redirect := httptest.NewServer(http.RedirectHandler(inside.URL, http.StatusFound))
	defer redirect.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("http://%s/in", ln.Addr())
	ln.Close()
	port := inside.Listener.Addr().(*net.TCPAddr).Port

	for _, c := range []struct {
		name   string
		cfg    api.PosterConfig
		url    string
		reason string // "" for delivered
		status int
	}{
		{"delivered", api.PosterConfig{Policy: loopbackOnly}, inside.URL, "", 0},
		{"delivered over tls", api.PosterConfig{Policy: loopbackOnly, RootCAs: roots}, tlsRecv.URL, "", 0},
		{"loopback by name", api.PosterConfig{}, fmt.Sprintf("http://localhost:%d/in", port), "blocked_address", 0},
		{"loopback by address", api.PosterConfig{}, inside.URL, "blocked_address", 0},
		{"ipv6 loopback", api.PosterConfig{}, "http://[::1]:9/in", "blocked_address", 0},
		{"mapped loopback", api.PosterConfig{}, fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/in", port), "blocked_address", 0},
		{"metadata", api.PosterConfig{}, "http://169.254.169.254/latest/meta-data/", "blocked_address", 0},
		{"unspecified", api.PosterConfig{}, fmt.Sprintf("http://0.0.0.0:%d/in", port), "blocked_address", 0},
		{"another loopback address than the allowed one", api.PosterConfig{Policy: loopbackOnly}, fmt.Sprintf("http://127.0.0.2:%d/in", port), "blocked_address", 0},
		{"unresolvable name", api.PosterConfig{}, "http://a..example/in", "dns", 0},
		{"closed port", api.PosterConfig{Policy: loopbackOnly}, closed, "connect_refused", 0},
		{"slow receiver", api.PosterConfig{Policy: loopbackOnly}, slow.URL, "timeout", 0},
		{"untrusted certificate", api.PosterConfig{Policy: loopbackOnly}, tlsRecv.URL, "tls", 0},
		{"https to a plain http server", api.PosterConfig{Policy: loopbackOnly}, strings.Replace(inside.URL, "http:", "https:", 1), "tls", 0},
		{"redirect", api.PosterConfig{Policy: loopbackOnly}, redirect.URL, "redirect", http.StatusFound},
		{"not found", api.PosterConfig{Policy: loopbackOnly}, status(http.StatusNotFound).URL, "http_4xx", http.StatusNotFound},
		{"unavailable", api.PosterConfig{Policy: loopbackOnly}, status(http.StatusServiceUnavailable).URL, "http_5xx", http.StatusServiceUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Long enough for a TLS handshake under the race detector on a
			// loaded machine; the slow receiver takes longer than its wait.
			wait := 3 * time.Second
			if c.reason == "timeout" {
				wait = 300 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			err := api.NewPoster(c.cfg)(ctx, c.url, []byte(`{}`), map[string]string{"Content-Type": "application/json"})
			if c.reason == "" {
				if err != nil {
					t.Fatalf("not delivered: %v", err)
				}
				return
			}
			var f *fiveid.DeliveryFailure
			if !errors.As(err, &f) {
				t.Fatalf("error %v (%T), want a *fiveid.DeliveryFailure", err, err)
			}
			if f.Reason != c.reason || f.Status != c.status {
				t.Errorf("reason %q status %d (%v), want %q %d", f.Reason, f.Status, f.Err, c.reason, c.status)
			}
			if strings.Contains(f.Error(), "10.9.8.7") || strings.Contains(f.Error(), "127.0.0.1") {
				t.Errorf("the failure's text shows an address or the receiver's answer: %s", f.Error())
			}
		})
	}
	// Deliveries to inside itself: "delivered" only.
	if n := insideHits.Load(); n != 1 {
		t.Errorf("the inside server was reached %d times, want once (by the allowed delivery)", n)
	}
}

// HTTP(S)_PROXY would have the proxy dial the receiver, unchecked: the
// poster ignores it. Not parallel: it sets the environment.
func TestPosterIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer proxy.Close()
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	err := api.NewPoster(api.PosterConfig{})(t.Context(), "http://169.254.169.254/latest/meta-data/", []byte(`{}`), nil)
	var f *fiveid.DeliveryFailure
	if !errors.As(err, &f) || f.Reason != fiveid.FailureBlockedAddress {
		t.Errorf("delivery to metadata with a proxy configured: %v, want blocked_address", err)
	}
	if n := proxied.Load(); n != 0 {
		t.Errorf("the proxy was used %d times", n)
	}
}

// POST /v1/webhooks answers 400 naming the field url for an inside URL;
// GET shows a failure as a reason and a status only.
func TestWebhooksOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	admin := en.keys["admin"]
	for _, c := range []struct{ url, code string }{
		{"http://169.254.169.254/latest/meta-data/", "address_not_allowed"},
		{"http://127.0.0.1:5432/", "address_not_allowed"},
		{"http://2130706433/", "address_not_allowed"},
		{"https://[::1]/", "address_not_allowed"},
		{"https://user:password@hooks.example/", "credentials_not_allowed"},
		{"http://hooks.example/", "scheme_not_allowed"},
	} {
		code, out := en.do(t, "POST", "/v1/webhooks", admin, map[string]string{"url": c.url})
		fields, _ := out["fields"].([]any)
		var f map[string]any
		if len(fields) == 1 {
			f, _ = fields[0].(map[string]any)
		}
		if code != http.StatusBadRequest || out["code"] != "validation_failed" || f["field"] != "url" || f["code"] != c.code {
			t.Errorf("POST /v1/webhooks %s: %d %v, want 400 validation_failed url %s", c.url, code, out, c.code)
		}
	}
	code, out := en.do(t, "POST", "/v1/webhooks", admin, map[string]string{"url": "https://hooks.example/in"})
	if code != http.StatusCreated || out["secret"] == "" {
		t.Fatalf("POST /v1/webhooks: %d %v", code, out)
	}
	_, out = en.do(t, "GET", "/v1/webhooks", admin, nil)
	if list, _ := out["webhooks"].([]any); len(list) != 1 || list[0].(map[string]any)["last_error"] != nil || list[0].(map[string]any)["secret"] != nil {
		t.Errorf("GET /v1/webhooks before any delivery: %v, want one webhook without last_error or secret", out)
	}
	// A receiver answers 503 with an inside address in its text.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		en.svc.RunWebhooks(ctx, func(context.Context, string, []byte, map[string]string) error {
			return &fiveid.DeliveryFailure{Reason: fiveid.FailureHTTP5xx, Status: 503, Err: errors.New("database at 10.9.8.7 is down")}
		}, fiveid.WebhookOptions{Lag: time.Millisecond, Backoff: time.Hour, Interval: time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	en.do(t, "POST", "/v1/customers", en.keys["system"], map[string]string{"local_id": "P1", "name": "张伟", "sex": "男", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X"})
	var w map[string]any
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, out = en.do(t, "GET", "/v1/webhooks", admin, nil)
		if list, _ := out["webhooks"].([]any); len(list) == 1 {
			if w = list[0].(map[string]any); w["last_error"] != nil {
				break
			}
		}
	}
	if w["last_error"] != "http_5xx" || w["last_status"] != float64(503) || w["failed_attempts"] != float64(1) {
		t.Errorf("GET /v1/webhooks after a failed delivery: %v, want last_error http_5xx, last_status 503", w)
	}
	if raw, _ := json.Marshal(w); strings.Contains(string(raw), "10.9.8.7") {
		t.Errorf("the delivery state shows the receiver's text: %s", raw)
	}
}

// The delivery failure reasons are one list: the code's and the
// openapi.yaml enum of last_error.
func TestOpenAPIListsDeliveryFailureReasons(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Webhook struct {
					Properties struct {
						LastError struct {
							Enum []string `yaml:"enum"`
						} `yaml:"last_error"`
					} `yaml:"properties"`
				} `yaml:"Webhook"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas.Webhook.Properties.LastError.Enum; !slices.Equal(got, fiveid.DeliveryFailureReasons) {
		t.Errorf("openapi.yaml Webhook.last_error enum %v, want %v", got, fiveid.DeliveryFailureReasons)
	}
}
