package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fiveid"
	"fiveid/match"
)

// fiveid merge refuses two valid citizen numbers, naming the records
// (masked), and merges them with --override --reason.
func TestMergeCLINeedsAnOverrideForTwoNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(dir, "data")}
	runCLI(t, vars, "systems", "create", "--code", "h", "--name", "H")
	n1, n2 := "11010519500308002", "44052419500308004"
	n1, n2 = n1+string(match.CheckChar(n1)), n2+string(match.CheckChar(n2))
	csv := "system,local_id,name,sex,birth_date,id_type,id_number\nh,1,王秀英,女,1950-03-08,01," + n1 + "\nh,2,王秀英,女,1950-03-08,01," + n2 + "\n"
	file := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, vars, "import", file)
	var ids []string
	for _, local := range []string{"1", "2"} { // each on a customer whose ID the CLI prints
		fields := strings.Fields(runCLI(t, vars, "unlink", "--system", "h", "--local-id", local))
		ids = append(ids, fields[len(fields)-3])
	}
	from, into := ids[1], ids[0]
	out := runCLI(t, vars, "merge", "--from", from, "--into", into, "--preview")
	if !strings.Contains(out, "identifier conflict") || !strings.Contains(out, match.MaskID(n2)) || !strings.Contains(out, "--override") {
		t.Fatalf("preview: %s", out)
	}
	cli := func(args ...string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), args, env(vars), strings.NewReader(""), &stdout, &stderr)
		return stdout.String(), err
	}
	out, err := cli("merge", "--from", from, "--into", into)
	if !errors.Is(err, fiveid.ErrIdentifierConflict) || !strings.Contains(out, "h/2 "+match.MaskID(n2)) || strings.Contains(out, n1) || strings.Contains(out, n2) {
		t.Fatalf("merge of two numbers: %v\n%s", err, out)
	}
	if _, err := cli("merge", "--from", from, "--into", into, "--override"); !errors.Is(err, fiveid.ErrInvalid) {
		t.Fatalf("override without a reason: %v", err)
	}
	out = runCLI(t, vars, "merge", "--from", from, "--into", into, "--override", "--reason", "one person, two numbers: checked")
	if !strings.Contains(out, "merged "+from+" into "+into) || !strings.Contains(out, "overridden") {
		t.Fatalf("merge with an override: %s", out)
	}
}
