package fiveid_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"

	_ "modernc.org/sqlite"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func clockService(t *testing.T, clock *fakeClock) *fiveid.Service {
	t.Helper()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	db := teststore.Embedded(t)
	svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewMemoryCache(time.Minute, 100), Scorer: sc, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc
}

// verifyOffline is what a data holder does with the JWKS only.
func verifyOffline(t *testing.T, svc *fiveid.Service, token string, now time.Time) (*fiveid.GrantClaims, error) {
	t.Helper()
	keys, err := svc.PublicKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var c fiveid.GrantClaims
	_, err = jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		for _, k := range keys {
			if k.ID == tok.Header["kid"] {
				return k.Private.Public(), nil
			}
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithAudience(fiveid.TokenAudience), jwt.WithIssuer(fiveid.TokenIssuer),
		jwt.WithTimeFunc(func() time.Time { return now }))
	return &c, err
}

func TestGrantLifecycle(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	svc := clockService(t, clock)
	ctx := t.Context()
	p := setup(t, svc, "hosp", "care", "funeral")
	if _, err := svc.Register(ctx, p["hosp"], "P1", zhang); err != nil {
		t.Fatal(err)
	}
	req := fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment"}

	// No policy, no grant; the denial says nothing about the customer.
	res, err := svc.IdentifyAndGrant(ctx, p["care"], zhang, req)
	if !errors.Is(err, fiveid.ErrPolicyDenied) || res.CustomerID != "" || res.Grant != nil {
		t.Fatalf("without a policy: %+v %v", res, err)
	}
	if _, err := svc.CreatePolicy(ctx, admin, fiveid.Policy{Grantee: "care", Scopes: []string{"medical", "eldercare"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IdentifyAndGrant(ctx, p["care"], zhang, fiveid.GrantRequest{Scopes: []string{"funeral"}, Purpose: "treatment"}); !errors.Is(err, fiveid.ErrPolicyDenied) {
		t.Fatalf("a scope outside the policy: %v", err)
	}
	if _, err := svc.IdentifyAndGrant(ctx, p["care"], zhang, fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "marketing"}); !errors.Is(err, fiveid.ErrPolicyDenied) {
		t.Fatalf("a purpose outside the policy: %v", err)
	}
	res, err = svc.IdentifyAndGrant(ctx, p["care"], zhang, fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment", TTL: 10 * time.Minute})
	if err != nil || res.Grant == nil {
		t.Fatalf("grant: %+v %v", res, err)
	}
	g := res.Grant
	if g.CustomerID != res.CustomerID || g.Grantee != "care" || !g.ExpiresAt.Equal(clock.Now().Truncate(time.Second).Add(10*time.Minute)) {
		t.Fatalf("grant fields: %+v", g.Grant)
	}

	// Offline: the JWKS verifies it and the claims name everything.
	c, err := verifyOffline(t, svc, g.Token, clock.Now())
	if err != nil || c.Subject != g.CustomerID || c.Grantee != "care" || c.Scope != "medical" || c.Purpose != "treatment" || c.ID != g.ID {
		t.Fatalf("offline verification: %+v %v", c, err)
	}
	// Online: a holder of medical data learns about it; a system that holds
	// none of its scopes learns nothing, as if the token were forged.
	if in, err := svc.Introspect(ctx, p["hosp"], g.Token); err != nil || in.Active {
		t.Fatalf("introspect before hosp holds medical data: %+v %v", in, err)
	}
	if e := lastIntrospection(t, svc); e.Detail != "not_entitled" || e.ActorSystem != "hosp" || e.GrantID != g.ID {
		t.Fatalf("log of an introspection by a system not entitled: %+v", e)
	}
	if _, err := svc.CreateHolder(ctx, admin, fiveid.Holder{System: "hosp", Scopes: []string{"medical"}}); err != nil {
		t.Fatal(err)
	}
	in, err := svc.Introspect(ctx, p["hosp"], g.Token)
	if err != nil || !in.Active || in.CustomerID != g.CustomerID || in.Grantee != "care" {
		t.Fatalf("introspect: %+v %v", in, err)
	}
	if in, _ := svc.Introspect(ctx, p["funeral"], g.Token); in.Active || in.GrantID != "" {
		t.Fatalf("a system holding none of the scopes: %+v", in)
	}
	// Forged: same claims signed by another key; tampered payload.
	parts := strings.Split(g.Token, ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	if in, _ := svc.Introspect(ctx, p["hosp"], forged); in.Active || lastIntrospection(t, svc).Detail != "bad_signature" {
		t.Fatalf("forged signature: %+v", in)
	}
	if in, _ := svc.Introspect(ctx, p["hosp"], "not a token"); in.Active || lastIntrospection(t, svc).Detail != "malformed" {
		t.Fatalf("malformed: %+v", in)
	}

	// Rotation: the old token still verifies offline and online.
	if _, err := svc.RotateSigningKey(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if _, err := verifyOffline(t, svc, g.Token, clock.Now()); err != nil {
		t.Fatalf("old token after rotation: %v", err)
	}
	res2, err := svc.IdentifyAndGrant(ctx, p["care"], zhang, req)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Grant.SigningKey == g.SigningKey {
		t.Fatal("rotation did not change the signing key")
	}

	// Revocation: only admin or the grantee.
	if err := svc.RevokeGrant(ctx, p["hosp"], g.ID); !errors.Is(err, fiveid.ErrNotFound) {
		t.Fatalf("another system revoked the grant: %v", err)
	}
	if err := svc.RevokeGrant(ctx, p["care"], g.ID); err != nil {
		t.Fatal(err)
	}
	if in, _ := svc.Introspect(ctx, p["hosp"], g.Token); in.Active || lastIntrospection(t, svc).Detail != "revoked" {
		t.Fatalf("revoked token: %+v", in)
	}
	// Expiry.
	clock.Add(2 * time.Hour)
	if in, _ := svc.Introspect(ctx, p["hosp"], res2.Grant.Token); in.Active || lastIntrospection(t, svc).Detail != "expired" {
		t.Fatalf("expired token: %+v", in)
	}

	// The log holds every step, chains, and carries no raw identity data.
	auditor := fiveid.Principal{KeyID: "aud", Role: fiveid.RoleAuditor}
	evs, _, err := svc.AuditEvents(ctx, auditor, fiveid.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Action]++
		for _, v := range []string{e.Subject, e.IDMasked, e.Detail, e.Purpose} {
			if strings.Contains(v, "11010519491231002X") || strings.Contains(v, "张伟") || strings.Contains(v, "1949-12-31") {
				t.Fatalf("raw identity data in the log: %+v", e)
			}
		}
	}
	for _, a := range []string{fiveid.ActionGrantDenied, fiveid.ActionGrantIssued, fiveid.ActionGrantIntrospected, fiveid.ActionGrantRevoked, fiveid.ActionPolicyCreated, fiveid.ActionSigningKeyRotated} {
		if seen[a] == 0 {
			t.Errorf("no %s entry in %v", a, seen)
		}
	}
	v, err := svc.VerifyAudit(ctx, auditor)
	if err != nil || !v.OK || v.Entries != int64(len(evs)) {
		t.Fatalf("verify: %+v %v", v, err)
	}
	if _, _, err := svc.AuditEvents(ctx, p["hosp"], fiveid.AuditFilter{}); !errors.Is(err, fiveid.ErrDenied) {
		t.Fatalf("a system key read the log: %v", err)
	}
	if _, err := svc.IdentifyAndGrant(ctx, auditor, zhang, req); !errors.Is(err, fiveid.ErrDenied) {
		t.Fatalf("an auditor asked for a grant: %v", err)
	}
}

// lastIntrospection returns the newest grant.introspected entry of the log.
func lastIntrospection(t *testing.T, svc *fiveid.Service) fiveid.AuditEvent {
	t.Helper()
	evs, _, err := svc.AuditEvents(t.Context(), fiveid.Principal{Role: fiveid.RoleAuditor}, fiveid.AuditFilter{Action: fiveid.ActionGrantIntrospected, Limit: 5000})
	if err != nil || len(evs) == 0 {
		t.Fatalf("no introspection in the grant log: %v", err)
	}
	return evs[len(evs)-1]
}

func TestIdentifyOutcomesAreLogged(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	svc := clockService(t, clock)
	ctx := t.Context()
	p := setup(t, svc, "hosp")
	if _, err := svc.Identify(ctx, p["hosp"], zhang); !errors.Is(err, fiveid.ErrNoMatch) {
		t.Fatal(err)
	}
	evs, _, err := svc.AuditEvents(ctx, fiveid.Principal{Role: fiveid.RoleAuditor}, fiveid.AuditFilter{Action: fiveid.ActionIdentifyNoMatch})
	if err != nil || len(evs) != 1 || evs[0].IDMasked != "110105********002X" || evs[0].Subject == "" {
		t.Fatalf("no_match entry: %+v %v", evs, err)
	}
}

// Editing or deleting an entry directly in the database is caught, and the
// first broken entry is named.
func TestGrantLogTamperingIsDetected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		broken    int64
	}{
		{"edited", "UPDATE audit_events SET customer_id = 'C-someone-else' WHERE seq = 2", 2},
		{"deleted from the middle", "DELETE FROM audit_events WHERE seq = 2", 2},
		{"last entry deleted", "DELETE FROM audit_events WHERE seq = 3", 3},
		{"rehashed without relinking", "UPDATE audit_events SET hash = 'x' WHERE seq = 1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
			db, err := store.OpenEmbedded(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewMemoryCache(time.Minute, 10), Scorer: sc})
			if err != nil {
				t.Fatal(err)
			}
			p := setup(t, svc, "hosp")
			for range 3 {
				svc.Identify(t.Context(), p["hosp"], zhang)
			}
			auditor := fiveid.Principal{Role: fiveid.RoleAuditor}
			if v, err := svc.VerifyAudit(t.Context(), auditor); err != nil || !v.OK || v.Entries != 3 {
				t.Fatalf("before tampering: %+v %v", v, err)
			}
			svc.Close()
			db.Close()

			raw, err := sql.Open("sqlite", filepath.Join(dir, "fiveid.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			raw.Close()

			db, err = store.OpenEmbedded(t.Context(), dir)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			svc, err = fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewMemoryCache(time.Minute, 10), Scorer: sc})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			v, err := svc.VerifyAudit(t.Context(), auditor)
			if err != nil || v.OK || v.FirstBroken != tc.broken {
				t.Fatalf("after tampering: %+v %v", v, err)
			}
		})
	}
}

// Two services on one database (two processes) append to one chain: each
// writes after the head it last saw and re-reads it when the other moved
// it; no entry is lost and the chain never forks.
func TestGrantLogIsOneChainAcrossProcesses(t *testing.T) {
	t.Parallel()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	opens := map[string]func() (*store.DB, error){
		"embedded": func() (*store.DB, error) { return store.OpenEmbedded(t.Context(), dir) },
	}
	if url := storetest.PostgresURL(t); url != "" {
		opens["postgres"] = func() (*store.DB, error) { return store.OpenPostgres(t.Context(), url) }
	}
	for name, open := range opens {
		t.Run(name, func(t *testing.T) {
			var svcs [2]*fiveid.Service
			for i := range svcs {
				db, err := open()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				svcs[i], err = fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewMemoryCache(time.Minute, 10), Scorer: sc})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(svcs[i].Close)
			}
			p := setup(t, svcs[0], "hosp")
			if _, err := svcs[0].Register(t.Context(), p["hosp"], "1", zhang); err != nil {
				t.Fatal(err)
			}
			wang := match.Input{Name: "王芳", Sex: "女", BirthDate: "1960-02-03", IDType: "01", IDNumber: "110105196002030021"}
			const each = 40
			var wg sync.WaitGroup
			for _, svc := range svcs {
				for range 4 {
					wg.Go(func() {
						for range each / 4 {
							// Not found and found alternate; both are logged.
							if _, err := svc.Identify(t.Context(), p["hosp"], zhang); err != nil {
								t.Error(err)
							}
							if _, err := svc.Identify(t.Context(), p["hosp"], wang); !errors.Is(err, fiveid.ErrNoMatch) {
								t.Error(err)
							}
						}
					})
				}
			}
			wg.Wait()
			auditor := fiveid.Principal{Role: fiveid.RoleAuditor}
			for i, svc := range svcs {
				v, err := svc.VerifyAudit(t.Context(), auditor)
				if err != nil || !v.OK || v.Entries != 2*2*each {
					t.Fatalf("service %d verifies: %+v %v", i, v, err)
				}
			}
		})
	}
}

// Paging never drops an entry: a limit above the maximum is the maximum
// (it once fell back to 100 while the API decided about the cursor from
// the limit asked), and the cursor is set exactly when more follow.
func TestAuditPagingSeesEveryEntryOnce(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			for i := range 101 {
				q := match.Input{Name: "查无此人", Sex: "女", BirthDate: fmt.Sprintf("19%02d-02-03", i%90+10)}
				if _, err := svc.Identify(ctx, p["a"], q); err != nil && !errors.Is(err, fiveid.ErrNoMatch) {
					t.Fatal(err)
				}
			}
			auditor := fiveid.Principal{Role: fiveid.RoleAuditor}
			all, next, err := svc.AuditEvents(ctx, auditor, fiveid.AuditFilter{Limit: 6000})
			if err != nil || len(all) < 101 || next != "" {
				t.Fatalf("limit 6000: %d entries, next %q, %v", len(all), next, err)
			}
			for _, limit := range []int{1, 50, 100, len(all)} {
				var seen []int64
				f := fiveid.AuditFilter{Limit: limit}
				for pages := 0; ; pages++ {
					evs, next, err := svc.AuditEvents(ctx, auditor, f)
					if err != nil || len(evs) > limit || pages > len(all) {
						t.Fatalf("limit %d: %d entries, %v", limit, len(evs), err)
					}
					for _, e := range evs {
						seen = append(seen, e.Seq)
					}
					if next == "" {
						break
					}
					if len(evs) != limit {
						t.Fatalf("limit %d: a short page (%d) with a next cursor", limit, len(evs))
					}
					if f.AfterSeq, err = strconv.ParseInt(next, 10, 64); err != nil {
						t.Fatal(err)
					}
				}
				if len(seen) != len(all) || seen[0] != all[0].Seq || seen[len(seen)-1] != all[len(all)-1].Seq {
					t.Fatalf("limit %d: saw %d of %d entries", limit, len(seen), len(all))
				}
			}
		})
	}
}
