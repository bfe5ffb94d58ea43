package fiveid

import (
	"crypto/ed25519"
	"time"
)

// Scopes are data domains a grant opens. The set is extensible: any
// lower-case word of letters, digits, '-' or '_' is a scope; these are the
// ones the group runs today.
const (
	ScopeMedical   = "medical"
	ScopeEldercare = "eldercare"
	ScopeFuneral   = "funeral"
)

// MaxGrantTTL caps every grant's lifetime, whatever a policy says. Retired
// signing keys stay published this long after rotation.
const MaxGrantTTL = 24 * time.Hour

// Policy says which scopes a grantee system may receive, for which purposes,
// and for how long. No policy, no grant.
type Policy struct {
	ID        string
	Grantee   string // system code
	Scopes    []string
	Purposes  []string
	MaxTTL    time.Duration
	CreatedAt time.Time
	CreatedBy string    // key ID
	DeletedAt time.Time // zero while in force
}

// Holder says that a system holds data of some scopes: a data holder that
// grantees present their tokens to. Introspection shows a grant's details
// to a holder of one of its scopes (besides the grantee and admins); other
// systems learn nothing.
type Holder struct {
	ID        string
	System    string // system code
	Scopes    []string
	CreatedAt time.Time
	CreatedBy string    // key ID
	DeletedAt time.Time // zero while in force
}

// Grant is a cross-system access permission to one customer's data.
type Grant struct {
	ID         string
	CustomerID string
	Grantee    string // the system that asked
	GranteeKey string // the key it asked with (revoking the key can revoke its grants)
	Scopes     []string
	Purpose    string
	Grade      string
	Score      float64
	IssuedAt   time.Time
	ExpiresAt  time.Time
	RevokedAt  time.Time
	RevokedBy  string
	SigningKey string // kid of the key that signed its token
	RequestID  string
}

// Status of a grant at time now: active, revoked or expired.
func (g Grant) Status(now time.Time) string {
	switch {
	case !g.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(g.ExpiresAt):
		return "expired"
	}
	return "active"
}

// SigningKey is an Ed25519 key that signs grant tokens. The newest key not
// retired signs; retired keys stay published until their tokens expire.
type SigningKey struct {
	ID        string // JWT kid
	Private   ed25519.PrivateKey
	CreatedAt time.Time
	RetiredAt time.Time
}

// Audit actions.
const (
	ActionGrantIssued       = "grant.issued"
	ActionGrantDenied       = "grant.denied"
	ActionGrantIntrospected = "grant.introspected"
	ActionGrantRevoked      = "grant.revoked"
	ActionIdentifyMatched   = "identify.matched"
	ActionIdentifyNoMatch   = "identify.no_match"
	ActionIdentifyReview    = "identify.needs_review"
	ActionPolicyCreated     = "policy.created"
	ActionPolicyDeleted     = "policy.deleted"
	ActionHolderCreated     = "holder.created"
	ActionHolderDeleted     = "holder.deleted"
	ActionSigningKeyRotated = "signing_key.rotated"
	ActionIDRevealed        = "customer.id_revealed" // a steward saw an ID number in full (RevealIDNumber)
	ActionCustomerSearched  = "customer.searched"    // a steward searched the index by the five elements (SearchCustomers)
)

// AuditEvent is one entry of the append-only grant log. Hash chains it to
// the previous entry: SHA-256 over the previous hash and this entry's
// canonical form (see auditHash), so editing or deleting an entry breaks
// every hash after it. It holds no raw name, birth date or ID number:
// Subject is a keyed HMAC of the normalized identity asked about.
type AuditEvent struct {
	Seq         int64
	ID          string
	Time        time.Time
	Action      string
	ActorKey    string
	ActorSystem string
	CustomerID  string
	GrantID     string
	Grade       string
	Score       float64
	Purpose     string
	Scopes      []string
	RequestID   string
	Subject     string // keyed HMAC of the normalized five elements, or ""
	IDMasked    string // masked ID number, e.g. 110105********002X
	Detail      string // a reason code (policy_denied, token_expired...)
	PrevHash    string // hex
	Hash        string // hex
}

// AuditFilter selects audit events. AfterSeq is the cursor.
type AuditFilter struct {
	CustomerID string
	System     string
	Action     string
	From, To   time.Time // To exclusive; zero = open
	AfterSeq   int64
	Limit      int
}

// GrantFilter selects grants.
type GrantFilter struct {
	CustomerID string
	Grantee    string
	Status     string // active, revoked, expired or ""
	Limit      int
	AfterID    string // cursor: grants with a larger ID
}
