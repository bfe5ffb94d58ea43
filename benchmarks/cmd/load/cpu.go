package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"fiveid/benchmarks"
)

// cpuMeter measures the CPU time a timed phase costs this process and,
// on PostgreSQL on the same machine, the database's backends: on a shared
// machine the wall time says more about the neighbours than about the
// phase.
type cpuMeter struct {
	db       *sql.DB // nil: no server side (embedded store, or not readable)
	self     time.Duration
	backends map[int]time.Duration
}

// startCPU starts measuring. url is DATABASE_URL ("" for the embedded
// store).
func startCPU(ctx context.Context, url string) *cpuMeter {
	m := &cpuMeter{self: benchmarks.SelfCPU()}
	if url == "" {
		return m
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return m
	}
	if m.backends, err = benchmarks.BackendsCPU(ctx, db); err != nil {
		db.Close()
		return m
	}
	m.db = db
	return m
}

// stop ends the measurement and describes it.
func (m *cpuMeter) stop(ctx context.Context) string {
	out := fmt.Sprintf("load average %s; client CPU %.1f s", benchmarks.LoadAverage(), (benchmarks.SelfCPU() - m.self).Seconds())
	if m.db == nil {
		return out
	}
	defer m.db.Close()
	now, err := benchmarks.BackendsCPU(ctx, m.db)
	if err != nil {
		return out
	}
	return out + fmt.Sprintf(", PostgreSQL CPU %.1f s (this database's backends)", benchmarks.CPUSince(now, m.backends).Seconds())
}
