// Command keys measures, rule by rule, how many indexed records the
// blocking keys of a cache-miss query find as the index grows: the
// candidates the candidate query reads and scoring then judges. It needs
// no database: it builds, in memory, the index the load command registers
// (generator seed 7, one clean record a person) and asks the queries the
// load command asks (benchmarks.LoadQueries), counting the raw keys of
// match.BlockingKeys (the stored keys are keyed HMACs of them, one for
// one).
//
//	go run ./benchmarks/cmd/keys -people 1000000,5000000,10000000
//
// -query-set asks the load command's -query-set of the same number.
//
// For each size and each rule it prints the share of queries carrying the
// rule, and how many records other than the queried person's own a key
// finds: the mean, the 99th percentile and the largest. A rule whose mean
// grows with the index is a crowd key: its candidates grow with the
// population.
package main

import (
	"flag"
	"fmt"
	"hash/maphash"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"fiveid/benchmarks"
	"fiveid/match"
)

func main() {
	sizes := flag.String("people", "1000000", "index sizes to measure, comma-separated")
	queries := flag.Int("queries", 5000, "queries per size")
	set := flag.Int("query-set", 0, "the load command's query set to ask")
	flag.Parse()
	for s := range strings.SplitSeq(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "keys: -people: %q is not a size\n", s)
			os.Exit(2)
		}
		measure(n, *queries, *set)
	}
}

// rule is a key's rule: the text before its first colon.
func rule(k string) string {
	if i := strings.IndexByte(k, ':'); i >= 0 {
		return k[:i]
	}
	return k
}

// keysOf are the raw blocking keys of a generated record; ok is false
// when it does not normalize (the load command skips it).
func keysOf(r benchmarks.Record) ([]string, bool) {
	rec, err := match.Normalize(r.Input, match.Options{})
	if err != nil {
		return nil, false
	}
	return match.BlockingKeys(rec), true
}

func measure(n, queries, set int) {
	start := time.Now()
	people := benchmarks.NewGenerator(7, benchmarks.Noise{}).Population(n)
	// The index: each person's clean record, as the load command
	// registers it, its keys counted by a 64-bit hash of the raw key
	// (a collision among ~10^8 keys is unlikely, and would only add).
	seed := maphash.MakeSeed()
	workers := runtime.GOMAXPROCS(0)
	parts := make([]map[uint64]int32, workers)
	var wg sync.WaitGroup
	indexed := make([]int, workers)
	for w := range workers {
		wg.Go(func() {
			g := benchmarks.NewGenerator(8, benchmarks.Noise{})
			m := map[uint64]int32{}
			for i := w; i < len(people); i += workers {
				keys, ok := keysOf(g.Record(people[i], 0, ""))
				if !ok {
					continue
				}
				indexed[w]++
				for _, k := range keys {
					m[maphash.String(seed, k)]++
				}
			}
			parts[w] = m
		})
	}
	wg.Wait()
	count := parts[0]
	total := indexed[0]
	for w := 1; w < workers; w++ {
		for k, c := range parts[w] {
			count[k] += c
		}
		parts[w] = nil
		total += indexed[w]
	}
	built := time.Since(start)

	type stat struct {
		queries int     // carrying the rule
		found   []int32 // per key: records other than the person's own
	}
	stats := map[string]*stat{}
	clean := benchmarks.NewGenerator(8, benchmarks.Noise{})
	asked, perQuery := 0, []int{}
	persons, qs := benchmarks.LoadQueries(people, queries, set)
	for i, p := range persons {
		keys, ok := keysOf(qs[i])
		if !ok {
			continue
		}
		asked++
		own, _ := keysOf(clean.Record(p, 0, ""))
		seen := map[string]bool{}
		sum := 0
		for _, k := range keys {
			c := count[maphash.String(seed, k)]
			if slices.Contains(own, k) {
				c-- // the person's own record: the match, not a crowd
			}
			r := rule(k)
			st := stats[r]
			if st == nil {
				st = &stat{}
				stats[r] = st
			}
			if !seen[r] {
				seen[r] = true
				st.queries++
			}
			st.found = append(st.found, c)
			sum += int(c)
		}
		perQuery = append(perQuery, sum)
	}
	fmt.Printf("index of %d records (%d people; built in %s), %d queries asked:\n", total, n, built.Round(time.Second), asked)
	fmt.Printf("  %-7s %8s %8s %10s %8s %8s\n", "rule", "queries", "keys", "mean", "p99", "max")
	for _, r := range slices.Sorted(maps.Keys(stats)) {
		st := stats[r]
		slices.Sort(st.found)
		var sum int64
		for _, c := range st.found {
			sum += int64(c)
		}
		fmt.Printf("  %-7s %7.1f%% %8d %10.2f %8d %8d\n", r, 100*float64(st.queries)/float64(asked), len(st.found),
			float64(sum)/float64(len(st.found)), st.found[len(st.found)*99/100], st.found[len(st.found)-1])
	}
	slices.Sort(perQuery)
	var sum int
	for _, c := range perQuery {
		sum += c
	}
	fmt.Printf("  other records a query's keys find, summed over its keys (an upper bound of its candidates): mean %.2f, p99 %d, max %d\n",
		float64(sum)/float64(len(perQuery)), perQuery[len(perQuery)*99/100], perQuery[len(perQuery)-1])
}
