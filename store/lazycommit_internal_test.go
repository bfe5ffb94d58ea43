package store

import (
	"testing"

	"fiveid"
	"fiveid/store/storetest"
)

// CommitLazily turns synchronous commit off for its own transaction only:
// were it to outlive the transaction on a pooled connection, later
// commits there would be acknowledged before they are durable.
func TestCommitLazilyLastsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, err := openPostgres(ctx, storetest.PostgresURL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.write.SetMaxOpenConns(1) // every transaction below on the same connection
	syncCommit := func(tx fiveid.Tx) string {
		t.Helper()
		var v string
		if err := tx.(txConn).row(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	var before, lazy, after string
	if err := db.Update(ctx, nil, func(tx fiveid.Tx) error {
		before = syncCommit(tx)
		if err := tx.(fiveid.LazyCommitter).CommitLazily(ctx); err != nil {
			return err
		}
		lazy = syncCommit(tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, nil, func(tx fiveid.Tx) error {
		after = syncCommit(tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if before != "on" || lazy != "off" || after != "on" {
		t.Fatalf("synchronous_commit before, during and after a lazy commit: %s, %s, %s; want on, off, on", before, lazy, after)
	}
}
