package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An acknowledged registration survives kill -9 of the real binary on the
// embedded store.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	dir, bin := buildBinary(t)
	const adminKey = "fk_kill9_admin_key_0123456789_ABCDEFGH"
	envv := append(os.Environ(), "FIVEID_DATA_DIR="+filepath.Join(dir, "data"), "FIVEID_ADDR=127.0.0.1:0", "FIVEID_ADMIN_KEY="+adminKey)
	start := func() (*exec.Cmd, string) {
		t.Helper()
		cmd := exec.Command(bin, "serve")
		cmd.Env = envv
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		deadline := time.Now().Add(30 * time.Second)
		for sc.Scan() && time.Now().Before(deadline) {
			if _, after, ok := strings.Cut(sc.Text(), "listening on "); ok {
				go func() {
					for sc.Scan() {
					}
				}()
				return cmd, strings.Fields(after)[0]
			}
		}
		cmd.Process.Kill()
		t.Fatal("the binary did not start")
		return nil, ""
	}
	cmd, base := start()
	admin := client{t, base, adminKey}
	admin.do("POST", "/v1/systems", map[string]string{"code": "hosp", "name": "H"}, 201, nil)
	var k struct{ Key string }
	admin.do("POST", "/v1/keys", map[string]string{"role": "system", "system": "hosp"}, 201, &k)
	hosp := client{t, base, k.Key}
	var reg struct {
		CustomerID string `json:"customer_id"`
	}
	hosp.do("POST", "/v1/customers", map[string]string{"local_id": "P1", "name": "张伟", "birth_date": "1949-12-31",
		"id_type": "01", "id_number": "11010519491231002X"}, 201, &reg)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	cmd, base = start()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var x struct {
		CustomerID string `json:"customer_id"`
	}
	client{t, base, k.Key}.do("GET", "/v1/xref?system=hosp&local_id=P1", nil, 200, &x)
	if x.CustomerID != reg.CustomerID {
		t.Fatalf("after kill -9: %q, want %q", x.CustomerID, reg.CustomerID)
	}
}

// buildBinary builds the fiveid binary into a new temporary directory and
// returns both (skipped with -short).
func buildBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir = t.TempDir()
	bin = filepath.Join(dir, "fiveid")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir, bin
}
