package store

import (
	"context"
	"database/sql"
)

// Settings and secrets.

// Settings live in the counters table under a "setting:" prefix.
func (c conn) Setting(ctx context.Context, name string) (int64, bool, error) {
	var v int64
	err := c.row(ctx, "SELECT n FROM counters WHERE name = ?", "setting:"+name).Scan(&v)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return v, err == nil, mapErr("setting", err)
}

func (c txConn) PutSetting(ctx context.Context, name string, v int64) error {
	_, err := c.exec(ctx, "put setting", `INSERT INTO counters (name, n) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET n = excluded.n`, "setting:"+name, v)
	return err
}

func (c conn) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := c.row(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
	return v, mapErr("secret", err)
}

func (c txConn) PutSecret(ctx context.Context, name string, value []byte) error {
	_, err := c.exec(ctx, "put secret", "INSERT INTO secrets (name, value) VALUES (?, ?)", name, value)
	return err
}
