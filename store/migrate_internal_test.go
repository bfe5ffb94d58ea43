package store

import (
	"testing"
	"testing/fstest"
)

func TestMigrationsAreNumberedConsecutively(t *testing.T) {
	t.Parallel()
	if _, err := migrations(); err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	bad := map[string]fstest.MapFS{
		"duplicate":  {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"gap":        {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"unnumbered": {"m/init.sql": {}},
	}
	for name, fsys := range bad {
		if _, err := loadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRebind(t *testing.T) {
	t.Parallel()
	if got := postgres.rebind("a = ? AND b IN (?, ?)"); got != "a = $1 AND b IN ($2, $3)" {
		t.Errorf("postgres: %s", got)
	}
	if got := embedded.rebind("a = ?"); got != "a = ?" {
		t.Errorf("embedded: %s", got)
	}
}
