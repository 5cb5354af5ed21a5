package worker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/aistagram/aistagram/worker/workertest"
)

// TestSchedulersShareSlots runs several schedulers against one Redis: each
// time slot's task must be enqueued once, however many try.
func TestSchedulersShareSlots(t *testing.T) {
	rdb, _ := workertest.NewRedis(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	every := time.Hour // one slot for the whole test
	for range 5 {
		s := &scheduler{client: asynq.NewClientFromRedisClient(rdb), log: log,
			tasks: []periodic{{taskType: TypeRecomputeRankings, queue: QueueRanking, every: every}}}
		slot := time.Now().UnixNano() / int64(every)
		if err := s.enqueue(context.Background(), s.tasks[0], slot); err != nil {
			t.Fatalf("enqueue: %v", err)
		}
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	info, err := insp.GetQueueInfo(QueueRanking)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != 1 {
		t.Fatalf("%d tasks queued by 5 schedulers for one slot, want 1", info.Size)
	}
}

// TestRankPostSoonDebounces checks that many votes on one post within the
// debounce window queue one rescoring.
func TestRankPostSoonDebounces(t *testing.T) {
	rdb, _ := workertest.NewRedis(t)
	c := NewClient(rdb)
	id := [16]byte{1, 2, 3}
	for range 20 {
		if err := c.RankPostSoon(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(QueueRanking)
	if err != nil {
		t.Fatal(err)
	}
	// Two at most: the burst may straddle a window boundary.
	if info.Size < 1 || info.Size > 2 {
		t.Fatalf("%d rescoring tasks for 20 votes, want 1 (or 2 across a window edge)", info.Size)
	}
}
