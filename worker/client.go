package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Queue names. Federation deliveries get their own queue so that a backlog
// of deliveries never delays ranking, and the other way round.
const (
	QueueDefault    = "default"
	QueueRanking    = "ranking"
	QueueFederation = "federation"
	QueueMedia      = "media"
)

// Client enqueues tasks. It is safe for concurrent use.
type Client struct {
	c *asynq.Client
}

// NewClient wraps an existing Redis client (shared with rate limiting, so a
// process holds one pool).
func NewClient(rdb redis.UniversalClient) *Client {
	return &Client{c: asynq.NewClientFromRedisClient(rdb)}
}

// Close releases the client. It does not close the shared Redis pool.
func (c *Client) Close() error { return nil }

// rankDebounce is how long a post's rescoring waits after a comment,
// gathering every other change to the post made meanwhile into one task.
const rankDebounce = 3 * time.Second

// RankPostSoon asks for a post's ranking scores to be recomputed shortly.
// Calls within one debounce window share a task id, so a burst of votes on
// a viral post costs one recompute, not one per vote.
func (c *Client) RankPostSoon(ctx context.Context, postID uuid.UUID) error {
	now := time.Now()
	slot := now.UnixNano() / int64(rankDebounce)
	runAt := time.Unix(0, (slot+1)*int64(rankDebounce))
	task, err := NewRankPostTask(postID)
	if err != nil {
		return err
	}
	_, err = c.c.EnqueueContext(ctx, task,
		asynq.TaskID(fmt.Sprintf("%s:%s:%d", TypeRankPost, postID, slot)),
		asynq.ProcessAt(runAt), asynq.Queue(QueueRanking), asynq.MaxRetry(3))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // already scheduled in this window
	}
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", TypeRankPost, err)
	}
	return nil
}
