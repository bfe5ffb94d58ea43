package main

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"fiveid/benchmarks"
)

// watchPostgres starts following the CPU time of the backends serving
// the database at url (benchmarks.BackendsCPU). The import's backends end
// with its process, before the run is over, so they are read every 100 ms
// and each one's last reading is kept: a backend that ends between two
// readings loses at most 100 ms; the server's background writers are not
// counted. stop returns the CPU time the backends used since the start
// (those that started before count from their first reading).
func watchPostgres(ctx context.Context, url string) (stop func() (time.Duration, error), err error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	base, err := benchmarks.BackendsCPU(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	var mu sync.Mutex
	last := maps.Clone(base)
	var readErr error
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				now, err := benchmarks.BackendsCPU(ctx, db)
				mu.Lock()
				if err != nil {
					readErr = err
				}
				maps.Copy(last, now)
				mu.Unlock()
			}
		}
	}()
	return func() (time.Duration, error) {
		close(done)
		<-finished
		db.Close()
		mu.Lock()
		defer mu.Unlock()
		return benchmarks.CPUSince(last, base), readErr
	}, nil
}

// printSizes prints the sizes of the blocking-key table and the source
// records, each with its indexes, and of the database, as the measured
// binary left them: scoring opens the index with this build's store,
// which migrates an older build's schema first.
func printSizes(ctx context.Context, url string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
		LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
		WHERE c.relkind IN ('r', 'i') AND COALESCE(t.relname, c.relname) IN ('blocking_keys', 'source_records')
		ORDER BY COALESCE(t.relname, c.relname), c.relkind DESC, c.relname`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var name string
		var size int64
		if err := rows.Scan(&name, &size); err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf("%s %.1f MB", name, float64(size)/1e6))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var total int64
	if err := db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&total); err != nil {
		return err
	}
	fmt.Printf("sizes: %s; database %.1f MB\n", strings.Join(parts, ", "), float64(total)/1e6)
	return nil
}
