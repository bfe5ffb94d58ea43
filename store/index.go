package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"fiveid"
	"fiveid/match"
)

// ---- systems ----

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

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, op string, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, mapErr(op, rows.Err())
}

// ---- keys ----

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

// ---- customers ----

const customerCols = "id, status, merged_into, name, sex, birth_date, id_type, id_number, death_date, death_source, version, created_at, updated_at"

func scanCustomer(sc interface{ Scan(...any) error }) (fiveid.Customer, error) {
	var cu fiveid.Customer
	var status string
	var merged sql.NullString
	var created, updated int64
	err := sc.Scan(&cu.ID, &status, &merged, &cu.Name, &cu.Sex, &cu.BirthDate, &cu.IDType, &cu.IDNumber, &cu.DeathDate, &cu.DeathSource, &cu.Version, &created, &updated)
	cu.Status, cu.MergedInto, cu.CreatedAt, cu.UpdatedAt = fiveid.CustomerStatus(status), merged.String, fromMicros(created), fromMicros(updated)
	return cu, err
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c conn) Customer(ctx context.Context, id string) (fiveid.Customer, error) {
	cu, err := scanCustomer(c.row(ctx, "SELECT "+customerCols+" FROM customers WHERE id = ?", id))
	return cu, mapErr("customer", err)
}

func (c txConn) InsertCustomer(ctx context.Context, cu fiveid.Customer) error {
	_, err := c.exec(ctx, "insert customer", "INSERT INTO customers ("+customerCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		cu.ID, string(cu.Status), nullable(cu.MergedInto), cu.Name, cu.Sex, cu.BirthDate, cu.IDType, cu.IDNumber,
		cu.DeathDate, cu.DeathSource, cu.Version, micros(cu.CreatedAt), micros(cu.UpdatedAt))
	return err
}

func (c txConn) UpdateCustomer(ctx context.Context, cu fiveid.Customer) error {
	res, err := c.exec(ctx, "update customer", `UPDATE customers SET status = ?, merged_into = ?, name = ?, sex = ?,
		birth_date = ?, id_type = ?, id_number = ?, death_date = ?, death_source = ?, version = ?, created_at = ?, updated_at = ? WHERE id = ?`,
		string(cu.Status), nullable(cu.MergedInto), cu.Name, cu.Sex, cu.BirthDate, cu.IDType, cu.IDNumber,
		cu.DeathDate, cu.DeathSource, cu.Version, micros(cu.CreatedAt), micros(cu.UpdatedAt), cu.ID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update customer %s: %w", cu.ID, fiveid.ErrNotFound)
	}
	return nil
}

// ---- source records ----

const recordCols = `r.system, r.local_id, r.customer_id, r.raw_name, r.raw_sex, r.raw_birth, r.raw_id_type, r.raw_id,
	r.id_table, r.name_key, r.id_key, r.link_grade, r.link_score, r.link_manual, r.link_merge, r.explanation, r.version, r.created_at, r.updated_at`

func scanRecord(sc interface{ Scan(...any) error }) (fiveid.SourceRecord, error) {
	var r fiveid.SourceRecord
	var table, grade, expl string
	var created, updated int64
	err := sc.Scan(&r.System, &r.LocalID, &r.CustomerID, &r.Raw.Name, &r.Raw.Sex, &r.Raw.BirthDate, &r.Raw.IDType, &r.Raw.IDNumber,
		&table, &r.NameKey, &r.IDKey, &grade, &r.Link.Score, &r.Link.Manual, &r.Link.Merge, &expl, &r.Version, &created, &updated)
	if err != nil {
		return r, err
	}
	r.IDTable, r.Link.Grade, r.CreatedAt, r.UpdatedAt = match.IDTable(table), match.Grade(grade), fromMicros(created), fromMicros(updated)
	if expl != "" {
		if r.Link.Explanation, err = fiveid.DecodeExplanation(expl); err != nil {
			return r, fmt.Errorf("explanation of %s/%s: %w", r.System, r.LocalID, err)
		}
	}
	return r, nil
}

// explanationJSON is an explanation's column value: the root's documented
// form (fiveid.ExplanationDoc), never the domain struct's Go field names.
func explanationJSON(e match.Explanation) (string, error) { return fiveid.EncodeExplanation(e) }

func (c conn) SourceRecord(ctx context.Context, system, localID string) (fiveid.SourceRecord, error) {
	r, err := scanRecord(c.row(ctx, "SELECT "+recordCols+" FROM source_records r WHERE r.system = ? AND r.local_id = ?", system, localID))
	return r, mapErr("source record", err)
}

func (c conn) CustomerRecords(ctx context.Context, customerID string) ([]fiveid.SourceRecord, error) {
	rows, err := c.query(ctx, "SELECT "+recordCols+" FROM source_records r WHERE r.customer_id = ? ORDER BY r.system, r.local_id", customerID)
	if err != nil {
		return nil, mapErr("customer records", err)
	}
	return collect(rows, "customer records", scanRecord)
}

// Candidates is one query: the records sharing any blocking key, linked to
// an active customer.
func (c conn) Candidates(ctx context.Context, keys []string, limit int) ([]fiveid.SourceRecord, error) {
	if len(keys) == 0 || limit <= 0 {
		return nil, nil
	}
	args := make([]any, 0, len(keys)+1)
	for _, k := range keys {
		args = append(args, k)
	}
	args = append(args, limit)
	// Drive the query from the blocking-key index — the distinct records
	// carrying the keys first (a derived table, so that no planner is
	// tempted to walk source_records in ORDER BY order), then primary-key
	// lookups. No join on customers: records belong to active customers
	// (see fiveid.Reader), and each join was two more page reads per
	// candidate.
	q := `SELECT ` + recordCols + ` FROM (SELECT DISTINCT b.system, b.local_id FROM blocking_keys b
			WHERE b.key IN (?` + strings.Repeat(", ?", len(keys)-1) + `)) k
		JOIN source_records r ON r.system = k.system AND r.local_id = k.local_id
		ORDER BY r.system, r.local_id LIMIT ?`
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("candidates", err)
	}
	return collect(rows, "candidates", scanRecord)
}

func (c conn) NameFrequency(ctx context.Context, nameKey string) (int64, int64, error) {
	var n, total int64
	err := c.row(ctx, `SELECT COALESCE((SELECT n FROM name_stats WHERE name_key = ?), 0),
		(SELECT n FROM counters WHERE name = 'source_records')`, nameKey).Scan(&n, &total)
	return n, total, mapErr("name frequency", err)
}

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

// PutSourceRecord upserts the record, replaces its blocking keys and keeps
// the name statistics exact.
func (c txConn) PutSourceRecord(ctx context.Context, r fiveid.SourceRecord, keys []string) error {
	const op = "put source record"
	var oldName string
	err := c.row(ctx, "SELECT name_key FROM source_records WHERE system = ? AND local_id = ?", r.System, r.LocalID).Scan(&oldName)
	exists := err == nil
	if err != nil && err != sql.ErrNoRows {
		return mapErr(op, err)
	}
	expl, err := explanationJSON(r.Link.Explanation)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	_, err = c.exec(ctx, op, `INSERT INTO source_records (system, local_id, customer_id, raw_name, raw_sex, raw_birth, raw_id_type, raw_id,
			id_table, name_key, id_key, link_grade, link_score, link_manual, link_merge, explanation, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (system, local_id) DO UPDATE SET customer_id = excluded.customer_id, raw_name = excluded.raw_name,
			raw_sex = excluded.raw_sex, raw_birth = excluded.raw_birth, raw_id_type = excluded.raw_id_type, raw_id = excluded.raw_id,
			id_table = excluded.id_table, name_key = excluded.name_key, id_key = excluded.id_key, link_grade = excluded.link_grade,
			link_score = excluded.link_score, link_manual = excluded.link_manual, link_merge = excluded.link_merge, explanation = excluded.explanation,
			version = excluded.version, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		r.System, r.LocalID, r.CustomerID, r.Raw.Name, r.Raw.Sex, r.Raw.BirthDate, r.Raw.IDType, r.Raw.IDNumber,
		string(r.IDTable), r.NameKey, r.IDKey, string(r.Link.Grade), r.Link.Score, r.Link.Manual, r.Link.Merge, expl,
		r.Version, micros(r.CreatedAt), micros(r.UpdatedAt))
	if err != nil {
		return err
	}
	if !exists || oldName != r.NameKey {
		if exists {
			if _, err := c.exec(ctx, op, "UPDATE name_stats SET n = n - 1 WHERE name_key = ?", oldName); err != nil {
				return err
			}
		} else if _, err := c.exec(ctx, op, "UPDATE counters SET n = n + 1 WHERE name = 'source_records'"); err != nil {
			return err
		}
		if _, err := c.exec(ctx, op, `INSERT INTO name_stats (name_key, n) VALUES (?, 1)
			ON CONFLICT (name_key) DO UPDATE SET n = name_stats.n + 1`, r.NameKey); err != nil {
			return err
		}
	}
	return c.setBlockingKeys(ctx, op, r.System, r.LocalID, keys)
}

// setBlockingKeys makes keys the record's blocking keys.
func (c txConn) setBlockingKeys(ctx context.Context, op, system, localID string, keys []string) error {
	return c.setKeys(ctx, op, []fiveid.RecordKeys{{System: system, LocalID: localID, Keys: keys}})
}

// setKeys makes each record's Keys its blocking keys. It reads the keys
// the records have (their entries sit together in the by-record index),
// then deletes those no longer wanted and inserts the missing ones: keys
// a record keeps are not touched, so a reindex that changes one key per
// record writes one index entry per record, and one that changes nothing
// only reads. A statement or three per hundred records.
func (c txConn) setKeys(ctx context.Context, op string, recs []fiveid.RecordKeys) error {
	const chunk = 100 // records per statement: well under both databases' parameter limits
	type entry struct{ key, system, localID string }
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		owners := make([]any, 0, 2*len(part))
		want := map[entry]bool{}
		for _, r := range part {
			owners = append(owners, r.System, r.LocalID)
			for _, k := range r.Keys {
				want[entry{k, r.System, r.LocalID}] = true
			}
		}
		rows, err := c.query(ctx, "SELECT key, system, local_id FROM blocking_keys WHERE (system, local_id) IN (VALUES (?, ?)"+
			strings.Repeat(", (?, ?)", len(part)-1)+")", owners...)
		if err != nil {
			return mapErr(op, err)
		}
		var stale []any
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.key, &e.system, &e.localID); err != nil {
				rows.Close()
				return mapErr(op, err)
			}
			if want[e] {
				delete(want, e) // kept as it is
			} else {
				stale = append(stale, e.key, e.system, e.localID)
			}
		}
		if err := rows.Err(); err != nil {
			return mapErr(op, err)
		}
		rows.Close()
		if len(stale) > 0 {
			if _, err := c.exec(ctx, op, "DELETE FROM blocking_keys WHERE (key, system, local_id) IN (VALUES (?, ?, ?)"+
				strings.Repeat(", (?, ?, ?)", len(stale)/3-1)+")", stale...); err != nil {
				return err
			}
		}
		if len(want) == 0 {
			continue
		}
		add := make([]entry, 0, len(want))
		for e := range want {
			add = append(add, e)
		}
		sort.Slice(add, func(i, j int) bool { return add[i].key < add[j].key })
		if err := c.insertRows(ctx, op, "blocking_keys", "key, system, local_id", len(add), 3, func(i int) []any {
			return []any{add[i].key, add[i].system, add[i].localID}
		}); err != nil {
			return err
		}
	}
	return nil
}

// ScanSourceRecords implements fiveid.RecordScanner.
func (c conn) ScanSourceRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]fiveid.SourceRecord, error) {
	rows, err := c.query(ctx, "SELECT "+recordCols+` FROM source_records r
		WHERE r.system > ? OR (r.system = ? AND r.local_id > ?) ORDER BY r.system, r.local_id LIMIT ?`,
		afterSystem, afterSystem, afterLocalID, limit)
	if err != nil {
		return nil, mapErr("scan source records", err)
	}
	return collect(rows, "scan source records", scanRecord)
}

// ---- review tasks ----

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

// ---- secrets ----

func (c conn) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := c.row(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
	return v, mapErr("secret", err)
}

func (c txConn) PutSecret(ctx context.Context, name string, value []byte) error {
	_, err := c.exec(ctx, "put secret", "INSERT INTO secrets (name, value) VALUES (?, ?)", name, value)
	return err
}

// ReplaceBlockingKeys implements fiveid.Tx: one locking read of the
// records' versions, then setKeys for those still current.
func (c txConn) ReplaceBlockingKeys(ctx context.Context, recs []fiveid.RecordKeys) ([]bool, error) {
	const op = "replace blocking keys"
	done := make([]bool, len(recs))
	const chunk = 500
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		args := make([]any, 0, 2*len(part))
		for _, r := range part {
			args = append(args, r.System, r.LocalID)
		}
		q := "SELECT system, local_id, version FROM source_records WHERE (system, local_id) IN (VALUES (?, ?)" +
			strings.Repeat(", (?, ?)", len(part)-1) + ")"
		if c.d == postgres {
			q += " FOR UPDATE" // the embedded store has a single writer
		}
		rows, err := c.query(ctx, q, args...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		versions := map[[2]string]int64{}
		for rows.Next() {
			var sys, local string
			var v int64
			if err := rows.Scan(&sys, &local, &v); err != nil {
				rows.Close()
				return nil, mapErr(op, err)
			}
			versions[[2]string{sys, local}] = v
		}
		if err := rows.Err(); err != nil {
			return nil, mapErr(op, err)
		}
		rows.Close()
		var current []fiveid.RecordKeys
		for i, r := range part {
			if v, ok := versions[[2]string{r.System, r.LocalID}]; ok && v == r.Version {
				done[start+i] = true
				current = append(current, r)
			}
		}
		if err := c.setKeys(ctx, op, current); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// InsertBulk implements fiveid.Tx with multi-row INSERTs (a few hundred
// rows per statement).
func (c txConn) InsertBulk(ctx context.Context, customers []fiveid.Customer, records []fiveid.SourceRecord, keys [][]string) error {
	const op = "insert bulk"
	if len(keys) != len(records) {
		return fmt.Errorf("%s: %d key lists for %d records: %w", op, len(keys), len(records), fiveid.ErrInvalid)
	}
	err := c.insertRows(ctx, op, "customers", customerCols, len(customers), 13, func(i int) []any {
		cu := customers[i]
		return []any{cu.ID, string(cu.Status), nullable(cu.MergedInto), cu.Name, cu.Sex, cu.BirthDate, cu.IDType, cu.IDNumber,
			cu.DeathDate, cu.DeathSource, cu.Version, micros(cu.CreatedAt), micros(cu.UpdatedAt)}
	})
	if err != nil {
		return err
	}
	expls := make([]string, len(records))
	for i, r := range records {
		if expls[i], err = explanationJSON(r.Link.Explanation); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	err = c.insertRows(ctx, op, "source_records", strings.ReplaceAll(recordCols, "r.", ""), len(records), 19, func(i int) []any {
		r := records[i]
		return []any{r.System, r.LocalID, r.CustomerID, r.Raw.Name, r.Raw.Sex, r.Raw.BirthDate, r.Raw.IDType, r.Raw.IDNumber,
			string(r.IDTable), r.NameKey, r.IDKey, string(r.Link.Grade), r.Link.Score, r.Link.Manual, r.Link.Merge, expls[i],
			r.Version, micros(r.CreatedAt), micros(r.UpdatedAt)}
	})
	if err != nil {
		return err
	}
	type bk struct{ key, system, local string }
	var flat []bk
	for i, ks := range keys {
		seen := map[string]bool{}
		for _, k := range ks {
			if !seen[k] {
				seen[k] = true
				flat = append(flat, bk{k, records[i].System, records[i].LocalID})
			}
		}
	}
	if err := c.insertRows(ctx, op, "blocking_keys", "key, system, local_id", len(flat), 3, func(i int) []any {
		return []any{flat[i].key, flat[i].system, flat[i].local}
	}); err != nil {
		return err
	}
	names := map[string]int64{}
	for _, r := range records {
		names[r.NameKey]++
	}
	// Upsert in key order: concurrent loads lock the same rows in the same
	// order and cannot deadlock.
	order := make([]string, 0, len(names))
	for k := range names {
		order = append(order, k)
	}
	sort.Strings(order)
	for _, k := range order {
		n := names[k]
		if _, err := c.exec(ctx, op, `INSERT INTO name_stats (name_key, n) VALUES (?, ?)
			ON CONFLICT (name_key) DO UPDATE SET n = name_stats.n + excluded.n`, k, n); err != nil {
			return err
		}
	}
	_, err = c.exec(ctx, op, "UPDATE counters SET n = n + ? WHERE name = 'source_records'", int64(len(records)))
	return err
}

// ---- history and review resolution ----

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

// ---- merges ----

func (c conn) Merge(ctx context.Context, id string) (fiveid.Merge, error) {
	var m fiveid.Merge
	var at, undone int64
	err := c.row(ctx, "SELECT id, from_id, into_id, at, actor, snapshot, override, reason, undone_at, undone_by FROM merges WHERE id = ?", id).
		Scan(&m.ID, &m.From, &m.Into, &at, &m.Actor, &m.Snapshot, &m.Override, &m.Reason, &undone, &m.UndoneBy)
	m.At, m.UndoneAt = fromMicros(at), fromMicros(undone)
	return m, mapErr("merge", err)
}

func (c conn) NotDuplicate(ctx context.Context, a, b string) (bool, error) {
	var one int
	err := c.row(ctx, "SELECT 1 FROM not_duplicates WHERE pair_lo = ? AND pair_hi = ?", min(a, b), max(a, b)).Scan(&one)
	if err == sql.ErrNoRows {
		return false, nil
	}
	return err == nil, mapErr("not duplicate", err)
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

func (c txConn) PutNotDuplicate(ctx context.Context, a, b string, at time.Time, by string) error {
	_, err := c.exec(ctx, "not duplicate", `INSERT INTO not_duplicates (pair_lo, pair_hi, at, actor) VALUES (?, ?, ?, ?)
		ON CONFLICT (pair_lo, pair_hi) DO NOTHING`, min(a, b), max(a, b), micros(at), by)
	return err
}

// ---- webhooks ----

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

// ChangesAfter implements fiveid.WebhookStore.
func (db *DB) ChangesAfter(ctx context.Context, cursor string, limit int) ([]fiveid.Change, error) {
	rows, err := db.query(ctx, "SELECT "+changeCols+" FROM customer_events WHERE id > ? ORDER BY id LIMIT ?", cursor, limit)
	if err != nil {
		return nil, mapErr("changes after", err)
	}
	return collect(rows, "changes after", scanChange)
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

// insertRows inserts n rows of per columns with multi-row INSERTs, a few
// hundred rows per statement (one round trip each).
func (c txConn) insertRows(ctx context.Context, op, table, cols string, n, per int, row func(i int) []any) error {
	ph := "(" + strings.TrimSuffix(strings.Repeat("?, ", per), ", ") + ")"
	chunk := max(1, 4000/per)
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		args := make([]any, 0, (end-start)*per)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(ph)
			args = append(args, row(i)...)
		}
		if _, err := c.exec(ctx, op, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

const changeCols = "id, customer_id, at, kind, actor, system, local_id, before_json, after_json, detail"

func scanChange(sc interface{ Scan(...any) error }) (fiveid.Change, error) {
	var ch fiveid.Change
	var at int64
	var kind string
	err := sc.Scan(&ch.ID, &ch.CustomerID, &at, &kind, &ch.Actor, &ch.System, &ch.LocalID, &ch.Before, &ch.After, &ch.Detail)
	ch.At, ch.Kind = fromMicros(at), fiveid.ChangeKind(kind)
	return ch, err
}
