package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/aistagram/aistagram/store"
)

// Task types of the ranking queue.
const (
	// TypeRecomputeRankings rewrites the hot scores that drifted past
	// store.RankingTolerance and the scores of posts whose counters moved
	// (store.RecomputeRankings); the scheduler enqueues it every
	// RankingInterval.
	TypeRecomputeRankings = "ranking:recompute"
	// TypeRankPost refreshes one post's scores after a comment.
	TypeRankPost = "ranking:post"
)

// RankingWindow is how far back the periodic recompute follows hot scores
// as they decay; older posts move again only when they get a vote (which
// rescores the post itself) or a comment (TypeRankPost). The store defines it, because its due index
// (migrations/0010_ranking_incremental.sql) has it built in.
const RankingWindow = store.RankingWindow

// RankPostPayload names the post to rescore.
type RankPostPayload struct {
	Version int       `json:"v"`
	PostID  uuid.UUID `json:"post_id"`
}

// NewRankPostTask builds a TypeRankPost task.
func NewRankPostTask(postID uuid.UUID) (*asynq.Task, error) {
	b, err := json.Marshal(RankPostPayload{Version: 1, PostID: postID})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeRankPost, err)
	}
	return asynq.NewTask(TypeRankPost, b), nil
}

// rankingHandlers recompute scores and then start a new feed generation so
// that first pages pick the new order up.
type rankingHandlers struct {
	store *store.Store
	feeds *FeedGeneration
	log   *slog.Logger
}

func (h *rankingHandlers) recomputeAll(ctx context.Context, _ *asynq.Task) error {
	start := time.Now()
	n, err := h.store.RecomputeRankings(ctx, start.Add(-RankingWindow))
	if err != nil {
		return err
	}
	// Nothing rewritten, nothing reordered: the first pages stay valid.
	if n > 0 {
		if err := h.feeds.Bump(ctx); err != nil {
			return err
		}
	}
	h.log.Info("rankings recomputed", "posts", n, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

func (h *rankingHandlers) rankPost(ctx context.Context, t *asynq.Task) error {
	var p RankPostPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.PostID == uuid.Nil {
		return fmt.Errorf("bad %s payload %q: %w", TypeRankPost, t.Payload(), asynq.SkipRetry)
	}
	if err := h.store.RecomputePost(ctx, p.PostID); err != nil {
		return err
	}
	if err := h.feeds.Bump(ctx); err != nil {
		return err
	}
	// Announced only now: a first page filled between the rescoring and
	// the new feed generation would keep the old order.
	h.store.FeedsReordered()
	return nil
}
