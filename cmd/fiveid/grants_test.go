package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fiveid"
	"fiveid/match"
)

// A weak FIVEID_ADMIN_KEY stops every command before anything connects:
// the data directory is never created.
func TestWeakAdminKeyIsRefusedAtStartup(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, key string }{
		{"short", "fk_Sh0rt"},
		{"all digits", strings.Repeat("0123456789", 4)},
		{"all lower case", strings.Repeat("admin", 8)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			vars := map[string]string{"FIVEID_DATA_DIR": dir, "FIVEID_ADDR": "127.0.0.1:0", "FIVEID_ADMIN_KEY": tc.key}
			for _, cmd := range []string{"serve", "migrate"} {
				var out, errb bytes.Buffer
				err := run(t.Context(), []string{cmd}, env(vars), strings.NewReader(""), &out, &errb)
				if err == nil || !strings.Contains(err.Error(), "FIVEID_ADMIN_KEY is too weak") || strings.Contains(err.Error()+out.String()+errb.String(), tc.key) {
					t.Fatalf("%s: %v, want a clear refusal that does not repeat the key", cmd, err)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the store was opened: %v", err)
			}
		})
	}
}

// holders create/list/delete and keys revoke --revoke-grants, on both stores.
func TestHoldersAndKeyRevocationCLI(t *testing.T) {
	t.Parallel()
	for name, setup := range storeEnvs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := setup(t)
			runCLI(t, vars, "systems", "create", "--code", "hosp", "--name", "H", "--kind", "medical")
			runCLI(t, vars, "systems", "create", "--code", "care", "--name", "C", "--kind", "eldercare")
			out := runCLI(t, vars, "holders", "create", "--system", "hosp", "--scopes", "medical, funeral")
			if !strings.Contains(out, "hosp holds funeral,medical data") {
				t.Fatalf("holders create: %s", out)
			}
			id := strings.TrimSuffix(strings.Fields(out)[2], ":")
			if out := runCLI(t, vars, "holders", "list"); !strings.Contains(out, id) || !strings.Contains(out, "funeral,medical") {
				t.Errorf("holders list: %s", out)
			}
			if out := runCLI(t, vars, "holders", "delete", id); !strings.Contains(out, "deleted "+id) {
				t.Errorf("holders delete: %s", out)
			}
			if out := runCLI(t, vars, "holders", "list"); strings.Contains(out, id) {
				t.Errorf("a deleted holder is listed: %s", out)
			}

			// Grants through a key, then the key revoked with them. The
			// flag may come before or after the ID.
			runCLI(t, vars, "policies", "create", "--grantee", "care", "--scopes", "medical", "--purposes", "treatment")
			for _, args := range [][]string{{"KEY", "--revoke-grants"}, {"--revoke-grants", "KEY"}} {
				created := runCLI(t, vars, "keys", "create", "--role", "system", "--system", "care")
				keyID := strings.Fields(created)[2]
				grantVia(t, vars, lastLine(created))
				for i, a := range args {
					if a == "KEY" {
						args[i] = keyID
					}
				}
				out := runCLI(t, vars, append([]string{"keys", "revoke"}, args...)...)
				if !strings.Contains(out, "revoked "+keyID+" and 1 of its active grants") {
					t.Errorf("keys revoke %v: %s", args, out)
				}
			}
			created := runCLI(t, vars, "keys", "create", "--role", "system", "--system", "care")
			keyID := strings.Fields(created)[2]
			grantVia(t, vars, lastLine(created))
			if out := runCLI(t, vars, "keys", "revoke", keyID); out != "revoked "+keyID+"\n" {
				t.Errorf("keys revoke without the flag: %s", out)
			}
			var errb bytes.Buffer
			if err := run(t.Context(), []string{"keys", "revoke", "a", "b"}, env(vars), strings.NewReader(""), &errb, &errb); err == nil {
				t.Errorf("keys revoke with two IDs succeeded")
			}
		})
	}
}

// grantVia registers someone at hosp (once) and asks for a grant with the
// care key's secret, through the service the CLI wires.
func grantVia(t *testing.T, vars map[string]string, secret string) {
	t.Helper()
	ctx := t.Context()
	cfg, err := loadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	err = withApp(ctx, cfg, func(a *app) error {
		hosp := fiveid.Principal{KeyID: "k-hosp", Role: fiveid.RoleSystem, System: "hosp"}
		zhang := match.Input{Name: "张伟", Sex: "女", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}
		if _, err := a.svc.Register(ctx, hosp, "P1", zhang); err != nil {
			return err
		}
		care, err := a.svc.Authenticate(ctx, secret)
		if err != nil {
			return err
		}
		_, err = a.svc.IdentifyAndGrant(ctx, care, zhang, fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
