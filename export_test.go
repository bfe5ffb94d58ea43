package fiveid

import (
	"context"
	"encoding/json"
	"fmt"

	"fiveid/match"
)

// Resolve exposes identify's cached lookup to the benchmarks of package
// fiveid_test.
func (s *Service) Resolve(ctx context.Context, rec match.Record) (Decision, error) {
	a, err := s.resolve(ctx, rec)
	return a.Decision, err
}

// CustomerFromHistory reads the customer document of a history entry's
// before or after.
func CustomerFromHistory(s string) (Customer, error) {
	var d customerDoc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return Customer{}, err
	}
	if d.V != docVersion {
		return Customer{}, fmt.Errorf("history document version %d, want %d", d.V, docVersion)
	}
	return customerOf(d), nil
}

// DeliverWebhooks is one pass of RunWebhooks, for tests that look at the
// delivery state after it.
func (s *Service) DeliverWebhooks(ctx context.Context, post Poster, opt WebhookOptions) error {
	opt.defaults()
	ws, err := s.webhookStore()
	if err != nil {
		return err
	}
	return s.deliverWebhooks(ctx, ws, post, opt)
}
