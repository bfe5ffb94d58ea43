package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
)

// runIdempotency: a record changes hands only as its state allows, and
// the table's constraints hold what the service relies on.
func runIdempotency(t *testing.T, st Store) {
	ctx := t.Context()
	lease, ttl := time.Minute, 24*time.Hour
	rec := func(keyID, key, fp, owner string, now time.Time) fiveid.IdempotencyRecord {
		return fiveid.IdempotencyRecord{KeyID: keyID, Key: key, Fingerprint: fp, GrantID: "gr_" + keyID + key + owner, Owner: owner,
			LeaseUntil: now.Add(lease), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	}
	reserve := func(r fiveid.IdempotencyRecord, now time.Time) bool {
		t.Helper()
		ok, err := st.ReserveIdempotency(ctx, r, now)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	read := func(keyID, key string) fiveid.IdempotencyRecord {
		t.Helper()
		r, err := st.IdempotencyRecord(ctx, keyID, key)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// Reserve once; the same key of another API key is another record.
	first := rec("k1", "K", "F", "run1", t0)
	if !reserve(first, t0) {
		t.Fatal("a fresh key was not reserved")
	}
	if reserve(rec("k1", "K", "F2", "run2", t0), t0) {
		t.Fatal("a live key was reserved twice")
	}
	if !reserve(rec("k2", "K", "F", "run3", t0), t0) {
		t.Fatal("another API key's record collided")
	}
	if d := cmp.Diff(first, read("k1", "K")); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
	if _, err := st.IdempotencyRecord(ctx, "k1", "nope"); !errors.Is(err, fiveid.ErrNotFound) {
		t.Errorf("missing record: %v", err)
	}

	// Nobody claims a running record within its lease, or with another
	// fingerprint; after the lease one claimer wins and keeps the grant ID.
	if ok, err := st.ClaimIdempotency(ctx, "k1", "K", "F", "run4", t0.Add(2*lease), t0.Add(lease/2)); ok || err != nil {
		t.Fatalf("claimed within the lease: %v %v", ok, err)
	}
	late := t0.Add(lease)
	if ok, _ := st.ClaimIdempotency(ctx, "k1", "K", "other", "run4", late.Add(lease), late); ok {
		t.Fatal("claimed with another fingerprint")
	}
	var wins sync.WaitGroup
	won := make(chan string, 8)
	for i := range 8 {
		wins.Go(func() {
			owner := fmt.Sprintf("claimer%d", i)
			ok, err := st.ClaimIdempotency(ctx, "k1", "K", "F", owner, late.Add(lease), late)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won <- owner
			}
		})
	}
	wins.Wait()
	close(won)
	var winners []string
	for w := range won {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("claimers that won: %v", winners)
	}
	owner := winners[0]
	if r := read("k1", "K"); r.Owner != owner || r.GrantID != first.GrantID || !r.LeaseUntil.Equal(late.Add(lease)) {
		t.Errorf("claimed record: %+v", r)
	}

	// Only the owner finishes, releases or forgets.
	for name, f := range map[string]func(owner string) error{
		"finish":  func(o string) error { return st.FinishIdempotency(ctx, "k1", "K", o, 200, []byte(`{}`)) },
		"release": func(o string) error { return st.ReleaseIdempotency(ctx, "k1", "K", o) },
		"forget":  func(o string) error { return st.ForgetIdempotency(ctx, "k1", "K", o) },
	} {
		if err := f("run1"); !errors.Is(err, fiveid.ErrConflict) {
			t.Errorf("%s by the run that lost the record: %v", name, err)
		}
	}
	// A 5xx answer is never kept (CHECK).
	if err := st.FinishIdempotency(ctx, "k1", "K", owner, 503, []byte(`{}`)); !errors.Is(err, fiveid.ErrInvalid) {
		t.Errorf("a 503 kept: %v", err)
	}
	body := []byte(`{"customer_id":"C1","grant":{"id":"gr_1"}}` + "\n")
	if err := st.FinishIdempotency(ctx, "k1", "K", owner, 201, body); err != nil {
		t.Fatal(err)
	}
	done := read("k1", "K")
	if !done.Finished() || done.Status != 201 || string(done.Body) != string(body) || done.Owner != "" || !done.LeaseUntil.IsZero() {
		t.Errorf("finished record: %+v", done)
	}
	if err := st.FinishIdempotency(ctx, "k1", "K", owner, 200, nil); !errors.Is(err, fiveid.ErrConflict) {
		t.Errorf("finished twice: %v", err)
	}
	if ok, _ := st.ClaimIdempotency(ctx, "k1", "K", "F", "run5", t0.Add(10*lease), t0.Add(9*lease)); ok {
		t.Error("a finished record was claimed")
	}

	// Released: claimable at once, same grant ID. Forgotten: gone.
	if err := st.ReleaseIdempotency(ctx, "k2", "K", "run3"); err != nil {
		t.Fatal(err)
	}
	if r := read("k2", "K"); r.Owner != "" || !r.LeaseUntil.IsZero() || r.Finished() {
		t.Errorf("released record: %+v", r)
	}
	if ok, err := st.ClaimIdempotency(ctx, "k2", "K", "F", "run6", t0.Add(lease), t0); !ok || err != nil {
		t.Fatalf("claiming a released record: %v %v", ok, err)
	}
	if err := st.ForgetIdempotency(ctx, "k2", "K", "run6"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.IdempotencyRecord(ctx, "k2", "K"); !errors.Is(err, fiveid.ErrNotFound) {
		t.Errorf("forgotten record: %v", err)
	}

	// Expired: neither claimed nor kept from a new reservation, which
	// replaces it whole; the sweep deletes expired records only.
	expired := t0.Add(ttl)
	if ok, _ := st.ClaimIdempotency(ctx, "k1", "K", "F", "run7", expired.Add(lease), expired); ok {
		t.Error("an expired record was claimed")
	}
	fresh := rec("k1", "K", "F3", "run8", expired)
	if !reserve(fresh, expired) {
		t.Fatal("an expired key was not reserved again")
	}
	if d := cmp.Diff(fresh, read("k1", "K")); d != "" {
		t.Errorf("replaced record (-want +got):\n%s", d)
	}
	for i := range 5 {
		if !reserve(rec("k3", fmt.Sprint(i), "F", "r", t0), t0) {
			t.Fatal("reserve")
		}
	}
	if n, err := st.DeleteExpiredIdempotency(ctx, expired, 3); n != 3 || err != nil {
		t.Errorf("sweep: %d %v", n, err)
	}
	if n, err := st.DeleteExpiredIdempotency(ctx, expired, 100); n != 2 || err != nil {
		t.Errorf("sweep the rest: %d %v", n, err)
	}
	if _, err := st.IdempotencyRecord(ctx, "k1", "K"); err != nil {
		t.Errorf("the sweep deleted a live record: %v", err)
	}

	// One reservation per grant ID (a unique index).
	dup := rec("k4", "K", "F", "r", t0)
	dup.GrantID = fresh.GrantID
	if _, err := st.ReserveIdempotency(ctx, dup, t0); !errors.Is(err, fiveid.ErrConflict) {
		t.Errorf("a grant ID reserved twice: %v", err)
	}
	// What backs a reserved grant ID: the grants table takes one grant
	// per ID.
	seed(t, st)
	if err := st.UpdateGrants(ctx, func(tx fiveid.GrantTx) error {
		return tx.InsertSigningKey(ctx, fiveid.SigningKey{ID: "sk", Private: make([]byte, 64), CreatedAt: t0})
	}); err != nil {
		t.Fatal(err)
	}
	g := fiveid.Grant{ID: fresh.GrantID, CustomerID: "C1", Grantee: "care", GranteeKey: "k1", Scopes: []string{"medical"},
		Purpose: "treatment", IssuedAt: t0, ExpiresAt: t0.Add(time.Hour), SigningKey: "sk"}
	if err := st.UpdateGrants(ctx, func(tx fiveid.GrantTx) error { return tx.InsertGrant(ctx, g) }); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateGrants(ctx, func(tx fiveid.GrantTx) error { return tx.InsertGrant(ctx, g) }); !errors.Is(err, fiveid.ErrConflict) {
		t.Errorf("a second grant under one ID: %v", err)
	}
}
