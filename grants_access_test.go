package fiveid_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
)

// grantFixture: hosp registered zhang; care may receive medical and
// eldercare data for treatment.
func grantFixture(t *testing.T, svc *fiveid.Service, systems ...string) map[string]fiveid.Principal {
	t.Helper()
	p := setup(t, svc, append([]string{"hosp", "care"}, systems...)...)
	if _, err := svc.Register(t.Context(), p["hosp"], "P1", zhang); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePolicy(t.Context(), admin, fiveid.Policy{Grantee: "care", Scopes: []string{"medical", "eldercare"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return p
}

func grant(t *testing.T, svc *fiveid.Service, p fiveid.Principal, scopes ...string) *fiveid.IssuedGrant {
	t.Helper()
	res, err := svc.IdentifyAndGrant(t.Context(), p, zhang, fiveid.GrantRequest{Scopes: scopes, Purpose: "treatment"})
	if err != nil || res.Grant == nil {
		t.Fatalf("grant: %+v %v", res, err)
	}
	return res.Grant
}

// Introspection tells a grant's details only to an admin, the grantee, or a
// holder of one of its scopes. Anyone else hears exactly what a forged
// token gets: nothing but inactive.
func TestIntrospectionTellsOnlyWhomItMust(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := grantFixture(t, svc, "lab", "funeral", "elder")
			g := grant(t, svc, p["care"], "medical")
			// hosp holds medical data; elder holds eldercare only, lab nothing.
			for sys, scopes := range map[string][]string{"hosp": {"medical", "funeral"}, "elder": {"eldercare"}} {
				if _, err := svc.CreateHolder(ctx, admin, fiveid.Holder{System: sys, Scopes: scopes}); err != nil {
					t.Fatal(err)
				}
			}
			parts := strings.Split(g.Token, ".")
			forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
			nothing, err := svc.Introspect(ctx, p["lab"], forged)
			if err != nil || nothing.Active {
				t.Fatalf("forged token: %+v %v", nothing, err)
			}
			want := fiveid.Introspection{Active: true, GrantID: g.ID, CustomerID: g.CustomerID, Grantee: "care",
				Scopes: []string{"medical"}, Purpose: "treatment", Grade: g.Grade, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt}
			for _, tc := range []struct {
				name   string
				caller fiveid.Principal
				sees   bool
			}{
				{"admin", admin, true},
				{"the grantee", p["care"], true},
				{"a holder of the grant's scope", p["hosp"], true},
				{"a holder of another scope only", p["elder"], false},
				{"an unrelated system", p["lab"], false},
				{"another unrelated system", p["funeral"], false},
			} {
				got, err := svc.Introspect(ctx, tc.caller, g.Token)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if !tc.sees {
					if d := cmp.Diff(nothing, got); d != "" {
						t.Errorf("%s learnt something (-forged +got):\n%s", tc.name, d)
					}
				} else if d := cmp.Diff(want, got); d != "" {
					t.Errorf("%s (-want +got):\n%s", tc.name, d)
				}
				// The log names the authenticated caller and what it was told.
				e := lastIntrospection(t, svc)
				wantDetail := "not_entitled"
				if tc.sees {
					wantDetail = "active"
				}
				if e.ActorKey != tc.caller.KeyID || e.ActorSystem != tc.caller.System || e.GrantID != g.ID || e.CustomerID != g.CustomerID || e.Detail != wantDetail {
					t.Errorf("%s: log entry %+v, want actor %s/%s, detail %s", tc.name, e, tc.caller.KeyID, tc.caller.System, wantDetail)
				}
			}
			if _, err := svc.Introspect(ctx, fiveid.Principal{KeyID: "aud", Role: fiveid.RoleAuditor}, g.Token); !errors.Is(err, fiveid.ErrDenied) {
				t.Errorf("an auditor introspected: %v", err)
			}

			// A grant of two scopes: a holder of either one sees it.
			g2 := grant(t, svc, p["care"], "medical", "eldercare")
			if in, err := svc.Introspect(ctx, p["elder"], g2.Token); err != nil || !in.Active || !slices.Equal(in.Scopes, []string{"eldercare", "medical"}) {
				t.Errorf("holder of one of two scopes: %+v %v", in, err)
			}

			// Deleting the holder ends what it learns, at once on this instance.
			hs, err := svc.ListHolders(ctx, admin, "hosp")
			if err != nil || len(hs) != 1 || hs[0].System != "hosp" || !slices.Equal(hs[0].Scopes, []string{"funeral", "medical"}) {
				t.Fatalf("holders of hosp: %+v %v", hs, err)
			}
			if err := svc.DeleteHolder(ctx, admin, hs[0].ID); err != nil {
				t.Fatal(err)
			}
			if in, _ := svc.Introspect(ctx, p["hosp"], g.Token); in.Active {
				t.Errorf("a deleted holder still learns about grants: %+v", in)
			}
			if err := svc.DeleteHolder(ctx, admin, hs[0].ID); !errors.Is(err, fiveid.ErrNotFound) {
				t.Errorf("deleting twice: %v", err)
			}

			// Revoked: inactive for everyone, admin included, with nothing else.
			if err := svc.RevokeGrant(ctx, p["care"], g.ID); err != nil {
				t.Fatal(err)
			}
			for _, caller := range []fiveid.Principal{admin, p["care"], p["lab"]} {
				if got, err := svc.Introspect(ctx, caller, g.Token); err != nil || cmp.Diff(nothing, got) != "" {
					t.Errorf("revoked token to %s: %+v %v", caller.KeyID, got, err)
				}
				if e := lastIntrospection(t, svc); e.Detail != "revoked" {
					t.Errorf("revoked token: log detail %q", e.Detail)
				}
			}
		})
	}
}

// (On memStore: holders, systems and the grant log need no database.)
func TestHoldersAreManagedLikePolicies(t *testing.T) {
	t.Parallel()
	svc, _ := memService(t, fiveid.Config{})
	ctx := t.Context()
	p := setup(t, svc, "hosp")
	var ve *fiveid.ValidationError
	for _, tc := range []struct {
		name  string
		h     fiveid.Holder
		field string
	}{
		{"no scopes", fiveid.Holder{System: "hosp"}, "scopes"},
		{"a scope that is no word", fiveid.Holder{System: "hosp", Scopes: []string{"Medical data"}}, "scopes"},
		{"an unknown system", fiveid.Holder{System: "nope", Scopes: []string{"medical"}}, "system"},
	} {
		if _, err := svc.CreateHolder(ctx, admin, tc.h); !errors.As(err, &ve) || ve.Problems[0].Field != tc.field {
			t.Errorf("%s: %v, want a problem with %s", tc.name, err, tc.field)
		}
	}
	if _, err := svc.CreateHolder(ctx, p["hosp"], fiveid.Holder{System: "hosp", Scopes: []string{"medical"}}); !errors.Is(err, fiveid.ErrDenied) {
		t.Errorf("a system key made itself a holder: %v", err)
	}
	h, err := svc.CreateHolder(ctx, admin, fiveid.Holder{System: "hosp", Scopes: []string{" Medical ", "medical", "eldercare"}})
	if err != nil || h.ID == "" || !slices.Equal(h.Scopes, []string{"eldercare", "medical"}) || h.CreatedBy != admin.KeyID {
		t.Fatalf("create holder: %+v %v", h, err)
	}
	auditor := fiveid.Principal{KeyID: "aud", Role: fiveid.RoleAuditor}
	if hs, err := svc.ListHolders(ctx, auditor, ""); err != nil || len(hs) != 1 || hs[0].ID != h.ID {
		t.Errorf("an auditor lists holders: %+v %v", hs, err)
	}
	if _, err := svc.ListHolders(ctx, p["hosp"], ""); !errors.Is(err, fiveid.ErrDenied) {
		t.Errorf("a system key listed holders: %v", err)
	}
	if err := svc.DeleteHolder(ctx, auditor, h.ID); !errors.Is(err, fiveid.ErrDenied) {
		t.Errorf("an auditor deleted a holder: %v", err)
	}
	if err := svc.DeleteHolder(ctx, admin, h.ID); err != nil {
		t.Fatal(err)
	}
	if hs, _ := svc.ListHolders(ctx, admin, ""); len(hs) != 0 {
		t.Errorf("a deleted holder is listed: %+v", hs)
	}
	evs, _, err := svc.AuditEvents(ctx, auditor, fiveid.AuditFilter{System: "hosp", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, fiveid.ActionHolderCreated) || !slices.Contains(actions, fiveid.ActionHolderDeleted) {
		t.Errorf("holder changes not in the grant log: %v", actions)
	}
}

// Revoking a key with revokeGrants revokes exactly the grants still active
// that were asked for with it, and logs each; without it, none.
func TestRevokingAKeyCanRevokeItsGrants(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			grantFixture(t, svc)
			keys, secrets := map[string]fiveid.Principal{}, map[string]string{}
			for _, n := range []string{"kept", "swept", "other"} {
				_, secret, err := svc.CreateKey(ctx, admin, fiveid.RoleSystem, "care", n)
				if err != nil {
					t.Fatal(err)
				}
				if keys[n], err = svc.Authenticate(ctx, secret); err != nil {
					t.Fatal(err)
				}
				secrets[n] = secret
			}
			grants := map[string][]*fiveid.IssuedGrant{}
			for n, count := range map[string]int{"kept": 2, "swept": 3, "other": 1} {
				for range count {
					grants[n] = append(grants[n], grant(t, svc, keys[n], "medical"))
				}
			}
			// One of the swept key's grants was revoked already: it is not
			// revoked or logged again.
			already := grants["swept"][2]
			if err := svc.RevokeGrant(ctx, keys["swept"], already.ID); err != nil {
				t.Fatal(err)
			}

			n, err := svc.RevokeKey(ctx, admin, keys["kept"].KeyID, false)
			if err != nil || n != 0 {
				t.Fatalf("revoke without grants: %d %v", n, err)
			}
			n, err = svc.RevokeKey(ctx, admin, keys["swept"].KeyID, true)
			if err != nil || n != 2 {
				t.Fatalf("revoke with grants: %d %v, want 2", n, err)
			}
			for _, k := range []string{"kept", "swept"} {
				if _, err := svc.Authenticate(ctx, secrets[k]); !errors.Is(err, fiveid.ErrUnauthenticated) {
					t.Fatalf("the %s key still authenticates: %v", k, err)
				}
			}
			active := func(g *fiveid.IssuedGrant) bool {
				in, err := svc.Introspect(ctx, admin, g.Token)
				if err != nil {
					t.Fatal(err)
				}
				return in.Active
			}
			for n, want := range map[string]bool{"kept": true, "swept": false, "other": true} {
				for _, g := range grants[n] {
					if got := active(g); got != want {
						t.Errorf("grant %s of the %s key: active %v, want %v", g.ID, n, got, want)
					}
				}
			}
			listed, _, err := svc.ListGrants(ctx, admin, fiveid.GrantFilter{Status: "revoked"})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range listed {
				if g.GranteeKey != keys["swept"].KeyID {
					t.Errorf("revoked a grant of another key: %+v", g)
				}
				if g.ID != already.ID && g.RevokedBy != admin.KeyID {
					t.Errorf("revoked_by %q, want the admin's key", g.RevokedBy)
				}
			}

			// The log has one grant.revoked entry per grant the sweep revoked.
			auditor := fiveid.Principal{KeyID: "aud", Role: fiveid.RoleAuditor}
			evs, _, err := svc.AuditEvents(ctx, auditor, fiveid.AuditFilter{Action: fiveid.ActionGrantRevoked, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var swept []string
			for _, e := range evs {
				if e.Detail == "key_revoked" {
					swept = append(swept, e.GrantID)
					if e.ActorKey != admin.KeyID || e.CustomerID == "" || e.Purpose != "treatment" || !slices.Equal(e.Scopes, []string{"medical"}) {
						t.Errorf("log entry of a swept grant: %+v", e)
					}
				}
			}
			slices.Sort(swept)
			wantSwept := []string{grants["swept"][0].ID, grants["swept"][1].ID}
			slices.Sort(wantSwept)
			if d := cmp.Diff(wantSwept, swept); d != "" {
				t.Errorf("swept grants in the log (-want +got):\n%s", d)
			}
			if v, err := svc.VerifyAudit(ctx, auditor); err != nil || !v.OK {
				t.Errorf("grant log after a sweep: %+v %v", v, err)
			}

			// Again: nothing left to revoke; an unknown key is not found.
			if n, err := svc.RevokeKey(ctx, admin, keys["swept"].KeyID, true); err != nil || n != 0 {
				t.Errorf("second sweep: %d %v", n, err)
			}
			if _, err := svc.RevokeKey(ctx, admin, "key_nope", true); !errors.Is(err, fiveid.ErrNotFound) {
				t.Errorf("unknown key: %v", err)
			}
			if _, err := svc.RevokeKey(ctx, keys["other"], keys["other"].KeyID, true); !errors.Is(err, fiveid.ErrDenied) {
				t.Errorf("a system key revoked a key: %v", err)
			}
		})
	}
}

func TestWeakAdminKeysAreRefused(t *testing.T) {
	t.Parallel()
	svc, _ := memService(t, fiveid.Config{}) // API keys need no database
	for _, tc := range []struct {
		name, secret string
		ok           bool
	}{
		{"short", "fk_Short1", false},
		{"31 characters of four classes", "Aa1_" + strings.Repeat("x", 27), false},
		{"all digits", strings.Repeat("0123456789", 4), false},
		{"all lower case", strings.Repeat("abcdefgh", 5), false},
		{"all upper case", strings.Repeat("ABCDEFGH", 5), false},
		{"all other characters", strings.Repeat("!@#$%^&*", 5), false},
		{"all Han characters", strings.Repeat("管理员密钥", 8), false},
		{"32 characters, two classes", strings.Repeat("abc1", 8), true},
		{"a generated key", fiveid.NewKeySecret(), true},
	} {
		err := fiveid.CheckAdminSecret(tc.secret)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckAdminSecret: %v, want ok %v", tc.name, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "FIVEID_ADMIN_KEY") || strings.Contains(err.Error(), tc.secret)) {
			t.Errorf("%s: the error should name the setting and never the secret: %v", tc.name, err)
		}
		shown, err := svc.Bootstrap(t.Context(), tc.secret)
		if (err == nil) != tc.ok || shown != "" {
			t.Errorf("%s: Bootstrap: %v, want ok %v", tc.name, err, tc.ok)
		}
		if _, err := svc.Authenticate(t.Context(), tc.secret); (err == nil) != tc.ok {
			t.Errorf("%s: the key authenticates: %v, want %v", tc.name, err == nil, tc.ok)
		}
	}
}
