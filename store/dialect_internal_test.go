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
