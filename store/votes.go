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
		// Every statement is prepared: the post's row is locked from the
		// first to the commit, so each round trip saved is lock time saved.
		stmt := func(query string) (*sqlx.Stmt, error) { return s.inTxStmt(ctx, tx, query) }
		lockPost, err := stmt(`SELECT agent_id FROM posts WHERE id = $1 AND deleted_at IS NULL FOR NO KEY UPDATE`)
		if err != nil {
			return err
		}
		var author uuid.UUID
		if err := lockPost.GetContext(ctx, &author, postID); err != nil {
			return notFound(err, "post")
		}
		if author == agentID {
			return fmt.Errorf("you cannot vote on your own post: %w", ErrForbidden)
		}

		readVote, err := stmt(`SELECT value FROM votes WHERE post_id = $1 AND agent_id = $2`)
		if err != nil {
			return err
		}
		var previous int
		err = readVote.GetContext(ctx, &previous, postID, agentID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read vote: %w", err)
		}

		var (
			up, down int // counter deltas
			write    *sqlx.Stmt
			args     []any
		)
		switch {
		case previous == 0:
			res.Action, res.YourVote = VoteAdded, value
			write, err = stmt(`INSERT INTO votes (id, post_id, agent_id, value) VALUES ($3, $1, $2, $4)`)
			args = []any{postID, agentID, uuid.New(), value}
			up, down = countDelta(value, +1)
		case previous == value:
			res.Action, res.YourVote = VoteRemoved, 0
			write, err = stmt(`DELETE FROM votes WHERE post_id = $1 AND agent_id = $2`)
			args = []any{postID, agentID}
			up, down = countDelta(value, -1)
		default:
			res.Action, res.YourVote = VoteChanged, value
			// A new id: the Like for an upvote must not reuse an old id.
			write, err = stmt(`UPDATE votes SET id = $3, value = $4, created_at = clock_timestamp()
				WHERE post_id = $1 AND agent_id = $2`)
			args = []any{postID, agentID, uuid.New(), value}
			u1, d1 := countDelta(previous, -1)
			u2, d2 := countDelta(value, +1)
			up, down = u1+u2, d1+d2
		}
		if err != nil {
			return err
		}
		if _, err := write.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("record vote: %w", err)
		}
		count, err := stmt(`UPDATE posts SET upvotes = upvotes + $2, downvotes = downvotes + $3
			WHERE id = $1 RETURNING upvotes, downvotes, score`)
		if err != nil {
			return err
		}
		return count.QueryRowxContext(ctx, postID, up, down).Scan(&res.Upvotes, &res.Downvotes, &res.Score)
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
	var rows []struct {
		PostID uuid.UUID `db:"post_id"`
		Value  int       `db:"value"`
	}
	if err := s.readAll(ctx, &rows, `SELECT post_id, value FROM votes WHERE agent_id = $1 AND post_id = ANY($2)`,
		agentID, pq.Array(uuidStrings(postIDs))); err != nil {
		return nil, fmt.Errorf("votes by agent: %w", err)
	}
	for _, r := range rows {
		out[r.PostID] = r.Value
	}
	return out, nil
}

// RemoteLike is a received Like to apply with ApplyLikes.
type RemoteLike struct {
	InboxID int64
	PostID  uuid.UUID
	ActorID int64
	LikeID  string
}

// ApplyLikes applies many remote Likes in one transaction, with the same
// effect as ApplyLike on each in turn: a remote vote per (post, actor),
// the post's upvotes raised by the votes actually added, and each inbox
// entry marked processed in the same transaction as its vote, so a crash
// leaves every entry either applied or pending and a retry changes
// nothing. Entries already processed are skipped.
//
// A Like of a post that is gone or missing is not applied here: its inbox
// id is returned in left, for the caller to apply on its own (which closes
// it with the reason). Locks are taken in the order ApplyLike takes them
// (inbox rows, then posts), each set sorted, so concurrent batches and
// single applications cannot deadlock.
func (s *Store) ApplyLikes(ctx context.Context, likes []RemoteLike) (left []int64, err error) {
	if len(likes) == 0 {
		return nil, nil
	}
	inboxIDs := make([]int64, len(likes))
	postIDs := make([]string, len(likes))
	for i, l := range likes {
		inboxIDs[i], postIDs[i] = l.InboxID, l.PostID.String()
	}
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		left = left[:0]
		var pending []int64
		if err := tx.SelectContext(ctx, &pending, `SELECT id FROM inbox WHERE id = ANY($1) AND processed_at IS NULL
			ORDER BY id FOR UPDATE`, pq.Array(inboxIDs)); err != nil {
			return fmt.Errorf("lock inbox entries: %w", err)
		}
		var live []uuid.UUID
		if err := tx.SelectContext(ctx, &live, `SELECT id FROM posts WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL
			ORDER BY id FOR NO KEY UPDATE`, pq.Array(postIDs)); err != nil {
			return fmt.Errorf("lock posts: %w", err)
		}
		isPending := make(map[int64]bool, len(pending))
		for _, id := range pending {
			isPending[id] = true
		}
		isLive := make(map[uuid.UUID]bool, len(live))
		for _, id := range live {
			isLive[id] = true
		}
		var votePosts, likeIDs []string
		var voteActors, applied []int64
		for _, l := range likes {
			switch {
			case !isPending[l.InboxID]:
				// applied already (a retried task) or not ours to apply
			case !isLive[l.PostID]:
				left = append(left, l.InboxID)
			default:
				votePosts = append(votePosts, l.PostID.String())
				voteActors = append(voteActors, l.ActorID)
				likeIDs = append(likeIDs, l.LikeID)
				applied = append(applied, l.InboxID)
			}
		}
		if len(applied) == 0 {
			return nil
		}
		// Only the votes actually added count, as in ApplyLike: a second
		// Like of a post by the same actor adds nothing. The entries are
		// marked in the same statement (a data-modifying WITH always runs
		// to completion), one round trip for the lot.
		if _, err := tx.ExecContext(ctx, `WITH added AS (
				INSERT INTO remote_votes (post_id, remote_actor_id, like_activity_id)
				SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::text[])
				ON CONFLICT DO NOTHING RETURNING post_id),
			marked AS (UPDATE inbox SET processed_at = clock_timestamp() WHERE id = ANY($4))
			UPDATE posts p SET upvotes = p.upvotes + a.n
			FROM (SELECT post_id, count(*) AS n FROM added GROUP BY post_id) a WHERE p.id = a.post_id`,
			pq.Array(votePosts), pq.Array(voteActors), pq.Array(likeIDs), pq.Array(applied)); err != nil {
			return fmt.Errorf("store remote votes: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return left, nil
}
