package fiveid

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// The chained hash the writer computes from a tail written ahead is the
// hash of the definition: SHA-256 of the previous hash, a newline and
// the canonical JSON of the whole entry, its number included. Logs
// written before must verify as they did.
func TestAuditHashDefinition(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 4, 5, 123456789, time.FixedZone("CST", 8*3600))
	events := []AuditEvent{
		{},
		{Seq: 1, ID: "ev_01", Time: at, Action: ActionGrantIssued, ActorKey: "key_a", ActorSystem: "care-c",
			CustomerID: "C_1", GrantID: "gr_1", Grade: "certain", Score: 0.9912, Purpose: "treatment",
			Scopes: []string{"demographics", "encounters"}, RequestID: "req_1", Subject: "s", IDMasked: "110105********002X"},
		{Seq: math.MaxInt64, ID: "ev_<&>", Time: at, Detail: "王\u2028\u2029\"\\\x00\xff<script>", Score: 1e-9, Scopes: []string{}},
		{Seq: 1234567, Score: 1e21, Purpose: "x", Detail: "tab\tnew\nline"},
		{Seq: 42, Score: math.Copysign(0, -1), Grade: "probable"},
	}
	for _, e := range events {
		for _, prev := range []string{"", "0fc3a1", hexOf("prev")} {
			scopes := e.Scopes
			if scopes == nil {
				scopes = []string{}
			}
			b, err := json.Marshal(auditCanonical{
				Seq: e.Seq, ID: e.ID, Time: e.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
				Action: e.Action, ActorKey: e.ActorKey, ActorSystem: e.ActorSystem, CustomerID: e.CustomerID,
				GrantID: e.GrantID, Grade: e.Grade, Score: e.Score, Purpose: e.Purpose, Scopes: scopes,
				RequestID: e.RequestID, Subject: e.Subject, IDMasked: e.IDMasked, Detail: e.Detail,
			})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.Sum256(append(append([]byte(prev), '\n'), b...))
			want := hex.EncodeToString(h[:])
			if got := AuditHash(prev, e); got != want {
				t.Errorf("AuditHash(%q, seq %d) = %s, want %s (canonical %s)", prev, e.Seq, got, want, b)
			}
			if got := chainHash(prev, e.Seq, auditTail(e)); got != want {
				t.Errorf("chainHash(%q, seq %d) = %s, want %s", prev, e.Seq, got, want)
			}
		}
	}
	// A score JSON cannot write has always hashed as an empty canonical
	// form, and still does (no panic on the request's path).
	for _, score := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		e := events[1]
		e.Score = score
		h := sha256.Sum256([]byte("p\n"))
		if got, want := AuditHash("p", e), hex.EncodeToString(h[:]); got != want {
			t.Errorf("AuditHash with score %v = %s, want %s", score, got, want)
		}
	}
	// One entry's hash as logs have stored it: the definition itself
	// must not move either.
	e := events[1]
	if got, want := AuditHash("", e), "1f713533a9b7dda8"; got[:16] != want {
		t.Errorf("AuditHash of the pinned entry = %s, want %s…", got, want)
	}
}

func hexOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
