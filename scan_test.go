package fiveid_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
)

// The duplicate scan's one pass over the index decides exactly what the
// scan with a candidate query per record decided (ScanDuplicatesOneByOne,
// its code before): the same counts and the same review tasks — pairs,
// records, scores, explanations — opened in the same order. The
// population is noisy synthetic people registered across four systems,
// with a candidate limit small enough to cut candidate lists, pairs
// already open for review or declared not duplicates, records whose
// stored keys are not the current rules' and a record that no longer
// normalizes, local IDs short and long.
func TestScanMatchesOneByOne(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStoresWith(t, fiveid.Config{CandidateLimit: 4}) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, st := ss.svc, ss.st
			ps := map[string]fiveid.Principal{}
			for _, sys := range benchmarks.Systems {
				if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: sys.Code, Name: sys.Code, Kind: fiveid.KindMedical, IDTable: sys.Table}); err != nil {
					t.Fatal(err)
				}
				ps[sys.Code] = fiveid.Principal{KeyID: "k-" + sys.Code, Role: fiveid.RoleSystem, System: sys.Code}
			}
			ds := benchmarks.Synthetic(20261201, 150, benchmarks.Realistic)
			// Two thirds loaded as distinct customers (a legacy index that
			// kept a person's records apart: the duplicates the scan is
			// for), the rest registered with matching.
			load := map[string][]fiveid.RegisterItem{}
			for i, r := range ds.Records {
				if i%3 != 2 {
					if _, err := match.Normalize(r.Input, match.Options{}); err == nil {
						load[r.System] = append(load[r.System], fiveid.RegisterItem{LocalID: r.LocalID, Input: r.Input})
					}
					continue
				}
				local := r.LocalID
				if i%6 == 5 { // local IDs longer than the scan keeps inline
					local += "-from-another-era"
				}
				if _, err := svc.Register(ctx, ps[r.System], local, r.Input); err != nil && !errors.Is(err, fiveid.ErrInvalid) {
					t.Fatalf("register %s/%s: %v", r.System, r.LocalID, err)
				}
			}
			for sys, items := range load {
				if err := svc.LoadDistinct(ctx, admin, sys, items); err != nil {
					t.Fatal(err)
				}
			}
			// Some of registration's tasks declared not duplicates, some
			// closed, the rest left open.
			open, err := st.ListReviewTasks(ctx, fiveid.ReviewOpen, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			for i, task := range open {
				kind := []string{fiveid.ResolveNotDuplicate, fiveid.ResolveKeepSeparate, ""}[i%3]
				if kind == "" {
					continue
				}
				if _, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: kind}); err != nil {
					t.Fatal(err)
				}
			}
			// Every seventh record indexed under other rules: stored keys
			// a query no longer derives.
			recs, err := st.ScanSourceRecords(ctx, "", "", 10_000)
			if err != nil || len(recs) < 100 {
				t.Fatalf("records: %d %v", len(recs), err)
			}
			var stale []fiveid.RecordKeys
			for i := 0; i < len(recs); i += 7 {
				stale = append(stale, fiveid.RecordKeys{System: recs[i].System, LocalID: recs[i].LocalID, Version: recs[i].Version,
					Keys: []string{fiveid.KeyText(int64(1 + i%2))}})
			}
			// A record that no longer normalizes (an ID table this build
			// does not know), carrying another record's keys.
			bad := recs[1]
			var badKeys []string
			if err := st.EachBlockingKey(ctx, func(k int64, sys, local []byte) error {
				if string(sys) == bad.System && string(local) == bad.LocalID {
					badKeys = append(badKeys, fiveid.KeyText(k))
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			bad.LocalID, bad.CustomerID, bad.IDTable = "ZZ-invalid", recs[2].CustomerID, "retired-table"
			err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
				if _, _, err := tx.ReplaceBlockingKeys(ctx, stale); err != nil {
					return err
				}
				return tx.PutSourceRecord(ctx, bad, badKeys)
			})
			if err != nil {
				t.Fatal(err)
			}

			before, err := svc.ScanDuplicatesOneByOne(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			beforeTasks := scanTasks(t, st)
			if before.TasksOpened == 0 || before.TasksOpened != len(beforeTasks) || before.Pairs <= before.TasksOpened {
				t.Fatalf("the population gave the scan too little to do: %+v, %d tasks", before, len(beforeTasks))
			}
			// Close the first scan's tasks (keep separate: nothing else
			// changes), so that the second can open them again.
			for _, task := range beforeTasks {
				if _, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveKeepSeparate}); err != nil {
					t.Fatal(err)
				}
			}
			t.Logf("one by one: %+v", before)
			after, err := svc.ScanDuplicates(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			if after != before {
				t.Errorf("counts: one pass %+v, one by one %+v", after, before)
			}
			afterTasks := scanTasks(t, st)
			if diff := cmp.Diff(beforeTasks, afterTasks, cmpopts.IgnoreFields(fiveid.ReviewTask{}, "ID", "CreatedAt", "UpdatedAt"), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("tasks (-one by one +one pass):\n%s", diff)
			}
		})
	}
}

// scanTasks lists the open tasks the duplicate scan opened, in the order
// it opened them.
func scanTasks(t *testing.T, st interface {
	ListReviewTasks(ctx context.Context, status fiveid.ReviewStatus, limit int) ([]fiveid.ReviewTask, error)
}) []fiveid.ReviewTask {
	t.Helper()
	open, err := st.ListReviewTasks(t.Context(), fiveid.ReviewOpen, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	var out []fiveid.ReviewTask
	for i := len(open) - 1; i >= 0; i-- { // oldest first
		if open[i].Reason == "duplicate_scan" {
			out = append(out, open[i])
		}
	}
	return out
}
