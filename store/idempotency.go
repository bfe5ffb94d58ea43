package store

import (
	"context"
	"fmt"
	"time"

	"fiveid"
)

// Idempotency records (migration 0007). Each method is one autocommit
// statement on the write pool: a record changes hands (reserve, claim,
// finish, release, forget) only by a statement that checks its state in
// its WHERE clause, and reports whether it matched.

var _ fiveid.IdempotencyStore = (*DB)(nil)

const idempotencyCols = "key_id, key_hash, fingerprint, grant_id, owner, lease_until, status, body, created_at, expires_at"

// writer runs single statements on the write pool (the embedded store's
// read pool is query-only).
func (db *DB) writer() conn { return conn{d: db.d, q: db.write} }

// ReserveIdempotency implements fiveid.IdempotencyStore: an insert that,
// on the primary key's conflict, replaces the existing record only when it
// has expired. PostgreSQL locks the conflicting row, so of two reserves
// racing for an expired record one replaces it and the other then sees a
// live record; SQLite's single writer serializes them.
func (db *DB) ReserveIdempotency(ctx context.Context, r fiveid.IdempotencyRecord, now time.Time) (bool, error) {
	const op = "reserve idempotency key"
	res, err := db.writer().exec(ctx, op, `INSERT INTO idempotency_keys (`+idempotencyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, 0, '', ?, ?)
		ON CONFLICT (key_id, key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, grant_id = excluded.grant_id,
			owner = excluded.owner, lease_until = excluded.lease_until, status = 0, body = '',
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency_keys.expires_at <= ?`,
		r.KeyID, r.Key, r.Fingerprint, r.GrantID, r.Owner, micros(r.LeaseUntil), micros(r.CreatedAt), micros(r.ExpiresAt), micros(now))
	return matched(op, res, err)
}

// IdempotencyRecord implements fiveid.IdempotencyStore.
func (db *DB) IdempotencyRecord(ctx context.Context, keyID, key string) (fiveid.IdempotencyRecord, error) {
	var r fiveid.IdempotencyRecord
	var lease, created, expires int64
	var body string
	err := db.row(ctx, "SELECT "+idempotencyCols+" FROM idempotency_keys WHERE key_id = ? AND key_hash = ?", keyID, key).
		Scan(&r.KeyID, &r.Key, &r.Fingerprint, &r.GrantID, &r.Owner, &lease, &r.Status, &body, &created, &expires)
	if err != nil {
		return fiveid.IdempotencyRecord{}, mapErr("idempotency record", err)
	}
	r.LeaseUntil, r.CreatedAt, r.ExpiresAt = fromMicros(lease), fromMicros(created), fromMicros(expires)
	if body != "" {
		r.Body = []byte(body)
	}
	return r, nil
}

// ClaimIdempotency implements fiveid.IdempotencyStore.
func (db *DB) ClaimIdempotency(ctx context.Context, keyID, key, fingerprint, owner string, leaseUntil, now time.Time) (bool, error) {
	const op = "claim idempotency key"
	res, err := db.writer().exec(ctx, op, `UPDATE idempotency_keys SET owner = ?, lease_until = ?
		WHERE key_id = ? AND key_hash = ? AND fingerprint = ? AND status = 0 AND lease_until <= ? AND expires_at > ?`,
		owner, micros(leaseUntil), keyID, key, fingerprint, micros(now), micros(now))
	return matched(op, res, err)
}

// FinishIdempotency implements fiveid.IdempotencyStore. A 5xx status
// violates the table's CHECK (ErrInvalid).
func (db *DB) FinishIdempotency(ctx context.Context, keyID, key, owner string, status int, body []byte) error {
	const op = "finish idempotency key"
	res, err := db.writer().exec(ctx, op, `UPDATE idempotency_keys SET owner = '', lease_until = 0, status = ?, body = ?
		WHERE key_id = ? AND key_hash = ? AND owner = ? AND status = 0`, status, string(body), keyID, key, owner)
	return owned(op, res, err)
}

// ReleaseIdempotency implements fiveid.IdempotencyStore.
func (db *DB) ReleaseIdempotency(ctx context.Context, keyID, key, owner string) error {
	const op = "release idempotency key"
	res, err := db.writer().exec(ctx, op, `UPDATE idempotency_keys SET owner = '', lease_until = 0
		WHERE key_id = ? AND key_hash = ? AND owner = ? AND status = 0`, keyID, key, owner)
	return owned(op, res, err)
}

// ForgetIdempotency implements fiveid.IdempotencyStore.
func (db *DB) ForgetIdempotency(ctx context.Context, keyID, key, owner string) error {
	const op = "forget idempotency key"
	res, err := db.writer().exec(ctx, op, `DELETE FROM idempotency_keys
		WHERE key_id = ? AND key_hash = ? AND owner = ? AND status = 0`, keyID, key, owner)
	return owned(op, res, err)
}

// DeleteExpiredIdempotency implements fiveid.IdempotencyStore.
func (db *DB) DeleteExpiredIdempotency(ctx context.Context, now time.Time, limit int) (int64, error) {
	const op = "delete expired idempotency keys"
	res, err := db.writer().exec(ctx, op, `DELETE FROM idempotency_keys WHERE (key_id, key_hash) IN (
		SELECT key_id, key_hash FROM idempotency_keys WHERE expires_at <= ? LIMIT ?)`, micros(now), limit)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, mapErr(op, err)
}

// matched reports whether a guarded statement changed its row.
func matched(op string, res interface{ RowsAffected() (int64, error) }, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, mapErr(op, err)
	}
	return n == 1, nil
}

// owned is matched for a statement only the record's owner may run.
func owned(op string, res interface{ RowsAffected() (int64, error) }, err error) error {
	ok, err := matched(op, res, err)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: not running it any more: %w", op, fiveid.ErrConflict)
	}
	return nil
}
