package main

import (
	"context"
	"database/sql"
	"maps"
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
