package benchmarks

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/storetest"
	"fiveid/store/teststore"
)

func TestGeneratorIsDeterministicAndValid(t *testing.T) {
	t.Parallel()
	a := Synthetic(SeedTuning, 300, Realistic)
	b := Synthetic(SeedTuning, 300, Realistic)
	if len(a.Records) != len(b.Records) || !slices.Equal(a.Records, b.Records) {
		t.Fatal("the same seed made different data")
	}
	c := Synthetic(SeedReport, 300, Realistic)
	if slices.Equal(a.Records, c.Records) {
		t.Fatal("tuning and reporting seeds made the same data")
	}
	twins := 0
	for _, p := range a.People {
		if p.IDType == match.IDTypeCitizen && match.CheckChar(p.IDNumber[:17]) != p.IDNumber[17] {
			t.Errorf("person %d: %s fails GB 11643", p.ID, p.IDNumber)
		}
		if p.TwinOf >= 0 {
			twins++
		}
	}
	if twins == 0 {
		t.Error("no twins generated: the hard negatives are missing")
	}
}

// A small population through the real service: invariants, not tuning.
func TestAccuracyOnASmallPopulation(t *testing.T) {
	t.Parallel()
	svc, closeFn, err := Open(t.Context(), t.TempDir(), "", match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	ds := Synthetic(SeedTuning, 400, Realistic)
	reg, err := Register(t.Context(), svc, ds.Records)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Precision < 0.995 || reg.Recall < 0.85 {
		t.Errorf("registration precision %.4f recall %.4f", reg.Precision, reg.Recall)
	}
	id, err := Identify(t.Context(), svc, reg, ds)
	if err != nil {
		t.Fatal(err)
	}
	if Rate(id.Wrong, id.Registered) > 1 || Rate(id.Correct, id.Registered) < 90 || Rate(id.FalseLink, id.Unregistered) > 1 {
		t.Errorf("identify: %+v\n%v", id, id.WrongLinks)
	}
}

func TestFEBRL4AndFake1000Load(t *testing.T) {
	t.Parallel()
	dir := ExternalDir("..")
	recs, err := FEBRL4(dir)
	if err != nil {
		t.Skipf("FEBRL4 not readable here (%v): set FIVEID_EXTERNAL", err)
	}
	if len(recs) != 10000 {
		t.Errorf("FEBRL4: %d records", len(recs))
	}
	fake, err := Fake1000(dir)
	if err != nil || len(fake) != 1000 {
		t.Errorf("fake_1000: %d %v", len(fake), err)
	}
}

// BenchmarkIdentifyCacheMiss times identify on an embedded index of 2,000
// people; every iteration asks about another person, so the cache misses.
func BenchmarkIdentifyCacheMiss(b *testing.B) {
	svc, closeFn, err := Open(b.Context(), b.TempDir(), "", match.DefaultThresholds())
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	ds := Synthetic(SeedTuning, 2000, Realistic)
	if err := CreateSystems(b.Context(), svc, ds.Records); err != nil {
		b.Fatal(err)
	}
	admin := fiveid.Principal{Role: fiveid.RoleAdmin}
	var items []fiveid.RegisterItem
	seen := map[int]bool{}
	for _, r := range ds.Records {
		if r.System == "hosp-a" && !seen[r.PersonID] {
			seen[r.PersonID] = true
			items = append(items, fiveid.RegisterItem{LocalID: r.LocalID, Input: r.Input})
		}
	}
	if err := svc.LoadDistinct(b.Context(), admin, "hosp-a", items); err != nil {
		b.Skipf("load: %v", err)
	}
	caller := fiveid.Principal{Role: fiveid.RoleSystem, System: "care-c"}
	i := 0
	for b.Loop() {
		svc.Identify(b.Context(), caller, ds.Queries[i%len(ds.Queries)].Input)
		i++
	}
}

// BenchmarkIdentifyCacheHit times identify answered from the cache (the
// in-process cache, and Redis when reachable) on an embedded index of 2,000
// people: 200 questions asked once before timing, then over and over.
// Every identify also writes its grant-log entry.
func BenchmarkIdentifyCacheHit(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchmarkIdentifyCacheHit(b, store.NewMemoryCache(time.Hour, 100_000))
	})
	b.Run("redis", func(b *testing.B) {
		rc, err := store.OpenRedis(b.Context(), storetest.RedisURL(b), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		benchmarkIdentifyCacheHit(b, store.NewRedisCache(rc, storetest.Prefix(b, rc), time.Hour, store.Breaker{}))
	})
}

func benchmarkIdentifyCacheHit(b *testing.B, cache fiveid.Cache) {
	db := teststore.Embedded(b)
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		b.Fatal(err)
	}
	svc, err := fiveid.NewService(b.Context(), fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Cache: cache, Scorer: sc})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ds := Synthetic(SeedTuning, 2000, Realistic)
	if err := CreateSystems(b.Context(), svc, ds.Records); err != nil {
		b.Fatal(err)
	}
	admin := fiveid.Principal{Role: fiveid.RoleAdmin}
	var items []fiveid.RegisterItem
	seen := map[int]bool{}
	for _, r := range ds.Records {
		if r.System == "hosp-a" && !seen[r.PersonID] {
			seen[r.PersonID] = true
			items = append(items, fiveid.RegisterItem{LocalID: r.LocalID, Input: r.Input})
		}
	}
	if err := svc.LoadDistinct(b.Context(), admin, "hosp-a", items); err != nil {
		b.Skipf("load: %v", err)
	}
	caller := fiveid.Principal{Role: fiveid.RoleSystem, System: "care-c"}
	qs := ds.Queries[:200]
	for _, q := range qs {
		svc.Identify(b.Context(), caller, q.Input)
	}
	i := 0
	for b.Loop() {
		svc.Identify(b.Context(), caller, qs[i%len(qs)].Input)
		i++
	}
}

// Weights trained on one population (u from random pairs, m by EM over
// candidate pairs) are sane and keep identify safe on another.
func TestTrainedWeightsGeneralize(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	admin := fiveid.Principal{Role: fiveid.RoleAdmin}
	svc, closeFn, err := Open(ctx, t.TempDir(), "", match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	if _, err := Register(ctx, svc, Synthetic(SeedTuning, 1500, Realistic).Records); err != nil {
		t.Fatal(err)
	}
	w, rep, err := svc.Train(ctx, admin, match.DefaultWeights(), fiveid.TrainOptions{RandomPairs: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RandomPairs != 300_000 || rep.Pairs == 0 || !strings.HasPrefix(w.Version, "fs-em-") {
		t.Fatalf("report %+v, version %s", rep, w.Version)
	}
	if _, _, err := svc.Train(ctx, fiveid.Principal{Role: fiveid.RoleSystem, System: "hosp-a"}, match.DefaultWeights(), fiveid.TrainOptions{}); !errors.Is(err, fiveid.ErrDenied) {
		t.Errorf("a system trained weights: %v", err)
	}
	lv := w.Levels
	// Agreement must weigh for a match, disagreement against.
	for _, c := range []struct {
		field, level string
		positive     bool
	}{
		{"id", match.LevelEqual, true}, {"id", match.LevelDifferent, false},
		{"name", match.LevelEqual, true}, {"name", match.LevelDifferent, false},
		{"birth_date", match.LevelEqual, true}, {"birth_date", match.LevelDifferent, false},
		{"sex", match.LevelAgree, true}, {"sex", match.LevelDisagree, false},
	} {
		mu := lv[c.field][c.level]
		if (mu.M > mu.U) != c.positive {
			t.Errorf("%s.%s: m %.3g u %.3g", c.field, c.level, mu.M, mu.U)
		}
	}
	if u := lv["sex"][match.LevelDisagree].U; u < 0.4 || u > 0.6 {
		t.Errorf("u(sex disagree) = %.3f: random pairs disagree on sex about half the time", u)
	}
	if u := lv["birth_date"][match.LevelEqual].U; u > 1e-3 {
		t.Errorf("u(birth_date equal) = %.2g: random pairs rarely share a birth date", u)
	}

	// Identify on the reporting seed with the trained weights.
	test, closeTest, err := OpenWeights(ctx, t.TempDir(), "", w, match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	defer closeTest()
	ds := Synthetic(SeedReport, 400, Realistic)
	reg, err := Register(ctx, test, ds.Records)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Identify(ctx, test, reg, ds)
	if err != nil {
		t.Fatal(err)
	}
	if Rate(id.Wrong, id.Registered) > 1 || Rate(id.Correct, id.Registered) < 90 || Rate(id.FalseLink, id.Unregistered) > 1 {
		t.Errorf("identify with trained weights: %+v\n%v", id, id.WrongLinks)
	}
}

// The accuracy gate's sample: 1,500 people (about 2,800 records, 1,500
// queries, 39 twin pairs) and 40 namesake ties: on the embedded store on
// this 2-core machine 7–10 s alone, 14–16 s inside make test, 27 s while other
// work loaded it (load average 9); the budget is 30 s. Big enough to hold
// the hard cases, small enough for make test; the full benchmark is
// cmd/accuracy.
const (
	gatePeople = 1500
	gateTies   = 40
	// gateWrongLinkRate is issue 11's target: wrong links at most 0.01% of
	// all queries.
	gateWrongLinkRate = 0.0001
)

// TestAccuracyGate fails make test when matching becomes unsafe on a small
// synthetic population with extra hard cases (issue 11): any tie or twin
// that auto-links, or more wrong links than the target rate allows. The
// sample is deterministic (SeedGate), so a failure is never luck: it is a
// link the matcher makes that it did not make before.
//
// The tie check fails on matchers that break ties by choosing one
// customer (the best-scoring, else the oldest): it passes once a second
// customer reaching the same grade makes the answer review.
func TestAccuracyGate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	start := time.Now()
	svc, closeFn, err := Open(ctx, t.TempDir(), "", match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	ds := SyntheticWithHardCases(SeedGate, gatePeople, Realistic, HardCases{Ties: gateTies})

	// The sample must hold the hard cases it is there for.
	twins, twinsRegistered := 0, 0
	for _, p := range ds.People {
		if p.TwinOf >= 0 {
			twins++
			if ds.Registered[p.ID] && ds.Registered[p.TwinOf] {
				twinsRegistered++
			}
		}
	}
	if twins < 30 || twinsRegistered < 20 || len(ds.Ties) != gateTies {
		t.Fatalf("the gate's sample lost its hard cases: %d twin pairs (%d both registered), %d ties", twins, twinsRegistered, len(ds.Ties))
	}

	reg, err := Register(ctx, svc, ds.Records)
	if err != nil {
		t.Fatal(err)
	}
	id, err := Identify(ctx, svc, reg, ds)
	if err != nil {
		t.Fatal(err)
	}
	id.Thresholds = match.DefaultThresholds()
	regOff, err := RegistrationOffences(ctx, svc, reg, ds)
	if err != nil {
		t.Fatal(err)
	}
	idOff, err := IdentificationOffences(ctx, svc, reg, ds, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d twin pairs (%d both registered), %d ties; %s\n%s", twins, twinsRegistered, len(ds.Ties),
		time.Since(start).Round(time.Millisecond), Markdown("Accuracy gate", reg, []Identification{id}))

	offences := append(regOff, idOff...)
	report := func(t *testing.T, kind, what string) {
		var lines []string
		for _, o := range offences {
			if o.Kind == kind {
				lines = append(lines, "  "+o.Detail)
			}
		}
		if len(lines) > 0 {
			t.Errorf("%d %s auto-link(s), want none: %s\n%s", len(lines), kind, what, strings.Join(lines, "\n"))
		}
	}
	t.Run("twins", func(t *testing.T) {
		report(t, "twin", "twins share a surname, birth date and address code, never a customer")
	})
	t.Run("ties", func(t *testing.T) {
		report(t, "tie", "people with the same name, sex and birth date are told apart only by an identifier; without one the answer is review")
	})
	t.Run("wrong-link rate", func(t *testing.T) {
		// Twins and ties are reported above, each once. At the gate's size
		// the target rate allows floor(0.01% × ~1,500) = 0 wrong links:
		// one is already 0.07%, seven times the target and five times the
		// 0.012% README reports on 10,000 people. A sample this small
		// cannot measure a rate of 0.01% — only the full benchmark can —
		// but it catches a matcher drifting to 0.2% (three expected here)
		// 95% of the time, and a new wrong link on data the matcher
		// handled before every time.
		queries := id.Registered + id.Unregistered
		allowed := int(gateWrongLinkRate * float64(queries))
		var lines []string
		for _, w := range id.WrongLinks {
			if w.Relation != "twin" && w.Relation != "tie" {
				lines = append(lines, "  "+w.String())
			}
		}
		if len(lines) > allowed {
			t.Errorf("%d wrong or false links in %d queries (%.3f%%), at most %d allowed (%.2f%% of all queries):\n%s",
				len(lines), queries, Rate(len(lines), queries), allowed, 100*gateWrongLinkRate, strings.Join(lines, "\n"))
		}
	})
}

func TestFoundRecallCountsPairsOneTaskShowsTogether(t *testing.T) {
	t.Parallel()
	// Person 1's records went to customers A, B and C; person 2's to D and E.
	cust := map[int]string{0: "A", 1: "B", 2: "C", 3: "D", 4: "E", 5: "A"}
	byPerson := map[int][]int{1: {0, 1, 2, 5}, 2: {3, 4}}
	for _, c := range []struct {
		name   string
		groups [][]string
		want   int
	}{
		{"no task", nil, 0},
		{"a task about A and B finds the two pairs across them", [][]string{{"A", "B"}}, 2},
		{"tasks A–B and B–C do not chain to A–C", [][]string{{"A", "B"}, {"B", "C"}}, 3},
		{"an ambiguous task lists A, B and C: every pair across them", [][]string{{"C", "A", "B"}}, 5},
		{"a task about customers of two people finds nothing", [][]string{{"A", "D"}}, 0},
		{"pairs already linked are not counted again", [][]string{{"A", "A"}}, 0},
	} {
		if got := reviewPairs(byPerson, cust, c.groups); got != c.want {
			t.Errorf("%s: %d pairs in review, want %d", c.name, got, c.want)
		}
	}
}

func TestTaskCustomersIncludeTheAlternatives(t *testing.T) {
	t.Parallel()
	task := fiveid.ReviewTask{CustomerID: "C3", CandidateID: "C1", Explanation: match.Explanation{
		Alternatives: []match.Alternative{{Customer: "C1"}, {Customer: "C2"}}}}
	if diff := cmp.Diff([]string{"C3", "C1", "C2"}, TaskCustomers(task)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestHardCasesLeaveThePopulationAlone(t *testing.T) {
	t.Parallel()
	plain := Synthetic(SeedGate, 300, Realistic)
	hard := SyntheticWithHardCases(SeedGate, 300, Realistic, HardCases{Ties: 6})
	if !slices.Equal(plain.People, hard.People[:len(plain.People)]) || !slices.Equal(plain.Records, hard.Records[:len(plain.Records)]) ||
		!slices.Equal(plain.Queries, hard.Queries) {
		t.Fatal("adding hard cases changed the population, its records or its queries")
	}
	if !slices.Equal(hard.Records, SyntheticWithHardCases(SeedGate, 300, Realistic, HardCases{Ties: 6}).Records) {
		t.Fatal("the hard cases are not deterministic")
	}
	numbers := map[string]bool{}
	for _, p := range hard.People {
		if p.IDNumber != "" && numbers[p.IDNumber] {
			t.Errorf("person %d: number %s given twice", p.ID, match.MaskID(p.IDNumber))
		}
		numbers[p.IDNumber] = true
	}
	for i, tie := range hard.Ties {
		a, b := hard.People[tie.A], hard.People[tie.B]
		if Relation(hard, a.ID, b.ID) != "tie" || a.IDNumber == b.IDNumber || a.IDType != match.IDTypeCitizen {
			t.Errorf("tie %d is not a tie: %+v %+v", i, a, b)
		}
		if (b.IDNumber == "") != tie.NoID || (b.IDNumber != "" && match.CheckChar(b.IDNumber[:17]) != b.IDNumber[17]) {
			t.Errorf("tie %d: B's number %q (no ID %v)", i, match.MaskID(b.IDNumber), tie.NoID)
		}
		third := hard.Records[tie.Third]
		if third.PersonID != a.ID || third.Input.IDNumber != "" || len(tie.Probes) != 2 {
			t.Errorf("tie %d: third record %+v, %d probes", i, third, len(tie.Probes))
		}
		for _, r := range append([]Record{third}, tie.Probes...) {
			if r.Input.IDNumber != "" || r.Input.Sex == "" || r.Input.BirthDate == "" {
				t.Errorf("tie %d: %+v is not name, sex and birth date only", i, r.Input)
			}
		}
	}
}
