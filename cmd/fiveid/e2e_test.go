package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fiveid/internal/apitest"
	"fiveid/store/storetest"
)

// env is a fake environment for run.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// startServer runs the real run("serve") on a free port and returns its
// base URL. The server stops when the test ends.
func startServer(t *testing.T, vars map[string]string) string {
	t.Helper()
	return startServerLog(t, vars, io.Discard)
}

// startServerLog is startServer with the server's log written to stderr.
func startServerLog(t *testing.T, vars map[string]string, stderr io.Writer) string {
	t.Helper()
	vars["FIVEID_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(vars), strings.NewReader(""), pw, stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-lines:
			if _, after, ok := strings.Cut(l, "listening on "); ok {
				return strings.Fields(after)[0]
			}
		case err := <-done:
			t.Fatalf("serve stopped early: %v", err)
		case <-deadline:
			t.Fatal("serve did not start in 30s")
		}
	}
}

type client struct {
	t    *testing.T
	base string
	key  string
}

func (c client) do(method, path string, body any, want int, out any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := apitest.Client(c.t).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// runCLI runs one fiveid command and returns its stdout.
func runCLI(t *testing.T, vars map[string]string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(t.Context(), args, env(vars), strings.NewReader(""), &out, &errb); err != nil {
		t.Fatalf("fiveid %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// storeEnvs are the environments that run a command on each store: the
// embedded one in a fresh directory, and a fresh PostgreSQL schema
// (storetest: skipped when unreachable, unless CI=true).
var storeEnvs = map[string]func(t *testing.T) map[string]string{
	"embedded": func(t *testing.T) map[string]string {
		return map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data")}
	},
	"postgres": func(t *testing.T) map[string]string {
		return map[string]string{"DATABASE_URL": storetest.PostgresURL(t)}
	},
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) map[string]string{
		"embedded": func(t *testing.T) map[string]string {
			return map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data")}
		},
		"postgres+redis": func(t *testing.T) map[string]string {
			return map[string]string{
				"DATABASE_URL": storetest.PostgresURL(t),
				"REDIS_URL":    storetest.RedisURL(t),
			}
		},
	}
	for name, setup := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := setup(t)
			vars["FIVEID_ADMIN_KEY"] = "fk_test_admin_key_0123456789_ABCDEFGH"
			base := startServer(t, vars)
			admin := client{t, base, vars["FIVEID_ADMIN_KEY"]}

			var health map[string]any
			client{t, base, ""}.do("GET", "/healthz", nil, 200, &health)
			client{t, base, ""}.do("GET", "/readyz", nil, 200, nil)
			client{t, base, ""}.do("GET", "/v1/systems", nil, 401, nil)

			admin.do("POST", "/v1/systems", map[string]string{"code": "hosp-a", "name": "第一医院", "kind": "medical"}, 201, nil)
			admin.do("POST", "/v1/systems", map[string]string{"code": "care-b", "name": "康养中心", "kind": "eldercare"}, 201, nil)
			var k struct{ Key string }
			admin.do("POST", "/v1/keys", map[string]string{"role": "system", "system": "hosp-a", "name": "his"}, 201, &k)
			hosp := client{t, base, k.Key}
			// The CLI creates keys too and prints the secret last.
			care := client{t, base, lastLine(runCLI(t, vars, "keys", "create", "--role", "system", "--system", "care-b", "--name", "care"))}

			var reg struct {
				CustomerID string `json:"customer_id"`
				Created    bool
			}
			hosp.do("POST", "/v1/customers", map[string]string{
				"local_id": "P001", "name": "张伟", "sex": "男", "birth_date": "1949-12-31",
				"id_type": "01", "id_number": "11010519491231002X",
			}, 201, &reg)
			if reg.CustomerID == "" || !reg.Created {
				t.Fatalf("register: %+v", reg)
			}
			// The same person typed differently at another system links.
			var reg2 struct {
				CustomerID string `json:"customer_id"`
				Created    bool
				Grade      string
			}
			care.do("POST", "/v1/customers", map[string]string{
				"local_id": "R-77", "name": "張偉", "sex": "1", "birth_date": "19491231",
				"id_type": "居民身份证", "id_number": "１１０１０５１９４９１２３１００２x",
			}, 200, &reg2)
			if reg2.CustomerID != reg.CustomerID || reg2.Created {
				t.Fatalf("second system did not link: %+v (want %s)", reg2, reg.CustomerID)
			}
			var id struct {
				CustomerID string `json:"customer_id"`
				Grade      string
			}
			care.do("POST", "/v1/identify", map[string]string{
				"name": "张伟", "sex": "男", "birth_date": "1949/12/31", "id_type": "01", "id_number": "11010519491231002X",
			}, 200, &id)
			if id.CustomerID != reg.CustomerID || (id.Grade != "certain" && id.Grade != "probable") {
				t.Fatalf("identify: %+v", id)
			}
			// Identify again: the cached answer is the same.
			care.do("POST", "/v1/identify", map[string]string{
				"name": "张伟", "sex": "男", "birth_date": "1949/12/31", "id_type": "01", "id_number": "11010519491231002X",
			}, 200, &id)
			if id.CustomerID != reg.CustomerID {
				t.Fatalf("cached identify: %+v", id)
			}
			hosp.do("POST", "/v1/identify", map[string]string{
				"name": "李娜", "sex": "女", "birth_date": "1990-01-01", "id_type": "01", "id_number": "440524188001010014",
			}, 404, nil)
			var x struct {
				CustomerID string `json:"customer_id"`
				Records    []struct {
					System  string
					LocalID string `json:"local_id"`
				}
			}
			hosp.do("GET", "/v1/xref?system=care-b&local_id=R-77", nil, 200, &x)
			if x.CustomerID != reg.CustomerID || len(x.Records) != 2 {
				t.Fatalf("xref: %+v", x)
			}
			admin.do("GET", "/v1/customers/"+reg.CustomerID, nil, 200, nil)
			hosp.do("GET", "/v1/customers/"+reg.CustomerID, nil, 403, nil)

			// 16 concurrent registrations of one new person end with one customer.
			var wg sync.WaitGroup
			ids := make([]string, 16)
			for i := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := hosp
					if i%2 == 1 {
						c = care
					}
					var r struct {
						CustomerID string `json:"customer_id"`
					}
					want := 200
					body := map[string]string{
						"local_id": fmt.Sprintf("C%02d", i), "name": "欧阳雪婧", "sex": "女", "birth_date": "1988-02-29",
						"id_type": "01", "id_number": "440524198802290027",
					}
					b, _ := json.Marshal(body)
					req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/customers", bytes.NewReader(b))
					req.Header.Set("Authorization", "Bearer "+c.key)
					req.Header.Set("Content-Type", "application/json")
					resp, err := apitest.Client(t).Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					if resp.StatusCode != want && resp.StatusCode != 201 {
						msg, _ := io.ReadAll(resp.Body)
						t.Errorf("concurrent register %d: %d %s", i, resp.StatusCode, msg)
						return
					}
					json.NewDecoder(resp.Body).Decode(&r)
					ids[i] = r.CustomerID
				}()
			}
			wg.Wait()
			for i, id := range ids {
				if id == "" || id != ids[0] {
					t.Fatalf("concurrent registrations made more than one customer: %d: %q vs %q", i, id, ids[0])
				}
			}
		})
	}
}
