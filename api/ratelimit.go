package api

import (
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"fiveid"
)

// rateLimiter is a token bucket per API key: a key may send burst requests
// at once and rate per second after that; a request over the limit is
// answered 429 rate_limited with Retry-After, before any work is done for
// it. Only authenticated requests are limited, by their key: the probes
// (/healthz, /readyz, /metrics, the JWKS) must always answer, and a
// failed authentication has no key to count — limiting it by address
// would count every client behind a proxy as one (the TCP peer), or
// believe a forgeable X-Forwarded-For; that limit belongs to the proxy.
//
// Memory stays bounded: a bucket left unused for burst/rate has refilled
// completely, so forgetting it changes nothing — the limiter forgets such
// buckets as it goes, and holds at most the keys used in the last
// burst/rate seconds (keys are created by admins, not by callers).
type rateLimiter struct {
	rate  rate.Limit
	burst int
	idle  time.Duration // burst/rate: a bucket unused this long is full
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time // the last request that used it
}

// newRateLimiter returns a limiter of perSecond requests per key with
// bursts of burst, or nil (no limit) when perSecond is 0.
func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{
		rate: rate.Limit(perSecond), burst: burst, now: now,
		idle:    time.Duration(float64(burst) / perSecond * float64(time.Second)),
		buckets: map[string]*bucket{},
	}
}

// allow takes a token from key's bucket, or reports how long until one is
// there.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.last) >= l.idle {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.last = now
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.rate) * float64(time.Second))
}

// size is the number of buckets held.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limit answers 429 to a principal over its key's rate (nil limiter: no
// limit), with Retry-After in whole seconds (at least 1, RFC 9110 §10.2.3).
func (h *handlers) limit(c echo.Context, p fiveid.Principal) error {
	if h.limiter == nil {
		return nil
	}
	ok, wait := h.limiter.allow(p.KeyID)
	if ok {
		return nil
	}
	h.metrics.RateLimited(string(p.Role))
	secs := max(1, int(math.Ceil(wait.Seconds())))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return rateLimited()
}
