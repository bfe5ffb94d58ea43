package fiveid_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

// lazySpy is a store that counts the lazy commits asked of its
// transactions.
type lazySpy struct {
	*store.DB
	lazy atomic.Int64
}

func (s *lazySpy) Update(ctx context.Context, lockKeys []string, fn func(tx fiveid.Tx) error) error {
	return s.DB.Update(ctx, lockKeys, func(tx fiveid.Tx) error { return fn(spyTx{tx, s}) })
}

type spyTx struct {
	fiveid.Tx
	s *lazySpy
}

func (t spyTx) CommitLazily(ctx context.Context) error {
	t.s.lazy.Add(1)
	return t.Tx.(fiveid.LazyCommitter).CommitLazily(ctx)
}

// The review task a possible match opens commits lazily only when the
// grant log is written to the same database: the identify.review entry's
// durable commit, which comes before the answer, then makes the task
// durable too. With the log elsewhere the task commits durably itself.
func TestIdentifyReviewTaskCommitsLazilyOnlyBesideTheLog(t *testing.T) {
	t.Parallel()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"embedded", "postgres"} {
		t.Run(name, func(t *testing.T) {
			for _, shared := range []bool{true, false} {
				ctx := t.Context()
				ts := testStores(t, name == "postgres")[name] // a fresh store for each case
				spy := &lazySpy{DB: ts.db}
				var grants fiveid.GrantStore = spy
				if !shared {
					grants = teststore.Embedded(t)
				}
				svc, err := fiveid.NewService(ctx, fiveid.Config{Store: spy, Grants: grants, Cache: ts.cache, Scorer: sc})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(svc.Close)
				p := setup(t, svc, "a")
				if _, err := svc.Register(ctx, p["a"], "1", match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"}); err != nil {
					t.Fatal(err)
				}
				q := match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-28"} // a possible match
				r, err := svc.Identify(ctx, p["a"], q)
				if !errors.Is(err, fiveid.ErrNeedsReview) || r.ReviewTaskID == "" {
					t.Fatalf("log shared %v: identify %+v %v", shared, r, err)
				}
				task, err := spy.ReviewTask(ctx, r.ReviewTaskID)
				if err != nil || task.Status != fiveid.ReviewOpen {
					t.Fatalf("log shared %v: the answer's task %+v %v", shared, task, err)
				}
				want := int64(0)
				if shared {
					want = 1
				}
				if got := spy.lazy.Load(); got != want {
					t.Fatalf("log shared %v: %d lazy commits, want %d", shared, got, want)
				}
			}
		})
	}
}
