package store

import (
	"context"
	"fmt"
	"time"

	"fiveid"
)

// Merges and their undoing.

func (c conn) Merge(ctx context.Context, id string) (fiveid.Merge, error) {
	var m fiveid.Merge
	var at, undone int64
	err := c.row(ctx, "SELECT id, from_id, into_id, at, actor, snapshot, override, reason, undone_at, undone_by FROM merges WHERE id = ?", id).
		Scan(&m.ID, &m.From, &m.Into, &at, &m.Actor, &m.Snapshot, &m.Override, &m.Reason, &undone, &m.UndoneBy)
	m.At, m.UndoneAt = fromMicros(at), fromMicros(undone)
	return m, mapErr("merge", err)
}

func (c txConn) InsertMerge(ctx context.Context, m fiveid.Merge) error {
	_, err := c.exec(ctx, "insert merge", "INSERT INTO merges (id, from_id, into_id, at, actor, snapshot, override, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		m.ID, m.From, m.Into, micros(m.At), m.Actor, m.Snapshot, m.Override, m.Reason)
	return err
}

func (c txConn) MarkUnmerged(ctx context.Context, id string, at time.Time, by string) error {
	res, err := c.exec(ctx, "unmerge", "UPDATE merges SET undone_at = ?, undone_by = ? WHERE id = ? AND undone_at = 0", micros(at), by, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := c.Merge(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("unmerge %s: already undone: %w", id, fiveid.ErrConflict)
	}
	return nil
}
