package fiveid_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

var admin = fiveid.Principal{KeyID: "test", Role: fiveid.RoleAdmin}

// services returns a Service on each store this machine has: the embedded
// store always, PostgreSQL with Redis when reachable.
func services(t *testing.T) map[string]*fiveid.Service {
	t.Helper()
	out := map[string]*fiveid.Service{}
	for name, s := range servicesAndStores(t) {
		out[name] = s.svc
	}
	return out
}

type serviceAndStore struct {
	svc *fiveid.Service
	st  *store.DB
}

// servicesAndStores is services with each one's store, for tests that
// must reach under the service.
func servicesAndStores(t *testing.T) map[string]serviceAndStore {
	t.Helper()
	return servicesAndStoresWith(t, fiveid.Config{})
}

// testStore is a store the tests run on, with the cache a service uses
// on it.
type testStore struct {
	db    *store.DB
	cache fiveid.Cache
}

// testStores opens the stores the tests run on: the embedded store with
// the in-process cache and, when asked for and reachable, PostgreSQL with
// Redis (under a prefix of the test's own).
func testStores(t *testing.T, postgres bool) map[string]testStore {
	t.Helper()
	out := map[string]testStore{"embedded": {teststore.Embedded(t), store.NewMemoryCache(time.Minute, 1000)}}
	if !postgres {
		return out
	}
	pg := teststore.Postgres(t)
	rc, err := store.OpenRedis(t.Context(), storetest.RedisURL(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	out["postgres"] = testStore{pg, store.NewRedisCache(rc, storetest.Prefix(t, rc), time.Minute, store.Breaker{})}
	return out
}

// servicesAndStoresWith is servicesAndStores with the service settings of
// base (its store, grants, cache and scorer are the test's).
func servicesAndStoresWith(t *testing.T, base fiveid.Config) map[string]serviceAndStore {
	t.Helper()
	out := map[string]serviceAndStore{}
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	for name, ts := range testStores(t, true) {
		cfg := base
		cfg.Store, cfg.Grants, cfg.WebhookStore, cfg.Records, cfg.Statistics, cfg.Cache, cfg.Scorer = ts.db, ts.db, ts.db, ts.db, ts.db, ts.cache, sc
		svc, err := fiveid.NewService(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		out[name] = serviceAndStore{svc, ts.db}
	}
	return out
}

func setup(t *testing.T, svc *fiveid.Service, codes ...string) map[string]fiveid.Principal {
	t.Helper()
	ps := map[string]fiveid.Principal{}
	for _, c := range codes {
		if _, err := svc.CreateSystem(t.Context(), admin, fiveid.System{Code: c, Name: c, Kind: fiveid.KindMedical}); err != nil {
			t.Fatal(err)
		}
		ps[c] = fiveid.Principal{KeyID: "k-" + c, Role: fiveid.RoleSystem, System: c}
	}
	return ps
}

var zhang = match.Input{Name: "张伟", Sex: "男", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}

func TestRegisterIdentifyXref(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			r1, err := svc.Register(ctx, p["a"], "1", zhang)
			if err != nil || !r1.Created {
				t.Fatalf("first register: %+v %v", r1, err)
			}
			again, err := svc.Register(ctx, p["a"], "1", zhang)
			if err != nil || !again.Unchanged || again.CustomerID != r1.CustomerID {
				t.Fatalf("repeat register is not idempotent: %+v %v", again, err)
			}
			trad := match.Input{Name: "張偉", Sex: "1", BirthDate: "19491231", IDType: "居民身份证", IDNumber: "110105491231002"}
			r2, err := svc.Register(ctx, p["b"], "x", trad)
			if err != nil || r2.Created || r2.CustomerID != r1.CustomerID || !r2.Decision.Grade.AutoLink() {
				t.Fatalf("15-digit traditional record did not link: %+v %v", r2, err)
			}
			id, err := svc.Identify(ctx, p["b"], zhang)
			if err != nil || id.CustomerID != r1.CustomerID {
				t.Fatalf("identify: %+v %v", id, err)
			}
			x, err := svc.Xref(ctx, p["a"], "b", "x")
			if err != nil || x.CustomerID != r1.CustomerID || len(x.Records) != 2 {
				t.Fatalf("xref: %+v %v", x, err)
			}
			v, err := svc.Customer(ctx, admin, r1.CustomerID)
			if err != nil || v.Customer.IDNumber != "11010519491231002X" || v.Customer.Name == "" {
				t.Fatalf("golden record: %+v %v", v.Customer, err)
			}
			if _, err := svc.Customer(ctx, p["a"], r1.CustomerID); !errors.Is(err, fiveid.ErrDenied) {
				t.Fatalf("a system key read a golden record: %v", err)
			}
		})
	}
}

// A cached "no match" must not survive the registration that makes a match.
func TestIdentifyCacheInvalidatedByRegister(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			q := match.Input{Name: "欧阳雪婧", Sex: "女", BirthDate: "1988-02-29", IDType: "01", IDNumber: "440524198802290027"}
			for range 2 { // the second answer comes from the cache
				if _, err := svc.Identify(ctx, p["a"], q); !errors.Is(err, fiveid.ErrNoMatch) {
					t.Fatalf("identify before register: %v", err)
				}
			}
			r, err := svc.Register(ctx, p["a"], "7", q)
			if err != nil {
				t.Fatal(err)
			}
			id, err := svc.Identify(ctx, p["a"], q)
			if err != nil || id.CustomerID != r.CustomerID {
				t.Fatalf("stale cached answer after register: %+v %v", id, err)
			}
			// Re-registering the record with another person's data moves it
			// away: the cached positive answer must go too.
			other := match.Input{Name: "李娜", Sex: "女", BirthDate: "1990-01-01", IDType: "01", IDNumber: "110105199001011232"}
			if _, err := svc.Register(ctx, p["a"], "7", other); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Identify(ctx, p["a"], q); !errors.Is(err, fiveid.ErrNoMatch) {
				t.Fatalf("identify after the record changed: %v", err)
			}
		})
	}
}

// Twins share surname, birth date and address code; they must never link.
func TestTwinsStaySeparate(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			a, err := svc.Register(ctx, p["a"], "1", match.Input{Name: "王伟", Sex: "男", BirthDate: "1985-01-01", IDType: "01", IDNumber: "110105198501011234"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := svc.Register(ctx, p["a"], "2", match.Input{Name: "王伟", Sex: "男", BirthDate: "1985-01-01", IDType: "01", IDNumber: "110105198501011250"})
			if err != nil {
				t.Fatal(err)
			}
			if a.CustomerID == b.CustomerID {
				t.Fatalf("twins linked: %+v", b.Decision)
			}
		})
	}
}

func TestConcurrentRegistrationsMakeOneCustomer(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b", "c", "d")
			codes := []string{"a", "b", "c", "d"}
			q := match.Input{Name: "欧阳雪婧", Sex: "女", BirthDate: "1988-02-29", IDType: "01", IDNumber: "440524198802290027"}
			ids := make([]string, 16)
			var wg sync.WaitGroup
			for i := range ids {
				wg.Go(func() {
					r, err := svc.Register(ctx, p[codes[i%4]], "L"+string(rune('A'+i)), q)
					if err != nil {
						t.Error(err)
						return
					}
					ids[i] = r.CustomerID
				})
			}
			wg.Wait()
			for i := range ids {
				if ids[i] != ids[0] {
					t.Fatalf("16 concurrent registrations made several customers: %v", ids)
				}
			}
		})
	}
}

func TestValidationAndRoles(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			var ve *fiveid.ValidationError
			if _, err := svc.Register(ctx, p["a"], "", zhang); !errors.As(err, &ve) || ve.Problems[0].Field != "local_id" {
				t.Fatalf("empty local_id: %v", err)
			}
			if _, err := svc.Register(ctx, p["a"], "1", match.Input{Sex: "男"}); !errors.As(err, &ve) {
				t.Fatalf("nothing identifying: %v", err)
			}
			if _, err := svc.Register(ctx, admin, "1", zhang); !errors.Is(err, fiveid.ErrDenied) {
				t.Fatalf("admin registered a source record: %v", err)
			}
			if _, _, err := svc.CreateKey(ctx, p["a"], fiveid.RoleAdmin, "", "x"); !errors.Is(err, fiveid.ErrDenied) {
				t.Fatalf("a system key created an admin key: %v", err)
			}
			if _, _, err := svc.CreateKey(ctx, admin, fiveid.RoleSystem, "nope", "x"); !errors.As(err, &ve) {
				t.Fatalf("key for an unknown system: %v", err)
			}
			k, secret, err := svc.CreateKey(ctx, admin, fiveid.RoleAuditor, "", "audit")
			if err != nil {
				t.Fatal(err)
			}
			if pr, err := svc.Authenticate(ctx, secret); err != nil || pr.Role != fiveid.RoleAuditor {
				t.Fatalf("authenticate: %+v %v", pr, err)
			}
			if _, err := svc.RevokeKey(ctx, admin, k.ID, false); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.Authenticate(ctx, secret); !errors.Is(err, fiveid.ErrUnauthenticated) {
				t.Fatalf("revoked key still works: %v", err)
			}
		})
	}
}

// A possible match answers 409 with a review task and no customer ID; a
// repeat finds the same open task.
func TestIdentifyPossibleOpensOneReviewTask(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a")
			if _, err := svc.Register(ctx, p["a"], "1", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"}); err != nil {
				t.Fatal(err)
			}
			q := match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-28"} // one digit off
			r1, err := svc.Identify(ctx, p["a"], q)
			if !errors.Is(err, fiveid.ErrNeedsReview) || r1.ReviewTaskID == "" || r1.CustomerID != "" {
				t.Fatalf("first: %+v %v", r1, err)
			}
			r2, err := svc.Identify(ctx, p["a"], q)
			if !errors.Is(err, fiveid.ErrNeedsReview) || r2.ReviewTaskID != r1.ReviewTaskID {
				t.Fatalf("second: %+v %v", r2, err)
			}
		})
	}
}

// Redis unreachable: answers still come from the store; the misses count.
func TestRedisDownFallsBackToTheStore(t *testing.T) {
	t.Parallel()
	sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	db := teststore.Embedded(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	defer dead.Close()
	obs := &countingObserver{}
	svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: store.NewRedisCache(dead, "x", time.Minute, store.Breaker{}), Scorer: sc, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	p := setup(t, svc, "a")
	r, err := svc.Register(t.Context(), p["a"], "1", zhang)
	if err != nil {
		t.Fatal(err)
	}
	id, err := svc.Identify(t.Context(), p["a"], zhang)
	if err != nil || id.CustomerID != r.CustomerID {
		t.Fatalf("identify with Redis down: %+v %v", id, err)
	}
	if obs.errors.Load() == 0 {
		t.Error("cache errors were not counted")
	}
	if err := svc.Ready(t.Context()); err != nil {
		t.Errorf("not ready while only Redis is down (answers come from the store): %v", err)
	}
	if err := svc.CacheReady(t.Context()); err == nil {
		t.Error("the cache reads as up while the configured Redis is down")
	}
}

type countingObserver struct{ errors atomic.Int64 }

func (o *countingObserver) MatchOutcome(string, string) {}
func (o *countingObserver) GrantOutcome(string)         {}
func (o *countingObserver) CacheInvalidation(string)    {}
func (o *countingObserver) CacheLookup(hit bool, err error) {
	if err != nil {
		o.errors.Add(1)
	}
}

// Stewardship: manual links are sticky, unlink makes a new customer, deaths
// show everywhere, history records it all, stale reviewers get 409.
func TestStewardship(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: "fun", Name: "殡仪馆", Kind: fiveid.KindFuneral}); err != nil {
				t.Fatal(err)
			}
			funeral := fiveid.Principal{KeyID: "k-fun", Role: fiveid.RoleSystem, System: "fun"}
			r1, _ := svc.Register(ctx, p["a"], "1", zhang)
			r2, _ := svc.Register(ctx, p["b"], "2", zhang)
			if r1.CustomerID != r2.CustomerID {
				t.Fatal("setup: not linked")
			}
			// Unlink b/2: a new customer; re-registering the same values does not move it back.
			newID, err := svc.Unlink(ctx, admin, "b", "2")
			if err != nil {
				t.Fatal(err)
			}
			again, err := svc.Register(ctx, p["b"], "2", match.Input{Name: "张伟", Sex: "女", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"})
			if err != nil || again.CustomerID != newID || !again.Manual {
				t.Fatalf("a manual decision was overridden: %+v %v", again, err)
			}
			// Link it back by hand.
			if err := svc.Link(ctx, admin, "b", "2", r1.CustomerID); err != nil {
				t.Fatal(err)
			}
			x, _ := svc.Xref(ctx, p["a"], "b", "2")
			if x.CustomerID != r1.CustomerID || len(x.Records) != 2 {
				t.Fatalf("after link: %+v", x)
			}
			// The emptied customer redirects.
			v, err := svc.Customer(ctx, admin, newID)
			if err != nil || v.Customer.ID != r1.CustomerID {
				t.Fatalf("emptied customer: %+v %v", v.Customer, err)
			}
			// Deaths: only funeral systems and admins.
			if _, err := svc.RecordDeath(ctx, p["a"], r1.CustomerID, "2026-11-20", ""); !errors.Is(err, fiveid.ErrDenied) {
				t.Fatalf("a hospital recorded a death: %v", err)
			}
			if _, err := svc.RecordDeath(ctx, funeral, r1.CustomerID, "2026年11月20日", ""); err != nil {
				t.Fatal(err)
			}
			id, err := svc.Identify(ctx, p["a"], zhang)
			if err != nil || id.DeathDate != "2026-11-20" {
				t.Fatalf("identify does not show the death: %+v %v", id, err)
			}
			x, _ = svc.Xref(ctx, p["a"], "a", "1")
			if x.DeathDate != "2026-11-20" {
				t.Fatalf("xref does not show the death: %+v", x)
			}
			hist, err := svc.History(ctx, admin, r1.CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []fiveid.ChangeKind
			for _, h := range hist {
				kinds = append(kinds, h.Kind)
			}
			if _, err := svc.Register(ctx, p["a"], "1", match.Input{Name: "张伟", Sex: "女", BirthDate: "1949-12-31", IDType: "01", IDNumber: "11010519491231002X"}); err != nil {
				t.Fatal(err)
			}
			hist, _ = svc.History(ctx, admin, r1.CustomerID)
			kinds = kinds[:0]
			for _, h := range hist {
				kinds = append(kinds, h.Kind)
			}
			for _, want := range []fiveid.ChangeKind{fiveid.ChangeCreated, fiveid.ChangeLinked, fiveid.ChangeUnlinked, fiveid.ChangeDeathRecorded, fiveid.ChangeEdited} {
				if !slices.Contains(kinds, want) {
					t.Errorf("history %v lacks %s", kinds, want)
				}
			}
		})
	}
}

func TestConcurrentReviewersOneWins(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			svc.Register(ctx, p["a"], "1", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"})
			r, err := svc.Register(ctx, p["b"], "2", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-28"})
			if err != nil || r.ReviewTaskID == "" {
				t.Fatalf("no review task: %+v %v", r, err)
			}
			task, _ := svc.ReviewTask(ctx, admin, r.ReviewTaskID)
			var wins, conflicts atomic.Int32
			var wg sync.WaitGroup
			for _, res := range []string{fiveid.ResolveLink, fiveid.ResolveNotDuplicate} {
				wg.Go(func() {
					_, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: res})
					switch {
					case err == nil:
						wins.Add(1)
					case errors.Is(err, fiveid.ErrConflict):
						conflicts.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 || conflicts.Load() != 1 {
				t.Fatalf("wins %d conflicts %d", wins.Load(), conflicts.Load())
			}
		})
	}
}

// Property: for random pairs of customers with random records, merge then
// unmerge (nothing happening in between) restores both customers and every
// record as they were — values, links, death — with versions that only
// grew, and the merged ID redirects while merged, holding no record
// (candidates are read on the strength of that).
func TestMergeUnmergeRoundTrip(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		svc := ss.svc
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			rnd := rand.New(rand.NewPCG(7, 11))
			names := []string{"王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆"}
			var ids []string
			for i := range 12 {
				in := match.Input{Name: names[rnd.IntN(len(names))] + string(rune('甲'+i)), Sex: []string{"男", "女"}[rnd.IntN(2)],
					BirthDate: fmt.Sprintf("19%02d-%02d-%02d", 40+rnd.IntN(50), 1+rnd.IntN(12), 1+rnd.IntN(28))}
				sysP := p[[]string{"a", "b"}[rnd.IntN(2)]]
				r, err := svc.Register(ctx, sysP, fmt.Sprintf("L%d", i), in)
				if err != nil {
					t.Fatal(err)
				}
				if r.Created {
					ids = append(ids, r.CustomerID)
				} else if rnd.IntN(2) == 0 {
					continue
				}
			}
			state := func(id string) (fiveid.Customer, []fiveid.SourceRecord) {
				v, err := svc.Customer(ctx, admin, id)
				if err != nil {
					t.Fatal(err)
				}
				return v.Customer, v.Records
			}
			for round := range 6 {
				i, j := rnd.IntN(len(ids)), rnd.IntN(len(ids))
				if i == j {
					continue
				}
				from, into := ids[i], ids[j]
				fromC, fromR := state(from)
				intoC, intoR := state(into)
				preview, err := svc.PreviewMerge(ctx, admin, from, into)
				if err != nil {
					t.Fatal(err)
				}
				m, err := svc.CommitMerge(ctx, admin, from, into, fiveid.MergeOptions{})
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				after, afterR := state(into)
				if after.Name != preview.Into.Name || after.IDNumber != preview.Into.IDNumber || after.BirthDate != preview.Into.BirthDate || len(afterR) != len(fromR)+len(intoR) {
					t.Fatalf("preview %+v differs from the merge %+v", preview.Into, after)
				}
				if v, _ := svc.Customer(ctx, admin, from); v.Customer.ID != into || len(v.MergedFrom) != 1 {
					t.Fatalf("merged ID does not redirect: %+v", v)
				}
				if recs, err := ss.st.CustomerRecords(ctx, from); err != nil || len(recs) != 0 {
					t.Fatalf("the merged customer still holds records: %+v %v", recs, err)
				}
				if _, err := svc.Unmerge(ctx, admin, m.ID); err != nil {
					t.Fatal(err)
				}
				gotFrom, gotFromR := state(from)
				gotInto, gotIntoR := state(into)
				if d := cmp.Diff(fromC, gotFrom, sansVersion); d != "" {
					t.Fatalf("from not restored (-want +got):\n%s", d)
				}
				if d := cmp.Diff(intoC, gotInto, sansVersion); d != "" {
					t.Fatalf("into not restored (-want +got):\n%s", d)
				}
				if d := cmp.Diff(fromR, gotFromR, sansVersion); d != "" {
					t.Fatalf("from's records not restored (-want +got):\n%s", d)
				}
				if d := cmp.Diff(intoR, gotIntoR); d != "" {
					t.Fatalf("into's records changed (-want +got):\n%s", d)
				}
				if gotFrom.Version != fromC.Version+2 || gotInto.Version != intoC.Version+2 {
					t.Fatalf("versions %d -> %d and %d -> %d, want each to grow by one per merge and unmerge",
						fromC.Version, gotFrom.Version, intoC.Version, gotInto.Version)
				}
				for i := range gotFromR {
					if gotFromR[i].Version != fromR[i].Version+2 {
						t.Fatalf("record %s/%s: version %d -> %d, want +2", fromR[i].System, fromR[i].LocalID, fromR[i].Version, gotFromR[i].Version)
					}
				}
				if _, err := svc.Unmerge(ctx, admin, m.ID); !errors.Is(err, fiveid.ErrConflict) {
					t.Fatalf("unmerge twice: %v", err)
				}
			}
		})
	}
}

// sansVersion compares customers and records without their version and
// update time (unmerge moves both forward).
var sansVersion = cmp.Options{
	cmpopts.IgnoreFields(fiveid.Customer{}, "Version", "UpdatedAt"),
	cmpopts.IgnoreFields(fiveid.SourceRecord{}, "Version", "UpdatedAt"),
}

func TestDuplicateScanOpensTasksOnce(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			svc.Register(ctx, p["a"], "1", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"})
			// Registered far apart in a way that did not link, then made similar:
			r2, _ := svc.Register(ctx, p["b"], "2", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-28"})
			if r2.ReviewTaskID != "" {
				task, _ := svc.ReviewTask(ctx, admin, r2.ReviewTaskID)
				if _, err := svc.ResolveReviewTask(ctx, admin, task.ID, task.Version, fiveid.Resolution{Kind: fiveid.ResolveKeepSeparate}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := svc.ScanDuplicates(ctx, admin)
			if err != nil || res.TasksOpened != 1 {
				t.Fatalf("first scan: %+v %v", res, err)
			}
			res, _ = svc.ScanDuplicates(ctx, admin)
			if res.TasksOpened != 0 {
				t.Fatalf("second scan duplicated an open task: %+v", res)
			}
			tasks, _ := svc.ListReviewTasks(ctx, admin, fiveid.ReviewOpen)
			if len(tasks) != 1 {
				t.Fatalf("open tasks: %d", len(tasks))
			}
			if _, err := svc.ResolveReviewTask(ctx, admin, tasks[0].ID, tasks[0].Version, fiveid.Resolution{Kind: fiveid.ResolveNotDuplicate}); err != nil {
				t.Fatal(err)
			}
			res, _ = svc.ScanDuplicates(ctx, admin)
			if res.TasksOpened != 0 {
				t.Fatalf("a not-duplicate pair was reopened: %+v", res)
			}
		})
	}
}

// Records link only to active customers: should a candidate's customer
// not be active (the service never leaves records on a merged customer),
// a register that decided on it is refused, not linked there.
func TestRecordsLinkOnlyToActiveCustomers(t *testing.T) {
	t.Parallel()
	for name, ss := range servicesAndStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, ss.svc, "a", "b")
			r1, err := ss.svc.Register(ctx, p["a"], "1", zhang)
			if err != nil {
				t.Fatal(err)
			}
			// Break the invariant under the service: the customer is merged
			// away while still holding its record.
			other, err := ss.svc.Register(ctx, p["a"], "2", match.Input{Name: "李娜", Sex: "女", BirthDate: "1980-01-02"})
			if err != nil {
				t.Fatal(err)
			}
			if err := ss.st.Update(ctx, nil, func(tx fiveid.Tx) error {
				c, err := tx.Customer(ctx, r1.CustomerID)
				if err != nil {
					return err
				}
				c.Status, c.MergedInto, c.Version = fiveid.StatusMerged, other.CustomerID, c.Version+1
				return tx.UpdateCustomer(ctx, c)
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := ss.svc.Register(ctx, p["b"], "x", zhang); !errors.Is(err, fiveid.ErrConflict) {
				t.Fatalf("register linked to a merged customer: %v", err)
			}
		})
	}
}
