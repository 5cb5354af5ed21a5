package federation

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"
)

// recordingEnqueuer keeps the batches queued through it.
type recordingEnqueuer struct {
	mu      sync.Mutex
	batches [][]int64
	queued  chan struct{}
}

func (e *recordingEnqueuer) ApplyInbox(ctx context.Context, id int64) error {
	return e.ApplyInboxBatch(ctx, []int64{id})
}

func (e *recordingEnqueuer) ApplyInboxBatch(_ context.Context, ids []int64) error {
	e.mu.Lock()
	e.batches = append(e.batches, slices.Clone(ids))
	e.mu.Unlock()
	e.queued <- struct{}{}
	return nil
}

func (e *recordingEnqueuer) got() [][]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.batches)
}

func seq(from, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(from + i)
	}
	return out
}

// TestApplyQueueGathersFlushes: the ids of several group commits are
// queued as one task after the linger, a full batch at once, and
// FlushApplies queues whatever lingers before it returns.
func TestApplyQueueGathersFlushes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls [][]int64
		flush bool // FlushApplies after the calls instead of waiting
		want  [][]int64
	}{
		{"three flushes share one task", [][]int64{seq(1, 3), seq(4, 2), seq(6, 1)}, false, [][]int64{seq(1, 6)}},
		{"a full batch goes at once, split at the bound", [][]int64{seq(1, maxApplyBatch+10)}, false,
			[][]int64{seq(1, maxApplyBatch), seq(1+maxApplyBatch, 10)}},
		{"shutdown queues what lingers", [][]int64{seq(1, 2), seq(3, 2)}, true, [][]int64{seq(1, 4)}},
		{"nothing stored, nothing queued", [][]int64{nil}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingEnqueuer{queued: make(chan struct{}, 16)}
			svc := New(Config{Enqueuer: rec}, nil, slog.New(slog.DiscardHandler))
			for _, ids := range tc.calls {
				svc.queueApply(ids)
			}
			if tc.flush {
				svc.FlushApplies()
			} else {
				for range tc.want {
					select {
					case <-rec.queued:
					case <-time.After(10 * time.Second):
						t.Fatalf("queued %v, want %v", rec.got(), tc.want)
					}
				}
			}
			if got := rec.got(); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}
