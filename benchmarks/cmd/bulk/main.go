// Command bulk measures bulk registration with matching through the real
// binary:
//
//	go run ./benchmarks/cmd/bulk -records 100000 -via import
//	go run ./benchmarks/cmd/bulk -records 100000 -via batch
//	DATABASE_URL=postgres://…/empty_db REDIS_URL=redis://127.0.0.1:6379/0 go run ./benchmarks/cmd/bulk -via import
//	go run ./benchmarks/cmd/bulk -records 20000 -cpuprofile bulk.pprof   # then go tool pprof bulk.pprof
//
// It writes a synthetic file (benchmarks.BulkRecords: about 30% of the
// people with 2–4 records), builds cmd/fiveid, creates the systems, and
// registers the file with `fiveid import` or with POST
// /v1/customers/batch calls of -batch records (each system's records in
// file order) to `fiveid serve`. Without DATABASE_URL it runs on an
// embedded store in a temporary directory; with it the database must be
// empty. With -cpuprofile it also writes a CPU profile of fiveid (import or
// serve, through FIVEID_PPROF_ADDR) over -profile-seconds of the
// registering, starting -profile-after seconds in.
//
// Then it scores the index the registration built against the file's
// truth, pairwise: a true pair is two records of one person, a linked pair
// two records of one customer (precision is the share of linked pairs
// that are true). -score-only scores a PostgreSQL database an earlier run
// of the same -records and -seed registered, without registering.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
	"fiveid/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bulk:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	n := flag.Int("records", 100_000, "records in the file")
	via := flag.String("via", "import", "import (fiveid import) or batch (POST /v1/customers/batch)")
	batch := flag.Int("batch", 1000, "records per batch call")
	clients := flag.Int("clients", 1, "concurrent batch callers")
	seed := flag.Uint64("seed", benchmarks.SeedReport, "synthetic data seed")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of fiveid while it registers to this file")
	profileAfter := flag.Int("profile-after", 1, "seconds of registering before the profile starts")
	profileSecs := flag.Int("profile-seconds", 10, "seconds the profile covers (it must end before the registering does)")
	listMixed := flag.Int("list-mixed", 30, "list at most this many customers holding records of more than one person")
	scoreOnly := flag.Bool("score-only", false, "only score the index in DATABASE_URL, which a run of the same -records and -seed registered")
	binFlag := flag.String("bin", "", "a fiveid binary to measure (default: build ./cmd/fiveid), e.g. an older build as a baseline")
	flag.Parse()
	if *via != "import" && *via != "batch" {
		return fmt.Errorf("-via must be import or batch")
	}
	dir, err := os.MkdirTemp("", "fiveid-bulk")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	recs := benchmarks.BulkRecords(*seed, *n)
	if *scoreOnly {
		if os.Getenv("DATABASE_URL") == "" {
			return errors.New("-score-only needs DATABASE_URL")
		}
		return score(ctx, recs, "", *listMixed)
	}
	file := filepath.Join(dir, "records.csv")
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := benchmarks.WriteCSV(f, recs); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	bin := *binFlag
	if bin == "" {
		bin = filepath.Join(dir, "fiveid")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/fiveid").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	env := os.Environ()
	where := "embedded store"
	dataDir := filepath.Join(dir, "data")
	if os.Getenv("DATABASE_URL") == "" {
		env = append(env, "FIVEID_DATA_DIR="+dataDir)
	} else {
		where = "PostgreSQL"
		if os.Getenv("REDIS_URL") != "" {
			where += " + Redis"
		}
	}
	var profiled chan error // the profile's outcome, when one is taken
	if *cpuProfile != "" {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		env = append(env, "FIVEID_PPROF_ADDR="+addr)
		defer func() {
			if profiled == nil { // never started
				return
			}
			if err := <-profiled; err != nil {
				fmt.Fprintln(os.Stderr, "bulk: profile:", err)
			} else {
				fmt.Printf("CPU profile of %ds written to %s\n", *profileSecs, *cpuProfile)
			}
		}()
		// Started when the registering starts (startProfile).
		startProfile = func() {
			profiled = make(chan error, 1)
			go func() {
				profiled <- takeProfile(ctx, addr, *profileAfter, *profileSecs, *cpuProfile)
			}()
		}
	}
	var lastCPU time.Duration // the last command's CPU time
	cli := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = env
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if err != nil {
			return out.String(), fmt.Errorf("fiveid %s: %v\n%s%s", args[0], err, out.String(), errOut.String())
		}
		lastCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return out.String(), nil
	}
	for _, s := range benchmarks.Systems {
		args := []string{"systems", "create", "--code", s.Code, "--name", s.Code, "--kind", "medical"}
		if s.Table != "" {
			args = append(args, "--id-table", string(s.Table))
		}
		if _, err := cli(args...); err != nil {
			return err
		}
	}
	fmt.Printf("%d records, %s, via %s\n", len(recs), where, *via)
	// PostgreSQL's side of the cost: its backends' CPU time for the run.
	pgDone := func() {}
	watchPG := func() error {
		if os.Getenv("DATABASE_URL") == "" {
			return nil
		}
		stop, err := watchPostgres(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			return fmt.Errorf("following PostgreSQL's CPU time: %w", err)
		}
		pgDone = func() {
			if cpu, err := stop(); err != nil {
				fmt.Printf("PostgreSQL's CPU time: %v\n", err)
			} else {
				fmt.Printf("PostgreSQL backends' CPU time %s: %.0f records per CPU-second\n", cpu.Round(time.Millisecond), float64(len(recs))/cpu.Seconds())
			}
			if err := printSizes(ctx, os.Getenv("DATABASE_URL")); err != nil {
				fmt.Printf("sizes: %v\n", err)
			}
		}
		return nil
	}
	fmt.Printf("load average before: %s\n", benchmarks.LoadAverage())
	defer func() { fmt.Printf("load average after: %s\n", benchmarks.LoadAverage()) }()
	if *via == "import" {
		if err := watchPG(); err != nil {
			return err
		}
		start := time.Now()
		startProfile()
		out, err := cli("import", file, "--allow-rejects")
		if err != nil {
			return err
		}
		el := time.Since(start)
		fmt.Print(out)
		fmt.Printf("wall time %s (binary start and statistics refresh included): %.0f records/s; fiveid's CPU time %s: %.0f records per CPU-second\n",
			el.Round(time.Millisecond), float64(len(recs))/el.Seconds(), lastCPU.Round(time.Millisecond), float64(len(recs))/lastCPU.Seconds())
		pgDone()
		return score(ctx, recs, dataDir, *listMixed)
	}

	keys := map[string]string{}
	for _, s := range benchmarks.Systems {
		out, err := cli("keys", "create", "--role", "system", "--system", s.Code)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		keys[s.Code] = strings.TrimSpace(lines[len(lines)-1])
	}
	cmd := exec.CommandContext(ctx, bin, "serve")
	cmd.Env = append(env, "FIVEID_ADDR=127.0.0.1:0", "FIVEID_ADMIN_KEY=fk_bench_admin_key_0123456789_ABCDEFGH", "FIVEID_RATE_LIMIT=0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	stopServe := func() time.Duration {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	stopped := false
	defer func() {
		if !stopped {
			stopServe()
		}
	}()
	base := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "listening on "); ok {
			base = strings.Fields(after)[0]
			if !strings.HasPrefix(base, "http") {
				base = "http://" + base
			}
			break
		}
	}
	if base == "" {
		return errors.New("serve did not start")
	}
	go func() {
		for sc.Scan() {
		}
	}()

	// Batches of each system's records in file order.
	type call struct {
		system string
		body   []byte
		n      int
	}
	calls := make(chan call)
	go func() {
		defer close(calls)
		pending := map[string][]map[string]string{}
		flush := func(sys string) {
			body, _ := json.Marshal(map[string]any{"records": pending[sys]})
			calls <- call{sys, body, len(pending[sys])}
			pending[sys] = nil
		}
		for _, r := range recs {
			pending[r.System] = append(pending[r.System], map[string]string{"local_id": r.LocalID, "name": r.Input.Name,
				"sex": r.Input.Sex, "birth_date": r.Input.BirthDate, "id_type": r.Input.IDType, "id_number": r.Input.IDNumber})
			if len(pending[r.System]) == *batch {
				flush(r.System)
			}
		}
		for sys := range pending {
			if len(pending[sys]) > 0 {
				flush(sys)
			}
		}
	}()
	var mu sync.Mutex
	ok, failed := 0, 0
	var firstErr error
	if err := watchPG(); err != nil {
		return err
	}
	start := time.Now()
	startProfile()
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/customers/batch", bytes.NewReader(c.body))
				req.Header.Set("Authorization", "Bearer "+keys[c.system])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				var out struct {
					Results []struct{ OK bool }
				}
				if err == nil {
					if resp.StatusCode != 200 {
						err = fmt.Errorf("batch: HTTP %d", resp.StatusCode)
					} else {
						err = json.NewDecoder(resp.Body).Decode(&out)
					}
					resp.Body.Close()
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for _, r := range out.Results {
					if r.OK {
						ok++
					} else {
						failed++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if firstErr != nil {
		return firstErr
	}
	stopped = true
	cpu := stopServe()
	fmt.Printf("%d registered, %d refused in %s: %.0f records/s (%d client(s), batches of %d); serve's CPU time %s (start included): %.0f records per CPU-second\n",
		ok, failed, el.Round(time.Millisecond), float64(len(recs))/el.Seconds(), *clients, *batch, cpu.Round(time.Millisecond), float64(len(recs))/cpu.Seconds())
	pgDone()
	return score(ctx, recs, dataDir, *listMixed)
}

// score prints the pairwise precision and recall of the index in
// DATABASE_URL, or in the embedded store at dataDir, against recs' truth,
// and lists up to listMixed customers holding more than one person's
// records.
func score(ctx context.Context, recs []benchmarks.Record, dataDir string, listMixed int) error {
	var st *store.DB
	var err error
	if url := os.Getenv("DATABASE_URL"); url != "" {
		st, err = store.OpenPostgres(ctx, url)
	} else {
		st, err = store.OpenEmbedded(ctx, dataDir)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	index := make(map[[2]string]int, len(recs))
	for i, r := range recs {
		index[[2]string{r.System, r.LocalID}] = i
	}
	customer := make([]string, len(recs))
	link := make([]fiveid.Link, len(recs))
	var afterSystem, afterLocal string
	for {
		page, err := st.ScanSourceRecords(ctx, afterSystem, afterLocal, 10000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if i, ok := index[[2]string{r.System, r.LocalID}]; ok {
				customer[i], link[i] = r.CustomerID, r.Link
			}
		}
		last := page[len(page)-1]
		afterSystem, afterLocal = last.System, last.LocalID
	}
	pw := benchmarks.ScorePairwise(recs, func(i int) string { return customer[i] })
	fmt.Printf("accuracy: %d records registered of %d, %d customers; pairwise precision %.6f (%d of %d linked pairs true), recall %.4f (%d of %d true pairs linked), F1 %.4f\n",
		pw.Records, len(recs), pw.Customers, pw.Precision, pw.CorrectPairs, pw.PredictedPairs, pw.Recall, pw.CorrectPairs, pw.TruePairs, pw.F1)
	// The customers holding more than one person's records, each record
	// with how it was linked (ID numbers masked).
	byCustomer := map[string][]int{}
	for i, c := range customer {
		if c != "" {
			byCustomer[c] = append(byCustomer[c], i)
		}
	}
	var mixed []string
	for c, is := range byCustomer {
		for _, i := range is[1:] {
			if recs[i].PersonID != recs[is[0]].PersonID {
				mixed = append(mixed, c)
				break
			}
		}
	}
	slices.Sort(mixed)
	fmt.Printf("customers holding records of more than one person: %d\n", len(mixed))
	for _, c := range mixed[:min(len(mixed), listMixed)] {
		fmt.Printf("  %s\n", c)
		for _, i := range byCustomer[c] {
			r := recs[i]
			fmt.Printf("    person %d  %s/%s  %s | %s | %s | %s | %s  -> %s %.1f%s\n", r.PersonID, r.System, r.LocalID,
				r.Input.Name, r.Input.Sex, r.Input.BirthDate, r.Input.IDType, match.MaskID(r.Input.IDNumber),
				cmp.Or(string(link[i].Grade), "new customer"), link[i].Score, map[bool]string{true: " (manual)"}[link[i].Manual])
		}
	}
	return nil
}

// startProfile starts taking the CPU profile asked for, if any.
var startProfile = func() {}

// freeAddr is a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// takeProfile waits after seconds, then writes the CPU profile fiveid's
// pprof listener at addr takes over secs seconds to file.
func takeProfile(ctx context.Context, addr string, after, secs int, file string) error {
	select {
	case <-time.After(time.Duration(after) * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%w (did fiveid stop before the profile ended? lower -profile-seconds)", err)
	}
	return os.WriteFile(file, body, 0o644)
}
