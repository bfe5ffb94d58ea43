package fiveid

import (
	"context"
	"fmt"
	"math/rand/v2"

	"fiveid/match"
)

// TrainOptions bound a training run.
type TrainOptions struct {
	MaxPairs    int // candidate pairs to learn m from; 0 = 200,000
	MaxIter     int // EM iterations; 0 = 100
	RandomPairs int // random pairs to learn u from; 0 = 1,000,000
	Seed        uint64
}

// trainSample is how many records random pairs are drawn from (a
// reservoir sample of the index).
const trainSample = 20_000

// Train estimates Fellegi-Sunter weights from the index (admin), as Splink
// does: u from random pairs of records (almost all different people;
// match.EstimateU), then m and the match share with EM over the candidate
// pairs blocking produces (match.Train), starting from start. The result is
// a new weights version to write to a file and load with FIVEID_WEIGHTS.
func (s *Service) Train(ctx context.Context, p Principal, start match.Weights, opt TrainOptions) (match.Weights, match.TrainReport, error) {
	if err := require(p, RoleAdmin); err != nil {
		return match.Weights{}, match.TrainReport{}, err
	}
	if opt.MaxPairs <= 0 {
		opt.MaxPairs = 200_000
	}
	if opt.MaxIter <= 0 {
		opt.MaxIter = 100
	}
	if opt.RandomPairs <= 0 {
		opt.RandomPairs = 1_000_000
	}
	rnd := rand.New(rand.NewPCG(opt.Seed, 0x5eed))
	var sample []match.Record // reservoir sample for random pairs
	var sampleCustomer []string
	seenRecords := 0
	var patterns []match.Pattern
	seen := map[[2]string]bool{}
	// Every record is scanned for the random sample; candidates are
	// queried until MaxPairs candidate pairs are in.
	err := s.eachRecordPage(ctx, "train", 500, func(page []SourceRecord) error {
		for _, r := range page {
			rec, err := s.normalize(r.Raw, r.IDTable)
			if err != nil {
				continue
			}
			seenRecords++
			if len(sample) < trainSample {
				sample = append(sample, rec)
				sampleCustomer = append(sampleCustomer, r.CustomerID)
			} else if j := rnd.IntN(seenRecords); j < trainSample {
				sample[j], sampleCustomer[j] = rec, r.CustomerID
			}
			if len(patterns) >= opt.MaxPairs {
				continue
			}
			cands, err := s.store.Candidates(ctx, s.blockingKeys(rec), s.limit)
			if err != nil {
				return fmt.Errorf("train: %w", err)
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
				crec, err := s.normalize(c.Raw, c.IDTable)
				if err != nil {
					continue
				}
				patterns = append(patterns, s.scorer.Pattern(rec, crec))
				if len(patterns) >= opt.MaxPairs {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return match.Weights{}, match.TrainReport{}, err
	}
	if len(patterns) == 0 {
		return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: no candidate pairs in the index: %w", ErrInvalid)
	}
	if len(sample) < 2 {
		return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: too few records to sample: %w", ErrInvalid)
	}
	// Pairs of records the index already holds as one customer are known
	// matches, not the different people u describes: they are skipped (in
	// an index full of duplicates they would inflate u).
	n := len(sample)
	var random []match.Pattern
	if n*(n-1)/2 <= opt.RandomPairs {
		// A small index: every pair once, rather than the same few pairs
		// drawn over and over.
		for i := range n {
			for j := i + 1; j < n; j++ {
				if sampleCustomer[i] != sampleCustomer[j] {
					random = append(random, s.scorer.Pattern(sample[i], sample[j]))
				}
			}
		}
	} else {
		random = make([]match.Pattern, 0, opt.RandomPairs)
		for tries := 0; len(random) < opt.RandomPairs && tries < 4*opt.RandomPairs; tries++ {
			i, j := rnd.IntN(n), rnd.IntN(n-1)
			if j >= i {
				j++
			}
			if sampleCustomer[i] == sampleCustomer[j] {
				continue
			}
			random = append(random, s.scorer.Pattern(sample[i], sample[j]))
		}
	}
	if len(random) == 0 {
		return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: every record is one customer; no pairs of different people: %w", ErrInvalid)
	}
	withU, err := match.EstimateU(random, start)
	if err != nil {
		return match.Weights{}, match.TrainReport{}, fmt.Errorf("train: %w", err)
	}
	w, rep, err := match.Train(patterns, withU, opt.MaxIter)
	rep.RandomPairs = len(random)
	return w, rep, err
}

// eachRecordPage pages through every source record (size per page, in
// (system, local_id) order) for weight training (and the duplicate scan's
// one-by-one reference in its tests), calling fn with each page. op names
// the job in errors; fn's errors end the walk as they are.
func (s *Service) eachRecordPage(ctx context.Context, op string, size int, fn func(page []SourceRecord) error) error {
	scan := s.records
	if scan == nil {
		return fmt.Errorf("%s: no record scanner configured: %w", op, ErrUnavailable)
	}
	afterSys, afterLocal := "", ""
	for {
		page, err := scan.ScanSourceRecords(ctx, afterSys, afterLocal, size)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if len(page) == 0 {
			return nil
		}
		afterSys, afterLocal = page[len(page)-1].System, page[len(page)-1].LocalID
		if err := fn(page); err != nil {
			return err
		}
	}
}
