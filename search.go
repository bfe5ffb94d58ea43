package fiveid

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"fiveid/match"
)

// SearchMatch is one candidate customer of a search by the five elements.
type SearchMatch struct {
	Customer    Customer // its golden record
	Grade       match.Grade
	Score       float64
	Explanation match.Explanation
}

// SearchResult is what a search by the five elements found.
type SearchResult struct {
	// Decision is what identify would decide for the same elements (zero
	// Grade when no customer was a candidate).
	Decision Decision
	// Matches lists every candidate customer, best first, each with its
	// own grade and score (the decision may rate the best one lower: two
	// customers within the ambiguity margin are each only possible).
	Matches  []SearchMatch
	Findings []match.Finding
}

// SearchCustomers finds the customers the five elements in may be (admin):
// the same normalization, blocking and scoring as identify, without its
// cache, review task or grant. A search reveals who is in the index, so
// it is written to the grant log first (customer.searched: who, the
// masked number, the decision's grade and customer, how many candidates).
func (s *Service) SearchCustomers(ctx context.Context, p Principal, in match.Input) (SearchResult, error) {
	if err := require(p, RoleAdmin); err != nil {
		return SearchResult{}, err
	}
	rec, err := s.normalize(in, match.IDTableAuto)
	if err != nil {
		return SearchResult{}, err
	}
	res := SearchResult{Findings: rec.Findings}
	var cs []match.Candidate
	if keys := s.blockingKeys(rec); len(keys) > 0 {
		cands, err := s.store.Candidates(ctx, keys, s.limit)
		if err != nil {
			return SearchResult{}, fmt.Errorf("search: %w", err)
		}
		if cs, err = s.scoreCustomers(ctx, s.store, rec, cands); err != nil {
			return SearchResult{}, fmt.Errorf("search: %w", err)
		}
	}
	if len(cs) > 0 {
		i, e := s.scorer.Choose(cs)
		res.Decision = Decision{CustomerID: cs[i].Customer, Grade: e.Grade, Score: e.Score, Explanation: e}
	}
	slices.SortStableFunc(cs, func(a, b match.Candidate) int {
		switch {
		case match.Better(a, b):
			return -1
		case match.Better(b, a):
			return 1
		}
		return 0
	})
	for _, c := range cs {
		cu, err := s.store.Customer(ctx, c.Customer)
		if errors.Is(err, ErrNotFound) {
			continue // gone since its records were read
		}
		if err != nil {
			return SearchResult{}, fmt.Errorf("search: %w", err)
		}
		res.Matches = append(res.Matches, SearchMatch{Customer: cu, Grade: c.Explanation.Grade, Score: c.Explanation.Score, Explanation: c.Explanation})
	}
	if err := s.appendAudit(ctx, AuditEvent{Action: ActionCustomerSearched, ActorKey: p.KeyID, ActorSystem: p.System,
		CustomerID: res.Decision.CustomerID, Grade: string(res.Decision.Grade), Score: res.Decision.Score,
		Subject: s.derive("subject", canonical(rec)), IDMasked: match.MaskID(rec.ID.Number),
		Detail: strconv.Itoa(len(res.Matches)) + " candidates"}, nil); err != nil {
		return SearchResult{}, fmt.Errorf("search: %w", err)
	}
	return res, nil
}
