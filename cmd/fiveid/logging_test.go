package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logLines decodes JSON log lines.
func logLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(s) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// The repeat limiter writes one warning or error per kind (message and
// code) per interval and reports the rest on the next line of that kind;
// info lines, other kinds and a zero interval pass.
func TestRepeatLimiter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	log := slog.New(newRepeatLimiter(slog.NewJSONHandler(&buf, nil), 10*time.Second, clock))
	ctx := context.Background()
	for range 100 {
		log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("code", "unavailable"), slog.String("route", "/v1/identify"))
		log.LogAttrs(ctx, slog.LevelInfo, "request", slog.Int("status", 503))
	}
	log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("code", "internal"))
	log.With(slog.String("component", "x")).Warn("redis client") // a derived logger shares the counts
	log.Warn("redis client")
	now = now.Add(9 * time.Second)
	log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("code", "unavailable"))
	now = now.Add(time.Second)
	log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("code", "unavailable"))
	log.Warn("redis client")

	type line struct {
		Level, Msg, Code string
		Suppressed       float64
	}
	var got []line
	infos := 0
	for _, m := range logLines(t, buf.String()) {
		if m["level"] == "INFO" {
			infos++
			continue
		}
		l := line{Level: m["level"].(string), Msg: m["msg"].(string)}
		l.Code, _ = m["code"].(string)
		l.Suppressed, _ = m["suppressed"].(float64)
		got = append(got, l)
	}
	want := []line{
		{"ERROR", "request failed", "unavailable", 0},
		{"ERROR", "request failed", "internal", 0},
		{"WARN", "redis client", "", 0},
		{"ERROR", "request failed", "unavailable", 100}, // 99 in the first second, one at 9 s
		{"WARN", "redis client", "", 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
	if infos != 100 {
		t.Errorf("%d info lines; want all 100", infos)
	}

	buf.Reset()
	every := slog.New(newRepeatLimiter(slog.NewJSONHandler(&buf, nil), 0, clock))
	for range 5 {
		every.Error("request failed", slog.String("code", "unavailable"))
	}
	if n := len(logLines(t, buf.String())); n != 5 {
		t.Errorf("interval 0 wrote %d of 5 lines", n)
	}
}

// syncBuffer is a bytes.Buffer safe for a server's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
