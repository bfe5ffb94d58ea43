package fiveid_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"fiveid"
	"fiveid/api"
	"fiveid/match"
	"fiveid/store"
)

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
		if r.Header.Get("X-Fiveid-Signature") != fiveid.SignWebhook([]byte(secret), body) {
			t.Errorf("bad signature")
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
		svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, Cache: store.NewMemoryCache(time.Minute, 10), Scorer: sc})
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
	go func() { svc.RunWebhooks(ctx, api.NewPoster(nil), opt); close(done) }()
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
	go svc.RunWebhooks(ctx, api.NewPoster(nil), opt)
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
