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

	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
)

// Task types of the media queue.
const (
	// TypeProcessMedia fetches a post's linked image once, checks and
	// re-encodes it, stores the files and, when the post's images are all
	// stored, releases its Create{Note}.
	TypeProcessMedia = "media:process"
	// TypeMediaSweep re-queues images still pending after a while (their
	// task was lost).
	TypeMediaSweep = "media:sweep"
	// TypeMediaCleanup removes uploads never attached to a post within a
	// day, and deletes files nothing uses any more.
	TypeMediaCleanup = "media:cleanup"
)

// MediaFetchRetries is how often a fetch that failed for a passing reason
// (a timeout, a 5xx) is retried before the post is marked failed: about
// five minutes with the default schedule.
const MediaFetchRetries = 5

// uploadTTL is how long an upload may wait to be attached to a post.
const uploadTTL = 24 * time.Hour

// MediaPayload names a media row.
type MediaPayload struct {
	Version int       `json:"v"`
	ID      uuid.UUID `json:"id"`
}

// ProcessMedia queues the fetch of a post's image. The task id is the
// media row's, so the sweep and the API never queue it twice.
func (c *Client) ProcessMedia(ctx context.Context, mediaID uuid.UUID) error {
	b, err := json.Marshal(MediaPayload{Version: 1, ID: mediaID})
	if err != nil {
		return fmt.Errorf("encode %s: %w", TypeProcessMedia, err)
	}
	_, err = c.c.EnqueueContext(ctx, asynq.NewTask(TypeProcessMedia, b), asynq.TaskID(TypeProcessMedia+":"+mediaID.String()),
		asynq.Queue(QueueMedia), asynq.MaxRetry(MediaFetchRetries), asynq.Timeout(2*time.Minute))
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return fmt.Errorf("enqueue %s: %w", TypeProcessMedia, err)
}

type mediaHandlers struct {
	store     *store.Store
	pipeline  *media.Pipeline
	client    *http.Client
	tasks     *Client
	userAgent string
	maxBytes  int64
	// slots bounds how many images are decoded at once, whatever the
	// worker's concurrency: each holds a decoded image in memory.
	slots chan struct{}
	log   *slog.Logger
}

func (h *mediaHandlers) process(ctx context.Context, t *asynq.Task) error {
	var p MediaPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID == uuid.Nil {
		return fmt.Errorf("bad %s payload %q: %w", TypeProcessMedia, t.Payload(), asynq.SkipRetry)
	}
	m, err := h.store.MediaByID(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // its post was deleted meanwhile
	}
	if err != nil {
		return err
	}
	if m.Status != store.MediaPending || m.SourceURL == nil {
		return nil
	}

	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-ctx.Done():
		return ctx.Err()
	}

	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	last := retry >= maxRetry
	// An error of ours (storage, database) is retried too; on the last
	// attempt the post fails rather than stay pending for ever, since an
	// exhausted task is never run again.
	ourFault := func(err error) error {
		if !last {
			return err
		}
		h.log.ErrorContext(ctx, "media processing gave up", "media", m.ID, "err", err)
		return h.fail(ctx, m, "the instance could not store the image; please post it again")
	}

	data, err := media.Fetch(ctx, h.client, h.userAgent, *m.SourceURL, h.maxBytes)
	if err != nil {
		var fe *media.FetchError
		if !errors.As(err, &fe) {
			return ourFault(err)
		}
		if fe.Temporary && !last {
			return err // asynq retries it
		}
		return h.fail(ctx, m, fe.Reason)
	}
	prepared, err := h.pipeline.Prepare(data)
	if err != nil {
		var re *media.RejectError
		if errors.As(err, &re) {
			return h.fail(ctx, m, re.Reason)
		}
		return ourFault(err)
	}
	err = h.store.MediaStored(ctx, m.ID, prepared.Files, func(ctx context.Context) error {
		return h.pipeline.Save(ctx, prepared)
	})
	if err != nil {
		return ourFault(err)
	}
	h.log.InfoContext(ctx, "media stored", "media", m.ID, "post", m.PostID, "sha256", prepared.Files.SHA256,
		"width", prepared.Files.Width, "height", prepared.Files.Height, "bytes", prepared.Files.Bytes)
	return nil
}

func (h *mediaHandlers) fail(ctx context.Context, m *store.Media, reason string) error {
	h.log.InfoContext(ctx, "media failed", "media", m.ID, "post", m.PostID, "reason", reason)
	return h.store.MediaFailedFor(ctx, m.ID, reason)
}

func (h *mediaHandlers) sweep(ctx context.Context, _ *asynq.Task) error {
	ids, err := h.store.PendingMedia(ctx, 2*time.Minute, 500)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := h.tasks.ProcessMedia(ctx, id); err != nil {
			return err
		}
	}
	if len(ids) > 0 {
		h.log.InfoContext(ctx, "pending media requeued", "count", len(ids))
	}
	return nil
}

func (h *mediaHandlers) cleanup(ctx context.Context, _ *asynq.Task) error {
	uploads, err := h.store.DeleteStaleUploads(ctx, uploadTTL, 1000)
	if err != nil {
		return err
	}
	files, err := h.store.CollectMediaGarbage(ctx, 1000, h.pipeline.Delete)
	if err != nil {
		return err
	}
	if uploads+files > 0 {
		h.log.InfoContext(ctx, "media cleaned up", "stale_uploads", uploads, "unused_images", files)
	}
	return nil
}
