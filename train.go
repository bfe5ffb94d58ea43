package fiveid

import (
	"context"
	"errors"
	"fmt"

	"fiveid/match"
)

// TrainOptions bound a training run.
type TrainOptions struct {
	MaxPairs int // candidate pairs to learn from; 0 = 200,000
	MaxIter  int // EM iterations; 0 = 100
}

// Train estimates Fellegi-Sunter m and u probabilities with EM from the
// candidate pairs blocking produces over the whole index, starting from the
// service's current weights (admin). The result is a new weights version
// to write to a file and load with FIVEID_WEIGHTS.
func (s *Service) Train(ctx context.Context, p Principal, start match.Weights, opt TrainOptions) (match.Weights, match.TrainReport, error) {
	if err := require(p, RoleAdmin); err != nil {
		return match.Weights{}, match.TrainReport{}, err
	}
	scan, ok := s.store.(RecordScanner)
	if !ok {
		return match.Weights{}, match.TrainReport{}, errors.New("train: the store cannot scan records")
	}
	if opt.MaxPairs <= 0 {
		opt.MaxPairs = 200_000
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 100
	}
	var patterns []match.Pattern
	seen := map[[2]string]bool{}
	afterSys, afterLocal := "", ""
	for len(patterns) < opt.MaxPairs {
		page, err := scan.ScanSourceRecords(ctx, afterSys, afterLocal, 500)
		if err != nil {
			return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: %w", err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			afterSys, afterLocal = r.System, r.LocalID
			rec, err := match.Normalize(r.Raw, match.Options{IDTable: r.IDTable})
			if err != nil {
				continue
			}
			cands, err := s.store.Candidates(ctx, s.blockingKeys(rec), s.limit)
			if err != nil {
				return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: %w", err)
			}
			self := r.System + "\x00" + r.LocalID
			for _, c := range cands {
				other := c.System + "\x00" + c.LocalID
				if other == self {
					continue
				}
				pair := [2]string{min(self, other), max(self, other)}
				if seen[pair] {
					continue
				}
				seen[pair] = true
				crec, err := match.Normalize(c.Raw, match.Options{IDTable: c.IDTable})
				if err != nil {
					continue
				}
				patterns = append(patterns, s.scorer.Pattern(rec, crec))
				if len(patterns) >= opt.MaxPairs {
					break
				}
			}
		}
	}
	if len(patterns) == 0 {
		return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: no candidate pairs in the index: %w", ErrInvalid)
	}
	return match.Train(patterns, start, opt.MaxIter)
}
