package fiveid_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
)

// Config names every store capability: a missing required one fails
// NewService, a missing optional one turns its feature off.
func TestConfigNamesEveryCapability(t *testing.T) {
	t.Parallel()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	st, cache := newMemStore(), store.NewMemoryCache(time.Minute, 10)
	for field, cfg := range map[string]fiveid.Config{
		"Store":  {Grants: st, Cache: cache, Scorer: sc},
		"Grants": {Store: st, Cache: cache, Scorer: sc},
		"Cache":  {Store: st, Grants: st, Scorer: sc},
		"Scorer": {Store: st, Grants: st, Cache: cache},
	} {
		if _, err := fiveid.NewService(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "Config."+field) {
			t.Errorf("without %s: NewService: %v, want an error naming Config.%s", field, err, field)
		}
	}

	svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: st, Grants: st, Cache: cache, Scorer: sc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx := t.Context()
	if _, _, err := svc.CreateWebhook(ctx, admin, "https://hooks.example/in"); !errors.Is(err, fiveid.ErrUnavailable) {
		t.Errorf("CreateWebhook without a WebhookStore: %v, want ErrUnavailable", err)
	}
	if _, err := svc.ListWebhooks(ctx, admin); !errors.Is(err, fiveid.ErrUnavailable) {
		t.Errorf("ListWebhooks without a WebhookStore: %v, want ErrUnavailable", err)
	}
	if _, err := svc.ScanDuplicates(ctx, admin); !errors.Is(err, fiveid.ErrUnavailable) {
		t.Errorf("ScanDuplicates without Records: %v, want ErrUnavailable", err)
	}
	if _, err := svc.Idempotent(ctx, admin, fiveid.IdempotentRequest{Key: "k", Op: "POST /v1/x"}, mustNotRun(t)); !errors.Is(err, fiveid.ErrUnavailable) {
		t.Errorf("Idempotent without an IdempotencyStore: %v, want ErrUnavailable", err)
	}
	if n, err := svc.SweepIdempotency(ctx, admin); n != 0 || err != nil {
		t.Errorf("SweepIdempotency without an IdempotencyStore: %d %v, want nothing to do", n, err)
	}
	if tables, err := svc.RefreshStatistics(ctx, admin); tables != nil || err != nil {
		t.Errorf("RefreshStatistics without Statistics: %v %v, want nothing to do", tables, err)
	}
}
