package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Profiles are served only on FIVEID_PPROF_ADDR, never by the API.
func TestPprofIsOptInAndOnItsOwnAddress(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"6060", "127.0.0.1:8080"} {
		if _, err := loadConfig(env(map[string]string{"FIVEID_PPROF_ADDR": v})); err == nil {
			t.Errorf("FIVEID_PPROF_ADDR=%s was accepted", v)
		}
	}
	if c, err := loadConfig(env(nil)); err != nil || c.PprofAddr != "" {
		t.Errorf("default pprof address %q (%v), want off", c.PprofAddr, err)
	}

	addr, stop, err := startPprof("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if code := get(t, "http://"+addr+"/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("pprof cmdline: %d, want 200", code)
	}

	base := startServer(t, map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data")})
	if code := get(t, base+"/debug/pprof/"); code == http.StatusOK {
		t.Errorf("the API answers /debug/pprof/ with %d", code)
	}
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// A long import serves profiles on FIVEID_PPROF_ADDR while it runs: the
// file is a pipe that stays open until the profiler has answered.
func TestImportServesPprofWhileItRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data"), "FIVEID_PPROF_ADDR": "127.0.0.1:0"}
	runCLI(t, vars, "systems", "create", "--code", "hosp-a", "--name", "A", "--kind", "medical")
	file := filepath.Join(dir, "in.csv")
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(t.Context(), []string{"import", file}, env(vars), strings.NewReader(""), &stdout, stderr)
	}()
	w, err := os.OpenFile(file, os.O_WRONLY, 0) // until the import opens it
	if err != nil {
		t.Fatal(err)
	}
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, after, ok := strings.Cut(stderr.String(), "pprof on http://"); ok {
			addr, _, _ = strings.Cut(after, "/")
		}
	}
	if addr == "" {
		w.Close()
		t.Fatalf("import announced no pprof address: %s", stderr.String())
	}
	if code := get(t, "http://"+addr+"/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("pprof cmdline during import: %d, want 200", code)
	}
	if _, err := io.WriteString(w, "system,local_id,name,sex,birth_date,id_type,id_number\nhosp-a,1,张伟,男,1949-12-31,01,11010519491231002X\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatalf("import: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "imported 1 rows: 1 new customers") {
		t.Errorf("import summary: %s", stdout.String())
	}
}
