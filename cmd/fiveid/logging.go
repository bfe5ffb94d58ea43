package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"fiveid/store"
)

// newLogger is the service's one logger: JSON on w at the configured
// level, with repeated warnings and errors limited (see repeatLimiter).
func newLogger(cfg config, w io.Writer) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel})
	return slog.New(newRepeatLimiter(h, cfg.LogRepeatInterval, time.Now))
}

// routeRedisLogs sends go-redis's own log lines (failed dials, pool
// trouble) through log, as JSON warnings under the repeat limiter, instead
// of go-redis's plain-text lines on os.Stderr. go-redis has one logger per
// process — redis.SetLogger is go-redis's package-level setting, not ours —
// so each wiring that connects to Redis sets it and the last one wins: the
// binary wires once; tests that start several servers in one process see
// go-redis's lines in the latest one's log.
func routeRedisLogs(log *slog.Logger) {
	redis.SetLogger(store.RedisLogger(log))
}

// maxRepeatKinds bounds the kinds a repeatLimiter tracks. Kinds are
// constant messages times a closed set of error codes, far fewer than this;
// the bound only guards against a message built from data.
const maxRepeatKinds = 1024

// repeatLimiter is a slog.Handler that writes a warning or an error at most
// once per interval per kind — its message and, when it has one, its
// "code" attribute (the API's stable error code) — and drops the others,
// so that an outage logs one line per interval instead of one per request
// (issue 13: 45,538 lines in 10 s with PostgreSQL down). The next line of
// a kind it writes carries "suppressed": how many it dropped since the one
// before. Debug and info lines pass untouched: the access log stays one
// line per request. Interval 0 writes every line.
//
// Counts dropped in an outage's last interval are reported only when that
// kind occurs again; the metrics count every request.
type repeatLimiter struct {
	next slog.Handler
	s    *repeatState // shared by the handlers WithAttrs and WithGroup derive
}

type repeatState struct {
	every time.Duration
	now   func() time.Time
	mu    sync.Mutex
	kinds map[string]*repeatKind
}

type repeatKind struct {
	last    time.Time // when a line of this kind was last written
	dropped int
}

func newRepeatLimiter(next slog.Handler, every time.Duration, now func() time.Time) *repeatLimiter {
	return &repeatLimiter{next: next, s: &repeatState{every: every, now: now, kinds: map[string]*repeatKind{}}}
}

func (h *repeatLimiter) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *repeatLimiter) WithAttrs(as []slog.Attr) slog.Handler {
	return &repeatLimiter{next: h.next.WithAttrs(as), s: h.s}
}

func (h *repeatLimiter) WithGroup(name string) slog.Handler {
	return &repeatLimiter{next: h.next.WithGroup(name), s: h.s}
}

func (h *repeatLimiter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || h.s.every <= 0 {
		return h.next.Handle(ctx, r)
	}
	kind := r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "code" {
			kind += "\x00" + a.Value.String()
			return false
		}
		return true
	})
	dropped, write := h.s.admit(kind)
	if !write {
		return nil
	}
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.next.Handle(ctx, r)
}

// admit reports whether a line of kind is written now, and how many of
// that kind were dropped since the last one written.
func (s *repeatState) admit(kind string) (dropped int, write bool) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.kinds[kind]
	if ok && now.Sub(k.last) < s.every {
		k.dropped++
		return 0, false
	}
	if !ok {
		if len(s.kinds) >= maxRepeatKinds {
			for name, old := range s.kinds {
				if now.Sub(old.last) >= s.every {
					delete(s.kinds, name) // its drops, if any, go unreported
				}
			}
			if len(s.kinds) >= maxRepeatKinds {
				return 0, true // unlimited rather than unbounded
			}
		}
		k = &repeatKind{}
		s.kinds[kind] = k
	}
	dropped = k.dropped
	k.last, k.dropped = now, 0
	return dropped, true
}
