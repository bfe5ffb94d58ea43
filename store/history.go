package store

import (
	"context"

	"fiveid"
)

// Customer history: the change log, which is also the webhook outbox.

const changeCols = "id, customer_id, at, kind, actor, system, local_id, before_json, after_json, detail"

func scanChange(sc interface{ Scan(...any) error }) (fiveid.Change, error) {
	var ch fiveid.Change
	var at int64
	var kind string
	err := sc.Scan(&ch.ID, &ch.CustomerID, &at, &kind, &ch.Actor, &ch.System, &ch.LocalID, &ch.Before, &ch.After, &ch.Detail)
	ch.At, ch.Kind = fromMicros(at), fiveid.ChangeKind(kind)
	return ch, err
}

func (c conn) History(ctx context.Context, customerID string, limit int) ([]fiveid.Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := c.query(ctx, "SELECT "+changeCols+" FROM customer_events WHERE customer_id = ? ORDER BY id LIMIT ?", customerID, limit)
	if err != nil {
		return nil, mapErr("history", err)
	}
	return collect(rows, "history", scanChange)
}

func (c txConn) AppendChange(ctx context.Context, ch fiveid.Change) error {
	_, err := c.exec(ctx, "append change", "INSERT INTO customer_events ("+changeCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ch.ID, ch.CustomerID, micros(ch.At), string(ch.Kind), ch.Actor, ch.System, ch.LocalID,
		ch.Before, ch.After, ch.Detail)
	return err
}

// ChangesAfter implements fiveid.WebhookStore.
func (db *DB) ChangesAfter(ctx context.Context, cursor string, limit int) ([]fiveid.Change, error) {
	rows, err := db.query(ctx, "SELECT "+changeCols+" FROM customer_events WHERE id > ? ORDER BY id LIMIT ?", cursor, limit)
	if err != nil {
		return nil, mapErr("changes after", err)
	}
	return collect(rows, "changes after", scanChange)
}
