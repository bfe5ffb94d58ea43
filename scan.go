package fiveid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"fiveid/match"
)

// ScanResult counts a duplicate scan's work.
type ScanResult struct {
	Records     int
	Pairs       int // candidate pairs of different customers scored
	TasksOpened int
}

// ScanDuplicates finds likely duplicate customers across the whole index
// with the matching engine and opens review tasks for them (admin),
// without duplicating open tasks or reopening pairs marked not duplicate.
//
// What it decides is defined one record at a time, in (system, local_id)
// order: each record's candidates are what identify would retrieve for it
// (the records carrying any of its blocking keys, the first CandidateLimit
// in (system, local_id) order); each candidate of another customer whose
// pair of customers has not been found yet is scored (ScanResult.Pairs);
// the first pair of records graded possible or better names the pair of
// customers, which is then decided as identify and register decide about
// customers (pairExplanation) and opened for review with that record.
//
// It computes that in three steps instead of a query per record: it reads
// the index once (the records in one stream, then the blocking-key index
// in another, grouped by key in memory), then retrieves and scores every
// record's candidates on all cores (a record's candidates do not depend
// on the others'), then replays the walk in order, which only counts,
// skips pairs found earlier and opens tasks.
func (s *Service) ScanDuplicates(ctx context.Context, p Principal) (ScanResult, error) {
	if err := require(p, RoleAdmin); err != nil {
		return ScanResult{}, err
	}
	ix, err := s.readScanIndex(ctx)
	if err != nil {
		return ScanResult{}, err
	}
	found, err := s.scoreCandidates(ctx, ix)
	if err != nil {
		return ScanResult{}, err
	}
	res := ScanResult{Records: len(ix.recs)}
	seen := map[[2]string]bool{}
	for i, cands := range found {
		r := &ix.recs[i]
		for _, c := range cands {
			cust := ix.recs[c.rec].CustomerID
			pair := [2]string{min(cust, r.CustomerID), max(cust, r.CustomerID)}
			if seen[pair] {
				continue
			}
			res.Pairs++
			if c.e == nil { // graded below possible
				continue
			}
			seen[pair] = true
			if nd, err := s.store.NotDuplicate(ctx, pair[0], pair[1]); err != nil || nd {
				continue
			}
			// A decision about customers, as in identify and register:
			// the pair's best comparison over all their records, with
			// the customer-level conflicts that records of one hold
			// against the other.
			e, err := ix.pairExplanation(ctx, r.CustomerID, cust, *c.e)
			if err != nil {
				return res, fmt.Errorf("scan: %w", err)
			}
			now := s.changeTime()
			task := ReviewTask{ID: newID("R"), Status: ReviewOpen, Reason: "duplicate_scan", CustomerID: pair[0], CandidateID: pair[1],
				System: r.System, LocalID: r.LocalID, Score: e.Score, Explanation: e, Version: 1, CreatedAt: now, UpdatedAt: now}
			err = s.store.Update(ctx, nil, func(tx Tx) error { return tx.InsertReviewTask(ctx, task) })
			switch {
			case err == nil:
				res.TasksOpened++
			case errors.Is(err, ErrConflict): // already open
			default:
				return res, fmt.Errorf("scan: %w", err)
			}
		}
	}
	return res, nil
}

// scanIndex is the master index as a duplicate scan reads it: every record
// in (system, local_id) order — the store's order, so positions compare as
// the store sorts — normalized once, with the blocking keys it derives,
// and the blocking-key index as runs of record positions (keyRuns).
type scanIndex struct {
	s       *Service
	recs    []SourceRecord
	norm    []match.Record
	ok      []bool    // norm[i] is valid: recs[i] normalizes under the current rules
	derived [][]int64 // derived[i]: recs[i]'s blocking keys (Service.blockingKeyValues) when ok[i]
	keys    keyRuns
	byCus   map[string][]int32 // customer → positions of its records, ascending
	names   *scanNames
}

// readScanIndex reads the records in one stream, then the blocking-key
// index in another while all cores normalize the records and derive their
// keys.
func (s *Service) readScanIndex(ctx context.Context) (*scanIndex, error) {
	scan := s.records
	if scan == nil {
		return nil, fmt.Errorf("scan: no record scanner configured: %w", ErrUnavailable)
	}
	ix := &scanIndex{s: s, byCus: map[string][]int32{}}
	if _, total, err := s.store.NameFrequency(ctx, ""); err == nil { // the record count: a capacity hint
		ix.recs = make([]SourceRecord, 0, total)
	}
	err := scan.EachSourceRecord(ctx, func(r SourceRecord) error {
		ix.recs = append(ix.recs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	pos := map[string]*recordPositions{} // by system
	// Name frequencies as name_stats holds them — the store keeps it the
	// exact count of the records' stored name keys — without a round trip
	// per name.
	ix.names = &scanNames{Reader: s.store, n: map[string]int64{}, total: int64(len(ix.recs))}
	for i, r := range ix.recs {
		m := pos[r.System]
		if m == nil {
			m = &recordPositions{short: map[[16]byte]int32{}, long: map[string]int32{}}
			pos[r.System] = m
		}
		m.put(r.LocalID, int32(i))
		ix.byCus[r.CustomerID] = append(ix.byCus[r.CustomerID], int32(i))
		ix.names.n[r.NameKey]++
	}
	var wg sync.WaitGroup
	ix.norm, ix.ok, ix.derived = make([]match.Record, len(ix.recs)), make([]bool, len(ix.recs)), make([][]int64, len(ix.recs))
	wg.Go(func() {
		parallel(len(ix.recs), func(i, _ int) {
			r := &ix.recs[i]
			n, err := s.normalize(r.Raw, r.IDTable)
			if err != nil {
				return
			}
			ix.norm[i], ix.ok[i] = n, true
			ix.derived[i] = s.blockingKeyValues(n)
		})
	})
	defer wg.Wait()
	size := 10 * len(ix.recs) // entries: about 9 a record
	ix.keys = keyRuns{pos: make([]int32, 0, size), start: make([]int32, 0, size), key: make([]int64, 0, size)}
	var sys []byte
	var local *recordPositions
	err = scan.EachBlockingKey(ctx, func(key int64, system, localID []byte) error {
		if local == nil || !bytes.Equal(system, sys) {
			sys, local = append(sys[:0], system...), pos[string(system)]
		}
		if i, ok := local.get(localID); ok { // else registered after the records were read
			ix.keys.add(key, i)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan: %w", err)
	}
	ix.keys.finish(len(ix.recs))
	return ix, nil
}

// recordPositions are the positions of one system's records by local ID.
// An ID of up to 15 bytes is a key of fixed size (its bytes and its
// length), held in the map's own memory: finding the record of each of a
// million index entries through string keys was a tenth of the scan's
// CPU, most of it waiting for the memory each key points to.
type recordPositions struct {
	short map[[16]byte]int32
	long  map[string]int32
}

func shortID[S string | []byte](id S) (k [16]byte, ok bool) {
	if len(id) > 15 {
		return k, false
	}
	copy(k[:], id)
	k[15] = byte(len(id))
	return k, true
}

func (m *recordPositions) put(id string, i int32) {
	if k, ok := shortID(id); ok {
		m.short[k] = i
	} else {
		m.long[id] = i
	}
}

// get is the position of the record id names; a nil m has none.
func (m *recordPositions) get(id []byte) (int32, bool) {
	if m == nil {
		return 0, false
	}
	var i int32
	var ok bool
	if k, short := shortID(id); short {
		i, ok = m.short[k]
	} else {
		i, ok = m.long[string(id)]
	}
	return i, ok
}

// keyRuns is the blocking-key index as the scan reads it, grouped by key,
// without a map entry per key (most keys are one record's: a map of them
// was most of the scan's memory, and filling and probing it a fifth of
// its CPU). The records carrying a key are a run of pos; each record's
// entries are listed by record, so that a record finds the run of a key
// it carries itself — every key it derives, in an index whose keys are
// current — without a lookup. A key a record derives but does not carry
// (an index with stale keys) is looked up in a map of every run, made the
// first time one is needed.
type keyRuns struct {
	pos   []int32 // record positions, a run per key, in the index's order
	start []int32 // run r is pos[start[r]:start[r+1]]
	key   []int64 // run r's key

	recStart []int32 // record i's runs are rec[recStart[i]:recStart[i+1]]
	rec      []int32

	once   sync.Once
	lookup map[int64]int32 // key → run
}

// add appends record i to key's run; entries come grouped by key (the
// index's order).
func (g *keyRuns) add(key int64, i int32) {
	if n := len(g.key); n == 0 || g.key[n-1] != key {
		g.key = append(g.key, key)
		g.start = append(g.start, int32(len(g.pos)))
	}
	g.pos = append(g.pos, i)
}

// finish closes the last run and lists the runs of each of n records.
func (g *keyRuns) finish(n int) {
	g.start = append(g.start, int32(len(g.pos)))
	g.recStart = make([]int32, n+1)
	for _, i := range g.pos {
		g.recStart[i+1]++
	}
	for i := range n {
		g.recStart[i+1] += g.recStart[i]
	}
	g.rec = make([]int32, len(g.pos))
	next := slices.Clone(g.recStart[:n])
	for r := range g.key {
		for _, i := range g.pos[g.start[r]:g.start[r+1]] {
			g.rec[next[i]] = int32(r)
			next[i]++
		}
	}
}

// carriers returns the positions of the records carrying key, record i
// among them or not.
func (g *keyRuns) carriers(i int, key int64) []int32 {
	for _, r := range g.rec[g.recStart[i]:g.recStart[i+1]] {
		if g.key[r] == key {
			return g.pos[g.start[r]:g.start[r+1]]
		}
	}
	g.once.Do(func() {
		g.lookup = make(map[int64]int32, len(g.key))
		for r, k := range g.key {
			g.lookup[k] = int32(r)
		}
	})
	if r, ok := g.lookup[key]; ok {
		return g.pos[g.start[r]:g.start[r+1]]
	}
	return nil
}

// candidates returns the positions of record i's candidates, as
// Reader.Candidates retrieves them for its blocking keys: distinct,
// ascending, at most limit.
func (ix *scanIndex) candidates(i, limit int, buf []int32) []int32 {
	out := buf[:0]
	for _, k := range ix.derived[i] {
		out = append(out, ix.keys.carriers(i, k)...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return out[:min(len(out), limit)]
}

// scanCandidate is a candidate record scored against a record of another
// customer; e is its explanation when graded possible or better.
type scanCandidate struct {
	rec int32
	e   *match.Explanation
}

// scoreCandidates retrieves and scores every valid record's candidates of
// other customers that normalize, on all cores.
func (s *Service) scoreCandidates(ctx context.Context, ix *scanIndex) ([][]scanCandidate, error) {
	found := make([][]scanCandidate, len(ix.recs))
	var failed atomic.Pointer[error]
	bufs := make([][]int32, runtime.GOMAXPROCS(0))
	parallel(len(ix.recs), func(i, w int) {
		if !ix.ok[i] || failed.Load() != nil {
			return
		}
		var q *queryScorer
		bufs[w] = ix.candidates(i, s.limit, bufs[w])
		for _, c := range bufs[w] {
			if ix.recs[c].CustomerID == ix.recs[i].CustomerID || !ix.ok[c] {
				continue
			}
			var err error
			if q == nil {
				if q, err = s.newQueryScorer(ctx, ix.names, ix.norm[i]); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
			e, err := q.compare(ctx, ix.norm[c])
			if err != nil {
				failed.CompareAndSwap(nil, &err)
				return
			}
			sc := scanCandidate{rec: c}
			if e.Grade.Rank() >= match.GradePossible.Rank() {
				sc.e = &e
			}
			found[i] = append(found[i], sc)
		}
	})
	if err := failed.Load(); err != nil {
		return nil, fmt.Errorf("scan: %w", *err)
	}
	return found, nil
}

// pairExplanation is the decision about two customers a scan found
// through one pair of records (e): the best comparison of any record of a
// with any record of b, capped by the customer-level rule of identify and
// register (match.CustomerConflicts) — every record of a against every
// identifier b's records hold — whose conflicts name b's records.
func (ix *scanIndex) pairExplanation(ctx context.Context, a, b string, e match.Explanation) (match.Explanation, error) {
	var rb []SourceRecord
	for _, j := range ix.byCus[b] {
		rb = append(rb, ix.recs[j])
	}
	hb := heldIDs(rb)
	best := match.Candidate{Explanation: e}
	var conflicts []match.Conflict
	for _, i := range ix.byCus[a] {
		if !ix.ok[i] {
			continue
		}
		q, err := ix.s.newQueryScorer(ctx, ix.names, ix.norm[i])
		if err != nil {
			return e, err
		}
		for _, j := range ix.byCus[b] {
			if !ix.ok[j] {
				continue
			}
			ex, err := q.compare(ctx, ix.norm[j])
			if err != nil {
				return e, err
			}
			if c := (match.Candidate{Explanation: ex}); match.Better(c, best) {
				best = c
			}
		}
		for _, c := range match.CustomerConflicts(ix.norm[i], hb) {
			if !slices.Contains(conflicts, c) {
				conflicts = append(conflicts, c)
			}
		}
	}
	return best.Explanation.WithConflicts(conflicts), nil
}

// scanNames answers name frequencies from the scan's count of the records'
// stored name keys (what the store's name statistics hold) for the
// queryScorers of a scan.
type scanNames struct {
	Reader
	n     map[string]int64
	total int64
}

func (f *scanNames) NameFrequency(_ context.Context, key string) (int64, int64, error) {
	return f.n[key], f.total, nil
}

// parallel calls fn(i, w) for every i below n on all cores, in chunks;
// w numbers the worker (below GOMAXPROCS), for per-worker scratch space.
func parallel(n int, fn func(i, w int)) {
	const chunk = 256
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= n {
					return
				}
				for i := start; i < min(start+chunk, n); i++ {
					fn(i, w)
				}
			}
		})
	}
	wg.Wait()
}
