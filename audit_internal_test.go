package fiveid

import (
	"context"
	"sync"
	"testing"
	"time"
)

// batchLog is a grant log that records the size of each batch written.
type batchLog struct {
	GrantStore
	mu      sync.Mutex
	batches []int
}

func (b *batchLog) AuditTip(context.Context) (int64, string, error) { return 0, "", nil }

func (b *batchLog) AppendAudit(_ context.Context, _ int64, _ string, _ []Grant, events []AuditEvent) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.batches = append(b.batches, len(events))
	return nil
}

func (b *batchLog) sizes() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]int(nil), b.batches...)
}

// The grant log's writer waits for the entries announced to it, so that
// requests working at once commit together; an entry nobody else
// announced is written at once.
func TestAuditWriterWaitsForAnnouncedEntries(t *testing.T) {
	t.Parallel()
	st := &batchLog{}
	w := newAuditWriter(st)
	w.gather = time.Minute // only the announcements end the wait here
	t.Cleanup(w.close)
	ctx := t.Context()

	// Alone: written without waiting.
	start := time.Now()
	if err := w.append(ctx, w.announce(), AuditEvent{ID: "alone"}, nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("an entry alone waited %s", d)
	}

	// Eight requests at work, their entries queued 2 ms apart: one batch
	// (two at most, should the writer take the first before the others
	// announced themselves — they all did before it starts here).
	const n = 8
	as := make([]*announcement, n)
	for i := range as {
		as[i] = w.announce()
	}
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 2 * time.Millisecond)
			if err := w.append(ctx, a, AuditEvent{ID: "e"}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := st.sizes(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Fatalf("batches %v; want [1 %d]", got, n)
	}

	// A request that announced and ended without an entry is not waited
	// for.
	gone := w.announce()
	a := w.announce()
	gone.withdraw()
	gone.withdraw() // once only
	if err := w.append(ctx, a, AuditEvent{ID: "last"}, nil); err != nil {
		t.Fatal(err)
	}
	if got := st.sizes(); len(got) != 3 || got[2] != 1 {
		t.Fatalf("batches %v; want a third of 1", got)
	}
	if c := w.coming.Load(); c != 0 {
		t.Fatalf("%d entries still announced", c)
	}
}
