package fiveid

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
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
// write) while one is decided and written; everything it reads from the
// store it reads after the chunk before it committed.
func (s *Service) RegisterBulk(ctx context.Context, items []BulkItem) ([]BatchResult, error) {
	out := make([]BatchResult, len(items))
	prepare := func(start int) chan []bulkRecord {
		end := min(start+BulkChunk, len(items))
		ch := make(chan []bulkRecord, 1)
		go func() { ch <- s.prepareChunk(ctx, items[start:end], out[start:end]) }()
		return ch
	}
	next := prepare(0)
	for start := 0; start < len(items); start += BulkChunk {
		end := min(start+BulkChunk, len(items))
		recs := <-next
		if end < len(items) {
			next = prepare(end)
		}
		if err := s.registerChunk(ctx, items[start:end], out[start:end], recs); err != nil {
			if end < len(items) {
				<-next // it writes to out
			}
			return out[:start], fmt.Errorf("register bulk: %d of %d records registered: %w", start, len(items), err)
		}
	}
	return out, nil
}

// BulkPrepared is a chunk of items checked and normalized by PrepareBulk,
// for RegisterPrepared.
type BulkPrepared struct {
	items []BulkItem
	out   []BatchResult // the check's refusals; the rest zero until registered
	recs  []bulkRecord
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
// RegisterBulk registers each of its chunks; on a store failure nothing of
// it was registered and it may be registered again.
func (s *Service) RegisterPrepared(ctx context.Context, p *BulkPrepared) ([]BatchResult, error) {
	if len(p.items) == 0 {
		return nil, nil
	}
	if err := s.registerChunk(ctx, p.items, p.out, p.recs); err != nil {
		return nil, fmt.Errorf("register bulk: 0 of %d records registered: %w", len(p.items), err)
	}
	return append([]BatchResult(nil), p.out...), nil
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
// answer for them.
func (s *Service) registerChunk(ctx context.Context, items []BulkItem, out []BatchResult, recs []bulkRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
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
		return err
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
		return err
	}
	// An idempotent repeat invalidates too: the attempt it repeats may
	// have committed and then failed to invalidate.
	if err := s.invalidateAnswers(ctx, union(lock, more)); err != nil {
		for _, r := range recs {
			if out[r.i].Err == nil {
				out[r.i] = BatchResult{Err: fmt.Errorf("register: %w", err)}
			}
		}
		return nil
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
	s.log.LogAttrs(ctx, slogInfo, "register bulk", attrI("records", len(items)),
		attrI("created", created), attrI("linked", linked))
	return nil
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
	recs       map[RecordID]pendingRecord
	recOrder   []RecordID
	byKey      map[string][]RecordID
	byCustomer map[string][]RecordID
	created    map[string]bool
	written    map[string]bool // customers to write
	custOrder  []string
	changes    []Change
	nameDelta  map[string]int64
	totalDelta int64
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
	c := &chunkTx{Tx: tx, limit: s.limit,
		base: map[RecordID]SourceRecord{}, baseRead: map[RecordID]bool{},
		keysRead: map[string]bool{}, customers: map[string]Customer{}, custRecs: map[string][]SourceRecord{},
		namesRead: map[string]bool{},
		recs:      map[RecordID]pendingRecord{}, byKey: map[string][]RecordID{}, byCustomer: map[string][]RecordID{},
		created: map[string]bool{}, written: map[string]bool{}, nameDelta: map[string]int64{}}
	existing, err := tx.SourceRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	var keys, names, customers []string
	for _, id := range ids {
		c.baseRead[id] = true
	}
	for _, r := range existing {
		c.base[RecordID{r.System, r.LocalID}] = r
		customers = append(customers, r.CustomerID)
	}
	for _, r := range recs {
		keys = append(keys, r.keys...)
		names = append(names, r.rec.Name.Key)
	}
	if c.keyCands, err = tx.KeyCandidates(ctx, keys, c.limit); err != nil {
		return nil, err
	}
	for _, k := range keys {
		c.keysRead[k] = true
	}
	for _, l := range c.keyCands {
		for _, r := range l {
			customers = append(customers, r.CustomerID)
			names = append(names, r.NameKey)
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

func recordLess(a, b SourceRecord) bool {
	if a.System != b.System {
		return a.System < b.System
	}
	return a.LocalID < b.LocalID
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
	var stored []SourceRecord
	upFront := limit == c.limit
	for _, k := range keys {
		if !c.keysRead[k] || (c.replaced > 0 && len(c.keyCands[k]) >= limit) {
			upFront = false
		}
	}
	if upFront {
		for _, k := range keys {
			stored = append(stored, c.keyCands[k]...)
		}
	} else {
		// Each record the chunk rewrote may hide one more: read that
		// many more.
		var err error
		if stored, err = c.Tx.Candidates(ctx, keys, limit+c.replaced); err != nil {
			return nil, err
		}
	}
	seen := map[RecordID]bool{}
	var out []SourceRecord
	for _, r := range stored {
		id := RecordID{r.System, r.LocalID}
		if _, ours := c.recs[id]; ours || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, r)
	}
	for _, k := range keys {
		for _, id := range c.byKey[k] {
			p := c.recs[id]
			if seen[id] || !contains(p.keys, k) {
				continue
			}
			seen[id] = true
			out = append(out, p.rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return recordLess(out[i], out[j]) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
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
	seen := map[RecordID]bool{}
	var out []SourceRecord
	for _, r := range stored {
		rid := RecordID{r.System, r.LocalID}
		if _, ours := c.recs[rid]; !ours {
			seen[rid] = true
			out = append(out, r)
		}
	}
	for _, rid := range c.byCustomer[id] {
		if p := c.recs[rid]; !seen[rid] && p.rec.CustomerID == id {
			seen[rid] = true
			out = append(out, p.rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return recordLess(out[i], out[j]) })
	return out, nil
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
	c.recs[id] = pendingRecord{rec: r, keys: keys}
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
