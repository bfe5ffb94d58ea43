package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"fiveid"
)

// Both caches implement the stamp protocol of fiveid.Cache: a value is
// stored with the state ("stamp") its dependencies had before it was
// computed, and hits only while they still have that state.

var (
	_ fiveid.Cache = (*MemoryCache)(nil)
	_ fiveid.Cache = (*RedisCache)(nil)
)

// genSlots is the number of dependency generation counters of the
// in-process cache. Dependencies hash onto slots; two sharing a slot only
// cause an extra miss, never a stale hit, and memory stays bounded.
const genSlots = 1 << 16

// MemoryCache is the in-process cache of the embedded default.
type MemoryCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	entries map[string]memEntry
	gens    [genSlots]uint64
	now     func() time.Time
}

type memEntry struct {
	val     []byte
	stamp   string
	expires time.Time
}

// NewMemoryCache returns an in-process cache holding at most maxEntries
// values for ttl each.
func NewMemoryCache(ttl time.Duration, maxEntries int) *MemoryCache {
	if maxEntries <= 0 {
		maxEntries = 10_000
	}
	return &MemoryCache{ttl: ttl, max: maxEntries, entries: map[string]memEntry{}, now: time.Now}
}

func slot(dep string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(dep))
	return h.Sum32() % genSlots
}

// stampLocked is the dependencies' current state.
func (c *MemoryCache) stampLocked(deps []string) string {
	var b strings.Builder
	for _, d := range deps {
		s := slot(d)
		b.WriteString(strconv.FormatUint(uint64(s), 36))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(c.gens[s], 36))
		b.WriteByte(',')
	}
	return b.String()
}

// Get implements fiveid.Cache.
func (c *MemoryCache) Get(_ context.Context, key string, deps []string) ([]byte, bool, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	stamp := c.stampLocked(deps)
	e, ok := c.entries[key]
	if ok && e.stamp == stamp && c.now().Before(e.expires) {
		return e.val, true, stamp, nil
	}
	if ok {
		delete(c.entries, key)
	}
	return nil, false, stamp, nil
}

// Set implements fiveid.Cache.
func (c *MemoryCache) Set(_ context.Context, key, stamp string, val []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Evict an eighth, expired first: map order is random enough.
		now, n := c.now(), 0
		for k, e := range c.entries {
			if !now.Before(e.expires) || n < c.max/8 {
				delete(c.entries, k)
				n++
			}
		}
	}
	c.entries[key] = memEntry{val: append([]byte(nil), val...), stamp: stamp, expires: c.now().Add(c.ttl)}
	return nil
}

// Invalidate implements fiveid.Cache.
func (c *MemoryCache) Invalidate(_ context.Context, deps []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range deps {
		c.gens[slot(d)]++
	}
	return nil
}

// Ping implements fiveid.Cache.
func (c *MemoryCache) Ping(context.Context) error { return nil }

// OpenRedis connects to a redis:// URL and checks it answers.
func OpenRedis(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis ping: %w", err)
	}
	return c, nil
}

// RedisCache keeps cached answers in Redis, shared by every instance.
// Dependencies are generation keys holding a random token that Invalidate
// replaces; a value hits only while every token it was stamped with is
// current. Tokens outlive values (2×TTL from their last change), so an
// expired token can never make an old value look fresh.
type RedisCache struct {
	c      *redis.Client
	prefix string
	ttl    time.Duration
}

// NewRedisCache returns a cache on c whose keys start with prefix.
func NewRedisCache(c *redis.Client, prefix string, ttl time.Duration) *RedisCache {
	return &RedisCache{c: c, prefix: prefix, ttl: ttl}
}

// cacheVersion changes when the value or key format does.
const cacheVersion = "v1"

// rkey builds every Redis key: prefix, format version, kind, the (already
// HMAC'd, PII-free) key.
func (r *RedisCache) rkey(kind, k string) string {
	return r.prefix + ":" + cacheVersion + ":" + kind + ":" + k
}

// Get implements fiveid.Cache: one round trip for the value and the tokens.
func (r *RedisCache) Get(ctx context.Context, key string, deps []string) ([]byte, bool, string, error) {
	keys := make([]string, 0, len(deps)+1)
	keys = append(keys, r.rkey("val", key))
	for _, d := range deps {
		keys = append(keys, r.rkey("gen", d))
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, false, "", fmt.Errorf("redis get: %w", err)
	}
	var b strings.Builder
	for _, v := range vals[1:] {
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteByte(',')
	}
	stamp := b.String()
	stored, ok := vals[0].(string)
	if !ok {
		return nil, false, stamp, nil
	}
	st, val, found := strings.Cut(stored, "\n")
	if !found || st != stamp {
		return nil, false, stamp, nil
	}
	return []byte(val), true, stamp, nil
}

// Set implements fiveid.Cache.
func (r *RedisCache) Set(ctx context.Context, key, stamp string, val []byte) error {
	if strings.Contains(stamp, "\n") {
		return errors.New("redis set: bad stamp")
	}
	if err := r.c.Set(ctx, r.rkey("val", key), stamp+"\n"+string(val), r.ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Invalidate implements fiveid.Cache.
func (r *RedisCache) Invalidate(ctx context.Context, deps []string) error {
	if len(deps) == 0 {
		return nil
	}
	b := make([]byte, 8)
	rand.Read(b)
	token := hex.EncodeToString(b)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, d := range deps {
			p.Set(ctx, r.rkey("gen", d), token, 2*r.ttl+time.Minute)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis invalidate: %w", err)
	}
	return nil
}

// Ping implements fiveid.Cache.
func (r *RedisCache) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}
