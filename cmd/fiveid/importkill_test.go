package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid/benchmarks"
	"fiveid/store"
)

// kill -9 of the real binary in the middle of an import, then the same
// import again, gives the index an uninterrupted import gives: every
// record once, the same customers, review tasks, history and name
// statistics (embedded store).
func TestImportKilledAndRerunGivesTheSameIndex(t *testing.T) {
	t.Parallel()
	dir, bin := buildBinary(t)
	recs := benchmarks.BulkRecords(benchmarks.SeedGate, 1200)
	file := filepath.Join(dir, "in.csv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := benchmarks.WriteCSV(f, recs); err != nil {
		t.Fatal(err)
	}
	f.Close()
	setup := func(name string) map[string]string {
		vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, name)}
		for _, s := range benchmarks.Systems {
			args := []string{"systems", "create", "--code", s.Code, "--name", s.Code, "--kind", "medical"}
			if s.Table != "" {
				args = append(args, "--id-table", string(s.Table))
			}
			runCLI(t, vars, args...)
		}
		return vars
	}
	importArgs := []string{"import", file, "--chunk", "40", "--allow-rejects", "--rejects", filepath.Join(dir, "rejects.csv")}

	whole := setup("whole")
	start := time.Now()
	runCLI(t, whole, importArgs...)
	took := time.Since(start)

	killed := setup("killed")
	delay := took / 2
	for attempt := 0; ; attempt++ {
		cmd := exec.Command(bin, importArgs...)
		cmd.Env = append(os.Environ(), "FIVEID_DATA_DIR="+killed["FIVEID_DATA_DIR"])
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		n := len(indexOf(t, killed["FIVEID_DATA_DIR"]).Records)
		if n > 0 && n < len(recs)*9/10 {
			t.Logf("killed after %s with %d of %d records registered", delay, n, len(recs))
			break
		}
		if attempt == 4 {
			t.Fatalf("could not kill the import in its middle (%d records after %s)", n, delay)
		}
		if n == 0 {
			delay = delay * 3 / 2
		} else { // it had (nearly) finished: start afresh, kill sooner
			os.RemoveAll(killed["FIVEID_DATA_DIR"])
			killed = setup("killed")
			delay /= 2
		}
	}
	out := runCLI(t, killed, importArgs...)
	if !strings.Contains(out, " unchanged") {
		t.Errorf("re-run summary: %s", out)
	}
	want, got := indexOf(t, whole["FIVEID_DATA_DIR"]), indexOf(t, killed["FIVEID_DATA_DIR"])
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("index (-uninterrupted +killed and re-run):\n%s", d)
	}
	if len(want.Records) < len(recs)*95/100 || len(want.Customers) >= len(want.Records) {
		t.Errorf("%d records registered in %d customers of %d in the file", len(want.Records), len(want.Customers), len(recs))
	}
}

// importIndex is an index without its random IDs: customers named by
// their records.
type importIndex struct {
	Records   []string            // system/local_id, each once
	Customers map[string][]string // records -> history (kinds and details)
	Tasks     []string
	Total     int64
}

func indexOf(t *testing.T, dataDir string) importIndex {
	t.Helper()
	ctx := t.Context()
	db, err := store.OpenEmbedded(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	byCustomer := map[string][]string{}
	var idx importIndex
	after := [2]string{}
	for {
		page, err := db.ScanSourceRecords(ctx, after[0], after[1], 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			id := r.System + "/" + r.LocalID
			idx.Records = append(idx.Records, id)
			byCustomer[r.CustomerID] = append(byCustomer[r.CustomerID], id)
		}
		after = [2]string{page[len(page)-1].System, page[len(page)-1].LocalID}
	}
	name := func(id string) string { return strings.Join(byCustomer[id], ",") }
	idx.Customers = map[string][]string{}
	for id := range byCustomer {
		hs, err := db.History(ctx, id, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var h []string
		for _, c := range hs {
			h = append(h, fmt.Sprint(c.Kind, " ", c.System, "/", c.LocalID, " ", c.Detail))
		}
		idx.Customers[name(id)] = h
	}
	tasks, err := db.ListReviewTasks(ctx, "", 10_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		idx.Tasks = append(idx.Tasks, fmt.Sprint(tk.Reason, "|", name(tk.CustomerID), "|", name(tk.CandidateID), "|", tk.Score))
	}
	sort.Strings(idx.Tasks)
	if _, idx.Total, err = db.NameFrequency(ctx, ""); err != nil {
		t.Fatal(err)
	}
	return idx
}
