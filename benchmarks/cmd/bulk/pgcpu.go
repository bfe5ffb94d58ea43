package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// pgCPU follows the CPU time of the PostgreSQL backends serving one
// database, read from /proc (the server must run on this machine): it
// lists the database's backends every 100 ms and keeps each one's last
// reading. Their sum is what the run cost PostgreSQL's backends (a backend
// that ends between two readings loses at most 100 ms; the server's
// background writers are not counted).
type pgCPU struct {
	mu   sync.Mutex
	last map[int]time.Duration
}

// clockTick is the unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// watchPostgres starts following the database at url; stop returns the
// CPU time its backends used since (backends that started before count
// from their first reading), or an error when it could not read.
func watchPostgres(ctx context.Context, url string) (stop func() (time.Duration, error), err error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, err
	}
	w := &pgCPU{last: map[int]time.Duration{}}
	base := map[int]time.Duration{}
	first := true
	var readErr error
	sample := func() {
		rows, err := db.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		if err != nil {
			readErr = err
			return
		}
		defer rows.Close()
		for rows.Next() {
			var pid int
			if rows.Scan(&pid) != nil {
				continue
			}
			t, err := procCPU(pid)
			if err != nil {
				continue // ended meanwhile
			}
			w.mu.Lock()
			if _, seen := w.last[pid]; !seen && first {
				base[pid] = t
			}
			w.last[pid] = t
			w.mu.Unlock()
		}
		first = false
	}
	sample()
	if readErr != nil {
		db.Close()
		return nil, readErr
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() (time.Duration, error) {
		close(done)
		<-finished
		db.Close()
		var sum time.Duration
		for pid, t := range w.last {
			sum += t - base[pid]
		}
		return sum, readErr
	}, nil
}

// procCPU is the user and system CPU time of process pid.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (which may hold spaces) in ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// utime and stime are the stat file's fields 14 and 15.
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(u+st) * clockTick, nil
}
