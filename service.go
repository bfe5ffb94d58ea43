package fiveid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"fiveid/match"
)

// Config carries a Service's dependencies and tunables. Each store
// capability is a field of its own: NewService fails when a required one
// is missing, and a nil optional one turns its feature off as documented.
// Both stores in package store implement every capability, so a caller
// usually passes the same object to each.
type Config struct {
	// Store is the master customer index (required).
	Store Store
	// Grants keeps policies, grants, signing keys and the grant log
	// (required).
	Grants GrantStore
	// Cache holds resolution results (required).
	Cache  Cache
	Scorer *match.Scorer
	// Observer receives business metrics; nil means none.
	Observer Observer
	Logger   *slog.Logger
	Clock    Clock
	// CandidateLimit caps the records scored per request (guards against
	// candidate explosion on common blocking keys). 0 means 200.
	CandidateLimit int
	// CacheEpochLease is how long a process trusts the cache epoch and an
	// API key it read from the store, and so how long a change whose cache
	// invalidation failed, and a key's revocation, wait before they answer
	// (see cacheepoch.go and keymemo.go). 0 means DefaultCacheEpochLease.
	// Every process sharing a store must use the same value.
	CacheEpochLease time.Duration
	// Webhooks says which URLs webhooks may be created for and checked
	// again before each delivery; the zero value allows https to public
	// addresses only. The Poster given to RunWebhooks must apply the same
	// policy's AddrAllowed to every address it connects to.
	Webhooks WebhookPolicy
	// Idempotency keeps the records of requests sent with an
	// Idempotency-Key. Nil: such requests answer ErrUnavailable and
	// SweepIdempotency does nothing.
	Idempotency IdempotencyStore
	// WebhookStore keeps webhooks and their delivery state. Nil: the
	// webhook use cases and RunWebhooks answer ErrUnavailable.
	WebhookStore WebhookStore
	// Records pages through every source record. Nil: the offline jobs
	// (Train, ScanDuplicates, Reindex) answer ErrUnavailable.
	Records RecordScanner
	// Statistics refreshes the database's planner statistics. Nil:
	// RefreshStatistics does nothing.
	Statistics StatisticsRefresher
	// IdempotencyTTL is how long an answer is replayed to retries; 0 means
	// DefaultIdempotencyTTL (24 h), else MinIdempotencyTTL to
	// MaxIdempotencyTTL.
	IdempotencyTTL time.Duration
	// IdempotencyWait is how long a duplicate of a request still running
	// waits for its answer before ErrIdempotencyInProgress; 0 means
	// DefaultIdempotencyWait, negative not at all.
	IdempotencyWait time.Duration
}

// Service is fiveid's use cases. It is safe for concurrent use.
type Service struct {
	store    Store
	cache    Cache
	epoch    *cacheEpoch
	keys     *keyMemo
	scorer   *match.Scorer
	obs      Observer
	log      *slog.Logger
	now      Clock
	limit    int
	hmacKey  []byte
	macs     sync.Pool // hash.Hash: HMACs keyed with hmacKey, for derive
	cacheTag string
	grants   GrantStore
	// logInStore: the grant log is written through the Store itself (one
	// database), so a durable log entry also makes durable every commit
	// made before it there (see LazyCommitter).
	logInStore bool
	auditw     *auditWriter
	sk         signingKeys
	systems    *memo[System]
	names      *memo[nameFreq]
	policies   *memo[[]Policy]
	holders    *memo[[]Holder]
	// webhookPolicy is Config.Webhooks.
	webhookPolicy WebhookPolicy
	idem          IdempotencyStore
	webhooks      WebhookStore
	records       RecordScanner
	stats         StatisticsRefresher
	idemTTL       time.Duration
	idemWait      time.Duration

	closeOnce sync.Once
}

// secretHMAC names the stored key of every derived join key (blocking keys,
// cache keys): keyed HMAC, never a bare hash of identity data.
const secretHMAC = "hmac_key"

// NewService validates cfg (a missing required capability is an error
// naming its field), loads or creates the HMAC key and a signing key,
// records the blocking rules of a new index and returns a ready Service.
func NewService(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("fiveid: Config.Store is required")
	}
	if cfg.Cache == nil {
		return nil, errors.New("fiveid: Config.Cache is required")
	}
	if cfg.Scorer == nil {
		return nil, errors.New("fiveid: Config.Scorer is required")
	}
	if cfg.Grants == nil {
		return nil, errors.New("fiveid: Config.Grants is required")
	}
	if cfg.CacheEpochLease < 0 {
		return nil, errors.New("fiveid: Config.CacheEpochLease must not be negative")
	}
	if err := cfg.Webhooks.validate(); err != nil {
		return nil, fmt.Errorf("fiveid: Config.Webhooks: %w", err)
	}
	if cfg.IdempotencyTTL != 0 && (cfg.IdempotencyTTL < MinIdempotencyTTL || cfg.IdempotencyTTL > MaxIdempotencyTTL) {
		return nil, fmt.Errorf("fiveid: Config.IdempotencyTTL must be between %s and %s", MinIdempotencyTTL, MaxIdempotencyTTL)
	}
	s := &Service{
		store:      cfg.Store,
		cache:      cfg.Cache,
		scorer:     cfg.Scorer,
		obs:        cfg.Observer,
		log:        cfg.Logger,
		now:        cfg.Clock,
		limit:      cfg.CandidateLimit,
		grants:     cfg.Grants,
		logInStore: samePointer(cfg.Grants, cfg.Store),
		// Webhook URLs are checked at creation and before each delivery.
		webhookPolicy: cfg.Webhooks,
		// Systems are created, never changed: a short memo is safe.
		systems: newMemo[System](10*time.Second, 1000),
		names:   newMemo[nameFreq](30*time.Second, 100_000),
		// A deleted policy stops granting within this lifetime on other
		// instances (at once on this one).
		policies: newMemo[[]Policy](5*time.Second, 1000),
		// Likewise a deleted holder stops learning about grants.
		holders:  newMemo[[]Holder](5*time.Second, 1000),
		idem:     cfg.Idempotency,
		webhooks: cfg.WebhookStore,
		records:  cfg.Records,
		stats:    cfg.Statistics,
		idemTTL:  cfg.IdempotencyTTL,
		idemWait: cfg.IdempotencyWait,
	}
	if s.idemTTL == 0 {
		s.idemTTL = DefaultIdempotencyTTL
	}
	switch {
	case s.idemWait == 0:
		s.idemWait = DefaultIdempotencyWait
	case s.idemWait < 0:
		s.idemWait = 0
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.limit <= 0 {
		s.limit = 200
	}
	lease := cfg.CacheEpochLease
	if lease == 0 {
		lease = DefaultCacheEpochLease
	}
	s.epoch = newCacheEpoch(s.store, lease, s.log, s.obs)
	s.keys = newKeyMemo(lease)
	key, err := s.loadOrCreateSecret(ctx, secretHMAC, 32)
	if err != nil {
		return nil, fmt.Errorf("fiveid: hmac key: %w", err)
	}
	s.hmacKey = key
	// The cache tag changes with the decision rules and the cached
	// document (v3: customer-level conflicts and ambiguity; v4: the
	// customer's state comes with the decision, answerDoc; v5: blocking
	// keys are 63-bit numbers, so answers tagged with the old keys'
	// text must not be found),
	// the blocking rules, the weights version and
	// the thresholds: answers another build or configuration computed never
	// hit, in a shared Redis or across a restart with other settings.
	t := s.scorer.Thresholds()
	s.cacheTag = fmt.Sprintf("v5|b%d|%s|%g/%g/%g/%g/%g", match.BlockingRules, s.scorer.Version(),
		t.Certain, t.Probable, t.Possible, t.ProbableWithoutID, t.AmbiguityMargin)
	if err := s.ensureSigningKey(ctx); err != nil {
		return nil, fmt.Errorf("fiveid: signing key: %w", err)
	}
	if err := s.markBlockingRules(ctx); err != nil {
		return nil, fmt.Errorf("fiveid: blocking rules: %w", err)
	}
	s.auditw = newAuditWriter(s.grants)
	return s, nil
}

// Close stops the grant log writer — calls still queued fail with
// ErrUnavailable (none of them was answered) — and a pending cache epoch
// raise's retries.
func (s *Service) Close() {
	s.closeOnce.Do(func() {
		s.auditw.close()
		s.epoch.close()
	})
}

func (s *Service) loadOrCreateSecret(ctx context.Context, name string, size int) ([]byte, error) {
	v, err := s.store.Secret(ctx, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	fresh := make([]byte, size)
	rand.Read(fresh)
	err = s.store.Update(ctx, nil, func(tx Tx) error { return tx.PutSecret(ctx, name, fresh) })
	if errors.Is(err, ErrConflict) { // another instance won the race
		return s.store.Secret(ctx, name)
	}
	if err != nil {
		return nil, err
	}
	return fresh, nil
}

type nopObserver struct{}

func (nopObserver) MatchOutcome(string, string) {}
func (nopObserver) CacheLookup(bool, error)     {}
func (nopObserver) CacheInvalidation(string)    {}
func (nopObserver) GrantOutcome(string)         {}

// Ready checks the store: without it nothing can be answered. A cache
// outage does not make the service unready — answers come from the store,
// slower (README: Redis down is a slowdown) — and a load balancer that
// drops instances on readiness would turn it into a total outage;
// CacheReady reports it.
func (s *Service) Ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// CacheReady checks the cache.
func (s *Service) CacheReady(ctx context.Context) error {
	if err := s.cache.Ping(ctx); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// ---- identifiers and keys ----

func newID(prefix string) string { return prefix + ulid.Make().String() }

// derive is the keyed HMAC of a derived join key, hex, 128 bits.
// Keyed HMACs are reused (Reset): making one was over half of deriving a
// key (a reindex of 1,000,000 records spent 7 of its 48 CPU seconds in
// hmac.New).
func (s *Service) derive(kind, v string) string {
	var sum [sha256.Size]byte
	return hex.EncodeToString(s.mac(kind, v, sum[:0])[:16])
}

// mac appends the keyed HMAC of kind and v to b.
func (s *Service) mac(kind, v string, b []byte) []byte {
	m, ok := s.macs.Get().(hash.Hash)
	if ok {
		m.Reset()
	} else {
		m = hmac.New(sha256.New, s.hmacKey)
	}
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	b = m.Sum(b)
	s.macs.Put(m)
	return b
}

// blockingKeys are r's blocking keys (blockingkey.go): a 63-bit keyed
// HMAC of each of match.BlockingKeys, as KeyText.
func (s *Service) blockingKeys(r match.Record) []string {
	vals := s.blockingKeyValues(r)
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = KeyText(v)
	}
	return out
}

// blockingKeyValues are blockingKeys as the numbers the stores keep (the
// duplicate scan compares them with the index's without text between).
func (s *Service) blockingKeyValues(r match.Record) []int64 {
	raw := match.BlockingKeys(r)
	out := make([]int64, len(raw))
	var sum [sha256.Size]byte
	for i, k := range raw {
		out[i] = blockingKeyOf(s.mac("block", k, sum[:0]))
	}
	return out
}

// hashSecret is how API key secrets are stored (and memoized: keymemo.go).
func hashSecret(secret string) [sha256.Size]byte { return sha256.Sum256([]byte(secret)) }

// ---- authorization ----

func require(p Principal, roles ...Role) error {
	for _, r := range roles {
		if p.Role == r {
			return nil
		}
	}
	return fmt.Errorf("role %s may not do this: %w", p.Role, ErrDenied)
}

// ---- systems ----

// codeOK: system codes are short ASCII identifiers.
func codeOK(code string) bool {
	if code == "" || len(code) > 64 {
		return false
	}
	for _, r := range code {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// CreateSystem registers a source system (admin).
func (s *Service) CreateSystem(ctx context.Context, p Principal, sys System) (System, error) {
	if err := require(p, RoleAdmin); err != nil {
		return System{}, err
	}
	var ve ValidationError
	if !codeOK(sys.Code) {
		ve.Problems = append(ve.Problems, FieldProblem{"code", "invalid_code", "code must be 1-64 characters of A-Z a-z 0-9 - _ ."})
	}
	sys.Name = strings.TrimSpace(sys.Name)
	if sys.Name == "" || utf8.RuneCountInString(sys.Name) > 200 || !utf8.ValidString(sys.Name) {
		ve.Problems = append(ve.Problems, FieldProblem{"name", "invalid_name", "name is required (at most 200 characters)"})
	}
	if sys.Kind == "" {
		sys.Kind = KindOther
	}
	if !sys.Kind.Valid() {
		ve.Problems = append(ve.Problems, FieldProblem{"kind", "invalid_kind", "kind must be medical, eldercare, funeral or other"})
	}
	if _, err := match.ParseIDTable(string(sys.IDTable)); err != nil {
		ve.Problems = append(ve.Problems, FieldProblem{"id_table", "invalid_id_table", "id_table must be ws364, nhsa, gat2000 or empty"})
	}
	if len(ve.Problems) > 0 {
		return System{}, &ve
	}
	sys.CreatedAt = s.changeTime()
	err := s.store.Update(ctx, nil, func(tx Tx) error { return tx.CreateSystem(ctx, sys) })
	if err != nil {
		return System{}, fmt.Errorf("create system %s: %w", sys.Code, err)
	}
	return sys, nil
}

// ListSystems lists registered systems (admin).
func (s *Service) ListSystems(ctx context.Context, p Principal) ([]System, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListSystems(ctx)
}

// ---- keys ----

// NewKeySecret returns a fresh API key secret: "fk_" + 256 random bits.
func NewKeySecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "fk_" + base64.RawURLEncoding.EncodeToString(b)
}

// CreateKey creates an API key (admin) and returns it with its secret,
// which is shown this once and never stored.
func (s *Service) CreateKey(ctx context.Context, p Principal, role Role, system, name string) (APIKey, string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return APIKey{}, "", err
	}
	return s.createKey(ctx, role, system, name, NewKeySecret())
}

func (s *Service) createKey(ctx context.Context, role Role, system, name, secret string) (APIKey, string, error) {
	if !role.Valid() {
		return APIKey{}, "", invalid("role", "invalid_role", "role must be system, auditor or admin")
	}
	if role == RoleSystem && system == "" {
		return APIKey{}, "", invalid("system", "required", "a system key must name its registered system")
	}
	if role != RoleSystem && system != "" {
		return APIKey{}, "", invalid("system", "not_allowed", "only system keys are bound to a system")
	}
	if utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) {
		return APIKey{}, "", invalid("name", "too_long", "name is at most 200 characters")
	}
	h := hashSecret(secret)
	k := APIKey{
		ID:        newID("key_"),
		Hash:      h[:],
		Role:      role,
		System:    system,
		Name:      name,
		CreatedAt: s.changeTime(),
	}
	err := s.store.Update(ctx, nil, func(tx Tx) error {
		if system != "" {
			if _, err := tx.System(ctx, system); errors.Is(err, ErrNotFound) {
				return invalid("system", "unknown_system", "no registered system has this code")
			} else if err != nil {
				return err
			}
		}
		return tx.CreateKey(ctx, k)
	})
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create key: %w", err)
	}
	return k, secret, nil
}

// ListKeys lists API keys without secrets (admin).
func (s *Service) ListKeys(ctx context.Context, p Principal) ([]APIKey, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	return s.store.ListKeys(ctx)
}

// KeyNames maps every key's ID, revoked ones too, to its name (admin,
// auditor): history and the grant log record the key ID as the actor, and
// people read the name. It reveals no role, system or hash.
func (s *Service) KeyNames(ctx context.Context, p Principal) (map[string]string, error) {
	if err := require(p, RoleAdmin, RoleAuditor); err != nil {
		return nil, err
	}
	ks, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ks))
	for _, k := range ks {
		out[k.ID] = k.Name
	}
	return out, nil
}

// RevokeKey revokes an API key (admin). Revoking twice is not an error.
// It answers a lease after the revocation committed: from then on no
// process accepts the key (keymemo.go).
//
// With revokeGrants it also revokes every grant asked for with the key that
// is still active, each written to the grant log like any revocation (with
// detail key_revoked), and returns how many it revoked. It may be repeated
// on a revoked key: a request that authenticated just before the key was
// revoked can still be granted after the first sweep.
func (s *Service) RevokeKey(ctx context.Context, p Principal, id string, revokeGrants bool) (int, error) {
	if err := require(p, RoleAdmin); err != nil {
		return 0, err
	}
	now := s.changeTime()
	err := s.store.Update(ctx, nil, func(tx Tx) error { return tx.RevokeKey(ctx, id, now) })
	if err != nil {
		return 0, fmt.Errorf("revoke key: %w", err)
	}
	// Also when it was revoked already: that revocation may have
	// committed, then failed before its wait. Waiting before the sweep
	// also narrows what the sweep may miss (see above).
	s.keyStopped(id)
	if !revokeGrants {
		return 0, nil
	}
	var revoked []Grant
	err = s.grants.UpdateGrants(ctx, func(tx GrantTx) error {
		var err error
		revoked, err = tx.RevokeGrantsOfKey(ctx, id, now, p.KeyID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke key: grants: %w", err)
	}
	evs := make([]AuditEvent, len(revoked))
	for i, g := range revoked {
		evs[i] = AuditEvent{Action: ActionGrantRevoked, ActorKey: p.KeyID, ActorSystem: p.System,
			GrantID: g.ID, CustomerID: g.CustomerID, Purpose: g.Purpose, Scopes: g.Scopes, Detail: "key_revoked"}
	}
	if err := s.appendAudits(ctx, evs); err != nil {
		return 0, fmt.Errorf("revoke key: grant log: %w", err)
	}
	for range revoked {
		s.obs.GrantOutcome("revoked")
	}
	return len(revoked), nil
}

// MinAdminSecretLength is the shortest FIVEID_ADMIN_KEY accepted. Generated
// keys (NewKeySecret) have 46 characters ("fk_" and 256 random bits), so
// they always pass.
const MinAdminSecretLength = 32

// CheckAdminSecret refuses an admin secret chosen by a person that is weak:
// shorter than MinAdminSecretLength characters, or made of one character
// class only (all digits, all lower-case letters, all upper-case letters,
// or all other characters). The error says which, never the secret.
func CheckAdminSecret(secret string) error {
	if n := utf8.RuneCountInString(secret); n < MinAdminSecretLength {
		return fmt.Errorf("FIVEID_ADMIN_KEY is too weak: %d characters, at least %d are needed (fiveid keys create --role admin makes a strong one)", n, MinAdminSecretLength)
	}
	var lower, upper, digit, other bool
	for _, r := range secret {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, has := range []bool{lower, upper, digit, other} {
		if has {
			classes++
		}
	}
	if classes < 2 {
		return errors.New("FIVEID_ADMIN_KEY is too weak: it is made of one character class only; mix at least two of lower-case letters, upper-case letters, digits and other characters (fiveid keys create --role admin makes a strong one)")
	}
	return nil
}

// Bootstrap makes sure an admin can get in. With adminSecret set it ensures
// that secret exists as an admin key (automation); a weak one is refused
// (CheckAdminSecret). Otherwise, when no active admin key exists, it
// creates one and returns its secret to be shown once.
func (s *Service) Bootstrap(ctx context.Context, adminSecret string) (string, error) {
	if adminSecret != "" {
		if err := CheckAdminSecret(adminSecret); err != nil {
			return "", err
		}
		h := hashSecret(adminSecret)
		_, err := s.store.KeyByHash(ctx, h[:])
		if err == nil {
			return "", nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
		_, _, err = s.createKey(ctx, RoleAdmin, "", "FIVEID_ADMIN_KEY", adminSecret)
		if errors.Is(err, ErrConflict) {
			return "", nil
		}
		return "", err
	}
	n, err := s.store.CountActiveKeys(ctx, RoleAdmin)
	if err != nil || n > 0 {
		return "", err
	}
	_, secret, err := s.createKey(ctx, RoleAdmin, "", "bootstrap", NewKeySecret())
	return secret, err
}

// ---- normalization ----

// Normalize returns the five elements as fiveid normalizes them (any role).
// table overrides the caller system's ID-type table when not empty.
func (s *Service) Normalize(ctx context.Context, p Principal, in match.Input, table match.IDTable) (match.Record, error) {
	if p.Role == "" {
		return match.Record{}, ErrUnauthenticated
	}
	if table == "" && p.System != "" {
		sys, err := s.system(ctx, p.System)
		if err != nil {
			return match.Record{}, fmt.Errorf("normalize: %w", err)
		}
		table = sys.IDTable
	}
	return s.normalize(in, table)
}

func (s *Service) normalize(in match.Input, table match.IDTable) (match.Record, error) {
	if _, err := match.ParseIDTable(string(table)); err != nil {
		return match.Record{}, invalid("id_table", "invalid_id_table", "id_table must be ws364, nhsa, gat2000 or empty")
	}
	rec, err := match.Normalize(in, match.Options{IDTable: table, Today: s.today()})
	var mve *match.ValidationError
	if errors.As(err, &mve) {
		ve := &ValidationError{}
		for _, p := range mve.Problems {
			ve.Problems = append(ve.Problems, FieldProblem{Field: p.Field, Code: p.Code, Message: p.Message})
		}
		return match.Record{}, ve
	}
	if err != nil {
		return match.Record{}, fmt.Errorf("normalize: %w", err)
	}
	return rec, nil
}

// changeTime is the time a change is recorded at: UTC, at the microsecond
// the stores keep. It is the one transaction clock: a use case takes it
// once per change (update does, for its transaction) and passes it down,
// so that every row and history entry of one change carries one time.
func (s *Service) changeTime() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// update runs fn in one store transaction (Store.Update) with the time its
// changes are recorded at, taken once as it begins.
func (s *Service) update(ctx context.Context, lockKeys []string, fn func(tx Tx, now time.Time) error) error {
	return s.store.Update(ctx, lockKeys, func(tx Tx) error { return fn(tx, s.changeTime()) })
}

func (s *Service) today() match.Date {
	t := s.now()
	return match.Date{Year: t.Year(), Month: int(t.Month()), Day: t.Day(), Precision: match.PrecisionDay}
}

// validLocalID: a source system's own record ID.
func validLocalID(id string) error {
	if id == "" {
		return invalid("local_id", "required", "local_id is required")
	}
	if len(id) > 128 || !utf8.ValidString(id) {
		return invalid("local_id", "invalid_local_id", "local_id is at most 128 bytes of UTF-8")
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return invalid("local_id", "invalid_local_id", "local_id must not contain control characters")
		}
	}
	return nil
}

// ListReviewTasks lists review tasks, newest first (admin).
func (s *Service) ListReviewTasks(ctx context.Context, p Principal, status ReviewStatus) ([]ReviewTask, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	switch status {
	case "", ReviewOpen, ReviewResolved:
	default:
		return nil, invalid("status", "invalid_status", "status must be open or resolved")
	}
	return s.store.ListReviewTasks(ctx, status, 500)
}

// LoadDistinct loads records of one system that are already known to be
// distinct people — an initial migration from a deduplicated master index —
// as one new customer each, without matching (admin). It is all or
// nothing per call; a record that does not normalize fails the call.
func (s *Service) LoadDistinct(ctx context.Context, p Principal, system string, items []RegisterItem) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	sys, err := s.store.System(ctx, system)
	if err != nil {
		return fmt.Errorf("load: system %s: %w", system, err)
	}
	now := s.changeTime()
	customers := make([]Customer, len(items))
	records := make([]SourceRecord, len(items))
	keys := make([][]string, len(items))
	for i, it := range items {
		if err := validLocalID(it.LocalID); err != nil {
			return fmt.Errorf("load: record %d: %w", i, err)
		}
		rec, err := s.normalize(it.Input, sys.IDTable)
		if err != nil {
			return fmt.Errorf("load: record %d: %w", i, err)
		}
		id := newID("C")
		records[i] = SourceRecord{System: system, LocalID: it.LocalID, CustomerID: id, Raw: it.Input, IDTable: sys.IDTable,
			NameKey: rec.Name.Key, IDKey: rec.ID.Key, Features: recordFeatures(it.Input, sys.IDTable), Version: 1, CreatedAt: now, UpdatedAt: now}
		g := survivor(records[i : i+1])
		customers[i] = Customer{ID: id, Status: StatusActive, Name: g.Name, Sex: g.Sex, BirthDate: g.BirthDate,
			IDType: g.IDType, IDNumber: g.IDNumber, Version: 1, CreatedAt: now, UpdatedAt: now}
		keys[i] = s.blockingKeys(rec)
	}
	if err := s.store.Update(ctx, nil, func(tx Tx) error { return tx.InsertBulk(ctx, customers, records, keys) }); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	var all []string
	for _, k := range keys {
		all = append(all, k...)
	}
	if err := s.invalidateAnswers(ctx, all); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	// A bulk load can outgrow the planner's statistics faster than
	// autovacuum (if it runs at all) notices.
	if _, err := s.RefreshStatistics(ctx, p); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	return nil
}

// RefreshStatistics analyzes the store's tables whose planner statistics
// are stale, and vacuums them where the server's autovacuum is off
// (admin; a no-op without Config.Statistics). serve runs it every
// minute, import and LoadDistinct after loading.
func (s *Service) RefreshStatistics(ctx context.Context, p Principal) ([]string, error) {
	if err := require(p, RoleAdmin); err != nil {
		return nil, err
	}
	if s.stats == nil {
		return nil, nil
	}
	return s.stats.RefreshStatistics(ctx)
}

// samePointer reports whether a and b hold the same pointer (not merely
// equal values: a store passed by value is never taken for another).
func samePointer(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Type() == vb.Type() && va.Pointer() == vb.Pointer()
}
