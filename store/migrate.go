package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration is one file, NNNN_name.sql, whose SQL both dialects read
// alike; or, where they cannot (PostgreSQL's PL/pgSQL triggers have no
// SQLite spelling), a pair of files, NNNN_name.postgres.sql and
// NNNN_name.embedded.sql, one per dialect, which together are migration
// NNNN.
type migration struct {
	version int
	name    string
	sql     string // both dialects; "" when the migration is a pair
	perDB   map[dialect]string
}

// sqlFor is the migration's SQL for d.
func (m migration) sqlFor(d dialect) string {
	if m.perDB != nil {
		return m.perDB[d]
	}
	return m.sql
}

// migrations returns the embedded migrations in order and rejects
// duplicate or missing numbers.
func migrations() ([]migration, error) {
	return loadMigrations(migrationFS, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	pairs := map[string]*migration{} // by name without the dialect
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", name)
		}
		b, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(name, ".sql")
		var d dialect
		switch {
		case strings.HasSuffix(base, ".postgres"):
			d = postgres
		case strings.HasSuffix(base, ".embedded"):
			d = embedded
		default:
			out = append(out, migration{version: v, name: name, sql: string(b)})
			continue
		}
		base = strings.TrimSuffix(base, "."+d.String()) + ".sql"
		m := pairs[base]
		if m == nil {
			m = &migration{version: v, name: base, perDB: map[dialect]string{}}
			pairs[base] = m
		}
		m.perDB[d] = string(b)
	}
	for _, m := range pairs {
		if len(m.perDB) != 2 {
			return nil, fmt.Errorf("migration %s: a migration in dialect files needs both NNNN_name.postgres.sql and NNNN_name.embedded.sql", m.name)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want number %d (numbers are consecutive and unique)", m.name, i+1)
		}
	}
	return out, nil
}

// migrateLockID is the PostgreSQL advisory lock that serializes migrations
// across instances starting at once.
const migrateLockID = 0x66697665_6964 // "fiveid"

// Migrate applies the embedded migrations not yet applied, each in its own
// transaction, under an advisory lock on PostgreSQL (the embedded store's
// single writer serializes by itself). OpenPostgres and OpenEmbedded call
// it; `fiveid migrate` exposes it.
func Migrate(ctx context.Context, db *DB) error {
	return migrateTo(ctx, db, 0)
}

// migrateTo is Migrate up to migration upto included (0: all of them).
func migrateTo(ctx context.Context, db *DB, upto int) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if db.d == postgres {
		c, err := db.write.Conn(ctx)
		if err != nil {
			return mapErr("migrate: conn", err)
		}
		defer c.Close()
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
			return mapErr("migrate: lock", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockID)
	}
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return mapErr("migrate: schema_migrations", err)
	}
	applied := map[int]bool{}
	rows, err := db.write.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return mapErr("migrate: read", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return mapErr("migrate: read", err)
		}
		applied[v] = true
	}
	rows.Close()
	for _, m := range ms {
		if applied[m.version] || (upto > 0 && m.version > upto) {
			continue
		}
		err := db.inTx(ctx, "migrate "+m.name, nil, func(c conn) error {
			if _, err := c.q.ExecContext(ctx, m.sqlFor(db.d)); err != nil {
				return mapErr("migrate "+m.name, err)
			}
			_, err := c.exec(ctx, "migrate "+m.name, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
