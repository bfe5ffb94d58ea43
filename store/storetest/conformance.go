package storetest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"fiveid"
	"fiveid/match"
)

// Store is what the conformance suite exercises.
type Store interface {
	fiveid.Store
	fiveid.GrantStore
	fiveid.RecordScanner
	fiveid.StatisticsRefresher
	fiveid.IdempotencyStore
}

var t0 = time.Date(2026, 11, 22, 8, 0, 0, 123456000, time.UTC)

func update(t *testing.T, st Store, keys []string, fn func(tx fiveid.Tx) error) {
	t.Helper()
	if err := st.Update(t.Context(), keys, fn); err != nil {
		t.Fatal(err)
	}
}

func seed(t *testing.T, st Store) {
	t.Helper()
	update(t, st, nil, func(tx fiveid.Tx) error {
		for _, s := range []fiveid.System{
			{Code: "hosp", Name: "医院", Kind: fiveid.KindMedical, IDTable: match.IDTableWS364, CreatedAt: t0},
			{Code: "care", Name: "康养", Kind: fiveid.KindEldercare, CreatedAt: t0},
		} {
			if err := tx.CreateSystem(t.Context(), s); err != nil {
				return err
			}
		}
		for _, id := range []string{"C1", "C2", "C3"} {
			if err := tx.InsertCustomer(t.Context(), fiveid.Customer{ID: id, Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
		}
		return nil
	})
}

// tk is a test's blocking key named name: a key of the form the service
// derives (fiveid.KeyText).
func tk(name string) string {
	h := fnv.New64a()
	h.Write([]byte(name))
	return fiveid.KeyText(int64(h.Sum64() >> 1))
}

// Blocking keys in ascending order.
const (
	ka, kb, kc, kd, ke, kf = "000000000000000a", "000000000000000b", "000000000000000c", "000000000000000d", "000000000000000e", "000000000000000f"
	kNone                  = "0000000000000fff"
)

func record(system, local, customer, nameKey string) fiveid.SourceRecord {
	return fiveid.SourceRecord{
		System: system, LocalID: local, CustomerID: customer,
		Raw:     match.Input{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"},
		NameKey: nameKey, IDKey: "CN_RIC:11010519491231002X",
		// The store keeps features as text it does not read.
		Features: "features of " + system + "/" + local,
		Link: fiveid.Link{Grade: match.GradeCertain, Score: 31.5, Explanation: match.Explanation{
			Score: 31.5, Grade: match.GradeCertain, Version: "w1",
			Fields: []match.FieldScore{{Field: "id", Level: "equal", Weight: 20}}}},
		Version: 1, CreatedAt: t0, UpdatedAt: t0,
	}
}

// RunConformance runs the suite every Store implementation passes. open
// returns a fresh, empty store.
func RunConformance(t *testing.T, open func(t *testing.T) Store) {
	t.Run("systems and keys", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		got, err := st.System(ctx, "hosp")
		if err != nil {
			t.Fatal(err)
		}
		want := fiveid.System{Code: "hosp", Name: "医院", Kind: fiveid.KindMedical, IDTable: match.IDTableWS364, CreatedAt: t0}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("system (-want +got):\n%s", d)
		}
		if _, err := st.System(ctx, "nope"); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("missing system: %v", err)
		}
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.CreateSystem(ctx, fiveid.System{Code: "hosp", Name: "x", Kind: fiveid.KindOther, CreatedAt: t0})
		})
		if !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("duplicate system: %v", err)
		}
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.CreateSystem(ctx, fiveid.System{Code: "bad", Name: "x", Kind: "casino", CreatedAt: t0})
		})
		if !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("a kind outside the CHECK: %v", err)
		}
		k := fiveid.APIKey{ID: "k1", Hash: []byte{1, 2, 3}, Role: fiveid.RoleSystem, System: "hosp", Name: "his", CreatedAt: t0}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.CreateKey(ctx, k) })
		gotK, err := st.KeyByHash(ctx, []byte{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(k, gotK); d != "" {
			t.Errorf("key (-want +got):\n%s", d)
		}
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.CreateKey(ctx, fiveid.APIKey{ID: "k2", Hash: []byte{9}, Role: fiveid.RoleAdmin, System: "hosp", CreatedAt: t0})
		})
		if !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("an admin key bound to a system: %v", err)
		}
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.CreateKey(ctx, fiveid.APIKey{ID: "k3", Hash: []byte{1, 2, 3}, Role: fiveid.RoleAdmin, CreatedAt: t0})
		})
		if !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("a duplicate key hash: %v", err)
		}
		if n, err := st.CountActiveKeys(ctx, fiveid.RoleSystem); err != nil || n != 1 {
			t.Errorf("count: %d %v", n, err)
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.RevokeKey(ctx, "k1", t0.Add(time.Hour)) })
		if n, _ := st.CountActiveKeys(ctx, ""); n != 0 {
			t.Errorf("revoked key still counted")
		}
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.RevokeKey(ctx, "nope", t0) }); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("revoke a missing key: %v", err)
		}
		keys, _ := st.ListKeys(ctx)
		if len(keys) != 1 || keys[0].RevokedAt.IsZero() {
			t.Errorf("list keys: %+v", keys)
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSecret(ctx, "s", []byte("v")) })
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.PutSecret(ctx, "s", []byte("w")) }); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("a secret stored twice: %v", err)
		}
		if v, err := st.Secret(ctx, "s"); err != nil || string(v) != "v" {
			t.Errorf("secret: %q %v", v, err)
		}
	})

	t.Run("records, candidates and name statistics", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		r1 := record("hosp", "1", "C1", "张伟")
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1, []string{ka, kb, ka}) })
		got, err := st.SourceRecord(ctx, "hosp", "1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r1, got); d != "" {
			t.Errorf("record round trip (-want +got):\n%s", d)
		}
		update(t, st, nil, func(tx fiveid.Tx) error {
			if err := tx.PutSourceRecord(ctx, record("care", "9", "C2", "张伟"), []string{kb}); err != nil {
				return err
			}
			return tx.PutSourceRecord(ctx, record("care", "10", "C3", "李娜"), []string{kc})
		})
		c, err := st.Candidates(ctx, []string{kb, kNone}, 10)
		if err != nil || len(c) != 2 || c[0].LocalID != "9" || c[1].LocalID != "1" {
			t.Fatalf("candidates by k-b: %+v %v", c, err)
		}
		// A key of another form is refused: the 32 hex digits stored
		// before migration 0012, a number over 63 bits, upper case, others.
		for _, bad := range []string{"k-a", "0123456789abcdef0123456789abcdef", "8000000000000000", "000000000000000A", ""} {
			if _, err := st.Candidates(ctx, []string{bad}, 10); !errors.Is(err, fiveid.ErrInvalid) {
				t.Errorf("candidates by key %q: %v, want ErrInvalid", bad, err)
			}
			if _, err := st.KeyCandidates(ctx, []string{bad}, 10); !errors.Is(err, fiveid.ErrInvalid) {
				t.Errorf("key candidates by key %q: %v, want ErrInvalid", bad, err)
			}
			err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1, []string{ka, bad}) })
			if !errors.Is(err, fiveid.ErrInvalid) {
				t.Errorf("a record put with key %q: %v, want ErrInvalid", bad, err)
			}
		}
		// A candidate carries what matching reads, its features included,
		// and not its link.
		if want := record("care", "9", "C2", "张伟"); c[0].Features != want.Features || c[0].Raw != want.Raw || c[0].CustomerID != "C2" ||
			c[0].IDTable != want.IDTable || c[0].NameKey != want.NameKey || c[0].IDKey != want.IDKey || c[0].Link.Explanation.Version != "" {
			t.Errorf("candidate care/9: %+v, want the record's matching fields", c[0])
		}
		if c, _ := st.Candidates(ctx, []string{ka, kb, kc}, 2); len(c) != 2 {
			t.Errorf("candidate limit: %d", len(c))
		}
		// The blocking-key index in key order, in one stream; an error of
		// the callback ends it, and the store serves on.
		var entries [][3]string
		if err := st.EachBlockingKey(ctx, func(k int64, sys, local []byte) error {
			entries = append(entries, [3]string{fiveid.KeyText(k), string(sys), string(local)})
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		want := [][3]string{{ka, "hosp", "1"}, {kb, "care", "9"}, {kb, "hosp", "1"}, {kc, "care", "10"}}
		if d := cmp.Diff(want, entries); d != "" {
			t.Errorf("blocking-key index (-want +got):\n%s", d)
		}
		stop := errors.New("stop")
		n := 0
		if err := st.EachBlockingKey(ctx, func(_ int64, _, _ []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("a callback's error: %v after %d entries, want it returned as it is after 1", err, n)
		}
		if n, total, err := st.NameFrequency(ctx, "张伟"); n != 2 || total != 3 || err != nil {
			t.Errorf("name frequency: %d/%d %v", n, total, err)
		}
		// Renaming and re-keying a record keeps statistics exact and drops old keys.
		r1b := r1
		r1b.NameKey, r1b.Version = "张卫", 2
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1b, []string{kd}) })
		if n, total, _ := st.NameFrequency(ctx, "张伟"); n != 1 || total != 3 {
			t.Errorf("after rename: %d/%d", n, total)
		}
		if c, _ := st.Candidates(ctx, []string{ka}, 10); len(c) != 0 {
			t.Errorf("old blocking key still finds the record: %+v", c)
		}
		// Keys kept, dropped and added at once (duplicates in the list
		// are one key).
		r1c := r1b
		r1c.Version = 3
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1c, []string{kd, ke, kd}) })
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1c, []string{ke, kf}) })
		for k, want := range map[string]int{kd: 0, ke: 1, kf: 1} {
			if c, err := st.Candidates(ctx, []string{k}, 10); err != nil || len(c) != want {
				t.Errorf("after re-keying, %s finds %d records, want %d (%v)", k, len(c), want, err)
			}
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r1c, []string{kd}) })
		// A customer merges (the service moves its records first).
		update(t, st, nil, func(tx fiveid.Tx) error {
			cu, err := tx.Customer(ctx, "C2")
			if err != nil {
				return err
			}
			cu.Status, cu.MergedInto, cu.Version = fiveid.StatusMerged, "C1", 2
			return tx.UpdateCustomer(ctx, cu)
		})
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			cu, _ := tx.Customer(ctx, "C3")
			cu.Status = fiveid.StatusMerged // without merged_into
			return tx.UpdateCustomer(ctx, cu)
		})
		if !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("merged without a survivor: %v", err)
		}
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error {
			return tx.PutSourceRecord(ctx, record("hosp", "2", "C-missing", "x"), nil)
		}); !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("a record of a missing customer: %v", err)
		}
		recs, err := st.CustomerRecords(ctx, "C2")
		if err != nil || len(recs) != 1 {
			t.Errorf("customer records: %+v %v", recs, err)
		}
		page, err := st.ScanSourceRecords(ctx, "", "", 2)
		if err != nil || len(page) != 2 || page[0].System != "care" || page[0].LocalID != "10" {
			t.Fatalf("scan page 1: %+v %v", page, err)
		}
		page, _ = st.ScanSourceRecords(ctx, page[1].System, page[1].LocalID, 2)
		if len(page) != 1 || page[0].System != "hosp" {
			t.Errorf("scan page 2: %+v", page)
		}
		// The same records in one stream, with what matching reads.
		var streamed []fiveid.SourceRecord
		if err := st.EachSourceRecord(ctx, func(r fiveid.SourceRecord) error { streamed = append(streamed, r); return nil }); err != nil {
			t.Fatal(err)
		}
		var paged []fiveid.SourceRecord
		for _, k := range [][2]string{{"care", "10"}, {"care", "9"}, {"hosp", "1"}} {
			r, err := st.SourceRecord(ctx, k[0], k[1])
			if err != nil {
				t.Fatal(err)
			}
			r.Link, r.CreatedAt, r.UpdatedAt = fiveid.Link{}, time.Time{}, time.Time{}
			paged = append(paged, r)
		}
		if d := cmp.Diff(paged, streamed); d != "" {
			t.Errorf("streamed records (-want +got):\n%s", d)
		}
		n = 0
		if err := st.EachSourceRecord(ctx, func(fiveid.SourceRecord) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Errorf("a callback's error: %v after %d records, want it returned as it is after 1", err, n)
		}
		// Records with the keys they carry, a page at a time: the
		// smallest and largest keys, and none.
		odd := []string{"0000000000000000", "7fffffffffffffff", "0123456789abcdef"}
		update(t, st, nil, func(tx fiveid.Tx) error {
			if err := tx.PutSourceRecord(ctx, record("hosp", "3", "C1", "x"), odd); err != nil {
				return err
			}
			return tx.PutSourceRecord(ctx, record("hosp", "4", "C1", "y"), nil)
		})
		var keyed []fiveid.KeyedRecord
		for after := [2]string{}; ; {
			page, err := st.ScanKeyedRecords(ctx, after[0], after[1], 2)
			if err != nil {
				t.Fatal(err)
			}
			keyed = append(keyed, page...)
			if len(page) < 2 {
				break
			}
			after = [2]string{page[1].System, page[1].LocalID}
		}
		gotKeys := map[string][]string{}
		for i, r := range keyed {
			slices.Sort(r.Keys)
			gotKeys[r.System+"/"+r.LocalID] = r.Keys
			if i < len(streamed) {
				r.Keys = nil
				if d := cmp.Diff(streamed[i], r.SourceRecord); d != "" {
					t.Errorf("keyed record %d (-want +got):\n%s", i, d)
				}
			}
		}
		slices.Sort(odd)
		wantKeys := map[string][]string{"care/10": {kc}, "care/9": {kb}, "hosp/1": {kd}, "hosp/3": odd, "hosp/4": nil}
		if d := cmp.Diff(wantKeys, gotKeys, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("keyed records' keys (-want +got):\n%s", d)
		}
	})

	t.Run("bulk insert", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		var cs []fiveid.Customer
		var rs []fiveid.SourceRecord
		var ks [][]string
		for i := range 900 { // more than one multi-row chunk
			id := fmt.Sprintf("B%04d", i)
			cs = append(cs, fiveid.Customer{ID: id, Status: fiveid.StatusActive, Name: "x", Version: 1, CreatedAt: t0, UpdatedAt: t0})
			rs = append(rs, record("hosp", id, id, fmt.Sprintf("name-%d", i%3)))
			ks = append(ks, []string{fiveid.KeyText(int64(1000 + i)), fiveid.KeyText(1)})
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.InsertBulk(ctx, cs, rs, ks) })
		got, err := st.SourceRecord(ctx, "hosp", "B0007")
		if err != nil || cmp.Diff(rs[7], got) != "" {
			t.Errorf("bulk record: %s %v", cmp.Diff(rs[7], got), err)
		}
		if n, total, _ := st.NameFrequency(ctx, "name-1"); n != 300 || total != 900 {
			t.Errorf("bulk name statistics: %d/%d", n, total)
		}
		if c, _ := st.Candidates(ctx, []string{fiveid.KeyText(1899)}, 10); len(c) != 1 {
			t.Errorf("bulk blocking keys: %d", len(c))
		}
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.InsertBulk(ctx, cs[:1], rs[:1], ks[:1]) }); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("bulk insert of an existing record: %v", err)
		}
		// After a bulk load the planner's statistics are refreshed.
		for range 2 {
			if _, err := st.RefreshStatistics(ctx); err != nil {
				t.Fatalf("refresh statistics: %v", err)
			}
		}
		if c, _ := st.Candidates(ctx, []string{fiveid.KeyText(1899)}, 10); len(c) != 1 {
			t.Errorf("blocking keys after refresh: %d", len(c))
		}
	})

	t.Run("chunk reads and multi-row writes", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		// 600 records over 3 customers: more than one IN list and one
		// multi-row statement. Key tk("all") is carried by every record,
		// tk("<i>") by one.
		var rs []fiveid.SourceRecord
		var ks [][]string
		for i := range 600 {
			r := record("hosp", fmt.Sprintf("P%04d", i), fmt.Sprintf("C%d", 1+i%3), fmt.Sprintf("n-%d", i%2))
			rs = append(rs, r)
			ks = append(ks, []string{tk("all"), tk(fmt.Sprint(i)), tk("all")})
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecords(ctx, rs, ks) })
		if n, total, _ := st.NameFrequency(ctx, "n-1"); n != 300 || total != 600 {
			t.Errorf("name statistics after insert: %d/%d", n, total)
		}
		// Each key's list is Candidates of that key alone: a record two
		// keys find (P0000: tk("all") and tk("0")) is in both lists, and the
		// records found may take more than one read (limit 600).
		keys := []string{tk("all"), tk("5"), tk("0"), tk("599"), tk("none")}
		for _, limit := range []int{4, 600} {
			got, err := st.KeyCandidates(ctx, keys, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				want, err := st.Candidates(ctx, []string{k}, limit)
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(want, got[k]); d != "" {
					t.Errorf("key %s, limit %d (-Candidates +KeyCandidates):\n%s", k, limit, d)
				}
			}
			if _, ok := got[tk("none")]; ok {
				t.Error("a key no record carries has a list")
			}
		}
		// A key's first records are the first by (system, local_id), not
		// the first registered: records put one by one, the last name
		// first, under a key of their own.
		var rev []string
		for i := 9; i >= 0; i-- {
			r := record("care", fmt.Sprintf("R%d", i), "C1", "n-r")
			update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r, []string{tk("rev")}) })
			rev = append([]string{r.LocalID}, rev...)
		}
		for _, limit := range []int{3, 10, 11} {
			got, err := st.KeyCandidates(ctx, []string{tk("rev"), tk("5")}, limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range got[tk("rev")] {
				ids = append(ids, r.LocalID)
			}
			if want := rev[:min(limit, len(rev))]; !slices.Equal(ids, want) {
				t.Errorf("key candidates of a key registered backwards, limit %d: %v, want %v", limit, ids, want)
			}
			want, err := st.Candidates(ctx, []string{tk("rev")}, limit)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(want, got[tk("rev")]); d != "" {
				t.Errorf("key rev, limit %d (-Candidates +KeyCandidates):\n%s", limit, d)
			}
			if len(got[tk("5")]) != 1 {
				t.Errorf("key 5 beside a crowded key, limit %d: %d records", limit, len(got[tk("5")]))
			}
		}
		// Re-put: one record renamed and re-keyed, one moved, one new.
		r0, r1 := rs[0], rs[1]
		r0.NameKey, r0.Version = "n-1", 2
		r1.CustomerID, r1.Version = "C3", 2
		rn := record("care", "new", "C2", "n-0")
		update(t, st, nil, func(tx fiveid.Tx) error {
			return tx.PutSourceRecords(ctx, []fiveid.SourceRecord{r0, r1, rn}, [][]string{{tk("x")}, {tk("1"), tk("y")}, {tk("x")}})
		})
		if n, total, _ := st.NameFrequency(ctx, "n-1"); n != 301 || total != 611 {
			t.Errorf("name statistics after re-put: %d/%d", n, total)
		}
		freq, total, err := st.NameFrequencies(ctx, []string{"n-0", "n-1", "n-none", "n-0"})
		if err != nil || total != 611 || len(freq) != 2 || freq["n-0"] != 300 || freq["n-1"] != 301 {
			t.Errorf("name frequencies: %v %d %v", freq, total, err)
		}
		if c, _ := st.Candidates(ctx, []string{tk("0")}, 10); len(c) != 0 {
			t.Errorf("a dropped key still finds its record: %+v", c)
		}
		if c, _ := st.Candidates(ctx, []string{tk("x")}, 10); len(c) != 2 {
			t.Errorf("new keys find %d records, want 2", len(c))
		}
		recs, err := st.SourceRecords(ctx, []fiveid.RecordID{{System: "hosp", LocalID: "P0001"}, {System: "care", LocalID: "new"}, {System: "hosp", LocalID: "nope"}})
		if err != nil || len(recs) != 2 {
			t.Fatalf("source records: %d %v", len(recs), err)
		}
		for _, r := range recs {
			want := map[string]fiveid.SourceRecord{"P0001": r1, "new": rn}[r.LocalID]
			if d := cmp.Diff(want, r); d != "" {
				t.Errorf("source record %s (-want +got):\n%s", r.LocalID, d)
			}
		}
		// Customers: one replaced, one inserted; their records by customer.
		c1, err := st.Customer(ctx, "C1")
		if err != nil {
			t.Fatal(err)
		}
		c1.Name, c1.Version = "张伟", 2
		c4 := fiveid.Customer{ID: "C4", Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutCustomers(ctx, []fiveid.Customer{c4, c1}) })
		cs, byCustomer, err := st.CustomersRecords(ctx, []string{"C1", "C3", "C4", "C-none"})
		if err != nil || len(cs) != 3 {
			t.Fatalf("customers: %+v %v", cs, err)
		}
		for _, c := range cs {
			want, err := st.Customer(ctx, c.ID)
			if err != nil || cmp.Diff(want, c) != "" {
				t.Errorf("customer %s: %s %v", c.ID, cmp.Diff(want, c), err)
			}
			wantRecs, err := st.CustomerRecords(ctx, c.ID)
			if err != nil || cmp.Diff(wantRecs, byCustomer[c.ID]) != "" {
				t.Errorf("records of %s: %s %v", c.ID, cmp.Diff(wantRecs, byCustomer[c.ID]), err)
			}
		}
		if c, _ := st.Customer(ctx, "C1"); c.Name != "张伟" || c.Version != 2 {
			t.Errorf("customer replaced: %+v", c)
		}
		// A stored customer redirected to one the same call creates, with
		// more customers between them than one statement holds: the
		// redirect's target is written before it.
		many := []fiveid.Customer{{ID: "C1", Status: fiveid.StatusMerged, MergedInto: "CZ-new", Version: 3, CreatedAt: t0, UpdatedAt: t0}}
		for i := range 700 {
			many = append(many, fiveid.Customer{ID: fmt.Sprintf("CM-%04d", i), Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0})
		}
		many = append(many, fiveid.Customer{ID: "CZ-new", Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0})
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutCustomers(ctx, many) })
		if c, _ := st.Customer(ctx, "C1"); c.Status != fiveid.StatusMerged || c.MergedInto != "CZ-new" {
			t.Errorf("customer redirected: %+v", c)
		}
		chs := []fiveid.Change{
			{ID: "H1", CustomerID: "C4", At: t0, Kind: fiveid.ChangeCreated, Actor: "hosp", System: "hosp", LocalID: "x", Detail: "registered"},
			{ID: "H2", CustomerID: "C4", At: t0, Kind: fiveid.ChangeLinked, Actor: "hosp", System: "hosp", LocalID: "x", After: "{}", Detail: "new record"},
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.AppendChanges(ctx, chs) })
		if h, err := st.History(ctx, "C4", 10); err != nil || cmp.Diff(chs, h) != "" {
			t.Errorf("history (-want +got): %s %v", cmp.Diff(chs, h), err)
		}
	})

	t.Run("replace blocking keys", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		cs := []fiveid.Customer{
			{ID: "R1", Status: fiveid.StatusActive, Name: "x", Version: 1, CreatedAt: t0, UpdatedAt: t0},
			{ID: "R2", Status: fiveid.StatusActive, Name: "y", Version: 1, CreatedAt: t0, UpdatedAt: t0},
		}
		rs := []fiveid.SourceRecord{record("hosp", "r1", "R1", "name-r"), record("hosp", "r2", "R2", "name-s")}
		update(t, st, nil, func(tx fiveid.Tx) error {
			return tx.InsertBulk(ctx, cs, rs, [][]string{{tk("old-a"), tk("old-b")}, {tk("r2-a"), tk("shared")}})
		})
		var changed []string
		replace := func(recs ...fiveid.RecordKeys) []bool {
			var done []bool
			update(t, st, nil, func(tx fiveid.Tx) error {
				var err error
				done, changed, err = tx.ReplaceBlockingKeys(ctx, recs)
				return err
			})
			return done
		}
		v := rs[0].Version
		if done := replace(fiveid.RecordKeys{System: "hosp", LocalID: "r1", Version: v + 1, Keys: []string{tk("new")}}); len(done) != 1 || done[0] || len(changed) != 0 {
			t.Errorf("replaced at another version: %v, changed %v", done, changed)
		}
		if c, _ := st.Candidates(ctx, []string{tk("old-a")}, 10); len(c) != 1 {
			t.Errorf("a refused replace changed the keys: %d", len(c))
		}
		// One call: r1 re-keyed (a key kept, one dropped, two new, a
		// duplicate), a record that does not exist, r2 left without keys.
		done := replace(
			fiveid.RecordKeys{System: "hosp", LocalID: "r1", Version: v, Keys: []string{tk("new"), tk("old-b"), tk("new"), tk("other")}},
			fiveid.RecordKeys{System: "hosp", LocalID: "nobody", Version: 1, Keys: []string{tk("k")}},
			fiveid.RecordKeys{System: "hosp", LocalID: "r2", Version: rs[1].Version},
		)
		if !slices.Equal(done, []bool{true, false, true}) {
			t.Fatalf("replaced %v, want [true false true]", done)
		}
		// Keys added or dropped, each once; not those kept, nor those of a
		// record that was not replaced.
		want := []string{tk("new"), tk("old-a"), tk("other"), tk("r2-a"), tk("shared")}
		slices.Sort(want)
		if !slices.Equal(changed, want) {
			t.Errorf("changed keys %v, want %v", changed, want)
		}
		for k, want := range map[string]int{tk("old-a"): 0, tk("old-b"): 1, tk("new"): 1, tk("other"): 1, tk("r2-a"): 0, tk("shared"): 0, tk("k"): 0} {
			if c, err := st.Candidates(ctx, []string{k}, 10); err != nil || len(c) != want {
				t.Errorf("key %s finds %d records, want %d (%v)", k, len(c), want, err)
			}
		}
		if done := replace(); len(done) != 0 {
			t.Errorf("nothing to replace: %v", done)
		}
	})

	t.Run("record features", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		cs := []fiveid.Customer{{ID: "F1", Status: fiveid.StatusActive, Name: "x", Version: 1, CreatedAt: t0, UpdatedAt: t0}}
		rs := []fiveid.SourceRecord{record("hosp", "f1", "F1", "name-f"), record("hosp", "f2", "F1", "name-f")}
		update(t, st, nil, func(tx fiveid.Tx) error {
			return tx.InsertBulk(ctx, cs, rs, [][]string{{tk("fk")}, {tk("fk")}})
		})
		put := func(recs ...fiveid.RecordFeatures) []bool {
			var done []bool
			update(t, st, nil, func(tx fiveid.Tx) error {
				var err error
				done, err = tx.PutRecordFeatures(ctx, recs)
				return err
			})
			return done
		}
		// f1 at its version, f2 at another, a record that does not exist.
		done := put(
			fiveid.RecordFeatures{System: "hosp", LocalID: "f1", Version: rs[0].Version, Features: "f9;one"},
			fiveid.RecordFeatures{System: "hosp", LocalID: "f2", Version: rs[1].Version + 1, Features: "f9;two"},
			fiveid.RecordFeatures{System: "hosp", LocalID: "nobody", Version: 1, Features: "f9;three"},
		)
		if !slices.Equal(done, []bool{true, false, false}) {
			t.Fatalf("set %v, want [true false false]", done)
		}
		for i, want := range []string{"f9;one", rs[1].Features} {
			got, err := st.SourceRecord(ctx, "hosp", rs[i].LocalID)
			if err != nil || got.Features != want || got.Version != rs[i].Version {
				t.Errorf("%s: features %q version %d, want %q version %d (%v)", rs[i].LocalID, got.Features, got.Version, want, rs[i].Version, err)
			}
		}
		if c, err := st.Candidates(ctx, []string{tk("fk")}, 10); err != nil || len(c) != 2 || c[0].Features != "f9;one" {
			t.Errorf("candidates after features were set: %+v %v", c, err)
		}
		if done := put(); len(done) != 0 {
			t.Errorf("nothing to set: %v", done)
		}
	})

	t.Run("settings", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		if _, ok, err := st.Setting(ctx, "x"); ok || err != nil {
			t.Fatalf("unset setting: %v %v", ok, err)
		}
		for _, v := range []int64{3, 7} {
			update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSetting(ctx, "x", v) })
			if got, ok, err := st.Setting(ctx, "x"); got != v || !ok || err != nil {
				t.Errorf("setting = %d %v %v, want %d", got, ok, err, v)
			}
		}
		if _, total, _ := st.NameFrequency(ctx, ""); total != 0 {
			t.Errorf("a setting counted as a record: total %d", total)
		}
	})

	t.Run("update rolls back on error", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		boom := errors.New("boom")
		err := st.Update(ctx, nil, func(tx fiveid.Tx) error {
			if err := tx.InsertCustomer(ctx, fiveid.Customer{ID: "C9", Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("update error: %v", err)
		}
		if _, err := st.Customer(ctx, "C9"); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("rolled-back customer exists: %v", err)
		}
	})

	t.Run("review tasks: one open task per pair", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		task := fiveid.ReviewTask{ID: "R1", Status: fiveid.ReviewOpen, Reason: "possible_match", CustomerID: "C1", CandidateID: "C2",
			Score: 4.5, Explanation: match.Explanation{Score: 4.5, Grade: match.GradePossible}, Version: 1, CreatedAt: t0, UpdatedAt: t0}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.InsertReviewTask(ctx, task) })
		got, err := st.ReviewTask(ctx, "R1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(task, got); d != "" {
			t.Errorf("task (-want +got):\n%s", d)
		}
		rev := task
		rev.ID, rev.CustomerID, rev.CandidateID = "R2", "C2", "C1"
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.InsertReviewTask(ctx, rev) }); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("second open task for the same pair in the other order: %v", err)
		}
		// The conflict leaves the transaction usable: registration opens
		// a task when none is open and goes on (PostgreSQL aborts a
		// transaction at its first failed statement).
		err = st.Update(ctx, nil, func(tx fiveid.Tx) error {
			if err := tx.InsertReviewTask(ctx, rev); !errors.Is(err, fiveid.ErrConflict) {
				t.Errorf("second open task inside a transaction: %v", err)
			}
			return tx.PutSecret(ctx, "after-conflict", []byte("x"))
		})
		if err != nil {
			t.Errorf("a write after the conflict, in the same transaction: %v", err)
		}
		ts, err := st.ListReviewTasks(ctx, fiveid.ReviewOpen, 10)
		if err != nil || len(ts) != 1 {
			t.Errorf("list: %+v %v", ts, err)
		}
	})

	t.Run("merges keep their override and reason; unmerged once", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		want := []fiveid.Merge{
			{ID: "M1", From: "C1", Into: "C2", At: t0, Actor: "k1", Snapshot: `{"x":1}`, Override: true, Reason: "同一人：户籍迁移后换发新号"},
			{ID: "M2", From: "C3", Into: "C2", At: t0, Actor: "k1", Snapshot: `{}`},
		}
		update(t, st, nil, func(tx fiveid.Tx) error {
			for _, m := range want {
				if err := tx.InsertMerge(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		for _, m := range want {
			got, err := st.Merge(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(m, got); d != "" {
				t.Errorf("merge %s (-want +got):\n%s", m.ID, d)
			}
		}
		update(t, st, nil, func(tx fiveid.Tx) error { return tx.MarkUnmerged(ctx, "M1", t0.Add(time.Hour), "k2") })
		if err := st.Update(ctx, nil, func(tx fiveid.Tx) error { return tx.MarkUnmerged(ctx, "M1", t0.Add(2*time.Hour), "k3") }); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("unmerged twice: %v", err)
		}
		got, err := st.Merge(ctx, "M1")
		if err != nil || !got.UndoneAt.Equal(t0.Add(time.Hour)) || got.UndoneBy != "k2" || !got.Override || got.Reason != want[0].Reason {
			t.Errorf("after unmerge: %+v %v", got, err)
		}
		// A record names the merge that moved it until it moves again.
		moved := record("hosp", "1", "C2", "张伟")
		moved.Link.Manual, moved.Link.Merge = true, "M2"
		for _, r := range []fiveid.SourceRecord{moved, record("hosp", "1", "C2", "张伟")} {
			update(t, st, nil, func(tx fiveid.Tx) error { return tx.PutSourceRecord(ctx, r, nil) })
			got, err := st.SourceRecord(ctx, "hosp", "1")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(r, got); d != "" {
				t.Errorf("record round trip (-want +got):\n%s", d)
			}
		}
	})

	t.Run("index figures", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		since := t0.Add(24 * time.Hour)
		if f, err := st.IndexFigures(ctx, since); err != nil || f.Customers != 3 || len(f.Records) != 0 || len(f.Grades) != 0 || f.Links != 0 || f.Merges != 0 {
			t.Fatalf("an index without records: %+v %v", f, err)
		}
		probable, manual, started := record("hosp", "2", "C1", "张伟"), record("care", "9", "C2", "张伟"), record("care", "10", "C3", "李娜")
		probable.Link.Grade = match.GradeProbable
		manual.Link.Manual = true
		started.Link = fiveid.Link{}
		update(t, st, nil, func(tx fiveid.Tx) error {
			for _, r := range []fiveid.SourceRecord{record("hosp", "1", "C1", "张伟"), probable, manual, started} {
				if err := tx.PutSourceRecord(ctx, r, nil); err != nil {
					return err
				}
			}
			if err := tx.UpdateCustomer(ctx, fiveid.Customer{ID: "C3", Status: fiveid.StatusMerged, MergedInto: "C2", Version: 2, CreatedAt: t0, UpdatedAt: since}); err != nil {
				return err
			}
			for i, m := range []fiveid.Merge{{ID: "M1", From: "C1", Into: "C2", At: t0}, {ID: "M2", From: "C3", Into: "C2", At: since}} {
				m.Actor, m.Snapshot = "k1", "{}"
				if err := tx.InsertMerge(ctx, m); err != nil {
					return fmt.Errorf("merge %d: %w", i, err)
				}
			}
			for i, ch := range []fiveid.Change{{Kind: fiveid.ChangeLinked, At: t0}, {Kind: fiveid.ChangeLinked, At: since}, {Kind: fiveid.ChangeLinked, At: since.Add(time.Hour)},
				{Kind: fiveid.ChangeCreated, At: since}} {
				ch.ID, ch.CustomerID, ch.Actor = fmt.Sprintf("E%d", i), "C1", "k1"
				if err := tx.AppendChange(ctx, ch); err != nil {
					return err
				}
			}
			return nil
		})
		f, err := st.IndexFigures(ctx, since)
		if err != nil {
			t.Fatal(err)
		}
		want := fiveid.IndexFigures{Customers: 2, Records: map[string]int64{"hosp": 2, "care": 2},
			Grades: map[string]int64{"certain": 1, "probable": 1, "manual": 1, "": 1}, Since: since, Links: 2, Merges: 1}
		if d := cmp.Diff(want, f); d != "" {
			t.Errorf("figures (-want +got):\n%s", d)
		}
	})

	t.Run("concurrent updates on one key serialize", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Go(func() {
				errs <- st.Update(ctx, []string{tk("person-x")}, func(tx fiveid.Tx) error {
					c, err := tx.Candidates(ctx, []string{tk("person-x")}, 100)
					if err != nil {
						return err
					}
					if len(c) > 0 {
						return nil // someone else created the person: link, don't create
					}
					id := fmt.Sprintf("N%02d", i)
					if err := tx.InsertCustomer(ctx, fiveid.Customer{ID: id, Status: fiveid.StatusActive, Version: 1, CreatedAt: t0, UpdatedAt: t0}); err != nil {
						return err
					}
					return tx.PutSourceRecord(ctx, record("hosp", id, id, "欧阳雪婧"), []string{tk("person-x")})
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if c, _ := st.Candidates(ctx, []string{tk("person-x")}, 100); len(c) != 1 {
			t.Fatalf("16 concurrent deciders created %d records", len(c))
		}
	})

	t.Run("holders", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		gu := func(fn func(tx fiveid.GrantTx) error) error { return st.UpdateGrants(ctx, fn) }
		h1 := fiveid.Holder{ID: "H1", System: "hosp", Scopes: []string{"funeral", "medical"}, CreatedAt: t0, CreatedBy: "k"}
		h2 := fiveid.Holder{ID: "H2", System: "care", Scopes: []string{"eldercare"}, CreatedAt: t0.Add(time.Second), CreatedBy: "k"}
		for _, h := range []fiveid.Holder{h1, h2} {
			if err := gu(func(tx fiveid.GrantTx) error { return tx.CreateHolder(ctx, h) }); err != nil {
				t.Fatal(err)
			}
		}
		if err := gu(func(tx fiveid.GrantTx) error { return tx.CreateHolder(ctx, h1) }); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("a holder ID twice: %v", err)
		}
		if err := gu(func(tx fiveid.GrantTx) error {
			return tx.CreateHolder(ctx, fiveid.Holder{ID: "H3", System: "nope", Scopes: []string{"medical"}, CreatedAt: t0, CreatedBy: "k"})
		}); !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("a holder of an unknown system: %v", err)
		}
		if hs, err := st.Holders(ctx, ""); err != nil || cmp.Diff([]fiveid.Holder{h1, h2}, hs) != "" {
			t.Errorf("all holders (-want +got):\n%s %v", cmp.Diff([]fiveid.Holder{h1, h2}, hs), err)
		}
		if hs, err := st.Holders(ctx, "hosp"); err != nil || cmp.Diff([]fiveid.Holder{h1}, hs) != "" {
			t.Errorf("holders of hosp (-want +got):\n%s %v", cmp.Diff([]fiveid.Holder{h1}, hs), err)
		}
		if got, err := st.Holder(ctx, "H2"); err != nil || cmp.Diff(h2, got) != "" {
			t.Errorf("holder round trip: %s %v", cmp.Diff(h2, got), err)
		}
		if err := gu(func(tx fiveid.GrantTx) error { return tx.DeleteHolder(ctx, "H1", t0.Add(time.Minute)) }); err != nil {
			t.Fatal(err)
		}
		if err := gu(func(tx fiveid.GrantTx) error { return tx.DeleteHolder(ctx, "H1", t0.Add(time.Minute)) }); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("deleting a deleted holder: %v", err)
		}
		if _, err := st.Holder(ctx, "H1"); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("a deleted holder: %v", err)
		}
		if hs, _ := st.Holders(ctx, "hosp"); len(hs) != 0 {
			t.Errorf("a deleted holder is in force: %+v", hs)
		}
	})

	t.Run("revoking a key's grants", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		gu := func(fn func(tx fiveid.GrantTx) error) {
			t.Helper()
			if err := st.UpdateGrants(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		gu(func(tx fiveid.GrantTx) error {
			return tx.InsertSigningKey(ctx, fiveid.SigningKey{ID: "sk1", Private: make([]byte, 64), CreatedAt: t0})
		})
		at := t0.Add(30 * time.Minute)
		g := func(id, key string, expires time.Duration, revoked bool) fiveid.Grant {
			out := fiveid.Grant{ID: id, CustomerID: "C1", Grantee: "care", GranteeKey: key, Scopes: []string{"medical"}, Purpose: "treatment",
				Grade: "certain", Score: 30, IssuedAt: t0, ExpiresAt: t0.Add(expires), SigningKey: "sk1"}
			if revoked {
				out.RevokedAt, out.RevokedBy = t0.Add(time.Minute), "k-a"
			}
			return out
		}
		grants := []fiveid.Grant{
			g("G1", "k-a", time.Hour, false),      // active: revoked
			g("G2", "k-a", 10*time.Minute, false), // expired at `at`: left alone
			g("G3", "k-a", time.Hour, true),       // already revoked: left alone
			g("G4", "k-b", time.Hour, false),      // another key: left alone
			g("G5", "k-a", 2*time.Hour, false),    // active: revoked
			g("G6", "k-a", 30*time.Minute, false), // expires exactly at `at`: expired
			g("G7", "k-ab", time.Hour, false),     // a key whose ID only starts alike
		}
		for _, gr := range grants {
			gu(func(tx fiveid.GrantTx) error { return tx.InsertGrant(ctx, gr) })
		}
		var revoked []fiveid.Grant
		gu(func(tx fiveid.GrantTx) error {
			var err error
			revoked, err = tx.RevokeGrantsOfKey(ctx, "k-a", at, "admin")
			return err
		})
		want := []fiveid.Grant{grants[0], grants[4]}
		for i := range want {
			want[i].RevokedAt, want[i].RevokedBy = at, "admin"
		}
		if d := cmp.Diff(want, revoked); d != "" {
			t.Errorf("revoked grants (-want +got):\n%s", d)
		}
		for _, gr := range grants {
			got, err := st.Grant(ctx, gr.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantRevoked := gr.RevokedAt
			if gr.ID == "G1" || gr.ID == "G5" {
				wantRevoked = at
			}
			if !got.RevokedAt.Equal(wantRevoked) {
				t.Errorf("%s: revoked at %v, want %v", gr.ID, got.RevokedAt, wantRevoked)
			}
		}
		gu(func(tx fiveid.GrantTx) error {
			var err error
			revoked, err = tx.RevokeGrantsOfKey(ctx, "k-a", at.Add(time.Second), "admin")
			return err
		})
		if len(revoked) != 0 {
			t.Errorf("a second sweep revoked %+v", revoked)
		}
	})

	t.Run("grants, keys and the grant log", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		ctx := t.Context()
		seed(t, st)
		gu := func(fn func(tx fiveid.GrantTx) error) {
			t.Helper()
			if err := st.UpdateGrants(ctx, fn); err != nil {
				t.Fatal(err)
			}
		}
		pol := fiveid.Policy{ID: "P1", Grantee: "care", Scopes: []string{"eldercare", "medical"}, Purposes: []string{"treatment"},
			MaxTTL: time.Hour, CreatedAt: t0, CreatedBy: "k"}
		gu(func(tx fiveid.GrantTx) error { return tx.CreatePolicy(ctx, pol) })
		if ps, err := st.Policies(ctx, "care"); err != nil || len(ps) != 1 || cmp.Diff(pol, ps[0]) != "" {
			t.Errorf("policies: %+v %v", ps, err)
		}
		gu(func(tx fiveid.GrantTx) error { return tx.DeletePolicy(ctx, "P1", t0) })
		if ps, _ := st.Policies(ctx, ""); len(ps) != 0 {
			t.Errorf("deleted policy still in force")
		}
		priv := make([]byte, 64)
		for i := range priv {
			priv[i] = byte(i)
		}
		gu(func(tx fiveid.GrantTx) error {
			return tx.InsertSigningKey(ctx, fiveid.SigningKey{ID: "sk1", Private: priv, CreatedAt: t0})
		})
		g := fiveid.Grant{ID: "G1", CustomerID: "C1", Grantee: "care", GranteeKey: "k", Scopes: []string{"medical"}, Purpose: "treatment",
			Grade: "certain", Score: 30, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), SigningKey: "sk1", RequestID: "r1"}
		gu(func(tx fiveid.GrantTx) error { return tx.InsertGrant(ctx, g) })
		got, err := st.Grant(ctx, "G1")
		if err != nil || cmp.Diff(g, got) != "" {
			t.Errorf("grant round trip: %s %v", cmp.Diff(g, got), err)
		}
		if gs, _ := st.ListGrants(ctx, fiveid.GrantFilter{Status: "active"}, t0.Add(time.Minute)); len(gs) != 1 {
			t.Errorf("active grants: %d", len(gs))
		}
		if gs, _ := st.ListGrants(ctx, fiveid.GrantFilter{Status: "expired"}, t0.Add(2*time.Hour)); len(gs) != 1 {
			t.Errorf("expired grants: %d", len(gs))
		}
		gu(func(tx fiveid.GrantTx) error { return tx.RevokeGrant(ctx, "G1", t0.Add(time.Minute), "admin") })
		if gs, _ := st.ListGrants(ctx, fiveid.GrantFilter{Status: "revoked"}, t0); len(gs) != 1 {
			t.Errorf("revoked grants: %d", len(gs))
		}
		// The log: concurrent appenders each chain after the head they read
		// and retry when another moved it first; none is lost or forks it.
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				for attempt := 0; ; attempt++ {
					seq, prev, err := st.AuditTip(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					e := fiveid.AuditEvent{Seq: seq + 1, ID: fmt.Sprintf("E%d", i), Time: t0, Action: "grant.issued", Scopes: []string{"medical"}, PrevHash: prev}
					e.Hash = fiveid.AuditHash(prev, e)
					err = st.AppendAudit(ctx, seq, prev, nil, []fiveid.AuditEvent{e})
					if err == nil {
						return
					}
					if !errors.Is(err, fiveid.ErrConflict) || attempt > 100 {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		evs, err := st.AuditEvents(ctx, fiveid.AuditFilter{Limit: 100})
		if err != nil || len(evs) != 8 {
			t.Fatalf("events: %d %v", len(evs), err)
		}
		prev := ""
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.PrevHash != prev || fiveid.AuditHash(prev, e) != e.Hash {
				t.Fatalf("chain broken at %d: %+v", i, e)
			}
			prev = e.Hash
		}
		if seq, hash, err := st.AuditTip(ctx); seq != 8 || hash != prev || err != nil {
			t.Errorf("tip: %d %s %v", seq, hash, err)
		}
		if evs, _ := st.AuditEvents(ctx, fiveid.AuditFilter{AfterSeq: 6, Limit: 100}); len(evs) != 2 {
			t.Errorf("cursor: %d", len(evs))
		}
		// A writer whose head is stale writes nothing, its grant included.
		g2 := g
		g2.ID, g2.RevokedAt, g2.RevokedBy = "G2", time.Time{}, ""
		stale := fiveid.AuditEvent{Seq: 7, ID: "E-stale", Time: t0, Action: "grant.issued", GrantID: "G2", PrevHash: evs[5].Hash}
		stale.Hash = fiveid.AuditHash(stale.PrevHash, stale)
		if err := st.AppendAudit(ctx, 6, evs[5].Hash, []fiveid.Grant{g2}, []fiveid.AuditEvent{stale}); !errors.Is(err, fiveid.ErrConflict) {
			t.Fatalf("append after a stale head: %v", err)
		}
		if _, err := st.Grant(ctx, "G2"); !errors.Is(err, fiveid.ErrNotFound) {
			t.Errorf("the stale append wrote its grant: %v", err)
		}
		// A current head takes grants and several events at once.
		e9 := fiveid.AuditEvent{Seq: 9, ID: "E9", Time: t0, Action: "grant.issued", GrantID: "G2", Grade: "certain", Score: 31.5, PrevHash: prev}
		e9.Hash = fiveid.AuditHash(prev, e9)
		e10 := fiveid.AuditEvent{Seq: 10, ID: "E10", Time: t0, Action: "identify.no_match", IDMasked: "110105********002X", PrevHash: e9.Hash}
		e10.Hash = fiveid.AuditHash(e9.Hash, e10)
		if err := st.AppendAudit(ctx, 8, prev, []fiveid.Grant{g2}, []fiveid.AuditEvent{e9, e10}); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Grant(ctx, "G2"); err != nil || cmp.Diff(g2, got) != "" {
			t.Errorf("grant written with the log: %s %v", cmp.Diff(g2, got), err)
		}
		if evs, err := st.AuditEvents(ctx, fiveid.AuditFilter{AfterSeq: 8, Limit: 100}); err != nil || len(evs) != 2 || cmp.Diff([]fiveid.AuditEvent{e9, e10}, evs) != "" {
			t.Errorf("batch append: %s %v", cmp.Diff([]fiveid.AuditEvent{e9, e10}, evs), err)
		}
		if seq, hash, err := st.AuditTip(ctx); seq != 10 || hash != e10.Hash || err != nil {
			t.Errorf("tip after the batch: %d %s %v", seq, hash, err)
		}
		if err := st.AppendAudit(ctx, 10, e10.Hash, nil, nil); !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("empty append: %v", err)
		}
	})
	t.Run("idempotency keys", func(t *testing.T) {
		t.Parallel()
		runIdempotency(t, open(t))
	})
}

// RunCacheConformance runs the suite every Cache implementation passes.
// open returns a fresh, empty cache whose values live ttl.
func RunCacheConformance(t *testing.T, open func(t *testing.T, ttl time.Duration) fiveid.Cache) {
	ctx := context.Background()
	t.Run("hit, invalidate, race", func(t *testing.T) {
		t.Parallel()
		c := open(t, time.Minute)
		deps := []string{"d1", "d2"}
		_, hit, stamp, err := c.Get(ctx, "q", deps)
		if hit || err != nil {
			t.Fatalf("empty cache: hit=%v err=%v", hit, err)
		}
		if err := c.Set(ctx, "q", stamp, []byte("answer")); err != nil {
			t.Fatal(err)
		}
		v, hit, _, err := c.Get(ctx, "q", deps)
		if !hit || string(v) != "answer" || err != nil {
			t.Fatalf("after set: %q %v %v", v, hit, err)
		}
		if err := c.Invalidate(ctx, []string{"d2", "other"}); err != nil {
			t.Fatal(err)
		}
		if _, hit, _, _ := c.Get(ctx, "q", deps); hit {
			t.Fatal("hit after a dependency was invalidated")
		}
		// A write racing the computation: stamp, invalidate, then set with
		// the old stamp -> the value must never hit.
		_, _, stamp, _ = c.Get(ctx, "q", deps)
		if err := c.Invalidate(ctx, []string{"d1"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "q", stamp, []byte("stale")); err != nil {
			t.Fatal(err)
		}
		if v, hit, _, _ := c.Get(ctx, "q", deps); hit {
			t.Fatalf("stale value computed before an invalidation hit: %q", v)
		}
		// Unrelated dependencies don't disturb a value.
		_, _, stamp, _ = c.Get(ctx, "q", deps)
		c.Set(ctx, "q", stamp, []byte("fresh"))
		c.Invalidate(ctx, []string{"unrelated"})
		if v, hit, _, _ := c.Get(ctx, "q", deps); !hit || string(v) != "fresh" {
			t.Fatalf("unrelated invalidation dropped a value: %q %v", v, hit)
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		c := open(t, 1200*time.Millisecond)
		_, _, stamp, _ := c.Get(ctx, "q", []string{"d"})
		c.Set(ctx, "q", stamp, []byte("x"))
		time.Sleep(1500 * time.Millisecond)
		if _, hit, _, _ := c.Get(ctx, "q", []string{"d"}); hit {
			t.Fatal("value outlived its TTL")
		}
	})
}
