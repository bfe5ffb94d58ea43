package console

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/api"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config carries the console's dependencies.
type Config struct {
	Service *fiveid.Service
	Logger  *slog.Logger
	// IdleTimeout ends a session nobody used for this long; 0 means 30
	// minutes. MaxAge ends any session this long after sign-in; 0 means 12
	// hours.
	IdleTimeout, MaxAge time.Duration
	// SecureCookies marks the session cookie Secure even on a plain
	// connection: set it when a TLS terminator serves fiveid. A request that
	// came over TLS always gets a Secure cookie.
	SecureCookies bool
	// Now is the clock for sessions; nil means time.Now.
	Now func() time.Time
	// Location is the time zone dates are shown in; nil means time.Local.
	Location *time.Location
}

type console struct {
	svc      *fiveid.Service
	log      *slog.Logger
	sessions *sessions
	secure   bool
	loc      *time.Location
	pages    map[string]*template.Template

	// verified is the grant log's last verification in this process,
	// shown on the dashboard (verifying reads the whole log, so a page
	// load never does it).
	verifiedMu sync.Mutex
	verified   *lastVerify
}

type lastVerify struct {
	fiveid.VerifyResult
	At time.Time
	By string // key ID
}

// Prefix is where the console is served.
const Prefix = "/console"

const (
	sessionCookie = "fiveid_console"
	preCookie     = "fiveid_console_signin" // the sign-in form's CSRF token (double submit)
	langCookie    = "fiveid_lang"
	sessionKey    = "console.session"
)

// csp lets a page load only the console's own stylesheet and post forms
// only to fiveid: no script, no frame, no other origin.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Mount serves the console under /console on e.
func Mount(e *echo.Echo, cfg Config) error {
	if cfg.Service == nil {
		return errors.New("console: Service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.IdleTimeout < 0 || cfg.MaxAge < 0 {
		return errors.New("console: IdleTimeout and MaxAge must not be negative")
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	pages, err := parsePages()
	if err != nil {
		return err
	}
	con := &console{svc: cfg.Service, log: cfg.Logger, secure: cfg.SecureCookies, loc: cfg.Location, pages: pages,
		sessions: newSessions(cfg.IdleTimeout, cfg.MaxAge, cfg.Now)}

	g := e.Group(Prefix, con.headers)
	static, _ := fs.Sub(assets, "static")
	files := echo.WrapHandler(http.StripPrefix(Prefix+"/static/", http.FileServer(http.FS(static))))
	g.GET("/static/*", func(c echo.Context) error {
		if _, err := fs.Stat(static, c.Param("*")); err != nil {
			return con.notFound(c)
		}
		return files(c)
	})
	g.GET("", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, Prefix+"/") })
	g.GET("/", con.home)
	g.GET("/signin", con.signinPage)
	g.POST("/signin", con.signin)
	g.GET("/lang/:lang", con.setLang)
	a := g.Group("", con.authed)
	a.POST("/signout", con.signout)

	// Stewards (the use cases refuse other roles).
	a.GET("/dashboard", con.dashboard)
	a.GET("/review", con.reviewQueue)
	a.GET("/review/:id", con.reviewTask)
	a.POST("/review/:id/resolve", con.resolve)
	a.GET("/customers", con.customerSearch)
	a.POST("/customers/search", con.searchElements)
	a.GET("/customers/:id", con.customer)
	a.POST("/customers/:id/death", con.recordDeath)
	a.POST("/customers/:id/unlink", con.unlink)
	a.POST("/customers/:id/link", con.link)
	a.POST("/customers/:id/reveal", con.reveal)
	a.GET("/merges/preview", con.mergePreview)
	a.POST("/merges", con.commitMerge)
	a.POST("/merges/:id/unmerge", con.unmerge)

	a.GET("/systems", con.systems)
	a.POST("/systems", con.createSystem)
	a.GET("/keys", con.keys)
	a.POST("/keys", con.createKey)
	a.POST("/keys/:id/revoke", con.revokeKey)
	a.GET("/policies", con.policies)
	a.POST("/policies", con.createPolicy)
	a.POST("/policies/:id/delete", con.deletePolicy)
	a.GET("/webhooks", con.webhooks)
	a.POST("/webhooks", con.createWebhook)
	a.POST("/webhooks/:id/delete", con.deleteWebhook)

	// Auditors.
	a.GET("/audit", con.auditLog)
	a.GET("/audit/export", con.auditExport)
	a.GET("/audit/verify", con.auditVerify)
	a.GET("/audit/:seq", con.auditEntry)
	a.GET("/grants", con.grants)
	a.POST("/grants/:id/revoke", con.revokeGrant)

	// Any other console path: an HTML page, not the API's JSON. (Routes
	// match before this catch-all, which replaces the one a group with
	// middleware registers.)
	g.Any("/*", con.notFound)
	return nil
}

// notFound renders the 404 page in the person's language, with the
// navigation when they are signed in.
func (con *console) notFound(c echo.Context) error {
	var s *session
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if got, state := con.sessions.get(ck.Value); state == sessionOK {
			s = got
		}
	}
	return con.fail(c, s, http.StatusNotFound, "err.not_found", nil)
}

// headers replace the API's security headers with the console's: a page
// may load its stylesheet and post its forms, nothing else.
func (con *console) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set(echo.HeaderContentSecurityPolicy, csp)
		h.Set(echo.HeaderCacheControl, "no-store")
		h.Set(echo.HeaderXFrameOptions, "DENY")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		h.Set(echo.HeaderReferrerPolicy, "no-referrer")
		return next(c)
	}
}

// authed finds the session, checks its key again (a revoked key ends every
// session signed in with it, as it ends its API access) and, on a POST,
// the CSRF token.
func (con *console) authed(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(sessionCookie)
		if err != nil {
			return c.Redirect(http.StatusSeeOther, Prefix+"/signin")
		}
		s, state := con.sessions.get(ck.Value)
		if state != sessionOK {
			con.clearCookie(c, sessionCookie)
			to := Prefix + "/signin"
			if state == sessionExpired {
				to += "?expired=1"
			}
			return c.Redirect(http.StatusSeeOther, to)
		}
		p, err := con.svc.Authenticate(c.Request().Context(), s.secret)
		if err != nil || p.Role == fiveid.RoleSystem {
			con.sessions.drop(s.id)
			con.clearCookie(c, sessionCookie)
			return c.Redirect(http.StatusSeeOther, Prefix+"/signin")
		}
		s.p = p
		if c.Request().Method == http.MethodPost && !tokenOK(c.FormValue("csrf"), s.csrf) {
			return con.fail(c, s, http.StatusForbidden, "err.csrf", nil)
		}
		c.Set(sessionKey, s)
		return next(c)
	}
}

func tokenOK(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func sess(c echo.Context) *session {
	s, _ := c.Get(sessionKey).(*session)
	return s
}

func (con *console) setCookie(c echo.Context, name, value string, maxAge int) {
	c.SetCookie(&http.Cookie{Name: name, Value: value, Path: Prefix + "/", MaxAge: maxAge, HttpOnly: true,
		Secure: con.secure || c.Request().TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (con *console) clearCookie(c echo.Context, name string) { con.setCookie(c, name, "", -1) }

// ---- language ----

func (con *console) lang(c echo.Context) string {
	if ck, err := c.Cookie(langCookie); err == nil && ck.Value == "en" {
		return "en"
	}
	return "zh"
}

// setLang switches the language and goes back to the console page the
// person was on.
func (con *console) setLang(c echo.Context) error {
	l := c.Param("lang")
	if l != "en" && l != "zh" {
		l = "zh"
	}
	con.setCookie(c, langCookie, l, 365*24*3600)
	return c.Redirect(http.StatusSeeOther, localBack(c.QueryParam("back")))
}

// localBack keeps a redirect inside the console.
func localBack(back string) string {
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, Prefix+"/") || strings.Contains(u.Path, "//") {
		return Prefix + "/"
	}
	return u.RequestURI()
}

// ---- sign-in ----

func (con *console) home(c echo.Context) error {
	ck, err := c.Cookie(sessionCookie)
	if err != nil {
		return c.Redirect(http.StatusSeeOther, Prefix+"/signin")
	}
	s, state := con.sessions.get(ck.Value)
	if state != sessionOK {
		return c.Redirect(http.StatusSeeOther, Prefix+"/signin")
	}
	if s.p.Role == fiveid.RoleAuditor {
		return c.Redirect(http.StatusSeeOther, Prefix+"/audit")
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/dashboard")
}

type signinData struct {
	Token   string
	Expired bool
	Error   string
}

func (con *console) signinPage(c echo.Context) error {
	return con.signinForm(c, http.StatusOK, signinData{Expired: c.QueryParam("expired") != ""})
}

func (con *console) signinForm(c echo.Context, status int, d signinData) error {
	d.Token = rand.Text()
	con.setCookie(c, preCookie, d.Token, 3600)
	return con.render(c, nil, status, "signin", "signin.title", d)
}

// signin turns a person's own admin or auditor key into a session. The
// form's token must equal the one its page set in a cookie, so another
// site cannot sign a browser in with the attacker's key.
func (con *console) signin(c echo.Context) error {
	pre, err := c.Cookie(preCookie)
	if err != nil || !tokenOK(c.FormValue("csrf"), pre.Value) {
		return con.signinForm(c, http.StatusForbidden, signinData{Error: "err.csrf"})
	}
	secret := strings.TrimSpace(c.FormValue("key"))
	p, err := con.svc.Authenticate(c.Request().Context(), secret)
	if err != nil {
		status, _ := api.ErrorOf(err)
		if status >= 500 {
			con.log.Error("console sign-in", slog.String("error", err.Error()))
			return con.signinForm(c, status, signinData{Error: "err.unavailable"})
		}
		return con.signinForm(c, http.StatusUnauthorized, signinData{Error: "signin.bad_key"})
	}
	if p.Role != fiveid.RoleAdmin && p.Role != fiveid.RoleAuditor {
		return con.signinForm(c, http.StatusForbidden, signinData{Error: "signin.system_key"})
	}
	s := con.sessions.create(secret, p)
	con.clearCookie(c, preCookie)
	con.setCookie(c, sessionCookie, s.id, 0)
	con.log.Info("console sign-in", slog.String("key_id", p.KeyID), slog.String("role", string(p.Role)))
	return c.Redirect(http.StatusSeeOther, Prefix+"/")
}

func (con *console) signout(c echo.Context) error {
	con.sessions.drop(sess(c).id)
	con.clearCookie(c, sessionCookie)
	return c.Redirect(http.StatusSeeOther, Prefix+"/signin")
}

// ---- rendering ----

// flash is a message shown once on the page a POST redirects to.
type flash struct {
	OK      bool
	Key     string   // message key
	Arg     string   // a value the message names (an ID, a secret shown once)
	Details []string // per-field problems, conflicts
}

type page struct {
	Lang  string
	Title string
	Path  string // the current page, for the language switch
	Role  string // "" before sign-in
	KeyID string
	CSRF  string
	Flash *flash
	Data  any
	loc   *time.Location
	// names maps key IDs to key names, looked up on the page's first
	// Actor and kept for the rest of it.
	names     map[string]string
	loadNames func() map[string]string
	status    int
}

func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(assets, n)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// render writes a page (s is nil before sign-in).
func (con *console) render(c echo.Context, s *session, status int, name, title string, data any) error {
	p := &page{Lang: con.lang(c), Title: title, Path: c.Request().URL.RequestURI(), Data: data, loc: con.loc, status: status}
	if s != nil {
		p.Role, p.KeyID, p.CSRF = string(s.p.Role), s.p.KeyID, s.csrf
		p.Flash = con.sessions.takeFlash(s.id)
		ctx, pr := c.Request().Context(), s.p
		p.loadNames = func() map[string]string {
			m, err := con.svc.KeyNames(ctx, pr)
			if err != nil { // the page still shows the IDs
				con.log.Warn("console key names", slog.String("error", err.Error()))
				return map[string]string{}
			}
			return m
		}
	}
	t, ok := con.pages[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(status)
	return t.ExecuteTemplate(c.Response(), "layout", p)
}

type errorData struct {
	Status  int
	Key     string
	Details []string
}

// fail renders an error page for a GET; its message is the error code's.
func (con *console) fail(c echo.Context, s *session, status int, key string, details []string) error {
	return con.render(c, s, status, "error", "error.title", errorData{Status: status, Key: key, Details: details})
}

// failErr renders the error page for a use case's error, mapped through
// the API's one error table.
func (con *console) failErr(c echo.Context, err error) error {
	status, key, details := con.explain(c, err)
	return con.fail(c, sess(c), status, key, details)
}

// explain maps err to a status, a message key and details; unknown errors
// are logged here, once, and shown as internal.
func (con *console) explain(c echo.Context, err error) (int, string, []string) {
	status, e := api.ErrorOf(err)
	if status >= 500 {
		con.log.Error("console", slog.String("route", c.Path()), slog.String("error", err.Error()),
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
	}
	var details []string
	for _, f := range e.Fields {
		details = append(details, f.Field+": "+f.Message)
	}
	for _, x := range e.Conflicts {
		details = append(details, fmt.Sprintf("%s: %s/%s %s ≠ %s/%s %s", x.Namespace, x.From.System, x.From.LocalID, x.From.IDMasked,
			x.Into.System, x.Into.LocalID, x.Into.IDMasked))
	}
	return status, "err." + e.Code, details
}

// done ends a POST: a flash for the next page, then a redirect there
// (POST-redirect-GET). err, when not nil, is the flash instead.
func (con *console) done(c echo.Context, to string, err error, okKey, arg string) error {
	s := sess(c)
	switch {
	case errors.Is(err, errStale):
		con.sessions.setFlash(s.id, &flash{Key: "task.stale"})
	case err != nil:
		_, key, details := con.explain(c, err)
		con.sessions.setFlash(s.id, &flash{Key: key, Details: details})
	default:
		con.sessions.setFlash(s.id, &flash{OK: true, Key: okKey, Arg: arg})
	}
	return c.Redirect(http.StatusSeeOther, to)
}
