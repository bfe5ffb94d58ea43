package store

import (
	"context"
	"database/sql"
	"time"

	"fiveid"
	"fiveid/match"
)

// Source systems and their API keys.

const systemCols = "code, name, kind, id_table, created_at"

func scanSystem(sc interface{ Scan(...any) error }) (fiveid.System, error) {
	var s fiveid.System
	var kind, table string
	var created int64
	err := sc.Scan(&s.Code, &s.Name, &kind, &table, &created)
	s.Kind, s.IDTable, s.CreatedAt = fiveid.SystemKind(kind), match.IDTable(table), fromMicros(created)
	return s, err
}

func (c conn) System(ctx context.Context, code string) (fiveid.System, error) {
	s, err := scanSystem(c.row(ctx, "SELECT "+systemCols+" FROM systems WHERE code = ?", code))
	return s, mapErr("system", err)
}

func (c conn) ListSystems(ctx context.Context) ([]fiveid.System, error) {
	rows, err := c.query(ctx, "SELECT "+systemCols+" FROM systems ORDER BY code")
	if err != nil {
		return nil, mapErr("list systems", err)
	}
	return collect(rows, "list systems", scanSystem)
}

func (c txConn) CreateSystem(ctx context.Context, s fiveid.System) error {
	_, err := c.exec(ctx, "create system", "INSERT INTO systems ("+systemCols+") VALUES (?, ?, ?, ?, ?)",
		s.Code, s.Name, string(s.Kind), string(s.IDTable), micros(s.CreatedAt))
	return err
}

const keyCols = "id, hash, role, system, name, created_at, revoked_at"

func scanKey(sc interface{ Scan(...any) error }) (fiveid.APIKey, error) {
	var k fiveid.APIKey
	var role string
	var system sql.NullString
	var created, revoked int64
	err := sc.Scan(&k.ID, &k.Hash, &role, &system, &k.Name, &created, &revoked)
	k.Role, k.System, k.CreatedAt, k.RevokedAt = fiveid.Role(role), system.String, fromMicros(created), fromMicros(revoked)
	return k, err
}

func (c conn) KeyByHash(ctx context.Context, hash []byte) (fiveid.APIKey, error) {
	k, err := scanKey(c.row(ctx, "SELECT "+keyCols+" FROM api_keys WHERE hash = ?", hash))
	return k, mapErr("key by hash", err)
}

func (c conn) ListKeys(ctx context.Context) ([]fiveid.APIKey, error) {
	rows, err := c.query(ctx, "SELECT "+keyCols+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, mapErr("list keys", err)
	}
	return collect(rows, "list keys", scanKey)
}

func (c conn) CountActiveKeys(ctx context.Context, role fiveid.Role) (int, error) {
	var n int
	err := c.row(ctx, "SELECT COUNT(*) FROM api_keys WHERE revoked_at = 0 AND (? = '' OR role = ?)", string(role), string(role)).Scan(&n)
	return n, mapErr("count keys", err)
}

func (c txConn) CreateKey(ctx context.Context, k fiveid.APIKey) error {
	var system any
	if k.System != "" {
		system = k.System
	}
	_, err := c.exec(ctx, "create key", "INSERT INTO api_keys ("+keyCols+") VALUES (?, ?, ?, ?, ?, ?, 0)",
		k.ID, k.Hash, string(k.Role), system, k.Name, micros(k.CreatedAt))
	return err
}

func (c txConn) RevokeKey(ctx context.Context, id string, at time.Time) error {
	res, err := c.exec(ctx, "revoke key", "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at = 0", micros(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		return mapErr("revoke key", c.row(ctx, "SELECT 1 FROM api_keys WHERE id = ?", id).Scan(&one))
	}
	return nil
}
