package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"fiveid/match"
)

func TestImportIsIdempotentAndRejectsBadRows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data")}
	runCLI(t, vars, "systems", "create", "--code", "hosp-a", "--name", "第一医院", "--kind", "medical", "--id-table", "ws364")
	csv := "\ufeffsystem,local_id,name,sex,birth_date,id_type,id_number,ward\n" +
		"hosp-a,1,张伟,男,1949-12-31,01,11010519491231002X,3\n" +
		"hosp-a,2,張偉,1,19491231,01,110105491231002,3\n" + // 15-digit form of the same number
		"hosp-a,3,,男,1949-12-31,01,,3\n" + // no name, nothing identifying
		"nowhere,4,李娜,女,1990-01-01,01,440524198802290027,1\n" + // unknown system
		"hosp-a,5,李娜,女,1988-02-29,01,440524198802290027,1\n"
	file := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	// Rejected rows make the import exit 3, after it loaded the others.
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"import", file}, env(vars), strings.NewReader(""), &stdout, &stderr)
	if !errors.Is(err, errRowsRejected) || exitCode(err) != exitRejected {
		t.Fatalf("import with rejected rows: %v (exit %d), want exit %d", err, exitCode(err), exitRejected)
	}
	out := stdout.String()
	if !strings.Contains(out, "imported 5 rows: 2 new customers, 1 linked, 0 unchanged, 0 for review, 2 rejected") {
		t.Fatalf("first import summary: %s", out)
	}
	rej, err := os.ReadFile(filepath.Join(dir, "in.rejects.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4,hosp-a,3,validation_failed", "5,nowhere,4,unknown_system"} {
		if !strings.Contains(string(rej), want) {
			t.Errorf("rejects lack %q:\n%s", want, rej)
		}
	}
	if strings.Contains(string(rej), "440524198802290027") || strings.Contains(string(rej), "李娜") {
		t.Errorf("reject file holds raw identity data:\n%s", rej)
	}
	// --allow-rejects: the same rows rejected, exit 0.
	out = runCLI(t, vars, "import", file, "--allow-rejects")
	if !strings.Contains(out, "imported 5 rows: 0 new customers, 0 linked, 3 unchanged") {
		t.Fatalf("re-import changed something: %s", out)
	}
}

// A NUL or bytes that are not UTF-8 (a GBK file) in any column is a
// reject naming the column, on both stores — not "internal" (PostgreSQL
// refused to store it) or a stored record (the embedded store kept it).
func TestImportRejectsTextTheStoresCannotKeep(t *testing.T) {
	t.Parallel()
	for name, setup := range storeEnvs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := setup(t)
			runCLI(t, vars, "systems", "create", "--code", "hosp-a", "--name", "第一医院")
			csv := "system,local_id,name,sex,birth_date,id_type,id_number\n" +
				"hosp-a,1,张\x00伟,男,1949-12-31,01,11010519491231002X\n" +
				"hosp-a,2,\xd5\xc5\xce\xb0,男,1949-12-31,,\n" + // 张伟 in GBK
				"hosp-a,3\x00,李娜,女,1988-02-29,01,440524198802290027\n" +
				"hosp-a,4,李娜,女,1988-02-29,01,440524198802290027\n"
			file := filepath.Join(t.TempDir(), "in.csv")
			if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"import", file}, env(vars), strings.NewReader(""), &stdout, &stderr)
			if exitCode(err) != exitRejected {
				t.Fatalf("import: %v (exit %d), want exit %d: %s", err, exitCode(err), exitRejected, stderr.String())
			}
			if out := stdout.String(); !strings.Contains(out, "imported 4 rows: 1 new customers, 0 linked, 0 unchanged, 0 for review, 3 rejected") {
				t.Fatalf("summary: %s", out)
			}
			rej, err := os.ReadFile(strings.TrimSuffix(file, ".csv") + ".rejects.csv")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"2,hosp-a,1,validation_failed,name,name: invalid_text", "3,hosp-a,2,validation_failed,name,name: invalid_text",
				`4,hosp-a,3\u0000,validation_failed,local_id,local_id: invalid_text`} {
				if !strings.Contains(string(rej), want) {
					t.Errorf("rejects lack %q:\n%s", want, rej)
				}
			}
			if !utf8.Valid(rej) || bytes.IndexByte(rej, 0) >= 0 || strings.Contains(string(rej), "internal") {
				t.Errorf("reject file:\n%q", rej)
			}
		})
	}
}

func TestStewardshipCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data")}
	runCLI(t, vars, "systems", "create", "--code", "h", "--name", "H")
	csv := "system,local_id,name,sex,birth_date,id_type,id_number\nh,1,张伟,女,1949-12-31,01,11010519491231002X\nh,2,李娜,女,1990-01-01,,\n"
	file := filepath.Join(dir, "in.csv")
	os.WriteFile(file, []byte(csv), 0o600)
	runCLI(t, vars, "import", file)
	out := runCLI(t, vars, "unlink", "--system", "h", "--local-id", "1")
	fields := strings.Fields(out)
	id := fields[len(fields)-3]
	out = runCLI(t, vars, "death", "--customer", id, "--date", "2026-11-20")
	if !strings.Contains(out, "2026-11-20") {
		t.Fatalf("death: %s", out)
	}
	if out := runCLI(t, vars, "scan"); !strings.Contains(out, "scanned 2 records") {
		t.Fatalf("scan: %s", out)
	}
}

// fiveid train writes a versioned weights file that the service then loads.
func TestTrainWritesWeightsTheServiceLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data")}
	runCLI(t, vars, "systems", "create", "--code", "h", "--name", "H")
	var b strings.Builder
	b.WriteString("system,local_id,name,sex,birth_date,id_type,id_number\n")
	names := []string{"张伟", "李娜", "王芳", "刘洋", "陈静", "杨帆", "赵磊", "黄敏"}
	for i := range 200 {
		// Two records per person, the second with a typo in the name's
		// last character for some: candidate pairs of both kinds.
		name := names[i%len(names)] + string(rune('一'+i%97))
		dob := fmt.Sprintf("19%02d-%02d-%02d", 40+i%50, 1+i%12, 1+i%28)
		fmt.Fprintf(&b, "h,%d,%s,%d,%s,,\n", 2*i, name, 1+i%2, dob)
		if i%3 == 0 {
			name = names[i%len(names)] + string(rune('一'+(i+1)%97))
		}
		fmt.Fprintf(&b, "h,%d,%s,%d,%s,,\n", 2*i+1, name, 1+i%2, dob)
	}
	file := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, vars, "import", file)
	weights := filepath.Join(dir, "weights.json")
	out := runCLI(t, vars, "train", "--out", weights, "--random-pairs", "20000")
	if !strings.Contains(out, "trained weights fs-em-") || !strings.Contains(out, "RandomPairs:20000") {
		t.Fatalf("train: %s", out)
	}
	raw, err := os.ReadFile(weights)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := match.ParseWeights(raw); err != nil {
		t.Fatalf("the written weights do not parse: %v", err)
	}
	// A small index gives every pair of different customers once, not a
	// million draws of the same pairs: 400 records, 200 customers.
	out = runCLI(t, vars, "train", "--out", filepath.Join(dir, "all.json"), "--random-pairs", "1000000")
	var n int
	if i := strings.Index(out, "RandomPairs:"); i < 0 {
		t.Fatalf("train: %s", out)
	} else if _, err := fmt.Sscanf(out[i:], "RandomPairs:%d", &n); err != nil || n > 400*399/2 || n < 400*399/2-400 {
		t.Errorf("train on every pair of different customers: %d random pairs of %d (%v)", n, 400*399/2, err)
	}
	vars["FIVEID_WEIGHTS"] = weights
	out = runCLI(t, vars, "train", "--out", filepath.Join(dir, "again.json"), "--random-pairs", "20000")
	if !strings.Contains(out, "trained weights fs-em-") {
		t.Fatalf("train starting from the trained weights: %s", out)
	}
}
