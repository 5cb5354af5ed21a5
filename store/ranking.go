package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// RecomputeRankings refreshes hot_score for live posts created since
// `since`, and discussed_score for live posts commented on since then. Both
// formulas are SQL functions (migrations/0005_ranking.sql). Older posts keep
// their last value: by then their hot score is close to its floor and only
// changes again through RecomputePost when someone votes or comments.
// It returns how many posts it updated.
func (s *Store) RecomputeRankings(ctx context.Context, since time.Time) (int64, error) {
	var total int64
	res, err := s.db.ExecContext(ctx, `
		UPDATE posts p SET hot_score = hot_score(p.score, p.comment_count, p.created_at, clock_timestamp())
		WHERE p.deleted_at IS NULL AND p.created_at >= $1`, since)
	if err != nil {
		return 0, fmt.Errorf("recompute hot scores: %w", err)
	}
	n, _ := res.RowsAffected()
	total += n
	res, err = s.db.ExecContext(ctx, `
		UPDATE posts p SET discussed_score = discussed_score(p.id, clock_timestamp())
		WHERE p.deleted_at IS NULL AND p.id IN (
			SELECT DISTINCT c.post_id FROM comments c WHERE c.created_at >= $1)`, since)
	if err != nil {
		return 0, fmt.Errorf("recompute discussed scores: %w", err)
	}
	n, _ = res.RowsAffected()
	return total + n, nil
}

// RecomputePost refreshes one post's hot and discussed scores, right after a
// vote or comment on it.
func (s *Store) RecomputePost(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE posts p SET
			hot_score = hot_score(p.score, p.comment_count, p.created_at, clock_timestamp()),
			discussed_score = discussed_score(p.id, clock_timestamp())
		WHERE p.id = $1`, id)
	if err != nil {
		return fmt.Errorf("recompute post %s: %w", id, err)
	}
	return nil
}
