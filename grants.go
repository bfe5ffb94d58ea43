package fiveid

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"fiveid/match"
)

// ErrPolicyDenied: no policy lets the caller receive these scopes for this
// purpose (HTTP 403 policy_denied). Nothing is granted; the denial is logged.
var ErrPolicyDenied = errors.New("policy denied")

// Token claims. Data holders verify offline: signature against the JWKS,
// iss, aud, exp, and that the presenter is the grantee.
const (
	TokenIssuer   = "fiveid"
	TokenAudience = "fiveid:data-holders"
)

// GrantRequest asks identify for a grant.
type GrantRequest struct {
	Scopes  []string
	Purpose string
	TTL     time.Duration // 0 = the policy's maximum
	// ID, when set, is the grant's ID, reserved by an idempotent request
	// (see idempotency.go) so that none of its runs mints a second grant:
	// when a grant with this ID exists, an earlier run minted it, and it is
	// answered again instead of a new one. Other callers leave it empty.
	ID string
}

// IssuedGrant is a grant with its signed token.
type IssuedGrant struct {
	Grant
	Token string
}

// GrantClaims are a grant token's JWT claims.
type GrantClaims struct {
	jwt.RegisteredClaims
	Grantee string `json:"grantee"`
	Scope   string `json:"scope"` // space-separated, as in OAuth 2.0
	Purpose string `json:"purpose"`
	Grade   string `json:"grade,omitempty"`
}

var wordRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// requestIDKey carries the HTTP request ID into the grant log.
type requestIDKey struct{}

// MaxRequestIDLength bounds a request ID: it is kept in the grant log for
// good.
const MaxRequestIDLength = 64

// ValidRequestID reports whether id may serve as a request ID: 1 to
// MaxRequestIDLength characters of [A-Za-z0-9._:-]. A client's ID is input
// like any other, and it is logged, echoed in a header and stored in the
// hash-chained grant log forever: an adapter takes one only when it is
// short and plain, and makes its own otherwise.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// WithRequestID returns ctx carrying the request ID of the call, when it is
// a ValidRequestID; any other is dropped, so the grant log never stores an
// unchecked one.
func WithRequestID(ctx context.Context, id string) context.Context {
	if !ValidRequestID(id) {
		return ctx
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// ---- signing keys ----

type signingKeys struct {
	mu       sync.Mutex
	keys     []SigningKey // newest first
	loadedAt time.Time
}

func (s *Service) loadSigningKeys(ctx context.Context, force bool) ([]SigningKey, error) {
	s.sk.mu.Lock()
	defer s.sk.mu.Unlock()
	if !force && len(s.sk.keys) > 0 && s.now().Sub(s.sk.loadedAt) < 30*time.Second {
		return s.sk.keys, nil
	}
	keys, err := s.grants.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	s.sk.keys, s.sk.loadedAt = keys, s.now()
	return keys, nil
}

// ensureSigningKey creates the first signing key of an empty store.
func (s *Service) ensureSigningKey(ctx context.Context) error {
	keys, err := s.loadSigningKeys(ctx, true)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			return nil
		}
	}
	_, err = s.newSigningKey(ctx, "")
	return err
}

func (s *Service) newSigningKey(ctx context.Context, retire string) (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	now := s.changeTime()
	k := SigningKey{ID: newID("sk_"), Private: priv, CreatedAt: now}
	err = s.grants.UpdateGrants(ctx, func(tx GrantTx) error {
		if err := tx.InsertSigningKey(ctx, k); err != nil {
			return err
		}
		if retire != "" {
			return tx.RetireSigningKey(ctx, retire, now)
		}
		return nil
	})
	if err != nil {
		return SigningKey{}, err
	}
	_, err = s.loadSigningKeys(ctx, true)
	return k, err
}

func (s *Service) activeSigningKey(ctx context.Context) (SigningKey, error) {
	keys, err := s.loadSigningKeys(ctx, false)
	if err != nil {
		return SigningKey{}, err
	}
	for _, k := range keys {
		if k.RetiredAt.IsZero() {
			return k, nil
		}
	}
	return SigningKey{}, fmt.Errorf("no active signing key: %w", ErrUnavailable)
}

// RotateSigningKey makes a new signing key active and retires the current
// one, which stays published until every token it signed has expired.
func (s *Service) RotateSigningKey(ctx context.Context, p Principal) (SigningKey, error) {
	if err := require(p, RoleAdmin); err != nil {
		return SigningKey{}, err
	}
	old, err := s.activeSigningKey(ctx)
	if err != nil && !errors.Is(err, ErrUnavailable) {
		return SigningKey{}, err
	}
	k, err := s.newSigningKey(ctx, old.ID)
	if err != nil {
		return SigningKey{}, fmt.Errorf("rotate signing key: %w", err)
	}
	s.audit(ctx, AuditEvent{Action: ActionSigningKeyRotated, ActorKey: p.KeyID, ActorSystem: p.System, Detail: k.ID})
	return k, nil
}

// PublicKeys returns the keys data holders verify tokens with: the active
// one and those retired less than MaxGrantTTL ago.
func (s *Service) PublicKeys(ctx context.Context) ([]SigningKey, error) {
	keys, err := s.loadSigningKeys(ctx, false)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []SigningKey
	for _, k := range keys {
		if k.RetiredAt.IsZero() || now.Sub(k.RetiredAt) < MaxGrantTTL {
			out = append(out, k)
		}
	}
	return out, nil
}

// ---- policies ----

func normalizeWords(field string, in []string) ([]string, error) {
	var out []string
	for _, w := range in {
		w = strings.ToLower(strings.TrimSpace(w))
		if !wordRE.MatchString(w) {
			return nil, invalid(field, "invalid_"+strings.TrimSuffix(field, "s"), field+" are lower-case words of letters, digits, - and _")
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out, nil
}

// CreatePolicy lets a grantee system receive scopes for purposes (admin).
func (s *Service) CreatePolicy(ctx context.Context, p Principal, pol Policy) (Policy, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Policy{}, err
	}
	var err error
	if pol.Scopes, err = normalizeWords("scopes", pol.Scopes); err != nil {
		return Policy{}, err
	}
	if len(pol.Scopes) == 0 {
		return Policy{}, invalid("scopes", "required", "a policy names at least one scope")
	}
	if pol.Purposes, err = normalizeWords("purposes", pol.Purposes); err != nil {
		return Policy{}, err
	}
	if len(pol.Purposes) == 0 {
		return Policy{}, invalid("purposes", "required", "a policy names at least one purpose")
	}
	if pol.MaxTTL == 0 {
		pol.MaxTTL = time.Hour
	}
	if pol.MaxTTL < time.Minute || pol.MaxTTL > MaxGrantTTL {
		return Policy{}, invalid("max_ttl_seconds", "out_of_range", "max_ttl_seconds must be between 60 and 86400")
	}
	if _, err := s.store.System(ctx, pol.Grantee); errors.Is(err, ErrNotFound) {
		return Policy{}, invalid("grantee", "unknown_system", "no registered system has this code")
	} else if err != nil {
		return Policy{}, err
	}
	pol.ID = newID("pol_")
	pol.CreatedAt = s.changeTime()
	pol.CreatedBy = p.KeyID
	if err := s.grants.UpdateGrants(ctx, func(tx GrantTx) error { return tx.CreatePolicy(ctx, pol) }); err != nil {
		return Policy{}, fmt.Errorf("create policy: %w", err)
	}
	s.policies.forget(pol.Grantee)
	s.audit(ctx, AuditEvent{Action: ActionPolicyCreated, ActorKey: p.KeyID, ActorSystem: pol.Grantee,
		Scopes: pol.Scopes, Purpose: strings.Join(pol.Purposes, " "), Detail: pol.ID})
	return pol, nil
}

// ListPolicies lists policies in force (admin, auditor).
func (s *Service) ListPolicies(ctx context.Context, p Principal, grantee string) ([]Policy, error) {
	if err := require(p, RoleAdmin, RoleAuditor); err != nil {
		return nil, err
	}
	return s.grants.Policies(ctx, grantee)
}

// DeletePolicy ends a policy (admin). Grants already issued stay until they
// expire or are revoked.
func (s *Service) DeletePolicy(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	pol, err := s.grants.Policy(ctx, id)
	if err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	now := s.changeTime()
	err = s.grants.UpdateGrants(ctx, func(tx GrantTx) error {
		return tx.DeletePolicy(ctx, id, now)
	})
	if err != nil {
		return fmt.Errorf("delete policy: %w", err)
	}
	s.policies.forget(pol.Grantee)
	s.audit(ctx, AuditEvent{Action: ActionPolicyDeleted, ActorKey: p.KeyID, ActorSystem: pol.Grantee, Detail: id})
	return nil
}

// allow finds the policy letting grantee receive scopes for purpose and
// returns the lifetime it allows (the longest among matching policies).
func (s *Service) allow(ctx context.Context, grantee string, scopes []string, purpose string) (time.Duration, bool, error) {
	// Policies are memoized for a few seconds; creating or deleting one
	// here forgets the grantee's entry at once (other instances within
	// the memo's lifetime).
	pols, err := s.policies.get(ctx, grantee, s.now(), func(ctx context.Context) ([]Policy, error) {
		return s.grants.Policies(ctx, grantee)
	})
	if err != nil {
		return 0, false, err
	}
	var best time.Duration
	for _, pol := range pols {
		if !slices.Contains(pol.Purposes, purpose) {
			continue
		}
		ok := true
		for _, sc := range scopes {
			if !slices.Contains(pol.Scopes, sc) {
				ok = false
				break
			}
		}
		if ok && pol.MaxTTL > best {
			best = pol.MaxTTL
		}
	}
	return best, best > 0, nil
}

// ---- holders ----

// CreateHolder records that a system holds data of scopes (admin): it may
// then learn, by introspection, about the grants of those scopes that
// grantees present to it.
func (s *Service) CreateHolder(ctx context.Context, p Principal, h Holder) (Holder, error) {
	if err := require(p, RoleAdmin); err != nil {
		return Holder{}, err
	}
	var err error
	if h.Scopes, err = normalizeWords("scopes", h.Scopes); err != nil {
		return Holder{}, err
	}
	if len(h.Scopes) == 0 {
		return Holder{}, invalid("scopes", "required", "a holder holds data of at least one scope")
	}
	if _, err := s.store.System(ctx, h.System); errors.Is(err, ErrNotFound) {
		return Holder{}, invalid("system", "unknown_system", "no registered system has this code")
	} else if err != nil {
		return Holder{}, err
	}
	h.ID = newID("hol_")
	h.CreatedAt = s.changeTime()
	h.CreatedBy = p.KeyID
	if err := s.grants.UpdateGrants(ctx, func(tx GrantTx) error { return tx.CreateHolder(ctx, h) }); err != nil {
		return Holder{}, fmt.Errorf("create holder: %w", err)
	}
	s.holders.forget(h.System)
	s.audit(ctx, AuditEvent{Action: ActionHolderCreated, ActorKey: p.KeyID, ActorSystem: h.System, Scopes: h.Scopes, Detail: h.ID})
	return h, nil
}

// ListHolders lists holders in force, of one system or all ("") (admin,
// auditor).
func (s *Service) ListHolders(ctx context.Context, p Principal, system string) ([]Holder, error) {
	if err := require(p, RoleAdmin, RoleAuditor); err != nil {
		return nil, err
	}
	return s.grants.Holders(ctx, system)
}

// DeleteHolder ends a holder (admin): its system no longer learns about
// grants of those scopes (unless another holder or its own grants say so).
func (s *Service) DeleteHolder(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleAdmin); err != nil {
		return err
	}
	h, err := s.grants.Holder(ctx, id)
	if err != nil {
		return fmt.Errorf("delete holder: %w", err)
	}
	now := s.changeTime()
	err = s.grants.UpdateGrants(ctx, func(tx GrantTx) error {
		return tx.DeleteHolder(ctx, id, now)
	})
	if err != nil {
		return fmt.Errorf("delete holder: %w", err)
	}
	s.holders.forget(h.System)
	s.audit(ctx, AuditEvent{Action: ActionHolderDeleted, ActorKey: p.KeyID, ActorSystem: h.System, Scopes: h.Scopes, Detail: id})
	return nil
}

// ---- the grant log ----

// audit writes an entry that no caller waits on the content of (policy
// changes, key rotation); failures are logged. Grants never use it: they
// wait for their entry in IdentifyAndGrant.
func (s *Service) audit(ctx context.Context, ev AuditEvent) {
	if err := s.appendAudit(ctx, ev, nil); err != nil {
		s.log.LogAttrs(ctx, slogWarn, "grant log append failed", attr("action", ev.Action), attr("error", err.Error()))
	}
}

func (s *Service) appendAudit(ctx context.Context, ev AuditEvent, g *Grant) error {
	return s.auditw.append(ctx, s.stamp(ctx, ev), g)
}

// appendAudits writes many entries durably, in one or a few group commits,
// and waits for all of them.
func (s *Service) appendAudits(ctx context.Context, evs []AuditEvent) error {
	for i := range evs {
		evs[i] = s.stamp(ctx, evs[i])
	}
	return s.auditw.appendAll(ctx, evs)
}

// stamp gives an entry its ID, time and request ID unless it has them.
func (s *Service) stamp(ctx context.Context, ev AuditEvent) AuditEvent {
	if ev.ID == "" {
		ev.ID = newID("ev_")
	}
	if ev.Time.IsZero() {
		ev.Time = s.changeTime()
	}
	if ev.RequestID == "" {
		ev.RequestID = requestID(ctx)
	}
	return ev
}

// ---- identify with grant ----

func (s *Service) checkGrantRequest(req *GrantRequest) error {
	var err error
	if req.Scopes, err = normalizeWords("scopes", req.Scopes); err != nil {
		return err
	}
	req.Purpose = strings.ToLower(strings.TrimSpace(req.Purpose))
	if len(req.Scopes) == 0 {
		if req.Purpose != "" || req.TTL != 0 {
			return invalid("scopes", "required", "purpose and ttl_seconds come with scopes")
		}
		return nil
	}
	if !wordRE.MatchString(req.Purpose) {
		return invalid("purpose", "required", "a grant needs a purpose: a lower-case word such as treatment")
	}
	if req.TTL < 0 || req.TTL > MaxGrantTTL {
		return invalid("ttl_seconds", "out_of_range", "ttl_seconds must be between 1 and 86400")
	}
	return nil
}

// IdentifyAndGrant identifies a person and, when req names scopes and a
// policy allows them, issues a signed grant to the caller's system. Every
// outcome is written to the grant log; a grant is returned only after its
// entry is durable.
func (s *Service) IdentifyAndGrant(ctx context.Context, p Principal, in match.Input, req GrantRequest) (IdentifyResult, error) {
	if err := require(p, RoleSystem); err != nil {
		return IdentifyResult{}, err
	}
	if err := s.checkGrantRequest(&req); err != nil {
		return IdentifyResult{}, err
	}
	res, rec, err := s.identify(ctx, p, in)
	if err != nil && !errors.Is(err, ErrNoMatch) && !errors.Is(err, ErrNeedsReview) {
		return res, err
	}
	ev := AuditEvent{
		ActorKey: p.KeyID, ActorSystem: p.System,
		Grade: string(res.Grade), Score: res.Score, Purpose: req.Purpose, Scopes: req.Scopes,
		Subject: s.derive("subject", canonical(rec)), IDMasked: match.MaskID(rec.ID.Number),
	}
	switch {
	case errors.Is(err, ErrNeedsReview):
		ev.Action = ActionIdentifyReview
	case errors.Is(err, ErrNoMatch):
		ev.Action = ActionIdentifyNoMatch
	}
	if err != nil {
		if aerr := s.appendAudit(ctx, ev, nil); aerr != nil {
			return IdentifyResult{}, fmt.Errorf("identify: grant log: %w", aerr)
		}
		return res, err
	}
	ev.CustomerID = res.CustomerID
	if len(req.Scopes) == 0 {
		ev.Action = ActionIdentifyMatched
		if err := s.appendAudit(ctx, ev, nil); err != nil {
			return IdentifyResult{}, fmt.Errorf("identify: grant log: %w", err)
		}
		return res, nil
	}
	if req.ID != "" {
		// An earlier run of this idempotent request may have minted the
		// grant. (A run that now finds nobody answers so, and that answer
		// is kept; the earlier grant stays in the log, its token unserved.)
		switch g, err := s.grants.Grant(ctx, req.ID); {
		case err == nil:
			return s.identifiedAgain(ctx, p, req, res, ev, g)
		case !errors.Is(err, ErrNotFound):
			return IdentifyResult{}, fmt.Errorf("identify: %w", err)
		}
	}
	maxTTL, ok, err := s.allow(ctx, p.System, req.Scopes, req.Purpose)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: policy: %w", err)
	}
	if !ok {
		ev.Action, ev.Detail = ActionGrantDenied, "policy_denied"
		if err := s.appendAudit(ctx, ev, nil); err != nil {
			return IdentifyResult{}, fmt.Errorf("identify: grant log: %w", err)
		}
		s.obs.GrantOutcome("denied")
		return IdentifyResult{Findings: res.Findings}, fmt.Errorf("system %s may not receive %s for %s: %w",
			p.System, strings.Join(req.Scopes, ","), req.Purpose, ErrPolicyDenied)
	}
	ttl := maxTTL
	if req.TTL > 0 && req.TTL < ttl {
		ttl = req.TTL
	}
	key, err := s.activeSigningKey(ctx)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: %w", err)
	}
	now := s.now().UTC().Truncate(time.Second)
	id := req.ID
	if id == "" {
		id = newID("gr_")
	}
	g := Grant{
		ID: id, CustomerID: res.CustomerID, Grantee: p.System, GranteeKey: p.KeyID,
		Scopes: req.Scopes, Purpose: req.Purpose, Grade: string(res.Grade), Score: res.Score,
		IssuedAt: now, ExpiresAt: now.Add(ttl), SigningKey: key.ID, RequestID: requestID(ctx),
	}
	token, err := signGrant(g, key)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: sign grant: %w", err)
	}
	ev.Action, ev.GrantID = ActionGrantIssued, g.ID
	if err := s.appendAudit(ctx, ev, &g); err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: grant log: %w", err)
	}
	s.obs.GrantOutcome("issued")
	res.Grant = &IssuedGrant{Grant: g, Token: token}
	return res, nil
}

// identifiedAgain answers an idempotent request's grant that an earlier
// run minted (and then failed, or its process died, before the answer was
// kept): the same grant and token, never a second grant. The identify
// itself ran again and is logged as identify.matched naming the grant.
func (s *Service) identifiedAgain(ctx context.Context, p Principal, req GrantRequest, res IdentifyResult, ev AuditEvent, g Grant) (IdentifyResult, error) {
	if g.GranteeKey != p.KeyID || g.Purpose != req.Purpose || !slices.Equal(g.Scopes, req.Scopes) {
		return IdentifyResult{}, fmt.Errorf("identify: grant %s belongs to another request: %w", g.ID, ErrConflict)
	}
	c, _, err := s.follow(ctx, g.CustomerID)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: %w", err)
	}
	if c.ID != res.CustomerID {
		return IdentifyResult{}, fmt.Errorf("identify: the grant an earlier attempt minted names another customer than this one found: %w", ErrConflict)
	}
	token, err := s.signAgain(ctx, g)
	if err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: %w", err)
	}
	ev.Action, ev.GrantID, ev.Detail = ActionIdentifyMatched, g.ID, "grant_recovered"
	if err := s.appendAudit(ctx, ev, nil); err != nil {
		return IdentifyResult{}, fmt.Errorf("identify: grant log: %w", err)
	}
	res.Grant = &IssuedGrant{Grant: g, Token: token}
	return res, nil
}

// GrantToken returns the token of a grant issued to the caller's key
// (system key), signed again: Ed25519 signatures are deterministic (RFC
// 8032), so it is the very token the grant was issued with. An idempotent
// replay serves the token this way; fiveid never stores one.
func (s *Service) GrantToken(ctx context.Context, p Principal, id string) (string, error) {
	if err := require(p, RoleSystem); err != nil {
		return "", err
	}
	g, err := s.grants.Grant(ctx, id)
	if err != nil {
		return "", fmt.Errorf("grant token: %w", err)
	}
	if g.GranteeKey != p.KeyID {
		// Do not confirm that another key's grant exists.
		return "", fmt.Errorf("grant token: %w", ErrNotFound)
	}
	token, err := s.signAgain(ctx, g)
	if err != nil {
		return "", fmt.Errorf("grant token: %w", err)
	}
	return token, nil
}

// signAgain signs a stored grant with the key that signed it (retired keys
// are kept).
func (s *Service) signAgain(ctx context.Context, g Grant) (string, error) {
	for _, force := range []bool{false, true} {
		keys, err := s.loadSigningKeys(ctx, force)
		if err != nil {
			return "", err
		}
		for _, k := range keys {
			if k.ID == g.SigningKey {
				return signGrant(g, k)
			}
		}
	}
	return "", fmt.Errorf("grant %s: its signing key %s is not in the store", g.ID, g.SigningKey)
}

// signGrant writes the grant's token: a JWS compact serialization (RFC
// 7515) of GrantClaims, signed with EdDSA, exactly what jwt/v5 would write
// for them (TestSignGrantAsJWT) — its header and the claims in the same
// JSON, the audience as a one-element array, times in whole seconds — but
// without its per-token header map and per-field marshalers, which cost a
// third as much as the signature itself on the identify-with-grant path.
// Tokens are verified with jwt/v5 (Introspect), so any difference would
// show there.
func signGrant(g Grant, k SigningKey) (string, error) {
	header, err := json.Marshal(jwsHeader{Alg: jwt.SigningMethodEdDSA.Alg(), Kid: k.ID, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	claims, err := json.Marshal(grantPayload{
		Issuer: TokenIssuer, Subject: g.CustomerID, Audience: []string{TokenAudience},
		ExpiresAt: g.ExpiresAt.Unix(), NotBefore: g.IssuedAt.Unix(), IssuedAt: g.IssuedAt.Unix(), ID: g.ID,
		Grantee: g.Grantee, Scope: strings.Join(g.Scopes, " "), Purpose: g.Purpose, Grade: g.Grade,
	})
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	hl, cl := enc.EncodedLen(len(header)), enc.EncodedLen(len(claims))
	buf := make([]byte, hl+1+cl+1+enc.EncodedLen(ed25519.SignatureSize))
	enc.Encode(buf, header)
	buf[hl] = '.'
	enc.Encode(buf[hl+1:], claims)
	signed := buf[:hl+1+cl]
	sig := ed25519.Sign(k.Private, signed)
	buf[len(signed)] = '.'
	enc.Encode(buf[len(signed)+1:], sig)
	return string(buf), nil
}

// jwsHeader is the JOSE header of a grant token, fields in the order
// jwt/v5 writes its header map (sorted keys).
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// grantPayload is GrantClaims flattened: RegisteredClaims' fields and tags
// in their order, NumericDates as the Unix seconds jwt/v5 writes at its
// default precision.
type grantPayload struct {
	Issuer    string   `json:"iss,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`
	Grantee   string   `json:"grantee"`
	Scope     string   `json:"scope"`
	Purpose   string   `json:"purpose"`
	Grade     string   `json:"grade,omitempty"`
}

// TokenType is the kind of token introspection describes (RFC 7662
// token_type): the grantee presents a grant token the way an OAuth 2.0
// bearer token is presented, and the data holder checks that the presenter
// is the grantee.
const TokenType = "Bearer"

// Introspection is what introspection tells a caller entitled to know about
// a token. An inactive one carries nothing but Active false, whatever the
// reason: the reason goes to the grant log, which only auditors read.
type Introspection struct {
	Active     bool
	GrantID    string
	CustomerID string // the surviving customer when the granted one was merged
	MergedFrom []string
	Grantee    string
	Scopes     []string
	Purpose    string
	Grade      string
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// Introspection outcomes written to the grant log (Detail) besides
// "active": why the caller was told the token is inactive.
const (
	introspectMalformed    = "malformed"
	introspectBadSignature = "bad_signature"
	introspectExpired      = "expired"
	introspectRevoked      = "revoked"
	introspectUnknownGrant = "unknown_grant"
	// The token is active, but the caller is neither an admin, nor the
	// grantee, nor a holder of one of its scopes.
	introspectNotEntitled = "not_entitled"
)

// Introspect checks a grant token for its caller (a system key or an admin).
// Only an admin, the grantee itself, or a system that holds data of one of
// the grant's scopes (a Holder) learns that it is active and what it grants;
// to anyone else an active token is inactive, exactly like a forged,
// expired or revoked one. Bad tokens are inactive, never errors.
//
// The caller is the authenticated principal and nothing else: what a caller
// says about who presented the token counts for nothing. A data holder that
// is presented a token checks that the presenter it authenticated is the
// grantee (Introspection.Grantee); the grant log records the holder's key
// as the one that used the token.
func (s *Service) Introspect(ctx context.Context, p Principal, token string) (Introspection, error) {
	if err := require(p, RoleSystem, RoleAdmin); err != nil {
		return Introspection{}, err
	}
	in, reason := s.introspect(ctx, token)
	if in.Active {
		ok, err := s.mayIntrospect(ctx, p, in)
		if err != nil {
			return Introspection{}, fmt.Errorf("introspect: %w", err)
		}
		if !ok {
			in.Active, reason = false, introspectNotEntitled
		}
	}
	ev := AuditEvent{Action: ActionGrantIntrospected, ActorKey: p.KeyID, ActorSystem: p.System,
		GrantID: in.GrantID, CustomerID: in.CustomerID, Purpose: in.Purpose, Scopes: in.Scopes, Grade: in.Grade, Detail: "active"}
	if !in.Active {
		ev.Detail = reason
	}
	if err := s.appendAudit(ctx, ev, nil); err != nil {
		return Introspection{}, fmt.Errorf("introspect: grant log: %w", err)
	}
	s.obs.GrantOutcome("introspected")
	if !in.Active { // say nothing about grants the caller cannot use
		return Introspection{}, nil
	}
	return in, nil
}

// mayIntrospect: an admin, the grantee, or a holder of one of the grant's
// scopes may learn about an active grant.
func (s *Service) mayIntrospect(ctx context.Context, p Principal, in Introspection) (bool, error) {
	switch {
	case p.Role == RoleAdmin:
		return true, nil
	case p.Role != RoleSystem || p.System == "":
		return false, nil
	case p.System == in.Grantee:
		return true, nil
	}
	// Holders are memoized like policies: creating or deleting one here
	// forgets the system's entry at once (other instances within the
	// memo's lifetime).
	hs, err := s.holders.get(ctx, p.System, s.now(), func(ctx context.Context) ([]Holder, error) {
		return s.grants.Holders(ctx, p.System)
	})
	if err != nil {
		return false, err
	}
	for _, h := range hs {
		for _, sc := range h.Scopes {
			if slices.Contains(in.Scopes, sc) {
				return true, nil
			}
		}
	}
	return false, nil
}

// introspect verifies a token and finds its grant. Inactive results name
// what the grant log may record about them (GrantID, CustomerID) and the
// reason.
func (s *Service) introspect(ctx context.Context, token string) (Introspection, string) {
	var claims GrantClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		keys, err := s.loadSigningKeys(ctx, false)
		if err != nil {
			return nil, err
		}
		for range 2 {
			for _, k := range keys {
				if k.ID == kid {
					return k.Private.Public(), nil
				}
			}
			if keys, err = s.loadSigningKeys(ctx, true); err != nil {
				return nil, err
			}
		}
		return nil, errors.New("unknown kid")
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Introspection{GrantID: claims.ID}, introspectExpired
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Introspection{}, introspectBadSignature
	case err != nil:
		return Introspection{}, introspectMalformed
	}
	g, err := s.grants.Grant(ctx, claims.ID)
	if err != nil {
		return Introspection{}, introspectUnknownGrant
	}
	if g.CustomerID != claims.Subject || g.Grantee != claims.Grantee {
		return Introspection{GrantID: g.ID}, introspectMalformed
	}
	switch g.Status(s.now()) {
	case "revoked":
		return Introspection{GrantID: g.ID, CustomerID: g.CustomerID}, introspectRevoked
	case "expired":
		return Introspection{GrantID: g.ID, CustomerID: g.CustomerID}, introspectExpired
	}
	out := Introspection{Active: true, GrantID: g.ID, CustomerID: g.CustomerID, Grantee: g.Grantee,
		Scopes: g.Scopes, Purpose: g.Purpose, Grade: g.Grade, IssuedAt: g.IssuedAt, ExpiresAt: g.ExpiresAt}
	if c, from, err := s.follow(ctx, g.CustomerID); err == nil {
		out.CustomerID, out.MergedFrom = c.ID, from
	}
	return out, ""
}

// RevokeGrant revokes a grant (admin, or the grantee system itself).
func (s *Service) RevokeGrant(ctx context.Context, p Principal, id string) error {
	if err := require(p, RoleAdmin, RoleSystem); err != nil {
		return err
	}
	g, err := s.grants.Grant(ctx, id)
	if err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	if p.Role == RoleSystem && p.System != g.Grantee {
		// Do not confirm that another system's grant exists.
		return fmt.Errorf("revoke grant: %w", ErrNotFound)
	}
	if !g.RevokedAt.IsZero() {
		return nil
	}
	now := s.changeTime()
	if err := s.grants.UpdateGrants(ctx, func(tx GrantTx) error { return tx.RevokeGrant(ctx, id, now, p.KeyID) }); err != nil {
		return fmt.Errorf("revoke grant: %w", err)
	}
	if err := s.appendAudit(ctx, AuditEvent{Action: ActionGrantRevoked, ActorKey: p.KeyID, ActorSystem: p.System,
		GrantID: g.ID, CustomerID: g.CustomerID, Purpose: g.Purpose, Scopes: g.Scopes}, nil); err != nil {
		return fmt.Errorf("revoke grant: grant log: %w", err)
	}
	s.obs.GrantOutcome("revoked")
	return nil
}

// Paging: a listing answers at most a page; its next cursor is set exactly
// when more items follow (one more is read to know), so a caller that
// follows cursors sees every item once. An absent limit is DefaultPage;
// one above the listing's maximum is the maximum, never the default.
const (
	DefaultPage  = 100
	MaxGrantPage = 1000
	MaxAuditPage = 5000
)

func pageLimit(asked, max int) int {
	if asked <= 0 {
		return DefaultPage
	}
	return min(asked, max)
}

// ListGrants lists grants by ascending ID after f.AfterID (admin,
// auditor); next is the cursor of the following page, "" after the last.
func (s *Service) ListGrants(ctx context.Context, p Principal, f GrantFilter) (gs []Grant, next string, err error) {
	if err := require(p, RoleAdmin, RoleAuditor); err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit, MaxGrantPage)
	f.Limit = limit + 1 // one more tells whether a next page exists
	gs, err = s.grants.ListGrants(ctx, f, s.now())
	if err != nil || len(gs) <= limit {
		return gs, "", err
	}
	gs = gs[:limit]
	return gs, gs[limit-1].ID, nil
}

// AuditEvents pages through the grant log by ascending seq after
// f.AfterSeq (auditor); next is the cursor of the following page, ""
// after the last.
func (s *Service) AuditEvents(ctx context.Context, p Principal, f AuditFilter) (evs []AuditEvent, next string, err error) {
	if err := require(p, RoleAuditor); err != nil {
		return nil, "", err
	}
	limit := pageLimit(f.Limit, MaxAuditPage)
	f.Limit = limit + 1 // one more tells whether a next page exists
	evs, err = s.grants.AuditEvents(ctx, f)
	if err != nil || len(evs) <= limit {
		return evs, "", err
	}
	evs = evs[:limit]
	return evs, strconv.FormatInt(evs[limit-1].Seq, 10), nil
}

// VerifyAudit checks the whole grant log's hash chain (auditor).
func (s *Service) VerifyAudit(ctx context.Context, p Principal) (VerifyResult, error) {
	if err := require(p, RoleAuditor, RoleAdmin); err != nil {
		return VerifyResult{}, err
	}
	return verifyAudit(ctx, s.grants)
}
