package fiveid_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fiveid"
	"fiveid/match"
)

// twoPeople registers two women of the same name and birth date under two
// different checksum-valid citizen numbers (two people: they stay apart)
// and returns their customers and numbers.
func twoPeople(t *testing.T, svc *fiveid.Service, p fiveid.Principal, name, birth string) (c1, c2, n1, n2 string) {
	t.Helper()
	d := strings.ReplaceAll(birth, "-", "")
	n1, n2 = citizen("110105"+d+"002"), citizen("440524"+d+"004")
	r1, err := svc.Register(t.Context(), p, name+"-1", match.Input{Name: name, Sex: "女", BirthDate: birth, IDType: "01", IDNumber: n1})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := svc.Register(t.Context(), p, name+"-2", match.Input{Name: name, Sex: "女", BirthDate: birth, IDType: "01", IDNumber: n2})
	if err != nil {
		t.Fatal(err)
	}
	if r1.CustomerID == r2.CustomerID {
		t.Fatalf("setup: two citizen numbers linked as one person: %+v", r2.Decision)
	}
	return r1.CustomerID, r2.CustomerID, n1, n2
}

// Reproduction (issue 11, item 3): merging customers holding different
// valid citizen numbers is refused with the conflicting records named,
// changing nothing — directly and through a review task, which stays
// open — and goes through only on an override with a reason, which the
// merge and both histories keep.
func TestMergeRefusesConflictingIdentifiers(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		svc := ss.svc
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			state := func(ids ...string) []fiveid.CustomerView {
				var out []fiveid.CustomerView
				for _, id := range ids {
					v, err := svc.Customer(ctx, admin, id)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
				return out
			}
			historyLen := func(id string) int {
				h, err := svc.History(ctx, admin, id)
				if err != nil {
					t.Fatal(err)
				}
				return len(h)
			}
			refused := func(err error, fromNumber, intoNumber string) {
				t.Helper()
				var ic *fiveid.IdentifierConflictError
				if !errors.Is(err, fiveid.ErrIdentifierConflict) || !errors.As(err, &ic) || len(ic.Conflicts) != 1 {
					t.Fatalf("merge of two citizen numbers: %v, want ErrIdentifierConflict naming one pair", err)
				}
				c := ic.Conflicts[0]
				if c.A.MaskedID != match.MaskID(fromNumber) || c.B.MaskedID != match.MaskID(intoNumber) || c.A.LocalID == "" || c.B.LocalID == "" || c.Namespace == "" {
					t.Errorf("conflict %+v, want from's record then into's, masked", c)
				}
				if strings.Contains(err.Error(), fromNumber) || strings.Contains(err.Error(), intoNumber) {
					t.Errorf("the error shows a raw number: %v", err)
				}
			}

			// Directly.
			c1, c2, n1, n2 := twoPeople(t, svc, p["a"], "王秀英", "1950-03-08")
			plan, err := svc.PreviewMerge(ctx, admin, c2, c1)
			if err != nil || len(plan.Conflicts) != 1 || plan.Conflicts[0].A.MaskedID != match.MaskID(n2) {
				t.Fatalf("preview: %+v %v, want one conflict", plan.Conflicts, err)
			}
			before, h1, h2 := state(c1, c2), historyLen(c1), historyLen(c2)
			_, err = svc.CommitMerge(ctx, admin, c2, c1, fiveid.MergeOptions{})
			refused(err, n2, n1)
			var ve *fiveid.ValidationError
			if _, err := svc.CommitMerge(ctx, admin, c2, c1, fiveid.MergeOptions{Override: true, Reason: "  "}); !errors.As(err, &ve) || ve.Problems[0].Field != "reason" {
				t.Fatalf("override without a reason: %v", err)
			}
			if _, err := svc.CommitMerge(ctx, admin, c2, c1, fiveid.MergeOptions{Override: true, Reason: strings.Repeat("因", fiveid.MaxReasonLength+1)}); !errors.As(err, &ve) || ve.Problems[0].Field != "reason" {
				t.Fatalf("an overlong reason: %v", err)
			}
			if d := cmp.Diff(before, state(c1, c2)); d != "" || historyLen(c1) != h1 || historyLen(c2) != h2 {
				t.Fatalf("a refused merge changed something (-before +after):\n%s", d)
			}
			const reason = "同一人：户籍迁移后换发新号，经本人身份证原件核实"
			m, err := svc.CommitMerge(ctx, admin, c2, c1, fiveid.MergeOptions{Override: true, Reason: reason})
			if err != nil || !m.Override || m.Reason != reason {
				t.Fatalf("override: %+v %v", m, err)
			}
			if stored, err := ss.st.Merge(ctx, m.ID); err != nil || !stored.Override || stored.Reason != reason {
				t.Fatalf("stored merge: %+v %v", stored, err)
			}
			for _, id := range []string{c1, c2} {
				keptOverride(t, ss.st, id, m.ID, reason)
			}

			// Through a review task: refused, the task stays open.
			c3, c4, n3, n4 := twoPeople(t, svc, p["a"], "李桂兰", "1962-09-27")
			task, err := ss.st.OpenReviewTask(ctx, c4, c3)
			if errors.Is(err, fiveid.ErrNotFound) {
				now := time.Now().UTC().Truncate(time.Microsecond)
				task = fiveid.ReviewTask{ID: "R-conflict", Status: fiveid.ReviewOpen, Reason: "duplicate_scan", CustomerID: c4, CandidateID: c3,
					System: "a", LocalID: "李桂兰-2", Version: 1, CreatedAt: now, UpdatedAt: now}
				err = ss.st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.InsertReviewTask(ctx, task) })
			}
			if err != nil {
				t.Fatal(err)
			}
			from, into := task.CustomerID, task.CandidateID
			fromN, intoN := n4, n3
			if from == c3 {
				fromN, intoN = n3, n4
			}
			before = state(c3, c4)
			_, err = svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveMerge})
			refused(err, fromN, intoN)
			if _, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveMerge, Merge: fiveid.MergeOptions{Override: true}}); !errors.As(err, &ve) || ve.Problems[0].Field != "reason" {
				t.Fatalf("resolve with an override without a reason: %v", err)
			}
			if got, err := svc.ReviewTask(ctx, admin, task.ID); err != nil || got.Status != fiveid.ReviewOpen || got.Version != task.Version {
				t.Fatalf("a refused merge resolved its task: %+v %v", got, err)
			}
			if d := cmp.Diff(before, state(c3, c4)); d != "" {
				t.Fatalf("a refused resolution changed something (-before +after):\n%s", d)
			}
			got, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveMerge, Merge: fiveid.MergeOptions{Override: true, Reason: reason}})
			if err != nil || got.Status != fiveid.ReviewResolved || got.Resolution != fiveid.ResolveMerge {
				t.Fatalf("resolve with an override: %+v %v", got, err)
			}
			if v, err := svc.Customer(ctx, admin, from); err != nil || v.Customer.ID != into {
				t.Fatalf("the task's customer was not merged into its candidate: %+v %v", v.Customer, err)
			}
			keptOverride(t, ss.st, into, "", reason)
		})
	}
}

// keptOverride checks that a customer's last history entry is a merge
// (mergeID, when given) with its override and reason in after — and the
// reason, free text, not in the detail webhooks deliver.
func keptOverride(t *testing.T, st interface {
	History(context.Context, string, int) ([]fiveid.Change, error)
}, customerID, mergeID, reason string) {
	t.Helper()
	h, err := st.History(t.Context(), customerID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	last := h[len(h)-1]
	var after struct {
		ID    string
		Merge struct {
			ID       string `json:"id"`
			Override bool   `json:"override"`
			Reason   string `json:"reason"`
		} `json:"merge"`
	}
	if err := json.Unmarshal([]byte(last.After), &after); err != nil {
		t.Fatal(err)
	}
	if last.Kind != fiveid.ChangeMerged || after.ID != customerID || (mergeID != "" && after.Merge.ID != mergeID) || !after.Merge.Override || after.Merge.Reason != reason {
		t.Errorf("history of %s does not keep the override: %+v", customerID, last)
	}
	if strings.Contains(last.Detail, reason) || !strings.Contains(last.Detail, "overridden") {
		t.Errorf("detail %q: want the override named, the reason left out (webhooks deliver it)", last.Detail)
	}
}

// Reproduction (issue 11, item 4): merge P2 into C, record C's death,
// unmerge: C is still deceased, both versions only grew, and the history
// shows the real before and after. A death the merge copied from P2 goes
// back with P2, unless the survivor's death was recorded again since.
func TestUnmergeKeepsALaterDeath(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		svc := ss.svc
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			row := func(id string) fiveid.Customer {
				t.Helper()
				c, err := ss.st.Customer(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			// pair registers C (with a citizen number) and P2 (the same
			// name, a day off, no number): two customers.
			pair := func(nameC string, birth string) (c, p2 string) {
				t.Helper()
				d := strings.ReplaceAll(birth, "-", "")
				rc, err := svc.Register(ctx, p["a"], nameC, match.Input{Name: nameC, Sex: "女", BirthDate: birth, IDType: "01", IDNumber: citizen("110105" + d + "002")})
				if err != nil {
					t.Fatal(err)
				}
				rp, err := svc.Register(ctx, p["b"], nameC, match.Input{Name: nameC, Sex: "女", BirthDate: birth[:8] + "28"})
				if err != nil {
					t.Fatal(err)
				}
				if rc.CustomerID == rp.CustomerID {
					t.Fatal("setup: linked")
				}
				return rc.CustomerID, rp.CustomerID
			}
			grew := func(what string, before, after fiveid.Customer) {
				t.Helper()
				if after.Version <= before.Version {
					t.Errorf("%s: version %d -> %d, want it to grow", what, before.Version, after.Version)
				}
			}
			lastChange := func(id string) (fiveid.Change, fiveid.Customer, fiveid.Customer) {
				t.Helper()
				h, err := ss.st.History(ctx, id, 1000)
				if err != nil {
					t.Fatal(err)
				}
				ch := h[len(h)-1]
				b, err := fiveid.CustomerFromHistory(ch.Before)
				if err != nil {
					t.Fatal(err)
				}
				a, err := fiveid.CustomerFromHistory(ch.After)
				if err != nil {
					t.Fatal(err)
				}
				return ch, b, a
			}

			t.Run("death recorded on the survivor after the merge stays", func(t *testing.T) {
				c, p2 := pair("张淑珍", "1949-12-31")
				c0, p0 := row(c), row(p2)
				m, err := svc.CommitMerge(ctx, admin, p2, c, fiveid.MergeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				c1 := row(c)
				grew("merge", c0, c1)
				if _, err := svc.RecordDeath(ctx, admin, c, "2026-11-20", "fun-1"); err != nil {
					t.Fatal(err)
				}
				c2 := row(c)
				grew("death", c1, c2)
				if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
					t.Fatal(err)
				}
				c3, p3 := row(c), row(p2)
				grew("unmerge (C)", c2, c3)
				grew("unmerge (P2)", p0, p3)
				if c3.DeathDate != "2026-11-20" || c3.DeathSource != "fun-1" {
					t.Errorf("C after unmerge: death %q %q, want the death recorded after the merge", c3.DeathDate, c3.DeathSource)
				}
				if p3.Deceased() || p3.Status != fiveid.StatusActive {
					t.Errorf("P2 after unmerge: %+v", p3)
				}
				ch, before, after := lastChange(c)
				if ch.Kind != fiveid.ChangeUnmerged || before.DeathDate != "2026-11-20" || after.DeathDate != "2026-11-20" ||
					before.Version != c2.Version || after.Version != c3.Version || after.IDNumber != c0.IDNumber {
					t.Errorf("C's history entry: %s %+v -> %+v", ch.Kind, before, after)
				}
			})

			t.Run("a death the merge copied goes back", func(t *testing.T) {
				c, p2 := pair("刘玉梅", "1951-04-02")
				if _, err := svc.RecordDeath(ctx, admin, p2, "2025-01-02", "fun-2"); err != nil {
					t.Fatal(err)
				}
				m, err := svc.CommitMerge(ctx, admin, p2, c, fiveid.MergeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if got := row(c); got.DeathDate != "2025-01-02" {
					t.Fatalf("the merge did not copy the death: %+v", got)
				}
				if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
					t.Fatal(err)
				}
				if got := row(c); got.Deceased() {
					t.Errorf("C keeps P2's death after the unmerge: %q", got.DeathDate)
				}
				if got := row(p2); got.DeathDate != "2025-01-02" || got.DeathSource != "fun-2" {
					t.Errorf("P2 lost its death: %+v", got)
				}
				if _, _, after := lastChange(c); after.Deceased() {
					t.Errorf("C's history shows a death after the unmerge: %+v", after)
				}
			})

			t.Run("a copied death recorded again on the survivor stays", func(t *testing.T) {
				c, p2 := pair("陈凤英", "1952-05-03")
				if _, err := svc.RecordDeath(ctx, admin, p2, "2025-01-02", "fun-2"); err != nil {
					t.Fatal(err)
				}
				m, err := svc.CommitMerge(ctx, admin, p2, c, fiveid.MergeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.RecordDeath(ctx, admin, c, "2025-01-03", "fun-3"); err != nil {
					t.Fatal(err)
				}
				if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
					t.Fatal(err)
				}
				if got := row(c); got.DeathDate != "2025-01-03" || got.DeathSource != "fun-3" {
					t.Errorf("C: %+v, want the death recorded after the merge", got)
				}
				if got := row(p2); got.DeathDate != "2025-01-02" {
					t.Errorf("P2: %+v", got)
				}
			})
		})
	}
}

// Unmerge returns the moved records as they are now (a record re-registered
// after the merge keeps its new values), and leaves a record a steward
// moved since, and a record that joined the survivor later, where they are.
func TestUnmergeReturnsMovedRecordsAsTheyAreNow(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		svc := ss.svc
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			nc := citizen("11010519600520004")
			inC := match.Input{Name: "黄玉兰", Sex: "女", BirthDate: "1960-05-20", IDType: "01", IDNumber: nc}
			rc, err := svc.Register(ctx, p["a"], "c-1", inC)
			if err != nil {
				t.Fatal(err)
			}
			c := rc.CustomerID
			inP := match.Input{Name: "周淑英", Sex: "女", BirthDate: "1970-07-07"}
			rp, err := svc.Register(ctx, p["b"], "p-1", inP)
			if err != nil {
				t.Fatal(err)
			}
			p2 := rp.CustomerID
			for _, local := range []string{"p-2", "p-3", "p-4"} {
				if _, err := svc.Register(ctx, p["b"], local, inP); err != nil {
					t.Fatal(err)
				}
				if x, _ := svc.Xref(ctx, p["b"], "b", local); x.CustomerID != p2 {
					t.Fatalf("setup: %s is on %s, not %s", local, x.CustomerID, p2)
				}
			}
			m, err := svc.CommitMerge(ctx, admin, p2, c, fiveid.MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// After the merge: p-1 re-registered with new values (stays: a
			// merge's link is manual); p-2 unlinked by a steward; p-3 linked
			// to C by a steward (a decision of its own); p-4 unlinked, and
			// its new customer merged into C; a new record joins C.
			newP := match.Input{Name: "周淑瑛", Sex: "女", BirthDate: "1970-07-08"}
			if r, err := svc.Register(ctx, p["b"], "p-1", newP); err != nil || r.CustomerID != c {
				t.Fatalf("re-register p-1: %+v %v", r, err)
			}
			reregistered, _ := ss.st.SourceRecord(ctx, "b", "p-1")
			elsewhere, err := svc.Unlink(ctx, admin, "b", "p-2")
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.Link(ctx, admin, "b", "p-3", c); err != nil {
				t.Fatal(err)
			}
			n4, err := svc.Unlink(ctx, admin, "b", "p-4")
			if err != nil {
				t.Fatal(err)
			}
			m4, err := svc.CommitMerge(ctx, admin, n4, c, fiveid.MergeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r, err := svc.Register(ctx, p["b"], "c-2", inC); err != nil || r.CustomerID != c {
				t.Fatalf("a later record of C: %+v %v", r, err)
			}
			if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
				t.Fatal(err)
			}
			where := map[string]string{"a/c-1": c, "b/c-2": c, "b/p-1": p2, "b/p-2": elsewhere, "b/p-3": c, "b/p-4": c}
			for k, want := range where {
				sys, local, _ := strings.Cut(k, "/")
				got, err := ss.st.SourceRecord(ctx, sys, local)
				if err != nil || got.CustomerID != want {
					t.Errorf("%s is on %s, want %s (%v)", k, got.CustomerID, want, err)
				}
			}
			back, _ := ss.st.SourceRecord(ctx, "b", "p-1")
			if back.Raw != newP || back.Version != reregistered.Version+1 || back.Link.Merge != "" || back.Link.Manual {
				t.Errorf("p-1 came back as %+v, want its values of now, version %d, its former (automatic) link", back, reregistered.Version+1)
			}
			pc, _ := ss.st.Customer(ctx, p2)
			if pc.Status != fiveid.StatusActive || pc.Name != newP.Name || pc.BirthDate != newP.BirthDate {
				t.Errorf("P2's golden record is not recomputed from its records: %+v", pc)
			}
			cc, _ := ss.st.Customer(ctx, c)
			if cc.IDNumber != nc {
				t.Errorf("C's golden record: %+v", cc)
			}
			if nd, err := ss.st.NotDuplicate(ctx, c, p2); !nd || err != nil {
				t.Errorf("the pair is not remembered as two people: %v %v", nd, err)
			}
			// The later merge undoes on its own.
			if _, err := svc.Unmerge(ctx, admin, m4.ID); err != nil {
				t.Fatal(err)
			}
			if got, _ := ss.st.SourceRecord(ctx, "b", "p-4"); got.CustomerID != n4 {
				t.Errorf("p-4 is on %s after the second unmerge, want %s", got.CustomerID, n4)
			}
		})
	}
}

// Property: random merges interleaved with later work — deaths, new
// records that join a survivor, moved records re-registered with new
// values, a steward's links and unlinks — and random unmerges, with a
// fixed seed. After every step each record is on the customer the
// semantics say, with the values last registered and the link its last
// move gave it; customers' versions never go back (and grow on each merge
// and unmerge); deaths are where they were recorded; an unmerge is
// refused exactly when the model says so.
func TestUnmergeUndoesOnlyTheMerge(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		svc, st := ss.svc, ss.st
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			ps := setup(t, svc, "a", "b")
			rnd := rand.New(rand.NewPCG(12, 2026))

			type rec struct {
				customer, merge string // where it is; the merge that put it there
				manual          bool
				raw             match.Input
			}
			type prior struct {
				merge  string
				manual bool
			}
			type mrg struct {
				id, from, into string
				moved          map[string]prior // record -> its link before the merge
				copied         string           // the death the merge copied onto into
				done           bool
			}
			recs := map[string]*rec{} // "system/local_id"
			var keys []string         // recs' keys in creation order (deterministic picks)
			death := map[string]string{}
			version := map[string]int64{}
			var merges []*mrg
			stats := map[string]int{}

			system := func(k string) (fiveid.Principal, string, string) {
				sys, local, _ := strings.Cut(k, "/")
				return ps[sys], sys, local
			}
			active := func() []string { // customers holding records, in a stable order
				var out []string
				for _, k := range keys {
					if c := recs[k].customer; !slices.Contains(out, c) {
						out = append(out, c)
					}
				}
				return out
			}
			recordsOf := func(c string) []string {
				var out []string
				for _, k := range keys {
					if recs[k].customer == c {
						out = append(out, k)
					}
				}
				return out
			}
			pick := func(xs []string) string { return xs[rnd.IntN(len(xs))] }
			register := func(k string, in match.Input) fiveid.RegisterResult {
				t.Helper()
				p, _, local := system(k)
				r, err := svc.Register(ctx, p, local, in)
				if err != nil {
					t.Fatalf("register %s: %v", k, err)
				}
				return r
			}
			row := func(c string) fiveid.Customer {
				t.Helper()
				cu, err := st.Customer(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				return cu
			}
			check := func(step int, op string, grown ...string) {
				t.Helper()
				for _, k := range keys {
					want := recs[k]
					_, sys, local := system(k)
					got, err := st.SourceRecord(ctx, sys, local)
					if err != nil {
						t.Fatal(err)
					}
					if got.CustomerID != want.customer || got.Raw != want.raw || got.Link.Merge != want.merge || got.Link.Manual != want.manual {
						t.Fatalf("step %d (%s): %s is on %s (merge %q, manual %v, %+v), want %s (merge %q, manual %v, %+v)", step, op, k,
							got.CustomerID, got.Link.Merge, got.Link.Manual, got.Raw, want.customer, want.merge, want.manual, want.raw)
					}
				}
				for _, c := range active() {
					cu := row(c)
					if cu.Status != fiveid.StatusActive || cu.DeathDate != death[c] {
						t.Fatalf("step %d (%s): customer %s is %s with death %q, want active with death %q", step, op, c, cu.Status, cu.DeathDate, death[c])
					}
				}
				for c, v := range version {
					cu := row(c)
					if cu.Version < v || (slices.Contains(grown, c) && cu.Version == v) {
						t.Fatalf("step %d (%s): customer %s version %d -> %d", step, op, c, v, cu.Version)
					}
					version[c] = cu.Version
				}
				for _, c := range active() {
					if _, ok := version[c]; !ok {
						version[c] = row(c).Version
					}
				}
			}

			// Twelve women, half of them with their own citizen number;
			// some have a second record in the other system.
			names := []string{"王秀英", "李桂兰", "张淑珍", "刘玉梅", "陈凤英", "杨秀兰", "赵桂英", "黄玉兰", "周淑英", "吴秀珍", "徐桂珍", "孙玉珍"}
			var people []match.Input
			for i, n := range names {
				birth := time.Date(1935+3*i, time.Month(1+i%12), 1+2*i, 0, 0, 0, 0, time.UTC)
				num := citizen([]string{"110105", "440524", "310101"}[i%3] + birth.Format("20060102") + fmt.Sprintf("%03d", 2*(i+1)))
				in := match.Input{Name: n, Sex: "女", BirthDate: birth.Format("2006-01-02"), IDType: "01", IDNumber: num}
				if i%2 == 1 { // half of them known without a number: their merges need no override
					in.IDType, in.IDNumber = "", ""
				}
				people = append(people, in)
			}
			next := 0
			newKey := func() string {
				next++
				return fmt.Sprintf("%s/L%d", []string{"a", "b"}[rnd.IntN(2)], next)
			}
			add := func(in match.Input) string {
				k := newKey()
				r := register(k, in)
				recs[k] = &rec{customer: r.CustomerID, raw: in}
				keys = append(keys, k)
				return k
			}
			for _, in := range people {
				add(in)
				if rnd.IntN(2) == 0 {
					add(in)
				}
			}
			check(0, "setup")
			dates := []string{"2025-01-02", "2025-06-30", "2026-11-20"}

			for step := 1; step <= 150; step++ {
				customers := active()
				switch n := rnd.IntN(100); {
				case n < 25 && len(customers) >= 2: // merge
					from := pick(customers)
					into := pick(customers)
					if from == into {
						continue
					}
					conflict := false
					for _, a := range recordsOf(from) {
						for _, b := range recordsOf(into) {
							na, nb := recs[a].raw.IDNumber, recs[b].raw.IDNumber
							conflict = conflict || (na != "" && nb != "" && na != nb)
						}
					}
					var m fiveid.Merge
					if rnd.IntN(3) == 0 {
						var err error
						m, err = svc.CommitMerge(ctx, admin, from, into, fiveid.MergeOptions{})
						if conflict != errors.Is(err, fiveid.ErrIdentifierConflict) || (!conflict && err != nil) {
							t.Fatalf("step %d: merge without override: %v, want a conflict: %v", step, err, conflict)
						}
						if conflict {
							stats["merge refused"]++
							check(step, "refused merge")
						}
					}
					if m.ID == "" {
						var err error
						m, err = svc.CommitMerge(ctx, admin, from, into, fiveid.MergeOptions{Override: true, Reason: fmt.Sprintf("step %d", step)})
						if err != nil || m.Override != conflict {
							t.Fatalf("step %d: merge with an override: %+v %v, want override %v", step, m, err, conflict)
						}
					}
					mm := &mrg{id: m.ID, from: from, into: into, moved: map[string]prior{}}
					for _, k := range recordsOf(from) {
						r := recs[k]
						mm.moved[k] = prior{r.merge, r.manual}
						r.customer, r.merge, r.manual = into, m.ID, true
					}
					if death[into] == "" && death[from] != "" {
						death[into], mm.copied = death[from], death[from]
					}
					merges = append(merges, mm)
					stats["merge"]++
					check(step, "merge", from, into)
				case n < 35: // death
					c := pick(customers)
					d := pick(dates)
					if _, err := svc.RecordDeath(ctx, admin, c, d, "admin"); err != nil {
						t.Fatal(err)
					}
					death[c] = d
					stats["death"]++
					check(step, "death", c)
				case n < 45: // a new record of someone a customer holds (often a survivor)
					var onSurvivor []string
					for _, m := range merges {
						if !m.done {
							onSurvivor = append(onSurvivor, recordsOf(m.into)...)
						}
					}
					if len(onSurvivor) == 0 {
						onSurvivor = keys
					}
					k := add(recs[pick(onSurvivor)].raw)
					stats["new record"]++
					for _, m := range merges {
						if !m.done && recs[k].customer == m.into {
							stats["new record on a survivor"]++
							break
						}
					}
					check(step, "new record")
				case n < 60: // a record a merge or a steward moved is registered again with new values: it stays
					var manual []string
					for _, k := range keys {
						if recs[k].manual {
							manual = append(manual, k)
						}
					}
					if len(manual) == 0 {
						continue
					}
					k := pick(manual)
					in := recs[k].raw
					in.Name = names[rnd.IntN(len(names))] // a steward's typo, fixed at the source
					if in == recs[k].raw {
						continue
					}
					if r := register(k, in); r.CustomerID != recs[k].customer || !r.Manual {
						t.Fatalf("step %d: a manual record moved on re-registration: %+v", step, r)
					}
					recs[k].raw = in
					stats["re-register"]++
					check(step, "re-register")
				case n < 72: // a steward links a record to a customer
					k := pick(keys)
					to := pick(customers)
					// Often a record a standing merge moved, linked by hand
					// to where the merge put it: a decision of its own.
					var moved []string
					for _, k := range keys {
						if recs[k].merge != "" {
							moved = append(moved, k)
						}
					}
					if len(moved) > 0 && rnd.IntN(4) == 0 {
						k = pick(moved)
						to = recs[k].customer
					}
					_, sys, local := system(k)
					if err := svc.Link(ctx, admin, sys, local, to); err != nil {
						t.Fatalf("step %d: link: %v", step, err)
					}
					recs[k].customer, recs[k].merge, recs[k].manual = to, "", true
					stats["link"]++
					check(step, "link")
				case n < 77: // a steward unlinks a record
					k := pick(keys)
					_, sys, local := system(k)
					id, err := svc.Unlink(ctx, admin, sys, local)
					if err != nil {
						t.Fatalf("step %d: unlink: %v", step, err)
					}
					recs[k].customer, recs[k].merge, recs[k].manual = id, "", true
					stats["unlink"]++
					check(step, "unlink")
				default: // unmerge
					var open []*mrg
					for _, m := range merges {
						if !m.done {
							open = append(open, m)
						}
					}
					if len(open) == 0 {
						continue
					}
					m := open[rnd.IntN(len(open))]
					var back []string
					for _, k := range keys {
						if _, moved := m.moved[k]; moved && recs[k].customer == m.into && recs[k].merge == m.id {
							back = append(back, k)
						}
					}
					refuse := len(recordsOf(m.into)) == 0 || len(back) == 0 || len(back) == len(recordsOf(m.into))
					_, err := svc.Unmerge(ctx, admin, m.id)
					if refuse {
						if !errors.Is(err, fiveid.ErrConflict) {
							t.Fatalf("step %d: unmerge %s: %v, want it refused", step, m.id, err)
						}
						stats["unmerge refused"]++
						check(step, "refused unmerge")
						continue
					}
					if err != nil {
						t.Fatalf("step %d: unmerge %s: %v", step, m.id, err)
					}
					for _, k := range back {
						recs[k].customer, recs[k].merge, recs[k].manual = m.from, m.moved[k].merge, m.moved[k].manual
					}
					if m.copied != "" && death[m.into] == m.copied {
						death[m.into] = ""
					}
					m.done = true
					stats["unmerge"]++
					check(step, "unmerge", m.from, m.into)
					// Golden values come from each side's own records, and
					// the history shows the state before and after.
					for _, c := range []string{m.from, m.into} {
						cu := row(c)
						held := false
						for _, k := range recordsOf(c) {
							held = held || recs[k].raw.IDNumber == cu.IDNumber
						}
						if !held {
							t.Fatalf("step %d: %s's golden number is none of its records'", step, c)
						}
						h, _ := st.History(ctx, c, 10_000)
						last := h[len(h)-1]
						after, err := fiveid.CustomerFromHistory(last.After)
						if last.Kind != fiveid.ChangeUnmerged || err != nil {
							t.Fatalf("step %d: %s's last change: %+v %v", step, c, last, err)
						}
						// History documents carry no timestamps: the entry's At is the time.
						if d := cmp.Diff(cu, after, cmpopts.IgnoreFields(fiveid.Customer{}, "CreatedAt", "UpdatedAt")); d != "" {
							t.Fatalf("step %d: %s's history entry is not its state (-now +history):\n%s", step, c, d)
						}
					}
					if nd, _ := st.NotDuplicate(ctx, m.from, m.into); !nd {
						t.Fatalf("step %d: the unmerged pair is not remembered", step)
					}
				}
			}
			t.Logf("operations: %v", stats)
			for _, op := range []string{"merge", "merge refused", "unmerge", "unmerge refused", "death", "new record on a survivor", "re-register", "link", "unlink"} {
				if stats[op] == 0 {
					t.Errorf("the seed never ran %s", op)
				}
			}
		})
	}
}

// A link or merge resolution of an ambiguous task picks its target among
// the tied customers with customer_id; any other customer is refused, and
// so are customer_id, override and reason where they do not apply.
func TestResolutionPicksAmongTheTiedCustomers(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			c1, c2, _, _ := twoPeople(t, svc, p["a"], "王秀英", "1950-03-08")
			tie := func(local string) fiveid.ReviewTask {
				t.Helper()
				r, err := svc.Register(ctx, p["b"], local, match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08"})
				if err != nil || r.ReviewTaskID == "" {
					t.Fatalf("a tie opens no review task: %+v %v", r, err)
				}
				task, err := svc.ReviewTask(ctx, admin, r.ReviewTaskID)
				if err != nil {
					t.Fatal(err)
				}
				if cands := task.Candidates(); !slices.Contains(cands, c1) || !slices.Contains(cands, c2) || cands[0] != task.CandidateID {
					t.Fatalf("candidates %v of task %+v", cands, task)
				}
				return task
			}
			other := func(task fiveid.ReviewTask) string {
				if task.CandidateID == c1 {
					return c2
				}
				return c1
			}
			var ve *fiveid.ValidationError
			task := tie("x")
			for _, bad := range []struct {
				r     fiveid.Resolution
				field string
			}{
				{fiveid.Resolution{Kind: fiveid.ResolveLink, CustomerID: task.CustomerID}, "customer_id"},
				{fiveid.Resolution{Kind: fiveid.ResolveLink, CustomerID: "C-nobody"}, "customer_id"},
				{fiveid.Resolution{Kind: fiveid.ResolveKeepSeparate, CustomerID: c1}, "customer_id"},
				{fiveid.Resolution{Kind: fiveid.ResolveLink, Merge: fiveid.MergeOptions{Override: true, Reason: "x"}}, "override"},
				{fiveid.Resolution{Kind: "approve"}, "resolution"},
			} {
				if _, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, bad.r); !errors.As(err, &ve) || ve.Problems[0].Field != bad.field {
					t.Errorf("resolve %+v: %v, want a problem with %s", bad.r, err, bad.field)
				}
			}
			to := other(task)
			if got, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveLink, CustomerID: to}); err != nil || got.Status != fiveid.ReviewResolved {
				t.Fatalf("link to the other tied customer: %+v %v", got, err)
			}
			if x, err := svc.Xref(ctx, p["b"], "b", "x"); err != nil || x.CustomerID != to {
				t.Fatalf("b/x is on %s, want %s (%v)", x.CustomerID, to, err)
			}

			task = tie("y")
			to = other(task)
			if got, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveMerge, CustomerID: to}); err != nil || got.Status != fiveid.ReviewResolved {
				t.Fatalf("merge into the other tied customer: %+v %v", got, err)
			}
			if v, err := svc.Customer(ctx, admin, task.CustomerID); err != nil || v.Customer.ID != to {
				t.Fatalf("the task's customer is now %s, want merged into %s (%v)", v.Customer.ID, to, err)
			}
		})
	}
}
