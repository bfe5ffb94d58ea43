package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"           // registers "sqlite"

	"fiveid"
)

var driverBadConn = driver.ErrBadConn

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// conn runs the package's SQL on a pool or a transaction.
type conn struct {
	d     dialect
	q     querier
	stmts *stmtCache // the embedded store's read pool only; nil elsewhere
	// copyIn loads rows with COPY on a PostgreSQL transaction's
	// connection; nil elsewhere (see txConn.appendRows).
	copyIn func(ctx context.Context, table string, cols []string, rows [][]any) error
}

func (c conn) exec(ctx context.Context, op, query string, args ...any) (sql.Result, error) {
	res, err := c.q.ExecContext(ctx, c.d.rebind(query), args...)
	return res, mapErr(op, err)
}

// prepare prepares query on the pool or transaction.
func (c conn) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.q.PrepareContext(ctx, c.d.rebind(query))
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := c.stmts.get(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.q.QueryContext(ctx, c.d.rebind(query), args...)
}

func (c conn) row(ctx context.Context, query string, args ...any) *sql.Row {
	if st := c.stmts.get(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.q.QueryRowContext(ctx, c.d.rebind(query), args...)
}

// stmtCache keeps the embedded store's reads prepared. SQLite parses and
// plans a statement each time it is prepared, and database/sql prepares
// every query anew: the candidate query's parse alone was a fifth of an
// identify's CPU on a cache miss. A *sql.Stmt is prepared on each pooled
// connection once, when first used there. (pgx caches its statements
// itself: PostgreSQL needs none of this.) Query texts are constants plus
// IN lists of up to a record's blocking keys: maxStmts bounds them anyway.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxStmts = 256

// get returns query prepared, or nil (no cache, full, or the prepare
// failed: the caller runs it unprepared and meets the error there).
func (s *stmtCache) get(ctx context.Context, query string) *sql.Stmt {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	st, ok := s.m[query]
	full := len(s.m) >= maxStmts
	s.mu.Unlock()
	if ok || full {
		return st
	}
	// Prepared without the lock: preparing waits for a pooled connection,
	// which a caller needing the lock for a query inside another may hold.
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[query]; ok || s.m == nil || len(s.m) >= maxStmts {
		st.Close() // prepared meanwhile, closed, or full
		return old
	}
	s.m[query] = st
	return st
}

func (s *stmtCache) close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, st := range s.m {
		errs = append(errs, st.Close())
	}
	s.m = nil
	return errors.Join(errs...)
}

// eachRaw runs query (no arguments, text columns) on the read pool and
// hands fn each row's values as they arrive, as bytes valid until fn
// returns; fn's error ends it as it is. PostgreSQL: through pgx itself,
// since database/sql would make a string of every value and take locks
// per row — most of a walk of the blocking-key index's CPU; the embedded
// store: sql.RawBytes.
func (db *DB) eachRaw(ctx context.Context, op, query string, fn func(cols [][]byte) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a walk fn ended early is not read to its end
	if db.d != postgres {
		rows, err := db.read.QueryContext(ctx, query)
		if err != nil {
			return mapErr(op, err)
		}
		defer rows.Close()
		n, err := rows.Columns()
		if err != nil {
			return mapErr(op, err)
		}
		raw, dest := make([][]byte, len(n)), make([]any, len(n))
		for i := range dest {
			dest[i] = (*sql.RawBytes)(&raw[i])
		}
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return mapErr(op, err)
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
		return mapErr(op, rows.Err())
	}
	c, err := db.read.Conn(ctx)
	if err != nil {
		return mapErr(op, err)
	}
	defer c.Close()
	var fnErr error
	err = c.Raw(func(dc any) error {
		rows, err := dc.(*stdlib.Conn).Conn().Query(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if fnErr = fn(rows.RawValues()); fnErr != nil {
				cancel()
				return nil
			}
		}
		return rows.Err()
	})
	if fnErr != nil {
		return fnErr
	}
	return mapErr(op, err)
}

// DB is the master customer index on PostgreSQL or the embedded store. It
// implements every store capability of fiveid.Config: Store (with Tx, every
// role of the index), GrantStore, IdempotencyStore, WebhookStore,
// RecordScanner and StatisticsRefresher.
type DB struct {
	conn          // reads
	write *sql.DB // writes (the embedded store's single writer)
	read  *sql.DB
}

var (
	_ fiveid.Store               = (*DB)(nil)
	_ fiveid.Tx                  = txConn{}
	_ fiveid.GrantStore          = (*DB)(nil)
	_ fiveid.GrantTx             = txConn{}
	_ fiveid.IdempotencyStore    = (*DB)(nil)
	_ fiveid.WebhookStore        = (*DB)(nil)
	_ fiveid.RecordScanner       = (*DB)(nil)
	_ fiveid.StatisticsRefresher = (*DB)(nil)
)

// OpenPostgres connects to PostgreSQL (a pgx URL; runtime parameters such as
// search_path may be given as query parameters) and applies migrations.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	return openPostgres(ctx, url, 0)
}

// openPostgres is OpenPostgres migrating up to migration upto (0: all).
func openPostgres(ctx context.Context, url string, upto int) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, mapErr("open postgres", err)
	}
	pool.SetMaxOpenConns(32)
	pool.SetMaxIdleConns(32)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	db := &DB{conn: conn{d: postgres, q: pool}, write: pool, read: pool}
	if err := db.ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrateTo(ctx, db, upto); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// OpenEmbedded opens (creating it when missing) the embedded store in
// dir/fiveid.db and applies migrations. WAL with synchronous=FULL: an
// acknowledged write survives kill -9 and power loss.
func OpenEmbedded(ctx context.Context, dir string) (*DB, error) {
	return openEmbedded(ctx, dir, 0, EmbeddedOptions{})
}

// EmbeddedOptions tune the embedded store; the zero value is the default.
type EmbeddedOptions struct {
	// CacheMiB is the page cache of the store's one writer connection, in
	// MiB (0: DefaultEmbeddedCacheMiB). Every write, and the reads of a
	// registration or a bulk chunk, go through it: an index larger than it
	// is read from the operating system page by page, a system call each
	// (in a 300,000-record import, 22% of the CPU with 32 MiB). The
	// process may use this much more memory as the index grows.
	CacheMiB int
}

// DefaultEmbeddedCacheMiB is EmbeddedOptions.CacheMiB's default.
const DefaultEmbeddedCacheMiB = 32

// OpenEmbeddedWith is OpenEmbedded with options.
func OpenEmbeddedWith(ctx context.Context, dir string, opt EmbeddedOptions) (*DB, error) {
	return openEmbedded(ctx, dir, 0, opt)
}

// openEmbedded is OpenEmbeddedWith migrating up to migration upto (0: all).
func openEmbedded(ctx context.Context, dir string, upto int, opt EmbeddedOptions) (*DB, error) {
	cache := opt.CacheMiB
	if cache <= 0 {
		cache = DefaultEmbeddedCacheMiB
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open embedded store: %w", err)
	}
	path := filepath.Join(dir, "fiveid.db")
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	// The writer's pragmas change no durability: cache_size keeps cache
	// MiB of pages (SQLite's default is 2 MB) so that a bulk chunk's index
	// pages are not read again from the OS page by page; and the WAL is
	// copied back into the database every 10,000 pages (40 MB) rather than
	// every 1,000, so that an index page that successive bulk chunks
	// rewrite is copied once, not once per chunk (a commit is durable when
	// its WAL frames are synced, checkpoint or not).
	w, err := sql.Open("sqlite", dsn+"&_txlock=immediate&_pragma=cache_size(-"+strconv.Itoa(cache*1024)+")&_pragma=wal_autocheckpoint(10000)")
	if err != nil {
		return nil, mapErr("open embedded store", err)
	}
	// One writer: SQLite allows one at a time anyway, and queuing in the
	// pool is fairer than retrying on SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, mapErr("open embedded store", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db := &DB{conn: conn{d: embedded, q: r, stmts: &stmtCache{db: r, m: map[string]*sql.Stmt{}}}, write: w, read: r}
	if err := migrateTo(ctx, db, upto); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Dialect names the backend: "postgres" or "embedded".
func (db *DB) Dialect() string { return db.d.String() }

func (db *DB) ping(ctx context.Context) error {
	return mapErr("ping", db.read.PingContext(ctx))
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.ping(ctx); err != nil {
		return err
	}
	var one int
	return mapErr("ping", db.row(ctx, "SELECT 1").Scan(&one))
}

// Close closes the pools.
func (db *DB) Close() error {
	stmts := db.stmts.close()
	if db.write == db.read {
		return errors.Join(stmts, db.write.Close())
	}
	return errors.Join(stmts, db.write.Close(), db.read.Close())
}

// inTx runs fn in one transaction on the write pool, holding locks on keys.
// On PostgreSQL the transaction's connection is held apart so that
// conn.copyIn can reach pgx's COPY on it.
func (db *DB) inTx(ctx context.Context, op string, keys []string, fn func(c conn) error) error {
	var sc *sql.Conn
	var tx *sql.Tx
	var err error
	if db.d == postgres {
		if sc, err = db.write.Conn(ctx); err != nil {
			return mapErr(op+": begin", err)
		}
		defer sc.Close()
		tx, err = sc.BeginTx(ctx, nil)
	} else {
		tx, err = db.write.BeginTx(ctx, nil)
	}
	if err != nil {
		return mapErr(op+": begin", err)
	}
	defer tx.Rollback()
	if err := db.d.lockKeys(ctx, tx, keys); err != nil {
		return mapErr(op+": lock", err)
	}
	c := conn{d: db.d, q: tx}
	if sc != nil {
		c.copyIn = func(ctx context.Context, table string, cols []string, rows [][]any) error {
			return sc.Raw(func(dc any) error {
				pc, ok := dc.(*stdlib.Conn)
				if !ok {
					return fmt.Errorf("copy into %s: driver connection %T is not pgx's", table, dc)
				}
				_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
				return err
			})
		}
	}
	if err := fn(c); err != nil {
		return err
	}
	return mapErr(op+": commit", tx.Commit())
}

// Update implements fiveid.Store.
func (db *DB) Update(ctx context.Context, lockKeys []string, fn func(tx fiveid.Tx) error) error {
	return db.inTx(ctx, "update", lockKeys, func(c conn) error { return fn(txConn{c}) })
}

// UpdateGrants implements fiveid.GrantStore.
func (db *DB) UpdateGrants(ctx context.Context, fn func(tx fiveid.GrantTx) error) error {
	return db.inTx(ctx, "update grants", nil, func(c conn) error { return fn(txConn{c}) })
}

// txConn is a transaction's view: reads and writes.
type txConn struct{ conn }

var _ fiveid.LazyCommitter = txConn{}

// CommitLazily implements fiveid.LazyCommitter: PostgreSQL commits this
// transaction without waiting for the log's flush (SET LOCAL ends with
// it); the embedded store commits as always.
func (c txConn) CommitLazily(ctx context.Context) error {
	if c.d != postgres {
		return nil
	}
	_, err := c.exec(ctx, "commit lazily", "SET LOCAL synchronous_commit = off")
	return err
}

// micros stores times as UTC microseconds since the epoch; 0 is unset.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UTC().UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

// RefreshStatistics keeps the query planner's statistics up to date, so
// that candidate lookups keep their index plans after a bulk load, and
// does autovacuum's work where the server runs without it. PostgreSQL:
// every table of the schema never analyzed, or whose rows changed since
// its last analyze by more than autovacuum's default threshold (50 rows +
// 10%), is analyzed. When autovacuum is off, a table that took more
// inserts (1000 + 20%) or holds more dead rows (50 + 20%) than
// autovacuum's default thresholds since its last vacuum is vacuumed (and
// analyzed): that sets the visibility map, so that the blocking-key lookup
// stays an index-only scan, and sets the hint bits a first read would
// otherwise write. It returns the names of the tables it refreshed. (The
// change counts reach the statistics views a moment after a commit, so a
// refresh right after a load may leave the last rows for the next one.)
// Embedded: PRAGMA optimize, which analyzes what SQLite judges stale.
// First it compacts the dashboard's counts (compactIndexFigures).
func (db *DB) RefreshStatistics(ctx context.Context) ([]string, error) {
	const op = "refresh statistics"
	if err := db.compactIndexFigures(ctx); err != nil {
		return nil, err
	}
	if db.d != postgres {
		_, err := db.write.ExecContext(ctx, "PRAGMA optimize")
		return nil, mapErr(op, err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT relname, needs_vacuum FROM (
		  SELECT relname,
		    current_setting('autovacuum') = 'off'
		      AND (n_ins_since_vacuum > 1000 + 0.2 * GREATEST(n_live_tup, 0)
		           OR n_dead_tup > 50 + 0.2 * GREATEST(n_live_tup, 0)) AS needs_vacuum,
		    n_mod_since_analyze > 50 + 0.1 * GREATEST(n_live_tup, 0)
		      OR COALESCE(last_analyze, last_autoanalyze) IS NULL AS needs_analyze
		  FROM pg_stat_user_tables WHERE schemaname = current_schema()) t
		WHERE needs_vacuum OR needs_analyze
		ORDER BY relname`)
	if err != nil {
		return nil, mapErr(op, err)
	}
	type stale struct {
		table  string
		vacuum bool
	}
	var todo []stale
	for rows.Next() {
		var t stale
		if err := rows.Scan(&t.table, &t.vacuum); err != nil {
			rows.Close()
			return nil, mapErr(op, err)
		}
		todo = append(todo, t)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(op, err)
	}
	rows.Close()
	var done []string
	for _, t := range todo {
		stmt := "ANALYZE " + pgIdent(t.table)
		if t.vacuum {
			stmt = "VACUUM (ANALYZE) " + pgIdent(t.table)
		}
		if _, err := db.write.ExecContext(ctx, stmt); err != nil {
			return done, mapErr(op, err)
		}
		done = append(done, t.table)
	}
	return done, nil
}

// pgIdent quotes a PostgreSQL identifier.
func pgIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
