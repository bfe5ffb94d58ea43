package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	Apply(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != Percent {
		t.Errorf("without GOGC in the environment: GOGC %d, want %d", got, Percent)
	}
	Apply(func(k string) string {
		if k == "GOGC" {
			return "50" // the runtime read it at start; here it stands for any operator's choice
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC in the environment: Apply changed the pace to %d", got)
	}
}
