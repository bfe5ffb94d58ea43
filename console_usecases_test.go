package fiveid_test

import (
	"errors"
	"testing"

	"fiveid"
)

// Tests of the use cases the web console added.

// KeyNames maps every key, revoked ones too, to its name, for admins and
// auditors only.
func TestKeyNames(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			setup(t, svc, "a")
			k, _, err := svc.CreateKey(ctx, admin, fiveid.RoleAuditor, "", "李四")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.RevokeKey(ctx, admin, k.ID, false); err != nil {
				t.Fatal(err)
			}
			for _, p := range []fiveid.Principal{admin, {KeyID: "aud", Role: fiveid.RoleAuditor}} {
				m, err := svc.KeyNames(ctx, p)
				if err != nil || m[k.ID] != "李四" {
					t.Errorf("%s: %v %v", p.Role, m, err)
				}
			}
			if _, err := svc.KeyNames(ctx, fiveid.Principal{KeyID: "k-a", Role: fiveid.RoleSystem, System: "a"}); !errors.Is(err, fiveid.ErrDenied) {
				t.Errorf("a system key: %v", err)
			}
		})
	}
}
