package fiveid

import (
	"time"

	"fiveid/match"
)

// SystemKind is the business a source system serves.
type SystemKind string

const (
	KindMedical   SystemKind = "medical"
	KindEldercare SystemKind = "eldercare"
	KindFuneral   SystemKind = "funeral"
	KindOther     SystemKind = "other"
)

// Valid reports a known kind.
func (k SystemKind) Valid() bool {
	switch k {
	case KindMedical, KindEldercare, KindFuneral, KindOther:
		return true
	}
	return false
}

// System is a registered source system (a hospital HIS, an elder-care
// home's resident system, a funeral service...).
type System struct {
	Code string // stable short code, e.g. "hosp-a"
	Name string
	Kind SystemKind
	// IDTable is the ID-type code table the system's id_type values come
	// from; the same code means different things in different tables.
	IDTable   match.IDTable
	CreatedAt time.Time
}

// Role of an API key.
type Role string

const (
	RoleSystem  Role = "system"  // a source system: register, identify, xref
	RoleAuditor Role = "auditor" // reads the grant log
	RoleAdmin   Role = "admin"   // manages systems, keys, customers
)

// Valid reports a known role.
func (r Role) Valid() bool { return r == RoleSystem || r == RoleAuditor || r == RoleAdmin }

// APIKey is a stored key. Only the SHA-256 of the secret is kept: keys are
// 256-bit random, so a plain hash is not brute-forceable.
type APIKey struct {
	ID        string
	Hash      []byte
	Role      Role
	System    string // the bound system code when Role is RoleSystem
	Name      string
	CreatedAt time.Time
	RevokedAt time.Time // zero while active
}

// Active reports a key that has not been revoked.
func (k APIKey) Active() bool { return k.RevokedAt.IsZero() }

// Principal is the authenticated caller of a use case.
type Principal struct {
	KeyID  string
	Role   Role
	System string
}

// CustomerStatus of a golden record.
type CustomerStatus string

const (
	StatusActive CustomerStatus = "active"
	StatusMerged CustomerStatus = "merged" // redirects to MergedInto forever
)

// Customer is a golden record: one real person with a stable enterprise ID.
// Its element values are the survivors among its linked source records, in
// normalized form.
type Customer struct {
	ID         string
	Status     CustomerStatus
	MergedInto string
	Name       string // display form
	Sex        string // "male", "female" or ""
	BirthDate  string // YYYY-MM-DD, YYYY-MM, YYYY or ""
	IDType     string // internal enum (match.IDType)
	IDNumber   string // canonical number
	// DeathDate is set when a funeral system or an admin recorded a death
	// (YYYY-MM-DD, or coarser); DeathSource says who.
	DeathDate   string
	DeathSource string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Deceased reports a recorded death.
func (c Customer) Deceased() bool { return c.DeathDate != "" }

// ChangeKind is what happened to a customer.
type ChangeKind string

const (
	ChangeCreated       ChangeKind = "created"
	ChangeLinked        ChangeKind = "linked"
	ChangeUnlinked      ChangeKind = "unlinked"
	ChangeMerged        ChangeKind = "merged"
	ChangeUnmerged      ChangeKind = "unmerged"
	ChangeEdited        ChangeKind = "edited"
	ChangeDeathRecorded ChangeKind = "death_recorded"
)

// Change is one entry of a customer's history, written in the transaction
// that made the change. Before and After are JSON snapshots.
type Change struct {
	ID         string
	CustomerID string
	At         time.Time
	Kind       ChangeKind
	Actor      string // key ID
	System     string // the source record concerned, when any
	LocalID    string
	Before     string
	After      string
	Detail     string
}

// Link is how a source record came to belong to its customer.
type Link struct {
	Grade  match.Grade
	Score  float64
	Manual bool // a steward's decision: automatic matching never overrides it
	// Merge is the merge that moved the record to its customer, while that
	// still stands: unmerging it returns exactly these records. Any later
	// move (a steward's link, another merge) replaces it.
	Merge       string
	Explanation match.Explanation
}

// SourceRecord is one system's record of a person, under its local ID, as
// received (Raw) plus the keys fiveid derived from it.
type SourceRecord struct {
	System     string
	LocalID    string
	CustomerID string
	Raw        match.Input
	IDTable    match.IDTable
	NameKey    string // match.Name.Key: term-frequency statistics are counted on it
	IDKey      string // match.Identifier.Key
	Link       Link
	Version    int64
	CreatedAt  time.Time
	UpdatedAt  time.Time

	// Features is match.EncodeFeatures of Raw normalized with IDTable and
	// no date bound: what comparison reads, so that a candidate need not
	// be normalized again (recordOf). "" when not computed; a writer that
	// changes Raw must set it again (recordFeatures) or clear it.
	Features string
}

// ReviewStatus of a review task.
type ReviewStatus string

const (
	ReviewOpen     ReviewStatus = "open"
	ReviewResolved ReviewStatus = "resolved"
)

// ReviewTask asks a data steward whether two customers are one person.
type ReviewTask struct {
	ID          string
	Status      ReviewStatus
	Reason      string // "possible_match" (from register) or "duplicate_scan"
	CustomerID  string // the customer the task is about (e.g. newly created)
	CandidateID string // the customer it may duplicate
	System      string // the source record that raised it, when any
	LocalID     string
	Score       float64
	Explanation match.Explanation
	Resolution  string
	ResolvedBy  string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Merge is a committed merge of one customer into another, with the exact
// state before it (Snapshot, JSON) for unmerge.
type Merge struct {
	ID       string
	From     string
	Into     string
	At       time.Time
	Actor    string
	Snapshot string
	// Override is set when the merge joined customers whose records hold
	// conflicting identifiers, on an admin's explicit override; Reason is
	// the admin's reason (required with an override, optional otherwise).
	Override bool
	Reason   string
	UndoneAt time.Time
	UndoneBy string
}

// Webhook receives every customer change, HMAC-signed, in order, at least
// once. Cursor is the last change delivered; a failing delivery is retried
// with backoff and blocks the ones after it (order per customer holds).
type Webhook struct {
	ID           string
	URL          string
	Secret       []byte
	CreatedAt    time.Time
	DeletedAt    time.Time
	Cursor       string
	Delivered    int64
	Attempts     int64
	NextAttempt  time.Time
	LastError    string // why the last delivery failed: a reason and a status, never text (see LastFailure)
	FailingSince time.Time
}
