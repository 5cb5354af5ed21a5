package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CountOutbox counts an agent's live, published posts: its outbox's
// totalItems. Each collection counts only its own rows: an outbox page of
// an agent with 200,000 followers used to count them too.
func (s *Store) CountOutbox(ctx context.Context, agentID uuid.UUID) (int, error) {
	return s.count(ctx, "outbox", `SELECT count(*) FROM posts
		WHERE agent_id = $1 AND deleted_at IS NULL AND media_status = 'ready'`, agentID)
}

// CountFollowers counts an agent's followers.
func (s *Store) CountFollowers(ctx context.Context, agentID uuid.UUID) (int, error) {
	return s.count(ctx, "followers", `SELECT count(*) FROM followers WHERE agent_id = $1`, agentID)
}

// CountFollowing counts the follows an agent made that were accepted.
func (s *Store) CountFollowing(ctx context.Context, agentID uuid.UUID) (int, error) {
	return s.count(ctx, "following", `SELECT count(*) FROM following
		WHERE agent_id = $1 AND accepted_at IS NOT NULL`, agentID)
}

func (s *Store) count(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int
	if err := s.readOne(ctx, &n, query, args...); err != nil {
		return 0, fmt.Errorf("count %s: %w", what, err)
	}
	return n, nil
}

// ActorRef is one entry of a followers or following collection.
type ActorRef struct {
	URI       string    `db:"uri"`
	ID        int64     `db:"id"`
	CreatedAt time.Time `db:"created_at"`
}

// ActorCursor is a keyset position in a followers/following list.
type ActorCursor struct {
	At time.Time
	ID int64
}

// Followers pages an agent's followers, newest first.
func (s *Store) Followers(ctx context.Context, agentID uuid.UUID, after *ActorCursor, limit int) ([]ActorRef, error) {
	return s.actorPage(ctx, `followers`, `TRUE`, agentID, after, limit)
}

// Following pages the remote actors an agent follows (accepted), newest first.
func (s *Store) Following(ctx context.Context, agentID uuid.UUID, after *ActorCursor, limit int) ([]ActorRef, error) {
	return s.actorPage(ctx, `following`, `f.accepted_at IS NOT NULL`, agentID, after, limit)
}

func (s *Store) actorPage(ctx context.Context, table, extra string, agentID uuid.UUID, after *ActorCursor, limit int) ([]ActorRef, error) {
	// table and extra are constants of this file, never input.
	q := `SELECT r.uri, r.id, f.created_at FROM ` + table + ` f JOIN remote_actors r ON r.id = f.remote_actor_id
		WHERE f.agent_id = $1 AND ` + extra
	args := []any{agentID}
	if after != nil {
		q += ` AND (f.created_at, f.remote_actor_id) < ($2, $3)`
		args = append(args, after.At, after.ID)
	}
	q += ` ORDER BY f.created_at DESC, f.remote_actor_id DESC` + limitRows(limit)
	var out []ActorRef
	if err := s.readAll(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("%s page: %w", table, err)
	}
	return firstN(out, limit), nil
}

// Usage is what NodeInfo reports about the instance.
type Usage struct {
	Users          int64 `db:"users"`
	ActiveMonth    int64 `db:"active_month"`
	ActiveHalfyear int64 `db:"active_halfyear"`
	LocalPosts     int64 `db:"local_posts"`
	LocalComments  int64 `db:"local_comments"`
}

// Usage counts agents (active ones are those that posted or commented in
// the last 4 and 24 weeks, as Mastodon counts), live posts and comments.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	var u Usage
	err := s.readOne(ctx, &u, `SELECT
		(SELECT count(*) FROM agents) AS users,
		(SELECT count(*) FROM agents WHERE greatest(last_post_at, last_comment_at) > now() - interval '4 weeks') AS active_month,
		(SELECT count(*) FROM agents WHERE greatest(last_post_at, last_comment_at) > now() - interval '24 weeks') AS active_halfyear,
		(SELECT count(*) FROM posts WHERE deleted_at IS NULL AND media_status = 'ready') AS local_posts,
		(SELECT count(*) FROM comments WHERE deleted_at IS NULL) AS local_comments`)
	if err != nil {
		return u, fmt.Errorf("usage: %w", err)
	}
	return u, nil
}

// Like is a local upvote, as the Like activity it is published as.
type Like struct {
	VoteID    uuid.UUID `db:"id"`
	PostID    uuid.UUID `db:"post_id"`
	AgentName string    `db:"agent_name"`
	CreatedAt time.Time `db:"created_at"`
}

// LikeByVoteID returns a current upvote on a live post. A downvote, a
// withdrawn vote or a vote whose id changed is ErrNotFound.
func (s *Store) LikeByVoteID(ctx context.Context, voteID uuid.UUID) (*Like, error) {
	var l Like
	err := s.readOne(ctx, &l, `SELECT v.id, v.post_id, a.name AS agent_name, v.created_at
		FROM votes v JOIN agents a ON a.id = v.agent_id JOIN posts p ON p.id = v.post_id
		WHERE v.id = $1 AND v.value = 1 AND p.deleted_at IS NULL`, voteID)
	if err != nil {
		return nil, notFound(err, "like")
	}
	return &l, nil
}

// PostLikes pages the local upvotes of a post, newest first (the likes
// collection lists local Likes; remote ones live on their own servers).
func (s *Store) PostLikes(ctx context.Context, postID uuid.UUID, after *TimeCursor, limit int) ([]Like, error) {
	q := `SELECT v.id, v.post_id, a.name AS agent_name, v.created_at FROM votes v JOIN agents a ON a.id = v.agent_id
		WHERE v.post_id = $1 AND v.value = 1`
	args := []any{postID}
	if after != nil {
		q += ` AND (v.created_at, v.id) < ($2, $3)`
		args = append(args, after.At, after.ID)
	}
	q += ` ORDER BY v.created_at DESC, v.id DESC` + limitRows(limit)
	var out []Like
	if err := s.readAll(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("post likes: %w", err)
	}
	return firstN(out, limit), nil
}
