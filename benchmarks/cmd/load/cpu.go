package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter measures the CPU time a timed phase costs this process and,
// on PostgreSQL on the same machine, the database server: on a shared
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
	m := &cpuMeter{self: selfCPU()}
	if url == "" {
		return m
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		return m
	}
	m.db = db
	m.backends = m.serverCPU(ctx)
	return m
}

// stop ends the measurement and describes it.
func (m *cpuMeter) stop(ctx context.Context) string {
	out := fmt.Sprintf("client CPU %.1f s", (selfCPU() - m.self).Seconds())
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		out = "load average " + strings.Join(strings.Fields(string(b))[:3], " ") + "; " + out
	}
	if m.db == nil {
		return out
	}
	defer m.db.Close()
	var server time.Duration
	for pid, t := range m.serverCPU(ctx) {
		server += t - m.backends[pid]
	}
	return out + fmt.Sprintf(", PostgreSQL CPU %.1f s (this database's client backends; parallel workers not counted)", server.Seconds())
}

// serverCPU reads the CPU time of this database's client backends from
// /proc (the server runs on this machine), this meter's own left out.
func (m *cpuMeter) serverCPU(ctx context.Context) map[int]time.Duration {
	rows, err := m.db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			if t, ok := procCPU(pid); ok {
				out[pid] = t
			}
		}
	}
	return out
}

// procCPU is utime + stime of a process, from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks, true
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
