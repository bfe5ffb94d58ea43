package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"fiveid"
)

// Text PostgreSQL cannot hold is the caller's fault (400), not the
// server's (500), and the offending bytes stay out of the error.
func TestMapErrUnstorableTextIsInvalid(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"22021", "22P05"} {
		err := mapErr("op", &pgconn.PgError{Code: code, Message: `invalid byte sequence for encoding "UTF8": 0xe5 0xbc`})
		if !errors.Is(err, fiveid.ErrInvalid) {
			t.Errorf("SQLSTATE %s: %v, want ErrInvalid", code, err)
		}
		if strings.Contains(err.Error(), "0xe5") {
			t.Errorf("SQLSTATE %s: the error quotes the bytes: %v", code, err)
		}
	}
}

// A server out of a resource (class 53: out of shared memory for locks,
// disk full, too many connections) is unavailable for now (503), not an
// internal error.
func TestMapErrInsufficientResourcesIsUnavailable(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"53000", "53100", "53200", "53300", "53400"} {
		if err := mapErr("op", &pgconn.PgError{Code: code, Message: "out of shared memory"}); !errors.Is(err, fiveid.ErrUnavailable) {
			t.Errorf("SQLSTATE %s: %v, want ErrUnavailable", code, err)
		}
	}
}

// The embedded writer's page cache is the size asked for, 32 MiB unless
// asked.
func TestEmbeddedCacheSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ask, want int }{{0, 32}, {256, 256}} {
		db, err := OpenEmbeddedWith(t.Context(), t.TempDir(), EmbeddedOptions{CacheMiB: tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		var pages int
		err = db.write.QueryRowContext(t.Context(), "PRAGMA cache_size").Scan(&pages)
		db.Close()
		if err != nil || pages != -tc.want*1024 {
			t.Errorf("asked %d MiB: cache_size %d (%v), want %d", tc.ask, pages, err, -tc.want*1024)
		}
	}
}
