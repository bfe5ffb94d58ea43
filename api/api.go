package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"fiveid"
	"fiveid/match"
)

// Body limits: one record is small; a batch holds up to 1,000.
const (
	maxBody      = 1 << 20
	maxBatchBody = 16 << 20
)

// Config carries the adapter's dependencies.
type Config struct {
	Service  *fiveid.Service
	Logger   *slog.Logger
	Metrics  *Metrics
	Gatherer prometheus.Gatherer
	// Now is the clock for grant status in listings; nil means time.Now.
	Now func() time.Time
	// RateLimit is the requests per second each API key may send after a
	// burst of RateBurst; 0 means no limit (see rateLimiter).
	RateLimit float64
	RateBurst int
	// Mount adds other adapters' routes (api/fhir) to the same server; each
	// gets the guard every /v1 route has (see Mounter).
	Mount []Mounter
}

type handlers struct {
	svc     *fiveid.Service
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	limiter *rateLimiter // nil: no limit
}

// New returns the echo instance serving fiveid's API.
func New(cfg Config) (*echo.Echo, error) {
	if cfg.Service == nil || cfg.Metrics == nil || cfg.Gatherer == nil {
		return nil, errors.New("api: Service, Metrics and Gatherer are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateLimit < 0 || cfg.RateLimit > 0 && cfg.RateBurst < 1 {
		return nil, errors.New("api: RateLimit must be 0 (no limit) or positive with a positive RateBurst")
	}
	h := &handlers{svc: cfg.Service, log: cfg.Logger, now: cfg.Now, metrics: cfg.Metrics,
		limiter: newRateLimiter(cfg.RateLimit, cfg.RateBurst, time.Now)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(securityHeaders)
	e.Use(requestID)
	e.Use(cfg.Metrics.middleware)
	e.Use(h.accessLog)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			cfg.Logger.Error("panic", slog.String("route", c.Path()), slog.String("error", err.Error()))
			return errors.New("panic recovered")
		},
	}))

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", h.ready)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})))
	e.GET("/.well-known/jwks.json", h.jwks)

	// Auth is per route, not group middleware: a group middleware makes
	// echo route every unknown /v1 method to 404 instead of 405.
	v1 := authed{e.Group("/v1"), h.auth}
	v1.POST("/systems", h.createSystem)
	v1.GET("/systems", h.listSystems)
	v1.POST("/keys", h.createKey)
	v1.GET("/keys", h.listKeys)
	v1.DELETE("/keys/:id", h.revokeKey)
	v1.POST("/customers", h.register)
	v1.POST("/customers/batch", h.registerBatch)
	v1.GET("/customers/:id", h.customer)
	v1.POST("/identify", h.identify)
	v1.GET("/xref", h.xref)
	v1.POST("/normalize", h.normalize)
	v1.GET("/review-tasks", h.listReviewTasks)
	v1.GET("/review-tasks/:id", h.reviewTask)
	v1.POST("/review-tasks/:id/resolve", h.resolveReviewTask)
	v1.GET("/customers/:id/history", h.history)
	v1.POST("/customers/:id/death", h.recordDeath)
	v1.POST("/links", h.link)
	v1.POST("/unlink", h.unlink)
	v1.POST("/merges/preview", h.previewMerge)
	v1.POST("/merges", h.commitMerge)
	v1.POST("/merges/:id/unmerge", h.unmerge)
	v1.POST("/scans", h.scan)
	v1.POST("/webhooks", h.createWebhook)
	v1.GET("/webhooks", h.listWebhooks)
	v1.DELETE("/webhooks/:id", h.deleteWebhook)
	v1.POST("/policies", h.createPolicy)
	v1.GET("/policies", h.listPolicies)
	v1.DELETE("/policies/:id", h.deletePolicy)
	v1.POST("/holders", h.createHolder)
	v1.GET("/holders", h.listHolders)
	v1.DELETE("/holders/:id", h.deleteHolder)
	v1.GET("/grants", h.listGrants)
	v1.DELETE("/grants/:id", h.revokeGrant)
	v1.POST("/grants/introspect", h.introspect)
	v1.GET("/audit/events", h.auditEvents)
	v1.GET("/audit/verify", h.auditVerify)
	for _, m := range cfg.Mount {
		if err := m(e, h.guard); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// securityHeaders go on every response, errors included; they are set
// before the handler runs, so a handler may still override one (the JWKS,
// public keys only, lets verifiers cache it).
// Cache-Control: no-store keeps personal data and secrets (customers, keys,
// grant tokens, the grant log) out of shared and browser caches; the rest
// tell a browser that happens to load a response not to sniff, frame,
// refer or run anything (OWASP REST Security Cheat Sheet). HSTS belongs to
// the TLS terminator in front of fiveid.
func securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderCacheControl, "no-store")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		h.Set(echo.HeaderReferrerPolicy, "no-referrer")
		h.Set(echo.HeaderXFrameOptions, "DENY")
		h.Set(echo.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
		return next(c)
	}
}

// requestID takes the client's X-Request-Id only when it is short and
// plain (fiveid.ValidRequestID: it is logged, echoed and kept in the grant
// log forever) and makes a fresh one otherwise, then carries it in the
// response and the request's context.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !fiveid.ValidRequestID(id) {
			id = rand.Text()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(c.Request().WithContext(fiveid.WithRequestID(c.Request().Context(), id)))
		return next(c)
	}
}

type authed struct {
	g    *echo.Group
	auth echo.MiddlewareFunc
}

// Every /v1 route authenticates, then refuses parameters that are not
// text (textParams): a caller without a key learns nothing more.
func (a authed) GET(p string, h echo.HandlerFunc)    { a.g.GET(p, h, a.auth, textParams) }
func (a authed) POST(p string, h echo.HandlerFunc)   { a.g.POST(p, h, a.auth, textParams) }
func (a authed) DELETE(p string, h echo.HandlerFunc) { a.g.DELETE(p, h, a.auth, textParams) }

// observe runs a request and reports its route pattern, final status
// (the error's, when the handler returned one: the error handler writes
// the response later) and duration: one place for the access log and the
// metrics.
func observe(next echo.HandlerFunc, report func(c echo.Context, status int, d time.Duration)) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status = statusOf(err)
		}
		report(c, status, time.Since(start))
		return err
	}
}

// accessLog writes one line per request: route, status, duration, request
// ID, key — never bodies or query strings.
func (h *handlers) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return observe(next, func(c echo.Context, status int, d time.Duration) {
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method), slog.String("route", c.Path()), slog.Int("status", status),
			slog.Duration("duration", d), slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		}
		if p, ok := c.Get(principalKey).(fiveid.Principal); ok {
			attrs = append(attrs, slog.String("key_id", p.KeyID), slog.String("system", p.System))
		}
		h.log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
	})
}

const principalKey = "fiveid.principal"

func (h *handlers) auth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		authz := c.Request().Header.Get(echo.HeaderAuthorization)
		secret, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok {
			return fiveid.ErrUnauthenticated
		}
		p, err := h.svc.Authenticate(c.Request().Context(), strings.TrimSpace(secret))
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		if err := h.limit(c, p); err != nil {
			return err
		}
		return next(c)
	}
}

func principal(c echo.Context) fiveid.Principal {
	p, _ := c.Get(principalKey).(fiveid.Principal)
	return p
}

func (h *handlers) ready(c echo.Context) error {
	if err := h.svc.Ready(c.Request().Context()); err != nil {
		h.log.Warn("not ready", slog.String("error", err.Error()))
		return c.JSON(http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "not ready"})
	}
	cache := "ok"
	if err := h.svc.CacheReady(c.Request().Context()); err != nil {
		cache = "degraded" // answered from the store, slower: still ready
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready", "cache": cache})
}

// ---- systems and keys ----

func (h *handlers) createSystem(c echo.Context) error {
	var req SystemWire
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	s, err := h.svc.CreateSystem(c.Request().Context(), principal(c), fiveid.System{
		Code: req.Code, Name: req.Name, Kind: fiveid.SystemKind(req.Kind), IDTable: match.IDTable(req.IDTable)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, SystemWire{Code: s.Code, Name: s.Name, Kind: string(s.Kind), IDTable: string(s.IDTable), CreatedAt: s.CreatedAt})
}

func (h *handlers) listSystems(c echo.Context) error {
	ss, err := h.svc.ListSystems(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := []SystemWire{}
	for _, s := range ss {
		out = append(out, SystemWire{Code: s.Code, Name: s.Name, Kind: string(s.Kind), IDTable: string(s.IDTable), CreatedAt: s.CreatedAt})
	}
	return c.JSON(http.StatusOK, map[string]any{"systems": out})
}

func (h *handlers) createKey(c echo.Context) error {
	var req KeyRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	k, secret, err := h.svc.CreateKey(c.Request().Context(), principal(c), fiveid.Role(req.Role), req.System, req.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, keyWire(k, secret))
}

func (h *handlers) listKeys(c echo.Context) error {
	ks, err := h.svc.ListKeys(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := []KeyWire{}
	for _, k := range ks {
		out = append(out, keyWire(k, ""))
	}
	return c.JSON(http.StatusOK, map[string]any{"keys": out})
}

// revokeKey revokes a key: 204. With ?revoke_grants=true it also revokes
// the key's active grants and says how many: 200 {id, revoked_grants}.
func (h *handlers) revokeKey(c echo.Context) error {
	revokeGrants := false
	if v := c.QueryParam("revoke_grants"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("revoke_grants", "revoke_grants must be true or false")
		}
		revokeGrants = b
	}
	n, err := h.svc.RevokeKey(c.Request().Context(), principal(c), c.Param("id"), revokeGrants)
	if err != nil {
		return err
	}
	if !revokeGrants {
		return c.NoContent(http.StatusNoContent)
	}
	return c.JSON(http.StatusOK, map[string]any{"id": c.Param("id"), "revoked_grants": n})
}

// ---- customers ----

func (h *handlers) register(c echo.Context) error {
	var req RegisterRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	return h.idempotent(c, req, false, func(ctx context.Context, _ string) (answer, error) {
		res, err := h.svc.Register(ctx, principal(c), req.LocalID, req.input())
		if err != nil {
			return answer{}, err
		}
		status := http.StatusOK
		if res.Created {
			status = http.StatusCreated
		}
		return answer{status: status, body: registerResponse(res)}, nil
	})
}

func (h *handlers) registerBatch(c echo.Context) error {
	var req BatchRequest
	if err := decode(c, maxBatchBody, &req); err != nil {
		return err
	}
	items := make([]fiveid.RegisterItem, len(req.Records))
	for i, r := range req.Records {
		items[i] = fiveid.RegisterItem{LocalID: r.LocalID, Input: r.input()}
	}
	return h.idempotent(c, req, false, func(ctx context.Context, _ string) (answer, error) {
		results, err := h.svc.RegisterBatch(ctx, principal(c), items)
		if err != nil {
			return answer{}, err
		}
		out := BatchResponse{Results: make([]BatchResult, len(results))}
		for i, r := range results {
			out.Results[i].Index = i
			if r.Err != nil {
				status, e := toError(r.Err)
				if status >= 500 {
					h.log.Error("batch record failed", slog.String("code", e.Code), slog.Int("index", i), slog.String("error", r.Err.Error()))
				}
				out.Results[i].Error = &e
				continue
			}
			rr := registerResponse(r.Result)
			out.Results[i].OK, out.Results[i].Result = true, &rr
		}
		return answer{status: http.StatusOK, body: out}, nil
	})
}

func (h *handlers) customer(c echo.Context) error {
	v, err := h.svc.Customer(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, customerResponse(v))
}

func (h *handlers) identify(c echo.Context) error {
	var req IdentifyRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(fiveid.MaxGrantTTL/time.Second) {
		return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{{Field: "ttl_seconds", Code: "out_of_range", Message: "ttl_seconds must be between 1 and 86400"}}}
	}
	return h.idempotent(c, req, len(req.Scopes) > 0, func(ctx context.Context, grantID string) (answer, error) {
		res, err := h.svc.IdentifyAndGrant(ctx, principal(c), req.input(), fiveid.GrantRequest{
			Scopes: req.Scopes, Purpose: req.Purpose, TTL: time.Duration(req.TTLSeconds) * time.Second, ID: grantID})
		if errors.Is(err, fiveid.ErrNeedsReview) {
			return answer{}, &reviewError{err: err, taskID: res.ReviewTaskID}
		}
		if err != nil {
			return answer{}, err
		}
		out := IdentifyResponse{CustomerID: res.CustomerID, Grade: string(res.Grade), Score: res.Score,
			Match: callerExplanation(res.Explanation), Warnings: findings(res.Findings), Deceased: res.DeathDate != "", DeathDate: res.DeathDate}
		if res.Grant == nil {
			return answer{status: http.StatusOK, body: out}, nil
		}
		g := grantWire(res.Grant.Grant, res.Grant.Token, h.now())
		out.Grant = &g
		// A grant token is a bearer credential: the kept answer has none
		// (a replay signs it again).
		kept, kg := out, g
		kg.Token = ""
		kept.Grant = &kg
		return answer{status: http.StatusOK, body: out, kept: kept}, nil
	})
}

func (h *handlers) xref(c echo.Context) error {
	x, err := h.svc.Xref(c.Request().Context(), principal(c), c.QueryParam("system"), c.QueryParam("local_id"))
	if err != nil {
		return err
	}
	out := XrefResponse{CustomerID: x.CustomerID, Deceased: x.DeathDate != "", DeathDate: x.DeathDate, MergedFrom: nonNil(x.MergedFrom), Records: []XrefEntry{}}
	for _, r := range x.Records {
		out.Records = append(out.Records, XrefEntry{System: r.System, LocalID: r.LocalID})
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) normalize(c echo.Context) error {
	var req NormalizeRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	rec, err := h.svc.Normalize(c.Request().Context(), principal(c), req.input(), match.IDTable(req.IDTable))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, normalizeResponse(req.input(), rec))
}

// ReviewTaskWire is an open or resolved review task.
type ReviewTaskWire struct {
	ID          string       `json:"id"`
	Status      string       `json:"status"`
	Reason      string       `json:"reason"`
	CustomerID  string       `json:"customer_id"`
	CandidateID string       `json:"candidate_id"`
	System      string       `json:"system,omitempty"`
	LocalID     string       `json:"local_id,omitempty"`
	Score       float64      `json:"score"`
	Match       *Explanation `json:"match,omitempty"`
	Resolution  string       `json:"resolution,omitempty"`
	Version     int64        `json:"version"`
	CreatedAt   time.Time    `json:"created_at"`
}

func reviewTaskWire(t fiveid.ReviewTask) ReviewTaskWire {
	return ReviewTaskWire{ID: t.ID, Status: string(t.Status), Reason: t.Reason, CustomerID: t.CustomerID,
		CandidateID: t.CandidateID, System: t.System, LocalID: t.LocalID, Score: t.Score, Match: explanation(t.Explanation),
		Resolution: t.Resolution, Version: t.Version, CreatedAt: t.CreatedAt}
}

// reviewTask shows the task with both customers side by side: golden
// values and every linked source record, as a steward needs to decide.
func (h *handlers) reviewTask(c echo.Context) error {
	ctx, p := c.Request().Context(), principal(c)
	t, err := h.svc.ReviewTask(ctx, p, c.Param("id"))
	if err != nil {
		return err
	}
	out := struct {
		ReviewTaskWire
		Customer  *CustomerResponse `json:"customer,omitempty"`
		Candidate *CustomerResponse `json:"candidate,omitempty"`
	}{ReviewTaskWire: reviewTaskWire(t)}
	for _, side := range []struct {
		id  string
		dst **CustomerResponse
	}{{t.CustomerID, &out.Customer}, {t.CandidateID, &out.Candidate}} {
		if side.id == "" {
			continue
		}
		v, err := h.svc.Customer(ctx, p, side.id)
		if errors.Is(err, fiveid.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		cr := customerResponse(v)
		*side.dst = &cr
	}
	return c.JSON(http.StatusOK, out)
}

func (h *handlers) resolveReviewTask(c echo.Context) error {
	var req struct {
		Version    int64  `json:"version"`
		Resolution string `json:"resolution"`
		CustomerID string `json:"customer_id"`
		Override   bool   `json:"override"`
		Reason     string `json:"reason"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	t, err := h.svc.ResolveReviewTask(c.Request().Context(), principal(c), c.Param("id"), req.Version, fiveid.Resolution{
		Kind: req.Resolution, CustomerID: req.CustomerID, Merge: fiveid.MergeOptions{Override: req.Override, Reason: req.Reason}})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, reviewTaskWire(t))
}

// ChangeWire is one history entry.
type ChangeWire struct {
	ID      string          `json:"id"`
	At      time.Time       `json:"at"`
	Kind    string          `json:"kind"`
	Actor   string          `json:"actor"`
	System  string          `json:"system,omitempty"`
	LocalID string          `json:"local_id,omitempty"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Detail  string          `json:"detail,omitempty"`
}

func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

func (h *handlers) history(c echo.Context) error {
	hs, err := h.svc.History(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := []ChangeWire{}
	for _, ch := range hs {
		out = append(out, ChangeWire{ID: ch.ID, At: ch.At, Kind: string(ch.Kind), Actor: ch.Actor, System: ch.System,
			LocalID: ch.LocalID, Before: raw(ch.Before), After: raw(ch.After), Detail: ch.Detail})
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": c.Param("id"), "changes": out})
}

func (h *handlers) recordDeath(c echo.Context) error {
	var req struct {
		Date   string `json:"date"`
		Source string `json:"source,omitempty"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	cu, err := h.svc.RecordDeath(c.Request().Context(), principal(c), c.Param("id"), req.Date, req.Source)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": cu.ID, "deceased": true, "death_date": cu.DeathDate, "death_source": cu.DeathSource})
}

func (h *handlers) link(c echo.Context) error {
	var req struct {
		System     string `json:"system"`
		LocalID    string `json:"local_id"`
		CustomerID string `json:"customer_id"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	if err := h.svc.Link(c.Request().Context(), principal(c), req.System, req.LocalID, req.CustomerID); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": req.CustomerID, "manual": true})
}

func (h *handlers) unlink(c echo.Context) error {
	var req struct {
		System  string `json:"system"`
		LocalID string `json:"local_id"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	id, err := h.svc.Unlink(c.Request().Context(), principal(c), req.System, req.LocalID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"customer_id": id, "manual": true})
}

func (h *handlers) listReviewTasks(c echo.Context) error {
	ts, err := h.svc.ListReviewTasks(c.Request().Context(), principal(c), fiveid.ReviewStatus(c.QueryParam("status")))
	if err != nil {
		return err
	}
	out := []ReviewTaskWire{}
	for _, t := range ts {
		out = append(out, reviewTaskWire(t))
	}
	return c.JSON(http.StatusOK, map[string]any{"tasks": out})
}

// ---- merges and scans ----

type mergeRequest struct {
	From     string `json:"from"`
	Into     string `json:"into"`
	Override bool   `json:"override"`
	Reason   string `json:"reason"`
}

func (h *handlers) previewMerge(c echo.Context) error {
	var req struct {
		From string `json:"from"`
		Into string `json:"into"`
	}
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	plan, err := h.svc.PreviewMerge(c.Request().Context(), principal(c), req.From, req.Into)
	if err != nil {
		return err
	}
	survivor := customerResponse(fiveid.CustomerView{Customer: plan.Into, Records: plan.Resulted})
	return c.JSON(http.StatusOK, map[string]any{"from": req.From, "into": req.Into, "survivor": survivor, "moved_records": len(plan.Moved),
		"conflicts": conflictsWire(plan.Conflicts), "override_required": len(plan.Conflicts) > 0})
}

func mergeWire(m fiveid.Merge) map[string]any {
	out := map[string]any{"id": m.ID, "from": m.From, "into": m.Into, "at": m.At, "actor": m.Actor, "override": m.Override}
	if m.Reason != "" {
		out["reason"] = m.Reason
	}
	if !m.UndoneAt.IsZero() {
		out["undone_at"], out["undone_by"] = m.UndoneAt, m.UndoneBy
	}
	return out
}

func (h *handlers) commitMerge(c echo.Context) error {
	var req mergeRequest
	if err := decode(c, maxBody, &req); err != nil {
		return err
	}
	m, err := h.svc.CommitMerge(c.Request().Context(), principal(c), req.From, req.Into, fiveid.MergeOptions{Override: req.Override, Reason: req.Reason})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, mergeWire(m))
}

func (h *handlers) unmerge(c echo.Context) error {
	m, err := h.svc.Unmerge(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, mergeWire(m))
}

func (h *handlers) scan(c echo.Context) error {
	res, err := h.svc.ScanDuplicates(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"records": res.Records, "pairs": res.Pairs, "tasks_opened": res.TasksOpened})
}
