package fiveid_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fiveid"
	"fiveid/match"
	"fiveid/store"
)

// memStore is an in-memory store for the root tests where a database adds
// nothing. It keeps the roles those tests use — systems, API keys,
// settings and secrets, the grant log (policies, holders, grants, signing
// keys, events), idempotency records and webhooks — with the stores'
// semantics (ErrNotFound,
// ErrConflict, orders, filters, the head check of AppendAudit). It keeps
// no customers or source records: its candidate index is empty and the
// other index roles (customers, review queue, merges, history) are nil
// interfaces, so a test that reaches them panics rather than passing on
// made-up answers. The conformance suite (store/storetest) runs on the
// real stores only.
type memStore struct {
	mu sync.Mutex // one transaction at a time, as a single writer
	st memState
}

// memState is everything memStore keeps; a transaction works on a copy
// and replaces the state when it commits.
type memState struct {
	systems  map[string]fiveid.System
	keys     map[string]fiveid.APIKey // by ID
	settings map[string]int64
	secrets  map[string][]byte
	policies map[string]fiveid.Policy
	holders  map[string]fiveid.Holder
	grants   map[string]fiveid.Grant
	signing  map[string]fiveid.SigningKey
	events   []fiveid.AuditEvent
	headSeq  int64
	headHash string
	webhooks map[string]fiveid.Webhook
	idem     map[[2]string]fiveid.IdempotencyRecord // by (KeyID, Key)
}

func newMemStore() *memStore {
	return &memStore{st: memState{
		systems: map[string]fiveid.System{}, keys: map[string]fiveid.APIKey{},
		settings: map[string]int64{}, secrets: map[string][]byte{},
		policies: map[string]fiveid.Policy{}, holders: map[string]fiveid.Holder{},
		grants: map[string]fiveid.Grant{}, signing: map[string]fiveid.SigningKey{},
		webhooks: map[string]fiveid.Webhook{}, idem: map[[2]string]fiveid.IdempotencyRecord{},
	}}
}

func (s memState) clone() memState {
	c := s
	c.systems, c.keys = maps.Clone(s.systems), maps.Clone(s.keys)
	c.settings, c.secrets = maps.Clone(s.settings), maps.Clone(s.secrets)
	c.policies, c.holders = maps.Clone(s.policies), maps.Clone(s.holders)
	c.grants, c.signing = maps.Clone(s.grants), maps.Clone(s.signing)
	c.events = slices.Clone(s.events)
	c.webhooks, c.idem = maps.Clone(s.webhooks), maps.Clone(s.idem)
	return c
}

var (
	_ fiveid.Store            = (*memStore)(nil)
	_ fiveid.GrantStore       = (*memStore)(nil)
	_ fiveid.WebhookStore     = (*memStore)(nil)
	_ fiveid.IdempotencyStore = (*memStore)(nil)
	_ fiveid.Tx               = (*memTx)(nil)
	_ fiveid.GrantTx          = (*memTx)(nil)
)

// memTx is a view of a state: memStore reads through one on the committed
// state, transactions on their copy.
type memTx struct {
	st *memState

	// The index roles memStore does not keep.
	fiveid.CustomerReader
	fiveid.CustomerWriter
	fiveid.CandidateIndexWriter
	fiveid.ReviewQueueReader
	fiveid.ReviewQueueWriter
	fiveid.MergeReader
	fiveid.MergeWriter
	fiveid.HistoryReader
	fiveid.HistoryWriter
}

// read runs fn on the committed state.
func (m *memStore) read(fn func(tx *memTx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(&memTx{st: &m.st})
}

// write runs fn on a copy of the state and keeps the copy when fn
// returns nil.
func (m *memStore) write(fn func(tx *memTx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.st.clone()
	if err := fn(&memTx{st: &c}); err != nil {
		return err
	}
	m.st = c
	return nil
}

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, fiveid.ErrNotFound) }

// ---- Store ----

func (m *memStore) Update(ctx context.Context, _ []string, fn func(tx fiveid.Tx) error) error {
	return m.write(func(tx *memTx) error { return fn(tx) })
}
func (m *memStore) Ping(context.Context) error { return nil }
func (m *memStore) Close() error               { return nil }

func readOne[T any](m *memStore, fn func(tx *memTx) (T, error)) (T, error) {
	var v T
	err := m.read(func(tx *memTx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

func (m *memStore) System(ctx context.Context, code string) (fiveid.System, error) {
	return readOne(m, func(tx *memTx) (fiveid.System, error) { return tx.System(ctx, code) })
}
func (m *memStore) ListSystems(ctx context.Context) ([]fiveid.System, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.System, error) { return tx.ListSystems(ctx) })
}
func (m *memStore) KeyByHash(ctx context.Context, hash []byte) (fiveid.APIKey, error) {
	return readOne(m, func(tx *memTx) (fiveid.APIKey, error) { return tx.KeyByHash(ctx, hash) })
}
func (m *memStore) ListKeys(ctx context.Context) ([]fiveid.APIKey, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.APIKey, error) { return tx.ListKeys(ctx) })
}
func (m *memStore) CountActiveKeys(ctx context.Context, role fiveid.Role) (int, error) {
	return readOne(m, func(tx *memTx) (int, error) { return tx.CountActiveKeys(ctx, role) })
}
func (m *memStore) Setting(ctx context.Context, name string) (int64, bool, error) {
	var v int64
	var ok bool
	err := m.read(func(tx *memTx) error {
		var err error
		v, ok, err = tx.Setting(ctx, name)
		return err
	})
	return v, ok, err
}
func (m *memStore) Secret(ctx context.Context, name string) ([]byte, error) {
	return readOne(m, func(tx *memTx) ([]byte, error) { return tx.Secret(ctx, name) })
}
func (m *memStore) Candidates(ctx context.Context, keys []string, limit int) ([]fiveid.SourceRecord, error) {
	return nil, nil
}
func (m *memStore) NameFrequency(ctx context.Context, nameKey string) (int64, int64, error) {
	return 0, 0, nil
}
func (m *memStore) KeyCandidates(ctx context.Context, keys []string, limit int) (map[string][]fiveid.SourceRecord, error) {
	return (&memTx{}).KeyCandidates(ctx, keys, limit)
}
func (m *memStore) NameFrequencies(ctx context.Context, nameKeys []string) (map[string]int64, int64, error) {
	return (&memTx{}).NameFrequencies(ctx, nameKeys)
}

// The index roles memStore does not keep (see memTx).
func (m *memStore) Customer(ctx context.Context, id string) (fiveid.Customer, error) {
	return (&memTx{}).Customer(ctx, id)
}
func (m *memStore) CustomerRecords(ctx context.Context, id string) ([]fiveid.SourceRecord, error) {
	return (&memTx{}).CustomerRecords(ctx, id)
}
func (m *memStore) SourceRecord(ctx context.Context, system, localID string) (fiveid.SourceRecord, error) {
	return (&memTx{}).SourceRecord(ctx, system, localID)
}
func (m *memStore) SourceRecords(ctx context.Context, ids []fiveid.RecordID) ([]fiveid.SourceRecord, error) {
	return (&memTx{}).SourceRecords(ctx, ids)
}
func (m *memStore) CustomersRecords(ctx context.Context, ids []string) ([]fiveid.Customer, map[string][]fiveid.SourceRecord, error) {
	return (&memTx{}).CustomersRecords(ctx, ids)
}
func (m *memStore) IndexFigures(ctx context.Context, since time.Time) (fiveid.IndexFigures, error) {
	return (&memTx{}).IndexFigures(ctx, since)
}
func (m *memStore) ReviewTask(ctx context.Context, id string) (fiveid.ReviewTask, error) {
	return (&memTx{}).ReviewTask(ctx, id)
}
func (m *memStore) OpenReviewTask(ctx context.Context, a, b string) (fiveid.ReviewTask, error) {
	return (&memTx{}).OpenReviewTask(ctx, a, b)
}
func (m *memStore) ListReviewTasks(ctx context.Context, status fiveid.ReviewStatus, limit int) ([]fiveid.ReviewTask, error) {
	return (&memTx{}).ListReviewTasks(ctx, status, limit)
}
func (m *memStore) Merge(ctx context.Context, id string) (fiveid.Merge, error) {
	return (&memTx{}).Merge(ctx, id)
}
func (m *memStore) NotDuplicate(ctx context.Context, a, b string) (bool, error) {
	return (&memTx{}).NotDuplicate(ctx, a, b)
}
func (m *memStore) History(ctx context.Context, id string, limit int) ([]fiveid.Change, error) {
	return (&memTx{}).History(ctx, id, limit)
}

// ---- systems, keys, settings (memTx) ----

func (tx *memTx) System(_ context.Context, code string) (fiveid.System, error) {
	s, ok := tx.st.systems[code]
	if !ok {
		return s, notFound("system", code)
	}
	return s, nil
}

func (tx *memTx) ListSystems(context.Context) ([]fiveid.System, error) {
	out := slices.Collect(maps.Values(tx.st.systems))
	slices.SortFunc(out, func(a, b fiveid.System) int { return strings.Compare(a.Code, b.Code) })
	return out, nil
}

func (tx *memTx) CreateSystem(_ context.Context, s fiveid.System) error {
	if _, ok := tx.st.systems[s.Code]; ok {
		return fmt.Errorf("create system %s: %w", s.Code, fiveid.ErrConflict)
	}
	tx.st.systems[s.Code] = s
	return nil
}

func (tx *memTx) KeyByHash(_ context.Context, hash []byte) (fiveid.APIKey, error) {
	for _, k := range tx.st.keys {
		if bytes.Equal(k.Hash, hash) {
			return k, nil
		}
	}
	return fiveid.APIKey{}, notFound("key by hash", "")
}

func (tx *memTx) ListKeys(context.Context) ([]fiveid.APIKey, error) {
	out := slices.Collect(maps.Values(tx.st.keys))
	slices.SortFunc(out, func(a, b fiveid.APIKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (tx *memTx) CountActiveKeys(_ context.Context, role fiveid.Role) (int, error) {
	n := 0
	for _, k := range tx.st.keys {
		if k.RevokedAt.IsZero() && (role == "" || k.Role == role) {
			n++
		}
	}
	return n, nil
}

func (tx *memTx) CreateKey(ctx context.Context, k fiveid.APIKey) error {
	if _, ok := tx.st.keys[k.ID]; ok {
		return fmt.Errorf("create key: %w", fiveid.ErrConflict)
	}
	if _, err := tx.KeyByHash(ctx, k.Hash); err == nil {
		return fmt.Errorf("create key: %w", fiveid.ErrConflict)
	}
	tx.st.keys[k.ID] = k
	return nil
}

func (tx *memTx) RevokeKey(_ context.Context, id string, at time.Time) error {
	k, ok := tx.st.keys[id]
	if !ok {
		return notFound("revoke key", id)
	}
	if k.RevokedAt.IsZero() {
		k.RevokedAt = at
		tx.st.keys[id] = k
	}
	return nil
}

func (tx *memTx) Setting(_ context.Context, name string) (int64, bool, error) {
	v, ok := tx.st.settings[name]
	return v, ok, nil
}

func (tx *memTx) PutSetting(_ context.Context, name string, v int64) error {
	tx.st.settings[name] = v
	return nil
}

func (tx *memTx) Secret(_ context.Context, name string) ([]byte, error) {
	v, ok := tx.st.secrets[name]
	if !ok {
		return nil, notFound("secret", name)
	}
	return v, nil
}

func (tx *memTx) PutSecret(_ context.Context, name string, value []byte) error {
	if _, ok := tx.st.secrets[name]; ok {
		return fmt.Errorf("put secret %s: %w", name, fiveid.ErrConflict)
	}
	tx.st.secrets[name] = slices.Clone(value)
	return nil
}

// An empty candidate index: memStore keeps no source records.
func (tx *memTx) Candidates(context.Context, []string, int) ([]fiveid.SourceRecord, error) {
	return nil, nil
}
func (tx *memTx) NameFrequency(context.Context, string) (int64, int64, error) { return 0, 0, nil }
func (tx *memTx) KeyCandidates(context.Context, []string, int) (map[string][]fiveid.SourceRecord, error) {
	return map[string][]fiveid.SourceRecord{}, nil
}
func (tx *memTx) NameFrequencies(context.Context, []string) (map[string]int64, int64, error) {
	return map[string]int64{}, 0, nil
}

// ---- the grant log ----

func (m *memStore) UpdateGrants(ctx context.Context, fn func(tx fiveid.GrantTx) error) error {
	return m.write(func(tx *memTx) error { return fn(tx) })
}

func (m *memStore) Policies(ctx context.Context, grantee string) ([]fiveid.Policy, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.Policy, error) {
		var out []fiveid.Policy
		for _, p := range tx.st.policies {
			if p.DeletedAt.IsZero() && (grantee == "" || p.Grantee == grantee) {
				out = append(out, p)
			}
		}
		slices.SortFunc(out, func(a, b fiveid.Policy) int {
			return cmpCreated(a.CreatedAt, b.CreatedAt, a.ID, b.ID)
		})
		return out, nil
	})
}

func (m *memStore) Policy(ctx context.Context, id string) (fiveid.Policy, error) {
	return readOne(m, func(tx *memTx) (fiveid.Policy, error) {
		p, ok := tx.st.policies[id]
		if !ok || !p.DeletedAt.IsZero() {
			return fiveid.Policy{}, notFound("policy", id)
		}
		return p, nil
	})
}

func (m *memStore) Holders(ctx context.Context, system string) ([]fiveid.Holder, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.Holder, error) {
		var out []fiveid.Holder
		for _, h := range tx.st.holders {
			if h.DeletedAt.IsZero() && (system == "" || h.System == system) {
				out = append(out, h)
			}
		}
		slices.SortFunc(out, func(a, b fiveid.Holder) int {
			return cmpCreated(a.CreatedAt, b.CreatedAt, a.ID, b.ID)
		})
		return out, nil
	})
}

func (m *memStore) Holder(ctx context.Context, id string) (fiveid.Holder, error) {
	return readOne(m, func(tx *memTx) (fiveid.Holder, error) {
		h, ok := tx.st.holders[id]
		if !ok || !h.DeletedAt.IsZero() {
			return fiveid.Holder{}, notFound("holder", id)
		}
		return h, nil
	})
}

func cmpCreated(a, b time.Time, aID, bID string) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	return strings.Compare(aID, bID)
}

func (m *memStore) Grant(ctx context.Context, id string) (fiveid.Grant, error) {
	return readOne(m, func(tx *memTx) (fiveid.Grant, error) {
		g, ok := tx.st.grants[id]
		if !ok {
			return g, notFound("grant", id)
		}
		return g, nil
	})
}

func (m *memStore) ListGrants(ctx context.Context, f fiveid.GrantFilter, now time.Time) ([]fiveid.Grant, error) {
	switch f.Status {
	case "", "active", "revoked", "expired":
	default:
		return nil, fmt.Errorf("list grants: status %q: %w", f.Status, fiveid.ErrInvalid)
	}
	return readOne(m, func(tx *memTx) ([]fiveid.Grant, error) {
		var out []fiveid.Grant
		for _, g := range tx.st.grants {
			if g.ID <= f.AfterID || f.CustomerID != "" && g.CustomerID != f.CustomerID || f.Grantee != "" && g.Grantee != f.Grantee {
				continue
			}
			if f.Status != "" && g.Status(now) != f.Status {
				continue
			}
			out = append(out, g)
		}
		slices.SortFunc(out, func(a, b fiveid.Grant) int { return strings.Compare(a.ID, b.ID) })
		return out[:min(len(out), limitOr100(f.Limit))], nil
	})
}

func limitOr100(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

func (m *memStore) SigningKeys(ctx context.Context) ([]fiveid.SigningKey, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.SigningKey, error) {
		out := slices.Collect(maps.Values(tx.st.signing))
		slices.SortFunc(out, func(a, b fiveid.SigningKey) int { return -cmpCreated(a.CreatedAt, b.CreatedAt, a.ID, b.ID) })
		return out, nil
	})
}

func (m *memStore) AuditEvents(ctx context.Context, f fiveid.AuditFilter) ([]fiveid.AuditEvent, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.AuditEvent, error) {
		var out []fiveid.AuditEvent
		for _, e := range tx.st.events { // in Seq order
			if e.Seq <= f.AfterSeq || f.CustomerID != "" && e.CustomerID != f.CustomerID ||
				f.System != "" && e.ActorSystem != f.System || f.Action != "" && e.Action != f.Action ||
				!f.From.IsZero() && e.Time.Before(f.From) || !f.To.IsZero() && !e.Time.Before(f.To) {
				continue
			}
			if out = append(out, e); len(out) == limitOr100(f.Limit) {
				break
			}
		}
		return out, nil
	})
}

func (m *memStore) AuditTip(ctx context.Context) (int64, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.headSeq, m.st.headHash, nil
}

func (m *memStore) AppendAudit(ctx context.Context, afterSeq int64, afterHash string, grants []fiveid.Grant, events []fiveid.AuditEvent) error {
	return m.write(func(tx *memTx) error {
		if tx.st.headSeq != afterSeq || tx.st.headHash != afterHash {
			return fmt.Errorf("append audit: the head moved past %d: %w", afterSeq, fiveid.ErrConflict)
		}
		for _, g := range grants {
			if err := tx.InsertGrant(ctx, g); err != nil {
				return err
			}
		}
		for _, e := range events {
			e.Time = e.Time.UTC().Truncate(time.Microsecond) // as the stores keep it
			tx.st.events = append(tx.st.events, e)
		}
		if len(events) > 0 {
			last := events[len(events)-1]
			tx.st.headSeq, tx.st.headHash = last.Seq, last.Hash
		}
		return nil
	})
}

func (tx *memTx) CreatePolicy(_ context.Context, p fiveid.Policy) error {
	if _, ok := tx.st.policies[p.ID]; ok {
		return fmt.Errorf("create policy: %w", fiveid.ErrConflict)
	}
	tx.st.policies[p.ID] = p
	return nil
}

func (tx *memTx) DeletePolicy(_ context.Context, id string, at time.Time) error {
	p, ok := tx.st.policies[id]
	if !ok || !p.DeletedAt.IsZero() {
		return notFound("delete policy", id)
	}
	p.DeletedAt = at
	tx.st.policies[id] = p
	return nil
}

func (tx *memTx) CreateHolder(_ context.Context, h fiveid.Holder) error {
	if _, ok := tx.st.holders[h.ID]; ok {
		return fmt.Errorf("create holder: %w", fiveid.ErrConflict)
	}
	tx.st.holders[h.ID] = h
	return nil
}

func (tx *memTx) DeleteHolder(_ context.Context, id string, at time.Time) error {
	h, ok := tx.st.holders[id]
	if !ok || !h.DeletedAt.IsZero() {
		return notFound("delete holder", id)
	}
	h.DeletedAt = at
	tx.st.holders[id] = h
	return nil
}

func (tx *memTx) InsertGrant(_ context.Context, g fiveid.Grant) error {
	if _, ok := tx.st.grants[g.ID]; ok {
		return fmt.Errorf("insert grant: %w", fiveid.ErrConflict)
	}
	tx.st.grants[g.ID] = g
	return nil
}

func (tx *memTx) RevokeGrant(_ context.Context, id string, at time.Time, by string) error {
	g, ok := tx.st.grants[id]
	if !ok {
		return notFound("revoke grant", id)
	}
	if g.RevokedAt.IsZero() {
		g.RevokedAt, g.RevokedBy = at, by
		tx.st.grants[id] = g
	}
	return nil
}

func (tx *memTx) RevokeGrantsOfKey(_ context.Context, key string, at time.Time, by string) ([]fiveid.Grant, error) {
	var out []fiveid.Grant
	for id, g := range tx.st.grants {
		if g.GranteeKey == key && g.RevokedAt.IsZero() && g.ExpiresAt.After(at) {
			g.RevokedAt, g.RevokedBy = at, by
			tx.st.grants[id] = g
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b fiveid.Grant) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (tx *memTx) InsertSigningKey(_ context.Context, k fiveid.SigningKey) error {
	if _, ok := tx.st.signing[k.ID]; ok {
		return fmt.Errorf("insert signing key: %w", fiveid.ErrConflict)
	}
	tx.st.signing[k.ID] = k
	return nil
}

func (tx *memTx) RetireSigningKey(_ context.Context, id string, at time.Time) error {
	if k, ok := tx.st.signing[id]; ok && k.RetiredAt.IsZero() {
		k.RetiredAt = at
		tx.st.signing[id] = k
	}
	return nil
}

// ---- webhooks ----

func (m *memStore) CreateWebhook(ctx context.Context, w fiveid.Webhook) error {
	return m.write(func(tx *memTx) error {
		if _, ok := tx.st.webhooks[w.ID]; ok {
			return fmt.Errorf("create webhook: %w", fiveid.ErrConflict)
		}
		tx.st.webhooks[w.ID] = w
		return nil
	})
}

func (m *memStore) Webhooks(ctx context.Context) ([]fiveid.Webhook, error) {
	return readOne(m, func(tx *memTx) ([]fiveid.Webhook, error) {
		var out []fiveid.Webhook
		for _, w := range tx.st.webhooks {
			if w.DeletedAt.IsZero() {
				out = append(out, w)
			}
		}
		slices.SortFunc(out, func(a, b fiveid.Webhook) int { return strings.Compare(a.ID, b.ID) })
		return out, nil
	})
}

func (m *memStore) DeleteWebhook(ctx context.Context, id string, at time.Time) error {
	return m.write(func(tx *memTx) error {
		w, ok := tx.st.webhooks[id]
		if !ok || !w.DeletedAt.IsZero() {
			return notFound("delete webhook", id)
		}
		w.DeletedAt = at
		tx.st.webhooks[id] = w
		return nil
	})
}

// ChangesAfter: memStore keeps no history, so there is never a change to
// deliver.
func (m *memStore) ChangesAfter(ctx context.Context, cursor string, limit int) ([]fiveid.Change, error) {
	return nil, nil
}

func (m *memStore) AckWebhook(ctx context.Context, id, cursor string) error {
	return m.write(func(tx *memTx) error {
		w, ok := tx.st.webhooks[id]
		if !ok {
			return nil // as an UPDATE of no row
		}
		w.Cursor, w.Delivered, w.Attempts, w.NextAttempt, w.LastError, w.FailingSince = cursor, w.Delivered+1, 0, time.Time{}, "", time.Time{}
		tx.st.webhooks[id] = w
		return nil
	})
}

func (m *memStore) FailWebhook(ctx context.Context, id string, attempts int64, next time.Time, lastError string, failingSince time.Time) error {
	return m.write(func(tx *memTx) error {
		w, ok := tx.st.webhooks[id]
		if !ok {
			return nil
		}
		w.Attempts, w.NextAttempt, w.LastError, w.FailingSince = attempts, next, lastError, failingSince
		tx.st.webhooks[id] = w
		return nil
	})
}

// ---- idempotency records ----

func (m *memStore) ReserveIdempotency(ctx context.Context, r fiveid.IdempotencyRecord, now time.Time) (bool, error) {
	ok := false
	err := m.write(func(tx *memTx) error {
		k := [2]string{r.KeyID, r.Key}
		if cur, exists := tx.st.idem[k]; exists && cur.ExpiresAt.After(now) {
			return nil
		}
		r.Status, r.Body = 0, nil
		tx.st.idem[k], ok = r, true
		return nil
	})
	return ok, err
}

func (m *memStore) IdempotencyRecord(ctx context.Context, keyID, key string) (fiveid.IdempotencyRecord, error) {
	return readOne(m, func(tx *memTx) (fiveid.IdempotencyRecord, error) {
		r, ok := tx.st.idem[[2]string{keyID, key}]
		if !ok {
			return r, notFound("idempotency record", key)
		}
		return r, nil
	})
}

func (m *memStore) ClaimIdempotency(ctx context.Context, keyID, key, fingerprint, owner string, leaseUntil, now time.Time) (bool, error) {
	ok := false
	err := m.write(func(tx *memTx) error {
		k := [2]string{keyID, key}
		r, exists := tx.st.idem[k]
		if !exists || r.Fingerprint != fingerprint || r.Finished() || r.LeaseUntil.After(now) || !r.ExpiresAt.After(now) {
			return nil
		}
		r.Owner, r.LeaseUntil = owner, leaseUntil
		tx.st.idem[k], ok = r, true
		return nil
	})
	return ok, err
}

// ownedIdempotency runs fn on a record owner still runs, else ErrConflict.
func (m *memStore) ownedIdempotency(op, keyID, key, owner string, fn func(tx *memTx, k [2]string, r fiveid.IdempotencyRecord)) error {
	return m.write(func(tx *memTx) error {
		k := [2]string{keyID, key}
		r, exists := tx.st.idem[k]
		if !exists || r.Owner != owner || r.Finished() {
			return fmt.Errorf("%s: not running it any more: %w", op, fiveid.ErrConflict)
		}
		fn(tx, k, r)
		return nil
	})
}

func (m *memStore) FinishIdempotency(ctx context.Context, keyID, key, owner string, status int, body []byte) error {
	if status != 0 && (status < 200 || status > 499) { // the stores' CHECK: no 1xx or 5xx is kept
		return fmt.Errorf("finish idempotency key: status %d: %w", status, fiveid.ErrInvalid)
	}
	return m.ownedIdempotency("finish idempotency key", keyID, key, owner, func(tx *memTx, k [2]string, r fiveid.IdempotencyRecord) {
		r.Owner, r.LeaseUntil, r.Status, r.Body = "", time.Time{}, status, slices.Clone(body)
		tx.st.idem[k] = r
	})
}

func (m *memStore) ReleaseIdempotency(ctx context.Context, keyID, key, owner string) error {
	return m.ownedIdempotency("release idempotency key", keyID, key, owner, func(tx *memTx, k [2]string, r fiveid.IdempotencyRecord) {
		r.Owner, r.LeaseUntil = "", time.Time{}
		tx.st.idem[k] = r
	})
}

func (m *memStore) ForgetIdempotency(ctx context.Context, keyID, key, owner string) error {
	return m.ownedIdempotency("forget idempotency key", keyID, key, owner, func(tx *memTx, k [2]string, _ fiveid.IdempotencyRecord) {
		delete(tx.st.idem, k)
	})
}

func (m *memStore) DeleteExpiredIdempotency(ctx context.Context, now time.Time, limit int) (int64, error) {
	var n int64
	err := m.write(func(tx *memTx) error {
		for k, r := range tx.st.idem {
			if n == int64(limit) {
				break
			}
			if !r.ExpiresAt.After(now) {
				delete(tx.st.idem, k)
				n++
			}
		}
		return nil
	})
	return n, err
}

// memService is a Service on a fresh memStore (Store, Grants,
// WebhookStore and Idempotency), with cfg's other settings.
func memService(t *testing.T, cfg fiveid.Config) (*fiveid.Service, *memStore) {
	t.Helper()
	st := newMemStore()
	sc, err := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Grants, cfg.WebhookStore, cfg.Idempotency, cfg.Scorer = st, st, st, st, sc
	if cfg.Cache == nil {
		cfg.Cache = store.NewMemoryCache(time.Minute, 100)
	}
	svc, err := fiveid.NewService(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, st
}
