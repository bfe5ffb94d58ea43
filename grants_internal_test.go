package fiveid

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signGrant writes byte for byte the token jwt/v5 writes for the grant's
// claims (Ed25519 signatures are deterministic), for grants with and
// without a grade, several scopes, and names needing JSON escapes.
func TestSignGrantAsJWT(t *testing.T) {
	priv := ed25519.NewKeyFromSeed([]byte(strings.Repeat("k", ed25519.SeedSize)))
	key := SigningKey{ID: "K01TEST", Private: priv}
	issued := time.Date(2026, 12, 1, 8, 30, 15, 987654321, time.UTC)
	for _, g := range []Grant{
		{ID: "G1", CustomerID: "C1", Grantee: "hosp-a", Scopes: []string{"records"}, Purpose: "treatment",
			Grade: "exact", IssuedAt: issued, ExpiresAt: issued.Add(5 * time.Minute)},
		{ID: "G2", CustomerID: "C2", Grantee: "care<&>\"x\"", Scopes: []string{"records", "billing", "中文"},
			Purpose: "audit", IssuedAt: issued.Add(-time.Hour), ExpiresAt: issued.Add(time.Hour + 999*time.Millisecond)},
	} {
		got, err := signGrant(g, key)
		if err != nil {
			t.Fatal(err)
		}
		claims := GrantClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: TokenIssuer, Subject: g.CustomerID, Audience: jwt.ClaimStrings{TokenAudience},
				ExpiresAt: jwt.NewNumericDate(g.ExpiresAt), IssuedAt: jwt.NewNumericDate(g.IssuedAt),
				NotBefore: jwt.NewNumericDate(g.IssuedAt), ID: g.ID,
			},
			Grantee: g.Grantee, Scope: strings.Join(g.Scopes, " "), Purpose: g.Purpose, Grade: g.Grade,
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = key.ID
		want, err := tok.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("grant %s:\n got %s\nwant %s", g.ID, got, want)
		}
	}
}

func BenchmarkSignGrant(b *testing.B) {
	key := SigningKey{ID: "K01TEST", Private: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	now := time.Now()
	g := Grant{ID: "G01KAZ5Y8TQ3XW", CustomerID: "C01KAZ5Y8TQ3XW", Grantee: "hosp-a", Scopes: []string{"records"},
		Purpose: "treatment", Grade: "exact", IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	for b.Loop() {
		if _, err := signGrant(g, key); err != nil {
			b.Fatal(err)
		}
	}
}
