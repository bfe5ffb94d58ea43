package fiveid_test

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/match"
)

// bulkServices returns, on the embedded store and (when asked for and
// reachable) PostgreSQL with Redis, a fresh service with the given
// candidate limit. With clocks, each service tells the time by a clock of
// its own, put in clocks under the store's name.
func bulkServices(t *testing.T, limit int, postgres bool, clocks map[string]*fakeClock) map[string]serviceAndStore {
	t.Helper()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]serviceAndStore{}
	for name, ts := range testStores(t, postgres) {
		svc, err := fiveid.NewService(t.Context(), fiveid.Config{Store: ts.db, Grants: ts.db,
			Cache: ts.cache, Scorer: sc, CandidateLimit: limit, Clock: clockOf(clocks, name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		out[name] = serviceAndStore{svc, ts.db}
	}
	return out
}

// clockOf puts a new clock in clocks under name and returns it (nil, the
// real clock, without clocks).
func clockOf(clocks map[string]*fakeClock, name string) fiveid.Clock {
	if clocks == nil {
		return nil
	}
	c := &fakeClock{t: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)}
	clocks[name] = c
	return c.Now
}

// bulkInput is a synthetic population's records (with namesake ties, which
// go to review) followed by re-registrations:
// some records again with another record's values (edits and moves), some
// repeated exactly, and a record that is not valid.
func bulkInput() []benchmarks.Record {
	ds := benchmarks.SyntheticWithHardCases(benchmarks.SeedGate, 120, benchmarks.Realistic, benchmarks.HardCases{Ties: 12})
	recs := slices.Clone(ds.Records)
	n := len(recs)
	for i := range 25 {
		r := recs[(i*13)%n]
		r.Input = ds.Queries[i].Input
		recs = append(recs, r)
	}
	for i := range 10 {
		recs = append(recs, recs[(i*7)%n])
	}
	bad := recs[0]
	bad.LocalID, bad.Input = "bad", match.Input{}
	recs = append(recs, bad)
	return recs
}

// outcome is a registration's result without its random IDs.
type outcome struct {
	Err                        string
	Created, Unchanged, Manual bool
	Grade                      match.Grade
	Score                      float64
	Review                     bool
}

func outcomeOf(res fiveid.RegisterResult, err error) outcome {
	if err != nil {
		var ve *fiveid.ValidationError
		if errors.As(err, &ve) {
			return outcome{Err: "invalid"}
		}
		return outcome{Err: err.Error()}
	}
	return outcome{Created: res.Created, Unchanged: res.Unchanged, Manual: res.Manual,
		Grade: res.Decision.Grade, Score: res.Decision.Score, Review: res.ReviewTaskID != ""}
}

// indexState is an index without its random IDs: each customer named by
// its records, with its golden values and history; the review tasks by
// the records of their customers; the name statistics.
type indexState struct {
	Customers map[string]string   // records -> golden values
	History   map[string][]string // records -> kinds and details, in order
	Tasks     []string
	Names     map[string]int64
	Total     int64
}

func stateOf(t *testing.T, s serviceAndStore) indexState {
	t.Helper()
	ctx := t.Context()
	byCustomer := map[string][]string{}
	var names []string
	after := [2]string{}
	for {
		page, err := s.st.ScanSourceRecords(ctx, after[0], after[1], 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			byCustomer[r.CustomerID] = append(byCustomer[r.CustomerID], r.System+"/"+r.LocalID)
			names = append(names, r.NameKey)
		}
		last := page[len(page)-1]
		after = [2]string{last.System, last.LocalID}
	}
	name := func(id string) string { return strings.Join(byCustomer[id], ",") }
	st := indexState{Customers: map[string]string{}, History: map[string][]string{}, Names: map[string]int64{}}
	for id := range byCustomer {
		v, err := s.svc.Customer(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		c := v.Customer
		st.Customers[name(id)] = fmt.Sprint(c.Status, c.Name, c.Sex, c.BirthDate, c.IDType, c.IDNumber, c.Version)
		hs, err := s.svc.History(ctx, admin, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			st.History[name(id)] = append(st.History[name(id)], fmt.Sprint(h.Kind, h.System, h.LocalID, h.Detail, h.Before, h.After))
		}
	}
	tasks, err := s.svc.ListReviewTasks(ctx, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks {
		st.Tasks = append(st.Tasks, fmt.Sprint(tk.Reason, "|", name(tk.CustomerID), "|", name(tk.CandidateID), "|", tk.System, tk.LocalID, tk.Score))
	}
	sort.Strings(st.Tasks)
	for _, n := range names {
		f, total, err := s.st.NameFrequency(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		st.Names[n], st.Total = f, total
	}
	return st
}

// Registering a population in bulk decides exactly as registering it one
// record at a time, in the same order: same outcomes, same partition of
// records into customers, same golden values, history, review tasks and
// name statistics. With a candidate limit of 3 (embedded store) the
// chunk's reads are cut (and re-read once the chunk rewrote stored
// records) as the store's are.
//
// A chunk is one transaction: its j-th record is recorded a microsecond
// after the (j-1)-th, from the time Service.update takes for the chunk,
// so survivorship (the record updated last wins) follows file order as
// one at a time. Both ways run on clocks that read the same for each
// record: a second per chunk, a microsecond per record within it.
func TestBulkRegistrationDecidesAsOneAtATime(t *testing.T) {
	t.Parallel()
	recs := bulkInput()
	for _, limit := range []int{0, 3} {
		// The cut lists are chunkTx's, the same on both stores.
		oneClocks, bulkClocks := map[string]*fakeClock{}, map[string]*fakeClock{}
		one, bulk := bulkServices(t, limit, limit == 0, oneClocks), bulkServices(t, limit, limit == 0, bulkClocks)
		for name := range one {
			t.Run(fmt.Sprintf("%s/limit %d", name, limit), func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				a, b := one[name], bulk[name]
				aClock, bClock := oneClocks[name], bulkClocks[name]
				for _, s := range []serviceAndStore{a, b} {
					if err := benchmarks.CreateSystems(ctx, s.svc, recs); err != nil {
						t.Fatal(err)
					}
				}
				var want, got []outcome
				for i, r := range recs {
					switch {
					case i%64 == 0 && i > 0:
						aClock.Add(time.Second - 63*time.Microsecond)
					case i%64 == 0:
						aClock.Add(time.Second)
					default:
						aClock.Add(time.Microsecond)
					}
					p := fiveid.Principal{KeyID: "test", Role: fiveid.RoleSystem, System: r.System}
					want = append(want, outcomeOf(a.svc.Register(ctx, p, r.LocalID, r.Input)))
				}
				// Chunks of 64: a person's records meet in one chunk and
				// across chunks.
				for start := 0; start < len(recs); start += 64 {
					bClock.Add(time.Second)
					var items []fiveid.BulkItem
					for _, r := range recs[start:min(start+64, len(recs))] {
						items = append(items, fiveid.BulkItem{
							Principal: fiveid.Principal{KeyID: "test", Role: fiveid.RoleSystem, System: r.System},
							LocalID:   r.LocalID, Input: r.Input})
					}
					res, err := b.svc.RegisterBulk(ctx, items)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range res {
						got = append(got, outcomeOf(r.Result, r.Err))
					}
				}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("outcomes (-one at a time +bulk):\n%s", d)
				}
				sa, sb := stateOf(t, a), stateOf(t, b)
				if d := cmp.Diff(sa, sb); d != "" {
					t.Errorf("index (-one at a time +bulk):\n%s", d)
				}
				created, review := 0, 0
				for _, o := range want {
					if o.Created {
						created++
					}
					if o.Review {
						review++
					}
				}
				if created == 0 || created == len(recs) || review == 0 || len(sa.Tasks) == 0 {
					t.Errorf("the population exercises too little: %d created, %d reviews, %d tasks of %d records",
						created, review, len(sa.Tasks), len(recs))
				}
			})
		}
	}
}

// Single registrations running while a bulk registration goes on still
// give each person one customer: a chunk of 16 records shares the
// all-keys lock and holds its records' key locks for its whole
// transaction.
func TestBulkAndSingleRegistrationsGiveOneCustomerPerPerson(t *testing.T) {
	t.Parallel()
	registerConcurrently(t, 150, 60, 1, 3, 16)
}

// Chunks of a thousand records lock some 9,000 blocking keys each: two at
// once, one key lock each, overflowed PostgreSQL's shared lock table at its
// default size ("out of shared memory"). Two bulk registrations of 1,000-
// record chunks run at once, with single registrations beside them, and
// all succeed with one customer per person.
func TestConcurrentLargeChunks(t *testing.T) {
	t.Parallel()
	registerConcurrently(t, 2000, 1000, 2, 1, fiveid.BulkChunk)
}

// registerConcurrently registers the records of a synthetic population of
// people (those whose records all carry their ID number, so that they link
// for sure) on each store, dealt in turn to bulk callers (RegisterBulk
// calls of chunk records) and single callers (Register) running at once;
// it checks that each person got one customer and each customer one
// person, and that at least minPeople people were registered, a quarter
// of them with several records.
func registerConcurrently(t *testing.T, people, minPeople, bulkCallers, singleCallers, chunk int) {
	t.Helper()
	ds := benchmarks.Synthetic(benchmarks.SeedTuning, people, benchmarks.Noise{})
	var recs []benchmarks.Record
	for _, r := range ds.Records {
		if ds.People[r.PersonID].IDNumber != "" {
			recs = append(recs, r)
		}
	}
	if len(recs) < people/2+bulkCallers*chunk {
		t.Fatalf("too few records: %d of %d people", len(recs), people)
	}
	callers := bulkCallers + singleCallers
	for name, s := range bulkServices(t, 0, true, nil) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if err := benchmarks.CreateSystems(ctx, s.svc, recs); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, callers)
			for w := range callers {
				wg.Go(func() {
					var items []fiveid.BulkItem
					for i := w; i < len(recs); i += callers {
						r := recs[i]
						p := fiveid.Principal{KeyID: "t", Role: fiveid.RoleSystem, System: r.System}
						if w >= bulkCallers {
							if _, err := s.svc.Register(ctx, p, r.LocalID, r.Input); err != nil {
								errs <- err
								return
							}
							continue
						}
						items = append(items, fiveid.BulkItem{Principal: p, LocalID: r.LocalID, Input: r.Input})
					}
					for start := 0; start < len(items); start += chunk {
						res, err := s.svc.RegisterBulk(ctx, items[start:min(start+chunk, len(items))])
						for _, r := range res {
							err = errors.Join(err, r.Err)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			customerOf := oneCustomerPerPerson(t, s, recs)
			if len(customerOf) < minPeople || len(recs) < len(customerOf)+len(customerOf)/4 {
				t.Errorf("too few people, or with several records: %d records of %d people", len(recs), len(customerOf))
			}
		})
	}
}

// oneCustomerPerPerson checks that the records of each person are one
// customer's and each customer holds one person's records, and returns the
// customer of each person.
func oneCustomerPerPerson(t *testing.T, s serviceAndStore, recs []benchmarks.Record) map[int]string {
	t.Helper()
	customerOf := map[int]string{}
	personOf := map[string]int{}
	for _, r := range recs {
		sr, err := s.st.SourceRecord(t.Context(), r.System, r.LocalID)
		if err != nil {
			t.Fatal(err)
		}
		if c, ok := customerOf[r.PersonID]; ok && c != sr.CustomerID {
			t.Errorf("person %d has customers %s and %s", r.PersonID, c, sr.CustomerID)
		}
		if p, ok := personOf[sr.CustomerID]; ok && p != r.PersonID {
			t.Errorf("customer %s holds persons %d and %d", sr.CustomerID, p, r.PersonID)
		}
		customerOf[r.PersonID], personOf[sr.CustomerID] = sr.CustomerID, r.PersonID
	}
	return customerOf
}

// citizenID completes 17 digits with their GB 11643 check character.
func citizenID(d17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, c := range d17 {
		sum += int(c-'0') * w[i]
	}
	return d17 + string("10X98765432"[sum%11])
}

// A chunk that rewrites a stored record takes it out of the candidate
// lists it read up front; when such a list was cut at the limit, the next
// stored record behind the cut counts again, as it does one at a time.
// Three namesakes (one blocking key, limit 2): the first is re-registered
// as someone else, then a record without an ID number meets the other
// two — a tie to review, not a link to the only one left in the cut list.
func TestBulkRereadsACutCandidateList(t *testing.T) {
	t.Parallel()
	namesake := func(local, seq string) benchmarks.Record {
		return benchmarks.Record{System: "hosp-a", LocalID: local, Input: match.Input{Name: "王伟", Sex: "男",
			BirthDate: "1980-05-01", IDType: "01", IDNumber: citizenID("11010119800501" + seq)}}
	}
	first := []benchmarks.Record{namesake("a1", "001"), namesake("a2", "003"), namesake("a3", "005")}
	moved := first[0]
	moved.Input = match.Input{Name: "李娜", Sex: "女", BirthDate: "1990-02-03", IDType: "01", IDNumber: citizenID("44052419900203002")}
	noID := benchmarks.Record{System: "hosp-a", LocalID: "q", Input: match.Input{Name: "王伟", Sex: "男", BirthDate: "1980-05-01"}}
	then := []benchmarks.Record{moved, noID}
	one, bulk := bulkServices(t, 2, false, nil)["embedded"], bulkServices(t, 2, false, nil)["embedded"]
	ctx := t.Context()
	var want, got []outcome
	for _, s := range []serviceAndStore{one, bulk} {
		if err := benchmarks.CreateSystems(ctx, s.svc, first); err != nil {
			t.Fatal(err)
		}
		for _, r := range first {
			if _, err := s.svc.Register(ctx, fiveid.Principal{KeyID: "t", Role: fiveid.RoleSystem, System: r.System}, r.LocalID, r.Input); err != nil {
				t.Fatal(err)
			}
		}
	}
	var items []fiveid.BulkItem
	for _, r := range then {
		p := fiveid.Principal{KeyID: "t", Role: fiveid.RoleSystem, System: r.System}
		want = append(want, outcomeOf(one.svc.Register(ctx, p, r.LocalID, r.Input)))
		items = append(items, fiveid.BulkItem{Principal: p, LocalID: r.LocalID, Input: r.Input})
	}
	res, err := bulk.svc.RegisterBulk(ctx, items)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		got = append(got, outcomeOf(r.Result, r.Err))
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes (-one at a time +bulk):\n%s", d)
	}
	if d := cmp.Diff(stateOf(t, one), stateOf(t, bulk)); d != "" {
		t.Errorf("index (-one at a time +bulk):\n%s", d)
	}
	if want[1].Grade != match.GradePossible || !want[1].Review {
		t.Errorf("the record without an ID: %+v, want a possible match to review (a tie)", want[1])
	}
}
