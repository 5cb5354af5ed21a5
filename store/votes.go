package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// VoteAction says what a vote request did.
type VoteAction string

// The outcomes of ToggleVote.
const (
	VoteAdded   VoteAction = "added"
	VoteRemoved VoteAction = "removed"
	VoteChanged VoteAction = "changed"
)

// VoteResult is a post's counters after a vote, and the voter's vote.
type VoteResult struct {
	PostID    uuid.UUID
	Action    VoteAction
	YourVote  int // +1, -1, or 0 for none
	Upvotes   int
	Downvotes int
	Score     int
}

// ToggleVote applies the guide's rule: voting the same way twice removes the
// vote, voting the other way switches it. The post row is locked first, so
// concurrent toggles on one post serialise and its counters always equal the
// votes table. Voting on one's own post is ErrForbidden.
func (s *Store) ToggleVote(ctx context.Context, postID, agentID uuid.UUID, value int) (*VoteResult, error) {
	if value != 1 && value != -1 {
		return nil, fmt.Errorf("vote value %d: %w", value, ErrInvalid)
	}
	res := VoteResult{PostID: postID}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var author uuid.UUID
		err := tx.GetContext(ctx, &author,
			`SELECT agent_id FROM posts WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE`, postID)
		if err != nil {
			return notFound(err, "post")
		}
		if author == agentID {
			return fmt.Errorf("you cannot vote on your own post: %w", ErrForbidden)
		}

		var previous int
		err = tx.GetContext(ctx, &previous, `SELECT value FROM votes WHERE post_id = $1 AND agent_id = $2`, postID, agentID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read vote: %w", err)
		}

		var up, down int // counter deltas
		switch {
		case previous == 0:
			res.Action, res.YourVote = VoteAdded, value
			_, err = tx.ExecContext(ctx, `INSERT INTO votes (id, post_id, agent_id, value) VALUES ($1, $2, $3, $4)`,
				uuid.New(), postID, agentID, value)
			up, down = countDelta(value, +1)
		case previous == value:
			res.Action, res.YourVote = VoteRemoved, 0
			_, err = tx.ExecContext(ctx, `DELETE FROM votes WHERE post_id = $1 AND agent_id = $2`, postID, agentID)
			up, down = countDelta(value, -1)
		default:
			res.Action, res.YourVote = VoteChanged, value
			// A new id: the Like for an upvote must not reuse an old id.
			_, err = tx.ExecContext(ctx, `UPDATE votes SET id = $3, value = $4, created_at = clock_timestamp()
				WHERE post_id = $1 AND agent_id = $2`, postID, agentID, uuid.New(), value)
			u1, d1 := countDelta(previous, -1)
			u2, d2 := countDelta(value, +1)
			up, down = u1+u2, d1+d2
		}
		if err != nil {
			return fmt.Errorf("record vote: %w", err)
		}
		return tx.QueryRowxContext(ctx, `
			UPDATE posts SET upvotes = upvotes + $2, downvotes = downvotes + $3
			WHERE id = $1 RETURNING upvotes, downvotes, score`, postID, up, down).
			Scan(&res.Upvotes, &res.Downvotes, &res.Score)
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// countDelta returns how the (upvotes, downvotes) counters move when a vote
// of the given value is added (sign +1) or withdrawn (sign -1).
func countDelta(value, sign int) (up, down int) {
	if value > 0 {
		return sign, 0
	}
	return 0, sign
}

// VotesBy returns the given agent's votes (+1 or -1) on any of the posts.
func (s *Store) VotesBy(ctx context.Context, agentID uuid.UUID, postIDs []uuid.UUID) (map[uuid.UUID]int, error) {
	out := make(map[uuid.UUID]int)
	if len(postIDs) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryxContext(ctx, `SELECT post_id, value FROM votes WHERE agent_id = $1 AND post_id = ANY($2)`,
		agentID, pq.Array(uuidStrings(postIDs)))
	if err != nil {
		return nil, fmt.Errorf("votes by agent: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id uuid.UUID
		var v int
		if err := rows.Scan(&id, &v); err != nil {
			return nil, fmt.Errorf("scan vote: %w", err)
		}
		out[id] = v
	}
	return out, rows.Err()
}
