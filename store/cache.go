package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

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

// DefaultRedisTimeout is OpenRedis's timeout when none is given: a Redis
// on the same network answers in well under a millisecond, so a command
// that takes this long is as good as failed — and a cache that waits longer
// than the store takes to answer saves nothing.
const DefaultRedisTimeout = 250 * time.Millisecond

// OpenRedis connects to a redis:// URL and checks it answers. timeout (0:
// DefaultRedisTimeout) bounds each dial, each read and write and each wait
// for a pooled connection. A failed dial is not retried (go-redis would
// otherwise try five times, 100 ms apart, for each command) and a command
// is retried once, on a fresh connection: one pooled before a Redis
// restart fails at its first use. With Redis down a command fails at once
// (connection refused) or in about two timeouts (no answer at all), and
// RedisCache's circuit breaker stops asking after a few such failures.
func OpenRedis(ctx context.Context, url string, timeout time.Duration) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	opt.DialTimeout = timeout
	opt.ReadTimeout = timeout
	opt.WriteTimeout = timeout
	opt.PoolTimeout = timeout
	opt.DialerRetries = 1 // attempts, not retries
	opt.MaxRetries = 1
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis ping: %w", err)
	}
	return c, nil
}

// RedisLogger adapts log to go-redis's logger (redis.SetLogger): each of
// go-redis's lines becomes a warning "redis client" with the line as
// "detail". Its lines name addresses, connections and errors, never keys
// or values (and keys are HMACs).
func RedisLogger(log *slog.Logger) interface {
	Printf(ctx context.Context, format string, v ...any)
} {
	return redisLogger{log}
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}

// Breaker configures RedisCache's circuit breaker. After Failures
// operations in a row failed, the breaker opens: for Cooldown every
// operation returns fiveid.ErrCacheSkipped at once, without asking Redis.
// Then it lets one operation through (half open, the others still
// skipped): when it succeeds the breaker closes, when it fails it opens
// for another Cooldown. So a Redis that is down costs a failed operation
// per Cooldown, not a timeout per request.
type Breaker struct {
	Failures int           // 0: DefaultBreakerFailures
	Cooldown time.Duration // 0: DefaultBreakerCooldown
	// OnChange, when set, is told every change of state ("closed",
	// "open", "half_open"). It runs under the breaker's lock: keep it
	// short, and do not call the cache from it.
	OnChange func(from, to string)
}

// The breaker's defaults: five failures in a row are not bad luck, and a
// second's cooldown brings the cache back within a second of Redis, at the
// cost of one failed probe a second while it is down.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerCooldown = time.Second
)

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
//
// Every operation goes through a circuit breaker (see Breaker).
type RedisCache struct {
	c      *redis.Client
	prefix string
	ttl    time.Duration
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]

	// dials counts connections made; verified is what dials was when the
	// boot token was last checked against the server.
	dials, verified atomic.Int64
	verifyMu        sync.Mutex
	// checks counts completed boot checks; checkErr is the last one's
	// failure (nil: it succeeded), under verifyMu.
	checks   atomic.Int64
	checkErr error

	// Lookups (Get) in flight: a pipeline is being sent, and the lookups
	// waiting for the next one (see lookup).
	batchMu sync.Mutex
	sending bool
	waiting []*lookup
}

// NewRedisCache returns a cache on c whose keys start with prefix, behind
// a circuit breaker configured by b. It adds a hook to c that counts the
// connections c makes.
func NewRedisCache(c *redis.Client, prefix string, ttl time.Duration, b Breaker) *RedisCache {
	if b.Failures <= 0 {
		b.Failures = DefaultBreakerFailures
	}
	if b.Cooldown <= 0 {
		b.Cooldown = DefaultBreakerCooldown
	}
	st := gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1, // one probe when half open
		Timeout:     b.Cooldown,
		// Interval 0: the failure count is cleared only by a success.
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= uint32(b.Failures) },
		IsExcluded:  func(err error) bool { return errors.Is(err, errNotCounted) },
	}
	if b.OnChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { b.OnChange(stateName(from), stateName(to)) }
	}
	r := &RedisCache{c: c, prefix: prefix, ttl: ttl, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
	r.verified.Store(-1) // nothing checked yet
	c.AddHook(dialCounter{&r.dials})
	return r
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half_open"
	}
	return "closed"
}

// errNotCounted is reported to the breaker for an operation that says
// nothing about Redis: its caller gave up (the context ended), its boot
// check lost a race with new connections (errDialRace), or it panicked.
var errNotCounted = errors.New("not counted")

// do runs one cache operation through the circuit breaker: refused at once
// while the breaker is open (or half open with its probe under way), its
// outcome counted otherwise.
func (r *RedisCache) do(ctx context.Context, op func() error) error {
	done, err := r.cb.Allow()
	if err != nil {
		return fmt.Errorf("redis: %w", fiveid.ErrCacheSkipped)
	}
	reported := false
	defer func() {
		if !reported { // a panic: never leave a half-open breaker waiting for its probe
			done(errNotCounted)
		}
	}()
	err = op()
	reported = true
	if err != nil && (ctx.Err() != nil || errors.Is(err, errDialRace)) {
		done(errNotCounted)
	} else {
		done(err)
	}
	return err
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
//
// Checks run one at a time, and a caller that waited for another's check
// takes that check's failure as its own instead of asking again: when
// Redis goes down, every request in flight finds a new (failed) dial and
// comes here, and each asking in turn would hold the last one up for as
// many failed round trips as there are requests — the stall of issue 13,
// measured at 4% of the throughput with 64 callers. (A failure is always
// safe: a miss.)
func (r *RedisCache) checked(ctx context.Context) (int64, error) {
	if d := r.dials.Load(); d == r.verified.Load() {
		return d, nil
	}
	seen := r.checks.Load()
	r.verifyMu.Lock()
	defer r.verifyMu.Unlock()
	if r.checks.Load() != seen && r.checkErr != nil {
		return 0, r.checkErr
	}
	failed := func(err error) (int64, error) {
		if ctx.Err() == nil { // not this caller's own cancellation
			r.checkErr = err
			r.checks.Add(1)
		}
		return 0, err
	}
	for range 3 { // a check's own dial (the first) makes another round
		start := r.dials.Load()
		if start == r.verified.Load() {
			return start, nil
		}
		info, err := r.c.Info(ctx, "server").Result()
		if err != nil {
			return failed(fmt.Errorf("redis boot check: %w", err))
		}
		runID := infoField(info, "run_id")
		if runID == "" {
			return failed(errors.New("redis boot check: INFO server has no run_id"))
		}
		b := make([]byte, 8)
		rand.Read(b)
		err = bootScript.Run(ctx, r.c, []string{r.rkey("boot", "")}, runID, hex.EncodeToString(b), bootTTL.Milliseconds()).Err()
		if err != nil {
			return failed(fmt.Errorf("redis boot check: %w", err))
		}
		r.verified.Store(start)
		r.checkErr = nil
		r.checks.Add(1)
	}
	if d := r.dials.Load(); d == r.verified.Load() {
		return d, nil
	}
	return 0, errDialRace
}

// errDialRace: connections were dialed faster than they could be checked
// (a pool growing under load). A miss, and no sign that Redis fails.
var errDialRace = errors.New("redis boot check: connections keep being dialed")

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
// connection), shared with the lookups of other requests made meanwhile
// (see lookup).
func (r *RedisCache) Get(ctx context.Context, key string, deps []string) (val []byte, hit bool, stamp string, err error) {
	err = r.do(ctx, func() error {
		l := &lookup{key: key, deps: deps}
		r.lookup(ctx, l)
		val, hit, stamp = l.val, l.hit, l.stamp
		return l.err
	})
	if err != nil {
		return nil, false, "", err
	}
	return val, hit, stamp, nil
}

// lookup is one Get on its way to Redis: its question, then its answer.
type lookup struct {
	key   string
	deps  []string
	val   []byte
	hit   bool
	stamp string
	err   error
	// wake is told once: nil when the lookup was answered, or a batch
	// that this lookup's goroutine is to send (this lookup first in it).
	wake chan []*lookup
}

// maxLookupBatch bounds the lookups sent in one pipeline.
const maxLookupBatch = 256

// lookup answers l. Lookups are sent to Redis one pipeline at a time: one
// that arrives while a pipeline is out waits, and the waiting ones go
// together in the next, sent by the first of them. A round trip costs both
// sides a write and a read system call and a wake-up, whatever it
// carries: on a cache hit with 64 callers that was a sixth of fiveid's
// CPU and nearly all of Redis's; batched, a pipeline carries what arrived
// during the previous one. Alone, a lookup is sent at once by its own
// goroutine, as before; under load it waits at most for the pipeline out
// and its own.
func (r *RedisCache) lookup(ctx context.Context, l *lookup) {
	if err := ctx.Err(); err != nil { // the caller gave up: nothing is asked
		l.err = err
		return
	}
	r.batchMu.Lock()
	if r.sending {
		l.wake = make(chan []*lookup, 1)
		r.waiting = append(r.waiting, l)
		r.batchMu.Unlock()
		batch := <-l.wake
		if batch == nil {
			return
		}
		r.sendBatch(ctx, batch)
		return
	}
	r.sending = true
	r.batchMu.Unlock()
	r.sendBatch(ctx, []*lookup{l})
}

// sendBatch sends batch (whose first lookup is the caller's own), answers
// the others and hands the lookups that arrived meanwhile to the first of
// them, or ends the sending.
func (r *RedisCache) sendBatch(ctx context.Context, batch []*lookup) {
	defer func() {
		p := recover()
		if p != nil {
			for _, l := range batch {
				l.err = fmt.Errorf("redis get: %v", p)
			}
		}
		r.batchMu.Lock()
		next := r.waiting
		if len(next) > maxLookupBatch {
			next = next[:maxLookupBatch]
		}
		r.waiting = r.waiting[len(next):]
		if len(next) == 0 {
			r.sending = false
			r.waiting = nil
		}
		r.batchMu.Unlock()
		for _, l := range batch[1:] {
			l.wake <- nil
		}
		if len(next) > 0 {
			next[0].wake <- next
		}
		if p != nil {
			panic(p)
		}
	}()
	// Another request's lookups ride along: this caller giving up must
	// not fail them (the client's own timeouts bound the wait).
	r.get(context.WithoutCancel(ctx), batch)
}

// get asks Redis for every lookup of batch in one round trip.
func (r *RedisCache) get(ctx context.Context, batch []*lookup) {
	seen, err := r.checked(ctx)
	if err != nil {
		for _, l := range batch {
			l.err = err
		}
		return
	}
	cmds := make([]*redis.SliceCmd, len(batch))
	if len(batch) == 1 {
		cmds[0] = r.c.MGet(ctx, r.lookupKeys(batch[0])...)
	} else {
		// A failure is each command's own (go-redis sets it on every
		// command of a pipeline that failed): read below.
		_, _ = r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, l := range batch {
				cmds[i] = p.MGet(ctx, r.lookupKeys(l)...)
			}
			return nil
		})
	}
	// A connection dialed meanwhile, perhaps this read's, is to a server
	// not checked yet: what it read is a miss, with nothing to store.
	unchecked := r.dials.Load() != seen
	for i, l := range batch {
		vals, err := cmds[i].Result()
		switch {
		case err != nil:
			l.err = fmt.Errorf("redis get: %w", err)
		case !unchecked:
			l.val, l.hit, l.stamp = answerOf(vals)
		}
	}
}

// lookupKeys are the keys one lookup reads: the value, the boot token and
// the dependency tokens.
func (r *RedisCache) lookupKeys(l *lookup) []string {
	keys := make([]string, 0, len(l.deps)+2)
	keys = append(keys, r.rkey("val", l.key), r.rkey("boot", ""))
	for _, d := range l.deps {
		keys = append(keys, r.rkey("gen", d))
	}
	return keys
}

// answerOf reads a lookup's reply: the stamp of the tokens as they are,
// and the value when it was stored with that stamp.
func answerOf(vals []any) (val []byte, hit bool, stamp string) {
	var b strings.Builder
	for _, v := range vals[1:] {
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
		b.WriteByte(',')
	}
	stamp = b.String()
	stored, ok := vals[0].(string)
	if !ok {
		return nil, false, stamp
	}
	st, v, found := strings.Cut(stored, "\n")
	if !found || st != stamp {
		return nil, false, stamp
	}
	return []byte(v), true, stamp
}

// Set implements fiveid.Cache.
func (r *RedisCache) Set(ctx context.Context, key, stamp string, val []byte) error {
	if strings.Contains(stamp, "\n") {
		return errors.New("redis set: bad stamp")
	}
	return r.do(ctx, func() error {
		if err := r.c.Set(ctx, r.rkey("val", key), stamp+"\n"+string(val), r.ttl).Err(); err != nil {
			return fmt.Errorf("redis set: %w", err)
		}
		return nil
	})
}

// Invalidate implements fiveid.Cache.
func (r *RedisCache) Invalidate(ctx context.Context, deps []string) error {
	if len(deps) == 0 {
		return nil
	}
	b := make([]byte, 8)
	rand.Read(b)
	token := hex.EncodeToString(b)
	return r.do(ctx, func() error {
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
	})
}

// Ping implements fiveid.Cache (through the breaker: an open breaker is
// not ready).
func (r *RedisCache) Ping(ctx context.Context) error {
	return r.do(ctx, func() error {
		if err := r.c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		return nil
	})
}
