package fhir_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"fiveid"
	"fiveid/api"
	"fiveid/api/fhir"
	"fiveid/match"
	"fiveid/store"
	"fiveid/store/teststore"
)

type env struct {
	e    *echo.Echo
	svc  *fiveid.Service
	keys map[string]string // admin, hosp, care, other
}

// envs serves the API with /fhir on each store: the embedded one, and
// PostgreSQL (storetest: skipped when unreachable, unless CI=true).
func envs(t *testing.T) map[string]*env { return envsOf(t, false) }

func envsOf(t *testing.T, embeddedOnly bool) map[string]*env {
	t.Helper()
	out := map[string]*env{"embedded": newEnv(t, teststore.Embedded(t))}
	if embeddedOnly {
		return out
	}
	out["postgres"] = newEnv(t, teststore.Postgres(t))
	return out
}

// newEnv serves the API with /fhir on db, with three systems (hosp, whose
// URI is configured; care and other, with the default prefix), a key for
// each and an admin key.
func newEnv(t *testing.T, db *store.DB, opts ...func(*api.Config)) *env {
	t.Helper()
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	m, err := api.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := match.NewScorer(match.DefaultWeights(), match.DefaultThresholds())
	svc, err := fiveid.NewService(ctx, fiveid.Config{Store: db, Grants: db, Idempotency: db, Cache: store.NewMemoryCache(time.Minute, 100),
		Scorer: sc, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	mount, err := fhir.Mount(fhir.Config{Service: svc, SystemURIs: map[string]string{"hosp": "urn:oid:2.999.9.1"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Service: svc, Metrics: m, Gatherer: reg, Mount: []api.Mounter{mount}}
	for _, o := range opts {
		o(&cfg)
	}
	e, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin := fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}
	en := &env{e: e, svc: svc, keys: map[string]string{}}
	_, en.keys["admin"], err = svc.CreateKey(ctx, admin, fiveid.RoleAdmin, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"hosp", "care", "other"} {
		if _, err := svc.CreateSystem(ctx, admin, fiveid.System{Code: code, Name: code, Kind: fiveid.KindMedical}); err != nil {
			t.Fatal(err)
		}
		if _, en.keys[code], err = svc.CreateKey(ctx, admin, fiveid.RoleSystem, code, ""); err != nil {
			t.Fatal(err)
		}
	}
	return en
}

var r4 = func() *jsonformat.Unmarshaller {
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		panic(err)
	}
	return u
}()

// do sends a request and checks the answer is FHIR JSON that the R4 parser
// (github.com/google/fhir/go, which enforces the R4 definitions: required
// elements, cardinalities, value sets of required bindings, primitive
// formats) accepts; it returns the status, the decoded body and the header.
func (en *env) do(t *testing.T, method, path, key string, body any, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	en.e.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, rec.Body)
	}
	if _, err := r4.Unmarshal(rec.Body.Bytes()); err != nil {
		t.Fatalf("%s %s: the answer is not valid R4: %v\n%s", method, path, err, rec.Body)
	}
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return rec.Code, out, rec.Header()
}

// get walks a decoded resource: keys and array indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// errorCode is an OperationOutcome's fiveid code (issue[0].details).
func errorCode(oo map[string]any) string {
	s, _ := get(oo, "issue", 0, "details", "coding", 0, "code").(string)
	return s
}

func wantOutcome(t *testing.T, what string, status int, body map[string]any, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus || body["resourceType"] != "OperationOutcome" || errorCode(body) != wantCode {
		t.Errorf("%s: got %d %v %q, want %d OperationOutcome %q: %v", what, status, body["resourceType"], errorCode(body), wantStatus, wantCode, body)
	}
	if get(body, "issue", 0, "details", "coding", 0, "system") != fhir.ErrorCodeSystem {
		t.Errorf("%s: issue.details names no fiveid code system: %v", what, body)
	}
}

// citizen is a valid GB 11643 number: the first 17 characters and the
// ISO 7064 MOD 11-2 check character.
func citizen(first17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, r := range first17 {
		sum += int(r-'0') * w[i]
	}
	return first17 + string("10X98765432"[sum%11])
}

const ricSystem = "urn:oid:2.16.156.10011.1.3"

func patientBody(family, given, gender, birth, number string) map[string]any {
	p := map[string]any{"resourceType": "Patient", "gender": gender, "birthDate": birth,
		"name": []any{map[string]any{"use": "official", "family": family, "given": []any{given}}}}
	if number != "" {
		p["identifier"] = []any{map[string]any{"system": ricSystem, "value": number}}
	}
	return p
}

func TestMetadataAndFormats(t *testing.T) {
	t.Parallel()
	en := envsOf(t, true)["embedded"]
	status, cs, _ := en.do(t, "GET", "/fhir/metadata", "", nil)
	if status != 200 || cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d %v", status, cs)
	}
	var ops []string
	for _, o := range get(cs, "rest", 0, "resource", 0, "operation").([]any) {
		ops = append(ops, o.(map[string]any)["name"].(string))
	}
	if strings.Join(ops, ",") != "ihe-pix,match" {
		t.Errorf("operations %v, want ihe-pix and match", ops)
	}
	for _, tc := range []struct {
		path, accept string
		want         int
	}{
		{"/fhir/metadata?_format=json", "", 200},
		{"/fhir/metadata?_format=application/fhir%2Bjson", "", 200},
		{"/fhir/metadata", "application/fhir+json", 200},
		{"/fhir/metadata", "text/html, */*;q=0.8", 200},
		{"/fhir/metadata?_format=xml", "", 406},
		{"/fhir/metadata", "application/fhir+xml", 406},
		{"/fhir/metadata?_format=application/fhir%2Bxml", "application/fhir+json", 406},
	} {
		var hdr []string
		if tc.accept != "" {
			hdr = []string{"Accept", tc.accept}
		}
		status, body, _ := en.do(t, "GET", tc.path, "", nil, hdr...)
		if status != tc.want {
			t.Errorf("%s Accept %q: %d, want %d", tc.path, tc.accept, status, tc.want)
		}
		if tc.want == 406 {
			wantOutcome(t, tc.path, status, body, 406, "not_acceptable")
		}
	}
	status, body, _ := en.do(t, "GET", "/fhir/Patient/C1", "", nil)
	wantOutcome(t, "no key", status, body, 401, "unauthenticated")
	status, body, _ = en.do(t, "GET", "/fhir/Observation", en.keys["hosp"], nil)
	wantOutcome(t, "unknown resource", status, body, 404, "not_found")
	status, body, _ = en.do(t, "DELETE", "/fhir/Patient/C1", en.keys["hosp"], nil)
	wantOutcome(t, "an interaction not implemented", status, body, 405, "method_not_allowed")
	status, body, _ = en.do(t, "PUT", "/fhir/Patient?identifier=urn:oid:2.999.9.1|P1", en.keys["hosp"], `<Patient xmlns="http://hl7.org/fhir"/>`, "Content-Type", "application/fhir+xml")
	wantOutcome(t, "an XML body", status, body, 415, "unsupported_media_type")
}

// TestTransactions drives feed -> read -> PIXm -> PDQm -> $match on each store.
func TestTransactions(t *testing.T) {
	t.Parallel()
	for name, en := range envs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			hosp, care, other := en.keys["hosp"], en.keys["care"], en.keys["other"]
			p1, r77, p2 := "P001", "R-77", "P002"
			number := citizen("11010519491231002") // GB 11643's own example: 11010519491231002X

			// ITI-104: the hospital feeds its patient.
			status, pt, hdr := en.do(t, "PUT", "/fhir/Patient?identifier=urn:oid:2.999.9.1|"+p1, hosp, patientBody("欧阳", "雪婧", "female", "1949-12-31", number))
			if status != 201 || pt["resourceType"] != "Patient" {
				t.Fatalf("feed: %d %v", status, pt)
			}
			id := pt["id"].(string)
			if loc := hdr.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+id) {
				t.Errorf("Location %q, want .../fhir/Patient/%s", loc, id)
			}
			if get(pt, "name", 0, "text") != "欧阳雪婧" || get(pt, "name", 0, "family") != "欧阳" || get(pt, "name", 0, "given", 0) != "雪婧" {
				t.Errorf("name: %v", pt["name"])
			}
			if pt["gender"] != "female" || pt["birthDate"] != "1949-12-31" {
				t.Errorf("gender/birthDate: %v %v", pt["gender"], pt["birthDate"])
			}
			ids := map[string]string{}
			for _, x := range pt["identifier"].([]any) {
				ids[get(x, "system").(string)] = get(x, "value").(string)
				if get(x, "system") == ricSystem && get(x, "type", "coding", 0, "code") != "CN_RIC" {
					t.Errorf("ID number type: %v", x)
				}
			}
			if ids[ricSystem] != number || ids["urn:oid:2.999.9.1"] != p1 || ids[fhir.DefaultCustomerSystem] != id {
				t.Errorf("identifiers: %v", ids)
			}
			// Idempotent: the same feed again changes nothing.
			status, again, _ := en.do(t, "PUT", "/fhir/Patient?identifier=urn:oid:2.999.9.1|"+p1, hosp, patientBody("欧阳", "雪婧", "female", "1949-12-31", number))
			if status != 200 || again["id"] != id {
				t.Errorf("repeated feed: %d %v, want 200 %s", status, again["id"], id)
			}
			// The care home feeds the same person in traditional characters: linked.
			status, cp, _ := en.do(t, "PUT", "/fhir/Patient?identifier=urn:fiveid:system:care|"+r77, care,
				map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"text": "歐陽雪婧"}}, "birthDate": "1949-12-31",
					"identifier": []any{map[string]any{"system": ricSystem, "value": number}}})
			if status != 200 || cp["id"] != id {
				t.Fatalf("second system's feed: %d %v, want 200 and %s", status, cp["id"], id)
			}
			if n := len(cp["link"].([]any)); n != 2 || get(cp, "link", 0, "type") != "seealso" {
				t.Errorf("links: %v", cp["link"])
			}
			status, body, _ := en.do(t, "PUT", "/fhir/Patient?identifier=urn:fiveid:system:care|X1", hosp, patientBody("张", "伟", "male", "1980-01-02", ""))
			wantOutcome(t, "feeding another system's ID", status, body, 403, "forbidden")
			status, body, _ = en.do(t, "PUT", "/fhir/Patient?identifier=urn:oid:2.999.9.1|X2", hosp, map[string]any{"resourceType": "Patient", "gender": "male"})
			wantOutcome(t, "a Patient without name", status, body, 400, "validation_failed")
			if get(body, "issue", 1, "expression", 0) == nil {
				t.Errorf("validation outcome names no element: %v", body)
			}

			// Read: the systems holding a record see it; another system does not.
			status, rd, hd := en.do(t, "GET", "/fhir/Patient/"+id, care, nil)
			if status != 200 || rd["id"] != id || hd.Get("ETag") == "" {
				t.Errorf("read: %d %v", status, rd)
			}
			status, body, _ = en.do(t, "GET", "/fhir/Patient/"+id, other, nil)
			wantOutcome(t, "read by a system without a record", status, body, 404, "not_found")
			status, _, _ = en.do(t, "GET", "/fhir/Patient/"+id, en.keys["admin"], nil)
			if status != 200 {
				t.Errorf("admin read: %d", status)
			}

			// PIXm ITI-83.
			status, px, _ := en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:oid:2.999.9.1|"+p1), other, nil)
			if status != 200 || px["resourceType"] != "Parameters" {
				t.Fatalf("pix: %d %v", status, px)
			}
			got := map[string]any{}
			for _, prm := range px["parameter"].([]any) {
				if v := get(prm, "valueIdentifier", "value"); v != nil {
					got[get(prm, "valueIdentifier", "system").(string)] = v
				}
				if v := get(prm, "valueReference", "reference"); v != nil {
					got["targetId"] = v
				}
			}
			if got["urn:fiveid:system:care"] != r77 || got[fhir.DefaultCustomerSystem] != id || got["targetId"] != "Patient/"+id || got["urn:oid:2.999.9.1"] != nil {
				t.Errorf("pix answer: %v", got)
			}
			status, px, _ = en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:oid:2.999.9.1|"+p1)+"&targetSystem=urn:fiveid:system:care", other, nil)
			if status != 200 || len(px["parameter"].([]any)) != 2 {
				t.Errorf("pix with targetSystem: %d %v", status, px)
			}
			status, px, _ = en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:oid:2.999.9.1|"+p1)+"&targetSystem=urn:fiveid:system:other", other, nil)
			if status != 200 || px["parameter"] != nil {
				t.Errorf("pix, no identifier in the target system: %d %v, want an empty Parameters", status, px)
			}
			status, body, _ = en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:fiveid:system:nope|"+p1), other, nil)
			wantOutcome(t, "pix, unknown source system", status, body, 400, "unknown_system")
			status, body, _ = en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:oid:2.999.9.1|nobody"), other, nil)
			wantOutcome(t, "pix, unknown local ID", status, body, 404, "not_found")
			status, body, _ = en.do(t, "GET", "/fhir/Patient/$ihe-pix?sourceIdentifier="+url.QueryEscape("urn:oid:2.999.9.1|"+p1)+"&targetSystem=urn:oid:9.9.9", other, nil)
			wantOutcome(t, "pix, unknown target system", status, body, 403, "unknown_target_system")

			// PDQm ITI-78: identifiers (OR), paged.
			if status, _, _ := en.do(t, "PUT", "/fhir/Patient?identifier=urn:oid:2.999.9.1|"+p2, hosp, patientBody("张", "伟", "male", "1980-01-02", "")); status != 201 {
				t.Fatalf("feed P2: %d", status)
			}
			q := "/fhir/Patient?identifier=" + url.QueryEscape("urn:oid:2.999.9.1|"+p1+",urn:fiveid:system:care|"+r77+",urn:oid:2.999.9.1|"+p2) + "&_count=1"
			status, b, _ := en.do(t, "GET", q, hosp, nil)
			if status != 200 || b["type"] != "searchset" || b["total"] != 2.0 || len(b["entry"].([]any)) != 1 {
				t.Fatalf("search page 1: %d %v", status, b)
			}
			var next string
			for _, l := range b["link"].([]any) {
				if get(l, "relation") == "next" {
					next = get(l, "url").(string)
				}
			}
			u, err := url.Parse(next)
			if err != nil || next == "" {
				t.Fatalf("no next link: %v", b["link"])
			}
			status, b2, _ := en.do(t, "GET", u.RequestURI(), hosp, nil)
			if status != 200 || len(b2["entry"].([]any)) != 1 || get(b2, "entry", 0, "resource", "id") == get(b, "entry", 0, "resource", "id") {
				t.Errorf("search page 2: %d %v", status, b2)
			}
			// The same search as a form (POST _search).
			form := url.Values{"identifier": {"urn:oid:2.999.9.1|" + p1 + ",urn:oid:2.999.9.1|" + p2}, "_count": {"1"}}.Encode()
			status, fb, _ := en.do(t, "POST", "/fhir/Patient/_search", hosp, form, "Content-Type", "application/x-www-form-urlencoded")
			if status != 200 || fb["total"] != 2.0 || len(fb["entry"].([]any)) != 1 {
				t.Errorf("POST _search: %d %v", status, fb)
			}
			status, body, _ = en.do(t, "POST", "/fhir/Patient/_search", hosp, `{"identifier":"x"}`)
			wantOutcome(t, "POST _search with a JSON body", status, body, 415, "unsupported_media_type")
			// Demographics: identify's rule. The other system identifies the
			// person but holds no record: it learns the ID only.
			dq := "/fhir/Patient?family=" + url.QueryEscape("欧阳") + "&given=" + url.QueryEscape("雪婧") + "&birthdate=1949-12-31&gender=female"
			status, b, _ = en.do(t, "GET", dq, other, nil)
			if status != 200 || b["total"] != 1.0 || get(b, "entry", 0, "resource", "id") != id || get(b, "entry", 0, "resource", "name") != nil {
				t.Errorf("demographic search by a system without a record: %d %v", status, b)
			}
			if get(b, "entry", 0, "search", "extension", 0, "valueCode") == nil || get(b, "entry", 0, "search", "score") == nil {
				t.Errorf("demographic search: no grade or score: %v", get(b, "entry", 0, "search"))
			}
			// The golden name is the most recent record's: the care home's 歐陽雪婧.
			status, b, _ = en.do(t, "GET", dq, hosp, nil)
			if status != 200 || get(b, "entry", 0, "resource", "name", 0, "family") != "歐陽" || get(b, "entry", 0, "resource", "name", 0, "given", 0) != "雪婧" {
				t.Errorf("demographic search by a holder: %d %v", status, b)
			}
			status, body, _ = en.do(t, "GET", "/fhir/Patient?family="+url.QueryEscape("欧阳"), hosp, nil)
			wantOutcome(t, "a search that cannot identify", status, body, 400, "validation_failed")
			status, body, _ = en.do(t, "GET", "/fhir/Patient", hosp, nil)
			wantOutcome(t, "a search without criteria", status, body, 400, "bad_request")
			status, body, _ = en.do(t, "GET", "/fhir/Patient?address=x", hosp, nil)
			wantOutcome(t, "an unsupported parameter", status, body, 400, "bad_request")

			// $match (ITI-119).
			params := map[string]any{"resourceType": "Parameters", "parameter": []any{
				map[string]any{"name": "resource", "resource": map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"text": "欧阳雪婧"}},
					"gender": "female", "birthDate": "1949-12-31", "identifier": []any{map[string]any{"system": ricSystem, "value": number}}}},
				map[string]any{"name": "onlyCertainMatches", "valueBoolean": true},
				map[string]any{"name": "count", "valueInteger": 3},
			}}
			status, mb, _ := en.do(t, "POST", "/fhir/Patient/$match", hosp, params)
			if status != 200 || mb["total"] != 1.0 || get(mb, "entry", 0, "resource", "id") != id {
				t.Fatalf("$match: %d %v", status, mb)
			}
			if g := get(mb, "entry", 0, "search", "extension", 0); get(g, "url") != fhir.MatchGradeExtension || get(g, "valueCode") != "certain" {
				t.Errorf("$match grade: %v", g)
			}
			if s, _ := get(mb, "entry", 0, "search", "score").(float64); s <= 0.99 || s > 1 {
				t.Errorf("$match score %v, want a probability near 1", s)
			}
			// A grant asked for without a policy: 403 policy_denied, as identify.
			withGrant := func() map[string]any {
				p := map[string]any{"resourceType": "Parameters", "parameter": append(params["parameter"].([]any)[:1:1],
					map[string]any{"name": "scope", "valueCode": "medical"}, map[string]any{"name": "purpose", "valueString": "treatment"},
					map[string]any{"name": "ttl", "valueInteger": 600})}
				return p
			}
			status, body, _ = en.do(t, "POST", "/fhir/Patient/$match", other, withGrant())
			wantOutcome(t, "$match grant without a policy", status, body, 403, "policy_denied")
			if _, err := en.svc.CreatePolicy(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"},
				fiveid.Policy{Grantee: "other", Scopes: []string{"medical"}, Purposes: []string{"treatment"}, MaxTTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
			status, mb, _ = en.do(t, "POST", "/fhir/Patient/$match", other, withGrant())
			if status != 200 || get(mb, "entry", 0, "extension", 0, "url") != fhir.GrantExtension {
				t.Fatalf("$match with a grant: %d %v", status, mb)
			}
			var token string
			for _, x := range get(mb, "entry", 0, "extension", 0, "extension").([]any) {
				if get(x, "url") == "token" {
					token = get(x, "valueString").(string)
				}
			}
			if strings.Count(token, ".") != 2 {
				t.Errorf("grant token %q is not a JWT", token)
			}
			// Nobody: an empty searchset.
			params["parameter"].([]any)[0].(map[string]any)["resource"] = map[string]any{"resourceType": "Patient",
				"name": []any{map[string]any{"text": "司马相如"}}, "birthDate": "1901-02-03"}
			status, mb, _ = en.do(t, "POST", "/fhir/Patient/$match", hosp, params)
			if status != 200 || mb["total"] != 0.0 || mb["entry"] != nil {
				t.Errorf("$match without a match: %d %v", status, mb)
			}

			// A merged customer: inactive, replaced by the survivor.
			status, p2pt, _ := en.do(t, "GET", "/fhir/Patient?identifier="+url.QueryEscape("urn:oid:2.999.9.1|"+p2), hosp, nil)
			if status != 200 {
				t.Fatal(status)
			}
			p2id := get(p2pt, "entry", 0, "resource", "id").(string)
			if _, err := en.svc.CommitMerge(t.Context(), fiveid.Principal{Role: fiveid.RoleAdmin, KeyID: "test"}, p2id, id,
				fiveid.MergeOptions{}); err != nil {
				t.Fatal(err)
			}
			status, old, _ := en.do(t, "GET", "/fhir/Patient/"+p2id, hosp, nil)
			if status != 200 || old["active"] != false || get(old, "link", 0, "type") != "replaced-by" || get(old, "link", 0, "other", "reference") != "Patient/"+id {
				t.Errorf("merged read: %d %v", status, old)
			}
		})
	}
}

// TestMatchTie: two namesakes with the same birth date under two valid
// numbers; $match with name, sex and date names neither (identify's
// ambiguity rule) and says needs_review.
func TestMatchTie(t *testing.T) {
	t.Parallel()
	for name, en := range envs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			birth, given := "1950-03-08", "秀英"
			for i, key := range []string{en.keys["hosp"], en.keys["care"]} {
				num := citizen("110105195003081" + string(rune('0'+2*i)) + "4")
				status, _, _ := en.do(t, "PUT", "/fhir/Patient?identifier="+url.QueryEscape([]string{"urn:oid:2.999.9.1", "urn:fiveid:system:care"}[i]+"|T1"), key,
					patientBody("王", given, "female", birth, num))
				if status != 201 {
					t.Fatalf("feed namesake %d: %d", i, status)
				}
			}
			params := map[string]any{"resourceType": "Parameters", "parameter": []any{
				map[string]any{"name": "resource", "resource": patientBody("王", given, "female", birth, "")}}}
			status, mb, _ := en.do(t, "POST", "/fhir/Patient/$match", en.keys["other"], params)
			if status != 200 || mb["total"] != 0.0 || get(mb, "entry", 0, "search", "mode") != "outcome" ||
				get(mb, "entry", 0, "resource", "issue", 0, "details", "coding", 0, "code") != "needs_review" {
				t.Errorf("$match on a tie: %d %v", status, mb)
			}
		})
	}
}

// TestRateLimit: a key's rate limit counts /fhir requests as /v1 ones
// (one limiter), and the refusal is an OperationOutcome.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	en := newEnv(t, teststore.Embedded(t), func(c *api.Config) { c.RateLimit, c.RateBurst = 0.001, 1 })
	req := httptest.NewRequest("GET", "/v1/xref?system=hosp&local_id=P1", nil)
	req.Header.Set("Authorization", "Bearer "+en.keys["hosp"])
	en.e.ServeHTTP(httptest.NewRecorder(), req) // spends the burst
	status, body, hdr := en.do(t, "GET", "/fhir/Patient/C1", en.keys["hosp"], nil)
	wantOutcome(t, "over the rate limit", status, body, 429, "rate_limited")
	if get(body, "issue", 0, "code") != "throttled" || hdr.Get("Retry-After") == "" {
		t.Errorf("rate limited: issue %v, Retry-After %q", get(body, "issue", 0, "code"), hdr.Get("Retry-After"))
	}
}
