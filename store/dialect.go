package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"slices"
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
//
// A lock is a slot of PostgreSQL's shared lock table, which holds
// max_locks_per_transaction × (max_connections + …) of them in all: 7,808
// with the defaults. A bulk chunk of 1,000 records has some 9,000 keys, so
// two chunks at once (an import and a batch call) ran out of shared memory
// (53200). So every locking transaction first takes the "all keys" lock
// (in the two-int4 advisory space, apart from the keys' bigint one):
// shared by a transaction with at most manyKeys keys, which then locks its
// keys one by one; exclusive by one with more, which then needs no key
// lock — it excludes every other locking transaction for its duration. Two
// transactions sharing a key still wait for each other, as before; a large
// one now also waits for, and holds up, those it shares no key with (a
// registration waits for an import's chunk to commit, a fraction of a
// second). The all-keys lock always comes first and an exclusive holder
// takes no other, so the order stays the same for everyone.
func (d dialect) lockKeys(ctx context.Context, tx *sql.Tx, keys []string) error {
	if d != postgres || len(keys) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	seen := make(map[int64]bool, len(keys))
	for _, k := range keys {
		h := fnv.New64a()
		h.Write([]byte(k))
		id := int64(h.Sum64())
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if len(ids) > manyKeys {
		_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, $2)", allKeysLock[0], allKeysLock[1])
		return err
	}
	slices.Sort(ids)
	// One round trip: unnest yields the array in its order, the all-keys
	// lock (ordinality 1: shared, its bigint unused) first, then the keys, sorted.
	_, err := tx.ExecContext(ctx, `SELECT count(CASE WHEN n = 1 THEN pg_advisory_xact_lock_shared($1, $2) ELSE pg_advisory_xact_lock(id) END)
		FROM unnest($3::bigint[]) WITH ORDINALITY AS t(id, n)`, allKeysLock[0], allKeysLock[1], append([]int64{0}, ids...))
	return err
}

// manyKeys is the most keys a transaction locks one by one (a
// registration locks about 20, a merge of two large customers a few
// hundred); one with more locks them all at once.
const manyKeys = 512

// allKeysLock is the advisory lock (int4, int4) standing for every key:
// "five", "keys".
var allKeysLock = [2]int32{0x66697665, 0x6b657973}

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
		case pg.Code == "40001", pg.Code == "40P01", strings.HasPrefix(pg.Code, "08"), strings.HasPrefix(pg.Code, "57P"),
			strings.HasPrefix(pg.Code, "53"):
			// Serialization failures and deadlocks, lost connections, a
			// server shutting down, and class 53, insufficient resources
			// (out of shared memory for locks, disk full, too many
			// connections): the request may succeed later (503), as on the
			// embedded store when its disk is full.
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
