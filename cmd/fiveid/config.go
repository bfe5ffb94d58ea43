package main

import (
	"fmt"
	"log/slog"
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
	// Grade thresholds on the total match weight (log2 units).
	Certain, Probable, Possible, NoID string // FIVEID_THRESHOLD_CERTAIN/PROBABLE/POSSIBLE/NO_ID
	Margin                            string // FIVEID_AMBIGUITY_MARGIN: a runner-up this close makes review
}

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
