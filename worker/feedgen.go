package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// FeedGeneration is a counter in Redis that changes whenever something that
// orders feeds changes: a post appears or goes, a vote is cast, scores are
// recomputed. Feed snapshots are keyed by it, so a new first page never
// shows an ordering older than the last write.
type FeedGeneration struct {
	rdb redis.UniversalClient
}

const feedGenerationKey = "feed:generation"

// NewFeedGeneration uses the given Redis client.
func NewFeedGeneration(rdb redis.UniversalClient) *FeedGeneration {
	return &FeedGeneration{rdb: rdb}
}

// Current returns the generation (0 before the first write).
func (g *FeedGeneration) Current(ctx context.Context) (int64, error) {
	n, err := g.rdb.Get(ctx, feedGenerationKey).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("feed generation: %w", err)
	}
	return n, nil
}

// Bump starts a new generation.
func (g *FeedGeneration) Bump(ctx context.Context) error {
	if err := g.rdb.Incr(ctx, feedGenerationKey).Err(); err != nil {
		return fmt.Errorf("bump feed generation: %w", err)
	}
	return nil
}
