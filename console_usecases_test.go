package fiveid_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/match"
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

// IndexFigures counts what registrations made, for admins only.
func TestIndexFigures(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			since := time.Now().Add(-time.Hour)
			for _, r := range []struct {
				sys, local string
				in         match.Input
			}{{"a", "1", zhang}, {"b", "x", zhang}, {"b", "y", match.Input{Name: "李娜", Sex: "女", BirthDate: "1980-02-03"}}} {
				if _, err := svc.Register(ctx, p[r.sys], r.local, r.in); err != nil {
					t.Fatal(err)
				}
			}
			f, err := svc.IndexFigures(ctx, admin, since)
			if err != nil {
				t.Fatal(err)
			}
			want := fiveid.IndexFigures{Customers: 2, Records: map[string]int64{"a": 1, "b": 2}, Grades: map[string]int64{"": 2, "certain": 1},
				Since: f.Since, Links: 3}
			if d := cmp.Diff(want, f); d != "" {
				t.Errorf("figures (-want +got):\n%s", d)
			}
			if f, err := svc.IndexFigures(ctx, admin, time.Now().Add(time.Hour)); err != nil || f.Links != 0 || f.Customers != 2 {
				t.Errorf("figures from a later time: %+v %v", f, err)
			}
			for _, who := range []fiveid.Principal{p["a"], {KeyID: "aud", Role: fiveid.RoleAuditor}} {
				if _, err := svc.IndexFigures(ctx, who, since); !errors.Is(err, fiveid.ErrDenied) {
					t.Errorf("%s: %v", who.Role, err)
				}
			}
		})
	}
}
