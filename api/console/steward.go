package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/match"
)

// Every handler here calls the same use cases as the REST API with the
// signed-in person's principal: the use cases decide who may do what.

// ---- dashboard ----

type dashboardData struct {
	Figures    fiveid.IndexFigures
	Systems    []fiveid.System
	Grades     []gradeCount
	Verified   *lastVerify // nil: not verified since the process started
	OpenTasks  int
	OldestTask time.Time
	ByReason   map[string]int
	Webhooks   []fiveid.Webhook
	Failing    int
}

func (con *console) dashboard(c echo.Context) error {
	ctx, s := c.Request().Context(), sess(c)
	ts, err := con.svc.ListReviewTasks(ctx, s.p, fiveid.ReviewOpen)
	if err != nil {
		return con.failErr(c, err)
	}
	d := dashboardData{OpenTasks: len(ts), ByReason: map[string]int{}}
	for _, t := range ts {
		d.ByReason[t.Reason]++
		if d.OldestTask.IsZero() || t.CreatedAt.Before(d.OldestTask) {
			d.OldestTask = t.CreatedAt
		}
	}
	sys, err := con.svc.ListSystems(ctx, s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	d.Systems = sys
	if d.Figures, err = con.svc.IndexFigures(ctx, s.p, weekStart(con.sessions.now(), con.loc)); err != nil {
		return con.failErr(c, err)
	}
	d.Grades = gradeCounts(d.Figures.Grades)
	con.verifiedMu.Lock()
	d.Verified = con.verified
	con.verifiedMu.Unlock()
	if d.Webhooks, err = con.svc.ListWebhooks(ctx, s.p); err != nil {
		return con.failErr(c, err)
	}
	for _, w := range d.Webhooks {
		if !w.FailingSince.IsZero() {
			d.Failing++
		}
	}
	// The grant log is not verified here (that reads the whole log): the
	// page shows the last verification the verify page ran.
	return con.render(c, s, http.StatusOK, "dashboard", "dashboard.title", d)
}

// weekStart is the Monday 00:00 of now's week in loc (a Chinese week
// starts on Monday).
func weekStart(now time.Time, loc *time.Location) time.Time {
	now = now.In(loc)
	back := (int(now.Weekday()) + 6) % 7 // days since Monday
	return time.Date(now.Year(), now.Month(), now.Day()-back, 0, 0, 0, 0, loc)
}

type gradeCount struct {
	Grade string // "" for records that started their customer
	N     int64
}

// gradeCounts orders the grade distribution strongest first, grades the
// console does not know last.
func gradeCounts(m map[string]int64) []gradeCount {
	order := []string{string(match.GradeCertain), string(match.GradeProbable), string(match.GradePossible), "manual", ""}
	var out []gradeCount
	for _, g := range order {
		if n, ok := m[g]; ok {
			out = append(out, gradeCount{g, n})
		}
	}
	var rest []string
	for g := range m {
		if !slices.Contains(order, g) {
			rest = append(rest, g)
		}
	}
	sort.Strings(rest)
	for _, g := range rest {
		out = append(out, gradeCount{g, m[g]})
	}
	return out
}

// ---- review ----

type queueData struct {
	Status string
	Reason string
	Tasks  []fiveid.ReviewTask
}

func (con *console) reviewQueue(c echo.Context) error {
	s := sess(c)
	status := c.QueryParam("status")
	if status == "" {
		status = string(fiveid.ReviewOpen)
	}
	ts, err := con.svc.ListReviewTasks(c.Request().Context(), s.p, fiveid.ReviewStatus(status))
	if err != nil {
		return con.failErr(c, err)
	}
	d := queueData{Status: status, Reason: c.QueryParam("reason")}
	for _, t := range ts {
		if d.Reason == "" || t.Reason == d.Reason {
			d.Tasks = append(d.Tasks, t)
		}
	}
	return con.render(c, s, http.StatusOK, "queue", "queue.title", d)
}

type taskData struct {
	Task        fiveid.ReviewTask
	Customer    *customerView // nil when gone
	Candidate   *customerView
	Fields      []fieldRow
	Target      string // the customer a link or merge goes to
	Candidates  []string
	Preview     *previewData
	Resolutions []string
}

// fieldRow is one element of both customers, with how it compared.
type fieldRow struct {
	Field       string
	Left, Right string
	Level       string
	Weight      float64
	HasLevel    bool
}

// reviewTask puts both customers side by side with the explanation; with
// ?preview=1 it also shows what merging them would leave.
func (con *console) reviewTask(c echo.Context) error {
	ctx, s := c.Request().Context(), sess(c)
	t, err := con.svc.ReviewTask(ctx, s.p, c.Param("id"))
	if err != nil {
		return con.failErr(c, err)
	}
	d := taskData{Task: t, Candidates: t.Candidates(), Resolutions: fiveid.Resolutions(), Target: t.CandidateID}
	if tg := c.QueryParam("target"); tg != "" && slices.Contains(d.Candidates, tg) {
		d.Target = tg
	}
	for _, side := range []struct {
		id  string
		dst **customerView
	}{{t.CustomerID, &d.Customer}, {d.Target, &d.Candidate}} {
		if side.id == "" {
			continue
		}
		v, err := con.svc.Customer(ctx, s.p, side.id)
		if errors.Is(err, fiveid.ErrNotFound) {
			continue
		}
		if err != nil {
			return con.failErr(c, err)
		}
		cv := viewOf(v)
		*side.dst = &cv
	}
	d.Fields = fieldRows(d.Customer, d.Candidate, t.Explanation)
	if c.QueryParam("preview") != "" && t.Status == fiveid.ReviewOpen && t.CustomerID != "" && d.Target != "" {
		pv, err := con.preview(c, t.CustomerID, d.Target)
		if err != nil {
			return con.failErr(c, err)
		}
		d.Preview = pv
	}
	return con.render(c, s, http.StatusOK, "task", "task.title", d)
}

func fieldRows(a, b *customerView, e match.Explanation) []fieldRow {
	val := func(v *customerView, f string) string {
		if v == nil {
			return ""
		}
		return v.field(f)
	}
	var out []fieldRow
	for _, f := range []string{"name", "sex", "birth_date", "id_type", "id"} {
		r := fieldRow{Field: f, Left: val(a, f), Right: val(b, f)}
		for _, fs := range e.Fields {
			if fs.Field == f {
				r.Level, r.Weight, r.HasLevel = fs.Level, fs.Weight, true
			}
		}
		out = append(out, r)
	}
	// Fields the explanation compares beyond the five (pinyin, ...).
	for _, fs := range e.Fields {
		if !slices.ContainsFunc(out, func(r fieldRow) bool { return r.Field == fs.Field }) {
			out = append(out, fieldRow{Field: fs.Field, Level: fs.Level, Weight: fs.Weight, HasLevel: true})
		}
	}
	return out
}

func (con *console) resolve(c echo.Context) error {
	s := sess(c)
	id := c.Param("id")
	back := Prefix + "/review/" + url.PathEscape(id)
	version, err := formInt(c, "version")
	if err != nil {
		return con.done(c, back, err, "", "")
	}
	t, err := con.svc.ResolveReviewTask(c.Request().Context(), s.p, id, version, fiveid.Resolution{
		Kind: c.FormValue("resolution"), CustomerID: c.FormValue("customer_id"),
		Merge: fiveid.MergeOptions{Override: c.FormValue("override") != "", Reason: c.FormValue("reason")}})
	if errors.Is(err, fiveid.ErrConflict) && !errors.Is(err, fiveid.ErrIdentifierConflict) {
		// Someone resolved or changed it meanwhile: say so on its page.
		return con.done(c, back, errStale, "", "")
	}
	if err != nil {
		return con.done(c, back, err, "", "")
	}
	return con.done(c, back, nil, "task.resolved."+t.Resolution, t.ID)
}

// errStale is a task changed since its page was shown.
var errStale = errors.New("stale")

// ---- customers ----

type customerView struct {
	fiveid.Customer
	MergedFrom []string
	Records    []fiveid.SourceRecord
}

func viewOf(v fiveid.CustomerView) customerView {
	return customerView{Customer: v.Customer, MergedFrom: v.MergedFrom, Records: v.Records}
}

func (v customerView) field(f string) string {
	switch f {
	case "name":
		return v.Name
	case "sex":
		return v.Sex
	case "birth_date":
		return v.BirthDate
	case "id_type":
		return v.IDType
	case "id":
		return match.MaskID(v.IDNumber)
	}
	return ""
}

type searchData struct {
	ID, System, LocalID string
	// A search by the five elements: what was asked (the ID number is
	// not echoed back), what it found, or why it could not search.
	Elements   match.Input
	Result     *fiveid.SearchResult
	Error      string
	ErrDetails []string
}

// customerSearch finds a customer by customer ID or by a system's local
// ID (the xref use case) and goes to its page.
func (con *console) customerSearch(c echo.Context) error {
	ctx, s := c.Request().Context(), sess(c)
	d := searchData{ID: strings.TrimSpace(c.QueryParam("id")), System: strings.TrimSpace(c.QueryParam("system")),
		LocalID: strings.TrimSpace(c.QueryParam("local_id"))}
	switch {
	case d.ID != "":
		v, err := con.svc.Customer(ctx, s.p, d.ID)
		if err != nil {
			return con.failErr(c, err)
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/customers/"+url.PathEscape(v.Customer.ID))
	case d.System != "" || d.LocalID != "":
		x, err := con.svc.Xref(ctx, s.p, d.System, d.LocalID)
		if err != nil {
			return con.failErr(c, err)
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/customers/"+url.PathEscape(x.CustomerID))
	}
	return con.render(c, s, http.StatusOK, "search", "search.title", d)
}

// searchElements finds the customers five elements may be, through the
// same matching as identify (SearchCustomers, which writes the search to
// the grant log). It is a POST: the elements stay out of URLs and logs,
// and the search is an audited action, not a read.
func (con *console) searchElements(c echo.Context) error {
	s := sess(c)
	in := match.Input{Name: strings.TrimSpace(c.FormValue("name")), Sex: c.FormValue("sex"), BirthDate: strings.TrimSpace(c.FormValue("birth_date")),
		IDType: strings.TrimSpace(c.FormValue("id_type")), IDNumber: strings.TrimSpace(c.FormValue("id_number"))}
	d := searchData{Elements: in}
	d.Elements.IDNumber = ""
	res, err := con.svc.SearchCustomers(c.Request().Context(), s.p, in)
	var ve *fiveid.ValidationError
	switch {
	case errors.As(err, &ve):
		status, key, details := con.explain(c, err)
		d.Error, d.ErrDetails = key, details
		return con.render(c, s, status, "search", "search.title", d)
	case err != nil:
		return con.failErr(c, err)
	}
	d.Result = &res
	return con.render(c, s, http.StatusOK, "search", "search.title", d)
}

type changeRow struct {
	fiveid.Change
	BeforeFields, AfterFields []kv
	MergeID                   string // on a merge entry: the merge, for unmerge
}

type kv struct{ K, V string }

type customerData struct {
	View    customerView
	History []changeRow
	Merges  []changeRow // entries of merges this customer took part in, newest first
	Systems []fiveid.System
}

func (con *console) customer(c echo.Context) error {
	ctx, s := c.Request().Context(), sess(c)
	v, err := con.svc.Customer(ctx, s.p, c.Param("id"))
	if err != nil {
		return con.failErr(c, err)
	}
	if v.Customer.ID != c.Param("id") { // merged away: its survivor's page
		return c.Redirect(http.StatusSeeOther, Prefix+"/customers/"+url.PathEscape(v.Customer.ID))
	}
	hs, err := con.svc.History(ctx, s.p, v.Customer.ID)
	if err != nil {
		return con.failErr(c, err)
	}
	d := customerData{View: viewOf(v)}
	for i := len(hs) - 1; i >= 0; i-- { // newest first
		r := changeRow{Change: hs[i], BeforeFields: docFields(hs[i].Before), AfterFields: docFields(hs[i].After)}
		if hs[i].Kind == fiveid.ChangeMerged {
			r.MergeID = mergeIDOf(hs[i].After)
			d.Merges = append(d.Merges, r)
		}
		d.History = append(d.History, r)
	}
	if d.Systems, err = con.svc.ListSystems(ctx, s.p); err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, s, http.StatusOK, "customer", "customer.title", d)
}

// docFields flattens a history document into sorted fields, ID numbers
// masked (the console never shows one in full).
func docFields(doc string) []kv {
	if doc == "" {
		return nil
	}
	var m map[string]any
	if json.Unmarshal([]byte(doc), &m) != nil {
		return nil
	}
	var out []kv
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if k == "v" {
				continue // the document's version
			}
			switch x := v.(type) {
			case map[string]any:
				walk(prefix+k+".", x)
			case string:
				if strings.Contains(k, "id_number") {
					x = match.MaskID(x)
				}
				if x != "" {
					out = append(out, kv{prefix + k, x})
				}
			case nil:
			default:
				b, _ := json.Marshal(x)
				out = append(out, kv{prefix + k, string(b)})
			}
		}
	}
	walk("", m)
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

func mergeIDOf(doc string) string {
	var d struct {
		Merge struct {
			ID string `json:"id"`
		} `json:"merge"`
	}
	_ = json.Unmarshal([]byte(doc), &d)
	return d.Merge.ID
}

func (con *console) recordDeath(c echo.Context) error {
	s := sess(c)
	id := c.Param("id")
	_, err := con.svc.RecordDeath(c.Request().Context(), s.p, id, strings.TrimSpace(c.FormValue("date")), strings.TrimSpace(c.FormValue("source")))
	return con.done(c, Prefix+"/customers/"+url.PathEscape(id), err, "customer.death_recorded", "")
}

// reveal shows the customer's ID number in full, once, on the page it
// redirects to (never in a URL); the use case logs who saw it.
func (con *console) reveal(c echo.Context) error {
	id := c.Param("id")
	n, err := con.svc.RevealIDNumber(c.Request().Context(), sess(c).p, id)
	return con.done(c, Prefix+"/customers/"+url.PathEscape(id), err, "customer.revealed", n)
}

func (con *console) link(c echo.Context) error {
	s := sess(c)
	id := c.Param("id")
	err := con.svc.Link(c.Request().Context(), s.p, c.FormValue("system"), strings.TrimSpace(c.FormValue("local_id")), id)
	return con.done(c, Prefix+"/customers/"+url.PathEscape(id), err, "customer.linked", "")
}

func (con *console) unlink(c echo.Context) error {
	s := sess(c)
	id := c.Param("id")
	to, err := con.svc.Unlink(c.Request().Context(), s.p, c.FormValue("system"), c.FormValue("local_id"))
	return con.done(c, Prefix+"/customers/"+url.PathEscape(id), err, "customer.unlinked", to)
}

// ---- merges ----

type previewData struct {
	From, Into string
	Survivor   customerView
	Moved      int
	Conflicts  []fiveid.IdentifierConflict
}

func (con *console) preview(c echo.Context, from, into string) (*previewData, error) {
	plan, err := con.svc.PreviewMerge(c.Request().Context(), sess(c).p, from, into)
	if err != nil {
		return nil, err
	}
	return &previewData{From: from, Into: into, Moved: len(plan.Moved), Conflicts: plan.Conflicts,
		Survivor: customerView{Customer: plan.Into, Records: plan.Resulted}}, nil
}

func (con *console) mergePreview(c echo.Context) error {
	from, into := strings.TrimSpace(c.QueryParam("from")), strings.TrimSpace(c.QueryParam("into"))
	pv, err := con.preview(c, from, into)
	if err != nil {
		return con.failErr(c, err)
	}
	return con.render(c, sess(c), http.StatusOK, "preview", "preview.title", pv)
}

func (con *console) commitMerge(c echo.Context) error {
	s := sess(c)
	from, into := c.FormValue("from"), c.FormValue("into")
	m, err := con.svc.CommitMerge(c.Request().Context(), s.p, from, into,
		fiveid.MergeOptions{Override: c.FormValue("override") != "", Reason: c.FormValue("reason")})
	if err != nil {
		return con.done(c, Prefix+"/merges/preview?"+url.Values{"from": {from}, "into": {into}}.Encode(), err, "", "")
	}
	return con.done(c, Prefix+"/customers/"+url.PathEscape(m.Into), nil, "merge.done", m.ID)
}

func (con *console) unmerge(c echo.Context) error {
	s := sess(c)
	back := localBack(c.FormValue("back"))
	m, err := con.svc.Unmerge(c.Request().Context(), s.p, c.Param("id"))
	if err != nil {
		return con.done(c, back, err, "", "")
	}
	return con.done(c, back, nil, "merge.undone", m.From)
}
