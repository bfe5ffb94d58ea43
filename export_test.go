package fiveid

import (
	"context"

	"fiveid/match"
)

// Resolve exposes identify's cached lookup to the benchmarks of package
// fiveid_test.
func (s *Service) Resolve(ctx context.Context, rec match.Record) (Decision, error) {
	return s.resolve(ctx, rec)
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
