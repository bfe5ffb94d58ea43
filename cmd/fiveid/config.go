package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"fiveid"
)

// config is every setting, read from the environment and validated before
// anything connects.
type config struct {
	Addr        string        // FIVEID_ADDR: listen address
	DataDir     string        // FIVEID_DATA_DIR: embedded store directory
	DatabaseURL string        // DATABASE_URL: PostgreSQL instead of the embedded store
	RedisURL    string        // REDIS_URL: Redis instead of the in-process cache
	AdminKey    string        // FIVEID_ADMIN_KEY: ensure this admin key exists (refused when weak)
	LogLevel    slog.Level    // FIVEID_LOG_LEVEL: debug, info, warn, error
	CacheTTL    time.Duration // FIVEID_CACHE_TTL: lifetime of cached answers
	Candidates  int           // FIVEID_CANDIDATE_LIMIT: records scored per request
	WeightsFile string        // FIVEID_WEIGHTS: weights file written by fiveid train
	IdemTTL     time.Duration // FIVEID_IDEMPOTENCY_TTL: how long an Idempotency-Key's answer is replayed
	// Grade thresholds on the total match weight (log2 units).
	Certain, Probable, Possible, NoID string // FIVEID_THRESHOLD_CERTAIN/PROBABLE/POSSIBLE/NO_ID
	Margin                            string // FIVEID_AMBIGUITY_MARGIN: a runner-up this close makes review
	// Webhooks: https to public addresses only, unless these allow more.
	WebhookAllowHTTPHosts []string       // FIVEID_WEBHOOK_ALLOW_HTTP_HOSTS: hosts that may receive plain http, comma-separated
	WebhookAllowPrivate   []netip.Prefix // FIVEID_WEBHOOK_ALLOW_PRIVATE: inside address ranges (CIDR or address) webhooks may reach, comma-separated
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
		IdemTTL:     fiveid.DefaultIdempotencyTTL,
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
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
	if v := getenv("FIVEID_IDEMPOTENCY_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < fiveid.MinIdempotencyTTL || d > fiveid.MaxIdempotencyTTL {
			return c, fmt.Errorf("FIVEID_IDEMPOTENCY_TTL: want a duration from %s to %s like 24h, got %q", fiveid.MinIdempotencyTTL, fiveid.MaxIdempotencyTTL, v)
		}
		c.IdemTTL = d
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
