package fiveid

import (
	"context"
	"errors"
	"fmt"
)

// Patient returns a golden record with its source records to a caller that
// may see it, for adapters that answer with demographics (the FHIR Patient
// read and search). An admin sees every customer. A system sees a customer
// only when one of the customer's records is its own: it has registered that
// person, so it proved who the person is as identify asks; anyone else gets
// ErrNotFound, never a hint that the customer exists. A merged ID answers
// with the survivor (MergedFrom lists the IDs followed), checked the same
// way.
func (s *Service) Patient(ctx context.Context, p Principal, id string) (CustomerView, error) {
	if err := require(p, RoleSystem, RoleAdmin); err != nil {
		return CustomerView{}, err
	}
	c, from, err := s.follow(ctx, id)
	if err != nil {
		return CustomerView{}, fmt.Errorf("patient: %w", err)
	}
	recs, err := s.store.CustomerRecords(ctx, c.ID)
	if err != nil {
		return CustomerView{}, fmt.Errorf("patient: %w", err)
	}
	if !visible(p, recs) {
		return CustomerView{}, fmt.Errorf("patient %s: %w", id, ErrNotFound)
	}
	return CustomerView{Customer: c, MergedFrom: from, Records: recs}, nil
}

// visible is Patient's rule: an admin, or a system holding one of the
// customer's records.
func visible(p Principal, recs []SourceRecord) bool {
	if p.Role == RoleAdmin {
		return true
	}
	for _, r := range recs {
		if r.System == p.System {
			return true
		}
	}
	return false
}

// SystemExists reports whether code names a registered system (system,
// admin): a cross-reference must tell an unknown system (the caller's
// mistake) from an unknown local ID.
func (s *Service) SystemExists(ctx context.Context, p Principal, code string) (bool, error) {
	if err := require(p, RoleSystem, RoleAdmin); err != nil {
		return false, err
	}
	if code == "" || !codeOK(code) {
		return false, nil
	}
	switch _, err := s.system(ctx, code); {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("system %s: %w", code, err)
	}
}
