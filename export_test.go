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
