package fiveid

import "log/slog"

// Short names for typed log attributes; only IDs, grades, scores and masked
// numbers are ever logged.
const (
	slogInfo = slog.LevelInfo
	slogWarn = slog.LevelWarn
)

func attr(k, v string) slog.Attr          { return slog.String(k, v) }
func attrF(k string, v float64) slog.Attr { return slog.Float64(k, v) }
func attrB(k string, v bool) slog.Attr    { return slog.Bool(k, v) }
func attrI(k string, v int) slog.Attr     { return slog.Int(k, v) }
