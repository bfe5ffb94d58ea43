package fiveid_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

var auditor = fiveid.Principal{KeyID: "audit", Role: fiveid.RoleAuditor}

// idemServices is a Service with idempotency keys on each store (the
// embedded always, PostgreSQL when reachable), on one settable clock.
func idemServices(t *testing.T, clock *fakeClock, wait time.Duration) map[string]*fiveid.Service {
	t.Helper()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	newSvc := func(db *store.DB) *fiveid.Service {
		svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Idempotency: db,
			Cache: store.NewMemoryCache(time.Minute, 100), Scorer: sc, Clock: clock.Now, IdempotencyWait: wait})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		return svc
	}
	return map[string]*fiveid.Service{"embedded": newSvc(teststore.Embedded(t)), "postgres": newSvc(teststore.Postgres(t))}
}

// grantScene registers zhang and lets hosp receive medical data for
// treatment; it returns hosp's principal and an idempotent identify of
// zhang asking for a grant.
func grantScene(t *testing.T, svc *fiveid.Service) (fiveid.Principal, fiveid.IdempotentRequest, func(ctx context.Context, grantID string) (fiveid.IdentifyResult, error)) {
	t.Helper()
	p := setup(t, svc, "hosp")["hosp"]
	if _, err := svc.Register(t.Context(), p, "P1", zhang); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreatePolicy(t.Context(), admin, fiveid.Policy{Grantee: "hosp", Scopes: []string{"medical"}, Purposes: []string{"treatment"}}); err != nil {
		t.Fatal(err)
	}
	req := fiveid.IdempotentRequest{Key: "order-1", Op: "POST /v1/identify", Body: []byte(`{"zhang":1}`), Grants: true}
	identify := func(ctx context.Context, grantID string) (fiveid.IdentifyResult, error) {
		return svc.IdentifyAndGrant(ctx, p, zhang, fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment", ID: grantID})
	}
	return p, req, identify
}

func mustNotRun(t *testing.T) fiveid.IdempotentRun {
	return func(context.Context, string) (fiveid.IdempotentResponse, error) {
		t.Error("a request with a kept or running key ran")
		return fiveid.IdempotentResponse{}, errors.New("ran")
	}
}

func countGrants(t *testing.T, svc *fiveid.Service) int {
	t.Helper()
	gs, _, err := svc.ListGrants(t.Context(), admin, fiveid.GrantFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(gs)
}

// The window the ordering leaves: the grant is committed and the process
// dies before the answer is kept. Retries hear "in progress" for the
// lease, then one takes the run over — under the grant ID reserved with
// the key, so it finds that grant and answers it, with the very token;
// nothing mints a second grant, and the run that died cannot overwrite
// the answer.
func TestIdempotentGrantSurvivesACrashBeforeItsAnswerIsKept(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	for name, svc := range idemServices(t, clock, -1) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p, req, identify := grantScene(t, svc)
			minted := make(chan *fiveid.IssuedGrant, 1)
			hang, died := make(chan struct{}), make(chan error, 1)
			go func() {
				_, err := svc.Idempotent(ctx, p, req, func(ctx context.Context, grantID string) (fiveid.IdempotentResponse, error) {
					res, err := identify(ctx, grantID)
					minted <- res.Grant
					<-hang // the process is gone before it keeps its answer
					return fiveid.IdempotentResponse{Status: 200, Body: []byte("first")}, err
				})
				died <- err
			}()
			first := <-minted
			if first == nil {
				t.Fatal("the first run minted no grant")
			}
			if _, err := svc.Idempotent(ctx, p, req, mustNotRun(t)); !errors.Is(err, fiveid.ErrIdempotencyInProgress) {
				t.Fatalf("a retry within the lease: %v", err)
			}
			clock.Add(2 * time.Minute)
			var again *fiveid.IssuedGrant
			res, err := svc.Idempotent(ctx, p, req, func(ctx context.Context, grantID string) (fiveid.IdempotentResponse, error) {
				r, err := identify(ctx, grantID)
				again = r.Grant
				return fiveid.IdempotentResponse{Status: 200, Body: []byte("second")}, err
			})
			if err != nil || res.Replayed || again == nil {
				t.Fatalf("the retry that takes over: %+v %v", res, err)
			}
			if again.ID != first.ID || again.Token != first.Token {
				t.Errorf("the takeover answered grant %s, want the minted %s with its token", again.ID, first.ID)
			}
			if n := countGrants(t, svc); n != 1 {
				t.Errorf("%d grants after a crash and a retry", n)
			}
			close(hang)
			if err := <-died; err != nil {
				t.Errorf("the run taken over: %v", err)
			}
			res, err = svc.Idempotent(ctx, p, req, mustNotRun(t))
			if err != nil || !res.Replayed || string(res.Body) != "second" {
				t.Errorf("replay: %+v %v", res, err)
			}
			// The grant log: one grant issued; the retry's identify logged,
			// naming that grant.
			evs, _, err := svc.AuditEvents(ctx, auditor, fiveid.AuditFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var issued, recovered int
			for _, e := range evs {
				switch {
				case e.Action == fiveid.ActionGrantIssued:
					issued++
				case e.Action == fiveid.ActionIdentifyMatched && e.GrantID == first.ID && e.Detail == "grant_recovered":
					recovered++
				}
			}
			if issued != 1 || recovered != 1 {
				t.Errorf("grant log: %d issued, %d recovered", issued, recovered)
			}
		})
	}
}

// A run that fails after its grant committed (an ambiguous commit, a
// failure to answer) keeps nothing: the retry runs at once, under the same
// grant ID, and answers that grant. The key stays bound to its request.
func TestIdempotentFailedRunIsRetriedUnderItsGrant(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	for name, svc := range idemServices(t, clock, -1) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p, req, identify := grantScene(t, svc)
			var first *fiveid.IssuedGrant
			_, err := svc.Idempotent(ctx, p, req, func(ctx context.Context, grantID string) (fiveid.IdempotentResponse, error) {
				r, err := identify(ctx, grantID)
				if err != nil {
					t.Fatal(err)
				}
				first = r.Grant
				return fiveid.IdempotentResponse{Status: 503, Body: []byte(`{"code":"unavailable"}`)}, fiveid.ErrUnavailable
			})
			if !errors.Is(err, fiveid.ErrUnavailable) {
				t.Fatalf("a failed run: %v", err)
			}
			other := req
			other.Body = []byte(`{"li":1}`)
			if _, err := svc.Idempotent(ctx, p, other, mustNotRun(t)); !errors.Is(err, fiveid.ErrIdempotencyKeyReused) {
				t.Errorf("another request under the failed key: %v", err)
			}
			var again *fiveid.IssuedGrant
			res, err := svc.Idempotent(ctx, p, req, func(ctx context.Context, grantID string) (fiveid.IdempotentResponse, error) {
				r, err := identify(ctx, grantID)
				again = r.Grant
				return fiveid.IdempotentResponse{Status: 200, Body: []byte("ok")}, err
			})
			if err != nil || res.Replayed || again == nil || again.ID != first.ID || again.Token != first.Token {
				t.Fatalf("the retry: %+v %v, grant %+v want %s", res, err, again, first.ID)
			}
			if n := countGrants(t, svc); n != 1 {
				t.Errorf("%d grants", n)
			}
			// GrantToken signs again for the grantee key only.
			if tok, err := svc.GrantToken(ctx, p, first.ID); err != nil || tok != first.Token {
				t.Errorf("grant token: %v", err)
			}
			if _, err := svc.GrantToken(ctx, fiveid.Principal{KeyID: "other", Role: fiveid.RoleSystem, System: "hosp"}, first.ID); !errors.Is(err, fiveid.ErrNotFound) {
				t.Errorf("another key's grant token: %v", err)
			}
		})
	}
}

// A duplicate of a running request waits for its answer (up to the
// configured wait) and gets it as a replay.
func TestIdempotentDuplicateWaitsForTheAnswer(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	for name, svc := range idemServices(t, clock, 0) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := fiveid.Principal{KeyID: "k1", Role: fiveid.RoleSystem, System: "hosp"}
			req := fiveid.IdempotentRequest{Key: "slow", Op: "POST /v1/customers", Body: []byte(`{}`)}
			started, finish := make(chan struct{}), make(chan struct{})
			done := make(chan fiveid.IdempotentResult, 1)
			go func() {
				res, err := svc.Idempotent(ctx, p, req, func(context.Context, string) (fiveid.IdempotentResponse, error) {
					close(started)
					<-finish
					return fiveid.IdempotentResponse{Status: 201, Body: []byte("created")}, nil
				})
				if err != nil {
					t.Error(err)
				}
				done <- res
			}()
			<-started
			time.AfterFunc(100*time.Millisecond, func() { close(finish) })
			res, err := svc.Idempotent(ctx, p, req, mustNotRun(t))
			if err != nil || !res.Replayed || res.Status != 201 || string(res.Body) != "created" {
				t.Errorf("the duplicate: %+v %v", res, err)
			}
			if first := <-done; first.Replayed || string(first.Body) != "created" {
				t.Errorf("the first: %+v", first)
			}
		})
	}
}

// A run that claims success must answer a status that can be kept; one
// that does not is an error and leaves the key to a retry. (On memStore:
// the rule needs no database.)
func TestIdempotentRunWithoutAStatusIsNotKept(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)}
	svc, _ := memService(t, fiveid.Config{Clock: clock.Now, IdempotencyWait: -1})
	ctx := t.Context()
	p := fiveid.Principal{KeyID: "k1", Role: fiveid.RoleSystem, System: "hosp"}
	req := fiveid.IdempotentRequest{Key: "k", Op: "POST /v1/customers", Body: []byte(`{}`)}
	if _, err := svc.Idempotent(ctx, p, req, func(context.Context, string) (fiveid.IdempotentResponse, error) {
		return fiveid.IdempotentResponse{}, nil
	}); err == nil {
		t.Fatal("a run without a status was kept")
	}
	res, err := svc.Idempotent(ctx, p, req, func(context.Context, string) (fiveid.IdempotentResponse, error) {
		return fiveid.IdempotentResponse{Status: 201, Body: []byte("ok")}, nil
	})
	if err != nil || res.Replayed || res.Status != 201 {
		t.Errorf("the retry: %+v %v", res, err)
	}
}
