package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"fiveid"
	"fiveid/match"
)

// Source records, candidate retrieval, blocking keys, name statistics and
// bulk loads; collect and insertRows, the row helpers most of them use.

const recordCols = `r.system, r.local_id, r.customer_id, r.raw_name, r.raw_sex, r.raw_birth, r.raw_id_type, r.raw_id,
	r.id_table, r.name_key, r.id_key, r.link_grade, r.link_score, r.link_manual, r.link_merge, r.explanation, r.version, r.created_at, r.updated_at,
	r.features`

// candidateCols are what a candidate is read with: recordCols without the
// link and the times, which matching does not read (the link's
// explanation is a JSON document, the widest value of a record).
const candidateCols = `r.system, r.local_id, r.customer_id, r.raw_name, r.raw_sex, r.raw_birth, r.raw_id_type, r.raw_id,
	r.id_table, r.name_key, r.id_key, r.version, r.features`

func scanCandidate(sc interface{ Scan(...any) error }) (fiveid.SourceRecord, error) {
	var r fiveid.SourceRecord
	var table string
	err := sc.Scan(&r.System, &r.LocalID, &r.CustomerID, &r.Raw.Name, &r.Raw.Sex, &r.Raw.BirthDate, &r.Raw.IDType, &r.Raw.IDNumber,
		&table, &r.NameKey, &r.IDKey, &r.Version, &r.Features)
	r.IDTable = match.IDTable(table)
	return r, err
}

func scanRecord(sc interface{ Scan(...any) error }) (fiveid.SourceRecord, error) {
	var r fiveid.SourceRecord
	var table, grade, expl string
	var created, updated int64
	err := sc.Scan(&r.System, &r.LocalID, &r.CustomerID, &r.Raw.Name, &r.Raw.Sex, &r.Raw.BirthDate, &r.Raw.IDType, &r.Raw.IDNumber,
		&table, &r.NameKey, &r.IDKey, &grade, &r.Link.Score, &r.Link.Manual, &r.Link.Merge, &expl, &r.Version, &created, &updated,
		&r.Features)
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
	vals, err := keyValues("candidates", keys)
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(keys)+1)
	for _, v := range vals {
		args = append(args, v)
	}
	args = append(args, limit)
	// Drive the query from the blocking-key index — the distinct records
	// (rid) carrying the keys first (a derived table, so that no planner is
	// tempted to walk source_records in ORDER BY order), then primary-key
	// lookups. No join on customers: records belong to active customers
	// (see fiveid.Reader), and each join was two more page reads per
	// candidate.
	q := `SELECT ` + candidateCols + ` FROM (SELECT DISTINCT b.rid FROM blocking_keys b
			WHERE b.key IN (?` + strings.Repeat(", ?", len(keys)-1) + `)) k
		JOIN source_records r ON r.rid = k.rid
		ORDER BY r.system, r.local_id LIMIT ?`
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("candidates", err)
	}
	return collect(rows, "candidates", scanCandidate)
}

func (c conn) NameFrequency(ctx context.Context, nameKey string) (int64, int64, error) {
	var n, total int64
	err := c.row(ctx, `SELECT COALESCE((SELECT n FROM name_stats WHERE name_key = ?), 0),
		(SELECT n FROM counters WHERE name = 'source_records')`, nameKey).Scan(&n, &total)
	return n, total, mapErr("name frequency", err)
}

// recordUpsert replaces every column of a source record that exists.
const recordUpsert = `ON CONFLICT (system, local_id) DO UPDATE SET customer_id = excluded.customer_id, raw_name = excluded.raw_name,
			raw_sex = excluded.raw_sex, raw_birth = excluded.raw_birth, raw_id_type = excluded.raw_id_type, raw_id = excluded.raw_id,
			id_table = excluded.id_table, name_key = excluded.name_key, id_key = excluded.id_key, link_grade = excluded.link_grade,
			link_score = excluded.link_score, link_manual = excluded.link_manual, link_merge = excluded.link_merge, explanation = excluded.explanation,
			version = excluded.version, created_at = excluded.created_at, updated_at = excluded.updated_at, features = excluded.features`

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
	// A new record's number is drawn by the insert itself, and the upsert
	// returns the row's number, new or kept: no round trip for it.
	args := recordArgs(r, expl, 0)
	var rid int64
	err = c.row(ctx, `INSERT INTO source_records (`+recordInsertCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+c.d.newRID()+`) `+recordUpsert+` RETURNING rid`,
		args[:len(args)-1]...).Scan(&rid)
	if err != nil {
		return mapErr(op, err)
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
	_, err = c.setKeys(ctx, op, []ridKeys{{rid, keys}})
	return err
}

// ridKeys are the blocking keys a record (by rid) is to carry.
type ridKeys struct {
	rid  int64
	keys []string
}

// newRID is the SQL expression of a new source record's number, as
// newRIDs draws them, for an insert of one row.
func (d dialect) newRID() string {
	if d == postgres {
		return "nextval('source_record_rids')"
	}
	return "(SELECT COALESCE(MAX(rid), 0) + 1 FROM source_records)"
}

// newRIDs numbers n new source records (source_records.rid): from the
// column's sequence on PostgreSQL; on the embedded store, whose single
// writer holds the database until it commits, after the largest number.
func (c txConn) newRIDs(ctx context.Context, op string, n int) ([]int64, error) {
	if n == 0 {
		return nil, nil
	}
	if c.d == postgres {
		rows, err := c.query(ctx, "SELECT nextval('source_record_rids') FROM generate_series(1, CAST(? AS INTEGER))", n)
		if err != nil {
			return nil, mapErr(op, err)
		}
		out, err := collect(rows, op, func(sc interface{ Scan(...any) error }) (int64, error) {
			var v int64
			return v, sc.Scan(&v)
		})
		if err == nil && len(out) != n {
			err = fmt.Errorf("%s: %d record numbers for %d records", op, len(out), n)
		}
		return out, err
	}
	var last int64
	if err := c.row(ctx, "SELECT COALESCE(MAX(rid), 0) FROM source_records").Scan(&last); err != nil {
		return nil, mapErr(op, err)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = last + 1 + int64(i)
	}
	return out, nil
}

// setKeys makes each record's keys its blocking keys and returns the keys
// it added or dropped (each once). It reads the keys the records have
// (their entries sit together in the by-record index), then deletes those
// no longer wanted and inserts the missing ones: keys a record keeps are
// not touched, so a reindex that changes one key per record writes one
// index entry per record, and one that changes nothing only reads. A
// statement or three per 500 records.
func (c txConn) setKeys(ctx context.Context, op string, recs []ridKeys) ([]string, error) {
	const chunk = 500 // records per statement: well under both databases' parameter limits
	type entry struct{ key, rid int64 }
	changed := map[int64]bool{}
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		owners := make([]int64, 0, len(part))
		want := map[entry]bool{}
		for _, r := range part {
			owners = append(owners, r.rid)
			vals, err := keyValues(op, r.keys)
			if err != nil {
				return nil, err
			}
			for _, v := range vals {
				want[entry{v, r.rid}] = true
			}
		}
		in, args := inValues(c.conn, "rid", "bigint[]", owners)
		rows, err := c.query(ctx, "SELECT key, rid FROM blocking_keys WHERE "+in, args...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		have, err := collect(rows, op, func(sc interface{ Scan(...any) error }) (entry, error) {
			var e entry
			return e, sc.Scan(&e.key, &e.rid)
		})
		if err != nil {
			return nil, err
		}
		var stale []any
		for _, e := range have {
			if want[e] {
				delete(want, e) // kept as it is
			} else {
				stale = append(stale, e.key, e.rid)
				changed[e.key] = true
			}
		}
		const perDelete = 2 * 1000 // parameters: 1,000 entries a statement
		for len(stale) > 0 {
			del := stale[:min(len(stale), perDelete)]
			stale = stale[len(del):]
			// The casts type the list's columns (PostgreSQL would take
			// the parameters for text).
			if _, err := c.exec(ctx, op, "DELETE FROM blocking_keys WHERE (key, rid) IN (VALUES (CAST(? AS BIGINT), CAST(? AS BIGINT))"+
				strings.Repeat(", (?, ?)", len(del)/2-1)+")", del...); err != nil {
				return nil, err
			}
		}
		if len(want) == 0 {
			continue
		}
		add := make([]entry, 0, len(want))
		for e := range want {
			add = append(add, e)
			changed[e.key] = true
		}
		sort.Slice(add, func(i, j int) bool {
			return add[i].key < add[j].key || (add[i].key == add[j].key && add[i].rid < add[j].rid)
		})
		if err := c.insertRows(ctx, op, "blocking_keys", "key, rid", len(add), 2, func(i int) []any {
			return []any{add[i].key, add[i].rid}
		}); err != nil {
			return nil, err
		}
	}
	out := make([]string, 0, len(changed))
	for k := range changed {
		out = append(out, fiveid.KeyText(k))
	}
	sort.Strings(out)
	return out, nil
}

// keyValues are the stored numbers of keys (fiveid.KeyValue); a key of
// another form is ErrInvalid.
func keyValues(op string, keys []string) ([]int64, error) {
	out := make([]int64, len(keys))
	for i, k := range keys {
		v, ok := fiveid.KeyValue(k)
		if !ok {
			return nil, fmt.Errorf("%s: blocking key %q is not 16 hex digits of a 63-bit number: %w", op, k, fiveid.ErrInvalid)
		}
		out[i] = v
	}
	return out, nil
}

// ScanSourceRecords implements fiveid.RecordScanner. The row comparison is
// the primary key's range: each page starts where the last ended (spelt
// as system > ? OR (system = ? AND ...), PostgreSQL filtered every record
// before the page instead, and a walk was quadratic).
func (c conn) ScanSourceRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]fiveid.SourceRecord, error) {
	rows, err := c.query(ctx, "SELECT "+recordCols+` FROM source_records r
		WHERE (r.system, r.local_id) > (?, ?) ORDER BY r.system, r.local_id LIMIT ?`,
		afterSystem, afterLocalID, limit)
	if err != nil {
		return nil, mapErr("scan source records", err)
	}
	return collect(rows, "scan source records", scanRecord)
}

// ScanKeyedRecords implements fiveid.RecordScanner: the page's records
// and, looked up by each record (an index scan of blocking_keys_record),
// its keys as one value, each key's 16 hex digits one after the other
// (parsing PostgreSQL's array literal was a fifth of a reindex's CPU), so
// that a reindex reads a page in one round trip and a row a record.
func (c conn) ScanKeyedRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]fiveid.KeyedRecord, error) {
	const op = "scan keyed records"
	keys := `(SELECT COALESCE(group_concat(printf('%016x', b.key), ''), '')`
	if c.d == postgres {
		keys = `(SELECT COALESCE(string_agg(lpad(to_hex(b.key), 16, '0'), ''), '')`
	}
	keys += ` FROM blocking_keys b WHERE b.rid = r.rid)`
	rows, err := c.query(ctx, "SELECT "+candidateCols+", "+keys+` FROM source_records r
		WHERE (r.system, r.local_id) > (?, ?) ORDER BY r.system, r.local_id LIMIT ?`,
		afterSystem, afterLocalID, limit)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, func(sc interface{ Scan(...any) error }) (fiveid.KeyedRecord, error) {
		var r fiveid.KeyedRecord
		var table, keys string
		err := sc.Scan(&r.System, &r.LocalID, &r.CustomerID, &r.Raw.Name, &r.Raw.Sex, &r.Raw.BirthDate, &r.Raw.IDType, &r.Raw.IDNumber,
			&table, &r.NameKey, &r.IDKey, &r.Version, &r.Features, &keys)
		if err != nil {
			return r, err
		}
		r.IDTable = match.IDTable(table)
		r.Keys, err = splitKeys(keys)
		return r, err
	})
}

// splitKeys splits ScanKeyedRecords' keys.
func splitKeys(s string) ([]string, error) {
	if len(s)%16 != 0 {
		return nil, fmt.Errorf("malformed key list of %d bytes", len(s))
	}
	out := make([]string, 0, len(s)/16)
	for ; s != ""; s = s[16:] {
		if _, ok := fiveid.KeyValue(s[:16]); !ok {
			return nil, fmt.Errorf("malformed key list at %q", s[:16])
		}
		out = append(out, s[:16])
	}
	return out, nil
}

// EachSourceRecord implements fiveid.RecordScanner: one query, its rows
// handed to fn as they arrive, with the columns matching reads (those of
// a candidate: no link, no times).
func (c conn) EachSourceRecord(ctx context.Context, fn func(fiveid.SourceRecord) error) error {
	rows, err := c.query(ctx, "SELECT "+candidateCols+" FROM source_records r ORDER BY r.system, r.local_id")
	if err != nil {
		return mapErr("each source record", err)
	}
	return each(rows, "each source record", scanCandidate, fn)
}

// EachBlockingKey implements fiveid.RecordScanner: the records' names
// by number, in (system, local_id) order (one read of source_records),
// then one walk of the primary key's index, its rows handed to fn as they
// arrive (a page at a time, the walk spent its time starting and ending
// pages) without a copy (eachRaw). The index holds a key's records in rid
// order: each key's entries are gathered and handed on in the order of
// the names' read, the database's order (its collation's). An entry of a
// record registered after the names were read is left out.
func (db *DB) EachBlockingKey(ctx context.Context, fn func(key int64, system, localID []byte) error) error {
	const op = "each blocking key"
	var (
		pos     = map[int64]int32{} // rid → position
		systems [][]byte            // each system once
		sysPos  = map[string]int32{}
		sysOf   []int32 // a position's system
		ends    []int   // a position's local ID ends at arena[ends[i]]
		arena   []byte
	)
	err := db.eachRaw(ctx, op, "SELECT CAST(rid AS TEXT), system, local_id FROM source_records ORDER BY system, local_id", func(cols [][]byte) error {
		rid, ok := decimal(cols[0])
		if !ok {
			return fmt.Errorf("%s: malformed record number %q", op, cols[0])
		}
		sp, ok := sysPos[string(cols[1])]
		if !ok {
			sp = int32(len(systems))
			systems = append(systems, append([]byte(nil), cols[1]...))
			sysPos[string(cols[1])] = sp
		}
		pos[rid] = int32(len(sysOf))
		sysOf = append(sysOf, sp)
		arena = append(arena, cols[2]...)
		ends = append(ends, len(arena))
		return nil
	})
	if err != nil {
		return err
	}
	local := func(i int32) []byte {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return arena[start:ends[i]:ends[i]]
	}
	var run []int32 // the current key's records
	var runKey int64
	flush := func() error {
		slices.Sort(run)
		for _, i := range run {
			if err := fn(runKey, systems[sysOf[i]], local(i)); err != nil {
				return err
			}
		}
		run = run[:0]
		return nil
	}
	err = db.eachRaw(ctx, op, "SELECT CAST(key AS TEXT), CAST(rid AS TEXT) FROM blocking_keys ORDER BY key, rid",
		func(cols [][]byte) error {
			k, ok := decimal(cols[0])
			rid, ok2 := decimal(cols[1])
			if !ok || !ok2 {
				return fmt.Errorf("%s: malformed entry %q, %q", op, cols[0], cols[1])
			}
			if k != runKey && len(run) > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			runKey = k
			if i, ok := pos[rid]; ok {
				run = append(run, i)
			}
			return nil
		})
	if err != nil {
		return err
	}
	return flush()
}

// decimal is the non-negative int64 b's decimal digits write (as
// strconv.ParseInt, without making b a string: ten million of them in a
// walk).
func decimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return int64(v), v <= math.MaxInt64
}

// ReplaceBlockingKeys implements fiveid.Tx: one read of the records'
// versions and keys; then, for the records at their version whose keys
// differ, a locking read of their versions and setKeys for those still
// current. A record whose keys are already the wanted ones is not written
// (nor locked): a reindex that changes nothing only reads.
func (c txConn) ReplaceBlockingKeys(ctx context.Context, recs []fiveid.RecordKeys) ([]bool, []string, error) {
	const op = "replace blocking keys"
	done := make([]bool, len(recs))
	var changed []string
	const chunk = 1000
	for start := 0; start < len(recs); start += chunk {
		part := recs[start:min(start+chunk, len(recs))]
		have, err := c.recordKeys(ctx, op, part, false)
		if err != nil {
			return nil, nil, err
		}
		var differ []int // positions in part
		for i, r := range part {
			st := have[[2]string{r.System, r.LocalID}]
			if st == nil || st.version != r.Version {
				continue
			}
			same := true
			want := map[string]bool{}
			for _, k := range r.Keys {
				want[k] = true
				if !st.keys[k] {
					same = false
				}
			}
			if same && len(want) == len(st.keys) {
				done[start+i] = true
				continue
			}
			differ = append(differ, i)
		}
		if len(differ) == 0 {
			continue
		}
		toLock := make([]fiveid.RecordKeys, len(differ))
		for j, i := range differ {
			toLock[j] = part[i]
		}
		locked, err := c.recordKeys(ctx, op, toLock, true)
		if err != nil {
			return nil, nil, err
		}
		var current []ridKeys
		for _, i := range differ {
			r := part[i]
			if st := locked[[2]string{r.System, r.LocalID}]; st != nil && st.version == r.Version {
				done[start+i] = true
				current = append(current, ridKeys{st.rid, r.Keys})
			}
		}
		ch, err := c.setKeys(ctx, op, current)
		if err != nil {
			return nil, nil, err
		}
		changed = append(changed, ch...)
	}
	return done, changed, nil
}

// recordState is a record's number, version and blocking keys as read.
type recordState struct {
	rid, version int64
	keys         map[string]bool
}

// recordKeys reads the versions of recs' records with their blocking keys
// or, with lock, only the versions, locking the rows.
func (c txConn) recordKeys(ctx context.Context, op string, recs []fiveid.RecordKeys, lock bool) (map[[2]string]*recordState, error) {
	// r: the records, each looked up by its primary key. PostgreSQL gets
	// two arrays and a lateral lookup per element: it plans a long IN
	// (VALUES ...) list, or a join to it, as a hash join over a scan of
	// every record. SQLite looks a VALUES list up in the primary key.
	var with, r string
	var args []any
	if c.d == postgres {
		sys, local := make([]string, len(recs)), make([]string, len(recs))
		for i, rk := range recs {
			sys[i], local[i] = rk.System, rk.LocalID
		}
		lockRows := ""
		if lock {
			lockRows = " FOR UPDATE"
		}
		r = `unnest(?::text[], ?::text[]) AS v (system, local_id) CROSS JOIN LATERAL (SELECT s.system, s.local_id, s.rid, s.version
			FROM source_records s WHERE s.system = v.system AND s.local_id = v.local_id LIMIT 1` + lockRows + ") r"
		args = []any{sys, local}
	} else { // the embedded store has a single writer: nothing to lock
		with = "WITH v (system, local_id) AS (VALUES (?, ?)" + strings.Repeat(", (?, ?)", len(recs)-1) + ") "
		r = "v JOIN source_records r ON r.system = v.system AND r.local_id = v.local_id"
		for _, rk := range recs {
			args = append(args, rk.System, rk.LocalID)
		}
	}
	q := with + "SELECT r.system, r.local_id, r.rid, r.version, b.key FROM " + r + " LEFT JOIN blocking_keys b ON b.rid = r.rid"
	if lock {
		q = with + "SELECT r.system, r.local_id, r.rid, r.version, NULL FROM " + r
	}
	rows, err := c.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	defer rows.Close()
	out := map[[2]string]*recordState{}
	for rows.Next() {
		var sys, local string
		var rid, v int64
		var key sql.NullInt64
		if err := rows.Scan(&sys, &local, &rid, &v, &key); err != nil {
			return nil, mapErr(op, err)
		}
		st := out[[2]string{sys, local}]
		if st == nil {
			st = &recordState{rid: rid, version: v, keys: map[string]bool{}}
			out[[2]string{sys, local}] = st
		}
		if key.Valid {
			st.keys[fiveid.KeyText(key.Int64)] = true
		}
	}
	return out, mapErr(op, rows.Err())
}

// InsertBulk implements fiveid.Tx with multi-row INSERTs (a few hundred
// rows per statement).
func (c txConn) InsertBulk(ctx context.Context, customers []fiveid.Customer, records []fiveid.SourceRecord, keys [][]string) error {
	const op = "insert bulk"
	if len(keys) != len(records) {
		return fmt.Errorf("%s: %d key lists for %d records: %w", op, len(keys), len(records), fiveid.ErrInvalid)
	}
	err := c.insertRows(ctx, op, "customers", customerCols, len(customers), 13, func(i int) []any {
		return customerArgs(customers[i])
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
	rids, err := c.newRIDs(ctx, op, len(records))
	if err != nil {
		return err
	}
	err = c.insertRows(ctx, op, "source_records", recordInsertCols, len(records), 21, func(i int) []any {
		return recordArgs(records[i], expls[i], rids[i])
	})
	if err != nil {
		return err
	}
	var flat [][2]int64 // key, rid
	for i, ks := range keys {
		vals, err := keyValues(op, ks)
		if err != nil {
			return err
		}
		seen := map[int64]bool{}
		for _, v := range vals {
			if !seen[v] {
				seen[v] = true
				flat = append(flat, [2]int64{v, rids[i]})
			}
		}
	}
	if err := c.insertRows(ctx, op, "blocking_keys", "key, rid", len(flat), 2, func(i int) []any {
		return []any{flat[i][0], flat[i][1]}
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

// collect scans every row with scan.
func collect[T any](rows *sql.Rows, op string, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	var out []T
	if err := each(rows, op, scan, func(v T) error { out = append(out, v); return nil }); err != nil {
		return nil, err
	}
	return out, nil
}

// each scans every row with scan and hands it to fn; fn's errors end
// the walk as they are.
func each[T any](rows *sql.Rows, op string, scan func(interface{ Scan(...any) error }) (T, error), fn func(T) error) error {
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return mapErr(op, err)
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	return mapErr(op, rows.Err())
}

// insertRows inserts n rows of per columns with multi-row INSERTs, a few
// hundred rows per statement (one round trip each).
func (c txConn) insertRows(ctx context.Context, op, table, cols string, n, per int, row func(i int) []any) error {
	return c.insertRowsThen(ctx, op, table, cols, "", n, per, row)
}

// insertRowsThen is insertRows with a clause after the rows (ON
// CONFLICT ...).
func (c txConn) insertRowsThen(ctx context.Context, op, table, cols, then string, n, per int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	if c.d == postgres {
		if ok, err := c.unnestRows(ctx, op, table, cols, then, n, per, row); ok {
			return err
		}
	}
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
		if then != "" {
			b.WriteString(" " + then)
		}
		if _, err := c.exec(ctx, op, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}
