package api_test

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// inactive is the whole answer about a token that is inactive or that the
// caller may not learn about (echo ends JSON with a newline).
const inactive = "{\"active\":false}\n"

// grantToCare registers zhang at hosp, lets care (en.other) receive medical
// data and returns care's grant as sent.
func grantToCare(t *testing.T, en *env) map[string]any {
	t.Helper()
	if code, out := en.do(t, "POST", "/v1/customers", en.keys["system"], zhang); code != 201 {
		t.Fatalf("register: %d %v", code, out)
	}
	if code, out := en.do(t, "POST", "/v1/policies", en.keys["admin"], map[string]any{"grantee": "care", "scopes": []string{"medical"}, "purposes": []string{"treatment"}}); code != 201 {
		t.Fatalf("policy: %d %v", code, out)
	}
	code, id := en.do(t, "POST", "/v1/identify", en.other, map[string]any{"name": "张伟", "sex": "女", "birth_date": "1949-12-31", "id_type": "01",
		"id_number": "11010519491231002X", "scopes": []string{"medical"}, "purpose": "treatment", "ttl_seconds": 600})
	g, _ := id["grant"].(map[string]any)
	if code != 200 || g == nil {
		t.Fatalf("identify with a grant: %d %v", code, id)
	}
	return g
}

// The answer is RFC 7662's: numbers for times, a space-separated scope, sub
// and client_id; an inactive token is exactly {"active":false}.
func TestIntrospectionIsRFC7662(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	g := grantToCare(t, en)
	token := g["token"].(string)
	exp, err := time.Parse(time.RFC3339, g["expires_at"].(string))
	if err != nil {
		t.Fatal(err)
	}

	code, in := en.do(t, "POST", "/v1/grants/introspect", en.other, map[string]string{"token": token})
	if code != 200 {
		t.Fatalf("introspect by the grantee: %d %v", code, in)
	}
	for field, want := range map[string]any{
		"active": true, "scope": "medical", "client_id": "care", "token_type": "Bearer", "sub": g["customer_id"],
		"iss": "fiveid", "aud": "fiveid:data-holders", "jti": g["id"], "grant_id": g["id"], "purpose": "treatment", "grade": "certain",
	} {
		if in[field] != want {
			t.Errorf("%s: %#v, want %#v", field, in[field], want)
		}
	}
	for field, want := range map[string]int64{"exp": exp.Unix(), "iat": exp.Unix() - 600, "nbf": exp.Unix() - 600} {
		n, ok := in[field].(float64) // a JSON number
		if !ok || n != math.Trunc(n) || int64(n) != want {
			t.Errorf("%s: %#v, want the number %d", field, in[field], want)
		}
	}
	if _, ok := in["merged_from"]; ok {
		t.Errorf("merged_from without a merge: %v", in)
	}

	// Exactly {"active":false}: bad tokens, and good ones asked about by a
	// system entitled to nothing (hosp holds no data yet).
	for name, tc := range map[string]struct {
		key   string
		token string
	}{
		"malformed":                 {en.other, "not a token"},
		"forged":                    {en.other, token[:strings.LastIndexByte(token, '.')+1] + strings.Repeat("A", 86)},
		"another system's token":    {en.keys["system"], token},
		"empty":                     {en.keys["system"], ""},
		"another system, malformed": {en.keys["system"], "x.y.z"},
	} {
		if code, body := en.raw(t, "POST", "/v1/grants/introspect", tc.key, map[string]string{"token": tc.token}); code != 200 || body != inactive {
			t.Errorf("%s: %d %s, want exactly {\"active\":false}", name, code, body)
		}
	}
}

// What a caller says about who presented the token counts for nothing.
func TestIntrospectionIgnoresThePresenterField(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	token := grantToCare(t, en)["token"].(string)
	_, plain := en.raw(t, "POST", "/v1/grants/introspect", en.other, map[string]string{"token": token})
	for _, presenter := range []string{"hosp", "care", "nope"} {
		// The grantee sees its grant whoever it says presented it ...
		code, body := en.raw(t, "POST", "/v1/grants/introspect", en.other, map[string]string{"token": token, "presenter": presenter})
		if code != 200 || body != plain {
			t.Errorf("grantee, presenter %s: %d %s, want %s", presenter, code, body, plain)
		}
		// ... and naming the grantee as presenter opens nothing to hosp.
		code, body = en.raw(t, "POST", "/v1/grants/introspect", en.keys["system"], map[string]string{"token": token, "presenter": presenter})
		if code != 200 || body != inactive {
			t.Errorf("unrelated system, presenter %s: %d %s", presenter, code, body)
		}
	}
}

func TestHoldersOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	token := grantToCare(t, en)["token"].(string)
	code, h := en.do(t, "POST", "/v1/holders", en.keys["admin"], map[string]any{"system": "hosp", "scopes": []string{"medical"}})
	if code != 201 || h["id"] == nil || h["system"] != "hosp" {
		t.Fatalf("create holder: %d %v", code, h)
	}
	if code, out := en.do(t, "POST", "/v1/holders", en.keys["admin"], map[string]any{"system": "hosp"}); code != 400 || out["code"] != "validation_failed" {
		t.Errorf("a holder without scopes: %d %v", code, out)
	}
	code, list := en.do(t, "GET", "/v1/holders?system=hosp", en.keys["auditor"], nil)
	if hs, _ := list["holders"].([]any); code != 200 || len(hs) != 1 {
		t.Fatalf("list holders: %d %v", code, list)
	}
	// hosp, a holder of medical data, now learns about the grant.
	code, in := en.do(t, "POST", "/v1/grants/introspect", en.keys["system"], map[string]string{"token": token})
	if code != 200 || in["active"] != true || in["client_id"] != "care" {
		t.Fatalf("introspect by a holder: %d %v", code, in)
	}
	if code, _ := en.do(t, "DELETE", "/v1/holders/"+h["id"].(string), en.keys["admin"], nil); code != 204 {
		t.Fatalf("delete holder: %d", code)
	}
	if code, body := en.raw(t, "POST", "/v1/grants/introspect", en.keys["system"], map[string]string{"token": token}); code != 200 || body != inactive {
		t.Errorf("introspect after the holder was deleted: %d %s", code, body)
	}
	if code, _ := en.do(t, "DELETE", "/v1/holders/"+h["id"].(string), en.keys["admin"], nil); code != 404 {
		t.Errorf("delete a deleted holder: %d", code)
	}
}

func TestRevokeKeyWithItsGrantsOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	token := grantToCare(t, en)["token"].(string)
	_, keys := en.do(t, "GET", "/v1/keys", en.keys["admin"], nil)
	var careKey string
	for _, k := range keys["keys"].([]any) {
		if k := k.(map[string]any); k["system"] == "care" {
			careKey = k["id"].(string)
		}
	}
	if code, out := en.do(t, "DELETE", "/v1/keys/"+careKey+"?revoke_grants=maybe", en.keys["admin"], nil); code != 400 || out["code"] != "bad_request" {
		t.Errorf("revoke_grants=maybe: %d %v", code, out)
	}
	code, out := en.do(t, "DELETE", "/v1/keys/"+careKey+"?revoke_grants=true", en.keys["admin"], nil)
	if d := cmp.Diff(map[string]any{"id": careKey, "revoked_grants": float64(1)}, out); code != http.StatusOK || d != "" {
		t.Errorf("revoke with grants: %d (-want +got):\n%s", code, d)
	}
	if code, body := en.raw(t, "POST", "/v1/grants/introspect", en.keys["admin"], map[string]string{"token": token}); code != 200 || body != inactive {
		t.Errorf("the key's grant after the sweep: %d %s", code, body)
	}
	if code, _ := en.do(t, "DELETE", "/v1/keys/"+careKey, en.keys["admin"], nil); code != http.StatusNoContent {
		t.Errorf("revoke without grants: %d", code)
	}
	if code, _ := en.do(t, "DELETE", "/v1/keys/key_nope?revoke_grants=true", en.keys["admin"], nil); code != http.StatusNotFound {
		t.Errorf("an unknown key: %d", code)
	}
}
