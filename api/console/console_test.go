package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fiveid"
	"fiveid/api"
	"fiveid/api/console"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

// clock is a settable time for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	srv   *httptest.Server
	svc   *fiveid.Service
	clock *clock
	keys  map[string]string // admin, auditor, system, care (a second system)
	// A review task: a record without an ID number of care that may be
	// hosp's customer.
	taskID, customerID, candidateID string
}

const idle = 10 * time.Minute

// newEnv serves the API and the console over HTTP on db, with a steward's
// work to do.
func newEnv(t testing.TB, db *store.DB, tls bool) *env {
	t.Helper()
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, WebhookStore: db, Records: db, Statistics: db, Idempotency: db, Cache: store.NewMemoryCache(time.Minute, 100),
		Scorer: sc, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e, err := api.New(api.Config{Service: svc, Metrics: m, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	if err := console.Mount(e, console.Config{Service: svc, IdleTimeout: idle, Now: clk.Now}); err != nil {
		t.Fatal(err)
	}
	en := &env{svc: svc, clock: clk, keys: map[string]string{}}
	if tls {
		en.srv = httptest.NewTLSServer(e)
	} else {
		en.srv = httptest.NewServer(e)
	}
	t.Cleanup(en.srv.Close)

	admin := fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "setup"}
	for _, code := range []string{"hosp", "care"} {
		if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: code, Name: code, Kind: fiveid.KindMedical}); err != nil {
			t.Fatal(err)
		}
	}
	for name, k := range map[string]struct {
		role   fiveid.Role
		system string
	}{"admin": {fiveid.RoleAdmin, ""}, "auditor": {fiveid.RoleAuditor, ""}, "system": {fiveid.RoleSystem, "hosp"}, "care": {fiveid.RoleSystem, "care"}} {
		_, secret, err := svc.CreateKey(ctx, admin, k.role, k.system, name)
		if err != nil {
			t.Fatal(err)
		}
		en.keys[name] = secret
	}
	hosp, _ := svc.Authenticate(ctx, en.keys["system"])
	care, _ := svc.Authenticate(ctx, en.keys["care"])
	r1, err := svc.Register(ctx, hosp, "P1", match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08", IDType: "01", IDNumber: "11010519491231002X"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := svc.Register(ctx, care, "R-77", match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08"})
	if err != nil {
		t.Fatal(err)
	}
	if r2.ReviewTaskID == "" {
		t.Fatalf("setup: no review task: %+v", r2)
	}
	en.taskID, en.customerID, en.candidateID = r2.ReviewTaskID, r2.CustomerID, r1.CustomerID
	// An identify with a grant, for the grant log.
	if _, err := svc.CreatePolicy(ctx, admin, fiveid.Policy{Grantee: "care", Scopes: []string{"medical"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IdentifyAndGrant(ctx, care, match.Input{Name: "王秀英", Sex: "女", BirthDate: "1950-03-08", IDType: "01", IDNumber: "11010519491231002X"},
		fiveid.GrantRequest{Scopes: []string{"medical"}, Purpose: "treatment", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return en
}

var (
	embedded = teststore.Embedded
	postgres = teststore.Postgres
)

// client is a browser without JavaScript: cookies, forms, redirects.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
	last string // the last page's body
}

func (en *env) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	hc := *en.srv.Client() // a copy: each client has its own cookies
	hc.Jar = jar
	return &client{t: t, base: en.srv.URL, hc: &hc}
}

type resp struct {
	status int
	body   string
	url    string // after redirects
	header http.Header
}

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	c.last = string(b)
	return resp{status: res.StatusCode, body: string(b), url: res.Request.URL.RequestURI(), header: res.Header}
}

func (c *client) get(path string) resp {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.t.Context(), "GET", c.base+path, nil)
	return c.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a form with the CSRF token of the last page (csrf "" in
// form: none; a value: that one).
func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	if _, ok := form["csrf"]; !ok {
		if m := csrfRe.FindStringSubmatch(c.last); m != nil {
			form.Set("csrf", m[1])
		}
	}
	req, _ := http.NewRequestWithContext(c.t.Context(), "POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *client) signIn(key string) resp {
	c.t.Helper()
	c.get("/console/signin")
	return c.post("/console/signin", url.Values{"key": {key}})
}

func (en *env) signedIn(t testing.TB, who string) *client {
	t.Helper()
	c := en.client(t)
	if r := c.signIn(en.keys[who]); r.status != 200 {
		t.Fatalf("sign in as %s: %d %s", who, r.status, r.body)
	}
	return c
}

func TestSignIn(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	for _, tc := range []struct {
		name, key string
		status    int
		landing   string
		says      string
	}{
		{"admin", en.keys["admin"], 200, "/console/dashboard", "概览"},
		{"auditor", en.keys["auditor"], 200, "/console/audit", "授权日志"},
		{"system key refused", en.keys["system"], 403, "/console/signin", "系统密钥不能登录控制台"},
		{"unknown key", "fk_test_unknown_key_0123456789_ABCDEFGH", 401, "/console/signin", "密钥无效或已吊销"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := en.client(t)
			r := c.signIn(tc.key)
			if r.status != tc.status || r.url != tc.landing || !strings.Contains(r.body, tc.says) {
				t.Fatalf("got %d at %s, want %d at %s saying %q:\n%s", r.status, r.url, tc.status, tc.landing, tc.says, r.body)
			}
		})
	}
}

// The session cookie is HttpOnly, SameSite=Strict, scoped to the console,
// and Secure over TLS; it holds a random ID, never the key.
func TestSessionCookie(t *testing.T) {
	t.Parallel()
	for _, tls := range []bool{false, true} {
		en := newEnv(t, embedded(t), tls)
		c := en.client(t)
		c.get("/console/signin")
		form := url.Values{"key": {en.keys["admin"]}, "csrf": {csrfRe.FindStringSubmatch(c.last)[1]}}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", en.srv.URL+"/console/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var got *http.Cookie
		for _, ck := range res.Cookies() {
			if ck.Name == "fiveid_console" {
				got = ck
			}
		}
		if res.StatusCode != http.StatusSeeOther || got == nil {
			t.Fatalf("tls=%v: %d, cookies %v", tls, res.StatusCode, res.Cookies())
		}
		if !got.HttpOnly || got.SameSite != http.SameSiteStrictMode || got.Path != "/console/" || got.Secure != tls ||
			strings.Contains(got.Value, en.keys["admin"]) || len(got.Value) < 32 {
			t.Errorf("tls=%v: cookie %+v", tls, got)
		}
	}
}

// Every POST needs the session's CSRF token; sign-in needs its page's.
func TestCSRF(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	c := en.signedIn(t, "admin")
	c.get("/console/customers/" + en.candidateID)
	for _, token := range []string{"", "forged"} {
		r := c.post("/console/customers/"+en.candidateID+"/death", url.Values{"date": {"2026-11-20"}, "csrf": {token}})
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "CSRF") {
			t.Fatalf("csrf %q: %d %s", token, r.status, r.body)
		}
	}
	v, err := en.svc.Customer(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin}, en.candidateID)
	if err != nil || v.Customer.DeathDate != "" {
		t.Fatalf("a refused form changed the customer: %v %+v", err, v.Customer)
	}
	// Sign-in without its page's token (another site's form) is refused.
	other := en.client(t)
	if r := other.post("/console/signin", url.Values{"key": {en.keys["admin"]}, "csrf": {"x"}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-in without the page's token: %d", r.status)
	}
	// With the token it works.
	c.get("/console/customers/" + en.candidateID)
	if r := c.post("/console/customers/"+en.candidateID+"/death", url.Values{"date": {"2026-11-20"}}); r.status != 200 || !strings.Contains(r.body, "已登记死亡") {
		t.Fatalf("death: %d %s", r.status, r.body)
	}
}

func TestSessionExpiresWhenIdle(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	c := en.signedIn(t, "admin")
	en.clock.add(idle - time.Minute)
	if r := c.get("/console/review"); r.url != "/console/review" {
		t.Fatalf("a session used within its idle timeout ended: %s", r.url)
	}
	en.clock.add(idle - time.Minute) // idle since the last use, not since sign-in
	if r := c.get("/console/review"); r.url != "/console/review" {
		t.Fatalf("use does not keep a session alive: %s", r.url)
	}
	en.clock.add(idle + time.Second)
	r := c.get("/console/review")
	if r.url != "/console/signin?expired=1" || !strings.Contains(r.body, "会话已过期") {
		t.Fatalf("expired session: %s %s", r.url, r.body)
	}
	// Signing out ends the session at once.
	c = en.signedIn(t, "admin")
	c.post("/console/signout", url.Values{})
	if r := c.get("/console/review"); r.url != "/console/signin" {
		t.Fatalf("after sign-out: %s", r.url)
	}
}

// A revoked key ends its sessions, as it ends its API access.
func TestRevokedKeyEndsSession(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	ctx := t.Context()
	admin := fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "setup"}
	k, secret, err := en.svc.CreateKey(ctx, admin, fiveid.RoleAdmin, "", "steward-li")
	if err != nil {
		t.Fatal(err)
	}
	c := en.client(t)
	if r := c.signIn(secret); r.url != "/console/dashboard" {
		t.Fatalf("sign in: %s", r.url)
	}
	if _, err := en.svc.RevokeKey(ctx, admin, k.ID, false); err != nil {
		t.Fatal(err)
	}
	if r := c.get("/console/review"); r.url != "/console/signin" {
		t.Fatalf("a revoked key's session went on: %s", r.url)
	}
}

// The console authorizes as the API does: the use cases refuse a role.
func TestAuthorization(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	auditor, admin := en.signedIn(t, "auditor"), en.signedIn(t, "admin")
	for _, tc := range []struct {
		c      *client
		path   string
		status int
	}{
		{auditor, "/console/dashboard", 403},
		{auditor, "/console/review", 403},
		{auditor, "/console/review/" + en.taskID, 403},
		{auditor, "/console/customers/" + en.candidateID, 403},
		{auditor, "/console/audit", 200},
		{auditor, "/console/audit/verify", 200},
		{auditor, "/console/grants", 200},
		{auditor, "/console/systems", 403},
		{auditor, "/console/keys", 403},
		{auditor, "/console/policies", 200}, // as GET /v1/policies
		{auditor, "/console/webhooks", 403},
		{admin, "/console/audit", 403}, // the grant log is the auditors' (GET /v1/audit/events)
		{admin, "/console/audit/verify", 200},
		{admin, "/console/review", 200},
	} {
		if r := tc.c.get(tc.path); r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.path, r.status, tc.status)
		}
	}
	auditor.get("/console/grants")
	r := auditor.post("/console/review/"+en.taskID+"/resolve", url.Values{"version": {"1"}, "resolution": {"not_duplicate"}})
	if !strings.Contains(r.body, "您的角色无权进行此操作") {
		t.Fatalf("an auditor resolved a task: %d %s", r.status, r.body)
	}
	if tk, _ := en.svc.ReviewTask(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin}, en.taskID); tk.Status != fiveid.ReviewOpen {
		t.Fatalf("task %+v", tk)
	}
	if r := en.client(t).get("/console/review"); r.url != "/console/signin" {
		t.Fatalf("no session: %s", r.url)
	}
}

// Values from source systems are escaped; pages allow no script at all.
func TestEscapingAndCSP(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	hosp, _ := en.svc.Authenticate(t.Context(), en.keys["system"])
	evil := `"><script>alert(1)</script>`
	res, err := en.svc.Register(t.Context(), hosp, evil, match.Input{Name: "李<b>娜</b>", Sex: "女", BirthDate: "1960-01-01"})
	if err != nil {
		t.Fatal(err)
	}
	c := en.signedIn(t, "admin")
	r := c.get("/console/customers/" + res.CustomerID)
	if r.status != 200 || strings.Contains(r.body, "<script>") || strings.Contains(r.body, "<b>") || !strings.Contains(r.body, "&lt;script&gt;") {
		t.Fatalf("not escaped: %d %s", r.status, r.body)
	}
	csp := r.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || !strings.Contains(csp, "form-action 'self'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	// The language switch goes back only inside the console.
	if r := c.get("/console/lang/en?back=https://evil.example/x"); r.url != "/console/dashboard" {
		t.Fatalf("language switch left the console: %s", r.url)
	}
}

// Every page renders in both languages with every text translated, and
// ID numbers masked.
func TestPagesRenderInBothLanguages(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	admin, auditor := en.signedIn(t, "admin"), en.signedIn(t, "auditor")
	pages := []struct {
		c    *client
		path string
	}{
		{admin, "/console/dashboard"}, {admin, "/console/review"}, {admin, "/console/review?status=resolved"},
		{admin, "/console/review/" + en.taskID}, {admin, "/console/review/" + en.taskID + "?preview=1"},
		{admin, "/console/customers"}, {admin, "/console/customers/" + en.candidateID},
		{admin, "/console/merges/preview?from=" + en.customerID + "&into=" + en.candidateID},
		{admin, "/console/grants"}, {admin, "/console/audit/verify"}, {admin, "/console/review/nope"},
		{auditor, "/console/audit"}, {auditor, "/console/audit/1"}, {auditor, "/console/audit/verify"}, {auditor, "/console/grants"},
		{auditor, "/console/dashboard"},
		{admin, "/console/systems"}, {admin, "/console/keys"}, {admin, "/console/policies"}, {admin, "/console/webhooks"},
		{auditor, "/console/keys"}, {auditor, "/console/policies"},
	}
	for _, lang := range []struct{ code, html, signout string }{{"zh", `lang="zh-CN"`, "退出"}, {"en", `lang="en"`, "Sign out"}} {
		admin.get("/console/lang/" + lang.code + "?back=/console/dashboard")
		auditor.get("/console/lang/" + lang.code + "?back=/console/grants")
		for _, p := range pages {
			r := p.c.get(p.path)
			if r.status >= 500 || strings.Contains(r.body, "⟦") || !strings.Contains(r.body, lang.html) || !strings.Contains(r.body, lang.signout) {
				t.Errorf("%s %s: %d\n%s", lang.code, p.path, r.status, r.body)
			}
			if strings.Contains(r.body, "11010519491231002X") {
				t.Errorf("%s %s shows an ID number in full", lang.code, p.path)
			}
		}
		r := en.client(t).get("/console/lang/" + lang.code + "?back=/console/signin")
		if r.status != 200 || strings.Contains(r.body, "⟦") || !strings.Contains(r.body, lang.html) {
			t.Errorf("%s sign-in: %d %s", lang.code, r.status, r.body)
		}
	}
}

// Every comparison level an explanation can carry has a text.
func TestEveryLevelIsTranslated(t *testing.T) {
	t.Parallel()
	for _, f := range match.Fields {
		for _, l := range match.Levels(f) {
			if !console.HasMessage("level." + l) {
				t.Errorf("no text for level %s", l)
			}
		}
		if !console.HasMessage("field." + f) {
			t.Errorf("no text for field %s", f)
		}
	}
	for _, r := range fiveid.Resolutions() {
		if !console.HasMessage("task.do."+r) || !console.HasMessage("task.resolved."+r) {
			t.Errorf("no text for resolution %s", r)
		}
	}
}

// The steward's journey without a browser, on both stores: the task's
// explanation, the merge preview, the merge, its unmerge, a death.
func TestStewardJourney(t *testing.T) {
	t.Parallel()
	for name, db := range map[string]func(testing.TB) *store.DB{"embedded": embedded, "postgres": postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			en := newEnv(t, db(t), false)
			c := en.signedIn(t, "admin")
			if r := c.get("/console/review"); !strings.Contains(r.body, en.taskID) {
				t.Fatalf("queue lacks the task: %s", r.body)
			}
			r := c.get("/console/review/" + en.taskID)
			for _, want := range []string{"匹配说明", "姓名", "王秀英", "110105********002X", "<code>equal</code>", "R-77"} {
				if !strings.Contains(r.body, want) {
					t.Errorf("task page lacks %q", want)
				}
			}
			r = c.get("/console/review/" + en.taskID + "?preview=1")
			if !strings.Contains(r.body, "合并预览") {
				t.Fatalf("no preview: %s", r.body)
			}
			r = c.post("/console/review/"+en.taskID+"/resolve", url.Values{"version": {"1"}, "resolution": {"merge"}, "customer_id": {en.candidateID}})
			if r.status != 200 || !strings.Contains(r.body, "已合并") {
				t.Fatalf("merge: %d %s", r.status, r.body)
			}
			// Sending the same form again: the task says it is stale.
			r = c.post("/console/review/"+en.taskID+"/resolve", url.Values{"version": {"1"}, "resolution": {"merge"}, "customer_id": {en.candidateID}})
			if !strings.Contains(r.body, "此任务已被他人处理或已变化") {
				t.Fatalf("stale task: %s", r.body)
			}
			r = c.get("/console/customers/" + en.candidateID)
			m := regexp.MustCompile(`action="/console/merges/([^/"]+)/unmerge"`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("customer page offers no unmerge: %s", r.body)
			}
			r = c.post("/console/merges/"+m[1]+"/unmerge", url.Values{"back": {"/console/customers/" + en.candidateID}})
			if !strings.Contains(r.body, "已撤销合并") || r.url != "/console/customers/"+en.candidateID {
				t.Fatalf("unmerge: %s %s", r.url, r.body)
			}
			r = c.post("/console/customers/"+en.candidateID+"/death", url.Values{"date": {"2026-11-20"}})
			if !strings.Contains(r.body, "已登记死亡") || !strings.Contains(r.body, "2026-11-20") {
				t.Fatalf("death: %s", r.body)
			}
			// The history names the person's key as the actor.
			hs, err := en.svc.History(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin}, en.candidateID)
			if err != nil {
				t.Fatal(err)
			}
			k, _ := en.svc.Authenticate(t.Context(), en.keys["admin"])
			if last := hs[len(hs)-1]; last.Actor != k.KeyID || last.Kind != fiveid.ChangeDeathRecorded {
				t.Fatalf("last change %+v, want a death by %s", last, k.KeyID)
			}
		})
	}
}

// The auditor's journey: the log with a filter, an entry with its hashes,
// the chain verified, the filtered view exported.
func TestAuditorJourney(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	c := en.signedIn(t, "auditor")
	r := c.get("/console/audit?action=grant.issued")
	if !strings.Contains(r.body, "grant.issued") || strings.Contains(r.body, "policy.created</td>") {
		t.Fatalf("filtered log: %s", r.body)
	}
	seq := regexp.MustCompile(`href="/console/audit/(\d+)"`).FindStringSubmatch(r.body)
	if seq == nil {
		t.Fatal("no entry link")
	}
	r = c.get("/console/audit/" + seq[1])
	if !regexp.MustCompile(`class="hash">[0-9a-f]{64}<`).MatchString(r.body) {
		t.Fatalf("entry lacks its hash: %s", r.body)
	}
	if r = c.get("/console/audit/verify"); !strings.Contains(r.body, "日志链完整") {
		t.Fatalf("verify: %s", r.body)
	}
	r = c.get("/console/audit/export?format=csv&action=grant.issued")
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if r.status != 200 || len(lines) != 2 || !strings.Contains(lines[1], "grant.issued") {
		t.Fatalf("csv export: %d %q", r.status, r.body)
	}
	r = c.get("/console/audit/export?format=ndjson")
	if r.status != 200 || !strings.Contains(r.header.Get("Content-Disposition"), "ndjson") || strings.Count(r.body, "\n") < 2 {
		t.Fatalf("ndjson export: %d %q", r.status, r.body)
	}
	if r = c.get("/console/audit?from=yesterday"); r.status != 400 || !strings.Contains(r.body, "from") {
		t.Fatalf("bad date: %d %s", r.status, r.body)
	}
}

// Showing an ID number in full is written to the grant log (who, whose),
// shown once, and only to a steward.
func TestRevealIsAudited(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	full := "11010519491231002X"
	c := en.signedIn(t, "admin")
	if r := c.get("/console/customers/" + en.candidateID); strings.Contains(r.body, full) {
		t.Fatal("the customer page shows the number before it is asked for")
	}
	r := c.post("/console/customers/"+en.candidateID+"/reveal", url.Values{})
	if r.status != 200 || !strings.Contains(r.body, full) || strings.Contains(r.url, full) {
		t.Fatalf("reveal: %d %s %s", r.status, r.url, r.body)
	}
	if r := c.get("/console/customers/" + en.candidateID); strings.Contains(r.body, full) {
		t.Fatal("the full number is shown more than once")
	}
	k, _ := en.svc.Authenticate(t.Context(), en.keys["admin"])
	aud := en.signedIn(t, "auditor")
	r = aud.get("/console/audit?action=customer.id_revealed")
	if !strings.Contains(r.body, en.candidateID) || !strings.Contains(r.body, k.KeyID) || strings.Contains(r.body, full) {
		t.Fatalf("grant log: %s", r.body)
	}
	aud.get("/console/grants")
	if r := aud.post("/console/customers/"+en.candidateID+"/reveal", url.Values{}); strings.Contains(r.body, full) {
		t.Fatal("an auditor saw the full number")
	}
}

// The admin pages change what the use cases change: a new key's secret
// is shown once and signs in; a refused webhook URL names the field.
func TestAdminPages(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	c := en.signedIn(t, "admin")
	c.get("/console/keys")
	r := c.post("/console/keys", url.Values{"name": {"auditor-zhao"}, "role": {"auditor"}, "system": {"hosp"}})
	m := regexp.MustCompile(`<code>(fk_[^<]+)</code>`).FindStringSubmatch(r.body)
	if m == nil || !strings.Contains(r.body, "auditor-zhao") {
		t.Fatalf("new key: %s", r.body)
	}
	if r := c.get("/console/keys"); strings.Contains(r.body, m[1]) {
		t.Fatal("the secret is shown twice")
	}
	if r := en.client(t).signIn(m[1]); r.url != "/console/audit" {
		t.Fatalf("the new auditor key does not sign in: %s", r.url)
	}
	c.get("/console/webhooks")
	r = c.post("/console/webhooks", url.Values{"url": {"http://10.0.0.1/hook"}})
	if !strings.Contains(r.body, "url:") || !strings.Contains(r.body, "flash bad") {
		t.Fatalf("refused webhook: %s", r.body)
	}
	c.get("/console/systems")
	if r = c.post("/console/systems", url.Values{"code": {"fun-c"}, "name": {"殡仪馆"}, "kind": {"funeral"}}); !strings.Contains(r.body, "fun-c") {
		t.Fatalf("new system: %s", r.body)
	}
	r = c.get("/console/grants")
	gid := regexp.MustCompile(`action="/console/grants/([^/"]+)/revoke"`).FindStringSubmatch(r.body)
	if gid == nil {
		t.Fatalf("no grant to revoke: %s", r.body)
	}
	if r = c.post("/console/grants/"+gid[1]+"/revoke", url.Values{}); !strings.Contains(r.body, "已吊销授权") || !strings.Contains(r.body, "<td>已吊销 · admin (key_") { // who revoked it
		t.Fatalf("revoke: %s", r.body)
	}
	c.get("/console/policies")
	if r = c.post("/console/policies", url.Values{"grantee": {"hosp"}, "scopes": {"medical"}, "purposes": {"treatment"}, "max_ttl_seconds": {"600"}}); !strings.Contains(r.body, "pol_") {
		t.Fatalf("new policy: %s", r.body)
	}
}

// Pages show the key that acted by its name with its ID; an actor that is
// no key (the setup principal) by its ID alone.
func TestActorsByName(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	ctx := t.Context()
	_, secret, err := en.svc.CreateKey(ctx, fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "setup"}, fiveid.RoleAdmin, "", "张三")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := en.svc.Authenticate(ctx, secret)
	zhang := "张三 (" + p.KeyID + ")"
	c := en.client(t)
	c.signIn(secret)
	r := c.post("/console/customers/"+en.candidateID+"/death", url.Values{"date": {"2026-11-20"}})
	if !strings.Contains(r.body, "已登记死亡") || strings.Count(r.body, zhang) < 2 { // the header and the history
		t.Fatalf("customer page lacks %q: %s", zhang, r.body)
	}
	c.post("/console/customers/"+en.candidateID+"/reveal", url.Values{})
	r = c.get("/console/review/" + en.taskID)
	c.post("/console/review/"+en.taskID+"/resolve", url.Values{"version": {"1"}, "resolution": {"keep_separate"}})
	if r = c.get("/console/review/" + en.taskID); !strings.Contains(r.body, "· "+zhang+"</p>") {
		t.Fatalf("resolved task lacks its resolver: %s", r.body)
	}
	if r = c.get("/console/policies"); !strings.Contains(r.body, " setup</td>") {
		t.Fatalf("an actor that is no key: %s", r.body)
	}
	care, _ := en.svc.Authenticate(ctx, en.keys["care"])
	if r = c.get("/console/grants"); !strings.Contains(r.body, "care · care ("+care.KeyID+")") {
		t.Fatalf("grants lack the grantee's key: %s", r.body)
	}
	// The auditor reads the grant log by names too.
	aud := en.signedIn(t, "auditor")
	r = aud.get("/console/audit?action=customer.id_revealed")
	seq := regexp.MustCompile(`href="/console/audit/(\d+)"`).FindStringSubmatch(r.body)
	if !strings.Contains(r.body, zhang) || seq == nil {
		t.Fatalf("grant log lacks %q: %s", zhang, r.body)
	}
	if r = aud.get("/console/audit/" + seq[1]); !strings.Contains(r.body, zhang) {
		t.Fatalf("log entry lacks %q: %s", zhang, r.body)
	}
}

// The dashboard shows the index's figures and the grant log's last
// verification, which only the verify page runs.
func TestDashboardFigures(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	c := en.signedIn(t, "admin")
	c.get("/console/lang/en?back=/console/dashboard")
	r := c.get("/console/dashboard")
	cell := regexp.MustCompile(`<td><code>(\w+)</code> \w+</td><td class="num">(\d+)</td>`)
	got := map[string]string{}
	for _, m := range cell.FindAllStringSubmatch(r.body, -1) {
		got[m[1]] = m[2]
	}
	if got["hosp"] != "1" || got["care"] != "1" {
		t.Errorf("records by system %v: %s", got, r.body)
	}
	for _, want := range []string{"Customers</h2><p class=\"big\">2<", "Started a new customer</td><td class=\"num\">2<", "Links</dt><dd>2<", "Merges</dt><dd>0<", "Not verified since fiveid started"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if r = c.get("/console/audit/verify"); !strings.Contains(r.body, "The chain is intact") {
		t.Fatalf("verify: %s", r.body)
	}
	k, _ := en.svc.Authenticate(t.Context(), en.keys["admin"])
	if r = c.get("/console/dashboard"); !strings.Contains(r.body, "The chain is intact") || !strings.Contains(r.body, "admin ("+k.KeyID+")") ||
		strings.Contains(r.body, "Not verified") {
		t.Errorf("dashboard after verifying: %s", r.body)
	}
	// A steward links the task's record: one more link this week, by hand,
	// and its emptied customer is gone.
	c.get("/console/review/" + en.taskID)
	c.post("/console/review/"+en.taskID+"/resolve", url.Values{"version": {"1"}, "resolution": {"link"}, "customer_id": {en.candidateID}})
	r = c.get("/console/dashboard")
	for _, want := range []string{"Links</dt><dd>3<", "Customers</h2><p class=\"big\">1<", "Linked by a steward</td><td class=\"num\">1<", "Started a new customer</td><td class=\"num\">1<"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("dashboard after a link lacks %q: %s", want, r.body)
		}
	}
}

// A steward finds customers by the five elements: candidates with grade
// and score, the number masked, no grant, the search in the grant log.
func TestSearchByElements(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	full := "11010519491231002X"
	c := en.signedIn(t, "admin")
	c.get("/console/customers")
	r := c.post("/console/customers/search", url.Values{"name": {"王秀英"}, "sex": {"女"}, "birth_date": {"1950-03-08"}, "id_type": {"居民身份证"}, "id_number": {full}})
	if r.status != 200 || strings.Contains(r.body, full) || strings.Contains(r.url, "王") {
		t.Fatalf("search: %d %s %s", r.status, r.url, r.body)
	}
	for _, want := range []string{"识别结论: 确定", `href="/console/customers/` + en.candidateID + `"`, "110105********002X", "候选客户: 2", "已记入授权日志",
		`value="王秀英"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("results lack %q", want)
		}
	}
	// The ID number names the right one first; the record without it
	// (the review task's) is a weaker candidate.
	if i, j := strings.Index(r.body, "/console/customers/"+en.candidateID+`">`+en.candidateID), strings.Index(r.body, "/console/customers/"+en.customerID+`">`+en.customerID); i < 0 || j < 0 || i > j {
		t.Errorf("candidates out of order (%d, %d): %s", i, j, r.body)
	}
	r = c.post("/console/customers/search", url.Values{"name": {"王秀英"}, "birth_date": {"1950-13-45"}})
	if r.status != 400 || !strings.Contains(r.body, "birth_date") || !strings.Contains(r.body, `value="王秀英"`) {
		t.Fatalf("a bad date: %d %s", r.status, r.body)
	}
	if r = c.post("/console/customers/search", url.Values{"name": {"王秀英"}, "csrf": {"forged"}}); r.status != 403 {
		t.Fatalf("without the CSRF token: %d", r.status)
	}
	// One entry per search, masked; no grant.
	k, _ := en.svc.Authenticate(t.Context(), en.keys["admin"])
	aud := en.signedIn(t, "auditor")
	r = aud.get("/console/audit?action=customer.searched")
	if strings.Count(r.body, "<td>customer.searched</td>") != 1 || !strings.Contains(r.body, "admin ("+k.KeyID+")") || !strings.Contains(r.body, "2 candidates") ||
		strings.Contains(r.body, full) {
		t.Fatalf("grant log: %s", r.body)
	}
	if r = aud.get("/console/grants?customer_id=" + en.candidateID); strings.Count(r.body, "<code>gr_") != 1 { // the setup's grant alone
		t.Errorf("a search issued a grant: %s", r.body)
	}
	// Auditors may not search.
	aud.get("/console/customers")
	if r = aud.post("/console/customers/search", url.Values{"name": {"王秀英"}, "sex": {"女"}, "birth_date": {"1950-03-08"}}); r.status != 403 {
		t.Fatalf("an auditor searched: %d %s", r.status, r.body)
	}
}

// An unknown console page is an HTML page in the person's language, not
// the API's JSON.
func TestUnknownPage(t *testing.T) {
	t.Parallel()
	en := newEnv(t, embedded(t), false)
	for _, path := range []string{"/console/nope", "/console/customers/x/y/z", "/console/static/nope.css"} {
		r := en.client(t).get(path)
		if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(r.body, "未找到") ||
			!strings.Contains(r.body, `lang="zh-CN"`) || r.header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d %s %s", path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	c := en.signedIn(t, "admin")
	c.get("/console/lang/en?back=/console/dashboard")
	r := c.get("/console/nope")
	if r.status != 404 || !strings.Contains(r.body, "Not found.") || !strings.Contains(r.body, `lang="en"`) || !strings.Contains(r.body, "Sign out") ||
		strings.Contains(r.body, "⟦") {
		t.Errorf("signed in: %d %s", r.status, r.body)
	}
	// The API's unknown paths stay JSON.
	if r := c.get("/v1/nope"); r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/") {
		t.Errorf("/v1/nope: %d %s", r.status, r.header.Get("Content-Type"))
	}
}
