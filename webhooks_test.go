package fiveid_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiveid"
	"fiveid/api"
	"fiveid/match"
	"fiveid/store"
)

// allowLoopback lets webhooks reach httptest servers: plain http to
// 127.0.0.1, and connections to it.
var allowLoopback = fiveid.WebhookPolicy{AllowHTTPHosts: []string{"127.0.0.1"}, AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// A receiver that fails its first attempts and a service restart in
// between: every change still arrives, in order, signed.
func TestWebhookDeliverySurvivesFailuresAndRestart(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []fiveid.WebhookEvent
	failures := 3
	var secret string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		if err := verifyFiveidSignature(secret, r.Header.Get("X-Fiveid-Signature"), body, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
		}
		var e fiveid.WebhookEvent
		json.Unmarshal(body, &e)
		got = append(got, e)
	}))
	defer recv.Close()

	dir := filepath.Join(t.TempDir(), "data")
	open := func() (*fiveid.Service, func()) {
		db, err := store.OpenEmbedded(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
		svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewMemoryCache(time.Minute, 10), Scorer: sc, Webhooks: allowLoopback})
		if err != nil {
			t.Fatal(err)
		}
		return svc, func() { svc.Close(); db.Close() }
	}
	opt := fiveid.WebhookOptions{Lag: time.Millisecond, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Interval: 5 * time.Millisecond}
	svc, closeFn := open()
	_, sec, err := svc.CreateWebhook(t.Context(), admin, recv.URL)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = sec
	mu.Unlock()
	p := setup(t, svc, "a")
	time.Sleep(2 * time.Millisecond)
	r, _ := svc.Register(t.Context(), p["a"], "1", zhang)
	// Deliver until the receiver has failed a few times, then "crash".
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { svc.RunWebhooks(ctx, api.NewPoster(api.PosterConfig{Policy: allowLoopback}), opt); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		f := failures
		mu.Unlock()
		if f == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	closeFn()

	svc, closeFn = open()
	defer closeFn()
	if _, err := svc.RecordDeath(t.Context(), admin, r.CustomerID, "2026-11-20", ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	go svc.RunWebhooks(ctx, api.NewPoster(api.PosterConfig{Policy: allowLoopback}), opt)
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, e := range got {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"created", "linked", "death_recorded"}
	if len(kinds) < 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("delivered %v, want %v in order", kinds, want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID == got[i-1].ID {
			t.Errorf("an event was delivered twice in a row after acknowledgement: %s", got[i].ID)
		}
	}
	mu.Unlock()
	// The acknowledgement is stored just after the receiver answers.
	var hooks []fiveid.Webhook
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		hooks, _ = svc.ListWebhooks(t.Context(), admin)
		if len(hooks) == 1 && hooks[0].Delivered >= 3 {
			break
		}
	}
	mu.Lock()
	if len(hooks) != 1 || hooks[0].Delivered < 3 || hooks[0].Attempts != 0 {
		t.Errorf("delivery state: %+v", hooks)
	}
}

// webhookServices is a Service on each store this machine has (as
// servicesAndStores), with policy as its webhook policy.
func webhookServices(t *testing.T, policy fiveid.WebhookPolicy) map[string]serviceAndStore {
	t.Helper()
	return servicesAndStoresWith(t, fiveid.Config{Webhooks: policy})
}

// quickDelivery delivers changes as soon as they exist.
var quickDelivery = fiveid.WebhookOptions{Lag: time.Millisecond, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Interval: time.Millisecond}

// change makes one customer change old enough to be delivered.
func change(t *testing.T, svc *fiveid.Service) {
	t.Helper()
	p := setup(t, svc, "hosp")
	if _, err := svc.Register(t.Context(), p["hosp"], "P1", zhang); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
}

// The URLs are refused when the webhook is created, with field
// "url", and nothing is stored.
// (On memStore: the URL policy needs no database.)
func TestCreateWebhookRefusesInsideURLs(t *testing.T) {
	t.Parallel()
	svc, _ := memService(t, fiveid.Config{Webhooks: fiveid.WebhookPolicy{AllowHTTPHosts: []string{"hooks.example"}}})
	for _, c := range []struct{ url, code string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/", "address_not_allowed"},
		{"https://169.254.169.254/latest/meta-data/", "address_not_allowed"},
		{"http://127.0.0.1:5432/", "address_not_allowed"},
		{"https://127.0.0.1:6379/", "address_not_allowed"},
		{"http://2130706433/", "address_not_allowed"},
		{"https://0x7f.1/", "address_not_allowed"},
		{"https://[::1]:8080/", "address_not_allowed"},
		{"https://[::ffff:169.254.169.254]/", "address_not_allowed"},
		{"https://user:password@hooks.example/in", "credentials_not_allowed"},
		{"http://hooks.elsewhere.example/in", "scheme_not_allowed"},
		{"file:///etc/passwd", "scheme_not_allowed"},
		{"https://hooks.example/in#frag", "invalid_url"},
	} {
		_, _, err := svc.CreateWebhook(t.Context(), admin, c.url)
		var ve *fiveid.ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "url" || ve.Problems[0].Code != c.code {
			t.Errorf("CreateWebhook(%q) = %v, want url %s", c.url, err, c.code)
		}
	}
	if hooks, err := svc.ListWebhooks(t.Context(), admin); err != nil || len(hooks) != 0 {
		t.Fatalf("refused webhooks were stored: %+v %v", hooks, err)
	}
	for _, ok := range []string{"https://hooks.example/in", "http://hooks.example:8080/in", "https://receiver.example/in?token=abc"} {
		if _, _, err := svc.CreateWebhook(t.Context(), admin, ok); err != nil {
			t.Errorf("CreateWebhook(%q): %v", ok, err)
		}
	}
	if hooks, err := svc.ListWebhooks(t.Context(), admin); err != nil || len(hooks) != 3 {
		t.Errorf("allowed webhooks: %+v %v, want 3", hooks, err)
	}
}

// A delivery over TLS to an allowed receiver carries a signature the
// README's verifier accepts, and refuses once it is too old.
func TestWebhookDeliveryIsSignedWithATimestamp(t *testing.T) {
	t.Parallel()
	policy := fiveid.WebhookPolicy{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	for name, s := range webhookServices(t, policy) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			type delivery struct {
				sig, event string
				body       []byte
				at         time.Time
			}
			got := make(chan delivery, 10)
			recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				got <- delivery{r.Header.Get("X-Fiveid-Signature"), r.Header.Get("X-Fiveid-Event"), body, time.Now()}
			}))
			defer recv.Close()
			roots := x509.NewCertPool()
			roots.AddCert(recv.Certificate())
			w, secret, err := s.svc.CreateWebhook(t.Context(), admin, recv.URL+"/in")
			if err != nil {
				t.Fatal(err)
			}
			change(t, s.svc)
			if err := s.svc.DeliverWebhooks(t.Context(), api.NewPoster(api.PosterConfig{Policy: policy, RootCAs: roots}), quickDelivery); err != nil {
				t.Fatal(err)
			}
			var d delivery
			select {
			case d = <-got:
			default:
				hooks, _ := s.svc.ListWebhooks(t.Context(), admin)
				t.Fatalf("nothing delivered: %+v", hooks)
			}
			if !regexp.MustCompile(`^t=[0-9]+,v1=[0-9a-f]{64}$`).MatchString(d.sig) {
				t.Errorf("X-Fiveid-Signature %q: want t=<unix>,v1=<hex>", d.sig)
			}
			if err := verifyFiveidSignature(secret, d.sig, d.body, d.at); err != nil {
				t.Errorf("the README's verifier refuses a delivery: %v", err)
			}
			if err := verifyFiveidSignature(secret, d.sig, d.body, d.at.Add(6*time.Minute)); err == nil {
				t.Error("the README's verifier accepts a delivery replayed six minutes later")
			}
			if err := verifyFiveidSignature(secret, d.sig, append(d.body, ' '), d.at); err == nil {
				t.Error("the README's verifier accepts a changed body")
			}
			var e fiveid.WebhookEvent
			if err := json.Unmarshal(d.body, &e); err != nil || e.ID != d.event || e.Kind != "created" {
				t.Errorf("event %+v (X-Fiveid-Event %q): %v", e, d.event, err)
			}
			hooks, err := s.svc.ListWebhooks(t.Context(), admin)
			if err != nil || len(hooks) != 1 || hooks[0].ID != w.ID || hooks[0].Delivered == 0 || hooks[0].LastError != "" {
				t.Errorf("delivery state: %+v %v", hooks, err)
			}
		})
	}
}

// A failed delivery is stored as a coarse reason and the receiver's HTTP
// status, never the receiver's answer or an address; an inside address is
// refused at connect time even behind a name.
func TestWebhookFailureIsStoredAsAReason(t *testing.T) {
	t.Parallel()
	// The subtests run in parallel, after this function returns: servers
	// close and the inside server's count is checked in cleanups.
	var insideHits atomic.Int64
	inside := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { insideHits.Add(1) }))
	t.Cleanup(inside.Close)
	t.Cleanup(func() {
		if n := insideHits.Load(); n != 0 {
			t.Errorf("the inside server was reached %d times", n)
		}
	})
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database at 10.9.8.7:5432 is down", http.StatusBadGateway)
	}))
	t.Cleanup(failing.Close)
	redirecting := httptest.NewServer(http.RedirectHandler(inside.URL+"/secret", http.StatusTemporaryRedirect))
	t.Cleanup(redirecting.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	insidePort := inside.Listener.Addr().(*net.TCPAddr).Port

	for _, c := range []struct {
		name    string
		policy  fiveid.WebhookPolicy
		url     string
		legacy  bool // stored by an earlier version, unchecked
		reason  string
		status  int
		stored  string
		secrets []string // never in the stored state
	}{
		// localhost resolves to 127.0.0.1 (or ::1): the name passes, the
		// address is refused.
		{name: "a name resolving to loopback", policy: fiveid.WebhookPolicy{AllowHTTPHosts: []string{"localhost"}},
			url: fmt.Sprintf("http://localhost:%d/in", insidePort), reason: "blocked_address", stored: "blocked_address",
			secrets: []string{"127.0.0.1", "::1", strconv.Itoa(insidePort)}},
		{name: "a receiver's error text", policy: allowLoopback, url: failing.URL + "/in",
			reason: "http_5xx", status: http.StatusBadGateway, stored: "http_5xx 502", secrets: []string{"10.9.8.7", "down"}},
		{name: "a redirect inside", policy: allowLoopback, url: redirecting.URL + "/in",
			reason: "redirect", status: http.StatusTemporaryRedirect, stored: "redirect 307", secrets: []string{"secret"}},
		{name: "a closed port", policy: allowLoopback, url: fmt.Sprintf("http://127.0.0.1:%d/in", closedPort),
			reason: "connect_refused", stored: "connect_refused", secrets: []string{"127.0.0.1", strconv.Itoa(closedPort)}},
		{name: "a webhook an earlier version accepted", url: "http://169.254.169.254/latest/meta-data/", legacy: true,
			reason: "url_not_allowed", stored: "url_not_allowed", secrets: []string{"169.254"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for name, s := range webhookServices(t, c.policy) {
				t.Run(name, func(t *testing.T) {
					var id string
					if c.legacy {
						id = "wh_legacy"
						if err := s.st.CreateWebhook(t.Context(), fiveid.Webhook{ID: id, URL: c.url, Secret: []byte("s"), CreatedAt: time.Now()}); err != nil {
							t.Fatal(err)
						}
					} else {
						w, _, err := s.svc.CreateWebhook(t.Context(), admin, c.url)
						if err != nil {
							t.Fatal(err)
						}
						id = w.ID
					}
					change(t, s.svc)
					if err := s.svc.DeliverWebhooks(t.Context(), api.NewPoster(api.PosterConfig{Policy: c.policy}), quickDelivery); err != nil {
						t.Fatal(err)
					}
					hooks, err := s.svc.ListWebhooks(t.Context(), admin)
					if err != nil || len(hooks) != 1 || hooks[0].ID != id {
						t.Fatalf("webhooks: %+v %v", hooks, err)
					}
					h := hooks[0]
					reason, status := h.LastFailure()
					if h.LastError != c.stored || reason != c.reason || status != c.status || h.Attempts != 1 || h.Delivered != 0 {
						t.Errorf("delivery state: last_error %q (%s %d), attempts %d, delivered %d; want %q", h.LastError, reason, status, h.Attempts, h.Delivered, c.stored)
					}
					for _, x := range c.secrets {
						if strings.Contains(h.LastError, x) {
							t.Errorf("the delivery state %q shows %q", h.LastError, x)
						}
					}
				})
			}
		})
	}
}

// Free error text an earlier version stored is never served back.
func TestWebhookLegacyLastErrorReadsAsFailed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ stored, reason string }{
		{"", ""},
		{"dial tcp 10.0.0.5:5432: connect: connection refused", "failed"},
		{"receiver answered 503", "failed"},
		{"timeout", "timeout"},
		{"http_4xx 404", "http_4xx"},
		{"http_4xx 10.0.0.5", "http_4xx"},
	} {
		if reason, _ := (fiveid.Webhook{LastError: c.stored}).LastFailure(); reason != c.reason {
			t.Errorf("LastFailure of %q = %q, want %q", c.stored, reason, c.reason)
		}
	}
}

// The README shows the Go verifier below, verbatim, and a shell verifier
// that accepts a delivery and refuses it changed.
func TestREADMEShowsTheVerifiers(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.ReadFile("webhooks_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, goVerifier, _ := strings.Cut(string(self), "// ---- the README's verifier, verbatim (TestREADMEShowsTheVerifiers) ----\n")
	goVerifier, _, _ = strings.Cut(goVerifier, "// ---- end of the README's verifier ----")
	if goVerifier = strings.TrimSpace(goVerifier); goVerifier == "" || !strings.Contains(string(readme), goVerifier) {
		t.Errorf("README does not show the Go verifier of webhooks_test.go:\n%s", goVerifier)
	}

	const shStart = "# Verify a delivery in a shell"
	_, shVerifier, ok := strings.Cut(string(readme), "```sh\n"+shStart)
	shVerifier, _, _ = strings.Cut(shVerifier, "```")
	shVerifier = shStart + shVerifier
	if !ok {
		t.Fatal("README shows no shell verifier (a sh block starting \"# Verify a delivery in a shell\")")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl here to run the README's shell verifier")
	}
	secret, body := "5e1f0c", []byte(`{"id":"H01","kind":"created"}`)
	sig := fiveid.SignWebhook([]byte(secret), time.Now(), body)
	run := func(body []byte, sig string) (string, error) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), "sh", "-c", shVerifier)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "SIG="+sig, "SECRET="+secret)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run(body, sig); err != nil || !strings.Contains(out, "signature ok") {
		t.Errorf("the README's shell verifier refuses a delivery: %v %s", err, out)
	}
	if out, err := run(append(body, ' '), sig); err == nil {
		t.Errorf("the README's shell verifier accepts a changed body: %s", out)
	}
	if out, err := run(body, fiveid.SignWebhook([]byte(secret), time.Now().Add(-10*time.Minute), body)); err == nil {
		t.Errorf("the README's shell verifier accepts a delivery ten minutes old: %s", out)
	}
}

// ---- the README's verifier, verbatim (TestREADMEShowsTheVerifiers) ----

// verifyFiveidSignature checks a delivery's X-Fiveid-Signature against its
// raw body: the HMAC must match and the timestamp be at most five minutes
// from now, so a captured delivery cannot be replayed later.
func verifyFiveidSignature(secret, header string, body []byte, now time.Time) error {
	var ts string
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		switch k, v, _ := strings.Cut(part, "="); k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if age := now.Sub(time.Unix(t, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return errors.New("timestamp more than 5 minutes away: refuse (a replay?)")
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, sig := range sigs {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("bad signature")
}

// ---- end of the README's verifier ----
