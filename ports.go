package fiveid

import (
	"context"
	"time"
)

// The store's ports, by role. Each role is a reading half (in Reader, usable
// outside a transaction) and a writing half (in Tx); Reader, Tx and Store
// compose them, so a store implements the master customer index as one
// transactional unit, and a helper that needs one role takes only that role
// (nameFrequency, change). A method that reads one row returns ErrNotFound
// (wrapped) when it is missing.

// SystemReader reads the registered source systems.
type SystemReader interface {
	System(ctx context.Context, code string) (System, error)
	ListSystems(ctx context.Context) ([]System, error)
}

// SystemWriter registers source systems.
type SystemWriter interface {
	CreateSystem(ctx context.Context, s System) error // ErrConflict when the code exists
}

// KeyReader reads API keys (without secrets: by the secret's hash).
type KeyReader interface {
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	ListKeys(ctx context.Context) ([]APIKey, error)
	// CountActiveKeys counts keys not revoked, optionally of one role ("" = all).
	CountActiveKeys(ctx context.Context, role Role) (int, error)
}

// KeyWriter creates and revokes API keys.
type KeyWriter interface {
	CreateKey(ctx context.Context, k APIKey) error // ErrConflict when the ID or hash exists
	RevokeKey(ctx context.Context, id string, at time.Time) error
}

// CustomerReader reads golden records and the source records linked to them.
type CustomerReader interface {
	Customer(ctx context.Context, id string) (Customer, error)
	// CustomerRecords lists the source records linked to a customer,
	// ordered by (system, local_id).
	CustomerRecords(ctx context.Context, customerID string) ([]SourceRecord, error)
	SourceRecord(ctx context.Context, system, localID string) (SourceRecord, error)
	// SourceRecords returns those of the records that exist, in one query
	// (a chunk of the bulk pipeline, bulk.go).
	SourceRecords(ctx context.Context, ids []RecordID) ([]SourceRecord, error)
	// CustomersRecords returns the customers that exist and their
	// records, each list ordered by (system, local_id), in one query each
	// (a chunk of the bulk pipeline).
	CustomersRecords(ctx context.Context, ids []string) ([]Customer, map[string][]SourceRecord, error)
	// IndexFigures counts the index for the stewards' dashboard in one
	// aggregate query: active customers, source records by system and by
	// link grade, links (ChangeLinked) and merges at or after since.
	IndexFigures(ctx context.Context, since time.Time) (IndexFigures, error)
}

// RecordID names a source record.
type RecordID struct{ System, LocalID string }

// CustomerWriter writes golden records and source records (each source
// record with its blocking keys, so the candidate index follows). A
// blocking key here and in every port is KeyText's 16 hex digits; a store
// refuses any other text with ErrInvalid.
type CustomerWriter interface {
	InsertCustomer(ctx context.Context, c Customer) error
	// UpdateCustomer replaces every field of the customer with c.ID.
	UpdateCustomer(ctx context.Context, c Customer) error
	// PutSourceRecord inserts or replaces the record (system, local_id) and
	// replaces its blocking keys with keys; it keeps name statistics exact.
	PutSourceRecord(ctx context.Context, r SourceRecord, keys []string) error
	// InsertBulk inserts new customers and their records (each record with
	// its blocking keys, keys[i] for records[i]) with multi-row statements,
	// and keeps name statistics exact. For initial loads of records that
	// are known to be distinct people; ErrConflict when any exists.
	InsertBulk(ctx context.Context, customers []Customer, records []SourceRecord, keys [][]string) error
	// PutCustomers inserts or replaces customers, and PutSourceRecords is
	// PutSourceRecord for many records (keys[i] for records[i]), each with
	// multi-row statements: the bulk pipeline's writes.
	PutCustomers(ctx context.Context, cs []Customer) error
	PutSourceRecords(ctx context.Context, records []SourceRecord, keys [][]string) error
}

// CandidateIndex finds the source records that may be the same person as a
// query (by blocking key) and the name statistics that weigh a name match.
type CandidateIndex interface {
	// Candidates returns the distinct source records that carry any of the
	// blocking keys, at most limit of them, in one query, with what
	// matching reads: their Link and times are left zero. (Every record
	// belongs to an active customer: a merge moves the records to the
	// survivor, and links go only to active customers.)
	Candidates(ctx context.Context, keys []string, limit int) ([]SourceRecord, error)
	// NameFrequency returns how many source records have this name key and
	// how many source records there are in all.
	NameFrequency(ctx context.Context, nameKey string) (n, total int64, err error)

	// Reads for a chunk of the bulk pipeline (bulk.go), one query each.
	// KeyCandidates returns, for each key, the first limit source records
	// (by system, local_id) carrying it, read as Candidates reads them; a
	// key no record carries is absent. (Candidates of a key set is the
	// union of its keys' lists, ordered and cut at limit.)
	KeyCandidates(ctx context.Context, keys []string, limit int) (map[string][]SourceRecord, error)
	// NameFrequencies is NameFrequency for many name keys (a key no
	// record has is absent).
	NameFrequencies(ctx context.Context, nameKeys []string) (n map[string]int64, total int64, err error)
}

// CandidateIndexWriter rewrites blocking keys (reindexing after the
// blocking rules changed).
type CandidateIndexWriter interface {
	// ReplaceBlockingKeys replaces the blocking keys of each record still
	// at its Version, in a few statements for all of them, and reports
	// which it replaced (false: gone or changed since it was read) and
	// the keys it added to or dropped from any record (the cached answers
	// that may have changed). The rows of records whose keys it changes
	// are locked for the rest of the transaction.
	ReplaceBlockingKeys(ctx context.Context, recs []RecordKeys) (done []bool, changed []string, err error)
	// PutRecordFeatures sets the stored comparison features of each
	// record still at its Version (without raising it) and reports which
	// it set: reindexing fills them for records written before they were
	// kept, or under older normalization rules.
	PutRecordFeatures(ctx context.Context, recs []RecordFeatures) ([]bool, error)
}

// RecordFeatures is the comparison features (match.EncodeFeatures)
// computed from a record at Version.
type RecordFeatures struct {
	System, LocalID string
	Version         int64
	Features        string
}

// RecordKeys is the blocking keys computed from a record at Version.
type RecordKeys struct {
	System, LocalID string
	Version         int64
	Keys            []string
}

// ReviewQueueReader reads the stewards' review tasks.
type ReviewQueueReader interface {
	ReviewTask(ctx context.Context, id string) (ReviewTask, error)
	// OpenReviewTask returns the open task about the unordered pair (a, b).
	OpenReviewTask(ctx context.Context, a, b string) (ReviewTask, error)
	// ListReviewTasks lists tasks of one status ("" = all), newest first.
	ListReviewTasks(ctx context.Context, status ReviewStatus, limit int) ([]ReviewTask, error)
}

// ReviewQueueWriter opens and resolves review tasks.
type ReviewQueueWriter interface {
	// InsertReviewTask returns ErrConflict when an open task for the same
	// (customer, candidate) pair, in either order, exists.
	InsertReviewTask(ctx context.Context, t ReviewTask) error
	// ResolveReviewTask sets a task resolved if it still has version;
	// ErrConflict when it changed or was resolved meanwhile.
	ResolveReviewTask(ctx context.Context, id string, version int64, resolution, by string, at time.Time) error
}

// MergeReader reads merges and the pairs declared two people.
type MergeReader interface {
	Merge(ctx context.Context, id string) (Merge, error)
	// NotDuplicate reports a pair a steward declared to be two people.
	NotDuplicate(ctx context.Context, a, b string) (bool, error)
}

// MergeWriter records merges, their undoing and not-duplicate pairs.
type MergeWriter interface {
	// InsertMerge records a merge; MarkUnmerged sets it undone, ErrConflict
	// when it already was.
	InsertMerge(ctx context.Context, m Merge) error
	MarkUnmerged(ctx context.Context, id string, at time.Time, by string) error
	// PutNotDuplicate remembers a pair as two people (idempotent).
	PutNotDuplicate(ctx context.Context, a, b string, at time.Time, by string) error
}

// HistoryReader reads a customer's history.
type HistoryReader interface {
	// History lists a customer's changes, oldest first.
	History(ctx context.Context, customerID string, limit int) ([]Change, error)
}

// HistoryWriter appends to the history, which is also the outbox webhooks
// deliver from (WebhookStore.ChangesAfter).
type HistoryWriter interface {
	AppendChange(ctx context.Context, c Change) error
	// AppendChanges is AppendChange for many changes, with multi-row
	// statements (the bulk pipeline's writes).
	AppendChanges(ctx context.Context, cs []Change) error
}

// SettingsReader reads the integers and secrets the service keeps in the
// store.
type SettingsReader interface {
	// Setting returns a named integer (ok false when it was never set).
	Setting(ctx context.Context, name string) (v int64, ok bool, err error)
	// Secret returns a named secret (the HMAC key of derived join keys)
	// stored by PutSecret.
	Secret(ctx context.Context, name string) ([]byte, error)
}

// SettingsWriter sets named integers and secrets.
type SettingsWriter interface {
	PutSetting(ctx context.Context, name string, v int64) error
	// PutSecret stores a named secret once; ErrConflict when it exists.
	PutSecret(ctx context.Context, name string, value []byte) error
}

// Reader is every reading role of the master customer index.
type Reader interface {
	SystemReader
	KeyReader
	CustomerReader
	CandidateIndex
	ReviewQueueReader
	MergeReader
	HistoryReader
	SettingsReader
}

// Tx is one store transaction: every role, reading and writing.
type Tx interface {
	Reader
	SystemWriter
	KeyWriter
	CustomerWriter
	CandidateIndexWriter
	ReviewQueueWriter
	MergeWriter
	HistoryWriter
	SettingsWriter
}

// LazyCommitter is a Tx whose commit can leave its durability to the next
// durable commit on the same database. On PostgreSQL the transaction runs
// with synchronous_commit off: its commit record is in the write-ahead log
// before that of any transaction committing after it, and a durable commit
// flushes the log up to its own record, so once such a later commit is
// durable, this one is too. A caller uses it only when such a commit
// follows before anything that depends on this transaction is
// acknowledged. A store without the distinction (the embedded store)
// commits as always.
type LazyCommitter interface {
	CommitLazily(ctx context.Context) error
}

// Store is the master customer index.
type Store interface {
	Reader
	// Update runs fn in one transaction and commits when fn returns nil.
	// While it runs it holds an exclusive lock on each of lockKeys (blocking
	// keys of the person being decided), so two requests deciding about the
	// same person serialize and cannot both create a customer.
	Update(ctx context.Context, lockKeys []string, fn func(tx Tx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Cache holds resolution results. Values depend on dependency keys (the
// blocking keys that produced them); Invalidate on a dependency makes every
// value that depended on it miss. A cache failure is never fatal: callers
// fall back to the store.
//
// A cache may refuse to try — its circuit breaker open after repeated
// failures — and return an error matching ErrCacheSkipped at once: for Get
// that is a miss, for Invalidate a failure like any other (the answers
// were not dropped, so the change raises the cache epoch).
type Cache interface {
	// Get returns the value under key when none of deps changed since the
	// stamp it was Set with. On a miss it returns a stamp of deps as they
	// are now, to be passed to Set after the value was computed, so that a
	// write racing the computation invalidates it.
	Get(ctx context.Context, key string, deps []string) (val []byte, hit bool, stamp string, err error)
	Set(ctx context.Context, key string, stamp string, val []byte) error
	Invalidate(ctx context.Context, deps []string) error
	Ping(ctx context.Context) error
}

// Observer receives the service's business measurements (metrics).
type Observer interface {
	MatchOutcome(op string, grade string)
	CacheLookup(hit bool, err error)
	// CacheInvalidation counts invalidations after a change by outcome: ok;
	// epoch_raised (the cache failed, the cache epoch was raised instead —
	// also counted when a failed raise succeeds on retry); failed (the
	// raise failed too: the use case answered an error).
	CacheInvalidation(result string)
	// GrantOutcome counts grants issued, denied, introspected, revoked.
	GrantOutcome(kind string)
}

// Clock tells the time.
type Clock func() time.Time

// The grant log's ports (Config.Grants, required).

// GrantReader reads policies, holders, grants, signing keys and the grant log.
type GrantReader interface {
	// Policies lists policies in force for one grantee ("" = all), oldest first.
	Policies(ctx context.Context, grantee string) ([]Policy, error)
	Policy(ctx context.Context, id string) (Policy, error)
	// Holders lists holders in force for one system ("" = all), oldest first.
	Holders(ctx context.Context, system string) ([]Holder, error)
	Holder(ctx context.Context, id string) (Holder, error)
	Grant(ctx context.Context, id string) (Grant, error)
	// ListGrants lists grants by ascending ID after f.AfterID; Status is
	// evaluated at now.
	ListGrants(ctx context.Context, f GrantFilter, now time.Time) ([]Grant, error)
	// SigningKeys lists every signing key, newest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AuditEvents lists events by ascending Seq after f.AfterSeq.
	AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// AuditTip returns the head of the grant log without locking it.
	AuditTip(ctx context.Context) (seq int64, hash string, err error)
}

// GrantTx changes policies, holders, grants, signing keys and the grant log.
type GrantTx interface {
	CreatePolicy(ctx context.Context, p Policy) error
	DeletePolicy(ctx context.Context, id string, at time.Time) error
	CreateHolder(ctx context.Context, h Holder) error
	DeleteHolder(ctx context.Context, id string, at time.Time) error // ErrNotFound unless in force
	InsertGrant(ctx context.Context, g Grant) error
	RevokeGrant(ctx context.Context, id string, at time.Time, by string) error
	// RevokeGrantsOfKey revokes every grant asked for with the API key
	// that is still active at `at`, and returns exactly those grants (as
	// they were before), so each revocation can be logged once.
	RevokeGrantsOfKey(ctx context.Context, key string, at time.Time, by string) ([]Grant, error)
	InsertSigningKey(ctx context.Context, k SigningKey) error
	RetireSigningKey(ctx context.Context, id string, at time.Time) error
}

// GrantStore keeps policies, holders, grants, signing keys and the grant
// log (Config.Grants; both stores implement it on the same database as
// Store, but in transactions of their own).
type GrantStore interface {
	GrantReader
	// UpdateGrants runs fn in one transaction, like Store.Update.
	UpdateGrants(ctx context.Context, fn func(tx GrantTx) error) error
	// AppendAudit writes grants and events (chained, Seq consecutive after
	// the head afterSeq/afterHash; 0, "" for an empty log) atomically and
	// moves the head to the last event. When the head is no longer
	// afterSeq/afterHash it writes nothing and returns ErrConflict.
	AppendAudit(ctx context.Context, afterSeq int64, afterHash string, grants []Grant, events []AuditEvent) error
}

// Optional capabilities: Config names each, and a nil one turns its
// feature off as Config documents.

// IdempotencyStore keeps the records of requests sent with an
// Idempotency-Key (see idempotency.go). A record is identified by (KeyID,
// Key). Every method takes the time from its caller; a record whose
// ExpiresAt is not after now counts as absent.
type IdempotencyStore interface {
	// ReserveIdempotency inserts r as running, or replaces a record of the
	// same key that has expired; false when a live record exists.
	ReserveIdempotency(ctx context.Context, r IdempotencyRecord, now time.Time) (bool, error)
	// IdempotencyRecord reads a record, expired or not.
	IdempotencyRecord(ctx context.Context, keyID, key string) (IdempotencyRecord, error)
	// ClaimIdempotency makes owner the runner of a live, unfinished record
	// with this fingerprint whose lease has run out (or was released);
	// false when it is not such a record any more.
	ClaimIdempotency(ctx context.Context, keyID, key, fingerprint, owner string, leaseUntil, now time.Time) (bool, error)
	// FinishIdempotency keeps owner's answer; ReleaseIdempotency ends
	// owner's run without one (a retry runs again, with the same
	// GrantID); ForgetIdempotency deletes the record. Each returns
	// ErrConflict when owner no longer runs it.
	FinishIdempotency(ctx context.Context, keyID, key, owner string, status int, body []byte) error
	ReleaseIdempotency(ctx context.Context, keyID, key, owner string) error
	ForgetIdempotency(ctx context.Context, keyID, key, owner string) error
	// DeleteExpiredIdempotency deletes up to limit records expired at now.
	DeleteExpiredIdempotency(ctx context.Context, now time.Time, limit int) (int64, error)
}

// RecordScanner reads every source record, in pages or as one stream,
// for the offline jobs (weight training, the duplicate scan, reindexing).
type RecordScanner interface {
	// ScanSourceRecords returns up to limit records ordered by (system,
	// local_id) strictly after (afterSystem, afterLocalID).
	ScanSourceRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]SourceRecord, error)
	// ScanKeyedRecords is ScanSourceRecords with what matching reads (no
	// Link, CreatedAt or UpdatedAt) and each record's blocking keys as
	// stored, read together (reindexing).
	ScanKeyedRecords(ctx context.Context, afterSystem, afterLocalID string, limit int) ([]KeyedRecord, error)
	// EachSourceRecord calls fn with every record, in (system, local_id)
	// order, as one read streams them, with what matching reads: no Link,
	// CreatedAt or UpdatedAt (the duplicate scan). fn's error ends it.
	EachSourceRecord(ctx context.Context, fn func(SourceRecord) error) error
	// EachBlockingKey calls fn with every entry of the blocking-key index
	// (a record carries a key), in (key, system, local_id) order, as a
	// read streams them (the duplicate scan's one pass over it); key is
	// the stored number (KeyValue). The bytes are valid only until fn
	// returns: nearly a million entries for 100,000 records are not
	// copied. fn's error ends it.
	EachBlockingKey(ctx context.Context, fn func(key int64, system, localID []byte) error) error
}

// KeyedRecord is a source record with the blocking keys it carries.
type KeyedRecord struct {
	SourceRecord
	Keys []string
}

// StatisticsRefresher keeps the database's planner statistics fresh and,
// where the server's own maintenance is off, its tables vacuumed; it also
// folds the rows the database appends to keep the dashboard's counts.
type StatisticsRefresher interface {
	// RefreshStatistics analyzes (and where needed vacuums) the tables
	// whose statistics are stale and returns their names (PostgreSQL; the
	// embedded store runs its own optimizer pass and names none).
	RefreshStatistics(ctx context.Context) ([]string, error)
}

// WebhookStore keeps webhooks and their delivery state, and reads the
// history as the outbox they deliver.
type WebhookStore interface {
	CreateWebhook(ctx context.Context, w Webhook) error
	Webhooks(ctx context.Context) ([]Webhook, error) // not deleted
	DeleteWebhook(ctx context.Context, id string, at time.Time) error
	// ChangesAfter lists changes of every customer after the cursor, in
	// order.
	ChangesAfter(ctx context.Context, cursor string, limit int) ([]Change, error)
	// AckWebhook advances the cursor after a delivery; FailWebhook records
	// a failed attempt and when to retry.
	AckWebhook(ctx context.Context, id, cursor string) error
	FailWebhook(ctx context.Context, id string, attempts int64, next time.Time, lastError string, failingSince time.Time) error
}
