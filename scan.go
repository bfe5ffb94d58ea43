package fiveid

import (
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
// the index once (the records in pages, the blocking-key index in one
// walk, grouped by key in memory), then retrieves and scores every
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
// the store sorts — normalized once, and the blocking-key index grouped by
// key.
type scanIndex struct {
	s     *Service
	recs  []SourceRecord
	norm  []match.Record
	ok    []bool             // norm[i] is valid: recs[i] normalizes under the current rules
	keys  keyGroups          // blocking key → positions of the records carrying it
	byCus map[string][]int32 // customer → positions of its records, ascending
	names *scanNames
}

// scanRecordPage and scanKeyPage are the page sizes of the scan's reads:
// large, since one round trip each is the cost that matters.
const (
	scanRecordPage = 5000
	scanKeyPage    = 50000
)

func (s *Service) readScanIndex(ctx context.Context) (*scanIndex, error) {
	scan := s.records
	if scan == nil {
		return nil, fmt.Errorf("scan: no record scanner configured: %w", ErrUnavailable)
	}
	ix := &scanIndex{s: s, byCus: map[string][]int32{}}
	err := s.eachRecordPage(ctx, "scan", scanRecordPage, func(page []SourceRecord) error {
		for _, r := range page {
			r.Link.Explanation = match.Explanation{} // not needed: let it go
			ix.recs = append(ix.recs, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ix.keys = newKeyGroups(8 * len(ix.recs)) // about as many keys as entries, 8 a record
	pos := make(map[[2]string]int32, len(ix.recs))
	// Name frequencies as name_stats holds them — the store keeps it the
	// exact count of the records' stored name keys — without a round trip
	// per name.
	ix.names = &scanNames{Reader: s.store, n: map[string]int64{}, total: int64(len(ix.recs))}
	for i, r := range ix.recs {
		pos[[2]string{r.System, r.LocalID}] = int32(i)
		ix.byCus[r.CustomerID] = append(ix.byCus[r.CustomerID], int32(i))
		ix.names.n[r.NameKey]++
	}
	// Normalize on all cores while the blocking-key index is read.
	var wg sync.WaitGroup
	ix.norm, ix.ok = make([]match.Record, len(ix.recs)), make([]bool, len(ix.recs))
	wg.Go(func() {
		parallel(len(ix.recs), func(i, _ int) {
			r := &ix.recs[i]
			n, err := s.normalize(r.Raw, r.IDTable)
			ix.norm[i], ix.ok[i] = n, err == nil
		})
	})
	defer wg.Wait()
	var after BlockingKey
	for {
		page, err := scan.ScanBlockingKeys(ctx, after, scanKeyPage)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		for _, k := range page {
			if i, ok := pos[[2]string{k.System, k.LocalID}]; ok { // else registered after the records were read
				ix.keys.add(k.Key, i)
			}
		}
		if len(page) < scanKeyPage {
			return ix, nil
		}
		after = page[len(page)-1]
	}
}

// keyGroups maps blocking keys to the positions of the records carrying
// them, without a pointer per key (there are about as many keys as key
// entries, so this is most of a scan's memory and its garbage collector's
// work): a key's positions are a run of one array, keys the service
// derives (hex HMACs) are kept as their 16 bytes, any other as a string.
type keyGroups struct {
	pos    []int32
	hex    map[[16]byte][2]int32 // start, end in pos
	other  map[string][2]int32
	last   string
	lastAt [2]int32
}

func newKeyGroups(size int) keyGroups {
	return keyGroups{pos: make([]int32, 0, size), hex: make(map[[16]byte][2]int32, size), other: map[string][2]int32{}}
}

// add appends record i to key's run; entries come grouped by key (the
// index's order).
func (g *keyGroups) add(key string, i int32) {
	n := int32(len(g.pos))
	g.pos = append(g.pos, i)
	if key == g.last && len(g.pos) > 1 {
		g.lastAt[1] = n + 1
	} else {
		g.last, g.lastAt = key, [2]int32{n, n + 1}
	}
	if b, ok := hexKey(key); ok {
		g.hex[b] = g.lastAt
	} else {
		g.other[key] = g.lastAt
	}
}

func (g *keyGroups) get(key string) []int32 {
	var at [2]int32
	if b, ok := hexKey(key); ok {
		at = g.hex[b]
	} else {
		at = g.other[key]
	}
	return g.pos[at[0]:at[1]]
}

// hexKey is key's 16 bytes when it is 32 lower-case hex digits.
func hexKey(key string) (b [16]byte, ok bool) {
	if len(key) != 32 {
		return b, false
	}
	for i := range 16 {
		hi, ok1 := hexDigit(key[2*i])
		lo, ok2 := hexDigit(key[2*i+1])
		if !ok1 || !ok2 {
			return b, false
		}
		b[i] = hi<<4 | lo
	}
	return b, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// candidates returns the positions of record i's candidates, as
// Reader.Candidates retrieves them for its blocking keys: distinct,
// ascending, at most limit.
func (ix *scanIndex) candidates(i, limit int, buf []int32) []int32 {
	out := buf[:0]
	for _, k := range ix.s.blockingKeys(ix.norm[i]) {
		out = append(out, ix.keys.get(k)...)
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
