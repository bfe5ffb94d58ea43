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

// A search by the five elements decides as identify does, lists every
// candidate, opens no review task, issues no grant and is written to the
// grant log with the number masked.
func TestSearchCustomers(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			r1, err := svc.Register(ctx, p["a"], "1", zhang)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Register(ctx, p["a"], "2", match.Input{Name: "李娜", Sex: "女", BirthDate: "1980-02-03"}); err != nil {
				t.Fatal(err)
			}
			trad := match.Input{Name: "張偉", Sex: "1", BirthDate: "19491231", IDType: "居民身份证", IDNumber: "110105491231002"}
			res, err := svc.SearchCustomers(ctx, admin, trad)
			if err != nil {
				t.Fatal(err)
			}
			id, err := svc.Identify(ctx, p["b"], trad)
			if err != nil {
				t.Fatal(err)
			}
			if res.Decision.CustomerID != id.CustomerID || res.Decision.Grade != id.Decision.Grade || res.Decision.Score != id.Decision.Score {
				t.Errorf("search decided %+v, identify %+v", res.Decision, id.Decision)
			}
			if len(res.Matches) != 1 || res.Matches[0].Customer.ID != r1.CustomerID || res.Matches[0].Grade != match.GradeCertain || res.Matches[0].Score <= 0 {
				t.Errorf("matches: %+v", res.Matches)
			}
			// Without the ID number it is not certain; a search opens no
			// review task whatever it finds.
			loose := match.Input{Name: "张伟", Sex: "男", BirthDate: "1949-12-31"}
			res, err = svc.SearchCustomers(ctx, admin, loose)
			if err != nil || len(res.Matches) != 1 || res.Matches[0].Grade == match.GradeCertain || res.Decision.Grade != res.Matches[0].Grade {
				t.Errorf("search without the number: %+v %v", res, err)
			}
			if ts, err := svc.ListReviewTasks(ctx, admin, fiveid.ReviewOpen); err != nil || len(ts) != 0 {
				t.Errorf("a search opened review tasks: %+v %v", ts, err)
			}
			if id, _ := svc.Identify(ctx, p["b"], loose); id.Decision.Grade != res.Decision.Grade || id.Decision.Score != res.Decision.Score {
				t.Errorf("search decided %+v, identify %+v", res.Decision, id.Decision)
			}
			if res, err := svc.SearchCustomers(ctx, admin, match.Input{Name: "赵六", Sex: "男", BirthDate: "2001-01-01"}); err != nil || len(res.Matches) != 0 || res.Decision.Grade != "" {
				t.Errorf("nobody: %+v %v", res, err)
			}
			var ve *fiveid.ValidationError
			if _, err := svc.SearchCustomers(ctx, admin, match.Input{Name: "张伟", BirthDate: "1949-13-45"}); !errors.As(err, &ve) {
				t.Errorf("a bad birth date: %v", err)
			}
			for _, who := range []fiveid.Principal{p["a"], {KeyID: "aud", Role: fiveid.RoleAuditor}} {
				if _, err := svc.SearchCustomers(ctx, who, zhang); !errors.Is(err, fiveid.ErrDenied) {
					t.Errorf("%s searched: %v", who.Role, err)
				}
			}
			evs, _, err := svc.AuditEvents(ctx, fiveid.Principal{KeyID: "aud", Role: fiveid.RoleAuditor}, fiveid.AuditFilter{Action: fiveid.ActionCustomerSearched, Limit: 10})
			if err != nil || len(evs) != 3 {
				t.Fatalf("searches logged: %+v %v", evs, err)
			}
			if e := evs[0]; e.ActorKey != admin.KeyID || e.IDMasked != "110105********002X" || e.CustomerID != r1.CustomerID || e.Grade != "certain" ||
				e.Detail != "1 candidates" || e.Subject == "" || e.GrantID != "" {
				t.Errorf("first search's entry: %+v", e)
			}
			if e := evs[2]; e.CustomerID != "" || e.IDMasked != "" || e.Detail != "0 candidates" {
				t.Errorf("a search that found nobody: %+v", e)
			}
		})
	}
}
