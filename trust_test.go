package fiveid_test

import (
	"errors"
	"slices"
	"testing"

	"fiveid"
	"fiveid/match"
)

// citizen builds a checksum-valid GB 11643 number from its first 17 digits.
func citizen(first17 string) string { return first17 + string(match.CheckChar(first17)) }

// Two people with one name and birth date (namesakes) under two valid
// citizen numbers: a query without a number cannot tell them apart, so it
// must not pick one (issue 11, reproduction 1).
func TestTiesAreReviewNeverAChoice(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			n1, n2 := citizen("11010519500308002"), citizen("32010219500308004")
			a, err := svc.Register(ctx, p["a"], "1", match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08", IDType: "01", IDNumber: n1})
			if err != nil {
				t.Fatal(err)
			}
			b, err := svc.Register(ctx, p["a"], "2", match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08", IDType: "01", IDNumber: n2})
			if err != nil || b.CustomerID == a.CustomerID {
				t.Fatalf("two valid numbers linked: %+v %v", b, err)
			}
			q := match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08"}
			for range 2 { // the second answer comes from the cache
				res, err := svc.Identify(ctx, p["b"], q)
				if !errors.Is(err, fiveid.ErrNeedsReview) || res.CustomerID != "" || res.ReviewTaskID == "" {
					t.Fatalf("identify of a tie: %+v %v", res, err)
				}
				task, err := svc.ReviewTask(ctx, admin, res.ReviewTaskID)
				if err != nil {
					t.Fatal(err)
				}
				assertTied(t, task.Explanation, a.CustomerID, b.CustomerID)
			}
			// Registering a third record of the same description: a new
			// customer and a review task, never a link to either.
			c, err := svc.Register(ctx, p["b"], "x", q)
			if err != nil || !c.Created || c.CustomerID == a.CustomerID || c.CustomerID == b.CustomerID || c.ReviewTaskID == "" {
				t.Fatalf("register of a tie: %+v %v", c, err)
			}
			task, err := svc.ReviewTask(ctx, admin, c.ReviewTaskID)
			if err != nil {
				t.Fatal(err)
			}
			assertTied(t, task.Explanation, a.CustomerID, b.CustomerID)
		})
	}
}

func assertTied(t *testing.T, e match.Explanation, want ...string) {
	t.Helper()
	if e.Grade != match.GradePossible || !slices.Contains(e.Rules, match.RuleAmbiguous) {
		t.Errorf("explanation %+v: want possible with rule %s", e, match.RuleAmbiguous)
	}
	var got []string
	for _, a := range e.Alternatives {
		got = append(got, a.Customer)
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("alternatives %v lack %s", got, w)
		}
	}
}

// A customer holds a record with number N1 and a record of the same name
// and birth date without a number. A new record of that description with
// another valid number N2 is someone else, although the record without a
// number matches it well (issue 11, reproduction 2).
func TestConflictBehindARecordWithoutID(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b", "c")
			n1, n2 := citizen("11010519620927004"), citizen("11010519620927012")
			a, err := svc.Register(ctx, p["a"], "A", match.Input{Name: "欧阳秀兰", Sex: "女", BirthDate: "1962-09-27", IDType: "01", IDNumber: n1})
			if err != nil {
				t.Fatal(err)
			}
			noID := match.Input{Name: "欧阳秀兰", Sex: "女", BirthDate: "1962-09-27"}
			b, err := svc.Register(ctx, p["b"], "B", noID)
			if err != nil || b.CustomerID != a.CustomerID {
				t.Fatalf("the record without a number did not join its customer: %+v %v", b, err)
			}
			c, err := svc.Register(ctx, p["c"], "C", match.Input{Name: "欧阳秀兰", Sex: "女", BirthDate: "1962-09-27", IDType: "01", IDNumber: n2})
			if err != nil {
				t.Fatal(err)
			}
			if c.CustomerID == a.CustomerID {
				t.Fatalf("a second valid number joined the customer: %+v", c.Decision)
			}
			if !c.Created || c.ReviewTaskID == "" {
				t.Fatalf("want a new customer and a review task: %+v", c)
			}
			e := c.Decision.Explanation
			if !slices.Contains(e.Rules, match.RuleIDConflict) || len(e.Conflicts) != 1 ||
				e.Conflicts[0].System != "a" || e.Conflicts[0].LocalID != "A" || e.Conflicts[0].MaskedID != match.MaskID(n1) {
				t.Fatalf("explanation does not name the conflicting record: %+v", e)
			}
			// The duplicate scan applies the same rule: with the
			// registration's task closed, it reopens the pair naming the
			// conflicting record.
			if _, err := svc.ResolveReviewTask(ctx, admin, c.ReviewTaskID, 1, fiveid.Resolution{Kind: fiveid.ResolveKeepSeparate}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.ScanDuplicates(ctx, admin); err != nil {
				t.Fatal(err)
			}
			open, err := svc.ListReviewTasks(ctx, admin, fiveid.ReviewOpen)
			if err != nil || len(open) != 1 || len(open[0].Explanation.Conflicts) == 0 || open[0].Explanation.Grade != match.GradePossible {
				t.Fatalf("scan: %+v %v", open, err)
			}
			// Identify with N2 must not answer with the N1 customer either.
			if res, err := svc.Identify(ctx, p["b"], match.Input{Name: "欧阳秀兰", Sex: "女", BirthDate: "1962-09-27", IDType: "01", IDNumber: n2}); err != nil || res.CustomerID != c.CustomerID {
				t.Fatalf("identify N2: %+v %v", res, err)
			}
		})
	}
}

// A birth date read from a customer's valid number excludes a query whose
// birth date is another date, even when the best-matching record carries
// no number and agrees on everything it has.
func TestBirthDateInACustomersNumberExcludes(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			n1 := citizen("11010519700101003")
			// Record A: the number says 1970-01-01; the stated date is a
			// typo of the source (kept as stated).
			a, err := svc.Register(ctx, p["a"], "A", match.Input{Name: "司马懿", Sex: "男", BirthDate: "1970-01-01", IDType: "01", IDNumber: n1})
			if err != nil {
				t.Fatal(err)
			}
			// Record B links by hand (a steward's decision) although its
			// date is another one.
			b, err := svc.Register(ctx, p["b"], "B", match.Input{Name: "司马懿", Sex: "男", BirthDate: "1983-06-15"})
			if err != nil {
				t.Fatal(err)
			}
			if b.CustomerID != a.CustomerID {
				if err := svc.Link(ctx, admin, "b", "B", a.CustomerID); err != nil {
					t.Fatal(err)
				}
			}
			res, err := svc.Identify(ctx, p["a"], match.Input{Name: "司马懿", Sex: "男", BirthDate: "1983-06-15"})
			if err == nil {
				t.Fatalf("identify linked against the date in the customer's number: %+v", res)
			}
			if !errors.Is(err, fiveid.ErrNeedsReview) {
				t.Fatalf("want needs review, got %v", err)
			}
		})
	}
}

// A steward's override joins two numbers into one customer: the person
// with either number is that customer, not a conflict with itself.
func TestOverriddenNumbersIdentifyTheirCustomer(t *testing.T) {
	t.Parallel()
	for name, svc := range services(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			p := setup(t, svc, "a", "b")
			n1, n2 := citizen("11010519550505002"), citizen("32010219550505004")
			old := match.Input{Name: "赵丽华", Sex: "女", BirthDate: "1955-05-05", IDType: "01", IDNumber: n1}
			cur := match.Input{Name: "赵丽华", Sex: "女", BirthDate: "1955-05-05", IDType: "01", IDNumber: n2}
			a, err := svc.Register(ctx, p["a"], "1", old)
			if err != nil {
				t.Fatal(err)
			}
			b, err := svc.Register(ctx, p["b"], "2", cur)
			if err != nil || b.CustomerID == a.CustomerID {
				t.Fatalf("two valid numbers linked automatically: %+v %v", b, err)
			}
			if _, err := svc.CommitMerge(ctx, admin, b.CustomerID, a.CustomerID, fiveid.MergeOptions{Override: true, Reason: "number reissued after a household move; ID card checked"}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []match.Input{old, cur} {
				res, err := svc.Identify(ctx, p["a"], q)
				if err != nil || res.CustomerID != a.CustomerID || res.Grade != match.GradeCertain {
					t.Fatalf("identify %s after the override: %+v %v", match.MaskID(q.IDNumber), res, err)
				}
			}
			// Without a number the customer's two numbers' birth dates agree
			// with the query: it links as before.
			if res, err := svc.Identify(ctx, p["a"], match.Input{Name: "赵丽华", Sex: "女", BirthDate: "1955-05-05"}); err != nil || res.CustomerID != a.CustomerID {
				t.Fatalf("identify without a number: %+v %v", res, err)
			}
		})
	}
}
