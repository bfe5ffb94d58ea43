package store

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"time"

	"fiveid"
)

// Lists of words (scopes, purposes) are stored space-separated: they are
// validated lower-case words.
func joinWords(w []string) string { return strings.Join(w, " ") }
func splitWords(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// ---- policies ----

const policyCols = "id, grantee, scopes, purposes, max_ttl_ms, created_at, created_by, deleted_at"

func scanPolicy(sc interface{ Scan(...any) error }) (fiveid.Policy, error) {
	var p fiveid.Policy
	var scopes, purposes string
	var ttl, created, deleted int64
	err := sc.Scan(&p.ID, &p.Grantee, &scopes, &purposes, &ttl, &created, &p.CreatedBy, &deleted)
	p.Scopes, p.Purposes, p.MaxTTL = splitWords(scopes), splitWords(purposes), time.Duration(ttl)*time.Millisecond
	p.CreatedAt, p.DeletedAt = fromMicros(created), fromMicros(deleted)
	return p, err
}

func (c conn) Policies(ctx context.Context, grantee string) ([]fiveid.Policy, error) {
	rows, err := c.query(ctx, "SELECT "+policyCols+" FROM policies WHERE deleted_at = 0 AND (? = '' OR grantee = ?) ORDER BY created_at, id", grantee, grantee)
	if err != nil {
		return nil, mapErr("policies", err)
	}
	return collect(rows, "policies", scanPolicy)
}

func (c conn) Policy(ctx context.Context, id string) (fiveid.Policy, error) {
	p, err := scanPolicy(c.row(ctx, "SELECT "+policyCols+" FROM policies WHERE id = ? AND deleted_at = 0", id))
	return p, mapErr("policy", err)
}

func (c txConn) CreatePolicy(ctx context.Context, p fiveid.Policy) error {
	_, err := c.exec(ctx, "create policy", "INSERT INTO policies ("+policyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
		p.ID, p.Grantee, joinWords(p.Scopes), joinWords(p.Purposes), p.MaxTTL.Milliseconds(), micros(p.CreatedAt), p.CreatedBy)
	return err
}

func (c txConn) DeletePolicy(ctx context.Context, id string, at time.Time) error {
	res, err := c.exec(ctx, "delete policy", "UPDATE policies SET deleted_at = ? WHERE id = ? AND deleted_at = 0", micros(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete policy %s: %w", id, fiveid.ErrNotFound)
	}
	return nil
}

// ---- holders ----

const holderCols = "id, system, scopes, created_at, created_by, deleted_at"

func scanHolder(sc interface{ Scan(...any) error }) (fiveid.Holder, error) {
	var h fiveid.Holder
	var scopes string
	var created, deleted int64
	err := sc.Scan(&h.ID, &h.System, &scopes, &created, &h.CreatedBy, &deleted)
	h.Scopes, h.CreatedAt, h.DeletedAt = splitWords(scopes), fromMicros(created), fromMicros(deleted)
	return h, err
}

func (c conn) Holders(ctx context.Context, system string) ([]fiveid.Holder, error) {
	rows, err := c.query(ctx, "SELECT "+holderCols+" FROM holders WHERE deleted_at = 0 AND (? = '' OR system = ?) ORDER BY created_at, id", system, system)
	if err != nil {
		return nil, mapErr("holders", err)
	}
	return collect(rows, "holders", scanHolder)
}

func (c conn) Holder(ctx context.Context, id string) (fiveid.Holder, error) {
	h, err := scanHolder(c.row(ctx, "SELECT "+holderCols+" FROM holders WHERE id = ? AND deleted_at = 0", id))
	return h, mapErr("holder", err)
}

func (c txConn) CreateHolder(ctx context.Context, h fiveid.Holder) error {
	_, err := c.exec(ctx, "create holder", "INSERT INTO holders ("+holderCols+") VALUES (?, ?, ?, ?, ?, 0)",
		h.ID, h.System, joinWords(h.Scopes), micros(h.CreatedAt), h.CreatedBy)
	return err
}

func (c txConn) DeleteHolder(ctx context.Context, id string, at time.Time) error {
	res, err := c.exec(ctx, "delete holder", "UPDATE holders SET deleted_at = ? WHERE id = ? AND deleted_at = 0", micros(at), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete holder %s: %w", id, fiveid.ErrNotFound)
	}
	return nil
}

// ---- grants ----

const grantCols = `id, customer_id, grantee, grantee_key, scopes, purpose, grade, score, issued_at, expires_at,
	revoked_at, revoked_by, signing_key, request_id`

func scanGrant(sc interface{ Scan(...any) error }) (fiveid.Grant, error) {
	var g fiveid.Grant
	var scopes string
	var issued, expires, revoked int64
	err := sc.Scan(&g.ID, &g.CustomerID, &g.Grantee, &g.GranteeKey, &scopes, &g.Purpose, &g.Grade, &g.Score,
		&issued, &expires, &revoked, &g.RevokedBy, &g.SigningKey, &g.RequestID)
	g.Scopes, g.IssuedAt, g.ExpiresAt, g.RevokedAt = splitWords(scopes), fromMicros(issued), fromMicros(expires), fromMicros(revoked)
	return g, err
}

// grantArgs are g's column values in grantCols order.
func grantArgs(g fiveid.Grant) []any {
	return []any{g.ID, g.CustomerID, g.Grantee, g.GranteeKey, joinWords(g.Scopes), g.Purpose, g.Grade, g.Score,
		micros(g.IssuedAt), micros(g.ExpiresAt), micros(g.RevokedAt), g.RevokedBy, g.SigningKey, g.RequestID}
}

func (c conn) Grant(ctx context.Context, id string) (fiveid.Grant, error) {
	g, err := scanGrant(c.row(ctx, "SELECT "+grantCols+" FROM grants WHERE id = ?", id))
	return g, mapErr("grant", err)
}

func (c conn) ListGrants(ctx context.Context, f fiveid.GrantFilter, now time.Time) ([]fiveid.Grant, error) {
	q := "SELECT " + grantCols + " FROM grants WHERE id > ?"
	args := []any{f.AfterID}
	if f.CustomerID != "" {
		q += " AND customer_id = ?"
		args = append(args, f.CustomerID)
	}
	if f.Grantee != "" {
		q += " AND grantee = ?"
		args = append(args, f.Grantee)
	}
	switch f.Status {
	case "active":
		q += " AND revoked_at = 0 AND expires_at > ?"
		args = append(args, micros(now))
	case "revoked":
		q += " AND revoked_at <> 0"
	case "expired":
		q += " AND revoked_at = 0 AND expires_at <= ?"
		args = append(args, micros(now))
	case "":
	default:
		return nil, fmt.Errorf("list grants: status %q: %w", f.Status, fiveid.ErrInvalid)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limit)
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list grants", err)
	}
	return collect(rows, "list grants", scanGrant)
}

func (c txConn) InsertGrant(ctx context.Context, g fiveid.Grant) error {
	_, err := c.exec(ctx, "insert grant", "INSERT INTO grants ("+grantCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		grantArgs(g)...)
	return err
}

// insertGrants inserts many grants with multi-row statements.
func (c txConn) insertGrants(ctx context.Context, gs []fiveid.Grant) error {
	return c.insertRows(ctx, "insert grants", "grants", grantCols, len(gs), 14, func(i int) []any {
		return grantArgs(gs[i])
	})
}

func (c txConn) RevokeGrant(ctx context.Context, id string, at time.Time, by string) error {
	res, err := c.exec(ctx, "revoke grant", "UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at = 0", micros(at), by, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		return mapErr("revoke grant", c.row(ctx, "SELECT 1 FROM grants WHERE id = ?", id).Scan(&one))
	}
	return nil
}

// RevokeGrantsOfKey revokes, in one statement, the grants asked for with
// key that are active at `at`, and returns them (revoked) by ID. Both
// PostgreSQL and SQLite (3.35+) have UPDATE ... RETURNING.
func (c txConn) RevokeGrantsOfKey(ctx context.Context, key string, at time.Time, by string) ([]fiveid.Grant, error) {
	const op = "revoke grants of key"
	rows, err := c.query(ctx, "UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE grantee_key = ? AND revoked_at = 0 AND expires_at > ? RETURNING "+grantCols,
		micros(at), by, key, micros(at))
	if err != nil {
		return nil, mapErr(op, err)
	}
	gs, err := collect(rows, op, scanGrant)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(gs, func(a, b fiveid.Grant) int { return strings.Compare(a.ID, b.ID) })
	return gs, nil
}

// ---- signing keys ----

func (c conn) SigningKeys(ctx context.Context) ([]fiveid.SigningKey, error) {
	rows, err := c.query(ctx, "SELECT id, private, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, mapErr("signing keys", err)
	}
	return collect(rows, "signing keys", func(sc interface{ Scan(...any) error }) (fiveid.SigningKey, error) {
		var k fiveid.SigningKey
		var priv []byte
		var created, retired int64
		if err := sc.Scan(&k.ID, &priv, &created, &retired); err != nil {
			return k, err
		}
		if len(priv) != ed25519.PrivateKeySize {
			return k, fmt.Errorf("signing key %s: stored key has %d bytes", k.ID, len(priv))
		}
		k.Private, k.CreatedAt, k.RetiredAt = ed25519.PrivateKey(priv), fromMicros(created), fromMicros(retired)
		return k, nil
	})
}

func (c txConn) InsertSigningKey(ctx context.Context, k fiveid.SigningKey) error {
	_, err := c.exec(ctx, "insert signing key", "INSERT INTO signing_keys (id, private, created_at, retired_at) VALUES (?, ?, ?, 0)",
		k.ID, []byte(k.Private), micros(k.CreatedAt))
	return err
}

func (c txConn) RetireSigningKey(ctx context.Context, id string, at time.Time) error {
	_, err := c.exec(ctx, "retire signing key", "UPDATE signing_keys SET retired_at = ? WHERE id = ? AND retired_at = 0", micros(at), id)
	return err
}

// ---- the grant log ----

const auditCols = `seq, id, at, action, actor_key, actor_system, customer_id, grant_id, grade, score, purpose, scopes,
	request_id, subject, id_masked, detail, prev_hash, hash`

func (c conn) AuditEvents(ctx context.Context, f fiveid.AuditFilter) ([]fiveid.AuditEvent, error) {
	q := "SELECT " + auditCols + " FROM audit_events WHERE seq > ?"
	args := []any{f.AfterSeq}
	if f.CustomerID != "" {
		q += " AND customer_id = ?"
		args = append(args, f.CustomerID)
	}
	if f.System != "" {
		q += " AND actor_system = ?"
		args = append(args, f.System)
	}
	if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if !f.From.IsZero() {
		q += " AND at >= ?"
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		q += " AND at < ?"
		args = append(args, micros(f.To))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, limit)
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("audit events", err)
	}
	return collect(rows, "audit events", func(sc interface{ Scan(...any) error }) (fiveid.AuditEvent, error) {
		var e fiveid.AuditEvent
		var at int64
		var scopes string
		err := sc.Scan(&e.Seq, &e.ID, &at, &e.Action, &e.ActorKey, &e.ActorSystem, &e.CustomerID, &e.GrantID, &e.Grade, &e.Score,
			&e.Purpose, &scopes, &e.RequestID, &e.Subject, &e.IDMasked, &e.Detail, &e.PrevHash, &e.Hash)
		e.Time, e.Scopes = fromMicros(at), splitWords(scopes)
		return e, err
	})
}

func (c conn) AuditTip(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := c.row(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1").Scan(&seq, &hash)
	return seq, hash, mapErr("audit tip", err)
}

// AppendAudit implements fiveid.GrantStore: grants and events, chained
// after the head (afterSeq, afterHash), go in atomically and move the head
// to the last event, or nothing is written and the error is ErrConflict
// because the head has moved (another writer appended first).
//
// PostgreSQL does it in one statement, one round trip: the guarded head
// update takes the head row's lock, and both inserts happen only when it
// matched. A writer that waited on the lock re-checks the guard against
// the committed head and writes nothing. The embedded store runs the same
// steps in a transaction (its single writer excludes other appenders).
func (db *DB) AppendAudit(ctx context.Context, afterSeq int64, afterHash string, grants []fiveid.Grant, events []fiveid.AuditEvent) error {
	const op = "append audit"
	if len(events) == 0 {
		return fmt.Errorf("%s: no events: %w", op, fiveid.ErrInvalid)
	}
	last := events[len(events)-1]
	if db.d == postgres {
		return db.appendAuditPostgres(ctx, afterSeq, afterHash, last, grants, events)
	}
	return db.inTx(ctx, op, nil, func(c conn) error {
		res, err := c.exec(ctx, op, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?",
			last.Seq, last.Hash, afterSeq, afterHash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("%s: the head moved past %d: %w", op, afterSeq, fiveid.ErrConflict)
		}
		tx := txConn{c}
		if len(grants) > 0 {
			if err := tx.insertGrants(ctx, grants); err != nil {
				return err
			}
		}
		return tx.insertRows(ctx, op, "audit_events", auditCols, len(events), 18, func(i int) []any {
			e := events[i]
			return []any{e.Seq, e.ID, micros(e.Time), e.Action, e.ActorKey, e.ActorSystem, e.CustomerID, e.GrantID,
				e.Grade, e.Score, e.Purpose, joinWords(e.Scopes), e.RequestID, e.Subject, e.IDMasked, e.Detail, e.PrevHash, e.Hash}
		})
	})
}

// appendAuditSQL inserts the rows from one array per column (unnest), so
// that one prepared statement serves every batch size.
const appendAuditSQL = `WITH head AS (
	UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4 RETURNING id
), g AS (
	INSERT INTO grants (` + grantCols + `)
	SELECT * FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
		$12::float8[], $13::bigint[], $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[])
	WHERE EXISTS (SELECT 1 FROM head)
)
INSERT INTO audit_events (` + auditCols + `)
SELECT * FROM unnest($19::bigint[], $20::text[], $21::bigint[], $22::text[], $23::text[], $24::text[], $25::text[],
	$26::text[], $27::text[], $28::float8[], $29::text[], $30::text[], $31::text[], $32::text[], $33::text[],
	$34::text[], $35::text[], $36::text[])
WHERE EXISTS (SELECT 1 FROM head)`

func (db *DB) appendAuditPostgres(ctx context.Context, afterSeq int64, afterHash string, last fiveid.AuditEvent, grants []fiveid.Grant, events []fiveid.AuditEvent) error {
	const op = "append audit"
	n := len(grants)
	gID, gCustomer, gGrantee, gKey, gScopes, gPurpose, gGrade := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	gScore, gIssued, gExpires, gRevoked := make([]float64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	gRevokedBy, gSigning, gRequest := make([]string, n), make([]string, n), make([]string, n)
	for i, g := range grants {
		gID[i], gCustomer[i], gGrantee[i], gKey[i], gScopes[i], gPurpose[i], gGrade[i] = g.ID, g.CustomerID, g.Grantee, g.GranteeKey, joinWords(g.Scopes), g.Purpose, g.Grade
		gScore[i], gIssued[i], gExpires[i], gRevoked[i] = g.Score, micros(g.IssuedAt), micros(g.ExpiresAt), micros(g.RevokedAt)
		gRevokedBy[i], gSigning[i], gRequest[i] = g.RevokedBy, g.SigningKey, g.RequestID
	}
	m := len(events)
	eSeq, eAt := make([]int64, m), make([]int64, m)
	eScore := make([]float64, m)
	eID, eAction, eActorKey, eActorSystem, eCustomer, eGrant, eGrade := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	ePurpose, eScopes, eRequest, eSubject, eMasked, eDetail, ePrev, eHash := make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
	for i, e := range events {
		eSeq[i], eID[i], eAt[i], eAction[i], eActorKey[i], eActorSystem[i], eCustomer[i], eGrant[i] = e.Seq, e.ID, micros(e.Time), e.Action, e.ActorKey, e.ActorSystem, e.CustomerID, e.GrantID
		eGrade[i], eScore[i], ePurpose[i], eScopes[i], eRequest[i], eSubject[i], eMasked[i], eDetail[i] = e.Grade, e.Score, e.Purpose, joinWords(e.Scopes), e.RequestID, e.Subject, e.IDMasked, e.Detail
		ePrev[i], eHash[i] = e.PrevHash, e.Hash
	}
	res, err := db.write.ExecContext(ctx, appendAuditSQL, last.Seq, last.Hash, afterSeq, afterHash,
		gID, gCustomer, gGrantee, gKey, gScopes, gPurpose, gGrade, gScore, gIssued, gExpires, gRevoked, gRevokedBy, gSigning, gRequest,
		eSeq, eID, eAt, eAction, eActorKey, eActorSystem, eCustomer, eGrant, eGrade, eScore, ePurpose, eScopes, eRequest, eSubject, eMasked, eDetail, ePrev, eHash)
	if err != nil {
		return mapErr(op, err)
	}
	if got, err := res.RowsAffected(); err != nil || got != int64(m) {
		return fmt.Errorf("%s: the head moved past %d: %w", op, afterSeq, fiveid.ErrConflict)
	}
	return nil
}
