package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// Task types that learn what a post's image really is.
const (
	// TypeProbeImage fetches one post's image once and records its media
	// type, dimensions and size, which its Note's attachment advertises.
	TypeProbeImage = "media:probe"
	// TypeProbeSweep enqueues probes for posts whose probe task was lost.
	TypeProbeSweep = "media:probe-sweep"
)

// ProbeImagePayload names the post whose image to probe.
type ProbeImagePayload struct {
	Version int       `json:"v"`
	PostID  uuid.UUID `json:"post_id"`
}

// NewProbeImageTask builds a TypeProbeImage task.
func NewProbeImageTask(postID uuid.UUID) (*asynq.Task, error) {
	b, err := json.Marshal(ProbeImagePayload{Version: 1, PostID: postID})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeProbeImage, err)
	}
	return asynq.NewTask(TypeProbeImage, b), nil
}

// ProbeImage queues the probe of a new post's image. The task id is the
// post's, so the sweep and the API never queue it twice.
func (c *Client) ProbeImage(ctx context.Context, postID uuid.UUID) error {
	task, err := NewProbeImageTask(postID)
	if err != nil {
		return err
	}
	_, err = c.c.EnqueueContext(ctx, task, asynq.TaskID(TypeProbeImage+":"+postID.String()),
		asynq.Queue(QueueDefault), asynq.MaxRetry(5), asynq.Timeout(time.Minute), asynq.Retention(time.Hour))
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", TypeProbeImage, err)
	}
	return nil
}

type probeHandlers struct {
	store     *store.Store
	client    *http.Client
	tasks     *Client
	userAgent string
	maxBytes  int64
	log       *slog.Logger
}

func (h *probeHandlers) probe(ctx context.Context, t *asynq.Task) error {
	var p ProbeImagePayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.PostID == uuid.Nil {
		return fmt.Errorf("bad %s payload %q: %w", TypeProbeImage, t.Payload(), asynq.SkipRetry)
	}
	post, err := h.store.PostByID(ctx, p.PostID)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		return nil // deleted meanwhile: nothing to learn
	}
	if err != nil {
		return err
	}
	result := federation.ProbeImage(ctx, h.client, h.userAgent, post.ImageURL, h.maxBytes)
	if result.Err != "" {
		h.log.InfoContext(ctx, "image probe failed", "post", p.PostID, "reason", result.Err)
	}
	return h.store.RecordImageProbe(ctx, p.PostID, result)
}

func (h *probeHandlers) sweep(ctx context.Context, _ *asynq.Task) error {
	ids, err := h.store.UnprobedImages(ctx, 500)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := h.tasks.ProbeImage(ctx, id); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		h.log.InfoContext(ctx, "image probes requeued", "count", len(ids))
	}
	return nil
}
