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
	svc, err := serviceOn(ctx, db, w, th)
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
	svc, err := serviceOn(ctx, t, match.DefaultWeights(), th)
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

// stores is every store capability the benchmarks' Service is given.
type stores interface {
	fiveid.Store
	fiveid.GrantStore
	fiveid.WebhookStore
	fiveid.RecordScanner
	fiveid.StatisticsRefresher
}

func serviceOn(ctx context.Context, st stores, w match.Weights, th match.Thresholds) (*fiveid.Service, error) {
	sc, err := match.NewScorer(w, th)
	if err != nil {
		return nil, err
	}
	return fiveid.NewService(ctx, fiveid.Config{Store: st, Grants: st, WebhookStore: st, Records: st, Statistics: st, Cache: store.NewMemoryCache(time.Minute, 100_000), Scorer: sc, CandidateLimit: 200})
}

// StoreTimer is the store with identify's calls timed — candidate
// queries, name-frequency lookups, reads of a customer and of a
// customer's records, and grant-log writes — for the load benchmark's
// breakdown. Everything else is the store's own.
type StoreTimer struct {
	*store.DB
	mu        sync.Mutex
	cands     []time.Duration
	names     []time.Duration
	customers []time.Duration
	records   []time.Duration
	logs      []time.Duration
	updates   []time.Duration
	candRows  int
}

// Update times the store's write transactions (on identify's path: the
// review task a possible match opens).
func (t *StoreTimer) Update(ctx context.Context, lockKeys []string, fn func(tx fiveid.Tx) error) error {
	start := time.Now()
	err := t.DB.Update(ctx, lockKeys, fn)
	t.add(&t.updates, time.Since(start))
	return err
}

// Customer times the store's Customer.
func (t *StoreTimer) Customer(ctx context.Context, id string) (fiveid.Customer, error) {
	start := time.Now()
	c, err := t.DB.Customer(ctx, id)
	t.add(&t.customers, time.Since(start))
	return c, err
}

// CustomerRecords times the store's CustomerRecords.
func (t *StoreTimer) CustomerRecords(ctx context.Context, id string) ([]fiveid.SourceRecord, error) {
	start := time.Now()
	recs, err := t.DB.CustomerRecords(ctx, id)
	t.add(&t.records, time.Since(start))
	return recs, err
}

func (t *StoreTimer) add(to *[]time.Duration, d time.Duration) {
	t.mu.Lock()
	*to = append(*to, d)
	t.mu.Unlock()
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
	Candidates, Names, Customers, CustomerRecords, GrantLog, Updates []time.Duration
	CandidateRows                                                    int
}

// Add appends o's timings to t's.
func (t *Timings) Add(o Timings) {
	t.Candidates = append(t.Candidates, o.Candidates...)
	t.Names = append(t.Names, o.Names...)
	t.Customers = append(t.Customers, o.Customers...)
	t.CustomerRecords = append(t.CustomerRecords, o.CustomerRecords...)
	t.GrantLog = append(t.GrantLog, o.GrantLog...)
	t.Updates = append(t.Updates, o.Updates...)
	t.CandidateRows += o.CandidateRows
}

// Take returns what was timed since the last Take and starts afresh.
func (t *StoreTimer) Take() Timings {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := Timings{t.cands, t.names, t.customers, t.records, t.logs, t.updates, t.candRows}
	t.cands, t.names, t.customers, t.records, t.logs, t.updates, t.candRows = nil, nil, nil, nil, nil, nil, 0
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
//
// Pairwise figures count true pairs: two records of one person. A true
// pair is linked when both records end up with one customer; it is found
// when it is linked or waiting in review — its two customers both appear
// in one open review task, as the task's customer, its candidate or one of
// its explanation's alternatives (an ambiguous decision lists every tied
// customer there). Review does not chain: tasks A–B and B–C do not make a
// pair of A and C found, because a steward settling either task is shown
// only its own customers, and a closure over tasks would join namesakes
// that no one will ever be asked about.
type Registration struct {
	Records        int
	Rejected       int
	Customers      int
	ReviewTasks    int
	TruePairs      int
	PredictedPairs int
	CorrectPairs   int // true pairs linked
	ReviewPairs    int // true pairs not linked whose two customers share an open review task
	Precision      float64
	Recall         float64
	F1             float64
	// FoundRecall is (CorrectPairs + ReviewPairs) / TruePairs: the share
	// of true pairs linked or waiting in review.
	FoundRecall      float64
	Elapsed          time.Duration
	customers        []string       // record index -> final customer ("" when rejected)
	customerOfPerson map[int]string // the customer holding most of a person's records
	personOfCustomer map[string]int
}

// Customer returns the customer record i of the registered records ended
// with (merges followed), "" when it was rejected.
func (r Registration) Customer(i int) string {
	if i < 0 || i >= len(r.customers) {
		return ""
	}
	return r.customers[i]
}

// PersonOf returns the person holding most of customer id's records.
func (r Registration) PersonOf(id string) (int, bool) {
	p, ok := r.personOfCustomer[id]
	return p, ok
}

// Register registers recs through the service and scores the clustering
// against the truth pairwise.
func Register(ctx context.Context, svc *fiveid.Service, recs []Record) (Registration, error) {
	if err := CreateSystems(ctx, svc, recs); err != nil {
		return Registration{}, err
	}
	start := time.Now()
	var out Registration
	var taskIDs []string
	cust := map[int]string{} // record index -> customer
	if err := loadDistinct(ctx, svc, recs, cust); err != nil {
		return out, err
	}
	for i, r := range recs {
		if r.Distinct {
			continue
		}
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
			taskIDs = append(taskIDs, res.ReviewTaskID)
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
	out.customers = make([]string, len(recs))
	for i, c := range cust {
		out.customers[i] = c
	}
	pw, byCustomer, byPerson := pairwise(recs, cust)
	out.Customers, out.TruePairs, out.PredictedPairs, out.CorrectPairs = pw.Customers, pw.TruePairs, pw.PredictedPairs, pw.CorrectPairs
	out.Precision, out.Recall, out.F1 = pw.Precision, pw.Recall, pw.F1

	groups, err := newReviews(svc).openGroups(ctx, taskIDs)
	if err != nil {
		return out, err
	}
	out.ReviewPairs = reviewPairs(byPerson, cust, groups)
	out.FoundRecall = 1
	if out.TruePairs > 0 {
		out.FoundRecall = float64(out.CorrectPairs+out.ReviewPairs) / float64(out.TruePairs)
	}

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

// loadDistinct loads the records marked Distinct, system by system, and
// notes their customers in cust.
func loadDistinct(ctx context.Context, svc *fiveid.Service, recs []Record, cust map[int]string) error {
	bySystem := map[string][]int{}
	var systems []string
	for i, r := range recs {
		if !r.Distinct {
			continue
		}
		if bySystem[r.System] == nil {
			systems = append(systems, r.System)
		}
		bySystem[r.System] = append(bySystem[r.System], i)
	}
	for _, sys := range systems {
		var items []fiveid.RegisterItem
		for _, i := range bySystem[sys] {
			items = append(items, fiveid.RegisterItem{LocalID: recs[i].LocalID, Input: recs[i].Input})
		}
		if err := svc.LoadDistinct(ctx, admin, sys, items); err != nil {
			return err
		}
		for _, i := range bySystem[sys] {
			x, err := svc.Xref(ctx, admin, sys, recs[i].LocalID)
			if err != nil {
				return err
			}
			cust[i] = x.CustomerID
		}
	}
	return nil
}

// reviews reads review tasks and the customers they name, following merged
// customers to their survivor.
type reviews struct {
	svc       *fiveid.Service
	survivors map[string]string
}

func newReviews(svc *fiveid.Service) *reviews {
	return &reviews{svc: svc, survivors: map[string]string{}}
}

// TaskCustomers lists the customers an open review task puts before a
// steward: its customer, its candidate and every alternative of an
// ambiguous decision (IDs as stored; merged ones are not followed).
func TaskCustomers(t fiveid.ReviewTask) []string {
	var out []string
	add := func(id string) {
		if id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(t.CustomerID)
	add(t.CandidateID)
	for _, a := range t.Explanation.Alternatives {
		add(a.Customer)
	}
	return out
}

// customers returns task id's customers (survivors of merges) when the task
// is open, nil when it is resolved.
func (rv *reviews) customers(ctx context.Context, id string) ([]string, error) {
	if id == "" {
		return nil, nil
	}
	t, err := rv.svc.ReviewTask(ctx, admin, id)
	if err != nil {
		return nil, fmt.Errorf("review task %s: %w", id, err)
	}
	return rv.openCustomers(ctx, t)
}

func (rv *reviews) openCustomers(ctx context.Context, t fiveid.ReviewTask) ([]string, error) {
	if t.Status != fiveid.ReviewOpen {
		return nil, nil
	}
	var out []string
	for _, c := range TaskCustomers(t) {
		s, ok := rv.survivors[c]
		if !ok {
			v, err := rv.svc.Customer(ctx, admin, c)
			switch {
			case errors.Is(err, fiveid.ErrNotFound):
			case err != nil:
				return nil, fmt.Errorf("review task %s: %w", t.ID, err)
			default:
				s = v.Customer.ID
			}
			rv.survivors[c] = s
		}
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// openGroups returns the customers of each open review task: the tasks ids
// (those registration reported) and the open tasks the service lists
// (which include any opened without being reported, e.g. one already open
// for the same pair).
func (rv *reviews) openGroups(ctx context.Context, ids []string) ([][]string, error) {
	listed, err := rv.svc.ListReviewTasks(ctx, admin, fiveid.ReviewOpen)
	if err != nil {
		return nil, err
	}
	var groups [][]string
	seen := map[string]bool{}
	for _, t := range listed {
		seen[t.ID] = true
		cs, err := rv.openCustomers(ctx, t)
		if err != nil {
			return nil, err
		}
		groups = append(groups, cs)
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		cs, err := rv.customers(ctx, id)
		if err != nil {
			return nil, err
		}
		groups = append(groups, cs)
	}
	return groups, nil
}

// reviewPairs counts the true pairs — two records of one person, byPerson
// (record indexes) — that are not linked (cust: record -> customer) but
// whose two customers are both in one group (an open review task's
// customers). Groups do not chain.
func reviewPairs(byPerson map[int][]int, cust map[int]string, groups [][]string) int {
	joined := map[[2]string]bool{}
	for _, cs := range groups {
		for x, a := range cs {
			for _, b := range cs[x+1:] {
				joined[customerPair(a, b)] = true
			}
		}
	}
	n := 0
	for _, is := range byPerson {
		for x, i := range is {
			for _, j := range is[x+1:] {
				if a, b := cust[i], cust[j]; a != b && joined[customerPair(a, b)] {
					n++
				}
			}
		}
	}
	return n
}

func customerPair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Pairwise is a clustering of records scored against the truth: a true
// pair is two records of one person, a predicted pair two records of one
// customer.
type Pairwise struct {
	Records, Customers                      int
	TruePairs, PredictedPairs, CorrectPairs int
	Precision, Recall, F1                   float64
}

// ScorePairwise scores the customers records ended with (customer(i) for
// recs[i], "" when it was rejected) against the people they belong to.
func ScorePairwise(recs []Record, customer func(i int) string) Pairwise {
	cust := map[int]string{}
	for i := range recs {
		if c := customer(i); c != "" {
			cust[i] = c
		}
	}
	pw, _, _ := pairwise(recs, cust)
	return pw
}

// pairwise scores cust (record index -> customer) against the truth, and
// returns the persons of each customer's records and the records of each
// person.
func pairwise(recs []Record, cust map[int]string) (Pairwise, map[string][]int, map[int][]int) {
	pw := Pairwise{Records: len(cust)}
	byCustomer := map[string][]int{}
	byPerson := map[int][]int{}
	for i, c := range cust {
		byCustomer[c] = append(byCustomer[c], recs[i].PersonID)
		byPerson[recs[i].PersonID] = append(byPerson[recs[i].PersonID], i)
	}
	pw.Customers = len(byCustomer)
	for _, ps := range byCustomer {
		pw.PredictedPairs += len(ps) * (len(ps) - 1) / 2
		count := map[int]int{}
		for _, p := range ps {
			count[p]++
		}
		for _, n := range count {
			pw.CorrectPairs += n * (n - 1) / 2
		}
	}
	for _, is := range byPerson {
		pw.TruePairs += len(is) * (len(is) - 1) / 2
	}
	pw.Precision, pw.Recall, pw.F1 = prf(pw.CorrectPairs, pw.PredictedPairs, pw.TruePairs)
	return pw, byCustomer, byPerson
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
	// ReviewFound counts the Review answers whose open review task lists a
	// customer of the query's person (the customer holding most of its
	// records): a steward settling the task would find the right one.
	ReviewFound int
	// Queries about people never registered (twins, namesakes, others).
	Unregistered, FalseLink, UnregisteredReview int
	Rejected                                    int
	Latencies                                   []time.Duration
	// WrongLinks explains each wrong or false link: the query's pattern
	// against the records of the customer it was linked to.
	WrongLinks []WrongLink
}

// FoundRecall is the share of queries about registered people that were
// answered with the right customer or sent to review with a task that
// lists it.
func (id Identification) FoundRecall() float64 {
	if id.Registered == 0 {
		return 0
	}
	return float64(id.Correct+id.ReviewFound) / float64(id.Registered)
}

// WrongLink is an auto-link to a customer of another person.
type WrongLink struct {
	Query       Record
	Registered  bool   // the query's person was registered (a wrong link), or not (a false link)
	Customer    string // the customer it was linked to
	Other       int    // the person holding most of that customer's records
	Relation    string // of the two people: twin, tie, namesake or unrelated
	Explanation match.Explanation
}

// String describes the link without names or birth dates: people by their
// number in the dataset, the query's identifier masked.
func (w WrongLink) String() string {
	kind := "wrong link"
	if !w.Registered {
		kind = "false link"
	}
	return fmt.Sprintf("%s (%s): query %s/%s of person %d%s → %s of person %d: %s",
		kind, w.Relation, w.Query.System, w.Query.LocalID, w.Query.PersonID, maskedID(w.Query.Input),
		w.Customer, w.Other, pattern(w.Explanation))
}

func maskedID(in match.Input) string {
	if in.IDNumber == "" {
		return " (no ID)"
	}
	return " (ID " + match.MaskID(in.IDNumber) + ")"
}

// pattern is an explanation in one line: levels, score, grade and rules.
func pattern(e match.Explanation) string {
	var parts []string
	for _, f := range e.Fields {
		parts = append(parts, fmt.Sprintf("%s=%s", f.Field, f.Level))
	}
	s := fmt.Sprintf("%s score %.1f %s", strings.Join(parts, " "), e.Score, e.Grade)
	if len(e.Rules) > 0 {
		s += " rules " + strings.Join(e.Rules, ",")
	}
	return s
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
	rv := newReviews(svc)
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
			if !registered {
				out.UnregisteredReview++
				break
			}
			out.Review++
			cs, err := rv.customers(ctx, res.ReviewTaskID)
			if err != nil {
				return out, err
			}
			if slices.ContainsFunc(cs, func(c string) bool {
				p, ok := reg.personOfCustomer[c]
				return ok && p == q.PersonID
			}) {
				out.ReviewFound++
			}
		case err != nil:
			return out, err
		case registered && reg.personOfCustomer[res.CustomerID] == q.PersonID:
			out.Correct++
		default:
			other, ok := reg.personOfCustomer[res.CustomerID]
			if !ok {
				other = -1
			}
			if registered {
				out.Wrong++
			} else {
				out.FalseLink++
			}
			out.WrongLinks = append(out.WrongLinks, WrongLink{Query: q, Registered: registered, Customer: res.CustomerID,
				Other: other, Relation: Relation(ds, q.PersonID, other), Explanation: res.Explanation})
		}
	}
	return out, nil
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
	fmt.Fprintf(&b, "| records | rejected | customers | review tasks | pairwise precision | pairwise recall | F1 | found recall | register time |\n|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %.4f | %.4f | %.4f | %.4f | %s |\n\n", reg.Records, reg.Rejected, reg.Customers, reg.ReviewTasks,
		reg.Precision, reg.Recall, reg.F1, reg.FoundRecall, reg.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "True pairs (two records of one person): %d; linked %d, waiting in review %d (their two customers in one open review task), neither %d.\n\n",
		reg.TruePairs, reg.CorrectPairs, reg.ReviewPairs, reg.TruePairs-reg.CorrectPairs-reg.ReviewPairs)
	if len(ids) == 0 {
		return b.String()
	}
	fmt.Fprintf(&b, "| thresholds (certain/probable/possible; ambiguity margin) | queries (registered) | correct link | **wrong link** | review | found recall | missed | queries (unregistered) | false link | review | identify p50 / p99 |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "| %g / %g / %g; %g | %d | %.2f%% | **%.3f%%** | %.2f%% | %.2f%% | %.2f%% | %d | %.3f%% | %.2f%% | %s / %s |\n",
			id.Thresholds.Certain, id.Thresholds.Probable, id.Thresholds.Possible, id.Thresholds.AmbiguityMargin, id.Registered,
			Rate(id.Correct, id.Registered), Rate(id.Wrong, id.Registered), Rate(id.Review, id.Registered),
			100*id.FoundRecall(), Rate(id.Missed, id.Registered),
			id.Unregistered, Rate(id.FalseLink, id.Unregistered), Rate(id.UnregisteredReview, id.Unregistered),
			Percentile(id.Latencies, 0.5).Round(10*time.Microsecond), Percentile(id.Latencies, 0.99).Round(10*time.Microsecond))
	}
	b.WriteString("\nFound recall of identify: queries about registered people answered with their customer, or needs_review with a task that lists it.\n\n")
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
