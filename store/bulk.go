package store

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"

	"fiveid"
)

// The bulk pipeline's reads (a chunk's candidates, records, customers and
// name statistics, one query per kind) and multi-row writes.

// inChunk bounds the values of one IN list: well under both databases'
// parameter limits.
const inChunk = 500

// inList is "?, ?, ..." for n values.
func inList(n int) string { return "?" + strings.Repeat(", ?", n-1) }

// pairList is "(VALUES (?, ?), ...)" for n pairs.
func pairList(n int) string { return "(VALUES (?, ?)" + strings.Repeat(", (?, ?)", n-1) + ")" }

// The bulk reads' lists of values: on the embedded store an IN list of
// up to inChunk placeholders per query; on PostgreSQL one array parameter
// per column (= ANY, unnest) holding the whole list, so one query and one
// statement text (prepared once per connection) whatever its length —
// PostgreSQL plans "x IN (a, b)" as "x = ANY(ARRAY[a, b])" anyway.

// step is how many values one query's list holds.
func (c conn) step() int {
	if c.d == postgres {
		return math.MaxInt
	}
	return inChunk
}

// inValues is "col IN (...)" for vals with its arguments; array is
// PostgreSQL's type for the list (text[], bigint[]).
func inValues[T string | int64](c conn, col, array string, vals []T) (string, []any) {
	if c.d == postgres {
		return col + " = ANY(?::" + array + ")", []any{vals}
	}
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return col + " IN (" + inList(len(vals)) + ")", args
}

// KeyCandidates implements fiveid.CandidateIndex in two steps: each
// key's records (by rid) from an index-only read of blocking_keys; then
// each record found read once with candidateCols, as Candidates reads
// it, and each key's list ordered by (system, local_id). A chunk's keys
// find the same record many times over (its 8,600 keys found 17,700
// record rows but 2,500 records in a measured chunk): reading a record per
// key found read and sent each seven times.
//
// The first read keeps at most limit+1 records a key (by rid); a key that
// has more than limit is read again, joined to its records, for its first
// limit by (system, local_id). Between the reads no record can leave a key
// the caller holds the lock on (a writer locks the keys of a record's old
// and new versions), and records are never deleted.
func (c conn) KeyCandidates(ctx context.Context, keys []string, limit int) (map[string][]fiveid.SourceRecord, error) {
	const op = "key candidates"
	out := map[string][]fiveid.SourceRecord{}
	if limit <= 0 {
		return out, nil
	}
	vals, err := keyValues(op, distinct(keys))
	if err != nil {
		return nil, err
	}
	scanHit := func(sc interface{ Scan(...any) error }) ([2]int64, error) {
		var h [2]int64 // key, rid
		return h, sc.Scan(&h[0], &h[1])
	}
	byKey := map[int64][]int64{}
	var crowded []int64
	for start := 0; start < len(vals); start += c.step() {
		in, args := inValues(c, "key", "bigint[]", vals[start:min(start+c.step(), len(vals))])
		rows, err := c.query(ctx, `SELECT key, rid FROM (
				SELECT key, rid, ROW_NUMBER() OVER (PARTITION BY key ORDER BY rid) AS n FROM blocking_keys WHERE `+in+`) k
			WHERE n <= ?`, append(args, limit+1)...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		if err := each(rows, op, scanHit, func(h [2]int64) error {
			if byKey[h[0]] = append(byKey[h[0]], h[1]); len(byKey[h[0]]) == limit+1 {
				crowded = append(crowded, h[0])
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for start := 0; start < len(crowded); start += c.step() {
		part := crowded[start:min(start+c.step(), len(crowded))]
		for _, k := range part {
			byKey[k] = byKey[k][:0]
		}
		in, args := inValues(c, "b.key", "bigint[]", part)
		rows, err := c.query(ctx, `SELECT key, rid FROM (
				SELECT b.key, b.rid, ROW_NUMBER() OVER (PARTITION BY b.key ORDER BY r.system, r.local_id) AS n
				FROM blocking_keys b JOIN source_records r ON r.rid = b.rid WHERE `+in+`) k
			WHERE n <= ?`, append(args, limit)...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		if err := each(rows, op, scanHit, func(h [2]int64) error {
			byKey[h[0]] = append(byKey[h[0]], h[1])
			return nil
		}); err != nil {
			return nil, err
		}
	}
	var rids []int64
	seen := map[int64]bool{}
	for _, l := range byKey {
		for _, rid := range l {
			if !seen[rid] {
				seen[rid] = true
				rids = append(rids, rid)
			}
		}
	}
	recs := make(map[int64]*fiveid.SourceRecord, len(rids))
	var rid int64 // of the row being scanned
	for start := 0; start < len(rids); start += c.step() {
		from, args := c.d.recordsByRID(rids[start:min(start+c.step(), len(rids))])
		rows, err := c.query(ctx, "SELECT "+candidateCols+", r.rid FROM "+from, args...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		if err := each(rows, op, func(sc interface{ Scan(...any) error }) (fiveid.SourceRecord, error) {
			return scanCandidate(ridScanner{sc, &rid})
		}, func(r fiveid.SourceRecord) error {
			recs[rid] = &r
			return nil
		}); err != nil {
			return nil, err
		}
	}
	for key, l := range byKey {
		got := make([]fiveid.SourceRecord, len(l))
		for i, rid := range l {
			r, ok := recs[rid]
			if !ok {
				return nil, fmt.Errorf("%s: record %d of key %s vanished: %w", op, rid, fiveid.KeyText(key), fiveid.ErrUnavailable)
			}
			got[i] = *r
		}
		sort.Slice(got, func(i, j int) bool {
			return got[i].System < got[j].System || (got[i].System == got[j].System && got[i].LocalID < got[j].LocalID)
		})
		out[fiveid.KeyText(key)] = got
	}
	return out, nil
}

// ridScanner scans a row of a record's columns followed by its rid into
// rid.
type ridScanner struct {
	sc  interface{ Scan(...any) error }
	rid *int64
}

func (s ridScanner) Scan(dest ...any) error { return s.sc.Scan(append(dest, s.rid)...) }

// recordsByRID is recordsOf for record numbers.
func (d dialect) recordsByRID(rids []int64) (string, []any) {
	if d == postgres {
		return `unnest(?::bigint[]) AS v (rid) CROSS JOIN LATERAL (SELECT * FROM source_records s WHERE s.rid = v.rid LIMIT 1) r`, []any{rids}
	}
	args := make([]any, len(rids))
	for i, v := range rids {
		args[i] = v
	}
	return "source_records r WHERE r.rid IN (" + inList(len(rids)) + ")", args
}

// SourceRecords implements fiveid.CustomerReader.
func (c conn) SourceRecords(ctx context.Context, ids []fiveid.RecordID) ([]fiveid.SourceRecord, error) {
	return recordsByID(ctx, c, "source records", recordCols, scanRecord, ids)
}

// recordsByID reads the records of ids (those that exist, in no order)
// with cols scanned by scan: one query on PostgreSQL, inChunk pairs per
// query on the embedded store.
func recordsByID(ctx context.Context, c conn, op, cols string, scan func(interface{ Scan(...any) error }) (fiveid.SourceRecord, error), ids []fiveid.RecordID) ([]fiveid.SourceRecord, error) {
	var out []fiveid.SourceRecord
	for start := 0; start < len(ids); start += c.step() {
		from, args := c.d.recordsOf(ids[start:min(start+c.step(), len(ids))])
		rows, err := c.query(ctx, "SELECT "+cols+" FROM "+from, args...)
		if err != nil {
			return nil, mapErr(op, err)
		}
		got, err := collect(rows, op, scan)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// recordsOf is a FROM clause whose rows, named r, are the source records
// of ids that exist, and its arguments. PostgreSQL gets two arrays and a
// primary-key lookup per element (a lateral subquery with LIMIT 1, which
// the planner cannot turn into a join): it plans a list of pairs, IN
// (VALUES ...) or a join to it, as a hash join over a scan of every record
// — 12 ms of backend CPU for 500 records of 20,000 against 5 ms for the
// lookups, and growing with the table (the bulk pipeline's candidate read
// was a sixth of the backends' CPU). SQLite looks a VALUES list up in the
// primary key.
func (d dialect) recordsOf(ids []fiveid.RecordID) (string, []any) {
	if d == postgres {
		sys, local := make([]string, len(ids)), make([]string, len(ids))
		for i, id := range ids {
			sys[i], local[i] = id.System, id.LocalID
		}
		return `unnest(?::text[], ?::text[]) AS v (system, local_id) CROSS JOIN LATERAL (SELECT * FROM source_records s
			WHERE s.system = v.system AND s.local_id = v.local_id LIMIT 1) r`, []any{sys, local}
	}
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id.System, id.LocalID)
	}
	return "source_records r WHERE (r.system, r.local_id) IN " + pairList(len(ids)), args
}

// CustomersRecords implements fiveid.CustomerReader.
func (c conn) CustomersRecords(ctx context.Context, ids []string) ([]fiveid.Customer, map[string][]fiveid.SourceRecord, error) {
	const op = "customers' records"
	ids = distinct(ids)
	var cs []fiveid.Customer
	recs := map[string][]fiveid.SourceRecord{}
	for start := 0; start < len(ids); start += c.step() {
		part := ids[start:min(start+c.step(), len(ids))]
		in, args := inValues(c, "id", "text[]", part)
		rows, err := c.query(ctx, "SELECT "+customerCols+" FROM customers WHERE "+in, args...)
		if err != nil {
			return nil, nil, mapErr(op, err)
		}
		got, err := collect(rows, op, scanCustomer)
		if err != nil {
			return nil, nil, err
		}
		cs = append(cs, got...)
		in, args = inValues(c, "r.customer_id", "text[]", part)
		rows, err = c.query(ctx, "SELECT "+recordCols+" FROM source_records r WHERE "+in+
			" ORDER BY r.customer_id, r.system, r.local_id", args...)
		if err != nil {
			return nil, nil, mapErr(op, err)
		}
		rs, err := collect(rows, op, scanRecord)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rs {
			recs[r.CustomerID] = append(recs[r.CustomerID], r)
		}
	}
	return cs, recs, nil
}

// NameFrequencies implements fiveid.CandidateIndex.
func (c conn) NameFrequencies(ctx context.Context, nameKeys []string) (map[string]int64, int64, error) {
	const op = "name frequencies"
	var total int64
	if err := c.row(ctx, "SELECT n FROM counters WHERE name = 'source_records'").Scan(&total); err != nil {
		return nil, 0, mapErr(op, err)
	}
	out := map[string]int64{}
	nameKeys = distinct(nameKeys)
	for start := 0; start < len(nameKeys); start += c.step() {
		part := nameKeys[start:min(start+c.step(), len(nameKeys))]
		in, args := inValues(c, "name_key", "text[]", part)
		rows, err := c.query(ctx, "SELECT name_key, n FROM name_stats WHERE "+in, args...)
		if err != nil {
			return nil, 0, mapErr(op, err)
		}
		type kn struct {
			k string
			n int64
		}
		got, err := collect(rows, op, func(sc interface{ Scan(...any) error }) (kn, error) {
			var v kn
			return v, sc.Scan(&v.k, &v.n)
		})
		if err != nil {
			return nil, 0, err
		}
		for _, v := range got {
			out[v.k] = v.n
		}
	}
	return out, total, nil
}

// PutCustomers implements fiveid.CustomerWriter: multi-row upserts in ID
// order (two transactions writing the same customers lock them in one
// order), the customers redirected to another (merged_into) after the
// others: a redirect's target may be new in the same call, and a
// statement holds only so many rows.
func (c txConn) PutCustomers(ctx context.Context, cs []fiveid.Customer) error {
	cs = append([]fiveid.Customer(nil), cs...)
	sort.Slice(cs, func(i, j int) bool {
		if ri, rj := cs[i].MergedInto != "", cs[j].MergedInto != ""; ri != rj {
			return rj
		}
		return cs[i].ID < cs[j].ID
	})
	return c.insertRowsThen(ctx, "put customers", "customers", customerCols, `ON CONFLICT (id) DO UPDATE SET status = excluded.status,
		merged_into = excluded.merged_into, name = excluded.name, sex = excluded.sex, birth_date = excluded.birth_date,
		id_type = excluded.id_type, id_number = excluded.id_number, death_date = excluded.death_date,
		death_source = excluded.death_source, version = excluded.version, created_at = excluded.created_at,
		updated_at = excluded.updated_at`, len(cs), 13, func(i int) []any { return customerArgs(cs[i]) })
}

// PutSourceRecords implements fiveid.CustomerWriter: one read of the records' current
// name keys, multi-row upserts, the blocking keys of new records inserted
// and those of existing ones replaced (setKeys), and the name statistics
// moved by the difference, in name-key order.
func (c txConn) PutSourceRecords(ctx context.Context, records []fiveid.SourceRecord, keys [][]string) error {
	const op = "put source records"
	if len(keys) != len(records) {
		return fmt.Errorf("%s: %d key lists for %d records: %w", op, len(keys), len(records), fiveid.ErrInvalid)
	}
	type stored struct {
		nameKey string
		rid     int64
	}
	old := map[fiveid.RecordID]stored{} // the records that exist
	ids := make([]fiveid.RecordID, len(records))
	for i, r := range records {
		ids[i] = fiveid.RecordID{System: r.System, LocalID: r.LocalID}
	}
	for start := 0; start < len(ids); start += c.step() {
		from, args := c.d.recordsOf(ids[start:min(start+c.step(), len(ids))])
		rows, err := c.query(ctx, "SELECT r.system, r.local_id, r.name_key, r.rid FROM "+from, args...)
		if err != nil {
			return mapErr(op, err)
		}
		type named struct {
			ref fiveid.RecordID
			stored
		}
		got, err := collect(rows, op, func(sc interface{ Scan(...any) error }) (named, error) {
			var n named
			return n, sc.Scan(&n.ref.System, &n.ref.LocalID, &n.nameKey, &n.rid)
		})
		if err != nil {
			return err
		}
		for _, n := range got {
			old[n.ref] = n.stored
		}
	}
	// In key order: sorted inserts touch each index page once.
	order := make([]int, len(records))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		ra, rb := records[order[a]], records[order[b]]
		return ra.System < rb.System || (ra.System == rb.System && ra.LocalID < rb.LocalID)
	})
	records, keys = permute(records, order), permute(keys, order)
	expls := make([]string, len(records))
	rids := make([]int64, len(records))
	var unnumbered []int // positions of the new records
	for i, r := range records {
		var err error
		if expls[i], err = explanationJSON(r.Link.Explanation); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if was, ok := old[fiveid.RecordID{System: r.System, LocalID: r.LocalID}]; ok {
			rids[i] = was.rid
		} else {
			unnumbered = append(unnumbered, i)
		}
	}
	fresh, err := c.newRIDs(ctx, op, len(unnumbered))
	if err != nil {
		return err
	}
	for j, i := range unnumbered {
		rids[i] = fresh[j]
	}
	err = c.insertRowsThen(ctx, op, "source_records", recordInsertCols, recordUpsert, len(records), 21, func(i int) []any {
		return recordArgs(records[i], expls[i], rids[i])
	})
	if err != nil {
		return err
	}
	delta := map[string]int64{}
	var added int64
	var replaced []ridKeys
	var newKeys [][2]int64 // key, rid
	for i, r := range records {
		if was, ok := old[fiveid.RecordID{System: r.System, LocalID: r.LocalID}]; ok {
			if was.nameKey != r.NameKey {
				delta[was.nameKey]--
				delta[r.NameKey]++
			}
			replaced = append(replaced, ridKeys{rids[i], keys[i]})
			continue
		}
		added++
		delta[r.NameKey]++
		vals, err := keyValues(op, distinct(keys[i]))
		if err != nil {
			return err
		}
		for _, v := range vals {
			newKeys = append(newKeys, [2]int64{v, rids[i]})
		}
	}
	sort.Slice(newKeys, func(i, j int) bool { return newKeys[i][0] < newKeys[j][0] })
	if err := c.appendRows(ctx, op, "blocking_keys", "key, rid", len(newKeys), func(i int) []any {
		return []any{newKeys[i][0], newKeys[i][1]}
	}); err != nil {
		return err
	}
	if _, err := c.setKeys(ctx, op, replaced); err != nil {
		return err
	}
	// Name statistics in name-key order (concurrent writers lock the rows
	// in one order): the increases in multi-row upserts, the decreases
	// (a renamed record) by UPDATE — a negative row proposed for
	// insertion would fail the CHECK.
	var up, down []string
	for k, d := range delta {
		switch {
		case d > 0:
			up = append(up, k)
		case d < 0:
			down = append(down, k)
		}
	}
	sort.Strings(up)
	sort.Strings(down)
	if err := c.insertRowsThen(ctx, op, "name_stats", "name_key, n", "ON CONFLICT (name_key) DO UPDATE SET n = name_stats.n + excluded.n",
		len(up), 2, func(i int) []any { return []any{up[i], delta[up[i]]} }); err != nil {
		return err
	}
	for _, k := range down {
		if _, err := c.exec(ctx, op, "UPDATE name_stats SET n = n + ? WHERE name_key = ?", delta[k], k); err != nil {
			return err
		}
	}
	if added == 0 {
		return nil
	}
	_, err = c.exec(ctx, op, "UPDATE counters SET n = n + ? WHERE name = 'source_records'", added)
	return err
}

// AppendChanges implements fiveid.HistoryWriter.
func (c txConn) AppendChanges(ctx context.Context, cs []fiveid.Change) error {
	return c.appendRows(ctx, "append changes", "customer_events", changeCols, len(cs), func(i int) []any {
		ch := cs[i]
		return []any{ch.ID, ch.CustomerID, micros(ch.At), string(ch.Kind), ch.Actor, ch.System, ch.LocalID, ch.Before, ch.After, ch.Detail}
	})
}

// copyMin is the fewest rows appendRows loads with COPY on PostgreSQL:
// COPY costs a round trip more (pgx reads the columns' types first), and
// beyond that parses nothing per row and plans nothing, where a multi-row
// INSERT's text and parameters grow with its rows.
const copyMin = 64

// appendRows inserts the bulk pipeline's plain rows (blocking keys of new
// records, history), the fastest way each database offers: COPY on
// PostgreSQL; on the embedded store one prepared single-row INSERT run
// per row. A multi-row INSERT makes SQLite keep a statement journal (the
// pages it changes, to undo it alone should a row fail), which was the
// largest cost of a bulk chunk on a 100,000-record store; a single-row
// statement needs none. Same rows, constraints and errors either way.
func (c txConn) appendRows(ctx context.Context, op, table, cols string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	names := strings.Split(cols, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	switch {
	case c.copyIn != nil && n >= copyMin:
		rows := make([][]any, n)
		for i := range rows {
			rows[i] = row(i)
		}
		return mapErr(op, c.copyIn(ctx, table, names, rows))
	case c.d == embedded:
		st, err := c.prepare(ctx, "INSERT INTO "+table+" ("+cols+") VALUES ("+inList(len(names))+")")
		if err != nil {
			return mapErr(op, err)
		}
		defer st.Close()
		// The rows run without ctx's cancellation, which is checked here
		// every so many rows instead: given a cancellable context the
		// driver starts a goroutine per statement run to interrupt it (and
		// installs a progress handler), a tenth of the time of a row.
		bare := context.WithoutCancel(ctx)
		for i := range n {
			if i%256 == 0 {
				if err := ctx.Err(); err != nil {
					return mapErr(op, err)
				}
			}
			if _, err := st.ExecContext(bare, row(i)...); err != nil {
				return mapErr(op, err)
			}
		}
		return nil
	}
	return c.insertRows(ctx, op, table, cols, n, len(names), row)
}

// recordInsertCols are the columns a source record is inserted with:
// recordCols and its number (rid).
var recordInsertCols = strings.ReplaceAll(recordCols, "r.", "") + ", rid"

// recordArgs are r's column values in recordInsertCols order, with its
// explanation's column value and its number.
func recordArgs(r fiveid.SourceRecord, expl string, rid int64) []any {
	return []any{r.System, r.LocalID, r.CustomerID, r.Raw.Name, r.Raw.Sex, r.Raw.BirthDate, r.Raw.IDType, r.Raw.IDNumber,
		string(r.IDTable), r.NameKey, r.IDKey, string(r.Link.Grade), r.Link.Score, r.Link.Manual, r.Link.Merge, expl,
		r.Version, micros(r.CreatedAt), micros(r.UpdatedAt), r.Features, rid}
}

// permute returns xs in the order of the indexes in order.
func permute[T any](xs []T, order []int) []T {
	out := make([]T, len(xs))
	for i, j := range order {
		out[i] = xs[j]
	}
	return out
}

// distinct is ss without repeats, in first-seen order.
func distinct(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// unnestRows is insertRowsThen on PostgreSQL: one statement whatever the
// rows, each column one array parameter —
//
//	INSERT INTO t (a, b) SELECT * FROM unnest($1::text[], $2::int8[]) ON CONFLICT ...
//
// The multi-row VALUES form it replaces had 20 parameters a row (4,000 a
// statement): pgx encoded each (its Bind message grown a parameter at a
// time: growslice and memmove, 9% and 7% of an import's CPU), the text
// and its placeholders were built and renumbered, and PostgreSQL parsed
// and planned a statement of that size every time; here the text is the
// same for every call (pgx prepares it once per connection) and a column
// is one array. A column's array type is that of its Go values (string,
// int64, float64, bool, []byte; a nil is NULL); ok is false, and nothing
// was run, for a value of another type.
func (c txConn) unnestRows(ctx context.Context, op, table, cols, then string, n, per int, row func(i int) []any) (bool, error) {
	rows := make([][]any, n)
	for i := range rows {
		if rows[i] = row(i); len(rows[i]) != per {
			return true, fmt.Errorf("%s: %d values for %d columns: %w", op, len(rows[i]), per, fiveid.ErrInvalid)
		}
	}
	arrays := make([]any, per)
	types := make([]string, per)
	for j := range per {
		var kind any
		null := false
		for _, r := range rows {
			if r[j] == nil {
				null = true
			} else if kind == nil {
				kind = r[j]
			}
		}
		switch kind.(type) {
		case nil, string:
			types[j] = "text[]"
			if !null {
				a := make([]string, n)
				for i, r := range rows {
					a[i] = r[j].(string)
				}
				arrays[j] = a
				continue
			}
			a := make([]pgtype.Text, n)
			for i, r := range rows {
				if s, ok := r[j].(string); ok {
					a[i] = pgtype.Text{String: s, Valid: true}
				} else if r[j] != nil {
					return false, nil
				}
			}
			arrays[j] = a
			continue
		case int64:
			types[j] = "int8[]"
			arrays[j] = unnestColumn[int64](rows, j, null)
		case float64:
			types[j] = "float8[]"
			arrays[j] = unnestColumn[float64](rows, j, null)
		case bool:
			types[j] = "bool[]"
			arrays[j] = unnestColumn[bool](rows, j, null)
		case []byte:
			types[j] = "bytea[]"
			arrays[j] = unnestColumn[[]byte](rows, j, null)
		default:
			return false, nil
		}
		if arrays[j] == nil {
			return false, nil
		}
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + cols + ") SELECT * FROM unnest(")
	for j, t := range types {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?::" + t)
	}
	b.WriteString(")")
	if then != "" {
		b.WriteString(" " + then)
	}
	_, err := c.exec(ctx, op, b.String(), arrays...)
	return true, err
}

// unnestColumn is column j of rows as an array parameter: []T, or []*T
// when a value is NULL; nil when a value is neither T nor nil.
func unnestColumn[T any](rows [][]any, j int, null bool) any {
	if !null {
		a := make([]T, len(rows))
		for i, r := range rows {
			v, ok := r[j].(T)
			if !ok {
				return nil
			}
			a[i] = v
		}
		return a
	}
	a := make([]*T, len(rows))
	for i, r := range rows {
		if r[j] == nil {
			continue
		}
		v, ok := r[j].(T)
		if !ok {
			return nil
		}
		a[i] = &v
	}
	return a
}
