package fiveid

import (
	"context"
	"fmt"
	"time"
)

// IndexFigures are the counts on the stewards' dashboard.
type IndexFigures struct {
	Customers int64 // active (not merged away)
	// Records counts source records by system code.
	Records map[string]int64
	// Grades counts source records by how they are linked: "manual" for a
	// steward's link, else the link's grade ("" for a record that started
	// its customer and was linked to none).
	Grades map[string]int64
	// Since is when the two counts below start. Links counts every record
	// linked to a customer (ChangeLinked: a registration, new customer or
	// matched, or a steward's link); Merges every merge, undone or not.
	Since         time.Time
	Links, Merges int64
}

// IndexFigures counts the index for the dashboard (admin): links and
// merges from since on (the console passes the start of the week).
func (s *Service) IndexFigures(ctx context.Context, p Principal, since time.Time) (IndexFigures, error) {
	if err := require(p, RoleAdmin); err != nil {
		return IndexFigures{}, err
	}
	f, err := s.store.IndexFigures(ctx, since)
	if err != nil {
		return IndexFigures{}, fmt.Errorf("index figures: %w", err)
	}
	return f, nil
}
