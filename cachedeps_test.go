package fiveid_test

import (
	"errors"
	"testing"

	"fiveid"
	"fiveid/match"
)

// A decision reads each candidate customer whole: a record holding another
// valid number caps it at possible even when it shares no blocking key
// with the query. A cached answer must not outlive a change that gives the
// customer such a record — whichever record of the customer the change
// touched.
func TestCachedAnswerFollowsTheWholeCustomer(t *testing.T) {
	t.Parallel()
	wang := match.Input{Name: "王芳", Sex: "女", BirthDate: "1962-09-27"} // shares no key with zhang
	for _, tc := range []struct {
		name string
		// prepare runs before the answer is cached; change gives X's
		// customer c a record with li's number, through b's record "9".
		prepare, change func(t *testing.T, svc *fiveid.Service, p map[string]fiveid.Principal, c string)
	}{
		{"a steward links the record",
			func(t *testing.T, svc *fiveid.Service, p map[string]fiveid.Principal, _ string) {
				if _, err := svc.Register(t.Context(), p["b"], "9", li); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, svc *fiveid.Service, _ map[string]fiveid.Principal, c string) {
				if err := svc.Link(t.Context(), admin, "b", "9", c); err != nil {
					t.Fatal(err)
				}
			}},
		{"a manually linked record is registered again",
			func(t *testing.T, svc *fiveid.Service, p map[string]fiveid.Principal, c string) {
				if _, err := svc.Register(t.Context(), p["b"], "9", wang); err != nil {
					t.Fatal(err)
				}
				if err := svc.Link(t.Context(), admin, "b", "9", c); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, svc *fiveid.Service, p map[string]fiveid.Principal, c string) {
				r, err := svc.Register(t.Context(), p["b"], "9", li)
				if err != nil || r.CustomerID != c || !r.Manual {
					t.Fatalf("the manual link did not keep the record: %+v %v", r, err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, svc := range services(t) {
				t.Run(name, func(t *testing.T) {
					ctx := t.Context()
					p := setup(t, svc, "a", "b")
					x, err := svc.Register(ctx, p["a"], "1", zhang)
					if err != nil {
						t.Fatal(err)
					}
					tc.prepare(t, svc, p, x.CustomerID)
					// Asked without a number: a customer holding the query's
					// own number would stay the answer (its other numbers are
					// a steward's decision), so the question that changes is
					// one the number in li's record, with another birth date,
					// now excludes.
					q := match.Input{Name: zhang.Name, Sex: zhang.Sex, BirthDate: zhang.BirthDate}
					for range 2 { // the second answer comes from the cache
						if res, err := svc.Identify(ctx, p["a"], q); err != nil || res.CustomerID != x.CustomerID {
							t.Fatalf("identify before the change: %+v %v", res, err)
						}
					}
					tc.change(t, svc, p, x.CustomerID)
					if res, err := svc.Identify(ctx, p["a"], q); !errors.Is(err, fiveid.ErrNeedsReview) {
						t.Fatalf("identify after the customer took another valid number: %+v %v; want needs review", res, err)
					}
				})
			}
		})
	}
}
