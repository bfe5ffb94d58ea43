package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/api"
)

// pageSize is how many grant log entries or grants one page lists.
const pageSize = 50

// invalid is a form field the console could not read, answered as the
// API answers one (400 validation_failed naming the field).
func invalid(field, msg string) error {
	return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{{Field: field, Code: "invalid", Message: msg}}}
}

func formInt(c echo.Context, name string) (int64, error) {
	n, err := strconv.ParseInt(c.FormValue(name), 10, 64)
	if err != nil || n < 0 {
		return 0, invalid(name, name+" must be a non-negative integer")
	}
	return n, nil
}

// day reads a YYYY-MM-DD date field as the start of that day in the
// console's time zone; next is the start of the day after.
func (con *console) day(c echo.Context, name string, next bool) (time.Time, error) {
	v := strings.TrimSpace(c.QueryParam(name))
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", v, con.loc)
	if err != nil {
		return time.Time{}, invalid(name, name+" must be a date such as 2026-11-22")
	}
	if next {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// auditFilter reads the grant log filters of the log page and its export.
func (con *console) auditFilter(c echo.Context) (fiveid.AuditFilter, url.Values, error) {
	f := fiveid.AuditFilter{CustomerID: strings.TrimSpace(c.QueryParam("customer_id")), System: strings.TrimSpace(c.QueryParam("system")),
		Action: c.QueryParam("action"), Limit: pageSize}
	var err error
	if f.From, err = con.day(c, "from", false); err != nil {
		return f, nil, err
	}
	if f.To, err = con.day(c, "to", true); err != nil {
		return f, nil, err
	}
	if a := c.QueryParam("after"); a != "" {
		if f.AfterSeq, err = strconv.ParseInt(a, 10, 64); err != nil || f.AfterSeq < 0 {
			return f, nil, invalid("after", "after must be a non-negative integer")
		}
	}
	q := url.Values{}
	for _, k := range []string{"customer_id", "system", "action", "from", "to"} {
		if v := c.QueryParam(k); v != "" {
			q.Set(k, v)
		}
	}
	return f, q, nil
}

type auditData struct {
	Filter  url.Values
	Actions []string
	Events  []fiveid.AuditEvent
	Next    string // the next page's link, "" on the last
	// The filtered view's exports.
	ExportCSV, ExportNDJSON string
}

// Actions an auditor can filter by.
var auditActions = []string{fiveid.ActionGrantIssued, fiveid.ActionGrantDenied, fiveid.ActionGrantIntrospected,
	fiveid.ActionGrantRevoked, fiveid.ActionIdentifyMatched, fiveid.ActionIdentifyNoMatch, fiveid.ActionIdentifyReview,
	fiveid.ActionPolicyCreated, fiveid.ActionPolicyDeleted, fiveid.ActionHolderCreated, fiveid.ActionHolderDeleted,
	fiveid.ActionSigningKeyRotated, fiveid.ActionIDRevealed, fiveid.ActionCustomerSearched}

func (con *console) auditLog(c echo.Context) error {
	s := sess(c)
	f, q, err := con.auditFilter(c)
	if err != nil {
		return con.failErr(c, err)
	}
	evs, next, err := con.svc.AuditEvents(c.Request().Context(), s.p, f)
	if err != nil {
		return con.failErr(c, err)
	}
	d := auditData{Filter: q, Actions: auditActions, Events: evs}
	for _, x := range []struct {
		format string
		dst    *string
	}{{"csv", &d.ExportCSV}, {"ndjson", &d.ExportNDJSON}} {
		eq := url.Values{"format": {x.format}}
		for k, v := range q {
			eq[k] = v
		}
		*x.dst = Prefix + "/audit/export?" + eq.Encode()
	}
	if next != "" {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("after", next)
		d.Next = Prefix + "/audit?" + nq.Encode()
	}
	return con.render(c, s, http.StatusOK, "audit", "audit.title", d)
}

// auditExport streams the filtered view, every page of it, through the
// API's own export.
func (con *console) auditExport(c echo.Context) error {
	f, _, err := con.auditFilter(c)
	if err != nil {
		return con.failErr(c, err)
	}
	format := c.QueryParam("format")
	if format != "csv" && format != "ndjson" {
		return con.failErr(c, invalid("format", "format must be csv or ndjson"))
	}
	if format == "ndjson" {
		c.Response().Header().Set("Content-Disposition", `attachment; filename="fiveid-grant-log.ndjson"`)
	}
	if err := api.ExportAudit(c, con.svc, sess(c).p, f, format, con.log); err != nil {
		c.Response().Header().Del("Content-Disposition")
		return con.failErr(c, err)
	}
	return nil
}

func (con *console) auditEntry(c echo.Context) error {
	s := sess(c)
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		return con.failErr(c, invalid("seq", "seq must be a positive integer"))
	}
	evs, _, err := con.svc.AuditEvents(c.Request().Context(), s.p, fiveid.AuditFilter{AfterSeq: seq - 1, Limit: 1})
	if err != nil {
		return con.failErr(c, err)
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return con.failErr(c, fiveid.ErrNotFound)
	}
	return con.render(c, s, http.StatusOK, "entry", "entry.title", evs[0])
}

// auditVerify checks the whole chain: it changes nothing, so it is a GET.
func (con *console) auditVerify(c echo.Context) error {
	s := sess(c)
	r, err := con.svc.VerifyAudit(c.Request().Context(), s.p)
	if err != nil {
		return con.failErr(c, err)
	}
	con.verifiedMu.Lock()
	con.verified = &lastVerify{VerifyResult: r, At: con.sessions.now(), By: s.p.KeyID}
	con.verifiedMu.Unlock()
	return con.render(c, s, http.StatusOK, "verify", "verify.title", r)
}

type grantsData struct {
	CustomerID, Grantee, Status string
	Grants                      []fiveid.Grant
	Now                         time.Time
	Next                        string
	CanRevoke                   bool
}

func (con *console) grants(c echo.Context) error {
	s := sess(c)
	d := grantsData{CustomerID: strings.TrimSpace(c.QueryParam("customer_id")), Grantee: strings.TrimSpace(c.QueryParam("grantee")),
		Status: c.QueryParam("status"), Now: con.sessions.now(), CanRevoke: s.p.Role == fiveid.RoleAdmin}
	gs, next, err := con.svc.ListGrants(c.Request().Context(), s.p, fiveid.GrantFilter{CustomerID: d.CustomerID, Grantee: d.Grantee,
		Status: d.Status, Limit: pageSize, AfterID: c.QueryParam("after")})
	if err != nil {
		return con.failErr(c, err)
	}
	d.Grants = gs
	if next != "" {
		d.Next = Prefix + "/grants?" + url.Values{"customer_id": {d.CustomerID}, "grantee": {d.Grantee}, "status": {d.Status}, "after": {next}}.Encode()
	}
	return con.render(c, s, http.StatusOK, "grants", "grants.title", d)
}

func (con *console) revokeGrant(c echo.Context) error {
	s := sess(c)
	err := con.svc.RevokeGrant(c.Request().Context(), s.p, c.Param("id"))
	return con.done(c, Prefix+"/grants", err, "grants.revoked", c.Param("id"))
}
