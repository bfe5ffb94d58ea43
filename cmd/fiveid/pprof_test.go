package main

import (
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
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
