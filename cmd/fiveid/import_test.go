package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	out := runCLI(t, vars, "import", file)
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
	out = runCLI(t, vars, "import", file)
	if !strings.Contains(out, "imported 5 rows: 0 new customers, 0 linked, 3 unchanged") {
		t.Fatalf("re-import changed something: %s", out)
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
