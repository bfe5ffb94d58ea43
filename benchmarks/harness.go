package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
)

// Open returns a Service on a fresh embedded store in dir, or on
// PostgreSQL when databaseURL is set, with the given thresholds.
func Open(ctx context.Context, dir, databaseURL string, th match.Thresholds) (*fiveid.Service, func(), error) {
	return OpenWeights(ctx, dir, databaseURL, match.DefaultWeights(), th)
}

// OpenWeights is Open with other weights (e.g. trained with EM).
func OpenWeights(ctx context.Context, dir, databaseURL string, w match.Weights, th match.Thresholds) (*fiveid.Service, func(), error) {
	db, err := openDB(ctx, dir, databaseURL)
	if err != nil {
		return nil, nil, err
	}
	svc, err := serviceOn(ctx, db, db, w, th)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, func() { svc.Close(); db.Close() }, nil
}

// OpenTimed is Open with the identify path's store reads timed.
func OpenTimed(ctx context.Context, dir, databaseURL string, th match.Thresholds) (*fiveid.Service, *StoreTimer, func(), error) {
	db, err := openDB(ctx, dir, databaseURL)
	if err != nil {
		return nil, nil, nil, err
	}
	t := &StoreTimer{DB: db}
	svc, err := serviceOn(ctx, t, t, match.DefaultWeights(), th)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return svc, t, func() { svc.Close(); db.Close() }, nil
}

func openDB(ctx context.Context, dir, databaseURL string) (*store.DB, error) {
	if databaseURL != "" {
		return store.OpenPostgres(ctx, databaseURL)
	}
	return store.OpenEmbedded(ctx, filepath.Join(dir, "data"))
}

func serviceOn(ctx context.Context, st fiveid.Store, grants fiveid.GrantStore, w match.Weights, th match.Thresholds) (*fiveid.Service, error) {
	sc, err := match.NewScorer(w, th)
	if err != nil {
		return nil, err
	}
	return fiveid.NewService(ctx, fiveid.Config{Store: st, Grants: grants, Cache: store.NewMemoryCache(time.Minute, 100_000), Scorer: sc, CandidateLimit: 200})
}

// StoreTimer is the store with identify's calls timed — candidate
// queries, name-frequency lookups and grant-log writes — for the
// load benchmark's breakdown. Everything else is the store's own.
type StoreTimer struct {
	*store.DB
	mu       sync.Mutex
	cands    []time.Duration
	names    []time.Duration
	logs     []time.Duration
	candRows int
}

// AppendAudit times the grant log's writes (group commits: one write may
// carry several requests' entries).
func (t *StoreTimer) AppendAudit(ctx context.Context, afterSeq int64, afterHash string, grants []fiveid.Grant, events []fiveid.AuditEvent) error {
	start := time.Now()
	err := t.DB.AppendAudit(ctx, afterSeq, afterHash, grants, events)
	d := time.Since(start)
	t.mu.Lock()
	t.logs = append(t.logs, d)
	t.mu.Unlock()
	return err
}

// Candidates times the store's Candidates.
func (t *StoreTimer) Candidates(ctx context.Context, keys []string, limit int) ([]fiveid.SourceRecord, error) {
	start := time.Now()
	recs, err := t.DB.Candidates(ctx, keys, limit)
	d := time.Since(start)
	t.mu.Lock()
	t.cands, t.candRows = append(t.cands, d), t.candRows+len(recs)
	t.mu.Unlock()
	return recs, err
}

// NameFrequency times the store's NameFrequency.
func (t *StoreTimer) NameFrequency(ctx context.Context, key string) (int64, int64, error) {
	start := time.Now()
	n, total, err := t.DB.NameFrequency(ctx, key)
	d := time.Since(start)
	t.mu.Lock()
	t.names = append(t.names, d)
	t.mu.Unlock()
	return n, total, err
}

// Timings are what a StoreTimer measured.
type Timings struct {
	Candidates, Names, GrantLog []time.Duration
	CandidateRows               int
}

// Take returns what was timed since the last Take and starts afresh.
func (t *StoreTimer) Take() Timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := Timings{t.cands, t.names, t.logs, t.candRows}
	t.cands, t.names, t.logs, t.candRows = nil, nil, nil, 0
	return out
}

var admin = fiveid.Principal{KeyID: "benchmark", Role: fiveid.RoleAdmin}

// CreateSystems registers the systems the records name.
func CreateSystems(ctx context.Context, svc *fiveid.Service, recs []Record) error {
	tables := map[string]match.IDTable{}
	for _, s := range Systems {
		tables[s.Code] = s.Table
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.System] {
			continue
		}
		seen[r.System] = true
		_, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: r.System, Name: r.System, Kind: fiveid.KindMedical, IDTable: tables[r.System]})
		if err != nil && !errors.Is(err, fiveid.ErrConflict) {
			return err
		}
	}
	return nil
}

// Registration is the outcome of registering a dataset's records.
type Registration struct {
	Records          int
	Rejected         int
	Customers        int
	ReviewTasks      int
	TruePairs        int
	PredictedPairs   int
	CorrectPairs     int
	Precision        float64
	Recall           float64
	F1               float64
	Elapsed          time.Duration
	customerOfPerson map[int]string // the customer holding most of a person's records
	personOfCustomer map[string]int
}

// Register registers recs through the service and scores the clustering
// against the truth pairwise.
func Register(ctx context.Context, svc *fiveid.Service, recs []Record) (Registration, error) {
	if err := CreateSystems(ctx, svc, recs); err != nil {
		return Registration{}, err
	}
	start := time.Now()
	var out Registration
	cust := map[int]string{} // record index -> customer
	for i, r := range recs {
		p := fiveid.Principal{KeyID: "benchmark", Role: fiveid.RoleSystem, System: r.System}
		res, err := svc.Register(ctx, p, r.LocalID, r.Input)
		if err != nil {
			var ve *fiveid.ValidationError
			if errors.As(err, &ve) {
				out.Rejected++
				continue
			}
			return out, fmt.Errorf("register %s/%s: %w", r.System, r.LocalID, err)
		}
		cust[i] = res.CustomerID
		if res.ReviewTaskID != "" {
			out.ReviewTasks++
		}
	}
	out.Elapsed = time.Since(start)
	out.Records = len(recs)
	// Customers may have been merged into others since: follow redirects.
	final := map[string]string{}
	for i, c := range cust {
		f, ok := final[c]
		if !ok {
			x, err := svc.Xref(ctx, admin, recs[i].System, recs[i].LocalID)
			if err != nil {
				return out, err
			}
			f = x.CustomerID
			final[c] = f
		}
		cust[i] = f
	}
	byCustomer := map[string][]int{}
	byPerson := map[int][]int{}
	for i, c := range cust {
		byCustomer[c] = append(byCustomer[c], recs[i].PersonID)
		byPerson[recs[i].PersonID] = append(byPerson[recs[i].PersonID], i)
	}
	out.Customers = len(byCustomer)
	for _, ps := range byCustomer {
		out.PredictedPairs += len(ps) * (len(ps) - 1) / 2
		count := map[int]int{}
		for _, p := range ps {
			count[p]++
		}
		for _, n := range count {
			out.CorrectPairs += n * (n - 1) / 2
		}
	}
	for _, is := range byPerson {
		out.TruePairs += len(is) * (len(is) - 1) / 2
	}
	out.Precision, out.Recall, out.F1 = prf(out.CorrectPairs, out.PredictedPairs, out.TruePairs)
	out.customerOfPerson, out.personOfCustomer = map[int]string{}, map[string]int{}
	for c, ps := range byCustomer {
		count := map[int]int{}
		best, bestN := -1, 0
		for _, p := range ps {
			count[p]++
			if count[p] > bestN || (count[p] == bestN && p < best) {
				best, bestN = p, count[p]
			}
		}
		out.personOfCustomer[c] = best
	}
	for p, is := range byPerson {
		count := map[string]int{}
		best, bestN := "", 0
		for _, i := range is {
			c := cust[i]
			count[c]++
			if count[c] > bestN || (count[c] == bestN && c < best) {
				best, bestN = c, count[c]
			}
		}
		out.customerOfPerson[p] = best
	}
	return out, nil
}

func prf(correct, predicted, truth int) (p, r, f float64) {
	p, r = 1, 1
	if predicted > 0 {
		p = float64(correct) / float64(predicted)
	}
	if truth > 0 {
		r = float64(correct) / float64(truth)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return
}

// Identification is the outcome of identifying queries.
type Identification struct {
	Thresholds match.Thresholds
	// Queries about registered people.
	Registered, Correct, Wrong, Review, Missed int
	// Queries about people never registered (twins, namesakes, others).
	Unregistered, FalseLink, UnregisteredReview int
	Rejected                                    int
	Latencies                                   []time.Duration
	// WrongLinks explains each wrong or false link: the query's pattern
	// against the records of the customer it was linked to.
	WrongLinks []string
}

// Rate is a share in percent.
func Rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// Identify asks the service about every query and classifies the answers.
func Identify(ctx context.Context, svc *fiveid.Service, reg Registration, ds Dataset) (Identification, error) {
	var out Identification
	for _, q := range ds.Queries {
		p := fiveid.Principal{KeyID: "benchmark", Role: fiveid.RoleSystem, System: q.System}
		start := time.Now()
		res, err := svc.Identify(ctx, p, q.Input)
		out.Latencies = append(out.Latencies, time.Since(start))
		var ve *fiveid.ValidationError
		if errors.As(err, &ve) {
			out.Rejected++
			continue
		}
		registered := ds.Registered[q.PersonID]
		if registered {
			out.Registered++
		} else {
			out.Unregistered++
		}
		switch {
		case errors.Is(err, fiveid.ErrNoMatch):
			if registered {
				out.Missed++
			}
		case errors.Is(err, fiveid.ErrNeedsReview):
			if registered {
				out.Review++
			} else {
				out.UnregisteredReview++
			}
		case err != nil:
			return out, err
		case !registered:
			out.FalseLink++
			out.WrongLinks = append(out.WrongLinks, "false link: "+describe(res.Explanation, ds, q, reg.personOfCustomer[res.CustomerID]))
		case reg.personOfCustomer[res.CustomerID] == q.PersonID:
			out.Correct++
		default:
			out.Wrong++
			out.WrongLinks = append(out.WrongLinks, "wrong link: "+describe(res.Explanation, ds, q, reg.personOfCustomer[res.CustomerID]))
		}
	}
	return out, nil
}

func describe(e match.Explanation, ds Dataset, q Record, other int) string {
	var parts []string
	for _, f := range e.Fields {
		parts = append(parts, fmt.Sprintf("%s=%s", f.Field, f.Level))
	}
	rel := "unrelated"
	if other >= 0 && other < len(ds.People) && q.PersonID < len(ds.People) {
		a, b := ds.People[q.PersonID], ds.People[other]
		switch {
		case a.TwinOf == b.ID || b.TwinOf == a.ID:
			rel = "twin"
		case a.Name() == b.Name():
			rel = "namesake"
		}
	}
	return fmt.Sprintf("%s score %.1f %s (%s)", strings.Join(parts, " "), e.Score, e.Grade, rel)
}

// Percentile of sorted durations.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// Markdown renders a registration and identifications as tables.
func Markdown(name string, reg Registration, ids []Identification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#### %s\n\n", name)
	fmt.Fprintf(&b, "| records | rejected | customers | review tasks | pairwise precision | pairwise recall | F1 | register time |\n|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %.4f | %.4f | %.4f | %s |\n\n", reg.Records, reg.Rejected, reg.Customers, reg.ReviewTasks,
		reg.Precision, reg.Recall, reg.F1, reg.Elapsed.Round(time.Millisecond))
	if len(ids) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "| thresholds (certain/probable/possible) | queries (registered) | correct link | **wrong link** | review | missed | queries (unregistered) | false link | review | identify p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "| %g / %g / %g | %d | %.2f%% | **%.3f%%** | %.2f%% | %.2f%% | %d | %.3f%% | %.2f%% | %s / %s |\n",
			id.Thresholds.Certain, id.Thresholds.Probable, id.Thresholds.Possible, id.Registered,
			Rate(id.Correct, id.Registered), Rate(id.Wrong, id.Registered), Rate(id.Review, id.Registered), Rate(id.Missed, id.Registered),
			id.Unregistered, Rate(id.FalseLink, id.Unregistered), Rate(id.UnregisteredReview, id.Unregistered),
			Percentile(id.Latencies, 0.5).Round(10*time.Microsecond), Percentile(id.Latencies, 0.99).Round(10*time.Microsecond))
	}
	b.WriteString("\n")
	return b.String()
}

// Reopen opens a second Service on the same store (another scorer), to
// identify the same registrations at other thresholds.
func Reopen(ctx context.Context, dir, databaseURL string, th match.Thresholds) (*fiveid.Service, func(), error) {
	return Open(ctx, dir, databaseURL, th)
}

// Causes tallies, for queries about registered people that did not link,
// the comparison pattern against the best-scoring record of the same
// person: what the engine saw when it declined.
func Causes(ds Dataset, top int) []string {
	sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	byPerson := map[int][]Record{}
	for _, r := range ds.Records {
		byPerson[r.PersonID] = append(byPerson[r.PersonID], r)
	}
	tables := map[string]match.IDTable{}
	for _, s := range Systems {
		tables[s.Code] = s.Table
	}
	count := map[string]int{}
	queries := ds.Queries
	if len(queries) == 0 {
		// Registration only (FEBRL, fake_1000): every record against the
		// other records of its person.
		queries = ds.Records
	}
	for _, q := range queries {
		recs := byPerson[q.PersonID]
		if len(recs) == 0 {
			continue
		}
		a, err := match.Normalize(q.Input, match.Options{IDTable: tables[q.System]})
		if err != nil {
			continue
		}
		var best match.Explanation
		first := true
		for _, r := range recs {
			if r.System == q.System && r.LocalID == q.LocalID {
				continue
			}
			b, err := match.Normalize(r.Input, match.Options{IDTable: tables[r.System]})
			if err != nil {
				continue
			}
			e := sc.Compare(a, b, match.TermFreq{})
			if first || e.Score > best.Score {
				best, first = e, false
			}
		}
		if first || best.Grade.AutoLink() {
			continue
		}
		var parts []string
		for _, f := range best.Fields {
			parts = append(parts, f.Field+"="+f.Level)
		}
		count[strings.Join(parts, " ")+" → "+string(best.Grade)+" "+strings.Join(best.Rules, ",")]++
	}
	type kv struct {
		k string
		n int
	}
	var kvs []kv
	for k, n := range count {
		kvs = append(kvs, kv{k, n})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || (kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k) })
	var out []string
	for i, e := range kvs {
		if i == top {
			break
		}
		out = append(out, fmt.Sprintf("%5d  %s", e.n, e.k))
	}
	return out
}
