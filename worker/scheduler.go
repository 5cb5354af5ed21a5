package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
)

// periodic is a task enqueued once per interval.
type periodic struct {
	taskType string
	queue    string
	every    time.Duration
}

// scheduler enqueues periodic tasks. Each enqueue carries a task id naming
// its time slot (type:slot) and is retained for a while after it runs, so
// when several processes run the scheduler, only the first enqueue of a
// slot succeeds and the work is done once.
type scheduler struct {
	client *asynq.Client
	tasks  []periodic
	log    *slog.Logger
}

func (s *scheduler) run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := make(map[string]int64)
	for {
		now := time.Now()
		for _, p := range s.tasks {
			slot := now.UnixNano() / int64(p.every)
			if last[p.taskType] == slot {
				continue
			}
			if err := s.enqueue(ctx, p, slot); err != nil {
				s.log.Warn("scheduler: enqueue failed", "task", p.taskType, "err", err)
				continue
			}
			last[p.taskType] = slot
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *scheduler) enqueue(ctx context.Context, p periodic, slot int64) error {
	_, err := s.client.EnqueueContext(ctx, asynq.NewTask(p.taskType, nil),
		asynq.TaskID(fmt.Sprintf("%s:%d", p.taskType, slot)),
		asynq.Queue(p.queue),
		asynq.Retention(2*p.every),
		asynq.Timeout(p.every),
		asynq.MaxRetry(0)) // the next slot retries anyway
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // another scheduler got this slot
	}
	return err
}
