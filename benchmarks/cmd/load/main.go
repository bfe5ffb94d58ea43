// Command load measures fiveid's speed against a large index:
//
//	DATABASE_URL=postgres://... go run ./benchmarks/cmd/load -customers 1000000 -queries 20000
//
// It loads N synthetic people (one record each, as an initial migration
// would, with Service.LoadDistinct) unless the database already holds
// them, then measures
//   - identify latency on a cache miss (every query is a distinct, noisy
//     record of a loaded person), sequential: p50/p95/p99;
//   - identify throughput with -clients concurrent callers;
//   - identify-with-grant throughput (durable grant-log entry included)
//     with -clients concurrent callers.
//
// Without DATABASE_URL it runs on an embedded store in a temporary
// directory.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fiveid"
	"fiveid/benchmarks"
	"fiveid/internal/gctune"
	"fiveid/match"
)

func main() {
	gctune.Apply(os.Getenv) // the service in this process runs as fiveid's binary runs it
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	n := flag.Int("customers", 100_000, "people in the index")
	queries := flag.Int("queries", 5000, "identify queries to time")
	clients := flag.Int("clients", 64, "concurrent callers for the throughput runs")
	duration := flag.Duration("duration", 20*time.Second, "length of each throughput run")
	scanOnly := flag.Bool("scan", false, "time the duplicate scan over the index instead of identify")
	reindexOnly := flag.Bool("reindex", false, "time fiveid reindex over the index instead of identify")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed scan or reindex to this file")
	querySet := flag.Int("query-set", 0, "which people the queries ask about and their noise: another set asks about other people, whose pages an earlier run did not read")
	flag.Parse()
	dir, err := os.MkdirTemp("", "fiveid-load")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, timer, closeFn, err := benchmarks.OpenTimed(ctx, dir, os.Getenv("DATABASE_URL"), match.DefaultThresholds())
	if err != nil {
		return err
	}
	defer closeFn()
	admin := fiveid.Principal{KeyID: "load", Role: fiveid.RoleAdmin}
	const system = "hosp-a"
	for _, code := range []string{system, "care-c"} {
		if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: code, Name: code, Kind: fiveid.KindMedical}); err != nil && !errors.Is(err, fiveid.ErrConflict) {
			return err
		}
	}
	g := benchmarks.NewGenerator(7, benchmarks.Noise{})
	people := g.Population(*n)
	if _, err := svc.Xref(ctx, admin, system, fmt.Sprintf("P%08d", len(people)-1)); errors.Is(err, fiveid.ErrNotFound) {
		start := time.Now()
		if err := load(ctx, svc, admin, system, people); err != nil {
			return err
		}
		fmt.Printf("loaded %d customers in %s\n", len(people), time.Since(start).Round(time.Second))
		// The last batches' row counts reach PostgreSQL's statistics views
		// seconds after their commit; serve's refresher (once a minute)
		// would act on them: measure the index as a running server keeps it.
		time.Sleep(12 * time.Second)
	} else {
		fmt.Printf("index already holds %d customers\n", len(people))
	}
	if refreshed, err := svc.RefreshStatistics(ctx, admin); err != nil {
		return err
	} else if len(refreshed) > 0 {
		fmt.Printf("statistics refreshed: %v\n", refreshed)
	}
	// The stewards' dashboard reads its figures on every view.
	var dash []time.Duration
	for range 5 {
		start := time.Now()
		if _, err := svc.IndexFigures(ctx, admin, time.Now().AddDate(0, 0, -7)); err != nil {
			return err
		}
		dash = append(dash, time.Since(start))
	}
	slices.Sort(dash)
	fmt.Printf("dashboard figures (IndexFigures), 5 reads: median %s, max %s\n", dash[2].Round(10*time.Microsecond), dash[4].Round(10*time.Microsecond))

	if *scanOnly || *reindexOnly {
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		meter := startCPU(ctx, os.Getenv("DATABASE_URL"))
		start := time.Now()
		if *reindexOnly {
			res, err := svc.Reindex(ctx, admin, nil)
			if err != nil {
				return err
			}
			fmt.Printf("reindex of %d customers: %s (%d records, %d with keys rewritten, %d changed meanwhile, %d invalid)\n",
				len(people), time.Since(start).Round(100*time.Millisecond), res.Records, res.Rewritten, res.Changed, res.Invalid)
			fmt.Println(meter.stop(ctx))
			return nil
		}
		res, err := svc.ScanDuplicates(ctx, admin)
		if err != nil {
			return err
		}
		fmt.Printf("duplicate scan of %d customers: %s (%d records, %d candidate pairs scored, %d review tasks opened)\n",
			len(people), time.Since(start).Round(100*time.Millisecond), res.Records, res.Pairs, res.TasksOpened)
		fmt.Println(meter.stop(ctx))
		return nil
	}
	_, recs := benchmarks.LoadQueries(people, *queries, *querySet)
	qs := make([]match.Input, len(recs))
	for i, r := range recs {
		qs[i] = r.Input
	}
	// The generated population is not part of a server's heap: drop it,
	// so that the garbage collector does not scan it on every cycle and
	// add its pauses to the latencies measured; and give its pages back to
	// the system, or the resident set measured while serving would count
	// the generator's memory (Go returns freed pages only gradually: 308 MB
	// measured serving at 1,000,000 customers, Go heap in use 74 MB).
	indexSize := len(people)
	people = nil
	debug.FreeOSMemory()
	caller := fiveid.Principal{KeyID: "load", Role: fiveid.RoleSystem, System: "care-c"}
	// Sequential cache-miss latency.
	lat := make([]time.Duration, 0, len(qs))
	outcome := map[string]int{}
	byOutcome := map[string][]time.Duration{}
	timer.Take()
	// Each query's own timings, to tell where the slowest spent theirs.
	each := make([]benchmarks.Timings, 0, len(qs))
	outcomes := make([]string, 0, len(qs))
	for _, q := range qs {
		t := time.Now()
		_, err := svc.Identify(ctx, caller, q)
		d := time.Since(t)
		lat = append(lat, d)
		each = append(each, timer.Take())
		o := "error"
		switch {
		case err == nil:
			o = "match"
		case errors.Is(err, fiveid.ErrNoMatch):
			o = "no_match"
		case errors.Is(err, fiveid.ErrNeedsReview):
			o = "needs_review"
		case errors.Is(err, fiveid.ErrInvalid):
			o = "invalid" // the noise left nothing identifying
		}
		outcome[o]++
		byOutcome[o] = append(byOutcome[o], d)
		outcomes = append(outcomes, o)
	}
	for _, o := range []string{"match", "needs_review", "no_match"} {
		if l := byOutcome[o]; len(l) > 0 {
			fmt.Printf("  %s: %d queries, p50 %s  p99 %s\n", o, len(l),
				benchmarks.Percentile(l, .5).Round(10*time.Microsecond), benchmarks.Percentile(l, .99).Round(10*time.Microsecond))
		}
	}
	fmt.Printf("identify, cache miss, sequential, %d queries on %d customers: p50 %s  p95 %s  p99 %s  (%v)\n", len(qs), indexSize,
		benchmarks.Percentile(lat, .5).Round(10*time.Microsecond), benchmarks.Percentile(lat, .95).Round(10*time.Microsecond),
		benchmarks.Percentile(lat, .99).Round(10*time.Microsecond), outcome)
	// Where the time goes.
	var tm benchmarks.Timings
	for _, e := range each {
		tm.Add(e)
	}
	per := func(n int) float64 { return float64(n) / float64(len(qs)) }
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Printf("  per identify: %.2f candidate queries (avg %s, p99 %s, %.1f records each), %.2f name-frequency lookups (avg %s), %.2f customer reads (avg %s), %.2f reads of a customer's records (avg %s), %.2f grant-log writes (avg %s, p99 %s), %.2f other writes (review tasks; avg %s)\n",
		per(len(tm.Candidates)), r(mean(tm.Candidates)), r(benchmarks.Percentile(tm.Candidates, .99)),
		float64(tm.CandidateRows)/float64(max(len(tm.Candidates), 1)), per(len(tm.Names)), r(mean(tm.Names)),
		per(len(tm.Customers)), r(mean(tm.Customers)), per(len(tm.CustomerRecords)), r(mean(tm.CustomerRecords)),
		per(len(tm.GrantLog)), r(mean(tm.GrantLog)), r(benchmarks.Percentile(tm.GrantLog, .99)), per(len(tm.Updates)), r(mean(tm.Updates)))
	fmt.Println(slowest(lat, each, outcomes, .01))

	// Throughput with grants.
	if _, err := svc.CreatePolicy(ctx, admin, fiveid.Policy{Grantee: "care-c", Scopes: []string{"medical"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
		return err
	}
	// Memory: the service runs in this process, so the process's resident
	// set while it serves is the figure (the load tool's own query list
	// included, the generated population dropped above).
	rss := sampleRSS(100 * time.Millisecond)
	for _, grant := range []bool{false, true} {
		var done, failed atomic.Int64
		stopAt := time.Now().Add(*duration)
		var wg sync.WaitGroup
		for c := range *clients {
			wg.Go(func() {
				for i := c; time.Now().Before(stopAt); i += *clients {
					req := fiveid.GrantRequest{}
					if grant {
						req = fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment"}
					}
					res, err := svc.IdentifyAndGrant(ctx, caller, qs[i%len(qs)], req)
					switch {
					case err == nil && (!grant || res.Grant != nil):
						done.Add(1)
					case errors.Is(err, fiveid.ErrNoMatch), errors.Is(err, fiveid.ErrNeedsReview), errors.Is(err, fiveid.ErrInvalid):
						done.Add(1) // answered (and logged), nothing granted
					default:
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		what := "identify"
		if grant {
			what = "identify+grant (durable grant log)"
		}
		fmt.Printf("%s, %d clients, %s: %.0f requests/s (%d failed)\n", what, *clients, *duration,
			float64(done.Load())/duration.Seconds(), failed.Load())
	}
	maxRSS := rss()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("memory while serving the throughput runs (service in this process): max RSS %d MB, Go heap in use %d MB, peak RSS of the whole run (loading included) %d MB\n",
		maxRSS>>20, ms.HeapInuse>>20, procStatus("VmHWM")>>20)
	return nil
}

// sampleRSS samples the process's resident set every interval until the
// returned function is called, which returns the largest sample.
func sampleRSS(every time.Duration) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := procStatus("VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(stop); <-done; return peak.Load() }
}

// procStatus reads a size field ("VmRSS", "VmHWM") of /proc/self/status in
// bytes; 0 where there is no /proc.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func load(ctx context.Context, svc *fiveid.Service, admin fiveid.Principal, system string, people []benchmarks.Person) error {
	g := benchmarks.NewGenerator(8, benchmarks.Noise{})
	const batch = 2000
	errc := make(chan error, 4)
	work := make(chan []fiveid.RegisterItem)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for items := range work {
				if err := svc.LoadDistinct(ctx, admin, system, items); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		})
	}
	for start := 0; start < len(people); start += batch {
		var items []fiveid.RegisterItem
		for _, p := range people[start:min(start+batch, len(people))] {
			r := g.Record(p, 0, "")
			if _, err := match.Normalize(r.Input, match.Options{}); err != nil {
				continue // nothing identifying: not loadable
			}
			items = append(items, fiveid.RegisterItem{LocalID: fmt.Sprintf("P%08d", p.ID), Input: r.Input})
		}
		select {
		case err := <-errc:
			close(work)
			wg.Wait()
			return err
		case work <- items:
		}
		if start%(50*batch) == 0 {
			fmt.Fprintf(os.Stderr, "loaded %d\n", start)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return sum(ds) / time.Duration(len(ds))
}

// slowest says where the slowest share of the sequential queries spent
// their time: each store call's mean over those queries (the name
// frequency runs beside the candidate query, so it is not subtracted),
// and the rest — the cache, normalizing and scoring, waiting for a core.
func slowest(lat []time.Duration, each []benchmarks.Timings, outcomes []string, share float64) string {
	idx := make([]int, len(lat))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(lat[b], lat[a]) })
	n := max(1, int(float64(len(lat))*share))
	var total, cands, names, customers, records, logs, updates time.Duration
	kinds := map[string]int{}
	for _, i := range idx[:n] {
		e := each[i]
		kinds[outcomes[i]]++
		total += lat[i]
		cands += sum(e.Candidates)
		names += sum(e.Names)
		customers += sum(e.Customers)
		records += sum(e.CustomerRecords)
		logs += sum(e.GrantLog)
		updates += sum(e.Updates)
	}
	m := func(d time.Duration) time.Duration { return (d / time.Duration(n)).Round(10 * time.Microsecond) }
	rest := total - cands - customers - records - logs - updates
	return fmt.Sprintf("  the slowest %d (%.0f%%, %v): avg %s = candidate query %s + customer reads %s + customer's records %s + grant-log write %s + other writes (review tasks) %s + the rest %s; name frequency beside the candidates %s",
		n, share*100, kinds, m(total), m(cands), m(customers), m(records), m(logs), m(updates), m(rest), m(names))
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}
