package api_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"fiveid"
	"fiveid/match"
)

// raw sends a request and returns the status and the body as sent.
func (en *env) raw(t *testing.T, method, path, key string, body any) (int, string) {
	t.Helper()
	j, _ := json.Marshal(body)
	req := httptest.NewRequestWithContext(t.Context(), method, path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	en.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func citizen(first17 string) string { return first17 + string(match.CheckChar(first17)) }

// Merging two people (two valid citizen numbers) is 409 identifier_conflict
// naming the records with masked numbers only; preview says an override is
// needed; an override needs a reason, and the merge shows both.
func TestMergeIdentifierConflictOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	adminKey := en.keys["admin"]
	n1, n2 := citizen("11010519500308002"), citizen("44052419500308004")
	var ids []string
	for i, n := range []string{n1, n2} {
		code, r := en.do(t, "POST", "/v1/customers", en.keys["system"], map[string]string{"local_id": []string{"1", "2"}[i],
			"name": "王秀英", "sex": "女", "birth_date": "1950-03-08", "id_type": "01", "id_number": n})
		if code != 201 {
			t.Fatalf("register %d: %d %v", i, code, r)
		}
		ids = append(ids, r["customer_id"].(string))
	}
	from, into := ids[1], ids[0]
	noRawNumbers := func(what, body string) {
		t.Helper()
		if strings.Contains(body, n1) || strings.Contains(body, n2) {
			t.Errorf("%s shows a raw number: %s", what, body)
		}
	}
	conflict := func(what string, c any) {
		t.Helper()
		cs, _ := c.([]any)
		if len(cs) != 1 {
			t.Fatalf("%s: conflicts %v, want one", what, c)
		}
		got := cs[0].(map[string]any)
		f, i := got["from"].(map[string]any), got["into"].(map[string]any)
		if got["namespace"] == "" || f["system"] != "hosp" || f["local_id"] != "2" || f["id_number_masked"] != match.MaskID(n2) ||
			i["local_id"] != "1" || i["id_number_masked"] != match.MaskID(n1) {
			t.Errorf("%s: conflict %v", what, got)
		}
	}

	code, body := en.raw(t, "POST", "/v1/merges/preview", adminKey, map[string]string{"from": from, "into": into})
	var preview map[string]any
	json.Unmarshal([]byte(body), &preview)
	if code != 200 || preview["override_required"] != true {
		t.Fatalf("preview: %d %s", code, body)
	}
	conflict("preview", preview["conflicts"])

	code, body = en.raw(t, "POST", "/v1/merges", adminKey, map[string]string{"from": from, "into": into})
	var refused map[string]any
	json.Unmarshal([]byte(body), &refused)
	if code != 409 || refused["code"] != "identifier_conflict" {
		t.Fatalf("merge of two numbers: %d %s", code, body)
	}
	conflict("409", refused["conflicts"])
	noRawNumbers("409", body)

	for _, bad := range []map[string]any{
		{"from": from, "into": into, "override": true},
		{"from": from, "into": into, "override": true, "reason": " "},
		{"from": from, "into": into, "override": true, "reason": strings.Repeat("x", fiveid.MaxReasonLength+1)},
	} {
		code, out := en.do(t, "POST", "/v1/merges", adminKey, bad)
		fields, _ := out["fields"].([]any)
		if code != 400 || len(fields) == 0 || fields[0].(map[string]any)["field"] != "reason" {
			t.Errorf("override %v: %d %v, want 400 naming reason", bad["reason"], code, out)
		}
	}

	const reason = "same person: a new number after a household move, checked against the ID card"
	code, m := en.do(t, "POST", "/v1/merges", adminKey, map[string]any{"from": from, "into": into, "override": true, "reason": reason})
	if code != 201 || m["override"] != true || m["reason"] != reason {
		t.Fatalf("override: %d %v", code, m)
	}
	code, h := en.do(t, "GET", "/v1/customers/"+into+"/history", adminKey, nil)
	changes, _ := h["changes"].([]any)
	if code != 200 || len(changes) == 0 {
		t.Fatalf("history: %d %v", code, h)
	}
	after, _ := changes[len(changes)-1].(map[string]any)["after"].(map[string]any)
	if kept, _ := after["merge"].(map[string]any); kept["reason"] != reason || kept["override"] != true || kept["id"] != m["id"] {
		t.Errorf("history does not keep the override and reason: %v", changes[len(changes)-1])
	}
	code, u := en.do(t, "POST", "/v1/merges/"+m["id"].(string)+"/unmerge", adminKey, nil)
	if code != 200 || u["undone_at"] == nil || u["override"] != true || u["reason"] != reason {
		t.Errorf("unmerge: %d %v", code, u)
	}
}

// A review resolution takes customer_id (a tied customer), override and
// reason; a customer that is no candidate is 400 naming customer_id.
func TestResolveTakesATiedCustomerOverHTTP(t *testing.T) {
	t.Parallel()
	en := newEnv(t)
	adminKey := en.keys["admin"]
	var ids []string
	for i, n := range []string{citizen("11010519500308002"), citizen("44052419500308004")} {
		_, r := en.do(t, "POST", "/v1/customers", en.keys["system"], map[string]string{"local_id": []string{"1", "2"}[i],
			"name": "王秀英", "sex": "女", "birth_date": "1950-03-08", "id_type": "01", "id_number": n})
		ids = append(ids, r["customer_id"].(string))
	}
	code, r := en.do(t, "POST", "/v1/customers", en.other, map[string]string{"local_id": "x", "name": "王秀英", "sex": "女", "birth_date": "1950-03-08"})
	if code != 201 || r["review_task_id"] == nil {
		t.Fatalf("a tie: %d %v", code, r)
	}
	_, task := en.do(t, "GET", "/v1/review-tasks/"+r["review_task_id"].(string), adminKey, nil)
	path := "/v1/review-tasks/" + task["id"].(string) + "/resolve"
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"version": task["version"], "resolution": "link", "customer_id": "C-nobody"}, "customer_id"},
		{map[string]any{"version": task["version"], "resolution": "link", "override": true, "reason": "x"}, "override"},
	} {
		code, out := en.do(t, "POST", path, adminKey, bad.body)
		fields, _ := out["fields"].([]any)
		if code != 400 || len(fields) == 0 || fields[0].(map[string]any)["field"] != bad.field {
			t.Errorf("resolve %v: %d %v, want 400 naming %s", bad.body, code, out, bad.field)
		}
	}
	other := ids[0]
	if task["candidate_id"] == other {
		other = ids[1]
	}
	code, res := en.do(t, "POST", path, adminKey, map[string]any{"version": task["version"], "resolution": "merge", "customer_id": other})
	if code != 200 || res["status"] != "resolved" {
		t.Fatalf("merge into the other tied customer: %d %v", code, res)
	}
	if code, x := en.do(t, "GET", "/v1/xref?system=care&local_id=x", en.keys["system"], nil); code != 200 || x["customer_id"] != other {
		t.Errorf("care/x: %d %v, want on %s", code, x, other)
	}
}

// Review resolutions are one list: the code's, openapi.yaml's enum and
// README's.
func TestResolutionsMatchOpenAPIAndREADME(t *testing.T) {
	t.Parallel()
	want := fiveid.Resolutions()
	slices.Sort(want)
	b, err := os.ReadFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]struct {
							Enum []string `yaml:"enum"`
						} `yaml:"properties"`
					} `yaml:"schema"`
				} `yaml:"content"`
			} `yaml:"requestBody"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	spec := doc.Paths["/v1/review-tasks/{id}/resolve"]["post"].RequestBody.Content["application/json"].Schema.Properties["resolution"].Enum
	slices.Sort(spec)
	if !slices.Equal(spec, want) {
		t.Errorf("openapi.yaml lists resolutions %v, the code %v", spec, want)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`# Resolve: ([a-z_ |]+)\.`).FindSubmatch(readme)
	if m == nil {
		t.Fatal(`README has no "# Resolve: a | b | ..." line`)
	}
	var listed []string
	for _, r := range strings.Split(string(m[1]), "|") {
		listed = append(listed, strings.TrimSpace(r))
	}
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Errorf("README lists resolutions %v, the code %v", listed, want)
	}
}
