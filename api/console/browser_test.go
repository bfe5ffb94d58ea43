package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fiveid"
	"fiveid/store"
)

// These tests drive Debian's chromium, headless, through the journeys a
// steward and an auditor make. Without chromium they skip, unless
// CI=true (.ci/run installs it). FIVEID_CONSOLE_SCREENSHOTS=dir saves the
// README's screenshots there.

// shared is the one chromium the browser tests share (started by the
// first, stopped by TestMain); each test gets its own browser context, so
// no cookie crosses from one test to another.
var shared struct {
	once sync.Once
	ctx  context.Context
	stop func()
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// browser returns a fresh browser context (a new profile, in effect) of
// the shared headless chromium, started with no network chatter of its own.
func browser(t *testing.T) context.Context {
	t.Helper()
	shared.once.Do(func() {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				shared.path = p
				break
			}
		}
		if shared.path == "" {
			return
		}
		if shared.dir, shared.err = os.MkdirTemp("", "fiveid-chromium-"); shared.err != nil {
			return
		}
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(shared.path), chromedp.UserDataDir(shared.dir),
			chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.Flag("disable-extensions", true), chromedp.WindowSize(1280, 900),
		}
		actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelB := chromedp.NewContext(actx)
		shared.ctx, shared.stop = bctx, func() { cancelB(); cancelA() }
		shared.err = chromedp.Do(bctx) // starts the browser
	})
	if shared.path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium); CI=true makes the browser tests mandatory")
		}
		t.Skip("chromium is not installed (apt-get install chromium): skipping the browser tests")
	}
	if shared.err != nil {
		t.Fatalf("start chromium: %v", shared.err)
	}
	ctx, cancel := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// run runs browser actions, failing the test with what it was doing.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	actx, cancel := context.WithTimeout(ctx, time.Minute) // generous: a loaded machine is slow
	defer cancel()
	if err := chromedp.Do(actx, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage: %s", what, err, body)
	}
}

// follow clicks sel and waits until the page it leads to has loaded (the
// old page is marked first, so a wait never matches it).
func follow(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = "1"`),
		chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("body:not([data-old])")))
}

// get runs an action that returns a value.
func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text is the visible text of the page's main element.
func text(t *testing.T, ctx context.Context) string {
	t.Helper()
	return get(t, ctx, "read the page", chromedp.Text(chromedp.CSS("main")))
}

func expect(t *testing.T, ctx context.Context, what string, wants ...string) {
	t.Helper()
	s := text(t, ctx)
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Fatalf("%s: the page does not say %q:\n%s", what, w, s)
		}
	}
}

// a11y checks what a page's markup decides about accessibility: the
// language, one h1, a label for every control, a name for every link and
// button, no positive tabindex, text contrast of at least 4.5:1 (WCAG AA),
// and that Tab first reaches the skip link.
const a11y = `(() => {
  const bad = [];
  if (!document.documentElement.lang) bad.push('html has no lang');
  if (document.querySelectorAll('h1').length !== 1) bad.push('not exactly one h1');
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    const ok = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label') || el.getAttribute('aria-label');
    if (!ok) bad.push('control without label: ' + (el.name || el.outerHTML.slice(0, 60)));
  }
  for (const el of document.querySelectorAll('a, button')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push('unnamed ' + el.tagName);
  }
  for (const el of document.querySelectorAll('[tabindex]')) {
    if (parseInt(el.getAttribute('tabindex'), 10) > 0) bad.push('positive tabindex');
  }
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || c[3] > 0) return c; } return [255, 255, 255]; };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.offsetParent && el.tagName !== 'BODY') continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push('contrast ' + ratio.toFixed(2) + ' on "' + n.textContent.trim().slice(0, 30) + '"');
  }
  return bad;
})()`

func checkA11y(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	bad := get(t, ctx, "accessibility check of "+page, chromedp.Evaluate[[]string](a11y))
	run(t, ctx, "press Tab", chromedp.KeyEvent("\t"))
	focused := get(t, ctx, "the focused element", chromedp.Evaluate[string](`document.activeElement.className`))
	if focused != "skip" {
		bad = append(bad, "Tab does not reach the skip link first (got ."+focused+")")
	}
	if len(bad) > 0 {
		t.Errorf("%s: %s", page, strings.Join(bad, "; "))
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("FIVEID_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signInWith(t *testing.T, ctx context.Context, base, key string) {
	t.Helper()
	run(t, ctx, "sign in", chromedp.Navigate(base+"/console/signin"),
		chromedp.SendKeys(chromedp.ID("key"), key), chromedp.Submit(chromedp.ID("key")),
		chromedp.WaitVisible(chromedp.CSS("nav")))
}

// The steward's journey on both stores: sign in, find the possible
// duplicate, read the explanation, preview and merge, unmerge, record a
// death, sign out.
func TestBrowserStewardJourney(t *testing.T) {
	for _, st := range []struct {
		name string
		db   func(testing.TB) *store.DB
	}{{"embedded", embedded}, {"postgres", postgres}} {
		t.Run(st.name, func(t *testing.T) {
			ctx := browser(t)
			en := newEnv(t, st.db(t), false)
			base := en.srv.URL
			signInWith(t, ctx, base, en.keys["admin"])
			checkA11y(t, ctx, "dashboard")
			run(t, ctx, "search by the five elements", chromedp.Navigate(base+"/console/customers"), chromedp.WaitVisible(chromedp.ID("ename")),
				chromedp.SendKeys(chromedp.ID("ename"), "王秀英"), chromedp.SetValue(chromedp.ID("esex"), "女"),
				chromedp.SendKeys(chromedp.ID("ebirth"), "1950-03-08"), chromedp.SendKeys(chromedp.ID("eid"), "11010519491231002X"),
				follow(`form[action="/console/customers/search"] button`), chromedp.WaitVisible(chromedp.CSS(`section[aria-labelledby="resh"] table`)))
			expect(t, ctx, "search results", "识别结论: 确定", en.candidateID, "110105********002X", "已记入授权日志")
			checkA11y(t, ctx, "search results")
			run(t, ctx, "an unknown page", chromedp.Navigate(base+"/console/nope"), chromedp.WaitVisible(chromedp.CSS(".flash.bad")))
			expect(t, ctx, "unknown page", "404", "未找到")
			checkA11y(t, ctx, "unknown page")
			run(t, ctx, "back to the dashboard", chromedp.Navigate(base+"/console/dashboard"), chromedp.WaitVisible(chromedp.CSS("nav")))
			run(t, ctx, "open the queue", follow(`a[href="/console/review"]`), chromedp.WaitVisible(chromedp.CSS("table")))
			checkA11y(t, ctx, "review queue")
			run(t, ctx, "open the task", follow(`a[href="/console/review/`+en.taskID+`"]`),
				chromedp.WaitVisible(chromedp.CSS("table.compare")))
			expect(t, ctx, "task page", "匹配说明", "王秀英", "110105********002X", "相同", "care/R-77")
			screenshot(t, ctx, "console-review-task.png")
			checkA11y(t, ctx, "task page")
			run(t, ctx, "preview the merge", follow(`a.button[href*="preview=1"]`),
				chromedp.WaitVisible(chromedp.CSS("section.preview")))
			expect(t, ctx, "preview", "合并预览", "移动的记录")
			checkA11y(t, ctx, "merge preview")
			run(t, ctx, "merge", follow(`section.preview button.primary`), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
			expect(t, ctx, "merged", "已合并")
			run(t, ctx, "open the survivor", chromedp.Navigate(base+"/console/customers/"+en.candidateID), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
			expect(t, ctx, "customer page", "care", "R-77", "hosp", "P1", "合并")
			checkA11y(t, ctx, "customer page")
			run(t, ctx, "unmerge", follow(`form[action$="/unmerge"] button`), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
			expect(t, ctx, "unmerged", "已撤销合并", "撤销合并")
			run(t, ctx, "record a death", chromedp.SetValue(chromedp.ID("ddate"), "2026-11-20"),
				follow(`form[action$="/death"] button`), chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
			expect(t, ctx, "death", "已登记死亡", "2026-11-20", "已故")
			run(t, ctx, "switch to English", follow(`a[href^="/console/lang/en"]`), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
			expect(t, ctx, "English", "History", "Death recorded")
			run(t, ctx, "back to Chinese", follow(`a[href^="/console/lang/zh"]`), chromedp.WaitVisible(chromedp.CSS("ol.timeline")))
			run(t, ctx, "sign out", follow(`form[action="/console/signout"] button`), chromedp.WaitVisible(chromedp.ID("key")),
				chromedp.Navigate(base+"/console/review"), chromedp.WaitVisible(chromedp.ID("key")))
			checkA11y(t, ctx, "sign-in page")
		})
	}
}

// The auditor's journey on both stores: the log, an entry's hashes,
// verify, export, sign out.
func TestBrowserAuditorJourney(t *testing.T) {
	for _, st := range []struct {
		name string
		db   func(testing.TB) *store.DB
	}{{"embedded", embedded}, {"postgres", postgres}} {
		t.Run(st.name, func(t *testing.T) {
			auditorJourney(t, st.db(t), st.name == "embedded")
		})
	}
}

func auditorJourney(t *testing.T, db *store.DB, screenshots bool) {
	ctx := browser(t)
	en := newEnv(t, db, false)
	base := en.srv.URL
	signInWith(t, ctx, base, en.keys["auditor"])
	expect(t, ctx, "grant log", "授权日志", "grant.issued", "policy.created")
	if screenshots {
		screenshot(t, ctx, "console-grant-log.png")
	}
	checkA11y(t, ctx, "grant log")
	run(t, ctx, "filter", chromedp.SetValue(chromedp.ID("fact"), "grant.issued"), follow("form.filters button"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/console/audit/export?action=grant.issued&format=csv"]`)))
	if s := get(t, ctx, "the log", chromedp.Text(chromedp.CSS("table tbody"))); strings.Contains(s, "policy.created") || !strings.Contains(s, "grant.issued") {
		t.Fatalf("the filter kept other actions:\n%s", s)
	}
	run(t, ctx, "open an entry", follow(`td a[href^="/console/audit/"]`), chromedp.WaitVisible(chromedp.CSS("dl.entry")))
	expect(t, ctx, "entry", "上一条哈希", "本条哈希", "110105********002X")
	checkA11y(t, ctx, "log entry")
	run(t, ctx, "verify", chromedp.Navigate(base+"/console/audit"), follow(`main a[href="/console/audit/verify"]`),
		chromedp.WaitVisible(chromedp.CSS(".flash.ok")))
	expect(t, ctx, "verified", "日志链完整")
	checkA11y(t, ctx, "verify")
	// The export link downloads the filtered view (a download, which the
	// page's CSP keeps scripts from reading): follow the link the page
	// gives with the auditor's session.
	run(t, ctx, "open the filtered log", chromedp.Navigate(base+"/console/audit?action=grant.issued"))
	link := get(t, ctx, "the export link", chromedp.AttributeValue(chromedp.CSS(`a[href*="format=csv"]`), "href"))
	csv := en.signedIn(t, "auditor").get(link.Value).body
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.Contains(lines[1], "grant.issued") {
		t.Fatalf("csv export: %q", csv)
	}
	run(t, ctx, "grants", chromedp.Navigate(base+"/console/grants"), chromedp.WaitVisible(chromedp.CSS("table")))
	checkA11y(t, ctx, "grants")
	run(t, ctx, "sign out", follow(`form[action="/console/signout"] button`), chromedp.WaitVisible(chromedp.ID("key")))
}

// A forged CSRF token, an expired session and an auditor on a steward's
// page are refused in the browser too.
func TestBrowserRefusals(t *testing.T) {
	ctx := browser(t)
	en := newEnv(t, embedded(t), false)
	base := en.srv.URL
	signInWith(t, ctx, base, en.keys["admin"])
	run(t, ctx, "forge the token", chromedp.Navigate(base+"/console/customers/"+en.candidateID),
		chromedp.SetValue(chromedp.ID("ddate"), "2026-11-20"),
		chromedp.SetAttributeValue(chromedp.CSS(`form[action$="/death"] input[name=csrf]`), "value", "forged"),
		follow(`form[action$="/death"] button`), chromedp.WaitVisible(chromedp.CSS(".flash.bad")))
	expect(t, ctx, "csrf", "403", "CSRF")
	if v, _ := en.svc.Customer(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin}, en.candidateID); v.Customer.DeathDate != "" {
		t.Fatal("a forged form recorded a death")
	}
	en.clock.add(idle + time.Second)
	run(t, ctx, "come back after the idle timeout", chromedp.Navigate(base+"/console/review"), chromedp.WaitVisible(chromedp.ID("key")))
	expect(t, ctx, "expired", "会话已过期")

	signInWith(t, ctx, base, en.keys["auditor"])
	for _, p := range []string{"/console/review", "/console/customers/" + en.candidateID, "/console/dashboard"} {
		run(t, ctx, "an auditor opens "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(chromedp.CSS(".flash.bad")))
		expect(t, ctx, p, "403", "您的角色无权进行此操作")
		checkA11y(t, ctx, "error page")
	}
	nav := get(t, ctx, "the auditor's menu", chromedp.Text(chromedp.CSS("nav")))
	if strings.Contains(nav, "审核队列") {
		t.Fatalf("an auditor's menu offers the review queue: %s", nav)
	}
}
