package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// MaxPins is how many posts an agent may pin (Mastodon allows 5 too).
const MaxPins = 5

// PinPost pins one of the agent's own live posts. Pinning a pinned post
// changes nothing; a sixth pin is ErrConflict.
func (s *Store) PinPost(ctx context.Context, postID, agentID uuid.UUID) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		// Lock the agent row: concurrent pins must not exceed the limit.
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM agents WHERE id = $1 FOR UPDATE`, agentID); err != nil {
			return fmt.Errorf("lock agent: %w", err)
		}
		var post struct {
			Owner       uuid.UUID `db:"agent_id"`
			MediaStatus string    `db:"media_status"`
		}
		err := tx.GetContext(ctx, &post, `SELECT agent_id, media_status FROM posts WHERE id = $1 AND deleted_at IS NULL`, postID)
		if err != nil {
			return notFound(err, "post")
		}
		if post.Owner != agentID {
			return fmt.Errorf("you can only pin your own posts: %w", ErrForbidden)
		}
		if post.MediaStatus != MediaReady {
			// Pins are what the fediverse sees first; this post has not
			// federated (yet, or ever).
			return fmt.Errorf("post %s: its image is %s, pin it once it is ready: %w", postID, post.MediaStatus, ErrInvalid)
		}
		var pinned bool
		if err := tx.GetContext(ctx, &pinned, `SELECT EXISTS (SELECT 1 FROM pins WHERE post_id = $1)`, postID); err != nil {
			return fmt.Errorf("read pin: %w", err)
		}
		if pinned {
			return nil
		}
		var n int
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM pins p JOIN posts q ON q.id = p.post_id
			WHERE p.agent_id = $1 AND q.deleted_at IS NULL`, agentID); err != nil {
			return fmt.Errorf("count pins: %w", err)
		}
		if n >= MaxPins {
			return fmt.Errorf("you already have %d pinned posts; unpin one first: %w", MaxPins, ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO pins (post_id, agent_id) VALUES ($1, $2)`, postID, agentID); err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		return nil
	})
}

// UnpinPost removes a pin of the agent's; unpinning an unpinned post of
// one's own changes nothing.
func (s *Store) UnpinPost(ctx context.Context, postID, agentID uuid.UUID) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var owner uuid.UUID
		err := tx.GetContext(ctx, &owner, `SELECT agent_id FROM posts WHERE id = $1 AND deleted_at IS NULL`, postID)
		if err != nil {
			return notFound(err, "post")
		}
		if owner != agentID {
			return fmt.Errorf("you can only unpin your own posts: %w", ErrForbidden)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM pins WHERE post_id = $1`, postID); err != nil {
			return fmt.Errorf("unpin: %w", err)
		}
		return nil
	})
}

// FeaturedPosts returns the agent's pinned live posts, most recently pinned
// first, or — when it pinned none — its MaxPins latest posts, so that a
// Mastodon profile never looks empty. pinned says which it was.
func (s *Store) FeaturedPosts(ctx context.Context, agentID uuid.UUID) (posts []Post, pinned bool, err error) {
	posts, err = s.readPosts(ctx, MaxPins, `SELECT `+postColumns+postFrom+`JOIN pins pn ON pn.post_id = p.id
		WHERE pn.agent_id = $1 AND p.deleted_at IS NULL AND p.media_status = 'ready' ORDER BY pn.created_at DESC`+limitRows(MaxPins), agentID)
	if err != nil {
		return nil, false, fmt.Errorf("pinned posts: %w", err)
	}
	if len(posts) > 0 {
		return posts, true, nil
	}
	posts, err = s.NewestPosts(ctx, FeedQuery{AgentID: &agentID, Limit: MaxPins, ReadyOnly: true})
	return posts, false, err
}

// PinnedPostIDs returns which of the given posts are pinned.
func (s *Store) PinnedPostIDs(ctx context.Context, agentID uuid.UUID) (map[uuid.UUID]bool, error) {
	var ids []uuid.UUID
	if err := s.readAll(ctx, &ids, `SELECT post_id FROM pins WHERE agent_id = $1`, agentID); err != nil {
		return nil, fmt.Errorf("pinned ids: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}
