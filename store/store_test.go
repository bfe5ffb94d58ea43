package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"fiveid"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

func TestConformanceEmbedded(t *testing.T) {
	t.Parallel()
	storetest.RunConformance(t, func(t *testing.T) storetest.Store { return teststore.Embedded(t) })
}

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	storetest.RunConformance(t, func(t *testing.T) storetest.Store {
		return teststore.Postgres(t)
	})
}

func TestCacheConformanceMemory(t *testing.T) {
	t.Parallel()
	storetest.RunCacheConformance(t, func(t *testing.T, ttl time.Duration) fiveid.Cache {
		return store.NewMemoryCache(ttl, 100)
	})
}

func TestCacheConformanceRedis(t *testing.T) {
	t.Parallel()
	storetest.RunCacheConformance(t, func(t *testing.T, ttl time.Duration) fiveid.Cache {
		c, err := store.OpenRedis(t.Context(), storetest.RedisURL(t), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return store.NewRedisCache(c, storetest.Prefix(t, c), ttl, store.Breaker{})
	})
}

// An acknowledged write survives closing and reopening the embedded store,
// and migrations are idempotent.
func TestEmbeddedDurableAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	db, err := store.OpenEmbedded(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(t.Context(), nil, func(tx fiveid.Tx) error {
		return tx.CreateSystem(t.Context(), fiveid.System{Code: "a", Name: "A", Kind: fiveid.KindOther, CreatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = store.OpenEmbedded(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.System(t.Context(), "a"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

// PostgreSQL refuses NUL and invalid UTF-8 in text (SQLSTATE 22021): the
// store says ErrInvalid, never an unknown error that would be a 500.
func TestPostgresUnstorableTextIsInvalid(t *testing.T) {
	t.Parallel()
	db := teststore.Postgres(t)
	ctx := t.Context()
	for name, text := range map[string]string{"NUL": "a\x00b", "invalid UTF-8": "\xe5\xbc"} {
		err := db.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.CreateSystem(ctx, fiveid.System{Code: "s", Name: text, Kind: fiveid.KindOther, CreatedAt: time.Now()})
		})
		if !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, err := db.System(ctx, text); !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("%s in a lookup: %v, want ErrInvalid", name, err)
		}
	}
}

// Two transactions locking 9,000 blocking keys each (two bulk chunks of
// 1,000 records) at once: a lock per key overflowed PostgreSQL's shared
// lock table at its default size (53200, out of shared memory). Both
// commit. Each holds its locks for half a second, so that they overlap
// (now the second waits for the first's all-keys lock).
func TestPostgresLargeLockSetsAtOnce(t *testing.T) {
	t.Parallel()
	db := teststore.Postgres(t)
	ctx := t.Context()
	keys := func(prefix string) []string {
		out := make([]string, 9000)
		for i := range out {
			out[i] = fmt.Sprintf("%s-%d", prefix, i)
		}
		return out
	}
	errs := make(chan error, 2)
	for _, prefix := range []string{"a", "b"} {
		go func() {
			errs <- db.Update(ctx, keys(prefix), func(fiveid.Tx) error {
				select { // hold the locks while the other takes its own
				case <-time.After(500 * time.Millisecond):
				case <-ctx.Done():
				}
				return nil
			})
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// PostgreSQL: a bulk load leaves the candidate tables analyzed even where
// autovacuum is off (as on this project's CI server), and there also
// vacuumed (visibility map set: index-only blocking-key lookups).
func TestPostgresBulkLoadIsAnalyzed(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	db, err := store.OpenPostgres(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := db.Update(ctx, nil, func(tx fiveid.Tx) error {
		return tx.CreateSystem(ctx, fiveid.System{Code: "hosp", Name: "H", Kind: fiveid.KindMedical, CreatedAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	var cs []fiveid.Customer
	var rs []fiveid.SourceRecord
	var ks [][]string
	for i := range 2000 {
		id := fmt.Sprintf("C%04d", i)
		cs = append(cs, fiveid.Customer{ID: id, Status: fiveid.StatusActive, Name: "x", Version: 1, CreatedAt: now, UpdatedAt: now})
		rs = append(rs, fiveid.SourceRecord{System: "hosp", LocalID: id, CustomerID: id, NameKey: "x", Version: 1, CreatedAt: now, UpdatedAt: now})
		ks = append(ks, []string{fiveid.KeyText(int64(i))})
	}
	if err := db.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.InsertBulk(ctx, cs, rs, ks) }); err != nil {
		t.Fatal(err)
	}
	analyzed, err := db.RefreshStatistics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"blocking_keys", "source_records", "customers"} {
		if !slices.Contains(analyzed, want) {
			t.Errorf("analyzed %v, want %s among them", analyzed, want)
		}
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// The insert counts reach the statistics views a moment after the
	// commit (the next refresh — serve runs one a minute — acts on them):
	// wait for them, refresh again.
	var autovacuum string
	var inserted, vacuums int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := raw.QueryRowContext(ctx, `SELECT current_setting('autovacuum'), n_ins_since_vacuum, vacuum_count + autovacuum_count
			FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'blocking_keys'`).
			Scan(&autovacuum, &inserted, &vacuums); err != nil {
			t.Fatal(err)
		}
		// Either the counts arrived, or they had arrived before the first
		// refresh, which vacuumed the table and reset them to zero.
		if inserted >= 2000 || vacuums > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the load's inserts never reached the statistics views (%d)", inserted)
		}
	}
	if _, err := db.RefreshStatistics(ctx); err != nil {
		t.Fatal(err)
	}
	var vacuumed bool
	if err := raw.QueryRowContext(ctx, `SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables
		WHERE schemaname = current_schema() AND relname = 'blocking_keys'`).Scan(&vacuumed); err != nil {
		t.Fatal(err)
	}
	if autovacuum == "off" && !vacuumed {
		t.Errorf("autovacuum is off and the refresh did not vacuum blocking_keys")
	}
	// Nothing is stale any more.
	if again, err := db.RefreshStatistics(ctx); err != nil || slices.Contains(again, "blocking_keys") {
		t.Errorf("refresh after the vacuum: %v %v", again, err)
	}
}
