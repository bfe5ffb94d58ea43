package main

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The failure-mode settings: defaults, overrides, and values refused
// before anything connects.
func TestConfigFailureModes(t *testing.T) {
	t.Parallel()
	type knobs struct {
		RedisTimeout, BreakerCooldown, LogRepeat time.Duration
		BreakerFailures, RateBurst               int
		RateLimit                                float64
	}
	get := func(c config) knobs {
		return knobs{c.RedisTimeout, c.BreakerCooldown, c.LogRepeatInterval, c.BreakerFailures, c.RateBurst, c.RateLimit}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want knobs
	}{
		{"defaults", nil, knobs{250 * time.Millisecond, time.Second, 10 * time.Second, 5, 400, 200}},
		{"set", map[string]string{"FIVEID_REDIS_TIMEOUT": "100ms", "FIVEID_REDIS_BREAKER_COOLDOWN": "5s", "FIVEID_REDIS_BREAKER_FAILURES": "3",
			"FIVEID_LOG_REPEAT_INTERVAL": "0", "FIVEID_RATE_LIMIT": "50", "FIVEID_RATE_BURST": "10"},
			knobs{100 * time.Millisecond, 5 * time.Second, 0, 3, 10, 50}},
		{"burst follows the rate", map[string]string{"FIVEID_RATE_LIMIT": "1000"}, knobs{250 * time.Millisecond, time.Second, 10 * time.Second, 5, 2000, 1000}},
		{"no rate limit", map[string]string{"FIVEID_RATE_LIMIT": "0"}, knobs{250 * time.Millisecond, time.Second, 10 * time.Second, 5, 0, 0}},
	} {
		c, err := loadConfig(env(tc.env))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if diff := cmp.Diff(tc.want, get(c)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
	for k, v := range map[string]string{
		"FIVEID_REDIS_TIMEOUT": "0s", "FIVEID_REDIS_BREAKER_COOLDOWN": "soon", "FIVEID_REDIS_BREAKER_FAILURES": "0",
		"FIVEID_LOG_REPEAT_INTERVAL": "-1s", "FIVEID_RATE_LIMIT": "-5", "FIVEID_RATE_BURST": "0",
	} {
		if _, err := loadConfig(env(map[string]string{k: v})); err == nil {
			t.Errorf("%s=%s was accepted", k, v)
		}
	}
}

// FIVEID_SQLITE_CACHE_MB: unset leaves the command's default (0), a size
// in MiB is taken, anything else refused.
func TestConfigSQLiteCache(t *testing.T) {
	for v, want := range map[string]int{"": 0, "512": 512, "1": 1} {
		c, err := loadConfig(env(map[string]string{"FIVEID_SQLITE_CACHE_MB": v}))
		if err != nil || c.SQLiteCacheMiB != want {
			t.Errorf("FIVEID_SQLITE_CACHE_MB=%q: %d %v, want %d", v, c.SQLiteCacheMiB, err, want)
		}
	}
	for _, v := range []string{"0", "-1", "lots", "70000", "1.5"} {
		if _, err := loadConfig(env(map[string]string{"FIVEID_SQLITE_CACHE_MB": v})); err == nil {
			t.Errorf("FIVEID_SQLITE_CACHE_MB=%s was accepted", v)
		}
	}
}
