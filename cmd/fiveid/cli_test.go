package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// cli runs one fiveid command line and returns what it printed.
func cli(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	// A command that wrongly runs (serve, say) stops, and the test fails.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	err = run(ctx, args, env(vars), strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// helpTargets is every command, every group of commands and fiveid
// itself (""), by name.
func helpTargets() []string {
	names := []string{""}
	groups := map[string]bool{}
	for _, s := range commands {
		names = append(names, s.name)
		if group, _, ok := strings.Cut(s.name, " "); ok && !groups[group] {
			groups[group] = true
			names = append(names, group)
		}
	}
	return names
}

// -h, --help and fiveid help print the command's usage to stdout and exit
// 0, before anything runs: no store is opened (the data directory is never
// created), nothing reads the configuration (it is invalid here too).
func TestHelpOnEveryCommandRunsNothing(t *testing.T) {
	t.Parallel()
	for _, name := range helpTargets() {
		words := strings.Fields(name)
		lines := map[string][]string{
			"-h":     append(words[:len(words):len(words)], "-h"),
			"--help": append(words[:len(words):len(words)], "--help"),
			"help":   append([]string{"help"}, words...),
		}
		for how, args := range lines {
			for _, broken := range []bool{false, true} {
				sub := name + "/" + how
				if broken {
					sub += "/bad config"
				}
				t.Run(sub, func(t *testing.T) {
					t.Parallel()
					data := filepath.Join(t.TempDir(), "data")
					vars := map[string]string{"FIVEID_DATA_DIR": data, "FIVEID_ADDR": "127.0.0.1:0"}
					if broken {
						vars["FIVEID_CACHE_TTL"] = "soon"
					}
					stdout, stderr, err := cli(t, vars, args...)
					if err != nil || stderr != "" {
						t.Fatalf("fiveid %s: %v (exit %d)\n%s", strings.Join(args, " "), err, exitCode(err), stderr)
					}
					if want := strings.TrimSpace("fiveid " + name); !strings.Contains(stdout, want) || !strings.Contains(stdout, "Usage") {
						t.Errorf("fiveid %s printed no usage naming %q:\n%s", strings.Join(args, " "), want, stdout)
					}
					if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("fiveid %s touched the data directory: %v", strings.Join(args, " "), err)
					}
				})
			}
		}
	}
}

// Asking for help after other flags and arguments still runs nothing: the
// key stays active.
func TestHelpAfterArgumentsRunsNothing(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	out := runCLI(t, vars, "keys", "create", "--role", "admin", "--name", "ops")
	id := strings.Fields(out)[2] // "created key ID (role admin); ..."
	for _, args := range [][]string{
		{"keys", "revoke", id, "--help"},
		{"keys", "revoke", "-h", id},
		{"keys", "create", "--role", "admin", "--name", "second", "-h"},
	} {
		if stdout, _, err := cli(t, vars, args...); err != nil || !strings.Contains(stdout, "Usage: fiveid keys") {
			t.Fatalf("fiveid %s: %v\n%s", strings.Join(args, " "), err, stdout)
		}
	}
	list := runCLI(t, vars, "keys", "list")
	if n := strings.Count(list, "\n"); n != 2 {
		t.Errorf("keys list: want the header and one key, got %d lines:\n%s", n, list)
	}
	for _, l := range strings.Split(strings.TrimSpace(list), "\n")[1:] {
		if f := strings.Fields(l); f[len(f)-1] != "-" {
			t.Errorf("a --help revoked a key: %s", l)
		}
	}
	// After "--" an argument is an argument, even "--help".
	if _, _, err := cli(t, vars, "keys", "revoke", "--", "--help"); err == nil || exitCode(err) != exitFailure {
		t.Errorf("keys revoke -- --help: %v (exit %d), want not found (exit 1)", err, exitCode(err))
	}
}

// A command line that cannot run prints the command's usage to stderr and
// exits 2, before anything runs.
func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		usage string // the usage printed
	}{
		{nil, "Usage: fiveid COMMAND"},
		{[]string{"bogus"}, "Usage: fiveid COMMAND"},
		{[]string{"--bogus"}, "Usage: fiveid COMMAND"},
		{[]string{"help", "bogus"}, "Usage: fiveid COMMAND"},
		{[]string{"help", "keys", "bogus"}, "Usage: fiveid COMMAND"},
		{[]string{"version", "now"}, "Usage: fiveid version"},
		{[]string{"--version", "now"}, "Usage: fiveid version"},
		{[]string{"serve", "now"}, "Usage: fiveid serve"},
		{[]string{"serve", "--addr", ":80"}, "Usage: fiveid serve"},
		{[]string{"migrate", "up"}, "Usage: fiveid migrate"},
		{[]string{"keys"}, "Usage: fiveid keys SUBCOMMAND"},
		{[]string{"keys", "bogus"}, "Usage: fiveid keys SUBCOMMAND"},
		{[]string{"keys", "revoke"}, "Usage: fiveid keys revoke ID"},
		{[]string{"keys", "revoke", "a", "b"}, "Usage: fiveid keys revoke ID"},
		{[]string{"keys", "create", "--bogus"}, "Usage: fiveid keys create"},
		{[]string{"keys", "create", "--role"}, "Usage: fiveid keys create"},
		{[]string{"keys", "list", "all"}, "Usage: fiveid keys list"},
		{[]string{"systems"}, "Usage: fiveid systems SUBCOMMAND"},
		{[]string{"systems", "create", "--code"}, "Usage: fiveid systems create"},
		{[]string{"policies", "create", "--max-ttl", "soon"}, "Usage: fiveid policies create"},
		{[]string{"policies", "delete"}, "Usage: fiveid policies delete ID"},
		{[]string{"signing-key"}, "Usage: fiveid signing-key SUBCOMMAND"},
		{[]string{"signing-key", "rotate", "now"}, "Usage: fiveid signing-key rotate"},
		{[]string{"audit", "check"}, "Usage: fiveid audit SUBCOMMAND"},
		{[]string{"import"}, "Usage: fiveid import FILE.csv"},
		{[]string{"import", "a.csv", "b.csv"}, "Usage: fiveid import FILE.csv"},
		{[]string{"import", "a.csv", "--chunk", "many"}, "Usage: fiveid import FILE.csv"},
		{[]string{"train", "--pairs", "many"}, "Usage: fiveid train"},
		{[]string{"scan", "now"}, "Usage: fiveid scan"},
		{[]string{"reindex", "--all"}, "Usage: fiveid reindex"},
		{[]string{"merge", "A", "B"}, "Usage: fiveid merge"},
		{[]string{"merge", "--preview=maybe"}, "Usage: fiveid merge"},
		{[]string{"unmerge"}, "Usage: fiveid unmerge MERGE_ID"},
		{[]string{"link", "X"}, "Usage: fiveid link"},
		{[]string{"unlink", "--customer", "C"}, "Usage: fiveid unlink"},
		{[]string{"death", "--system", "h"}, "Usage: fiveid death"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "data")
			stdout, stderr, err := cli(t, map[string]string{"FIVEID_DATA_DIR": data}, tc.args...)
			var ue *usageError
			if !errors.As(err, &ue) || exitCode(err) != exitUsage {
				t.Fatalf("%v (exit %d), want a usage error (exit %d)", err, exitCode(err), exitUsage)
			}
			if stdout != "" {
				t.Errorf("printed to stdout:\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, "fiveid: "+err.Error()+"\n") || !strings.Contains(stderr, tc.usage) {
				t.Errorf("stderr lacks the error and %q:\n%s", tc.usage, stderr)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a usage error touched the data directory: %v", err)
			}
		})
	}
}

// A command that ran and failed exits 1, with no usage.
func TestFailuresExit1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data")}
	for _, args := range [][]string{
		{"keys", "revoke", "fk_no_such_key"},
		{"import", filepath.Join(dir, "missing.csv")},
		{"unmerge", "no-such-merge"},
	} {
		_, stderr, err := cli(t, vars, args...)
		var ue *usageError
		if err == nil || errors.As(err, &ue) || exitCode(err) != exitFailure {
			t.Errorf("fiveid %s: %v (exit %d), want a failure (exit %d)", strings.Join(args, " "), err, exitCode(err), exitFailure)
		}
		if strings.Contains(stderr, "Usage") {
			t.Errorf("fiveid %s printed usage for a failure:\n%s", strings.Join(args, " "), stderr)
		}
	}
	// A bad configuration is a failure too, not a usage error.
	if _, _, err := cli(t, map[string]string{"FIVEID_CACHE_TTL": "soon"}, "keys", "list"); exitCode(err) != exitFailure {
		t.Errorf("bad configuration: %v (exit %d), want exit %d", err, exitCode(err), exitFailure)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	bi, ok := debug.ReadBuildInfo()
	want := versionText(bi, ok)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		stdout, stderr, err := cli(t, map[string]string{}, args...)
		if err != nil || stdout != want || stderr != "" {
			t.Errorf("fiveid %s: %v: %q (stderr %q), want %q", args[0], err, stdout, stderr, want)
		}
	}
}

func TestVersionText(t *testing.T) {
	t.Parallel()
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "fiveid (devel), revision unknown\n"},
		{"go build without VCS stamping", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "fiveid", Version: "(devel)"}},
			true, "fiveid (devel), revision unknown, go1.26.0\n"},
		{"test binary: no main module version", &debug.BuildInfo{GoVersion: "go1.26.0"},
			true, "fiveid (devel), revision unknown, go1.26.0\n"},
		{"a clean checkout", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "fiveid", Version: "v1.4.0"},
			Settings: settings("vcs", "git", "vcs.revision", "2460dfad93617b5db9622a7dd0ca30ae21381985", "vcs.time", "2026-12-01T14:39:41Z", "vcs.modified", "false")},
			true, "fiveid v1.4.0, revision 2460dfad93617b5db9622a7dd0ca30ae21381985 (2026-12-01T14:39:41Z), go1.26.0\n"},
		{"uncommitted changes", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "fiveid", Version: "v0.0.0-20261201143941-2460dfad9361+dirty"},
			Settings: settings("vcs.revision", "2460dfad93617b5db9622a7dd0ca30ae21381985", "vcs.time", "2026-12-01T14:39:41Z", "vcs.modified", "true")},
			true, "fiveid v0.0.0-20261201143941-2460dfad9361+dirty, revision 2460dfad93617b5db9622a7dd0ca30ae21381985 (2026-12-01T14:39:41Z, modified), go1.26.0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := versionText(tc.bi, tc.ok); got != tc.want {
				t.Errorf("versionText:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// The real binary's exit status follows exitCode; main prints a failure
// once, a usage error only as run printed it.
func TestBinaryExitStatus(t *testing.T) {
	t.Parallel()
	dir, bin := buildBinary(t)
	csv := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(csv, []byte("system,local_id,name,sex,birth_date,id_type,id_number\nnowhere,1,张伟,男,1949-12-31,,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args       []string
		want       int
		stderrHead string
	}{
		{[]string{"--help"}, 0, ""},
		{[]string{"serve", "--help"}, 0, ""},
		{[]string{"--version"}, 0, ""},
		{[]string{"keys", "revoke"}, exitUsage, "fiveid: keys revoke: missing ID\n\nUsage: fiveid keys revoke ID [--revoke-grants]\n"},
		{[]string{"keys", "revoke", "fk_no_such_key"}, exitFailure, "fiveid: "},
		{[]string{"import", csv}, exitRejected, "fiveid: import: rows rejected: 1 "},
		{[]string{"import", csv, "--allow-rejects"}, 0, ""},
	} {
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = append(os.Environ(), "FIVEID_DATA_DIR="+filepath.Join(dir, "data"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.want || !strings.HasPrefix(stderr.String(), tc.stderrHead) || (tc.stderrHead == "" && stderr.Len() > 0) {
			t.Errorf("fiveid %s: exit %d, want %d; stderr:\n%s", strings.Join(tc.args, " "), code, tc.want, stderr.String())
		}
		if strings.Count(stderr.String(), "fiveid: ") > 1 {
			t.Errorf("fiveid %s reported its error twice:\n%s", strings.Join(tc.args, " "), stderr.String())
		}
	}
}
