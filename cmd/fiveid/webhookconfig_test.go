package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWebhookConfig(t *testing.T) {
	t.Parallel()
	cfg, err := loadConfig(env(map[string]string{
		"FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS": " Receiver.Local, 10.1.2.3 ,[::1],",
		"FIVEID_WEBHOOK_ALLOW_PRIVATE":    "10.1.0.0/16, 127.0.0.1, ::1, 192.168.7.9/24",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"receiver.local", "10.1.2.3", "::1"}; !slices.Equal(cfg.WebhookAllowHTTPHosts, want) {
		t.Errorf("allowed http hosts %v, want %v", cfg.WebhookAllowHTTPHosts, want)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("192.168.7.0/24")}
	if !slices.Equal(cfg.WebhookAllowPrivate, want) {
		t.Errorf("allowed ranges %v, want %v", cfg.WebhookAllowPrivate, want)
	}
	for _, bad := range []map[string]string{
		{"FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS": "http://receiver.local"},
		{"FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS": "receiver.local:8080"},
		{"FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS": "user@receiver.local"},
		{"FIVEID_WEBHOOK_ALLOW_PRIVATE": "10.1.0.0/33"},
		{"FIVEID_WEBHOOK_ALLOW_PRIVATE": "receiver.local"},
		{"FIVEID_WEBHOOK_ALLOW_PRIVATE": "fe80::1%eth0"},
	} {
		if _, err := loadConfig(env(bad)); err == nil {
			t.Errorf("loadConfig accepts %v", bad)
		}
	}
}

// The real wiring: without configuration an http receiver on 127.0.0.1 is
// refused; with it, serve delivers to it with a timestamped signature.
func TestServeDeliversWebhooksAsConfigured(t *testing.T) {
	t.Parallel()
	var got atomic.Value
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		got.Store(r.Header.Get("X-Fiveid-Signature"))
	}))
	defer recv.Close()

	strict := map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data"), "FIVEID_ADMIN_KEY": "fk_test_admin_key_0123456789_ABCDEFGH"}
	admin := client{t, startServer(t, strict), strict["FIVEID_ADMIN_KEY"]}
	admin.do("POST", "/v1/webhooks", map[string]string{"url": recv.URL + "/in"}, http.StatusBadRequest, nil)

	vars := map[string]string{
		"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data"), "FIVEID_ADMIN_KEY": "fk_test_admin_key_0123456789_ABCDEFGH",
		"FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS": "127.0.0.1", "FIVEID_WEBHOOK_ALLOW_PRIVATE": "127.0.0.1/32",
	}
	admin = client{t, startServer(t, vars), vars["FIVEID_ADMIN_KEY"]}
	admin.do("POST", "/v1/webhooks", map[string]string{"url": recv.URL + "/in"}, http.StatusCreated, nil)
	admin.do("POST", "/v1/systems", map[string]string{"code": "hosp-a", "name": "第一医院", "kind": "medical"}, http.StatusCreated, nil)
	var k struct{ Key string }
	admin.do("POST", "/v1/keys", map[string]string{"role": "system", "system": "hosp-a", "name": "his"}, http.StatusCreated, &k)
	client{t, admin.base, k.Key}.do("POST", "/v1/customers", map[string]string{
		"local_id": "P001", "name": "张伟", "sex": "男", "birth_date": "1949-12-31", "id_type": "01", "id_number": "11010519491231002X",
	}, http.StatusCreated, nil)
	// Changes are delivered once 5 s old.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sig, _ := got.Load().(string); sig != "" {
			if !strings.HasPrefix(sig, "t=") || !strings.Contains(sig, ",v1=") {
				t.Errorf("X-Fiveid-Signature %q", sig)
			}
			return
		}
	}
	t.Fatal("no delivery in 20 s")
}
