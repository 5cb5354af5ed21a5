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

func newRecordingEnqueuer() *recordingEnqueuer {
	return &recordingEnqueuer{queued: make(chan struct{}, 1<<16)}
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

// likes are n stored reactions numbered from first, each of size bytes.
func likes(first, n, bytes int) []stored {
	out := make([]stored, n)
	for i := range out {
		out[i] = stored{id: int64(first + i), bytes: bytes, lingers: true}
	}
	return out
}

func ids(first, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(first + i)
	}
	return out
}

// TestApplyQueueBatches: what is queued at once (full batches, anything
// but a reaction, everything after FlushApplies) and what waits for the
// linger, with a linger long enough that nothing in the test outlives it.
func TestApplyQueueBatches(t *testing.T) {
	follow := []stored{{id: 900, bytes: 500}}
	for _, tc := range []struct {
		name  string
		calls [][]stored
		want  [][]int64 // queued before any linger ends
		after [][]int64 // queued by FlushApplies
	}{
		{"reactions wait for each other", [][]stored{likes(1, 3, 100), likes(4, 2, 100)}, nil, [][]int64{ids(1, 5)}},
		{"a full batch goes at once, the rest waits",
			[][]stored{likes(1, maxApplyBatch-10, 100), likes(maxApplyBatch-9, 30, 100)},
			[][]int64{ids(1, maxApplyBatch)}, [][]int64{ids(maxApplyBatch+1, 20)}},
		{"large bodies fill a batch sooner", [][]stored{likes(1, 3, maxApplyBytes/2)}, [][]int64{ids(1, 2)}, [][]int64{ids(3, 1)}},
		{"a Follow takes the Likes before it along", [][]stored{likes(1, 2, 100), append(follow, likes(3, 1, 100)...)},
			[][]int64{{1, 2, 900}}, [][]int64{{3}}},
		{"Follows of one group commit share a task", [][]stored{{{id: 1}, {id: 2}, {id: 3}}}, [][]int64{ids(1, 3)}, nil},
		{"nothing stored, nothing queued", [][]stored{nil}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecordingEnqueuer()
			svc := New(Config{Enqueuer: rec}, nil, slog.New(slog.DiscardHandler))
			svc.applyLinger = time.Hour
			for _, c := range tc.calls {
				svc.queueApply(c)
			}
			if got := rec.got(); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("queued at once %v, want %v", got, tc.want)
			}
			svc.FlushApplies()
			if got := rec.got()[len(tc.want):]; !slices.EqualFunc(got, tc.after, slices.Equal) {
				t.Errorf("queued on shutdown %v, want %v", got, tc.after)
			}
			svc.queueApply(likes(5000, 1, 100))
			if got := rec.got(); len(got) == 0 || !slices.Equal(got[len(got)-1], []int64{5000}) {
				t.Errorf("after shutdown a Like was not queued at once: %v", got)
			}
		})
	}
}

// TestApplyQueueLingerEnds: reactions left waiting are queued by the
// timer, together.
func TestApplyQueueLingerEnds(t *testing.T) {
	rec := newRecordingEnqueuer()
	svc := New(Config{Enqueuer: rec}, nil, slog.New(slog.DiscardHandler))
	svc.applyLinger = time.Millisecond
	svc.queueApply(likes(1, 3, 100))
	select {
	case <-rec.queued:
	case <-time.After(10 * time.Second):
		t.Fatal("the linger never ended")
	}
	if got := rec.got(); !slices.EqualFunc(got, [][]int64{ids(1, 3)}, slices.Equal) {
		t.Errorf("queued %v, want one batch of 1..3", got)
	}
}

// TestApplyQueueQueuesEachOnce: group commits racing with timers, full
// batches and shutdown queue every id exactly once (run with -race).
func TestApplyQueueQueuesEachOnce(t *testing.T) {
	rec := newRecordingEnqueuer()
	svc := New(Config{Enqueuer: rec}, nil, slog.New(slog.DiscardHandler))
	svc.applyLinger = 100 * time.Microsecond
	const writers, perWriter, each = 8, 300, 7
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				first := (w*perWriter+i)*each + 1
				batch := likes(first, each, 100)
				batch[0].lingers = i%5 != 0 // now and then a Follow
				svc.queueApply(batch)
			}
		}()
	}
	wg.Wait()
	svc.FlushApplies()
	seen := make(map[int64]int)
	for _, b := range rec.got() {
		if len(b) > maxApplyBatch+each {
			t.Errorf("a batch of %d", len(b))
		}
		for _, id := range b {
			seen[id]++
		}
	}
	for id := int64(1); id <= writers*perWriter*each; id++ {
		if seen[id] != 1 {
			t.Fatalf("id %d queued %d times", id, seen[id])
		}
	}
	if len(seen) != writers*perWriter*each {
		t.Errorf("%d ids queued, want %d", len(seen), writers*perWriter*each)
	}
}

// TestApplyQueueStaleTimerFlushesNothing: a timer whose ids a full batch
// took (its generation passed) leaves the entries that came after alone.
func TestApplyQueueStaleTimerFlushesNothing(t *testing.T) {
	rec := newRecordingEnqueuer()
	svc := New(Config{Enqueuer: rec}, nil, slog.New(slog.DiscardHandler))
	svc.applyLinger = time.Hour
	svc.queueApply(likes(1, 1, 100))
	svc.applies.mu.Lock()
	stale := svc.applies.gen
	svc.applies.mu.Unlock()
	svc.queueApply(likes(2, maxApplyBatch, 100)) // fills a batch: 1..1024 go, 1025 waits
	svc.lingered(stale)
	if got := rec.got(); !slices.EqualFunc(got, [][]int64{ids(1, maxApplyBatch)}, slices.Equal) {
		t.Errorf("queued %d batches, want only the full one; the stale timer flushed the rest", len(got))
	}
	svc.FlushApplies()
	if got := rec.got(); len(got) != 2 || !slices.Equal(got[1], []int64{maxApplyBatch + 1}) {
		t.Errorf("after shutdown: %v", got[1:])
	}
}
