package fiveid

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// WebhookPolicy says which URLs a webhook may be created for and which
// addresses a delivery may connect to. Its zero value is the safe default:
// https only, public addresses only.
//
// A webhook URL is chosen by whoever holds an admin key, and fiveid runs
// inside the hospital group's network: without this policy a webhook is a
// request forgery tool (cloud metadata at 169.254.169.254, the database on
// 127.0.0.1:5432). The URL is checked when the webhook is created and again
// before each delivery (the configuration may have changed), but names are
// not resolved then: the guard that counts is AddrAllowed, which the HTTP
// adapter applies to the address it actually dials, so a name that resolves
// to an inside address (or is re-bound to one after creation) is refused too.
type WebhookPolicy struct {
	// AllowHTTPHosts are the hosts (names or IP addresses, no port) that
	// may receive deliveries over plain http; every other URL must be
	// https. Compared case-insensitively.
	AllowHTTPHosts []string
	// AllowPrivate are address ranges a delivery may connect to although
	// they are inside ranges (loopback, private, link-local, ...): a
	// receiver on the operator's own network. An IPv4 range also covers
	// the IPv4-mapped IPv6 forms of its addresses.
	AllowPrivate []netip.Prefix
}

func (p WebhookPolicy) validate() error {
	for _, h := range p.AllowHTTPHosts {
		if h := canonicalHost(h); h == "" || strings.ContainsAny(h, ":/@%\\ ") && !isIP(h) {
			return fmt.Errorf("AllowHTTPHosts: %q is not a host name or IP address", h)
		}
	}
	for _, r := range p.AllowPrivate {
		if !r.IsValid() {
			return errors.New("AllowPrivate: an invalid prefix")
		}
	}
	return nil
}

// maxWebhookURL bounds a webhook URL: it is stored and served back.
const maxWebhookURL = 2048

// Field codes of a refused webhook URL (field "url", listed in openapi.yaml).
const (
	codeInvalidURL       = "invalid_url"
	codeSchemeNotAllow   = "scheme_not_allowed"
	codeCredentialsInURL = "credentials_not_allowed"
	codeAddressNotAllow  = "address_not_allowed"
)

// CheckURL parses raw and returns it when a webhook may be created for it,
// or a *ValidationError on field "url": an absolute http(s) URL without
// credentials or fragment, https unless its host is in AllowHTTPHosts, and
// a host that is either a name, or an IP address written plainly that
// AddrAllowed accepts.
func (p WebhookPolicy) CheckURL(raw string) (*url.URL, error) {
	bad := func(code, msg string) (*url.URL, error) { return nil, invalid("url", code, msg) }
	if len(raw) > maxWebhookURL {
		return bad(codeInvalidURL, "url must be at most 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return bad(codeInvalidURL, "url must be an absolute https URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" { // url.Parse lowercases the scheme
		return bad(codeSchemeNotAllow, "url must be an https URL")
	}
	if u.Opaque != "" || u.Host == "" {
		return bad(codeInvalidURL, "url must be an absolute https URL")
	}
	if u.User != nil {
		return bad(codeCredentialsInURL, "url must not carry credentials (user:password@): the signature authenticates fiveid")
	}
	if strings.Contains(raw, "#") {
		return bad(codeInvalidURL, "url must not have a fragment")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad(codeInvalidURL, "url has an invalid port")
		}
	}
	host := canonicalHost(u.Hostname())
	switch {
	case host == "" || strings.ContainsAny(host, "%/\\ ") || !isIP(host) && slices.Contains(strings.Split(host, "."), ""):
		// % would be an IPv6 zone: an interface of this machine.
		return bad(codeInvalidURL, "url has an invalid host")
	case isIP(host):
		if ok, _ := p.AddrAllowed(netip.MustParseAddr(host)); !ok {
			return bad(codeAddressNotAllow, "url must not name a loopback, private, link-local or other internal address")
		}
	case endsInNumber(host):
		// 2130706433, 0x7f.1 or 0177.0.0.1 are 127.0.0.1 to some resolvers
		// and URL parsers, a name to others: refuse the ambiguity.
		return bad(codeAddressNotAllow, "url must write an IP address as four decimal numbers (a.b.c.d) or in brackets ([v6])")
	}
	if u.Scheme == "http" && !slices.ContainsFunc(p.AllowHTTPHosts, func(h string) bool { return canonicalHost(h) == host }) {
		return bad(codeSchemeNotAllow, "url must be https; plain http only to hosts the operator allows")
	}
	return u, nil
}

// canonicalHost is h lower case, without brackets or a final dot, an IP
// address in its canonical form.
func canonicalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.String()
	}
	return h
}

func isIP(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.Zone() == ""
}

// endsInNumber is the WHATWG URL Standard's "ends in a number checker": a
// host whose last label is a number (decimal, octal or 0x hex) is parsed
// as an IPv4 address by browsers and by inet_aton, which getaddrinfo uses.
func endsInNumber(host string) bool {
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	if last == "" && len(labels) > 1 {
		last = labels[len(labels)-2]
	}
	if last == "" {
		return false
	}
	if hex, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(hex, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// insideRanges are the addresses a webhook must not reach unless the
// operator allows them, with the name logged when one is refused. First
// match wins.
var insideRanges = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this_network"}, // RFC 791; Linux connects 0.0.0.0 to this host
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},     // RFC 1918
	// RFC 6598 shared address space (carrier-grade NAT); Alibaba Cloud's
	// instance metadata is 100.100.100.200.
	{netip.MustParsePrefix("100.64.0.0/10"), "shared"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	// RFC 3927; cloud instance metadata is 169.254.169.254.
	{netip.MustParsePrefix("169.254.0.0/16"), "link_local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "protocol_assignments"}, // RFC 6890
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"}, // RFC 2544, used inside networks
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"}, // RFC 1112, with 255.255.255.255
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "ipv4_compatible"},      // RFC 4291 2.5.5.1, deprecated
	{netip.MustParsePrefix("64:ff9b:1::/48"), "nat64_local"}, // RFC 8215
	{netip.MustParsePrefix("100::/64"), "discard"},           // RFC 6666
	{netip.MustParsePrefix("2001::/32"), "teredo"},           // RFC 4380: an obfuscated IPv4 inside
	{netip.MustParsePrefix("fc00::/7"), "unique_local"},      // RFC 4193
	{netip.MustParsePrefix("fe80::/10"), "link_local"},
	{netip.MustParsePrefix("fec0::/10"), "site_local"}, // RFC 3879, deprecated
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// IPv6 ranges that carry an IPv4 address, which is then what is reached.
var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the last 32 bits
	sixTo4 = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16-47
)

// AddrAllowed says whether a delivery may connect to a: true when a is in
// AllowPrivate or in no inside range. Otherwise it names the range (for
// the operator's log). An IPv4-mapped, NAT64 or 6to4 IPv6 address is
// judged by the IPv4 address it carries.
func (p WebhookPolicy) AddrAllowed(a netip.Addr) (ok bool, insideRange string) {
	if !a.IsValid() {
		return false, "invalid"
	}
	a = a.WithZone("").Unmap()
	for _, allowed := range p.AllowPrivate {
		if allowed.Contains(a) {
			return true, ""
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return p.AddrAllowed(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(a):
			return p.AddrAllowed(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, r := range insideRanges {
		if r.prefix.Contains(a) {
			return false, r.name
		}
	}
	return true, ""
}
