package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fiveid"
)

// dialect is everything PostgreSQL and SQLite do differently.
type dialect int

const (
	postgres dialect = iota
	embedded
)

func (d dialect) String() string {
	if d == postgres {
		return "postgres"
	}
	return "embedded"
}

// rebind turns '?' placeholders into PostgreSQL's $n. SQL here never holds
// a literal '?'.
func (d dialect) rebind(q string) string {
	if d != postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lockKeys takes the transaction-scoped locks on blocking keys. PostgreSQL:
// advisory locks on a 64-bit hash of each key, sorted so that two
// transactions never wait on each other in opposite orders. The embedded
// store has one writer at a time, which already serializes.
func (d dialect) lockKeys(ctx context.Context, tx *sql.Tx, keys []string) error {
	if d != postgres || len(keys) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	seen := map[int64]bool{}
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		id := int64(h.Sum64())
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) == 1 {
		_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", ids[0])
		return err
	}
	// One round trip for a chunk's thousands of keys: unnest yields the
	// array in its (sorted) order, and the locks are taken row by row.
	_, err := tx.ExecContext(ctx, "SELECT count(pg_advisory_xact_lock(id)) FROM unnest($1::bigint[]) AS t(id)", ids)
	return err
}

// mapErr is the one place database errors become root-package errors.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", op, fiveid.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch {
		case pg.Code == "23505":
			return fmt.Errorf("%s: %w", op, fiveid.ErrConflict)
		case pg.Code == "23503", pg.Code == "23514", pg.Code == "23502", pg.Code == "22P02":
			return fmt.Errorf("%s: %s: %w", op, pg.Message, fiveid.ErrInvalid)
		case pg.Code == "22021", pg.Code == "22P05":
			// Text PostgreSQL cannot hold (character_not_in_repertoire: NUL,
			// invalid UTF-8; untranslatable_character). The adapters refuse
			// it first (fiveid.ValidText); this is the backstop, and its
			// message, which quotes the offending bytes, stays out of it.
			return fmt.Errorf("%s: text PostgreSQL cannot store (SQLSTATE %s): %w", op, pg.Code, fiveid.ErrInvalid)
		case pg.Code == "40001", pg.Code == "40P01", strings.HasPrefix(pg.Code, "08"), strings.HasPrefix(pg.Code, "57P"):
			return fmt.Errorf("%s: %s: %w", op, pg.Message, fiveid.ErrUnavailable)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s: %w", op, fiveid.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return fmt.Errorf("%s: %s: %w", op, se.Error(), fiveid.ErrInvalid)
		}
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("%s: %s: %w", op, se.Error(), fiveid.ErrUnavailable)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	// A connection closed under a query (the server went down, or a proxy
	// or firewall cut it) reads as an unexpected EOF.
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, driverBadConn) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %v: %w", op, err, fiveid.ErrUnavailable)
	}
	return fmt.Errorf("%s: %w", op, err)
}
