package fiveid

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// auditCanonical is the hashed form of an event: fixed field order, UTC
// microsecond time, so that the same stored row always hashes the same.
type auditCanonical struct {
	Seq         int64    `json:"seq"`
	ID          string   `json:"id"`
	Time        string   `json:"time"`
	Action      string   `json:"action"`
	ActorKey    string   `json:"actor_key"`
	ActorSystem string   `json:"actor_system"`
	CustomerID  string   `json:"customer_id"`
	GrantID     string   `json:"grant_id"`
	Grade       string   `json:"grade"`
	Score       float64  `json:"score"`
	Purpose     string   `json:"purpose"`
	Scopes      []string `json:"scopes"`
	RequestID   string   `json:"request_id"`
	Subject     string   `json:"subject"`
	IDMasked    string   `json:"id_masked"`
	Detail      string   `json:"detail"`
}

// AuditHash is SHA-256(prevHash || 0x0a || canonical JSON of e), hex.
func AuditHash(prevHash string, e AuditEvent) string {
	return chainHash(prevHash, e.Seq, auditTail(e))
}

// auditTail is the canonical JSON of e after its sequence number: what
// the entry hashes but for the number the grant log gives it when it is
// written. The writer chains entries one after the other; their JSON is
// written by the callers, concurrently, before they queue.
func auditTail(e AuditEvent) []byte {
	scopes := e.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	// The time as the stores keep it (UTC microseconds), so an entry
	// hashes alike before it is written and after it is read back.
	b, err := json.Marshal(auditCanonical{
		ID: e.ID, Time: e.Time.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano),
		Action: e.Action, ActorKey: e.ActorKey, ActorSystem: e.ActorSystem, CustomerID: e.CustomerID,
		GrantID: e.GrantID, Grade: e.Grade, Score: e.Score, Purpose: e.Purpose, Scopes: scopes,
		RequestID: e.RequestID, Subject: e.Subject, IDMasked: e.IDMasked, Detail: e.Detail,
	})
	if err != nil {
		// A score JSON cannot write (NaN, ±Inf): the entry has always
		// hashed as if its canonical JSON were empty (chainHash of nil).
		return nil
	}
	// Seq is the first field: what follows `{"seq":0` is the same for
	// every number.
	return b[len(auditSeqPrefix)+1:]
}

const auditSeqPrefix = `{"seq":`

// chainHash is AuditHash of the entry numbered seq whose canonical JSON
// after the number is tail.
func chainHash(prevHash string, seq int64, tail []byte) string {
	var buf [128]byte
	b := append(buf[:0], prevHash...)
	b = append(b, '\n')
	if tail != nil {
		b = append(b, auditSeqPrefix...)
		b = strconv.AppendInt(b, seq, 10)
	}
	h := sha256.New()
	h.Write(b)
	h.Write(tail)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// auditReq is one durable write: an event and, for grant.issued, its grant.
type auditReq struct {
	ev    AuditEvent
	tail  []byte // auditTail(ev)
	grant *Grant
	done  chan error
}

// auditWriter appends to the grant log with group commit: concurrent
// requests share one transaction, and none is answered before the
// transaction holding its entry has committed.
type auditWriter struct {
	st   GrantStore
	reqs chan auditReq
	stop chan struct{}
	wg   sync.WaitGroup

	// The head as this writer last wrote or read it (only loop touches
	// these). Usually still the head: then a write is one round trip.
	headSeq   int64
	headHash  string
	headKnown bool
}

const auditBatch = 512

func newAuditWriter(st GrantStore) *auditWriter {
	w := &auditWriter{st: st, reqs: make(chan auditReq, 4*auditBatch), stop: make(chan struct{})}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *auditWriter) close() {
	close(w.stop)
	w.wg.Wait()
}

func (w *auditWriter) loop() {
	defer w.wg.Done()
	for {
		var first auditReq
		select {
		case first = <-w.reqs:
		case <-w.stop:
			// Fail whatever is queued: nobody was answered yet.
			for {
				select {
				case r := <-w.reqs:
					r.done <- fmt.Errorf("grant log closed: %w", ErrUnavailable)
				default:
					return
				}
			}
		}
		batch := []auditReq{first}
	fill:
		for len(batch) < auditBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		err := w.write(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// auditAttempts bounds how often one batch is re-chained after other
// writers (other processes on the same database) moved the head.
const auditAttempts = 50

func (w *auditWriter) write(batch []auditReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var grants []Grant
	for _, r := range batch {
		if r.grant != nil {
			grants = append(grants, *r.grant)
		}
	}
	events := make([]AuditEvent, len(batch))
	for attempt := 1; ; attempt++ {
		if !w.headKnown {
			seq, hash, err := w.st.AuditTip(ctx)
			if err != nil {
				return err
			}
			w.headSeq, w.headHash, w.headKnown = seq, hash, true
		}
		seq, prev := w.headSeq, w.headHash
		for i, r := range batch {
			e := r.ev
			seq++
			e.Seq = seq
			e.PrevHash = prev
			e.Hash = chainHash(prev, seq, r.tail)
			prev = e.Hash
			events[i] = e
		}
		err := w.st.AppendAudit(ctx, w.headSeq, w.headHash, grants, events)
		if err == nil {
			w.headSeq, w.headHash = seq, prev
			return nil
		}
		// Whatever happened, the head is read again before the next write.
		w.headKnown = false
		if !errors.Is(err, ErrConflict) || attempt == auditAttempts {
			return err
		}
	}
}

// append writes one entry (and its grant) durably, waiting for the commit.
func (w *auditWriter) append(ctx context.Context, ev AuditEvent, g *Grant) error {
	done := make(chan error, 1)
	select {
	case w.reqs <- auditReq{ev: ev, tail: auditTail(ev), grant: g, done: done}:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stop:
		return fmt.Errorf("grant log closed: %w", ErrUnavailable)
	}
	// Wait for the outcome even if ctx ends: the entry may commit, and the
	// caller must not be told otherwise.
	return <-done
}

// appendAll writes entries without grants durably: all are queued at once,
// so that the writer commits them in one or a few batches, and it waits for
// every outcome. It returns the first failure; entries queued before ctx
// ended may still commit.
func (w *auditWriter) appendAll(ctx context.Context, evs []AuditEvent) error {
	dones := make([]chan error, 0, len(evs))
	var err error
queue:
	for _, ev := range evs {
		done := make(chan error, 1)
		select {
		case w.reqs <- auditReq{ev: ev, tail: auditTail(ev), done: done}:
			dones = append(dones, done)
		case <-ctx.Done():
			err = ctx.Err()
			break queue
		case <-w.stop:
			err = fmt.Errorf("grant log closed: %w", ErrUnavailable)
			break queue
		}
	}
	for _, done := range dones {
		if e := <-done; e != nil && err == nil {
			err = e
		}
	}
	return err
}

// VerifyResult is the outcome of checking the whole grant log.
type VerifyResult struct {
	OK      bool
	Entries int64
	// FirstBroken is the Seq of the first entry whose hash, predecessor or
	// sequence does not check out (0 when OK).
	FirstBroken int64
	Reason      string
	Head        string // hash of the last entry
}

// verifyAudit walks the log in Seq order and recomputes the chain.
func verifyAudit(ctx context.Context, r GrantReader) (VerifyResult, error) {
	var res VerifyResult
	prev, want := "", int64(1)
	after := int64(0)
	for {
		page, err := r.AuditEvents(ctx, AuditFilter{AfterSeq: after, Limit: 5000})
		if err != nil {
			return res, err
		}
		for _, e := range page {
			switch {
			case e.Seq != want:
				res.FirstBroken, res.Reason = want, fmt.Sprintf("entry %d is missing (next is %d)", want, e.Seq)
			case e.PrevHash != prev:
				res.FirstBroken, res.Reason = e.Seq, "previous-hash link does not match the entry before it"
			case AuditHash(prev, e) != e.Hash:
				res.FirstBroken, res.Reason = e.Seq, "content does not match its hash (edited)"
			}
			if res.FirstBroken != 0 {
				return res, nil
			}
			prev, want, after = e.Hash, e.Seq+1, e.Seq
			res.Entries++
		}
		if len(page) == 0 {
			break
		}
	}
	tipSeq, tipHash, err := r.AuditTip(ctx)
	if err != nil {
		return res, err
	}
	if tipSeq != want-1 || tipHash != prev {
		res.FirstBroken = want
		res.Reason = fmt.Sprintf("the log ends at entry %d but its head says %d: entries were deleted", want-1, tipSeq)
		return res, nil
	}
	res.OK, res.Head = true, prev
	return res, nil
}
