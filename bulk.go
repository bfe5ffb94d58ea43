package fiveid

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"fiveid/match"
)

// The bulk registration pipeline (fiveid import, POST /v1/customers/batch).
// Records are normalized in parallel, then decided a chunk at a time in one
// transaction: the chunk's blocking keys are locked at once (in sorted
// order, like any Update), what deciding needs is read in a few queries
// (chunkTx), each record goes through registration's own three steps —
// decide, write, record the changes (resolve.go) — against the chunk's
// reads plus the writes of the records before it in the chunk, and the
// chunk's writes go to the store in multi-row statements at the end.
// Decisions are therefore exactly those of registering the records one at
// a time in input order.

// BulkItem is one record to register in bulk, with the principal of the
// system registering it (the import registers many systems' records).
type BulkItem struct {
	Principal Principal
	LocalID   string
	Input     match.Input
}

// BulkChunk is how many records one transaction of RegisterBulk decides.
const BulkChunk = 1000

// RegisterBulk registers items as Register would, one after the other in
// input order, BulkChunk records per transaction. A bad record does not
// fail the others (its result holds the error); a store failure fails the
// chunk it happened in and stops: the error says how many records were
// registered before it (results up to there are final), and registering
// the same items again is safe (a repeat is Unchanged).
//
// The chunks overlap where no decision can see it: the next chunk is
// checked and normalized (prepareChunk, which reads nothing the chunks
// write) while one is decided and written, and the cached answers a
// chunk changed are invalidated (after it committed, before its results
// are given) while the next is; everything a chunk reads from the store
// it reads after the chunk before it committed.
func (s *Service) RegisterBulk(ctx context.Context, items []BulkItem) ([]BatchResult, error) {
	out := make([]BatchResult, len(items))
	prepare := func(start int) chan []bulkRecord {
		end := min(start+BulkChunk, len(items))
		ch := make(chan []bulkRecord, 1)
		go func() { ch <- s.prepareChunk(ctx, items[start:end], out[start:end]) }()
		return ch
	}
	var finishing chan struct{} // closed when the chunk before's finish is done
	waitFinish := func() {
		if finishing != nil {
			<-finishing
		}
	}
	next := prepare(0)
	for start := 0; start < len(items); start += BulkChunk {
		end := min(start+BulkChunk, len(items))
		recs := <-next
		if end < len(items) {
			next = prepare(end)
		}
		finish, err := s.registerChunk(ctx, items[start:end], out[start:end], recs)
		waitFinish()
		if err != nil {
			if end < len(items) {
				<-next // it writes to out
			}
			return out[:start], fmt.Errorf("register bulk: %d of %d records registered: %w", start, len(items), err)
		}
		finishing = make(chan struct{})
		go func(done chan struct{}) { finish(); close(done) }(finishing)
	}
	waitFinish()
	return out, nil
}

// BulkPrepared is a chunk of items checked and normalized by PrepareBulk,
// for RegisterPrepared.
type BulkPrepared struct {
	items    []BulkItem
	out      []BatchResult // the check's refusals; the rest zero until registered
	recs     []bulkRecord
	finished chan struct{} // closed once registered and the answers invalidated
}

// PrepareBulk checks and normalizes a chunk of at most BulkChunk items:
// what RegisterBulk does to a chunk before it reads anything the chunks
// write, so that a caller registering chunk after chunk (fiveid import)
// can prepare the next while one registers, as RegisterBulk itself does.
func (s *Service) PrepareBulk(ctx context.Context, items []BulkItem) (*BulkPrepared, error) {
	if len(items) > BulkChunk {
		return nil, fmt.Errorf("prepare bulk: %d items, at most %d: %w", len(items), BulkChunk, ErrInvalid)
	}
	p := &BulkPrepared{items: items, out: make([]BatchResult, len(items))}
	p.recs = s.prepareChunk(ctx, items, p.out)
	return p, nil
}

// RegisterPrepared registers a prepared chunk in one transaction, as
// RegisterBulk registers each of its chunks, and returns once it
// committed; Results gives its results. On a store failure nothing of it
// was registered and it may be registered again.
//
// The cached answers the chunk changed are invalidated meanwhile, so that
// the caller can go on with the next chunk: Results waits for that (a
// record whose invalidation failed has that error, as from RegisterBulk).
func (s *Service) RegisterPrepared(ctx context.Context, p *BulkPrepared) error {
	if len(p.items) == 0 {
		return nil
	}
	finish, err := s.registerChunk(ctx, p.items, p.out, p.recs)
	if err != nil {
		return fmt.Errorf("register bulk: 0 of %d records registered: %w", len(p.items), err)
	}
	p.finished = make(chan struct{})
	go func() { finish(); close(p.finished) }()
	return nil
}

// Results are the results of a registered chunk (RegisterPrepared), in
// item order, once the cached answers it changed are invalidated; before
// it registered, only the refusals of the check.
func (p *BulkPrepared) Results() []BatchResult {
	if p.finished != nil {
		<-p.finished
	}
	return p.out
}

// bulkRecord is a chunk's valid record, normalized.
type bulkRecord struct {
	i    int // index in the chunk
	sys  System
	rec  match.Record
	keys []string
}

// prepareChunk checks and normalizes items in parallel; a bad item's
// error goes to its result.
func (s *Service) prepareChunk(ctx context.Context, items []BulkItem, out []BatchResult) []bulkRecord {
	prepared := make([]*bulkRecord, len(items))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := items[i]
				if err := require(it.Principal, RoleSystem); err != nil {
					out[i].Err = err
					continue
				}
				if err := validLocalID(it.LocalID); err != nil {
					out[i].Err = err
					continue
				}
				sys, err := s.system(ctx, it.Principal.System)
				if err != nil {
					out[i].Err = fmt.Errorf("register: system %s: %w", it.Principal.System, err)
					continue
				}
				rec, err := s.normalize(it.Input, sys.IDTable)
				if err != nil {
					out[i].Err = err
					continue
				}
				prepared[i] = &bulkRecord{i: i, sys: sys, rec: rec, keys: s.blockingKeys(rec)}
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	var recs []bulkRecord
	for _, p := range prepared {
		if p != nil {
			recs = append(recs, *p)
		}
	}
	return recs
}

// registerChunk registers a chunk's items, recs being prepareChunk's
// answer for them, and returns once the chunk committed with what remains
// to do before its results are given: finish invalidates the cached
// answers the chunk changed (a failure there fails the chunk's records)
// and counts the outcomes. It touches only the chunk's results.
func (s *Service) registerChunk(ctx context.Context, items []BulkItem, out []BatchResult, recs []bulkRecord) (finish func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return func() {}, nil
	}
	// The keys of the records' previous versions are locked and
	// invalidated too (as Register does).
	ids := make([]RecordID, len(recs))
	var lock []string
	for j, r := range recs {
		ids[j] = RecordID{System: r.sys.Code, LocalID: items[r.i].LocalID}
		lock = append(lock, r.keys...)
	}
	prevs, err := s.store.SourceRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, prev := range prevs {
		if prevRec, err := s.normalize(prev.Raw, prev.IDTable); err == nil {
			lock = append(lock, s.blockingKeys(prevRec)...)
		}
	}
	lock = union(lock, nil)

	var more []string // keys of the customers the chunk touched that it did not create
	err = s.update(ctx, lock, func(tx Tx, now time.Time) error {
		for j := range recs {
			out[recs[j].i] = BatchResult{}
		}
		c, err := s.newChunkTx(ctx, tx, recs, ids)
		if err != nil {
			return err
		}
		touched := map[string]bool{}
		for j, r := range recs {
			it := items[r.i]
			// Each record is registered a microsecond after the one
			// before it (the stores keep microseconds), as one at a time
			// it would be later: survivorship prefers the record updated
			// last, so a later row of the chunk wins as it would alone.
			at := now.Add(time.Duration(j) * time.Microsecond)
			reg, err := s.decideRegistration(ctx, c, at, r.sys, it.LocalID, it.Input, r.rec, r.keys)
			if err != nil {
				if !recordError(err) {
					return err
				}
				out[r.i].Err = fmt.Errorf("register: %w", err)
				continue
			}
			touched[reg.res.CustomerID] = true
			if reg.exists {
				touched[reg.existing.CustomerID] = true
			}
			if !reg.res.Unchanged {
				if err := s.writeRegistration(ctx, c, &reg); err != nil {
					return err
				}
				if err := s.recordRegistration(ctx, c, reg); err != nil {
					return err
				}
			}
			reg.res.Findings = r.rec.Findings
			out[r.i].Result = reg.res
		}
		var others []string
		for id := range touched {
			if !c.created[id] { // a created customer's records are the chunk's: their keys are locked
				others = append(others, id)
			}
		}
		// The chunk's own records' keys are locked (and invalidated) already.
		ours := func(r SourceRecord) bool { _, ok := c.recs[RecordID{r.System, r.LocalID}]; return ok }
		if more, err = s.customerKeysIn(ctx, c, ours, others...); err != nil {
			return err
		}
		return c.flush(ctx)
	})
	if err != nil {
		for j := range recs {
			out[recs[j].i] = BatchResult{}
		}
		return nil, err
	}
	return func() { s.finishChunk(ctx, len(items), out, recs, union(lock, more)) }, nil
}

// finishChunk is what registerChunk leaves for after the commit: the
// cached answers depending on keys are invalidated and the outcomes
// counted.
func (s *Service) finishChunk(ctx context.Context, n int, out []BatchResult, recs []bulkRecord, keys []string) {
	// An idempotent repeat invalidates too: the attempt it repeats may
	// have committed and then failed to invalidate.
	if err := s.invalidateAnswers(ctx, keys); err != nil {
		for _, r := range recs {
			if out[r.i].Err == nil {
				out[r.i] = BatchResult{Err: fmt.Errorf("register: %w", err)}
			}
		}
		return
	}
	created, linked := 0, 0
	for _, r := range recs {
		res := out[r.i]
		if res.Err != nil {
			continue
		}
		grade := string(res.Result.Decision.Grade)
		if res.Result.Created {
			grade, created = "new", created+1
		} else if !res.Result.Unchanged {
			linked++
		}
		s.obs.MatchOutcome("register", grade)
	}
	s.log.LogAttrs(ctx, slogInfo, "register bulk", attrI("records", n),
		attrI("created", created), attrI("linked", linked))
}

// recordError tells a decision's refusal of one record (a link target that
// is not active...) from a store failure, which fails the chunk.
func recordError(err error) bool {
	return errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)
}

// chunkTx is a chunk's transaction as registration's three steps see it:
// the store as it was when the chunk began (read in a few queries up
// front, or on demand for what those did not cover), plus the writes of
// the records decided before in the chunk, held in memory until flush.
// Only what decideRegistration, writeRegistration and recordRegistration
// use is answered here (review tasks go to the transaction at once: no
// read of the steps depends on them); chunkTx serves nothing else.
type chunkTx struct {
	Tx
	limit int

	// Read up front (or on demand, and kept).
	base      map[RecordID]SourceRecord // the chunk's records that existed
	baseRead  map[RecordID]bool
	keyCands  map[string][]SourceRecord // Reader.KeyCandidates
	keysRead  map[string]bool
	customers map[string]Customer // as read, then as written
	custRecs  map[string][]SourceRecord
	names     map[string]int64
	namesRead map[string]bool
	total     int64

	// Written by the chunk.
	recs       map[RecordID]*pendingRecord
	recOrder   []RecordID
	byKey      map[string][]RecordID
	byCustomer map[string][]RecordID
	created    map[string]bool
	written    map[string]bool // customers to write
	custOrder  []string
	changes    []Change
	nameDelta  map[string]int64
	totalDelta int64
	// Candidates' and CustomerRecords' scratch space.
	seen  map[RecordID]bool
	found []*SourceRecord

	// replaced counts the chunk's writes to records that existed before
	// it: each may have left a key's stored list, so a list read up front
	// that was full no longer tells the first limit records.
	replaced int
}

type pendingRecord struct {
	rec  SourceRecord
	keys []string
}

// newChunkTx reads, in one query of each kind, the chunk's records, its
// keys' candidates, their customers with all their records, and the name
// statistics of every name involved.
func (s *Service) newChunkTx(ctx context.Context, tx Tx, recs []bulkRecord, ids []RecordID) (*chunkTx, error) {
	// The maps are made to the chunk's size: grown from empty, their
	// rehashing was a visible share of a chunk's allocations.
	n := len(recs)
	keys := make([]string, 0, 10*n)
	names := make([]string, 0, 4*n)
	for _, r := range recs {
		keys = append(keys, r.keys...)
		names = append(names, r.rec.Name.Key)
	}
	c := &chunkTx{Tx: tx, limit: s.limit,
		base: make(map[RecordID]SourceRecord, n), baseRead: make(map[RecordID]bool, n),
		keysRead: make(map[string]bool, len(keys)), customers: make(map[string]Customer, 2*n),
		custRecs: make(map[string][]SourceRecord, 2*n), namesRead: make(map[string]bool, 4*n),
		recs: make(map[RecordID]*pendingRecord, n), byKey: make(map[string][]RecordID, len(keys)),
		byCustomer: make(map[string][]RecordID, n), created: make(map[string]bool, n),
		written: make(map[string]bool, n), nameDelta: make(map[string]int64, n)}
	existing, err := tx.SourceRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	customers := make([]string, 0, 4*n)
	for _, id := range ids {
		c.baseRead[id] = true
	}
	for _, r := range existing {
		c.base[RecordID{r.System, r.LocalID}] = r
		customers = append(customers, r.CustomerID)
	}
	if c.keyCands, err = tx.KeyCandidates(ctx, keys, c.limit); err != nil {
		return nil, err
	}
	for _, k := range keys {
		c.keysRead[k] = true
	}
	for _, l := range c.keyCands {
		for i := range l {
			customers = append(customers, l[i].CustomerID)
			names = append(names, l[i].NameKey)
		}
	}
	cs, crecs, err := tx.CustomersRecords(ctx, customers)
	if err != nil {
		return nil, err
	}
	for _, cu := range cs {
		c.customers[cu.ID] = cu
		c.custRecs[cu.ID] = crecs[cu.ID]
	}
	if c.names, c.total, err = tx.NameFrequencies(ctx, names); err != nil {
		return nil, err
	}
	for _, n := range names {
		c.namesRead[n] = true
	}
	return c, nil
}

// recordOrder orders records by (system, local_id), as the stores list
// them.
func recordOrder(a, b *SourceRecord) int {
	if c := strings.Compare(a.System, b.System); c != 0 {
		return c
	}
	return strings.Compare(a.LocalID, b.LocalID)
}

// SourceRecord: the chunk's version, else the stored one.
func (c *chunkTx) SourceRecord(ctx context.Context, system, localID string) (SourceRecord, error) {
	id := RecordID{system, localID}
	if p, ok := c.recs[id]; ok {
		return p.rec, nil
	}
	if c.baseRead[id] {
		if r, ok := c.base[id]; ok {
			return r, nil
		}
		return SourceRecord{}, fmt.Errorf("source record %s/%s: %w", system, localID, ErrNotFound)
	}
	return c.Tx.SourceRecord(ctx, system, localID)
}

// Candidates: the stored records carrying the keys that the chunk has not
// rewritten, and the chunk's records carrying them, first limit by
// (system, local_id) — Candidates of the store as the chunk's writes
// would leave it.
func (c *chunkTx) Candidates(ctx context.Context, keys []string, limit int) ([]SourceRecord, error) {
	upFront := limit == c.limit
	for _, k := range keys {
		if !c.keysRead[k] || (c.replaced > 0 && len(c.keyCands[k]) >= limit) {
			upFront = false
		}
	}
	// The answer is gathered as pointers and copied once, sorted: a
	// record is a few hundred bytes, and a key's list is read for every
	// record of the chunk carrying the key.
	seen, found := c.scratch()
	add := func(r *SourceRecord) {
		id := RecordID{r.System, r.LocalID}
		if _, ours := c.recs[id]; ours || seen[id] {
			return
		}
		seen[id] = true
		found = append(found, r)
	}
	if upFront {
		for _, k := range keys {
			l := c.keyCands[k]
			for i := range l {
				add(&l[i])
			}
		}
	} else {
		// Each record the chunk rewrote may hide one more: read that
		// many more.
		stored, err := c.Tx.Candidates(ctx, keys, limit+c.replaced)
		if err != nil {
			return nil, err
		}
		for i := range stored {
			add(&stored[i])
		}
	}
	for _, k := range keys {
		for _, id := range c.byKey[k] {
			p := c.recs[id]
			if seen[id] || !contains(p.keys, k) {
				continue
			}
			seen[id] = true
			found = append(found, &p.rec)
		}
	}
	return c.sorted(found, limit), nil
}

// scratch is the map and slice that Candidates and CustomerRecords
// gather in, emptied (kept for the chunk: they are called for every
// record).
func (c *chunkTx) scratch() (map[RecordID]bool, []*SourceRecord) {
	if c.seen == nil {
		c.seen = make(map[RecordID]bool, 64)
	}
	clear(c.seen)
	return c.seen, c.found[:0]
}

// sorted is the first limit (all when limit < 0) of found in (system,
// local_id) order, copied; found is kept for scratch.
func (c *chunkTx) sorted(found []*SourceRecord, limit int) []SourceRecord {
	slices.SortFunc(found, recordOrder)
	n := len(found)
	if limit >= 0 {
		n = min(n, limit)
	}
	var out []SourceRecord
	if n > 0 {
		out = make([]SourceRecord, n)
		for i, r := range found[:n] {
			out[i] = *r
		}
	}
	clear(found) // no pointer kept past the call
	c.found = found[:0]
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// CustomerRecords: the stored records of the customer the chunk has not
// rewritten, and the chunk's records of it.
func (c *chunkTx) CustomerRecords(ctx context.Context, id string) ([]SourceRecord, error) {
	stored, ok := c.custRecs[id]
	if !ok && !c.created[id] {
		var err error
		if stored, err = c.Tx.CustomerRecords(ctx, id); err != nil {
			return nil, err
		}
		c.custRecs[id] = stored
	}
	seen, found := c.scratch()
	for i := range stored {
		rid := RecordID{stored[i].System, stored[i].LocalID}
		if _, ours := c.recs[rid]; !ours {
			seen[rid] = true
			found = append(found, &stored[i])
		}
	}
	for _, rid := range c.byCustomer[id] {
		if p := c.recs[rid]; !seen[rid] && p.rec.CustomerID == id {
			seen[rid] = true
			found = append(found, &p.rec)
		}
	}
	return c.sorted(found, -1), nil
}

// Customer: as the chunk wrote it, else as stored.
func (c *chunkTx) Customer(ctx context.Context, id string) (Customer, error) {
	if cu, ok := c.customers[id]; ok {
		return cu, nil
	}
	cu, err := c.Tx.Customer(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	c.customers[id] = cu
	return cu, nil
}

// NameFrequency: the stored statistics moved by the chunk's writes.
func (c *chunkTx) NameFrequency(ctx context.Context, nameKey string) (int64, int64, error) {
	if !c.namesRead[nameKey] {
		n, _, err := c.Tx.NameFrequency(ctx, nameKey)
		if err != nil {
			return 0, 0, err
		}
		c.names[nameKey], c.namesRead[nameKey] = n, true
	}
	return c.names[nameKey] + c.nameDelta[nameKey], c.total + c.totalDelta, nil
}

func (c *chunkTx) InsertCustomer(ctx context.Context, cu Customer) error {
	if _, ok := c.customers[cu.ID]; ok {
		return fmt.Errorf("insert customer %s: %w", cu.ID, ErrConflict)
	}
	c.created[cu.ID] = true
	c.putCustomer(cu)
	return nil
}

func (c *chunkTx) UpdateCustomer(ctx context.Context, cu Customer) error {
	if _, err := c.Customer(ctx, cu.ID); err != nil {
		return fmt.Errorf("update customer: %w", err)
	}
	c.putCustomer(cu)
	return nil
}

func (c *chunkTx) putCustomer(cu Customer) {
	if !c.written[cu.ID] {
		c.written[cu.ID] = true
		c.custOrder = append(c.custOrder, cu.ID)
	}
	c.customers[cu.ID] = cu
}

// PutSourceRecord keeps the record and moves the name statistics as the
// store's PutSourceRecord will.
func (c *chunkTx) PutSourceRecord(ctx context.Context, r SourceRecord, keys []string) error {
	id := RecordID{r.System, r.LocalID}
	prev, err := c.SourceRecord(ctx, r.System, r.LocalID)
	switch {
	case errors.Is(err, ErrNotFound):
		c.totalDelta++
		c.nameDelta[r.NameKey]++
	case err != nil:
		return err
	case prev.NameKey != r.NameKey:
		c.nameDelta[prev.NameKey]--
		c.nameDelta[r.NameKey]++
	}
	if _, ours := c.recs[id]; !ours {
		c.recOrder = append(c.recOrder, id)
		if err == nil {
			c.replaced++
		}
	}
	c.recs[id] = &pendingRecord{rec: r, keys: keys}
	for _, k := range keys {
		c.byKey[k] = append(c.byKey[k], id)
	}
	c.byCustomer[r.CustomerID] = append(c.byCustomer[r.CustomerID], id)
	return nil
}

func (c *chunkTx) AppendChange(ctx context.Context, ch Change) error {
	c.changes = append(c.changes, ch)
	return nil
}

// flush writes the chunk: customers, then records, then history.
func (c *chunkTx) flush(ctx context.Context) error {
	cs := make([]Customer, len(c.custOrder))
	for i, id := range c.custOrder {
		cs[i] = c.customers[id]
	}
	if err := c.Tx.PutCustomers(ctx, cs); err != nil {
		return err
	}
	rs := make([]SourceRecord, len(c.recOrder))
	ks := make([][]string, len(c.recOrder))
	for i, id := range c.recOrder {
		rs[i], ks[i] = c.recs[id].rec, c.recs[id].keys
	}
	if err := c.Tx.PutSourceRecords(ctx, rs, ks); err != nil {
		return err
	}
	return c.Tx.AppendChanges(ctx, c.changes)
}
