package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
//
// A Redis that restarts from its own files (or a replica promoted in its
// place) may have lost acknowledged writes — an RDB snapshot is minutes
// old, an AOF fsynced every second loses up to a second — and so bring an
// old value back with the old tokens it was stamped with, the invalidation
// that replaced them lost. So every stamp also holds the server's boot
// token (key "boot"): before a value read over a connection dialed since
// the last check counts, the cache checks the server's run_id (new at each
// start) against the one the boot token was made on, and when they differ
// replaces the token, so that no value stored before the restart hits.
type RedisCache struct {
	c      *redis.Client
	prefix string
	ttl    time.Duration

	// dials counts connections made; verified is what dials was when the
	// boot token was last checked against the server.
	dials, verified atomic.Int64
	verifyMu        sync.Mutex
}

// NewRedisCache returns a cache on c whose keys start with prefix. It adds
// a hook to c that counts the connections c makes.
func NewRedisCache(c *redis.Client, prefix string, ttl time.Duration) *RedisCache {
	r := &RedisCache{c: c, prefix: prefix, ttl: ttl}
	r.verified.Store(-1) // nothing checked yet
	c.AddHook(dialCounter{&r.dials})
	return r
}

// dialCounter is a go-redis hook counting the connections dialed.
type dialCounter struct{ n *atomic.Int64 }

func (h dialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.n.Add(1)
		return next(ctx, network, addr)
	}
}

func (dialCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (dialCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// cacheVersion changes when the value or key format does. Stamps now hold
// the boot token, but values are not shared with earlier builds (identify
// keys hold the cache epoch since), while the generation tokens, unchanged,
// stay shared: during a rolling upgrade either build's invalidations reach
// both.
const cacheVersion = "v1"

// bootTTL: the boot token is renewed at every check; expired, it only
// costs a round of misses.
const bootTTL = 24 * time.Hour

// bootScript keeps the boot token (KEYS[1]) made on the server whose run_id
// is ARGV[1], replacing it with ARGV[1]:ARGV[2] when it was made on
// another (or is missing). Atomic: connections checking at once replace it
// once.
var bootScript = redis.NewScript(`
local b = redis.call('GET', KEYS[1])
if not b or string.sub(b, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ':' then
  redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1`)

// checked returns the dial count as of a completed check of the boot
// token, checking first when a connection was dialed since the last one.
// A check reads the dial count before it asks the server, so a connection
// dialed while it runs is checked again.
func (r *RedisCache) checked(ctx context.Context) (int64, error) {
	if d := r.dials.Load(); d == r.verified.Load() {
		return d, nil
	}
	r.verifyMu.Lock()
	defer r.verifyMu.Unlock()
	for range 3 { // a check's own dial (the first) makes another round
		start := r.dials.Load()
		if start == r.verified.Load() {
			return start, nil
		}
		info, err := r.c.Info(ctx, "server").Result()
		if err != nil {
			return 0, fmt.Errorf("redis boot check: %w", err)
		}
		runID := infoField(info, "run_id")
		if runID == "" {
			return 0, errors.New("redis boot check: INFO server has no run_id")
		}
		b := make([]byte, 8)
		rand.Read(b)
		err = bootScript.Run(ctx, r.c, []string{r.rkey("boot", "")}, runID, hex.EncodeToString(b), bootTTL.Milliseconds()).Err()
		if err != nil {
			return 0, fmt.Errorf("redis boot check: %w", err)
		}
		r.verified.Store(start)
	}
	if d := r.dials.Load(); d == r.verified.Load() {
		return d, nil
	}
	return 0, errors.New("redis boot check: connections keep being dialed")
}

// infoField returns one "name:value" line of an INFO reply.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), name+":"); ok {
			return v
		}
	}
	return ""
}

// rkey builds every Redis key: prefix, format version, kind, the (already
// HMAC'd, PII-free) key.
func (r *RedisCache) rkey(kind, k string) string {
	return r.prefix + ":" + cacheVersion + ":" + kind + ":" + k
}

// Get implements fiveid.Cache: one round trip for the value, the boot
// token and the dependency tokens (and a boot check after a new
// connection).
func (r *RedisCache) Get(ctx context.Context, key string, deps []string) ([]byte, bool, string, error) {
	seen, err := r.checked(ctx)
	if err != nil {
		return nil, false, "", err
	}
	keys := make([]string, 0, len(deps)+2)
	keys = append(keys, r.rkey("val", key), r.rkey("boot", ""))
	for _, d := range deps {
		keys = append(keys, r.rkey("gen", d))
	}
	vals, err := r.c.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, false, "", fmt.Errorf("redis get: %w", err)
	}
	if r.dials.Load() != seen {
		// A connection was dialed meanwhile, perhaps this read's, to a
		// server not checked yet: a miss, and nothing to store.
		return nil, false, "", nil
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
