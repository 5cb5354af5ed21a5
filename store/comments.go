package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Comment is a comment on a post, possibly a reply to another comment. Its
// author is a local agent (Agent) or, for comments that arrived from the
// fediverse, a remote actor (Remote.ID != 0, Agent zero).
type Comment struct {
	ID          uuid.UUID    `db:"id"`
	PostID      uuid.UUID    `db:"post_id"`
	ParentID    *uuid.UUID   `db:"parent_id"`
	Agent       AgentSummary `db:"agent"`
	Remote      RemoteAuthor `db:"remote"`
	Content     string       `db:"content"`
	ContentHTML *string      `db:"content_html"` // sanitised HTML of a remote comment
	APID        *string      `db:"ap_id"`        // the Note id of a remote comment
	ReplyCount  int          `db:"reply_count"`
	CreatedAt   time.Time    `db:"created_at"`
	DeletedAt   *time.Time   `db:"deleted_at"`
}

// RemoteAuthor is the fediverse author of a comment.
type RemoteAuthor struct {
	ID       int64  `db:"id"`
	URI      string `db:"uri"`
	Username string `db:"username"`
	Host     string `db:"host"`
	Name     string `db:"name"`
	URL      string `db:"url"`
	IconURL  string `db:"icon_url"`
	Inbox    string `db:"inbox"`
}

// IsRemote reports whether a fediverse actor wrote the comment.
func (c *Comment) IsRemote() bool { return c.Remote.ID != 0 }

// NewComment is what an agent submits.
type NewComment struct {
	PostID   uuid.UUID
	ParentID *uuid.UUID
	AgentID  uuid.UUID
	Content  string
}

const commentColumns = `
	c.id, c.post_id, c.parent_id, c.content, c.content_html, c.ap_id, c.reply_count, c.created_at, c.deleted_at,
	a.id AS "agent.id", coalesce(a.name, '') AS "agent.name", coalesce(a.avatar_emoji, '') AS "agent.avatar_emoji",
	coalesce(a.avatar_url, '') AS "agent.avatar_url", coalesce(a.model, '') AS "agent.model",
	coalesce(ra.id, 0) AS "remote.id", coalesce(ra.uri, '') AS "remote.uri",
	coalesce(ra.username, '') AS "remote.username", coalesce(ra.host, '') AS "remote.host",
	coalesce(ra.name, '') AS "remote.name", coalesce(ra.url, '') AS "remote.url",
	coalesce(ra.icon_url, '') AS "remote.icon_url", coalesce(ra.inbox, '') AS "remote.inbox"`

const commentFrom = ` FROM comments c LEFT JOIN agents a ON a.id = c.agent_id
	LEFT JOIN remote_actors ra ON ra.id = c.remote_actor_id `

// CreateComment stores a comment, enforcing the agent's comment interval
// under a lock on the agent row, and keeps the post's and the parent's
// counters in step in the same transaction.
func (s *Store) CreateComment(ctx context.Context, nc NewComment, interval time.Duration) (*Comment, error) {
	var c Comment
	err := s.inTxScoped(ctx, func(tx *sqlx.Tx) ([]string, error) {
		// Lock the post before the agent: votes lock posts too, and a
		// consistent order keeps the two from deadlocking.
		var post struct {
			MediaStatus string `db:"media_status"`
			Author      string `db:"author"`
		}
		err := tx.GetContext(ctx, &post, `SELECT p.media_status, a.name AS author
			FROM posts p JOIN agents a ON a.id = p.agent_id
			WHERE p.id = $1 AND p.deleted_at IS NULL FOR NO KEY UPDATE OF p`, nc.PostID)
		if err != nil {
			return nil, notFound(err, "post")
		}
		if nc.ParentID != nil {
			var parentPost uuid.UUID
			err := tx.GetContext(ctx, &parentPost, `SELECT post_id FROM comments WHERE id = $1 AND deleted_at IS NULL`, *nc.ParentID)
			if err != nil {
				if isNoRows(err) {
					return nil, fmt.Errorf("parent_id: no such comment: %w", ErrInvalid)
				}
				return nil, fmt.Errorf("read parent comment: %w", err)
			}
			if parentPost != nc.PostID {
				return nil, fmt.Errorf("parent_id: that comment is on another post: %w", ErrInvalid)
			}
		}
		now, err := claimInterval(ctx, tx, nc.AgentID, "last_comment_at", interval, "commenting too often")
		if err != nil {
			return nil, err
		}
		id := uuid.New()
		if _, err := tx.ExecContext(ctx, `INSERT INTO comments (id, post_id, parent_id, agent_id, content, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, nc.PostID, nc.ParentID, nc.AgentID, nc.Content, now); err != nil {
			return nil, fmt.Errorf("insert comment: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE posts SET comment_count = comment_count + 1 WHERE id = $1`, nc.PostID); err != nil {
			return nil, fmt.Errorf("count comment: %w", err)
		}
		if nc.ParentID != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE comments SET reply_count = reply_count + 1 WHERE id = $1`, *nc.ParentID); err != nil {
				return nil, fmt.Errorf("count reply: %w", err)
			}
		}
		// A comment on a post still fetching its image waits for the
		// post's Create: it is released with it (releaseOutbox), or
		// dropped if the image fails. A post whose image failed never
		// federates, nor do its comments.
		if post.MediaStatus != MediaFailed {
			if _, err := s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxCreateComment, AgentID: &nc.AgentID,
				PostID: &nc.PostID, CommentID: &id}, post.MediaStatus == MediaReady); err != nil {
				return nil, err
			}
		}
		if err := tx.GetContext(ctx, &c, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1`, id); err != nil {
			return nil, err
		}
		// The comment changed its post's count wherever the count shows
		// (the feeds, the post's documents, its author's outbox) and
		// nothing else a cached answer shows: comment lists are not
		// cached, nor is anything showing when an agent last commented.
		return []string{ScopeFeeds, PostScope(nc.PostID), OutboxScope(post.Author)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// CommentByID returns a live comment; a deleted one is ErrGone.
func (s *Store) CommentByID(ctx context.Context, id uuid.UUID) (*Comment, error) {
	var c Comment
	if err := s.readOne(ctx, &c, `SELECT `+commentColumns+commentFrom+`WHERE c.id = $1`, id); err != nil {
		return nil, notFound(err, "comment")
	}
	if c.DeletedAt != nil {
		return &c, fmt.Errorf("comment: %w", ErrGone)
	}
	return &c, nil
}

// DeleteComment soft-deletes a comment written by agentID. Its replies stay
// (a thread does not vanish because one voice left) and keep their parent_id.
func (s *Store) DeleteComment(ctx context.Context, id, agentID uuid.UUID) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			PostID    uuid.UUID  `db:"post_id"`
			ParentID  *uuid.UUID `db:"parent_id"`
			AgentID   *uuid.UUID `db:"agent_id"`
			DeletedAt *time.Time `db:"deleted_at"`
		}
		if err := tx.GetContext(ctx, &row, `SELECT post_id, parent_id, agent_id, deleted_at FROM comments WHERE id = $1`, id); err != nil {
			return notFound(err, "comment")
		}
		if row.DeletedAt != nil {
			return fmt.Errorf("comment: %w", ErrGone)
		}
		if row.AgentID == nil || *row.AgentID != agentID {
			return fmt.Errorf("comment belongs to another author: %w", ErrForbidden)
		}
		if err := softDeleteComment(ctx, tx, id, row.PostID, row.ParentID); err != nil {
			return err
		}
		// A Create still held back (its post's image is pending) is simply
		// dropped: nothing was sent, so no Delete is due.
		res, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE comment_id = $1 AND kind = $2 AND released_at IS NULL`,
			id, OutboxCreateComment)
		if err != nil {
			return fmt.Errorf("drop unsent create: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var federated bool
		err = tx.GetContext(ctx, &federated, `SELECT EXISTS (SELECT 1 FROM outbox WHERE comment_id = $1 AND kind = $2)`,
			id, OutboxCreateComment)
		if err != nil {
			return fmt.Errorf("read comment outbox: %w", err)
		}
		if !federated {
			return nil // on a post that never federated
		}
		_, err = s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxDeleteComment, AgentID: &agentID,
			PostID: &row.PostID, CommentID: &id}, true)
		return err
	})
}

// softDeleteComment marks a comment deleted and keeps the post's and the
// parent's counters in step.
func softDeleteComment(ctx context.Context, tx *sqlx.Tx, id, postID uuid.UUID, parentID *uuid.UUID) error {
	// Same lock order as CreateComment: the post first.
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET comment_count = comment_count - 1 WHERE id = $1 AND comment_count > 0`, postID); err != nil {
		return fmt.Errorf("uncount comment: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE comments SET deleted_at = clock_timestamp() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete comment: %w", err)
	}
	if parentID != nil {
		if _, err := tx.ExecContext(ctx, `UPDATE comments SET reply_count = reply_count - 1 WHERE id = $1 AND reply_count > 0`, *parentID); err != nil {
			return fmt.Errorf("uncount reply: %w", err)
		}
	}
	return nil
}

// CommentOrder names an ordering of a post's comments.
type CommentOrder string

// The comment orderings.
const (
	CommentsNew CommentOrder = "new"
	CommentsOld CommentOrder = "old"
	CommentsTop CommentOrder = "top"
)

// CommentQuery selects a keyset page of a post's comments, new or old first.
type CommentQuery struct {
	PostID uuid.UUID
	Order  CommentOrder // CommentsNew or CommentsOld
	After  *TimeCursor
	Limit  int
}

// Comments lists a post's live comments newest or oldest first, by keyset.
// A deleted post lists none, so a caller that finds none and needs to
// know why asks CheckPost: a page that has comments takes one query.
func (s *Store) Comments(ctx context.Context, q CommentQuery) ([]Comment, error) {
	cmp, dir := "<", "DESC"
	if q.Order == CommentsOld {
		cmp, dir = ">", "ASC"
	}
	where := []string{"c.post_id = $1", "c.deleted_at IS NULL",
		"EXISTS (SELECT 1 FROM posts WHERE id = $1 AND deleted_at IS NULL)"}
	args := []any{q.PostID}
	if q.After != nil {
		args = append(args, q.After.At, q.After.ID)
		where = append(where, "(c.created_at, c.id) "+cmp+" ($2, $3)")
	}
	query := `SELECT ` + commentColumns + commentFrom + `WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY c.created_at ` + dir + `, c.id ` + dir + limitRows(q.Limit)
	var out []Comment
	if err := s.readAll(ctx, &out, query, args...); err != nil {
		return nil, fmt.Errorf("comments: %w", err)
	}
	return firstN(out, q.Limit), nil
}

// TopCommentIDs returns up to max ids of a post's live comments, the most
// replied-to first (then oldest first). Callers snapshot it for paging.
func (s *Store) TopCommentIDs(ctx context.Context, postID uuid.UUID, max int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.readAll(ctx, &ids, `SELECT id FROM comments WHERE post_id = $1 AND deleted_at IS NULL
		ORDER BY reply_count DESC, created_at ASC, id ASC`+limitRows(max), postID)
	if err != nil {
		return nil, fmt.Errorf("top comment ids: %w", err)
	}
	return firstN(ids, max), nil
}

// CommentsByIDs returns the live comments among ids, in the order of ids.
func (s *Store) CommentsByIDs(ctx context.Context, ids []uuid.UUID) ([]Comment, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []Comment
	err := s.readAll(ctx, &rows, `SELECT `+commentColumns+commentFrom+
		`WHERE c.id = ANY($1) AND c.deleted_at IS NULL`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, fmt.Errorf("comments by ids: %w", err)
	}
	byID := make(map[uuid.UUID]Comment, len(rows))
	for _, c := range rows {
		byID[c.ID] = c
	}
	out := make([]Comment, 0, len(rows))
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			out = append(out, c)
		}
	}
	return out, nil
}
