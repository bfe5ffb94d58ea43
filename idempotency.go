package fiveid

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Idempotency keys, as the IETF draft "The Idempotency-Key HTTP Header
// Field" (draft-ietf-httpapi-idempotency-key-header) describes and Stripe
// runs them: a client sends a key it chose with a request that changes
// something; a retry with the same key gets the first answer instead of a
// second execution — above all, a retried identify never mints a second
// grant.
//
// A key belongs to the API key that sent it. The first request reserves it
// durably before anything runs (a unique constraint: of concurrent
// duplicates, one runs; the others wait up to IdempotencyWait for its
// answer, then get ErrIdempotencyInProgress). The reservation holds a
// keyed HMAC of the request (operation and body): the key sent again with
// another request is ErrIdempotencyKeyReused. The run's answer is kept and
// replayed until the record expires (IdempotencyTTL, 24 h by default).
//
// What is kept (idempotentFate): successful answers, and the errors that
// are a decision — no_match, needs_review, policy_denied (each is in the
// grant log; the same key asks the same question). A request refused
// before it did anything (validation, role) is forgotten, so that a
// corrected request may reuse its key, as Stripe does. Any other failure
// (a 5xx, a conflict with the current state) is not kept either: the
// record is released and a retry of the same request runs again.
//
// A kept answer holds no grant token, a bearer credential: the adapter
// keeps the answer without it, and a replay signs it again (GrantToken).
//
// Crashes. The order is reserve, run, keep. A request that may mint a grant
// reserves the grant's ID with the key, and every run of the record mints
// under that ID: the grants table's primary key admits one grant per
// record. A run finding the grant already minted (the earlier run committed
// it, then failed or the process died before its answer was kept) answers
// that grant, signed again, instead of a new one. A run that dies leaves
// its record running until its lease (idempotencyLease) runs out: until
// then retries get ErrIdempotencyInProgress, after it one retry takes the
// run over. A run that may grant has half its lease (a deadline on its
// context) to queue its grant in the grant log or give up, so it commits
// after a takeover only when its process or the log's write stalls for
// longer than that; then both runs mint under one ID and the primary key
// refuses the second grant (that grant log batch fails: still no second
// grant).

// IdempotencyRecord is one Idempotency-Key of one API key.
type IdempotencyRecord struct {
	KeyID string // the API key that sent the request
	// Key and Fingerprint are keyed HMACs of the header's value and of the
	// request: a client may put anything in a key, and a request body is
	// identity data, so neither is stored.
	Key         string
	Fingerprint string
	GrantID     string    // reserved for the grant the request may mint ("": none)
	Owner       string    // the run holding the record; "" when finished or released
	LeaseUntil  time.Time // the owner is presumed alive until then (zero: none)
	Status      int       // the kept answer's HTTP status; 0 until finished
	Body        []byte    // the kept answer: no bearer token in it
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Finished reports a record holding its answer.
func (r IdempotencyRecord) Finished() bool { return r.Status != 0 }

// IdempotentRequest is a request sent with an Idempotency-Key.
type IdempotentRequest struct {
	Key  string // the header's value, as the adapter accepted it
	Op   string // the operation, e.g. "POST /v1/identify"
	Body []byte // the request's content in a canonical form
	// Grants: the request may mint a grant, whose ID is reserved with the
	// key and passed to every run.
	Grants bool
}

// IdempotentResponse is an answer as the adapter serves it.
type IdempotentResponse struct {
	Status int
	Body   []byte
}

// IdempotentResult is the answer to a request with an Idempotency-Key.
type IdempotentResult struct {
	IdempotentResponse
	// Replayed: the answer is the one kept from the first request (for a
	// grant: without its token, which the adapter signs again).
	Replayed bool
}

// IdempotentRun runs the request once and renders its answer, also when it
// fails (the error is returned with it); grantID is the reserved grant ID
// ("" unless the request grants).
type IdempotentRun func(ctx context.Context, grantID string) (IdempotentResponse, error)

// Defaults and bounds of the idempotency settings.
const (
	DefaultIdempotencyTTL  = 24 * time.Hour
	DefaultIdempotencyWait = 2 * time.Second
	MinIdempotencyTTL      = 10 * time.Minute
	MaxIdempotencyTTL      = 7 * 24 * time.Hour
	// idempotencyLease is how long a running record is presumed alive; a
	// run that may grant gets half of it.
	idempotencyLease = time.Minute
	// idempotencyRetries bounds the reserve/read rounds that do not wait
	// (the record changed between them).
	idempotencyRetries = 20
)

type fate int

const (
	fateKeep    fate = iota // keep the answer for replay
	fateForget              // nothing ran: free the key
	fateRelease             // failed: no answer, a retry runs again
)

// idempotentFate decides what becomes of a run's answer.
func idempotentFate(err error) fate {
	switch {
	case err == nil, errors.Is(err, ErrNoMatch), errors.Is(err, ErrNeedsReview), errors.Is(err, ErrPolicyDenied):
		return fateKeep
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrDenied), errors.Is(err, ErrUnauthenticated):
		// Refused before it changed anything (a grant is minted last).
		return fateForget
	}
	return fateRelease
}

// Idempotent runs a request sent with an Idempotency-Key at most once per
// key and API key: the first time it runs run and keeps its answer; a
// retry gets the kept answer (Replayed). Errors: ErrIdempotencyKeyReused,
// ErrIdempotencyInProgress, the run's own error when its answer is not
// kept, or the store's.
func (s *Service) Idempotent(ctx context.Context, p Principal, req IdempotentRequest, run IdempotentRun) (IdempotentResult, error) {
	if s.idem == nil {
		return IdempotentResult{}, fmt.Errorf("idempotency keys: no store configured: %w", ErrUnavailable)
	}
	if p.KeyID == "" {
		return IdempotentResult{}, ErrUnauthenticated
	}
	if req.Key == "" || req.Op == "" {
		return IdempotentResult{}, invalid("Idempotency-Key", "invalid_idempotency_key", "an idempotency key and an operation are required")
	}
	rec := IdempotencyRecord{
		KeyID:       p.KeyID,
		Key:         s.derive("idempotency_key", req.Key),
		Fingerprint: s.derive("idempotency_request", req.Op+"\x00"+string(req.Body)),
		Owner:       newID("run_"),
	}
	if req.Grants {
		rec.GrantID = newID("gr_")
	}
	var waitUntil time.Time
	for round := 0; ; {
		now := s.changeTime()
		rec.CreatedAt, rec.LeaseUntil, rec.ExpiresAt = now, now.Add(idempotencyLease), now.Add(s.idemTTL)
		ok, err := s.idem.ReserveIdempotency(ctx, rec, now)
		if err != nil {
			return IdempotentResult{}, fmt.Errorf("idempotency key: reserve: %w", err)
		}
		if ok {
			return s.runIdempotent(ctx, rec, run)
		}
		cur, err := s.idem.IdempotencyRecord(ctx, rec.KeyID, rec.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			// Forgotten since: reserve again.
		case err != nil:
			return IdempotentResult{}, fmt.Errorf("idempotency key: read: %w", err)
		case !cur.ExpiresAt.After(now):
			// Expired since the reservation was refused: reserve again.
		case cur.Fingerprint != rec.Fingerprint:
			return IdempotentResult{}, fmt.Errorf("the idempotency key was first used with another request: %w", ErrIdempotencyKeyReused)
		case cur.Finished():
			return IdempotentResult{IdempotentResponse: IdempotentResponse{Status: cur.Status, Body: cur.Body}, Replayed: true}, nil
		case !cur.LeaseUntil.After(now):
			// Released after a failure, or its run died: take it over,
			// under the same grant ID.
			ok, err := s.idem.ClaimIdempotency(ctx, rec.KeyID, rec.Key, rec.Fingerprint, rec.Owner, rec.LeaseUntil, now)
			if err != nil {
				return IdempotentResult{}, fmt.Errorf("idempotency key: claim: %w", err)
			}
			if ok {
				rec.GrantID, rec.CreatedAt, rec.ExpiresAt = cur.GrantID, cur.CreatedAt, cur.ExpiresAt
				return s.runIdempotent(ctx, rec, run)
			}
		default:
			// Running: wait for its answer, a little.
			if waitUntil.IsZero() {
				waitUntil = time.Now().Add(s.idemWait)
			}
			pause := time.Until(waitUntil)
			if pause <= 0 {
				return IdempotentResult{}, fmt.Errorf("a request with this idempotency key is running: %w", ErrIdempotencyInProgress)
			}
			pause = min(pause, 20*time.Millisecond)
			select {
			case <-ctx.Done():
				return IdempotentResult{}, ctx.Err()
			case <-time.After(pause):
			}
			continue
		}
		if round++; round == idempotencyRetries {
			return IdempotentResult{}, fmt.Errorf("the idempotency key's record keeps changing: %w", ErrIdempotencyInProgress)
		}
	}
}

// runIdempotent runs the request as rec's owner and keeps, releases or
// forgets the record by the outcome.
func (s *Service) runIdempotent(ctx context.Context, rec IdempotencyRecord, run IdempotentRun) (IdempotentResult, error) {
	runCtx := ctx
	if rec.GrantID != "" {
		// Commit the grant or give up before a retry may take over.
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, idempotencyLease/2)
		defer cancel()
	}
	resp, err := run(runCtx, rec.GrantID)
	f := idempotentFate(err)
	if f == fateKeep && (resp.Status < 200 || resp.Status > 499) {
		// Only answers of these statuses are kept (the table's CHECK).
		f, err = fateRelease, fmt.Errorf("idempotent run answered status %d without an error", resp.Status)
	}
	// The record's fate is written even when the caller has gone away.
	wctx := context.WithoutCancel(ctx)
	var serr error
	switch f {
	case fateKeep:
		serr = s.idem.FinishIdempotency(wctx, rec.KeyID, rec.Key, rec.Owner, resp.Status, resp.Body)
	case fateForget:
		serr = s.idem.ForgetIdempotency(wctx, rec.KeyID, rec.Key, rec.Owner)
	default:
		serr = s.idem.ReleaseIdempotency(wctx, rec.KeyID, rec.Key, rec.Owner)
	}
	if serr != nil {
		// The answer stands: its effects are committed. The record stays
		// running (or was taken over), and a retry after the lease runs
		// again under the same grant ID — answering this grant, not a
		// second one.
		s.log.LogAttrs(ctx, slogWarn, "idempotency record not updated", attr("key_id", rec.KeyID),
			attr("error", serr.Error()))
	}
	if f != fateKeep {
		return IdempotentResult{}, err
	}
	return IdempotentResult{IdempotentResponse: resp}, nil
}

// SweepIdempotency deletes expired idempotency records and returns how
// many (admin; serve runs it periodically). Expired records count as
// absent anyway: this only reclaims their space.
func (s *Service) SweepIdempotency(ctx context.Context, p Principal) (int64, error) {
	if err := require(p, RoleAdmin); err != nil {
		return 0, err
	}
	if s.idem == nil {
		return 0, nil
	}
	const batch = 1000
	var total int64
	for {
		n, err := s.idem.DeleteExpiredIdempotency(ctx, s.changeTime(), batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep idempotency keys: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}
