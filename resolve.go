package fiveid

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"fiveid/match"
)

// ErrNeedsReview: identify found only a possible match; a data steward has
// to decide (HTTP 409 needs_review). The caller learns no customer ID.
var ErrNeedsReview = errors.New("needs review")

// Decision is a matching outcome against one customer.
type Decision struct {
	CustomerID  string
	Grade       match.Grade
	Score       float64
	Explanation match.Explanation
}

// RegisterResult is the outcome of registering a source record.
type RegisterResult struct {
	CustomerID string
	// Created is true when a new golden record was created for this record.
	Created bool
	// Unchanged is true when the record was registered before with exactly
	// these values (an idempotent repeat).
	Unchanged bool
	// Decision is the best match found among existing customers (zero
	// Grade when there were no candidates).
	Decision     Decision
	Manual       bool // the record's link is a steward's decision, kept as is
	ReviewTaskID string
	Findings     []match.Finding
}

// IdentifyResult is the outcome of identifying a person.
type IdentifyResult struct {
	Decision
	ReviewTaskID string
	Findings     []match.Finding
	// Grant is set when the request asked for scopes and a policy allowed them.
	Grant *IssuedGrant
	// DeathDate is set when the customer's death was recorded.
	DeathDate string
}

// maxRedirects bounds following merged customers to their survivor.
const maxRedirects = 32

// Register registers or updates the caller system's record localID and links
// it to the customer it matches, or to a new customer (system key).
// Idempotent on (system, local_id).
func (s *Service) Register(ctx context.Context, p Principal, localID string, in match.Input) (RegisterResult, error) {
	if err := require(p, RoleSystem); err != nil {
		return RegisterResult{}, err
	}
	if err := validLocalID(localID); err != nil {
		return RegisterResult{}, err
	}
	sys, err := s.system(ctx, p.System)
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register: system %s: %w", p.System, err)
	}
	rec, err := s.normalize(in, sys.IDTable)
	if err != nil {
		return RegisterResult{}, err
	}
	keys := s.blockingKeys(rec)
	lock := keys
	prevCustomer := ""
	// The keys of the record's previous version are locked and invalidated
	// too: answers that found the old version must not survive.
	if prev, err := s.store.SourceRecord(ctx, p.System, localID); err == nil {
		prevCustomer = prev.CustomerID
		if prevRec, err := s.normalize(prev.Raw, prev.IDTable); err == nil {
			lock = union(keys, s.blockingKeys(prevRec))
		}
	} else if !errors.Is(err, ErrNotFound) {
		return RegisterResult{}, fmt.Errorf("register: %w", err)
	}

	var res RegisterResult
	err = s.update(ctx, lock, func(tx Tx, now time.Time) error {
		var err error
		res, err = s.registerTx(ctx, tx, now, sys, localID, in, rec, keys)
		return err
	})
	if err != nil {
		return RegisterResult{}, fmt.Errorf("register: %w", err)
	}
	// An idempotent repeat invalidates too: the attempt it repeats may have
	// committed and then failed to invalidate.
	if err := s.invalidateCustomers(ctx, lock, res.CustomerID, prevCustomer); err != nil {
		return RegisterResult{}, fmt.Errorf("register: %w", err)
	}
	res.Findings = rec.Findings
	grade := string(res.Decision.Grade)
	if res.Created {
		grade = "new"
	}
	s.obs.MatchOutcome("register", grade)
	s.log.LogAttrs(ctx, slogInfo, "register",
		attr("system", sys.Code), attr("customer_id", res.CustomerID),
		attr("grade", string(res.Decision.Grade)), attrF("score", res.Decision.Score),
		attrB("created", res.Created), attr("id", match.MaskID(rec.ID.Number)))
	return res, nil
}

// registerTx registers one record in tx, whose changes are recorded at
// now: decide whom it is, write it, record the changes. The bulk pipeline
// (bulk.go) runs the same three steps, record after record, on a chunk's
// transaction.
func (s *Service) registerTx(ctx context.Context, tx Tx, now time.Time, sys System, localID string, in match.Input, rec match.Record, keys []string) (RegisterResult, error) {
	reg, err := s.decideRegistration(ctx, tx, now, sys, localID, in, rec, keys)
	if err != nil || reg.res.Unchanged {
		return reg.res, err
	}
	if err := s.writeRegistration(ctx, tx, &reg); err != nil {
		return RegisterResult{}, err
	}
	if err := s.recordRegistration(ctx, tx, reg); err != nil {
		return RegisterResult{}, err
	}
	return reg.res, nil
}

// registration is what registering one record decided: its customer
// (new when create), its link, a review task to open, and the record as
// it is to be stored.
type registration struct {
	sys      System
	localID  string
	in       match.Input
	keys     []string
	nameKey  string // the record's match.Name.Key and match.Identifier.Key
	idKey    string
	existing SourceRecord // the record's previous version when exists
	exists   bool
	create   bool        // res.CustomerID is a new customer
	task     *ReviewTask // a possible match to review
	link     Link
	now      time.Time // the transaction's time (Service.update)
	res      RegisterResult
}

// decideRegistration decides whom the record is, reading only: every
// matching rule of registration is here. now is the transaction's time;
// the write and record steps take it from the registration.
func (s *Service) decideRegistration(ctx context.Context, tx Tx, now time.Time, sys System, localID string, in match.Input, rec match.Record, keys []string) (registration, error) {
	reg := registration{sys: sys, localID: localID, in: in, keys: keys,
		nameKey: rec.Name.Key, idKey: rec.ID.Key, now: now}
	existing, err := tx.SourceRecord(ctx, sys.Code, localID)
	reg.existing, reg.exists = existing, err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return registration{}, err
	}
	if reg.exists && existing.Raw == in && existing.IDTable == sys.IDTable {
		reg.res = RegisterResult{
			CustomerID: existing.CustomerID,
			Unchanged:  true,
			Manual:     existing.Link.Manual,
			Decision: Decision{CustomerID: existing.CustomerID, Grade: existing.Link.Grade,
				Score: existing.Link.Score, Explanation: existing.Link.Explanation},
		}
		return reg, nil
	}

	res := &reg.res
	if reg.exists && existing.Link.Manual {
		// A steward linked this record by hand: new values never move it.
		res.CustomerID, reg.link, res.Manual = existing.CustomerID, existing.Link, true
		return reg, nil
	}
	cands, err := tx.Candidates(ctx, keys, s.limit)
	if err != nil {
		return registration{}, err
	}
	kept := cands[:0]
	for _, c := range cands {
		if !(c.System == sys.Code && c.LocalID == localID) {
			kept = append(kept, c)
		}
	}
	best, err := s.best(ctx, tx, rec, kept)
	if err != nil {
		return registration{}, err
	}
	if best != nil {
		res.Decision = *best
	}
	if best != nil && best.Grade.AutoLink() {
		res.CustomerID = best.CustomerID
		reg.link = Link{Grade: best.Grade, Score: best.Score, Explanation: best.Explanation}
		return reg, linkTarget(ctx, tx, res.CustomerID)
	}
	// Keep the record's own customer when it is that customer's only
	// record: re-registering changed values must not churn IDs.
	if reg.exists {
		others, err := tx.CustomerRecords(ctx, existing.CustomerID)
		if err != nil {
			return registration{}, err
		}
		if len(others) == 1 {
			res.CustomerID = existing.CustomerID
		}
	}
	if res.CustomerID == "" {
		res.CustomerID, reg.create = newID("C"), true
	}
	if best != nil && best.Grade == match.GradePossible {
		reg.task = &ReviewTask{
			ID: newID("R"), Status: ReviewOpen, Reason: "possible_match",
			CustomerID: res.CustomerID, CandidateID: best.CustomerID,
			System: sys.Code, LocalID: localID,
			Score: best.Score, Explanation: best.Explanation,
			Version: 1, CreatedAt: reg.now, UpdatedAt: reg.now,
		}
	}
	return reg, nil
}

// writeRegistration writes what decideRegistration decided: the new
// customer, the review task (unless the pair's is open already) and the
// source record with its blocking keys.
func (s *Service) writeRegistration(ctx context.Context, tx Tx, reg *registration) error {
	now, customerID := reg.now, reg.res.CustomerID
	if reg.create {
		err := tx.InsertCustomer(ctx, Customer{ID: customerID, Status: StatusActive, Version: 1, CreatedAt: now, UpdatedAt: now})
		if err != nil {
			return err
		}
		reg.res.Created = true
	}
	if reg.task != nil {
		switch err := tx.InsertReviewTask(ctx, *reg.task); {
		case err == nil:
			reg.res.ReviewTaskID = reg.task.ID
		case errors.Is(err, ErrConflict): // already open for this pair
		default:
			return err
		}
	}
	sr := SourceRecord{
		System: reg.sys.Code, LocalID: reg.localID, CustomerID: customerID,
		Raw: reg.in, IDTable: reg.sys.IDTable, NameKey: reg.nameKey, IDKey: reg.idKey,
		Features: recordFeatures(reg.in, reg.sys.IDTable),
		Link:     reg.link, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if reg.exists {
		sr.Version = reg.existing.Version + 1
		sr.CreatedAt = reg.existing.CreatedAt
	}
	return tx.PutSourceRecord(ctx, sr, reg.keys)
}

// recordRegistration writes the history of a registration written and
// recomputes the golden values of the customers it touched.
func (s *Service) recordRegistration(ctx context.Context, tx Tx, reg registration) error {
	sys, localID, in, now := reg.sys, reg.localID, reg.in, reg.now
	existing, exists, link, customerID := reg.existing, reg.exists, reg.link, reg.res.CustomerID
	if reg.create {
		if err := s.change(ctx, tx, now, Change{CustomerID: customerID, Kind: ChangeCreated, Actor: sys.Code,
			System: sys.Code, LocalID: localID, Detail: "registered"}); err != nil {
			return err
		}
	}
	if exists && existing.CustomerID == customerID {
		// The same record with new values: an edit of the customer's data.
		if err := s.change(ctx, tx, now, Change{CustomerID: customerID, Kind: ChangeEdited, Actor: sys.Code,
			System: sys.Code, LocalID: localID, Before: elementsSnapshot(existing.Raw), After: elementsSnapshot(in), Detail: "source record updated"}); err != nil {
			return err
		}
	}
	if !exists || existing.CustomerID != customerID {
		detail := "new record"
		if link.Grade != "" {
			detail = fmt.Sprintf("matched %s %.1f", link.Grade, link.Score)
		}
		if err := s.change(ctx, tx, now, Change{CustomerID: customerID, Kind: ChangeLinked, Actor: sys.Code,
			System: sys.Code, LocalID: localID, After: linkSnapshot(link), Detail: detail}); err != nil {
			return err
		}
	}
	if err := s.refreshGolden(ctx, tx, customerID, "", now); err != nil {
		return err
	}
	if exists && existing.CustomerID != customerID {
		if err := s.refreshGolden(ctx, tx, existing.CustomerID, customerID, now); err != nil {
			return err
		}
	}
	return nil
}

// queryScorer compares one record against its candidates. The query's own
// name frequency is looked up once — it is what an equal name weighs, and
// it brings the index size (the prior) along; another name's only where
// term frequency applies (an equal or variant name under another key):
// one round trip per query, not one per candidate name.
type queryScorer struct {
	s     *Service
	r     Reader
	rec   match.Record
	total int64
	freq  map[string]match.TermFreq
}

func (s *Service) newQueryScorer(ctx context.Context, r Reader, rec match.Record) (*queryScorer, error) {
	n, total, err := s.nameFrequency(ctx, r, rec.Name.Key)
	if err != nil {
		return nil, err
	}
	return &queryScorer{s: s, r: r, rec: rec, total: total,
		freq: map[string]match.TermFreq{rec.Name.Key: {N: n, Total: total}}}, nil
}

func (q *queryScorer) compare(ctx context.Context, crec match.Record) (match.Explanation, error) {
	p := q.s.scorer.Pattern(q.rec, crec)
	f := match.TermFreq{Total: q.total}
	if p.UsesNameFrequency() {
		var ok bool
		if f, ok = q.freq[crec.Name.Key]; !ok {
			n, total, err := q.s.nameFrequency(ctx, q.r, crec.Name.Key)
			if err != nil {
				return match.Explanation{}, err
			}
			f = match.TermFreq{N: n, Total: total}
			q.freq[crec.Name.Key] = f
		}
	}
	return q.s.scorer.Score(p, q.rec, crec, f), nil
}

// linkTarget checks that a record may be linked to customer id: only
// active customers hold records (candidates are read without looking at
// their customer's status, on the strength of that).
func linkTarget(ctx context.Context, tx Tx, id string) error {
	c, err := tx.Customer(ctx, id)
	if err != nil {
		return err
	}
	return activeTarget(c)
}

// activeTarget is linkTarget on a customer already read.
func activeTarget(c Customer) error {
	if c.Status != StatusActive {
		return fmt.Errorf("customer %s is %s: records link only to active customers: %w", c.ID, c.Status, ErrConflict)
	}
	return nil
}

// refreshGolden recomputes a customer's golden values from its linked
// records. A customer left without records redirects to redirectTo when
// given (its only record moved there).
func (s *Service) refreshGolden(ctx context.Context, tx Tx, id, redirectTo string, now time.Time) error {
	c, err := tx.Customer(ctx, id)
	if err != nil {
		return err
	}
	recs, err := tx.CustomerRecords(ctx, id)
	if err != nil {
		return err
	}
	before := c
	if len(recs) == 0 && redirectTo != "" && c.Status == StatusActive {
		c.Status, c.MergedInto = StatusMerged, redirectTo
	}
	g := survivor(recs)
	c.Name, c.Sex, c.BirthDate, c.IDType, c.IDNumber = g.Name, g.Sex, g.BirthDate, g.IDType, g.IDNumber
	if c == before {
		return nil
	}
	c.Version++
	c.UpdatedAt = now
	return tx.UpdateCustomer(ctx, c)
}

// survivor applies the survivorship rules to a customer's records:
//  1. the record with a checksum-valid citizen-namespace ID wins, then any
//     checksum-valid ID, then any ID;
//  2. among equals, the most recently updated record wins;
//  3. a field the winner lacks comes from the most recent record that has it.
func survivor(recs []SourceRecord) Customer {
	type cand struct {
		rec  match.Record
		rank int
		at   time.Time
		key  string
	}
	var cs []cand
	for _, r := range recs {
		// From the record's stored features when current: the same
		// normalization as of its raw values, without normalizing again.
		nr, err := recordOf(r)
		if err != nil {
			continue
		}
		rank := 0
		switch {
		case nr.ID.ChecksumValid && nr.ID.Namespace == string(match.IDTypeCitizen):
			rank = 3
		case nr.ID.ChecksumValid:
			rank = 2
		case !nr.ID.IsZero():
			rank = 1
		}
		cs = append(cs, cand{nr, rank, r.UpdatedAt, r.System + "\x00" + r.LocalID})
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].rank != cs[j].rank {
			return cs[i].rank > cs[j].rank
		}
		if !cs[i].at.Equal(cs[j].at) {
			return cs[i].at.After(cs[j].at)
		}
		return cs[i].key < cs[j].key
	})
	var g Customer
	for _, c := range cs {
		if g.Name == "" {
			g.Name = c.rec.Name.Display
		}
		if g.Sex == "" && c.rec.Sex != match.SexUnknown {
			g.Sex = c.rec.Sex.String()
		}
		if g.BirthDate == "" && !c.rec.BirthDate.IsZero() {
			g.BirthDate = c.rec.BirthDate.String()
		}
		if g.IDNumber == "" && !c.rec.ID.IsZero() {
			g.IDType, g.IDNumber = string(c.rec.ID.Type), c.rec.ID.Number
		}
	}
	return g
}

func union(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	var out []string
	for _, s := range [][]string{a, b} {
		for _, k := range s {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// invalidateAnswers drops cached answers that depended on keys, after a
// change committed and before its use case answers. When the cache fails,
// it raises the cache epoch instead, which puts every cached answer out of
// reach (cacheepoch.go). When that fails too, the use case must return the
// error (ErrUnavailable): its change is committed, and a repeat
// invalidates again.
func (s *Service) invalidateAnswers(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	if err := s.cache.Invalidate(ctx, keys); err != nil {
		return s.raiseEpoch(ctx, err)
	}
	s.obs.CacheInvalidation(invalidationOK)
	return nil
}

// RegisterItem is one record of a batch.
type RegisterItem struct {
	LocalID string
	Input   match.Input
}

// BatchResult is one batch item's outcome: a result or an error.
type BatchResult struct {
	Result RegisterResult
	Err    error
}

// MaxBatch is the largest batch RegisterBatch accepts.
const MaxBatch = 1000

// RegisterBatch registers up to MaxBatch records with the bulk pipeline
// (bulk.go), as Register would one after the other; one bad record does
// not fail the others. Results are in input order.
func (s *Service) RegisterBatch(ctx context.Context, p Principal, items []RegisterItem) ([]BatchResult, error) {
	if err := require(p, RoleSystem); err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid("records", "required", "records must hold at least one record")
	}
	if len(items) > MaxBatch {
		return nil, invalid("records", "too_many", "a batch holds at most "+strconv.Itoa(MaxBatch)+" records")
	}
	bulk := make([]BulkItem, len(items))
	for i, it := range items {
		bulk[i] = BulkItem{Principal: p, LocalID: it.LocalID, Input: it.Input}
	}
	out, err := s.RegisterBulk(ctx, bulk)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		// The store failed: every record not registered fails with it.
		done := len(out)
		out = append(out, make([]BatchResult, len(items)-done)...)
		for i := done; i < len(items); i++ {
			out[i].Err = err
		}
	}
	return out, nil
}

// Identify finds the customer the five elements describe (system key),
// without a grant. certain/probable: the customer; possible: ErrNeedsReview;
// else ErrNoMatch. The outcome is written to the grant log.
func (s *Service) Identify(ctx context.Context, p Principal, in match.Input) (IdentifyResult, error) {
	return s.IdentifyAndGrant(ctx, p, in, GrantRequest{})
}

func (s *Service) identify(ctx context.Context, p Principal, in match.Input) (IdentifyResult, match.Record, error) {
	sys, err := s.system(ctx, p.System)
	if err != nil {
		return IdentifyResult{}, match.Record{}, fmt.Errorf("identify: system %s: %w", p.System, err)
	}
	rec, err := s.normalize(in, sys.IDTable)
	if err != nil {
		return IdentifyResult{}, match.Record{}, err
	}
	a, err := s.resolve(ctx, rec)
	if err != nil {
		return IdentifyResult{}, match.Record{}, fmt.Errorf("identify: %w", err)
	}
	d := a.Decision
	res := IdentifyResult{Decision: d, Findings: rec.Findings}
	grade := string(d.Grade)
	if grade == "" {
		grade = "none"
	}
	s.obs.MatchOutcome("identify", grade)
	s.log.LogAttrs(ctx, slogInfo, "identify", attr("system", sys.Code),
		attr("grade", grade), attrF("score", d.Score), attr("id", match.MaskID(rec.ID.Number)))
	switch {
	case d.Grade.AutoLink():
		// The customer as the answer found it (resolve): no read here.
		res.DeathDate = a.DeathDate
		return res, rec, nil
	case d.Grade == match.GradePossible:
		task, err := s.identifyReview(ctx, p, d)
		if err != nil {
			return IdentifyResult{}, match.Record{}, fmt.Errorf("identify: review task: %w", err)
		}
		res.ReviewTaskID = task
		res.CustomerID, res.Explanation = "", match.Explanation{}
		return res, rec, ErrNeedsReview
	}
	res.CustomerID, res.Explanation = "", match.Explanation{}
	return res, rec, ErrNoMatch
}

// identifyReview opens (or finds the open) review task for an identify
// that found only a possible match, so that a steward can settle it with
// the calling system; the caller learns the task ID, never the customer.
func (s *Service) identifyReview(ctx context.Context, p Principal, d Decision) (string, error) {
	now := s.changeTime()
	task := ReviewTask{
		ID: newID("R"), Status: ReviewOpen, Reason: "identify_possible", CustomerID: d.CustomerID,
		System: p.System, Score: d.Score, Explanation: d.Explanation, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if len(d.Explanation.Alternatives) > 1 {
		// Ambiguous: the explanation lists every tied customer.
		task.Reason = "identify_ambiguous"
	}
	// Usually the task exists already (the same question asked again):
	// read first, write only when it does not.
	if open, err := s.store.OpenReviewTask(ctx, task.CustomerID, task.CandidateID); err == nil {
		return open.ID, nil
	} else if !errors.Is(err, ErrNotFound) {
		return "", err
	}
	err := s.store.Update(ctx, nil, func(tx Tx) error {
		// The caller (IdentifyAndGrant) answers only after the
		// identify.review entry commits durably; written on this database,
		// its flush takes this commit with it: one flush instead of two.
		if lc, ok := tx.(LazyCommitter); ok && s.logInStore {
			if err := lc.CommitLazily(ctx); err != nil {
				return err
			}
		}
		return tx.InsertReviewTask(ctx, task)
	})
	if errors.Is(err, ErrConflict) { // opened concurrently
		open, err := s.store.OpenReviewTask(ctx, task.CustomerID, task.CandidateID)
		return open.ID, err
	}
	return task.ID, err
}

// answer is identify's cached lookup's outcome: the decision and, when it
// links, what identify says of its customer — CustomerID is the survivor
// of any merge and DeathDate its recorded death — as they were when the
// decision was computed. It is cached whole, so that a hit reads nothing
// from the store; every change to what it says of a customer (a death
// recorded or corrected, a merge, an unmerge, a link or unlink, a
// registration) therefore invalidates the keys of that customer's records
// (invalidateCustomers), one of which the answer depends on: it found the
// customer through one of them.
type answer struct {
	Decision
	DeathDate string
}

// resolve is identify's cached lookup. The cache key is a keyed HMAC of the
// cache epoch and the normalized elements; its dependencies are the query's
// blocking keys, so any write touching a record reachable from them
// invalidates it, and a write whose invalidation failed raised the epoch.
// Without a current epoch the cache is not used.
func (s *Service) resolve(ctx context.Context, rec match.Record) (answer, error) {
	keys := s.blockingKeys(rec)
	if len(keys) == 0 {
		return answer{}, nil
	}
	var ck, stamp string
	if epoch, err := s.epoch.current(ctx); err != nil {
		s.obs.CacheLookup(false, err)
	} else {
		ck = s.derive("identify", s.cacheTag+"|"+strconv.FormatInt(epoch, 36)+"|"+canonical(rec))
		var val []byte
		var hit bool
		val, hit, stamp, err = s.cache.Get(ctx, ck, keys)
		s.obs.CacheLookup(hit, err)
		if hit {
			if a, ok := decodeAnswer(val); ok {
				return a, nil
			}
		}
	}
	// The query's name frequency, which scoring reads first, is read
	// meanwhile (into its memo): a round trip of its own nine misses in
	// ten, one after the candidate query before.
	freq := make(chan struct{})
	go func() {
		defer close(freq)
		_, _, _ = s.nameFrequency(ctx, s.store, rec.Name.Key) // a failure fails scoring's own read
	}()
	cands, err := s.store.Candidates(ctx, keys, s.limit)
	<-freq
	if err != nil {
		return answer{}, err
	}
	best, err := s.best(ctx, s.store, rec, cands)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if best != nil {
		a.Decision = *best
	}
	if a.Grade.AutoLink() {
		// Read after the stamp was taken, like the candidates: a change
		// to the customer committed since invalidated the stamp.
		c, _, err := s.follow(ctx, a.CustomerID)
		if err != nil {
			return answer{}, err
		}
		a.CustomerID, a.DeathDate = c.ID, c.DeathDate
	}
	if stamp != "" {
		if err := s.cache.Set(ctx, ck, stamp, encodeAnswer(a)); err != nil {
			s.obs.CacheLookup(false, err)
		}
	}
	return a, nil
}

// canonical is every normalized value scoring reads, in one string.
func canonical(r match.Record) string {
	return strings.Join([]string{
		r.Name.Display, r.Name.Key, r.Sex.Code(), r.BirthDate.String(),
		string(r.ID.Type), r.ID.Namespace, r.ID.Key, r.ID.Number,
		strconv.FormatBool(r.ID.ChecksumValid),
	}, "\x1f")
}

// XrefEntry is one system's local ID of a customer.
type XrefEntry struct {
	System  string
	LocalID string
}

// Xref is the cross-reference of a customer (IHE PIX).
type Xref struct {
	CustomerID string
	DeathDate  string
	// MergedFrom lists the merged customer IDs followed to reach CustomerID.
	MergedFrom []string
	Records    []XrefEntry
}

// Xref returns the customer of (system, localID) and every system's local
// IDs for it (system, admin).
func (s *Service) Xref(ctx context.Context, p Principal, system, localID string) (Xref, error) {
	if err := require(p, RoleSystem, RoleAdmin); err != nil {
		return Xref{}, err
	}
	if system == "" {
		return Xref{}, invalid("system", "required", "system is required")
	}
	if err := validLocalID(localID); err != nil {
		return Xref{}, err
	}
	sr, err := s.store.SourceRecord(ctx, system, localID)
	if err != nil {
		return Xref{}, fmt.Errorf("xref: %w", err)
	}
	c, from, err := s.follow(ctx, sr.CustomerID)
	if err != nil {
		return Xref{}, fmt.Errorf("xref: %w", err)
	}
	recs, err := s.store.CustomerRecords(ctx, c.ID)
	if err != nil {
		return Xref{}, fmt.Errorf("xref: %w", err)
	}
	x := Xref{CustomerID: c.ID, DeathDate: c.DeathDate, MergedFrom: from}
	for _, r := range recs {
		x.Records = append(x.Records, XrefEntry{System: r.System, LocalID: r.LocalID})
	}
	return x, nil
}

// follow resolves merged customers to their survivor.
func (s *Service) follow(ctx context.Context, id string) (Customer, []string, error) {
	var from []string
	for range maxRedirects {
		c, err := s.store.Customer(ctx, id)
		if err != nil {
			return Customer{}, nil, err
		}
		if c.Status != StatusMerged {
			return c, from, nil
		}
		from = append(from, c.ID)
		id = c.MergedInto
	}
	return Customer{}, nil, fmt.Errorf("customer %s: merge chain too long: %w", id, ErrConflict)
}

// CustomerView is a golden record with its linked source records.
type CustomerView struct {
	Customer   Customer
	MergedFrom []string
	Records    []SourceRecord
}

// Customer returns a golden record with its source records (admin). A
// merged ID answers with the survivor.
func (s *Service) Customer(ctx context.Context, p Principal, id string) (CustomerView, error) {
	if err := require(p, RoleAdmin); err != nil {
		return CustomerView{}, err
	}
	c, from, err := s.follow(ctx, id)
	if err != nil {
		return CustomerView{}, fmt.Errorf("customer: %w", err)
	}
	recs, err := s.store.CustomerRecords(ctx, c.ID)
	if err != nil {
		return CustomerView{}, fmt.Errorf("customer: %w", err)
	}
	return CustomerView{Customer: c, MergedFrom: from, Records: recs}, nil
}
