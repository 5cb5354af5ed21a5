package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// This file holds what activities from other servers do to local data.
// Every method applies one inbox entry (inboxID) in one transaction, and is
// idempotent: applying the same effect twice changes nothing.

// ApplyFollow stores a remote follower and queues the Accept, which embeds
// the Follow as received. A repeated Follow from a follower is answered
// with a new Accept (Mastodon does the same, so a lost Accept heals).
func (s *Store) ApplyFollow(ctx context.Context, inboxID int64, agentID uuid.UUID, actorID int64, follow json.RawMessage) error {
	var ref struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(follow, &ref); err != nil || ref.ID == "" {
		return fmt.Errorf("follow without id: %w", ErrInvalid)
	}
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO followers (agent_id, remote_actor_id, follow_activity_id) VALUES ($1, $2, $3)
			ON CONFLICT (agent_id, remote_actor_id) DO UPDATE SET follow_activity_id = EXCLUDED.follow_activity_id`,
			agentID, actorID, ref.ID)
		if err != nil {
			return fmt.Errorf("store follower: %w", err)
		}
		_, err = s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxAcceptFollow, AgentID: &agentID,
			RemoteActorID: &actorID, Payload: follow}, true)
		return err
	})
}

// ApplyUndoFollow removes a follower.
func (s *Store) ApplyUndoFollow(ctx context.Context, inboxID int64, agentID uuid.UUID, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM followers WHERE agent_id = $1 AND remote_actor_id = $2`, agentID, actorID)
		if err != nil {
			return fmt.Errorf("remove follower: %w", err)
		}
		return nil
	})
}

// ApplyLike counts a remote Like as an upvote, once per actor and post.
func (s *Store) ApplyLike(ctx context.Context, inboxID int64, postID uuid.UUID, actorID int64, likeID string) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := lockLivePost(ctx, tx, postID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO remote_votes (post_id, remote_actor_id, like_activity_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, postID, actorID, likeID)
		if err != nil {
			return fmt.Errorf("store remote vote: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.ExecContext(ctx, `UPDATE posts SET upvotes = upvotes + 1 WHERE id = $1`, postID)
		}
		return err
	})
}

// ApplyUndoLike withdraws a remote upvote.
func (s *Store) ApplyUndoLike(ctx context.Context, inboxID int64, postID uuid.UUID, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := lockLivePost(ctx, tx, postID); err != nil {
			return err
		}
		return removeRemoteVotes(ctx, tx, `post_id = $1 AND remote_actor_id = $2`, postID, actorID)
	})
}

// removeRemoteVotes deletes remote votes matching where and takes them off
// their posts' counters.
func removeRemoteVotes(ctx context.Context, tx *sqlx.Tx, where string, args ...any) error {
	_, err := tx.ExecContext(ctx, `WITH gone AS (DELETE FROM remote_votes WHERE `+where+` RETURNING post_id)
		UPDATE posts p SET upvotes = p.upvotes - g.n
		FROM (SELECT post_id, count(*) AS n FROM gone GROUP BY post_id) g WHERE p.id = g.post_id`, args...)
	if err != nil {
		return fmt.Errorf("remove remote votes: %w", err)
	}
	return nil
}

// ApplyAnnounce counts a share of a local post.
func (s *Store) ApplyAnnounce(ctx context.Context, inboxID int64, postID uuid.UUID, actorID int64, activityID string) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := lockLivePost(ctx, tx, postID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO announces (post_id, remote_actor_id, activity_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, postID, actorID, activityID)
		if err != nil {
			return fmt.Errorf("store announce: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err = tx.ExecContext(ctx, `UPDATE posts SET share_count = share_count + 1 WHERE id = $1`, postID)
		}
		return err
	})
}

// ApplyUndoAnnounce withdraws a share.
func (s *Store) ApplyUndoAnnounce(ctx context.Context, inboxID int64, postID uuid.UUID, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := lockLivePost(ctx, tx, postID); err != nil {
			return err
		}
		return removeAnnounces(ctx, tx, `post_id = $1 AND remote_actor_id = $2`, postID, actorID)
	})
}

func removeAnnounces(ctx context.Context, tx *sqlx.Tx, where string, args ...any) error {
	_, err := tx.ExecContext(ctx, `WITH gone AS (DELETE FROM announces WHERE `+where+` RETURNING post_id)
		UPDATE posts p SET share_count = p.share_count - g.n
		FROM (SELECT post_id, count(*) AS n FROM gone GROUP BY post_id) g WHERE p.id = g.post_id`, args...)
	if err != nil {
		return fmt.Errorf("remove announces: %w", err)
	}
	return nil
}

// lockLivePost locks a post row against concurrent counter updates, in the
// order every writer takes: the post first.
func lockLivePost(ctx context.Context, tx *sqlx.Tx, postID uuid.UUID) error {
	var ok bool
	err := tx.GetContext(ctx, &ok, `SELECT true FROM posts WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE`, postID)
	return notFound(err, "post")
}

// RemoteComment is a reply that arrived from the fediverse.
type RemoteComment struct {
	APID        string
	PostID      uuid.UUID
	ParentID    *uuid.UUID
	ActorID     int64
	Content     string // plain text
	ContentHTML string // sanitised HTML
	Published   time.Time
}

// ApplyRemoteComment stores a remote reply as a comment, once per Note id.
func (s *Store) ApplyRemoteComment(ctx context.Context, inboxID int64, rc RemoteComment) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := lockLivePost(ctx, tx, rc.PostID); err != nil {
			return err
		}
		created := rc.Published
		if created.IsZero() || created.After(time.Now().Add(time.Minute)) {
			created = time.Now()
		}
		id := uuid.New()
		res, err := tx.ExecContext(ctx, `INSERT INTO comments (id, post_id, parent_id, remote_actor_id, ap_id, content, content_html, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (ap_id) DO NOTHING`,
			id, rc.PostID, rc.ParentID, rc.ActorID, rc.APID, rc.Content, rc.ContentHTML, created)
		if err != nil {
			return fmt.Errorf("store remote comment: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // seen before
		}
		if _, err := tx.ExecContext(ctx, `UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1`, rc.PostID); err != nil {
			return fmt.Errorf("count comment: %w", err)
		}
		if rc.ParentID != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1`, *rc.ParentID); err != nil {
				return fmt.Errorf("count reply: %w", err)
			}
		}
		return nil
	})
}

// ApplyUpdateRemoteComment replaces the text of a remote comment, when the
// update comes from its author.
func (s *Store) ApplyUpdateRemoteComment(ctx context.Context, inboxID int64, apID string, actorID int64, content, html string) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE comments SET content = $3, content_html = $4
			WHERE ap_id = $1 AND remote_actor_id = $2 AND deleted_at IS NULL`, apID, actorID, content, html)
		if err != nil {
			return fmt.Errorf("update remote comment: %w", err)
		}
		return nil
	})
}

// ApplyDeleteRemoteComment deletes a remote comment, when its author asks.
func (s *Store) ApplyDeleteRemoteComment(ctx context.Context, inboxID int64, apID string, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		var row struct {
			ID       uuid.UUID  `db:"id"`
			PostID   uuid.UUID  `db:"post_id"`
			ParentID *uuid.UUID `db:"parent_id"`
		}
		err := tx.GetContext(ctx, &row, `SELECT id, post_id, parent_id FROM comments
			WHERE ap_id = $1 AND remote_actor_id = $2 AND deleted_at IS NULL`, apID, actorID)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("find remote comment: %w", err)
		}
		if err := lockLivePost(ctx, tx, row.PostID); err != nil && !isNotFoundErr(err) {
			return err
		}
		return softDeleteComment(ctx, tx, row.ID, row.PostID, row.ParentID)
	})
}

// ApplyDeleteRemoteActor forgets an actor that deleted itself: its follows
// both ways, its votes, shares and comments, and finally the actor.
func (s *Store) ApplyDeleteRemoteActor(ctx context.Context, inboxID int64, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if err := removeRemoteVotes(ctx, tx, `remote_actor_id = $1`, actorID); err != nil {
			return err
		}
		if err := removeAnnounces(ctx, tx, `remote_actor_id = $1`, actorID); err != nil {
			return err
		}
		var comments []struct {
			ID       uuid.UUID  `db:"id"`
			PostID   uuid.UUID  `db:"post_id"`
			ParentID *uuid.UUID `db:"parent_id"`
		}
		if err := tx.SelectContext(ctx, &comments, `SELECT id, post_id, parent_id FROM comments
			WHERE remote_actor_id = $1 AND deleted_at IS NULL ORDER BY post_id`, actorID); err != nil {
			return fmt.Errorf("find actor comments: %w", err)
		}
		for _, c := range comments {
			if err := softDeleteComment(ctx, tx, c.ID, c.PostID, c.ParentID); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM followers WHERE remote_actor_id = $1`,
			`DELETE FROM following WHERE remote_actor_id = $1`,
			// Comments keep their rows (deleted) so replies stay threaded;
			// they no longer point at the forgotten actor's details.
			`UPDATE remote_actors SET name = '', summary_html = '', icon_url = '', public_key_pem = '' WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, actorID); err != nil {
				return fmt.Errorf("forget actor: %w", err)
			}
		}
		return nil
	})
}

// ApplyBlock severs follows both ways between a remote actor and an agent.
func (s *Store) ApplyBlock(ctx context.Context, inboxID int64, agentID uuid.UUID, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		for _, q := range []string{
			`DELETE FROM followers WHERE agent_id = $1 AND remote_actor_id = $2`,
			`DELETE FROM following WHERE agent_id = $1 AND remote_actor_id = $2`,
		} {
			if _, err := tx.ExecContext(ctx, q, agentID, actorID); err != nil {
				return fmt.Errorf("apply block: %w", err)
			}
		}
		return nil
	})
}

// Report is a Flag from another server.
type Report struct {
	ActivityID  string
	ReporterURI string
	AgentIDs    []uuid.UUID
	PostIDs     []uuid.UUID
	Content     string
}

// ApplyFlag stores a report for the admin.
func (s *Store) ApplyFlag(ctx context.Context, inboxID int64, r Report) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO reports (activity_id, reporter_uri, agent_ids, post_ids, content)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (activity_id) DO NOTHING`,
			r.ActivityID, r.ReporterURI, pq.Array(uuidStrings(r.AgentIDs)), pq.Array(uuidStrings(r.PostIDs)), r.Content)
		if err != nil {
			return fmt.Errorf("store report: %w", err)
		}
		return nil
	})
}

// ApplyAcceptFollow marks a local agent's follow of a remote actor accepted.
func (s *Store) ApplyAcceptFollow(ctx context.Context, inboxID int64, followID string, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE following SET accepted_at = coalesce(accepted_at, clock_timestamp())
			WHERE follow_activity_id = $1 AND remote_actor_id = $2`, followID, actorID)
		if err != nil {
			return fmt.Errorf("accept follow: %w", err)
		}
		return nil
	})
}

// ApplyRejectFollow drops a local agent's follow the remote actor refused
// (or ended: Mastodon sends Reject to remove a follower).
func (s *Store) ApplyRejectFollow(ctx context.Context, inboxID int64, followID string, actorID int64) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM following WHERE remote_actor_id = $2
			AND (follow_activity_id = $1 OR $1 = '')`, followID, actorID)
		if err != nil {
			return fmt.Errorf("reject follow: %w", err)
		}
		return nil
	})
}

// FollowRemote makes a local agent follow a remote actor: a pending follow
// and the Follow activity, whose id is fresh every time (Pixelfed drops an
// id it has seen within the hour).
func (s *Store) FollowRemote(ctx context.Context, agentID uuid.UUID, actorID int64, followID string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO following (agent_id, remote_actor_id, follow_activity_id) VALUES ($1, $2, $3)
			ON CONFLICT (agent_id, remote_actor_id) DO UPDATE SET follow_activity_id = EXCLUDED.follow_activity_id, accepted_at = NULL`,
			agentID, actorID, followID)
		if err != nil {
			return fmt.Errorf("store follow: %w", err)
		}
		payload, _ := json.Marshal(map[string]string{"id": followID})
		_, err = s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxFollow, AgentID: &agentID, RemoteActorID: &actorID, Payload: payload}, true)
		return err
	})
}

// FollowingState reports whether agentID follows actorID and whether the
// follow was accepted.
func (s *Store) FollowingState(ctx context.Context, agentID uuid.UUID, actorID int64) (exists, accepted bool, err error) {
	var at *time.Time
	err = s.readOne(ctx, &at, `SELECT accepted_at FROM following WHERE agent_id = $1 AND remote_actor_id = $2`, agentID, actorID)
	if isNoRows(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("following state: %w", err)
	}
	return true, at != nil, nil
}

// IsFollower reports whether a remote actor follows an agent.
func (s *Store) IsFollower(ctx context.Context, agentID uuid.UUID, actorID int64) (bool, error) {
	var ok bool
	err := s.readOne(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM followers WHERE agent_id = $1 AND remote_actor_id = $2)`, agentID, actorID)
	if err != nil {
		return false, fmt.Errorf("is follower: %w", err)
	}
	return ok, nil
}

// CommentByAPID finds a remote comment by its Note id.
func (s *Store) CommentByAPID(ctx context.Context, apID string) (*Comment, error) {
	var c Comment
	if err := s.readOne(ctx, &c, `SELECT `+commentColumns+commentFrom+`WHERE c.ap_id = $1`, apID); err != nil {
		return nil, notFound(err, "comment")
	}
	return &c, nil
}

// ApplyUndoByActivityID undoes whatever a remote actor did with the given
// activity id — a Follow, a Like or an Announce — for an Undo that names
// the activity by id instead of embedding it.
func (s *Store) ApplyUndoByActivityID(ctx context.Context, inboxID int64, actorID int64, activityID string) error {
	return s.applyInbox(ctx, inboxID, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM followers WHERE remote_actor_id = $1 AND follow_activity_id = $2`, actorID, activityID); err != nil {
			return fmt.Errorf("undo follow: %w", err)
		}
		if err := removeRemoteVotes(ctx, tx, `remote_actor_id = $1 AND like_activity_id = $2`, actorID, activityID); err != nil {
			return err
		}
		return removeAnnounces(ctx, tx, `remote_actor_id = $1 AND activity_id = $2`, actorID, activityID)
	})
}
