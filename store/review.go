package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"fiveid"
)

// Review tasks and the pairs stewards declared not duplicates.

const taskCols = `id, status, reason, customer_id, candidate_id, system, local_id, score, explanation,
	resolution, resolved_by, version, created_at, updated_at`

func scanTask(sc interface{ Scan(...any) error }) (fiveid.ReviewTask, error) {
	var t fiveid.ReviewTask
	var status, expl string
	var created, updated int64
	err := sc.Scan(&t.ID, &status, &t.Reason, &t.CustomerID, &t.CandidateID, &t.System, &t.LocalID, &t.Score, &expl,
		&t.Resolution, &t.ResolvedBy, &t.Version, &created, &updated)
	if err != nil {
		return t, err
	}
	t.Status, t.CreatedAt, t.UpdatedAt = fiveid.ReviewStatus(status), fromMicros(created), fromMicros(updated)
	if expl != "" {
		if t.Explanation, err = fiveid.DecodeExplanation(expl); err != nil {
			return t, fmt.Errorf("explanation of task %s: %w", t.ID, err)
		}
	}
	return t, nil
}

func (c conn) ReviewTask(ctx context.Context, id string) (fiveid.ReviewTask, error) {
	t, err := scanTask(c.row(ctx, "SELECT "+taskCols+" FROM review_tasks WHERE id = ?", id))
	return t, mapErr("review task", err)
}

func (c conn) OpenReviewTask(ctx context.Context, a, b string) (fiveid.ReviewTask, error) {
	t, err := scanTask(c.row(ctx, "SELECT "+taskCols+" FROM review_tasks WHERE status = 'open' AND pair_lo = ? AND pair_hi = ?", min(a, b), max(a, b)))
	return t, mapErr("open review task", err)
}

func (c conn) ListReviewTasks(ctx context.Context, status fiveid.ReviewStatus, limit int) ([]fiveid.ReviewTask, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := c.query(ctx, "SELECT "+taskCols+" FROM review_tasks WHERE (? = '' OR status = ?) ORDER BY created_at DESC, id DESC LIMIT ?",
		string(status), string(status), limit)
	if err != nil {
		return nil, mapErr("list review tasks", err)
	}
	return collect(rows, "list review tasks", scanTask)
}

func (c txConn) InsertReviewTask(ctx context.Context, t fiveid.ReviewTask) error {
	expl, err := explanationJSON(t.Explanation)
	if err != nil {
		return fmt.Errorf("insert review task: %w", err)
	}
	lo, hi := min(t.CustomerID, t.CandidateID), max(t.CustomerID, t.CandidateID)
	// ON CONFLICT DO NOTHING, not a failed INSERT: callers go on in the
	// same transaction when the pair's task is already open, and a failed
	// statement aborts a PostgreSQL transaction (SQLSTATE 25P02).
	res, err := c.exec(ctx, "insert review task", `INSERT INTO review_tasks (`+taskCols+`, pair_lo, pair_hi)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		t.ID, string(t.Status), t.Reason, t.CustomerID, t.CandidateID, t.System, t.LocalID, t.Score, expl,
		t.Resolution, t.ResolvedBy, t.Version, micros(t.CreatedAt), micros(t.UpdatedAt), lo, hi)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("insert review task: the pair's task is open already: %w", fiveid.ErrConflict)
	}
	return nil
}

func (c txConn) ResolveReviewTask(ctx context.Context, id string, version int64, resolution, by string, at time.Time) error {
	res, err := c.exec(ctx, "resolve review task", `UPDATE review_tasks SET status = 'resolved', resolution = ?, resolved_by = ?,
		version = version + 1, updated_at = ? WHERE id = ? AND version = ? AND status = 'open'`, resolution, by, micros(at), id, version)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := c.row(ctx, "SELECT 1 FROM review_tasks WHERE id = ?", id).Scan(&one); err != nil {
			return mapErr("resolve review task", err)
		}
		return fmt.Errorf("resolve review task %s: stale version or already resolved: %w", id, fiveid.ErrConflict)
	}
	return nil
}

func (c conn) NotDuplicate(ctx context.Context, a, b string) (bool, error) {
	var one int
	err := c.row(ctx, "SELECT 1 FROM not_duplicates WHERE pair_lo = ? AND pair_hi = ?", min(a, b), max(a, b)).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, mapErr("not duplicate", err)
}

func (c txConn) PutNotDuplicate(ctx context.Context, a, b string, at time.Time, by string) error {
	_, err := c.exec(ctx, "not duplicate", `INSERT INTO not_duplicates (pair_lo, pair_hi, at, actor) VALUES (?, ?, ?, ?)
		ON CONFLICT (pair_lo, pair_hi) DO NOTHING`, min(a, b), max(a, b), micros(at), by)
	return err
}
