// Package gctune sets the garbage collector's pace for fiveid's processes.
//
// Go's default (GOGC=100) starts a collection each time the heap doubles.
// fiveid's live heap is small (tens of MB serving 1,000,000 customers) and
// what it allocates per request is short-lived, so at the default the
// collector ran often enough to take about a tenth of the CPU of identify
// with a grant (cache hit, 64 clients): a profile showed its mark workers
// and allocation assists at 10% of samples. At 400 the heap may grow to
// five times the live heap between collections, collections are a quarter
// as frequent, and their cost falls about in proportion.
package gctune

import (
	"runtime/debug"
)

// Percent is the GOGC fiveid runs with when the environment sets none.
const Percent = 400

// Apply sets the collector's pace to Percent unless the environment
// (getenv) sets GOGC: an operator's GOGC, like GOMEMLIMIT (a soft limit on
// the process's memory, which the runtime reads itself and which makes the
// collector run sooner as the heap approaches it), always wins.
func Apply(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}
