package fiveid_test

import (
	"errors"
	"testing"

	"fiveid"
	"fiveid/match"
)

// TestPatientVisibility pins down who sees a golden record's demographics:
// an admin always, a system only when it holds one of the customer's
// records; others get not_found, and a merged ID answers with the survivor
// under the same rule.
func TestPatientVisibility(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			p := setup(t, svc, "pa", "pb", "pc")
			a, err := svc.Register(ctx, p["pa"], "A1", zhang)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Register(ctx, p["pb"], "B1", zhang); err != nil {
				t.Fatal(err)
			}
			for _, who := range []fiveid.Principal{admin, p["pa"], p["pb"]} {
				v, err := svc.Patient(ctx, who, a.CustomerID)
				if err != nil {
					t.Fatalf("%s: %v", who.System, err)
				}
				if v.Customer.ID != a.CustomerID || len(v.Records) != 2 {
					t.Errorf("%s: got customer %s with %d records, want %s with 2", who.System, v.Customer.ID, len(v.Records), a.CustomerID)
				}
			}
			if _, err := svc.Patient(ctx, p["pc"], a.CustomerID); !errors.Is(err, fiveid.ErrNotFound) {
				t.Errorf("a system without a record of the customer: got %v, want ErrNotFound", err)
			}
			if _, err := svc.Patient(ctx, fiveid.Principal{KeyID: "au", Role: fiveid.RoleAuditor}, a.CustomerID); !errors.Is(err, fiveid.ErrDenied) {
				t.Errorf("an auditor: got %v, want ErrDenied", err)
			}
			// A second customer merged into the first: its ID redirects.
			other, err := svc.Register(ctx, p["pc"], "C1", match.Input{Name: "李娜", Sex: "女", BirthDate: "1980-02-03"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CommitMerge(ctx, admin, other.CustomerID, a.CustomerID, fiveid.MergeOptions{}); err != nil {
				t.Fatal(err)
			}
			v, err := svc.Patient(ctx, p["pc"], other.CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			if v.Customer.ID != a.CustomerID || len(v.MergedFrom) != 1 || v.MergedFrom[0] != other.CustomerID {
				t.Errorf("merged ID: got %s from %v, want %s from [%s]", v.Customer.ID, v.MergedFrom, a.CustomerID, other.CustomerID)
			}
			for code, want := range map[string]bool{"pa": true, "nope": false, "bad code!": false} {
				if got, err := svc.SystemExists(ctx, p["pb"], code); err != nil || got != want {
					t.Errorf("SystemExists(%q) = %v, %v; want %v", code, got, err, want)
				}
			}
		})
	}
}
