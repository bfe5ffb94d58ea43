package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/store/storetest"
)

func TestMigrationsAreNumberedConsecutively(t *testing.T) {
	t.Parallel()
	if _, err := migrations(); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	bad := map[string]fstest.MapFS{
		"duplicate":            {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"gap":                  {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"unnumbered":           {"m/init.sql": {}},
		"half a pair":          {"m/0001_a.sql": {}, "m/0002_b.postgres.sql": {}},
		"pair and shared file": {"m/0001_a.postgres.sql": {}, "m/0001_a.embedded.sql": {}, "m/0001_b.sql": {}},
	}
	for name, fsys := range bad {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{
		"m/0001_a.sql":          {Data: []byte("both")},
		"m/0002_b.postgres.sql": {Data: []byte("pg")},
		"m/0002_b.embedded.sql": {Data: []byte("lite")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.name+": "+m.sqlFor(postgres)+" / "+m.sqlFor(embedded))
	}
	if diff := cmp.Diff([]string{"0001_a.sql: both / both", "0002_b.sql: pg / lite"}, got); diff != "" {
		t.Errorf("a migration per dialect (-want +got):\n%s", diff)
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	if got := postgres.rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Errorf("postgres: %s", got)
	}
	if got := embedded.rebind("a = ?"); got != "a = ?" {
		t.Errorf("embedded: %s", got)
	}
}

// opener returns what opens one store of dialect d, in a fresh
// PostgreSQL schema or a temporary directory, migrated up to migration
// upto (0: all); each call reopens the same store.
func opener(t *testing.T, d dialect) func(upto int) *DB {
	t.Helper()
	var pgURL, dir string
	if d == postgres {
		pgURL = storetest.PostgresURL(t)
	} else {
		dir = filepath.Join(t.TempDir(), "data")
	}
	return func(upto int) *DB {
		t.Helper()
		var db *DB
		var err error
		if d == postgres {
			db, err = openPostgres(t.Context(), pgURL, upto)
		} else {
			db, err = openEmbedded(t.Context(), dir, upto, EmbeddedOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
}

// A store holding data at migration 0008 migrates to the current schema
// and answers the same candidates, under each key's 63-bit form (0012),
// its keys naming its records by number (0013); afterwards a blocking key
// still needs its record (the rule 0009 keeps), on both stores.
func TestMigrateFrom0008KeepsCandidates(t *testing.T) {
	t.Parallel()
	for _, d := range []dialect{embedded, postgres} {
		t.Run(d.String(), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			open := opener(t, d)
			db := open(8)
			// Rows as the 0008 writers stored them: keys are the hex
			// text of 128-bit HMACs.
			k1, k2, k3 := strings.Repeat("a1", 16), strings.Repeat("0f", 16), strings.Repeat("9c", 16)
			// ... and since 0012 the first 64 bits of the HMAC without
			// the top one, as the service derives them (blockingKeyOf).
			n1, n2, n3 := "21a1a1a1a1a1a1a1", "0f0f0f0f0f0f0f0f", "1c9c9c9c9c9c9c9c"
			seed := []string{
				`INSERT INTO systems (code, name, kind, created_at) VALUES ('h', 'H', 'medical', 1)`,
				`INSERT INTO customers (id, status, version, created_at, updated_at) VALUES ('c1', 'active', 1, 1, 1), ('c2', 'active', 1, 1, 1)`,
				`INSERT INTO source_records (system, local_id, customer_id, raw_name, raw_sex, raw_birth, raw_id_type, raw_id, name_key, version, created_at, updated_at)
					VALUES ('h', 'r1', 'c1', 'n', 'M', '1990-01-01', '', '', 'nk1', 1, 1, 1),
					       ('h', 'r2', 'c2', 'n', 'M', '1990-01-01', '', '', 'nk1', 1, 1, 1),
					       ('h', 'r3', 'c2', 'm', 'F', '1991-01-01', '', '', 'nk2', 1, 1, 1)`,
				`INSERT INTO blocking_keys (key, system, local_id) VALUES ('` + k1 + `', 'h', 'r1'), ('` + k1 + `', 'h', 'r2'),
					('` + k2 + `', 'h', 'r2'), ('` + k3 + `', 'h', 'r3')`,
			}
			for _, q := range seed {
				if _, err := db.write.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			candidates := func(db *DB, keys ...string) [][]string {
				var out [][]string
				for _, k := range keys {
					cs, err := db.Candidates(ctx, []string{k}, 10)
					if err != nil {
						t.Fatal(err)
					}
					var ids []string
					for _, c := range cs {
						ids = append(ids, c.LocalID)
					}
					out = append(out, ids)
				}
				return out
			}
			// At 0008 the store read its text keys: the query Candidates
			// made then, by hand.
			var before [][]string
			for _, k := range []string{k1, k2, k3} {
				rows, err := db.read.QueryContext(ctx, db.d.rebind("SELECT local_id FROM blocking_keys WHERE key = ? ORDER BY system, local_id"), k)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, id)
				}
				rows.Close()
				before = append(before, ids)
			}
			db.Close()
			db = open(0)
			defer db.Close()
			if diff := cmp.Diff(before, candidates(db, n1, n2, n3)); diff != "" {
				t.Errorf("candidates after migrating (-0008 +now):\n%s", diff)
			}
			if want := []string{"r1", "r2"}; !slices.Equal(before[0], want) {
				t.Errorf("0008 candidates of k1: %v, want %v", before[0], want)
			}
			// The rule the foreign key kept: a key of a missing record is
			// refused, whichever way it is written.
			err := db.Update(ctx, nil, func(tx fiveid.Tx) error {
				_, _, err := tx.ReplaceBlockingKeys(ctx, []fiveid.RecordKeys{{System: "h", LocalID: "nope", Keys: []string{n1}, Version: 1}})
				return err
			})
			if err != nil {
				t.Fatalf("replace keys of a missing record (skipped, not written): %v", err)
			}
			err = db.Update(ctx, nil, func(tx fiveid.Tx) error {
				_, err := tx.(txConn).setKeys(ctx, "test", []ridKeys{{rid: 1 << 40, keys: []string{n2}}})
				return err
			})
			if !errors.Is(err, fiveid.ErrInvalid) {
				t.Errorf("a key of a missing record: %v, want ErrInvalid", err)
			}
			// ... also when most rows of the statement are right.
			err = db.inTx(ctx, "test", nil, func(c conn) error {
				v2, _ := fiveid.KeyValue(n2)
				v3, _ := fiveid.KeyValue(n3)
				var r1 int64
				if err := c.row(ctx, "SELECT rid FROM source_records WHERE system = 'h' AND local_id = 'r1'").Scan(&r1); err != nil {
					return err
				}
				rows := [][]any{{v2, r1}, {v3, r1}, {v3, int64(1 << 40)}}
				if c.copyIn != nil {
					return mapErr("test", c.copyIn(ctx, "blocking_keys", []string{"key", "rid"}, rows))
				}
				return txConn{c}.insertRows(ctx, "test", "blocking_keys", "key, rid", len(rows), 2, func(i int) []any { return rows[i] })
			})
			if !errors.Is(err, fiveid.ErrInvalid) {
				t.Errorf("a key of a missing record among others: %v, want ErrInvalid", err)
			}
			if diff := cmp.Diff(before, candidates(db, n1, n2, n3)); diff != "" {
				t.Errorf("candidates after the refused writes (-0008 +now):\n%s", diff)
			}
			// A record's number (0013) does not change while keys name it.
			if _, err := db.write.ExecContext(ctx, "UPDATE source_records SET rid = rid + 1000 WHERE system = 'h' AND local_id = 'r1'"); err == nil {
				t.Error("a record whose keys name it was renumbered")
			}
			// ON DELETE CASCADE: a deleted record takes its keys along.
			var r2 int64
			if err := db.write.QueryRowContext(ctx, "SELECT rid FROM source_records WHERE system = 'h' AND local_id = 'r2'").Scan(&r2); err != nil {
				t.Fatal(err)
			}
			count := func() (n int) {
				t.Helper()
				if err := db.write.QueryRowContext(ctx, db.d.rebind("SELECT COUNT(*) FROM blocking_keys WHERE rid = ?"), r2).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := count(); n != 2 {
				t.Fatalf("keys of r2 after migrating: %d, want 2", n)
			}
			if _, err := db.write.ExecContext(ctx, "DELETE FROM source_records WHERE system = 'h' AND local_id = 'r2'"); err != nil {
				t.Fatal(err)
			}
			if n := count(); n != 0 {
				t.Errorf("keys of a deleted record: %d, want 0", n)
			}
		})
	}
}

// Migration 0010 turns off statistics of columns no query filters on;
// the planner reads the statistics of indexed columns, so none of those
// may be among them (a guard for later indexes too).
func TestNoIndexedColumnWithoutStatistics(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := openPostgres(ctx, storetest.PostgresURL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	off := func(indexed bool) []string {
		t.Helper()
		cond := "NOT EXISTS"
		if indexed {
			cond = "EXISTS"
		}
		rows, err := db.read.QueryContext(ctx, `SELECT c.relname || '.' || a.attname FROM pg_attribute a
			JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = current_schema() AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
			  AND COALESCE(a.attstattarget, -1) = 0
			  AND `+cond+` (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey))
			ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := collect(rows, "columns", func(sc interface{ Scan(...any) error }) (string, error) {
			var s string
			return s, sc.Scan(&s)
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := off(true); len(got) > 0 {
		t.Errorf("indexed columns without statistics: %v", got)
	}
	if got := off(false); !slices.Contains(got, "source_records.features") || !slices.Contains(got, "source_records.explanation") {
		t.Errorf("columns without statistics: %v, want source_records' read-only ones (0010)", got)
	}
}

// A key's records are cut at the limit in byte order on a database whose
// collation orders text otherwise (0014): Candidates, which orders in
// SQL, and KeyCandidates, which orders in Go, keep the same records.
func TestCandidateOrderIsBytewiseUnderALanguageCollation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := storetest.PostgresURL(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	name := "fiveid_icu_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))[:20] + fmt.Sprint(time.Now().UnixNano()%1e9)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"); err != nil {
		admin.Close()
		t.Fatalf("a database of the en-US ICU collation: %v", err)
	}
	t.Cleanup(func() {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	var before bool // the database's own order: "a" before "B"
	if err := admin.QueryRowContext(ctx, "SELECT 'a' < 'B' COLLATE \"en-US-x-icu\"").Scan(&before); err != nil || !before {
		t.Fatalf("en-US orders a before B: %v %v", before, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	db, err := openPostgres(ctx, u.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := fiveid.KeyText(4242)
	seed := []string{
		`INSERT INTO systems (code, name, kind, created_at) VALUES ('h', 'H', 'medical', 1)`,
		`INSERT INTO customers (id, status, version, created_at, updated_at) VALUES ('c1', 'active', 1, 1, 1)`,
	}
	for _, s := range seed {
		if _, err := db.write.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	for _, local := range []string{"a", "B", "c"} {
		r := fiveid.SourceRecord{System: "h", LocalID: local, CustomerID: "c1", NameKey: "n", Version: 1}
		if err := db.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r, []string{key}) }); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{1, 2, 3} {
		cands, err := db.Candidates(ctx, []string{key}, limit)
		if err != nil {
			t.Fatal(err)
		}
		byKey, err := db.KeyCandidates(ctx, []string{key}, limit)
		if err != nil {
			t.Fatal(err)
		}
		var got, bulk []string
		for _, c := range cands {
			got = append(got, c.LocalID)
		}
		for _, c := range byKey[key] {
			bulk = append(bulk, c.LocalID)
		}
		if want := []string{"B", "a", "c"}[:limit]; !slices.Equal(got, want) || !slices.Equal(bulk, want) {
			t.Errorf("limit %d: Candidates %v, KeyCandidates %v, want %v (byte order)", limit, got, bulk, want)
		}
	}
}
