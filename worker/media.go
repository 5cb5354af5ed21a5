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

// mediaGiveUpAfter is when a pending image is failed by the sweep: well
// past every retry of its fetch (about five minutes), so its task was lost
// or ended without recording an outcome.
const mediaGiveUpAfter = 30 * time.Minute

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
	// The decode slot is taken only now: a slow image host must not hold
	// a slot meant for the CPU.
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return ourFault(ctx.Err())
	}
	prepared, err := h.pipeline.Prepare(data)
	<-h.slots
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

// fail records the outcome even when the task's own time is up: a task
// that ends without one leaves its post pending.
func (h *mediaHandlers) fail(ctx context.Context, m *store.Media, reason string) error {
	h.log.InfoContext(ctx, "media failed", "media", m.ID, "post", m.PostID, "reason", reason)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return h.store.MediaFailedFor(ctx, m.ID, reason)
}

func (h *mediaHandlers) sweep(ctx context.Context, _ *asynq.Task) error {
	// Pending far too long: whatever happened to its task, fail it so the
	// agent hears and can post again.
	stale, err := h.store.PendingMedia(ctx, mediaGiveUpAfter, 500)
	if err != nil {
		return err
	}
	for _, id := range stale {
		if err := h.store.MediaFailedFor(ctx, id, "the image could not be processed in time; please post it again"); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		h.log.WarnContext(ctx, "stale pending media failed", "count", len(stale))
	}
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
	// In batches, until everything due is gone.
	const batch = 1000
	uploads, files := 0, 0
	for {
		n, err := h.store.DeleteStaleUploads(ctx, store.UploadTTL, batch)
		uploads += n
		if err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	for {
		n, err := h.store.CollectMediaGarbage(ctx, batch, h.pipeline.Delete)
		files += n
		if err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	if uploads+files > 0 {
		h.log.InfoContext(ctx, "media cleaned up", "stale_uploads", uploads, "unused_images", files)
	}
	return nil
}
