package main

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"fiveid"
	"fiveid/api/fhir"
	"fiveid/store"
)

// config is every setting, read from the environment and validated before
// anything connects.
type config struct {
	Addr        string        // FIVEID_ADDR: listen address
	PprofAddr   string        // FIVEID_PPROF_ADDR: net/http/pprof's own listen address; empty: off
	DataDir     string        // FIVEID_DATA_DIR: embedded store directory
	DatabaseURL string        // DATABASE_URL: PostgreSQL instead of the embedded store
	RedisURL    string        // REDIS_URL: Redis instead of the in-process cache
	AdminKey    string        // FIVEID_ADMIN_KEY: ensure this admin key exists (refused when weak)
	LogLevel    slog.Level    // FIVEID_LOG_LEVEL: debug, info, warn, error
	CacheTTL    time.Duration // FIVEID_CACHE_TTL: lifetime of cached answers
	Candidates  int           // FIVEID_CANDIDATE_LIMIT: records scored per request
	// SQLiteCacheMiB is the embedded store's writer page cache in MiB; 0:
	// the command's default (importCacheMiB for import, the store's own
	// otherwise).
	SQLiteCacheMiB int           // FIVEID_SQLITE_CACHE_MB
	WeightsFile    string        // FIVEID_WEIGHTS: weights file written by fiveid train
	IdemTTL        time.Duration // FIVEID_IDEMPOTENCY_TTL: how long an Idempotency-Key's answer is replayed
	// Grade thresholds on the total match weight (log2 units).
	Certain, Probable, Possible, NoID string // FIVEID_THRESHOLD_CERTAIN/PROBABLE/POSSIBLE/NO_ID
	Margin                            string // FIVEID_AMBIGUITY_MARGIN: a runner-up this close makes review
	// Redis fails fast: each dial, read, write or wait for a connection
	// gives up after RedisTimeout, and after BreakerFailures failed cache
	// operations in a row the cache stops asking Redis for BreakerCooldown
	// (lookups miss, invalidations raise the cache epoch), then lets one
	// probe through.
	RedisTimeout    time.Duration // FIVEID_REDIS_TIMEOUT
	BreakerFailures int           // FIVEID_REDIS_BREAKER_FAILURES
	BreakerCooldown time.Duration // FIVEID_REDIS_BREAKER_COOLDOWN
	// LogRepeatInterval: a warning or error of one kind (message and error
	// code) is written at most once per interval, with the count of those
	// dropped meanwhile; 0 writes every one.
	LogRepeatInterval time.Duration // FIVEID_LOG_REPEAT_INTERVAL
	// RateLimit is the requests per second each API key may send, after a
	// burst of RateBurst (default: twice RateLimit); 0 means no limit.
	RateLimit float64 // FIVEID_RATE_LIMIT
	RateBurst int     // FIVEID_RATE_BURST
	// Webhooks: https to public addresses only, unless these allow more.
	WebhookAllowHTTPHosts []string       // FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS: hosts that may receive plain http, comma-separated
	WebhookAllowPrivate   []netip.Prefix // FIVEID_WEBHOOK_ALLOW_PRIVATE: inside address ranges (CIDR or address) webhooks may reach, comma-separated
	// The console (/console/): sessions end after ConsoleIdle unused; the
	// session cookie is Secure over TLS, and always with ConsoleSecure
	// (fiveid behind a TLS terminator).
	ConsoleIdle   time.Duration // FIVEID_CONSOLE_IDLE_TIMEOUT (default 30m)
	ConsoleSecure bool          // FIVEID_CONSOLE_SECURE_COOKIES
	// FHIR is the FHIR interface's identifier systems (FIVEID_FHIR_*, see fhirConfig).
	FHIR fhir.Config
}

// webhookPolicy is the service's and the poster's one WebhookPolicy.
func (c config) webhookPolicy() fiveid.WebhookPolicy {
	return fiveid.WebhookPolicy{AllowHTTPHosts: c.WebhookAllowHTTPHosts, AllowPrivate: c.WebhookAllowPrivate}
}

// hostName is a DNS name as a configuration may list one.
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$`)

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Addr:        getenv("FIVEID_ADDR"),
		PprofAddr:   getenv("FIVEID_PPROF_ADDR"),
		DataDir:     getenv("FIVEID_DATA_DIR"),
		DatabaseURL: getenv("DATABASE_URL"),
		RedisURL:    getenv("REDIS_URL"),
		AdminKey:    getenv("FIVEID_ADMIN_KEY"),
		WeightsFile: getenv("FIVEID_WEIGHTS"),
		Certain:     getenv("FIVEID_THRESHOLD_CERTAIN"),
		Probable:    getenv("FIVEID_THRESHOLD_PROBABLE"),
		Possible:    getenv("FIVEID_THRESHOLD_POSSIBLE"),
		NoID:        getenv("FIVEID_THRESHOLD_NO_ID"),
		Margin:      getenv("FIVEID_AMBIGUITY_MARGIN"),
		CacheTTL:    5 * time.Minute,
		Candidates:  200,

		RedisTimeout:    store.DefaultRedisTimeout,
		BreakerFailures: store.DefaultBreakerFailures,
		BreakerCooldown: store.DefaultBreakerCooldown,

		LogRepeatInterval: 10 * time.Second,
		RateLimit:         200,
		IdemTTL:           fiveid.DefaultIdempotencyTTL,
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.PprofAddr != "" {
		// Profiles show what the process is doing to whoever can reach
		// them: never on the API's address, always on one an operator
		// chose on purpose (usually loopback).
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			return c, fmt.Errorf("FIVEID_PPROF_ADDR: want host:port like 127.0.0.1:6060, got %q", c.PprofAddr)
		}
		if c.PprofAddr == c.Addr {
			return c, fmt.Errorf("FIVEID_PPROF_ADDR: must differ from FIVEID_ADDR (%s): profiles are never served on the API's address", c.Addr)
		}
	}
	if v := getenv("FIVEID_LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			return c, fmt.Errorf("FIVEID_LOG_LEVEL: %w", err)
		}
	}
	if v := getenv("FIVEID_CACHE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("FIVEID_CACHE_TTL: want a positive duration like 5m, got %q", v)
		}
		c.CacheTTL = d
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"FIVEID_REDIS_TIMEOUT", &c.RedisTimeout}, {"FIVEID_REDIS_BREAKER_COOLDOWN", &c.BreakerCooldown}, {"FIVEID_CONSOLE_IDLE_TIMEOUT", &c.ConsoleIdle}} {
		if v := getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 {
				return c, fmt.Errorf("%s: want a positive duration like 250ms, got %q", d.name, v)
			}
			*d.dst = t
		}
	}
	if v := getenv("FIVEID_LOG_REPEAT_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return c, fmt.Errorf("FIVEID_LOG_REPEAT_INTERVAL: want a duration like 10s (0: every line), got %q", v)
		}
		c.LogRepeatInterval = d
	}
	if v := getenv("FIVEID_CONSOLE_SECURE_COOKIES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("FIVEID_CONSOLE_SECURE_COOKIES: want true or false, got %q", v)
		}
		c.ConsoleSecure = b
	}
	if v := getenv("FIVEID_RATE_LIMIT"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return c, fmt.Errorf("FIVEID_RATE_LIMIT: want requests per second per API key, 0 for no limit, got %q", v)
		}
		c.RateLimit = f
	}
	c.RateBurst = int(math.Ceil(2 * c.RateLimit)) // two seconds at the rate
	if v := getenv("FIVEID_RATE_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("FIVEID_RATE_BURST: want a positive number of requests, got %q", v)
		}
		c.RateBurst = n
	}
	if v := getenv("FIVEID_REDIS_BREAKER_FAILURES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return c, fmt.Errorf("FIVEID_REDIS_BREAKER_FAILURES: want 1..1000, got %q", v)
		}
		c.BreakerFailures = n
	}
	if v := getenv("FIVEID_IDEMPOTENCY_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < fiveid.MinIdempotencyTTL || d > fiveid.MaxIdempotencyTTL {
			return c, fmt.Errorf("FIVEID_IDEMPOTENCY_TTL: want a duration from %s to %s like 24h, got %q", fiveid.MinIdempotencyTTL, fiveid.MaxIdempotencyTTL, v)
		}
		c.IdemTTL = d
	}
	if v := getenv("FIVEID_SQLITE_CACHE_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65536 {
			return c, fmt.Errorf("FIVEID_SQLITE_CACHE_MB: want 1..65536 (MiB), got %q", v)
		}
		c.SQLiteCacheMiB = n
	}
	if v := getenv("FIVEID_CANDIDATE_LIMIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return c, fmt.Errorf("FIVEID_CANDIDATE_LIMIT: want 1..10000, got %q", v)
		}
		c.Candidates = n
	}
	// Refused here, before anything connects; Bootstrap applies the same
	// rule to whoever calls it.
	if c.AdminKey != "" {
		if err := fiveid.CheckAdminSecret(c.AdminKey); err != nil {
			return c, err
		}
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return c, fmt.Errorf("DATABASE_URL: want postgres://..., got another scheme")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		return c, fmt.Errorf("REDIS_URL: want redis://..., got another scheme")
	}
	for _, h := range splitList(getenv("FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS")) {
		h = strings.ToLower(strings.Trim(h, "[]"))
		if _, err := netip.ParseAddr(h); err != nil && !hostName.MatchString(h) {
			return c, fmt.Errorf("FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS: want host names or IP addresses without port, got %q", h)
		}
		c.WebhookAllowHTTPHosts = append(c.WebhookAllowHTTPHosts, h)
	}
	for _, v := range splitList(getenv("FIVEID_WEBHOOK_ALLOW_PRIVATE")) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return c, fmt.Errorf("FIVEID_WEBHOOK_ALLOW_PRIVATE: want CIDR ranges (10.1.0.0/16) or addresses, got %q", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.WebhookAllowPrivate = append(c.WebhookAllowPrivate, p.Masked())
	}
	fc, err := fhirConfig(getenv)
	if err != nil {
		return c, err
	}
	c.FHIR = fc
	for name, v := range map[string]string{"FIVEID_THRESHOLD_CERTAIN": c.Certain, "FIVEID_THRESHOLD_PROBABLE": c.Probable, "FIVEID_THRESHOLD_POSSIBLE": c.Possible, "FIVEID_THRESHOLD_NO_ID": c.NoID, "FIVEID_AMBIGUITY_MARGIN": c.Margin} {
		if v == "" {
			continue
		}
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return c, fmt.Errorf("%s: want a number, got %q", name, v)
		}
	}
	return c, nil
}
