package fiveid_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"fiveid"
)

// The URLs a webhook may not be created for, each with the field code the
// refusal names; the policy allows http to hooks.example only.
func TestWebhookPolicyRefusesURLs(t *testing.T) {
	t.Parallel()
	p := fiveid.WebhookPolicy{AllowHTTPHosts: []string{"hooks.example"}}
	for _, c := range []struct{ name, url, code string }{
		{"cloud metadata over http", "http://169.254.169.254/latest/meta-data/", "address_not_allowed"},
		{"cloud metadata over https", "https://169.254.169.254/latest/meta-data/", "address_not_allowed"},
		{"alibaba cloud metadata (shared address space)", "https://100.100.100.200/latest/meta-data/", "address_not_allowed"},
		{"postgres on loopback over http", "http://127.0.0.1:5432/", "address_not_allowed"},
		{"postgres on loopback over https", "https://127.0.0.1:5432/", "address_not_allowed"},
		{"loopback as a decimal number over http", "http://2130706433/", "address_not_allowed"},
		{"loopback as a decimal number", "https://2130706433/", "address_not_allowed"},
		{"loopback in hex", "https://0x7f.1/", "address_not_allowed"},
		{"loopback in octal", "https://0177.0.0.1/", "address_not_allowed"},
		{"loopback shortened", "https://127.1/", "address_not_allowed"},
		{"loopback with a final dot", "https://127.0.0.1./", "address_not_allowed"},
		{"a name ending in a number", "https://hooks.example.1/", "address_not_allowed"},
		{"percent-encoded loopback", "https://%31%32%37.0.0.1/", "invalid_url"},
		{"ipv6 loopback", "https://[::1]/", "address_not_allowed"},
		{"ipv6 unspecified", "https://[::]/", "address_not_allowed"},
		{"ipv4-mapped loopback", "https://[::ffff:127.0.0.1]/", "address_not_allowed"},
		{"ipv4-mapped metadata in hex", "https://[::ffff:a9fe:a9fe]/", "address_not_allowed"},
		{"nat64 metadata", "https://[64:ff9b::a9fe:a9fe]/", "address_not_allowed"},
		{"6to4 private", "https://[2002:a00:1::]/", "address_not_allowed"},
		{"ipv6 unique local", "https://[fd12:3456::1]/", "address_not_allowed"},
		{"ipv6 link-local with a zone", "https://[fe80::1%25eth0]/", "invalid_url"},
		{"unspecified", "https://0.0.0.0/", "address_not_allowed"},
		{"private 10/8", "https://10.0.0.1/", "address_not_allowed"},
		{"private 172.16/12", "https://172.16.5.4/", "address_not_allowed"},
		{"private 192.168/16", "https://192.168.1.1/", "address_not_allowed"},
		{"multicast", "https://224.0.0.1/", "address_not_allowed"},
		{"broadcast", "https://255.255.255.255/", "address_not_allowed"},
		{"user and password", "https://user:password@hooks.example/", "credentials_not_allowed"},
		{"user only", "https://token@hooks.example/", "credentials_not_allowed"},
		{"http to a host not listed", "http://hooks.other.example/in", "scheme_not_allowed"},
		{"http to a public address not listed", "http://8.8.8.8/in", "scheme_not_allowed"},
		{"http to a listed host's subdomain", "http://evil.hooks.example/in", "scheme_not_allowed"},
		{"ftp", "ftp://hooks.example/in", "scheme_not_allowed"},
		{"file", "file:///etc/passwd", "scheme_not_allowed"},
		{"gopher", "gopher://127.0.0.1:6379/_FLUSHALL", "scheme_not_allowed"},
		{"opaque", "https:hooks.example", "invalid_url"},
		{"fragment", "https://hooks.example/in#x", "invalid_url"},
		{"relative", "/v1/hook", "invalid_url"},
		{"empty", "", "invalid_url"},
		{"no host", "https:///in", "invalid_url"},
		{"an empty label", "https://hooks..example/in", "invalid_url"},
		{"port out of range", "https://hooks.example:99999/", "invalid_url"},
		{"port zero", "https://hooks.example:0/", "invalid_url"},
		{"too long", "https://hooks.example/" + strings.Repeat("a", 2048), "invalid_url"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.CheckURL(c.url)
			var ve *fiveid.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 {
				t.Fatalf("CheckURL(%q) = %v, want a validation error", c.url, err)
			}
			if got := ve.Problems[0]; got.Field != "url" || got.Code != c.code {
				t.Errorf("CheckURL(%q): field %q code %q, want url %q", c.url, got.Field, got.Code, c.code)
			}
		})
	}
}

func TestWebhookPolicyAcceptsURLs(t *testing.T) {
	t.Parallel()
	p := fiveid.WebhookPolicy{
		AllowHTTPHosts: []string{"Hooks.Example", "[::1]", "10.1.2.3"},
		AllowPrivate:   []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")},
	}
	for _, u := range []string{
		"https://hooks.example/fiveid?token=x",
		"https://receiver.hospital.example:8443/in",
		"HTTPS://HOOKS.EXAMPLE/in",
		"http://hooks.example/in",
		"http://HOOKS.example./in",
		"https://8.8.8.8/in",
		"https://[2001:4860:4860::8888]/in",
		"https://医院.example/in",
		"https://10.1.2.3/in", // an allowed private range
		"http://10.1.2.3:8080/in",
		"http://[::1]:8080/in",
	} {
		if _, err := p.CheckURL(u); err != nil {
			t.Errorf("CheckURL(%q): %v", u, err)
		}
	}
}

// AddrAllowed is the check on the address actually dialed.
func TestWebhookPolicyAddrAllowed(t *testing.T) {
	t.Parallel()
	none := fiveid.WebhookPolicy{}
	loopback := fiveid.WebhookPolicy{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	for _, c := range []struct {
		name   string
		p      fiveid.WebhookPolicy
		addr   string
		want   bool
		inside string
	}{
		{"public ipv4", none, "1.1.1.1", true, ""},
		{"public ipv6", none, "2606:4700:4700::1111", true, ""},
		{"nat64 of a public ipv4", none, "64:ff9b::101:101", true, ""},
		{"metadata", none, "169.254.169.254", false, "link_local"},
		{"mapped metadata", none, "::ffff:169.254.169.254", false, "link_local"},
		{"loopback", none, "127.0.0.1", false, "loopback"},
		{"loopback elsewhere in 127/8", none, "127.3.2.1", false, "loopback"},
		{"this network", none, "0.0.0.0", false, "this_network"},
		{"ipv6 loopback", none, "::1", false, "loopback"},
		{"ipv6 unspecified", none, "::", false, "unspecified"},
		{"ipv6 link-local with zone", none, "fe80::1%eth0", false, "link_local"},
		{"unique local", none, "fc00::1", false, "unique_local"},
		{"shared address space", none, "100.64.0.1", false, "shared"},
		{"benchmarking", none, "198.18.0.1", false, "benchmarking"},
		{"ipv6 multicast", none, "ff02::1", false, "multicast"},
		{"6to4 of loopback", none, "2002:7f00:1::", false, "loopback"},
		{"teredo", none, "2001:0:4136:e378:8000:63bf:3fff:fdd2", false, "teredo"},
		{"allowed loopback", loopback, "127.0.0.1", true, ""},
		{"allowed loopback, mapped", loopback, "::ffff:127.0.0.1", true, ""},
		{"loopback outside the allowed range", loopback, "127.0.0.2", false, "loopback"},
		{"allowed range does not open another", loopback, "10.0.0.1", false, "private"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, inside := c.p.AddrAllowed(netip.MustParseAddr(c.addr))
			if ok != c.want || inside != c.inside {
				t.Errorf("AddrAllowed(%s) = %v %q, want %v %q", c.addr, ok, inside, c.want, c.inside)
			}
		})
	}
	if ok, _ := none.AddrAllowed(netip.Addr{}); ok {
		t.Error("the zero address is allowed")
	}
}
