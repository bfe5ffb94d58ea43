// Package teststore opens the stores that tests run on: the embedded
// store in the test's temporary directory, and PostgreSQL in a fresh
// schema of its own (storetest.PostgresURL: skipped when unreachable,
// failed when CI=true); each is closed when the test ends. It is apart
// from storetest because the store's own tests import storetest, which
// therefore cannot import the store.
package teststore

import (
	"path/filepath"
	"testing"

	"fiveid/store"
	"fiveid/store/storetest"
)

// Embedded opens an embedded store in a temporary directory.
func Embedded(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.OpenEmbedded(t.Context(), filepath.Join(t.TempDir(), "data"))
	return opened(t, db, err)
}

// Postgres opens a PostgreSQL store in a fresh schema.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.OpenPostgres(t.Context(), storetest.PostgresURL(t))
	return opened(t, db, err)
}

func opened(t testing.TB, db *store.DB, err error) *store.DB {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
