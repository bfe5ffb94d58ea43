package store

import (
	"context"
	"fmt"
	"time"

	"fiveid"
)

// Webhook subscriptions and their delivery state.

var _ fiveid.WebhookStore = (*DB)(nil)

// CreateWebhook implements fiveid.WebhookStore.
func (db *DB) CreateWebhook(ctx context.Context, w fiveid.Webhook) error {
	_, err := db.write.ExecContext(ctx, db.d.rebind("INSERT INTO webhooks (id, url, secret, created_at, cursor_id) VALUES (?, ?, ?, ?, ?)"),
		w.ID, w.URL, w.Secret, micros(w.CreatedAt), w.Cursor)
	return mapErr("create webhook", err)
}

// Webhooks implements fiveid.WebhookStore.
func (db *DB) Webhooks(ctx context.Context) ([]fiveid.Webhook, error) {
	rows, err := db.query(ctx, `SELECT id, url, secret, created_at, deleted_at, cursor_id, delivered, attempts, next_attempt, last_error, failing_since
		FROM webhooks WHERE deleted_at = 0 ORDER BY id`)
	if err != nil {
		return nil, mapErr("webhooks", err)
	}
	return collect(rows, "webhooks", func(sc interface{ Scan(...any) error }) (fiveid.Webhook, error) {
		var w fiveid.Webhook
		var created, deleted, next, failing int64
		err := sc.Scan(&w.ID, &w.URL, &w.Secret, &created, &deleted, &w.Cursor, &w.Delivered, &w.Attempts, &next, &w.LastError, &failing)
		w.CreatedAt, w.DeletedAt, w.NextAttempt, w.FailingSince = fromMicros(created), fromMicros(deleted), fromMicros(next), fromMicros(failing)
		return w, err
	})
}

// DeleteWebhook implements fiveid.WebhookStore.
func (db *DB) DeleteWebhook(ctx context.Context, id string, at time.Time) error {
	res, err := db.write.ExecContext(ctx, db.d.rebind("UPDATE webhooks SET deleted_at = ? WHERE id = ? AND deleted_at = 0"), micros(at), id)
	if err != nil {
		return mapErr("delete webhook", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete webhook %s: %w", id, fiveid.ErrNotFound)
	}
	return nil
}

// AckWebhook implements fiveid.WebhookStore.
func (db *DB) AckWebhook(ctx context.Context, id, cursor string) error {
	_, err := db.write.ExecContext(ctx, db.d.rebind(`UPDATE webhooks SET cursor_id = ?, delivered = delivered + 1, attempts = 0,
		next_attempt = 0, last_error = '', failing_since = 0 WHERE id = ?`), cursor, id)
	return mapErr("ack webhook", err)
}

// FailWebhook implements fiveid.WebhookStore.
func (db *DB) FailWebhook(ctx context.Context, id string, attempts int64, next time.Time, lastError string, failingSince time.Time) error {
	_, err := db.write.ExecContext(ctx, db.d.rebind(`UPDATE webhooks SET attempts = ?, next_attempt = ?, last_error = ?, failing_since = ? WHERE id = ?`),
		attempts, micros(next), lastError, micros(failingSince), id)
	return mapErr("fail webhook", err)
}
