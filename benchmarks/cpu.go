package benchmarks

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

// What a timed phase costs in CPU, for the benchmark tools: on a shared
// machine the wall time says more about the neighbours than about the
// phase, so the tools also report the CPU time of their own process and,
// on PostgreSQL running on this machine, of the database's backends.

// SelfCPU is this process's user and system CPU time so far.
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ProcessCPU is a process's user and system CPU time so far, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ
// on Linux).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// BackendsCPU is the CPU time so far of each process serving the database
// db is connected to (by pid; db's own connection left out), read from
// /proc: the server must run on this machine. A backend that ended before
// the call is not in it.
func BackendsCPU(ctx context.Context, db *sql.DB) (map[int]time.Duration, error) {
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		if t, err := ProcessCPU(pid); err == nil { // else it ended meanwhile
			out[pid] = t
		}
	}
	return out, rows.Err()
}

// CPUSince is the CPU time the backends of now spent since before (a
// backend absent from before counts from its start).
func CPUSince(now, before map[int]time.Duration) time.Duration {
	var sum time.Duration
	for pid, t := range now {
		sum += t - before[pid]
	}
	return sum
}

// LoadAverage is the machine's load averages over 1, 5 and 15 minutes.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

// MachineCPU is the CPU time every CPU of the machine spent so far busy
// (user, nice, system, irq, softirq and steal: what any process, the
// kernel's own threads and the hypervisor took) and idle (idle and iowait),
// from /proc/stat in clock ticks of 1/100 s. Busy time no process of the
// benchmark accounts for is work done for it elsewhere — PostgreSQL's WAL
// writer, the kernel flushing the disk, loopback networking — or the
// neighbours'; on an idle machine, the first.
func MachineCPU() (busy, idle time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t [8]int64 // user nice system idle iowait irq softirq steal
	for i := range t {
		if t[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	tick := 10 * time.Millisecond
	return time.Duration(t[0]+t[1]+t[2]+t[5]+t[6]+t[7]) * tick, time.Duration(t[3]+t[4]) * tick, nil
}
