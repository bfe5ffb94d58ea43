package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server of one test's own — its own port, its own
// data directory — for tests that stop Redis and start it again from what
// it persisted. The shared server of RedisURL must never be stopped.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedisServer starts redis-server on a free loopback port with its
// data in a temporary directory, with args added to its command line
// (persistence: "--appendonly", "yes", ...). It is stopped when the test
// ends. Without a redis-server binary the test is skipped, unless CI=true:
// then it fails.
func StartRedisServer(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "the redis-server binary", err)
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &RedisServer{t: t, bin: bin, dir: t.TempDir(), port: port, args: args}
	t.Cleanup(func() {
		if r.cmd != nil {
			r.signal(syscall.SIGKILL)
		}
	})
	r.Start()
	return r
}

// Addr is the server's host:port; it stays the same across restarts.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Start starts the server (again) from the data in its directory and
// waits until it answers PING (after loading what it persisted).
func (r *RedisServer) Start() {
	r.t.Helper()
	if r.cmd != nil {
		r.t.Fatal("redis-server is running already")
	}
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--daemonize", "no", "--logfile", filepath.Join(r.dir, "redis.log")}, r.args...)
	cmd := exec.Command(r.bin, args...)
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { cmd.Wait(); close(done) }(r.done)
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			r.cmd = nil
			r.t.Fatalf("redis-server exited at start: %s", r.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("redis-server on port %d did not answer: %v; %s", r.port, err, r.logTail())
}

// Stop stops the server the way an operator does (SIGTERM: it writes its
// AOF/RDB files out first) and waits for it to exit.
func (r *RedisServer) Stop() {
	r.t.Helper()
	r.signal(syscall.SIGTERM)
}

// Kill stops the server as a crash does (SIGKILL): only what it had
// written to its files by then survives.
func (r *RedisServer) Kill() {
	r.t.Helper()
	r.signal(syscall.SIGKILL)
}

func (r *RedisServer) signal(sig os.Signal) {
	r.t.Helper()
	if r.cmd == nil {
		r.t.Fatal("redis-server is not running")
	}
	if err := r.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		r.t.Fatalf("signal redis-server: %v", err)
	}
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.t.Fatalf("redis-server did not exit after %v", sig)
	}
	r.cmd = nil
}

func (r *RedisServer) logTail() string {
	b, err := os.ReadFile(filepath.Join(r.dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "log:\n" + string(b)
}
