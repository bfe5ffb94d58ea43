package api

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
)

// JWK is an Ed25519 public key (RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func (h *handlers) jwks(c echo.Context) error {
	keys, err := h.svc.PublicKeys(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Keys []JWK `json:"keys"`
	}{Keys: []JWK{}}
	for _, k := range keys {
		pub := k.Private.Public().(ed25519.PublicKey)
		out.Keys = append(out.Keys, JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: k.ID, Alg: "EdDSA", Use: "sig"})
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, out)
}

// PolicyWire is a grant policy.
type PolicyWire struct {
	ID            string    `json:"id,omitempty"`
	Grantee       string    `json:"grantee"`
	Scopes        []string  `json:"scopes"`
	Purposes      []string  `json:"purposes"`
	MaxTTLSeconds int64     `json:"max_ttl_seconds,omitempty"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
}

func policyWire(p fiveid.Policy) PolicyWire {
	return PolicyWire{ID: p.ID, Grantee: p.Grantee, Scopes: nonNil(p.Scopes), Purposes: nonNil(p.Purposes),
		MaxTTLSeconds: int64(p.MaxTTL / time.Second), CreatedAt: p.CreatedAt}
}

func (h *handlers) createPolicy(c echo.Context) error {
	var req PolicyWire
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	p, err := h.svc.CreatePolicy(c.Request().Context(), principal(c), fiveid.Policy{
		Grantee: req.Grantee, Scopes: req.Scopes, Purposes: req.Purposes, MaxTTL: time.Duration(req.MaxTTLSeconds) * time.Second})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, policyWire(p))
}

func (h *handlers) listPolicies(c echo.Context) error {
	ps, err := h.svc.ListPolicies(c.Request().Context(), principal(c), c.QueryParam("grantee"))
	if err != nil {
		return err
	}
	out := []PolicyWire{}
	for _, p := range ps {
		out = append(out, policyWire(p))
	}
	return c.JSON(http.StatusOK, map[string]any{"policies": out})
}

func (h *handlers) deletePolicy(c echo.Context) error {
	if err := h.svc.DeletePolicy(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// HolderWire says that a system holds data of scopes.
type HolderWire struct {
	ID        string    `json:"id,omitempty"`
	System    string    `json:"system"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func holderWire(h fiveid.Holder) HolderWire {
	return HolderWire{ID: h.ID, System: h.System, Scopes: nonNil(h.Scopes), CreatedAt: h.CreatedAt}
}

func (h *handlers) createHolder(c echo.Context) error {
	var req HolderWire
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	hl, err := h.svc.CreateHolder(c.Request().Context(), principal(c), fiveid.Holder{System: req.System, Scopes: req.Scopes})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, holderWire(hl))
}

func (h *handlers) listHolders(c echo.Context) error {
	hs, err := h.svc.ListHolders(c.Request().Context(), principal(c), c.QueryParam("system"))
	if err != nil {
		return err
	}
	out := []HolderWire{}
	for _, hl := range hs {
		out = append(out, holderWire(hl))
	}
	return c.JSON(http.StatusOK, map[string]any{"holders": out})
}

func (h *handlers) deleteHolder(c echo.Context) error {
	if err := h.svc.DeleteHolder(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h *handlers) listGrants(c echo.Context) error {
	limit, err := intParam(c, "limit", 100)
	if err != nil {
		return err
	}
	gs, next, err := h.svc.ListGrants(c.Request().Context(), principal(c), fiveid.GrantFilter{
		CustomerID: c.QueryParam("customer_id"), Grantee: c.QueryParam("grantee"), Status: c.QueryParam("status"),
		AfterID: c.QueryParam("cursor"), Limit: int(min(limit, math.MaxInt32))})
	if err != nil {
		return err
	}
	now := h.now()
	out := struct {
		Grants     []GrantWire `json:"grants"`
		NextCursor string      `json:"next_cursor,omitempty"`
	}{Grants: []GrantWire{}, NextCursor: next}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantWire(g, "", now))
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) revokeGrant(c echo.Context) error {
	if err := h.svc.RevokeGrant(c.Request().Context(), principal(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// IntrospectRequest asks whether a token is active (RFC 7662 section 2.1,
// as JSON).
type IntrospectRequest struct {
	Token string `json:"token"`
	// Presenter is accepted and ignored. It once named the system that
	// presented the token, taken on trust; now the caller is the
	// authenticated key, and a data holder compares client_id with the
	// presenter it authenticated itself.
	Presenter string `json:"presenter,omitempty"`
}

// IntrospectResponse is RFC 7662's answer (section 2.2) with fiveid's own
// fields. An inactive token, or one the caller may not learn about, is
// exactly {"active":false}: every other field is omitted when empty.
type IntrospectResponse struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"` // space-separated
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       int64  `json:"exp,omitempty"` // seconds since the epoch
	Iat       int64  `json:"iat,omitempty"`
	Nbf       int64  `json:"nbf,omitempty"`
	Sub       string `json:"sub,omitempty"` // the customer (the survivor when merged)
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	// fiveid's fields.
	GrantID    string   `json:"grant_id,omitempty"`
	Purpose    string   `json:"purpose,omitempty"`
	Grade      string   `json:"grade,omitempty"`
	MergedFrom []string `json:"merged_from,omitempty"`
}

func introspectWire(in fiveid.Introspection) IntrospectResponse {
	if !in.Active {
		return IntrospectResponse{}
	}
	return IntrospectResponse{Active: true, Scope: strings.Join(in.Scopes, " "), ClientID: in.Grantee, TokenType: fiveid.TokenType,
		Exp: in.ExpiresAt.Unix(), Iat: in.IssuedAt.Unix(), Nbf: in.IssuedAt.Unix(), Sub: in.CustomerID,
		Aud: fiveid.TokenAudience, Iss: fiveid.TokenIssuer, Jti: in.GrantID,
		GrantID: in.GrantID, Purpose: in.Purpose, Grade: in.Grade, MergedFrom: in.MergedFrom}
}

func (h *handlers) introspect(c echo.Context) error {
	var req IntrospectRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	in, err := h.svc.Introspect(c.Request().Context(), principal(c), req.Token)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, introspectWire(in))
}

// AuditEventWire is one grant log entry.
type AuditEventWire struct {
	Seq         int64     `json:"seq"`
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Action      string    `json:"action"`
	ActorKey    string    `json:"actor_key"`
	ActorSystem string    `json:"actor_system"`
	CustomerID  string    `json:"customer_id"`
	GrantID     string    `json:"grant_id"`
	Grade       string    `json:"grade"`
	Score       float64   `json:"score"`
	Purpose     string    `json:"purpose"`
	Scopes      []string  `json:"scopes"`
	RequestID   string    `json:"request_id"`
	Subject     string    `json:"subject"`
	IDMasked    string    `json:"id_masked"`
	Detail      string    `json:"detail"`
	PrevHash    string    `json:"prev_hash"`
	Hash        string    `json:"hash"`
}

func auditWire(e fiveid.AuditEvent) AuditEventWire {
	return AuditEventWire{Seq: e.Seq, ID: e.ID, Time: e.Time, Action: e.Action, ActorKey: e.ActorKey, ActorSystem: e.ActorSystem,
		CustomerID: e.CustomerID, GrantID: e.GrantID, Grade: e.Grade, Score: e.Score, Purpose: e.Purpose, Scopes: nonNil(e.Scopes),
		RequestID: e.RequestID, Subject: e.Subject, IDMasked: e.IDMasked, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

var auditCSVHeader = []string{"seq", "id", "time", "action", "actor_key", "actor_system", "customer_id", "grant_id", "grade",
	"score", "purpose", "scopes", "request_id", "subject", "id_masked", "detail", "prev_hash", "hash"}

// csvRow is one CSV row: the numbers fiveid formats itself (seq, score)
// as they are, every text cell through csvText.
func (e AuditEventWire) csvRow() []string {
	t := csvText
	return []string{strconv.FormatInt(e.Seq, 10), t(e.ID), t(e.Time.Format(time.RFC3339Nano)), t(e.Action), t(e.ActorKey),
		t(e.ActorSystem), t(e.CustomerID), t(e.GrantID), t(e.Grade), strconv.FormatFloat(e.Score, 'f', -1, 64), t(e.Purpose),
		t(strings.Join(e.Scopes, " ")), t(e.RequestID), t(e.Subject), t(e.IDMasked), t(e.Detail), t(e.PrevHash), t(e.Hash)}
}

// csvText neutralizes a text cell a spreadsheet would run as a formula
// (CSV injection): one starting with =, +, -, @, tab or carriage return
// gets a leading single quote, as OWASP recommends. Only the CSV export
// does this; NDJSON carries the values as they are.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func intParam(c echo.Context, name string, def int64) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(name, name+" must be a non-negative integer")
	}
	return n, nil
}

func timeParam(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badRequest(name, name+" must be an RFC 3339 time such as 2026-11-22T08:00:00Z")
	}
	return t, nil
}

// auditEvents pages through the grant log as JSON (cursor = the last seq),
// or streams every matching entry as CSV or NDJSON (format=csv|ndjson).
func (h *handlers) auditEvents(c echo.Context) error {
	after, err := intParam(c, "cursor", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 100)
	if err != nil {
		return err
	}
	from, err := timeParam(c, "from")
	if err != nil {
		return err
	}
	to, err := timeParam(c, "to")
	if err != nil {
		return err
	}
	f := fiveid.AuditFilter{CustomerID: c.QueryParam("customer_id"), System: c.QueryParam("system"), Action: c.QueryParam("action"),
		From: from, To: to, AfterSeq: after, Limit: int(min(limit, math.MaxInt32))}
	ctx := c.Request().Context()
	p := principal(c)
	format := c.QueryParam("format")
	switch format {
	case "", "json":
		evs, next, err := h.svc.AuditEvents(ctx, p, f)
		if err != nil {
			return err
		}
		out := struct {
			Events     []AuditEventWire `json:"events"`
			NextCursor string           `json:"next_cursor,omitempty"`
		}{Events: []AuditEventWire{}, NextCursor: next}
		for _, e := range evs {
			out.Events = append(out.Events, auditWire(e))
		}
		return c.JSON(http.StatusOK, out)
	case "csv", "ndjson":
	default:
		return badRequest("format", "format must be json, csv or ndjson")
	}
	return ExportAudit(c, h.svc, p, f, format, h.log)
}

// ExportAudit streams the grant log entries f selects as CSV or NDJSON
// (format), every page of them: the REST API's export and the console's.
func ExportAudit(c echo.Context, svc *fiveid.Service, p fiveid.Principal, f fiveid.AuditFilter, format string, log *slog.Logger) error {
	ctx := c.Request().Context()
	// Streams: fetch the first page before writing anything, so that a
	// role or store error is still a proper error response.
	f.Limit = fiveid.MaxAuditPage
	page, next, err := svc.AuditEvents(ctx, p, f)
	if err != nil {
		return err
	}
	w := c.Response()
	if format == "csv" {
		w.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="fiveid-grant-log.csv"`)
	} else {
		w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
	}
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == "csv" {
		cw.Write(auditCSVHeader)
	}
	for len(page) > 0 {
		for _, e := range page {
			we := auditWire(e)
			if format == "csv" {
				cw.Write(we.csvRow())
			} else if err := enc.Encode(we); err != nil {
				return nil // the client went away
			}
		}
		cw.Flush()
		w.Flush()
		if next == "" {
			break
		}
		f.AfterSeq = page[len(page)-1].Seq
		if page, next, err = svc.AuditEvents(ctx, p, f); err != nil {
			log.Error("audit export interrupted", "error", err.Error())
			return nil
		}
	}
	return nil
}

func (h *handlers) auditVerify(c echo.Context) error {
	res, err := h.svc.VerifyAudit(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := map[string]any{"ok": res.OK, "entries": res.Entries, "head": res.Head}
	if !res.OK {
		out["first_broken"], out["reason"] = res.FirstBroken, res.Reason
	}
	return c.JSON(http.StatusOK, out)
}
