package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"fiveid/internal/apitest"
)

// serve wires idempotency keys on both stores: a retried registration is
// replayed.
func TestIdempotencyKeyEndToEnd(t *testing.T) {
	t.Parallel()
	for name, setup := range storeEnvs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars := setup(t)
			vars["FIVEID_ADMIN_KEY"] = "fk_test_admin_key_0123456789_ABCDEFGH"
			vars["FIVEID_IDEMPOTENCY_TTL"] = "1h"
			base := startServer(t, vars)
			admin := client{t, base, vars["FIVEID_ADMIN_KEY"]}
			admin.do("POST", "/v1/systems", map[string]string{"code": "hosp-a", "name": "第一医院", "kind": "medical"}, 201, nil)
			var k struct{ Key string }
			admin.do("POST", "/v1/keys", map[string]string{"role": "system", "system": "hosp-a"}, 201, &k)
			body, _ := json.Marshal(map[string]string{"local_id": "P001", "name": "张伟", "sex": "男", "birth_date": "1949-12-31"})
			var first []byte
			for i := range 2 {
				req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/v1/customers", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+k.Key)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "e2e-1")
				resp, err := apitest.Client(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				replayed := resp.Header.Get("Idempotent-Replayed") == "true"
				if resp.StatusCode != 201 || replayed != (i == 1) || (i == 1 && !bytes.Equal(b, first)) {
					t.Fatalf("request %d: %d replayed=%v %s", i, resp.StatusCode, replayed, b)
				}
				first = b
			}
		})
	}
}

func TestIdempotencyTTLConfig(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(env(map[string]string{}))
	if err != nil || c.IdemTTL != 24*time.Hour {
		t.Errorf("default: %v %v", c.IdemTTL, err)
	}
	if c, err := loadConfig(env(map[string]string{"FIVEID_IDEMPOTENCY_TTL": "48h"})); err != nil || c.IdemTTL != 48*time.Hour {
		t.Errorf("48h: %v %v", c.IdemTTL, err)
	}
	for _, bad := range []string{"1m", "30d", "0", "8d", "soon"} {
		if _, err := loadConfig(env(map[string]string{"FIVEID_IDEMPOTENCY_TTL": bad})); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
