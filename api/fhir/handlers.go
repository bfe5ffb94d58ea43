package fhir

import (
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"fiveid"
	"fiveid/api"
	"fiveid/match"
)

func base(c echo.Context) string { return c.Scheme() + "://" + c.Request().Host + "/fhir" }

// read is GET /fhir/Patient/{id} (PDQm ITI-78 retrieve): the golden record
// to a caller fiveid.Service.Patient lets see it, else 404. A merged ID is
// an inactive Patient replaced by the survivor.
func (h *handlers) read(c echo.Context) error {
	id := c.Param("id")
	v, err := h.svc.Patient(c.Request().Context(), api.Principal(c), id)
	if err != nil {
		return err
	}
	if v.Customer.ID != id {
		return write(c, http.StatusOK, replaced(id, v.Customer.ID))
	}
	c.Response().Header().Set("ETag", `W/"`+strconv.FormatInt(v.Customer.Version, 10)+`"`)
	return write(c, http.StatusOK, h.patient(v))
}

// visiblePatient is the Patient of customer id as the caller may see it:
// whole when fiveid.Service.Patient allows, else only what identify and
// PIXm already told it (the ID, a recorded death).
func (h *handlers) visiblePatient(c echo.Context, id, deathDate string) (Patient, error) {
	v, err := h.svc.Patient(c.Request().Context(), api.Principal(c), id)
	switch {
	case err == nil:
		return h.patient(v), nil
	case errors.Is(err, fiveid.ErrNotFound):
		return minimal(id, deathDate), nil
	}
	return Patient{}, err
}

// feed is PUT /fhir/Patient?identifier=<system>|<local id> (ITI-104
// Patient Identity Feed): registers or updates the caller's own record
// exactly as POST /v1/customers (idempotent on system and local ID) and
// answers with the customer's Patient and its Location.
func (h *handlers) feed(c echo.Context) error {
	ctx, p := c.Request().Context(), api.Principal(c)
	for name := range c.QueryParams() {
		if name != "identifier" && name != "_format" {
			return invalid(name, "a feed takes only identifier=<system>|<local id>")
		}
	}
	if len(c.QueryParams()["identifier"]) != 1 {
		return invalid("identifier", "identifier=<system>|<local id> is required once")
	}
	system, local, ok := token(c.QueryParam("identifier"))
	if !ok {
		return invalid("identifier", "identifier must be <system>|<local id>")
	}
	code, ok := h.ids.code(system)
	if !ok {
		return invalid("identifier", "identifier's system is not a registered system's URI")
	}
	if p.Role == fiveid.RoleSystem && code != p.System {
		return &outcomeError{status: http.StatusForbidden, code: "forbidden", issue: "forbidden", field: "identifier",
			message: "a system feeds only its own local IDs: " + h.ids.system(p.System)}
	}
	var pt Patient
	if err := decodeResource(c, &pt); err != nil {
		return err
	}
	in, err := h.input(pt)
	if err != nil {
		return err
	}
	res, err := h.svc.Register(ctx, p, local, in)
	if err != nil {
		return err
	}
	v, err := h.svc.Patient(ctx, p, res.CustomerID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderLocation, base(c)+"/Patient/"+v.Customer.ID)
	hd.Set("ETag", `W/"`+strconv.FormatInt(v.Customer.Version, 10)+`"`)
	return write(c, status, h.patient(v))
}

// pix is GET /fhir/Patient/$ihe-pix (PIXm ITI-83): the identifiers other
// systems hold for the person sourceIdentifier names, from Xref. As the
// profile says: an unknown source system is 400, an unknown local ID 404,
// an unknown target system 403, a person without identifiers in the target
// systems an empty Parameters.
func (h *handlers) pix(c echo.Context) error {
	ctx, p := c.Request().Context(), api.Principal(c)
	for name := range c.QueryParams() {
		if name != "sourceIdentifier" && name != "targetSystem" && name != "_format" {
			return invalid(name, "$ihe-pix takes sourceIdentifier and targetSystem")
		}
	}
	if len(c.QueryParams()["sourceIdentifier"]) != 1 {
		return invalid("sourceIdentifier", "sourceIdentifier=<system>|<local id> is required once")
	}
	system, local, ok := token(c.QueryParam("sourceIdentifier"))
	if !ok {
		return invalid("sourceIdentifier", "sourceIdentifier must be <system>|<local id>")
	}
	code, ok := h.ids.code(system)
	if ok {
		var err error
		if ok, err = h.svc.SystemExists(ctx, p, code); err != nil {
			return err
		}
	}
	if !ok {
		return &outcomeError{status: http.StatusBadRequest, code: "unknown_system", issue: "code-invalid", field: "sourceIdentifier",
			message: "sourceIdentifier Assigning Authority not found"}
	}
	targets := map[string]bool{} // system URI -> wanted; empty: all
	for _, v := range c.QueryParams()["targetSystem"] {
		for _, uri := range strings.Split(v, ",") {
			known := uri == h.ids.customer
			if tc, ok := h.ids.code(uri); ok && !known {
				var err error
				if known, err = h.svc.SystemExists(ctx, p, tc); err != nil {
					return err
				}
			}
			if !known {
				return &outcomeError{status: http.StatusForbidden, code: "unknown_target_system", issue: "code-invalid", field: "targetSystem",
					message: "targetSystem not found"}
			}
			targets[uri] = true
		}
	}
	x, err := h.svc.Xref(ctx, p, code, local)
	if errors.Is(err, fiveid.ErrNotFound) {
		return &outcomeError{status: http.StatusNotFound, code: "not_found", issue: "not-found", field: "sourceIdentifier",
			message: "sourceIdentifier Patient Identifier not found"}
	}
	if err != nil {
		return err
	}
	out := Parameters{ResourceType: "Parameters"}
	want := func(uri string) bool { return len(targets) == 0 || targets[uri] }
	if want(h.ids.customer) {
		out.Parameter = append(out.Parameter, Parameter{Name: "targetIdentifier", ValueIdentifier: &Identifier{System: h.ids.customer, Value: x.CustomerID}})
	}
	for _, r := range x.Records {
		uri := h.ids.system(r.System)
		if (r.System == code && r.LocalID == local) || !want(uri) {
			continue
		}
		out.Parameter = append(out.Parameter, Parameter{Name: "targetIdentifier", ValueIdentifier: &Identifier{System: uri, Value: r.LocalID}})
	}
	if len(out.Parameter) > 0 {
		out.Parameter = append(out.Parameter, Parameter{Name: "targetId", ValueReference: &Reference{Reference: "Patient/" + x.CustomerID}})
	}
	return write(c, http.StatusOK, out)
}

// Search parameters (PDQm ITI-78) and paging.
const (
	defaultCount = 10
	maxCount     = 100
	// maxIdentifiers bounds the identifiers one search may list (OR): a
	// search names people, it does not walk the index.
	maxIdentifiers = 20
)

var demographicParams = []string{"family", "given", "name", "birthdate", "gender"}

// search is GET /fhir/Patient (PDQm ITI-78). It names only customers the
// caller may name, by the rules of the use cases it calls:
//   - _id, or identifier=<system>|<local id> (registered systems; OR with
//     commas, at most 20): the customer that ID belongs to (Patient; Xref);
//   - demographics (family, given, name, birthdate, gender, and identifier
//     of an ID type): identify — certain or probable names the customer;
//     possible or a tie names nobody and says needs_review, as identify
//     does; too little to identify is 400, so the index cannot be dumped.
//
// A customer the caller may not read (fiveid.Service.Patient) appears as its
// ID only. Results are paged with _count and _offset (next links).
func (h *handlers) search(c echo.Context) error { return h.searchWith(c, c.QueryParams()) }

// searchPost is POST /fhir/Patient/_search (FHIR R4 search with the
// parameters in an application/x-www-form-urlencoded body, which PDQm asks
// a supplier to accept as well): the same search; the form's values must be
// text the stores can keep, as a query's are.
func (h *handlers) searchPost(c echo.Context) error {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != "application/x-www-form-urlencoded" {
		return &outcomeError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", issue: "not-supported",
			message: "send the search parameters as application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return invalid("", "the form could not be read")
	}
	q := url.Values{}
	for _, vs := range []url.Values{r.URL.Query(), r.PostForm} {
		for k, v := range vs {
			if !fiveid.ValidText(k) {
				return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{fiveid.InvalidText("form")}}
			}
			for _, x := range v {
				if !fiveid.ValidText(x) {
					return &fiveid.ValidationError{Problems: []fiveid.FieldProblem{fiveid.InvalidText(k)}}
				}
			}
			q[k] = append(q[k], v...)
		}
	}
	return h.searchWith(c, q)
}

func (h *handlers) searchWith(c echo.Context, q url.Values) error {
	for name := range q {
		switch name {
		case "_id", "identifier", "family", "given", "name", "birthdate", "gender", "_count", "_offset", "_format":
		default:
			return invalid(name, "unsupported search parameter "+name+" (GET /fhir/metadata lists the supported ones)")
		}
	}
	count, err := intParam(q, "_count", defaultCount, 0, maxCount)
	if err != nil {
		return err
	}
	offset, err := intParam(q, "_offset", 0, 0, math.MaxInt32)
	if err != nil {
		return err
	}
	demographic := false
	for _, name := range demographicParams {
		demographic = demographic || len(q[name]) > 0
	}
	var entries []BundleEntry
	switch {
	case len(q["_id"]) > 0:
		if demographic || len(q["identifier"]) > 0 {
			return invalid("_id", "_id is searched alone")
		}
		entries, err = h.searchIDs(c, q["_id"])
	case demographic:
		entries, err = h.searchDemographics(c, q)
	case len(q["identifier"]) > 0:
		entries, err = h.searchIdentifiers(c, q["identifier"])
	default:
		return invalid("", "a search needs _id, identifier or demographics (name and birthdate or an ID number): the index is not listed")
	}
	if err != nil {
		return err
	}
	return write(c, http.StatusOK, page(c, q, entries, count, offset))
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, name+" must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

// page cuts a searchset page from the matches (outcome entries always
// stay) with self and next links.
func page(c echo.Context, q url.Values, entries []BundleEntry, count, offset int) Bundle {
	var matches, outcomes []BundleEntry
	for _, e := range entries {
		if e.Search != nil && e.Search.Mode == "outcome" {
			outcomes = append(outcomes, e)
		} else {
			matches = append(matches, e)
		}
	}
	total := len(matches)
	b := Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total}
	link := func(off int) string {
		u := url.Values{}
		for k, v := range q {
			u[k] = v
		}
		u.Set("_count", strconv.Itoa(count))
		u.Set("_offset", strconv.Itoa(off))
		return base(c) + "/Patient?" + u.Encode()
	}
	b.Link = []BundleLink{{Relation: "self", URL: link(offset)}}
	lo, hi := min(offset, total), min(offset+count, total)
	b.Entry = append(matches[lo:hi:hi], outcomes...)
	if hi < total {
		b.Link = append(b.Link, BundleLink{Relation: "next", URL: link(hi)})
	}
	if offset > 0 {
		b.Link = append(b.Link, BundleLink{Relation: "previous", URL: link(max(0, offset-count))})
	}
	return b
}

func (h *handlers) entry(c echo.Context, p Patient) BundleEntry {
	return BundleEntry{FullURL: base(c) + "/Patient/" + p.ID, Resource: p, Search: &BundleSearch{Mode: "match"}}
}

// commaList splits repeated and comma-separated token values (OR).
func commaList(vs []string) ([]string, error) {
	var out []string
	for _, v := range vs {
		out = append(out, strings.Split(v, ",")...)
	}
	if len(out) > maxIdentifiers {
		return nil, invalid("identifier", "at most "+strconv.Itoa(maxIdentifiers)+" identifiers per search")
	}
	return out, nil
}

func (h *handlers) searchIDs(c echo.Context, ids []string) ([]BundleEntry, error) {
	list, err := commaList(ids)
	if err != nil {
		return nil, err
	}
	var out []BundleEntry
	seen := map[string]bool{}
	for _, id := range list {
		v, err := h.svc.Patient(c.Request().Context(), api.Principal(c), id)
		if errors.Is(err, fiveid.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !seen[v.Customer.ID] {
			seen[v.Customer.ID] = true
			out = append(out, h.entry(c, h.patient(v)))
		}
	}
	return out, nil
}

func (h *handlers) searchIdentifiers(c echo.Context, values []string) ([]BundleEntry, error) {
	list, err := commaList(values)
	if err != nil {
		return nil, err
	}
	ctx, p := c.Request().Context(), api.Principal(c)
	var out []BundleEntry
	seen := map[string]bool{}
	for _, v := range list {
		system, value, ok := token(v)
		if !ok {
			return nil, invalid("identifier", "identifier must be <system>|<value>")
		}
		if system == h.ids.customer {
			e, err := h.searchIDs(c, []string{value})
			if err != nil {
				return nil, err
			}
			for _, en := range e {
				if id := en.Resource.(Patient).ID; !seen[id] {
					seen[id] = true
					out = append(out, en)
				}
			}
			continue
		}
		if _, isIDType := h.ids.idTypeOf[system]; isIDType {
			return nil, invalid("identifier", "an ID number is searched with the name it belongs to (name or family/given), as identify asks")
		}
		code, ok := h.ids.code(system)
		if !ok {
			return nil, invalid("identifier", "unknown identifier system "+system)
		}
		x, err := h.svc.Xref(ctx, p, code, value)
		if errors.Is(err, fiveid.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if seen[x.CustomerID] {
			continue
		}
		seen[x.CustomerID] = true
		pt, err := h.visiblePatient(c, x.CustomerID, x.DeathDate)
		if err != nil {
			return nil, err
		}
		out = append(out, h.entry(c, pt))
	}
	return out, nil
}

// searchDemographics asks identify (fiveid.Service.Identify) with the
// search's elements.
func (h *handlers) searchDemographics(c echo.Context, q url.Values) ([]BundleEntry, error) {
	for _, name := range demographicParams {
		if len(q[name]) > 1 || strings.Contains(q.Get(name), ",") {
			return nil, invalid(name, name+" takes one value: a search names one person")
		}
	}
	in := match.Input{Sex: q.Get("gender")}
	switch in.Sex {
	case "", "male", "female":
	case "other", "unknown":
		in.Sex = ""
	default:
		return nil, invalid("gender", "gender must be male, female, other or unknown")
	}
	if d := q.Get("birthdate"); d != "" {
		// A date with a prefix other than eq is a range: identify compares one date.
		if len(d) > 2 && d[0] >= 'a' && d[0] <= 'z' {
			rest, ok := strings.CutPrefix(d, "eq")
			if !ok {
				return nil, invalid("birthdate", "birthdate takes a date (or eq<date>): identify compares one date, not a range")
			}
			d = rest
		}
		in.BirthDate = d
	}
	in.Name = nameText(q.Get("name"), q.Get("family"), strings.Fields(q.Get("given")))
	if ids := q["identifier"]; len(ids) > 0 {
		if len(ids) > 1 || strings.Contains(ids[0], ",") {
			return nil, invalid("identifier", "a demographic search takes one ID number")
		}
		system, value, ok := token(ids[0])
		t, isIDType := h.ids.idTypeOf[system]
		if !ok || !isIDType {
			return nil, invalid("identifier", "with demographics, identifier is an ID number: <ID type system>|<number>")
		}
		in.IDType, in.IDNumber = string(t), value
	}
	res, err := h.svc.Identify(c.Request().Context(), api.Principal(c), in)
	switch {
	case errors.Is(err, fiveid.ErrNoMatch):
		return nil, nil
	case errors.Is(err, fiveid.ErrNeedsReview):
		return []BundleEntry{reviewOutcome(res.ReviewTaskID)}, nil
	case err != nil:
		return nil, err
	}
	pt, err := h.visiblePatient(c, res.CustomerID, res.DeathDate)
	if err != nil {
		return nil, err
	}
	return []BundleEntry{h.matchEntry(c, pt, res.Decision)}, nil
}

// reviewOutcome is identify's needs_review as a searchset entry: nobody is
// named; a steward decides (the review task).
func reviewOutcome(taskID string) BundleEntry {
	return BundleEntry{Resource: OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{
		Severity: "information", Code: "multiple-matches",
		Details:     codeable(ErrorCodeSystem, "needs_review", "only a possible match, or several customers equally likely: a data steward must review it; no customer is named"),
		Diagnostics: "review_task_id=" + taskID,
	}}}, Search: &BundleSearch{Mode: "outcome"}}
}

// matchEntry is a matched Patient with the decision's grade
// (match-grade extension) and score as a probability: fiveid's score is
// the posterior log2-odds s, so the probability is 1/(1+2^-s).
func (h *handlers) matchEntry(c echo.Context, p Patient, d fiveid.Decision) BundleEntry {
	e := h.entry(c, p)
	score := math.Round(1/(1+math.Exp2(-d.Score))*1e4) / 1e4
	e.Search.Score = &score
	e.Search.Extension = []Extension{{URL: MatchGradeExtension, ValueCode: string(d.Grade)}}
	return e
}

// match is POST /fhir/Patient/$match (ITI-119): identify with the
// Patient's elements — so ties and conflicts behave exactly as there — and
// a grant asked for the same way (scope, purpose, ttl parameters).
// onlyCertainMatches is always honoured: identify names at most one
// customer, and only one it would link automatically.
func (h *handlers) match(c echo.Context) error {
	var params Parameters
	if err := decodeResource(c, &params); err != nil {
		return err
	}
	if params.ResourceType != "Parameters" {
		return invalid("resourceType", "$match takes a Parameters resource")
	}
	var (
		pt       *Patient
		grantReq fiveid.GrantRequest
	)
	for i, prm := range params.Parameter {
		switch prm.Name {
		case "resource":
			if pt != nil || len(prm.Resource) == 0 {
				return invalid("Parameters.parameter", "one resource parameter holding a Patient is required")
			}
			pt = new(Patient)
			if err := json.Unmarshal(prm.Resource, pt); err != nil {
				return invalid("Parameters.parameter[resource]", "the resource must be a Patient")
			}
		case "onlyCertainMatches":
			if prm.ValueBoolean == nil {
				return invalid("Parameters.parameter[onlyCertainMatches]", "onlyCertainMatches is a valueBoolean")
			}
		case "count":
			if prm.ValueInteger == nil || *prm.ValueInteger < 1 {
				return invalid("Parameters.parameter[count]", "count is a positive valueInteger")
			}
		case "scope":
			s := stringValue(prm)
			if s == "" {
				return invalid("Parameters.parameter[scope]", "scope is a valueCode or valueString")
			}
			grantReq.Scopes = append(grantReq.Scopes, s)
		case "purpose":
			grantReq.Purpose = stringValue(prm)
		case "ttl":
			if prm.ValueInteger == nil || *prm.ValueInteger < 1 || *prm.ValueInteger > int64(fiveid.MaxGrantTTL/time.Second) {
				return invalid("Parameters.parameter[ttl]", "ttl is a valueInteger of seconds from 1 to 86400")
			}
			grantReq.TTL = time.Duration(*prm.ValueInteger) * time.Second
		default:
			return invalid("Parameters.parameter["+strconv.Itoa(i)+"]", "unsupported $match parameter "+prm.Name)
		}
	}
	if pt == nil {
		return invalid("Parameters.parameter", "a resource parameter holding a Patient is required")
	}
	in, err := h.input(*pt)
	if err != nil {
		return err
	}
	res, err := h.svc.IdentifyAndGrant(c.Request().Context(), api.Principal(c), in, grantReq)
	total := 0
	b := Bundle{ResourceType: "Bundle", Type: "searchset", Total: &total}
	switch {
	case errors.Is(err, fiveid.ErrNoMatch):
	case errors.Is(err, fiveid.ErrNeedsReview):
		b.Entry = append(b.Entry, reviewOutcome(res.ReviewTaskID))
	case err != nil:
		return err
	default:
		pt, err := h.visiblePatient(c, res.CustomerID, res.DeathDate)
		if err != nil {
			return err
		}
		e := h.matchEntry(c, pt, res.Decision)
		if res.Grant != nil {
			e.Extension = []Extension{grantExtension(res.Grant)}
		}
		// count bounds the answer; identify names at most one customer.
		total = 1
		b.Entry = append(b.Entry, e)
	}
	if len(res.Findings) > 0 {
		b.Entry = append(b.Entry, findingsOutcome(res.Findings))
	}
	return write(c, http.StatusOK, b)
}

func stringValue(p Parameter) string {
	switch {
	case p.ValueCode != nil:
		return *p.ValueCode
	case p.ValueString != nil:
		return *p.ValueString
	}
	return ""
}

// grantExtension carries an issued grant on the matched entry: its ID, the
// signed token, scopes, purpose and expiry (as POST /v1/identify's grant).
func grantExtension(g *fiveid.IssuedGrant) Extension {
	ext := Extension{URL: GrantExtension, Extension: []Extension{
		{URL: "id", ValueString: g.Grant.ID},
		{URL: "token", ValueString: g.Token},
	}}
	for _, s := range g.Grant.Scopes {
		ext.Extension = append(ext.Extension, Extension{URL: "scope", ValueCode: s})
	}
	ext.Extension = append(ext.Extension,
		Extension{URL: "purpose", ValueString: g.Grant.Purpose},
		Extension{URL: "expires", ValueInstant: fhirTime(g.Grant.ExpiresAt)})
	return ext
}

// findingsOutcome reports how fiveid read the elements (the warnings of
// identify), each with its stable finding code.
func findingsOutcome(fs []match.Finding) BundleEntry {
	oo := OperationOutcome{ResourceType: "OperationOutcome"}
	for _, f := range fs {
		sev := "information"
		if f.Severity == match.SeverityWarning {
			sev = "warning"
		}
		oo.Issue = append(oo.Issue, Issue{Severity: sev, Code: "informational",
			Details: codeable(FindingSystem, f.Code, ""), Expression: []string{fhirPath(f.Field)}})
	}
	return BundleEntry{Resource: oo, Search: &BundleSearch{Mode: "outcome"}}
}
