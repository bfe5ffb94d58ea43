package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestConsoleConfig(t *testing.T) {
	t.Parallel()
	c, err := loadConfig(env(map[string]string{"FIVEID_CONSOLE_IDLE_TIMEOUT": "5m", "FIVEID_CONSOLE_SECURE_COOKIES": "true"}))
	if err != nil || c.ConsoleIdle != 5*time.Minute || !c.ConsoleSecure {
		t.Fatalf("%+v %v", c, err)
	}
	for k, v := range map[string]string{"FIVEID_CONSOLE_IDLE_TIMEOUT": "0s", "FIVEID_CONSOLE_SECURE_COOKIES": "maybe"} {
		if _, err := loadConfig(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s was accepted", k, v)
		}
	}
}

// fiveid serve serves the console: a person signs in with their admin key.
func TestServeMountsTheConsole(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"FIVEID_DATA_DIR": filepath.Join(t.TempDir(), "data"),
		"FIVEID_ADMIN_KEY": "fk_test_admin_key_0123456789_ABCDEFGH", "FIVEID_CONSOLE_SECURE_COOKIES": "true"}
	base := startServer(t, vars)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := hc.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Request.URL.Path != "/console/signin" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "form-action 'self'") {
		t.Fatalf("%d %s %v", res.StatusCode, res.Request.URL, res.Header)
	}
	for _, ck := range res.Cookies() {
		if !ck.Secure || !ck.HttpOnly {
			t.Errorf("cookie %s is not Secure and HttpOnly with FIVEID_CONSOLE_SECURE_COOKIES=true", ck.Name)
		}
	}
	// The jar keeps no Secure cookie for http: send the sign-in token by hand.
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(string(b))[1]
	req, _ := http.NewRequestWithContext(t.Context(), "POST", base+"/console/signin",
		strings.NewReader(url.Values{"key": {vars["FIVEID_ADMIN_KEY"]}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "fiveid_console_signin", Value: token})
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}
