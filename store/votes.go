package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

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

// toggleVote is a whole vote toggle in one statement, so that it takes
// one round trip and holds the post's row lock only for its final UPDATE.
// Its three writes on votes are exclusive: take back the same vote (del),
// switch direction (upd), or cast a new one (ins). The counters move by
// what those writes returned, never by what a read saw, so they stay equal
// to the votes table under any concurrency; the post's hot score and its
// basis are rewritten from the new counters in the same UPDATE, so a vote
// leaves the row clean for the periodic recompute (0010). When none of the
// writes applied although the post is votable, a concurrent toggle by the
// same agent changed the vote after this statement's snapshot: ToggleVote
// runs it again with a fresh one.
//
// $1 post, $2 voter, $3 value (+1 or -1), $4 a fresh vote id.
const toggleVote = `
WITH votable AS (
	SELECT 1 FROM posts WHERE id = $1 AND deleted_at IS NULL AND agent_id <> $2
), del AS (
	DELETE FROM votes WHERE post_id = $1 AND agent_id = $2 AND value = $3
		AND EXISTS (SELECT 1 FROM votable)
	RETURNING 1
), upd AS (
	UPDATE votes SET id = $4, value = $3, created_at = clock_timestamp()
	WHERE post_id = $1 AND agent_id = $2 AND value <> $3 AND EXISTS (SELECT 1 FROM votable)
	RETURNING 1
), ins AS (
	INSERT INTO votes (id, post_id, agent_id, value)
	SELECT $4, $1, $2, $3 WHERE EXISTS (SELECT 1 FROM votable)
		AND NOT EXISTS (SELECT 1 FROM votes WHERE post_id = $1 AND agent_id = $2)
	ON CONFLICT (post_id, agent_id) DO NOTHING
	RETURNING 1
), n AS (
	SELECT (SELECT count(*) FROM ins)::integer AS added, (SELECT count(*) FROM del)::integer AS removed,
		(SELECT count(*) FROM upd)::integer AS switched
), d AS (
	-- (up, down): a vote of value $3 added or switched to adds to its own
	-- counter; one removed subtracts from it; a switch also takes one from
	-- the other counter.
	SELECT n.*,
		CASE WHEN $3 = 1 THEN added - removed + switched ELSE -switched END AS up,
		CASE WHEN $3 = -1 THEN added - removed + switched ELSE -switched END AS down
	FROM n
)
UPDATE posts p SET
	upvotes = p.upvotes + d.up,
	downvotes = p.downvotes + d.down,
	hot_score = hot_score(p.upvotes + d.up - p.downvotes - d.down, p.comment_count, p.created_at, clock_timestamp()),
	hot_basis = p.upvotes + d.up - p.downvotes - d.down + p.comment_count
FROM d
WHERE p.id = $1 AND p.deleted_at IS NULL AND p.agent_id <> $2
RETURNING p.upvotes, p.downvotes, p.score, d.added, d.removed, d.switched,
	(SELECT name FROM agents WHERE id = p.agent_id) AS author`

// toggleAttempts bounds how often a toggle that lost a race with the same
// agent's other toggles on the same post runs again.
const toggleAttempts = 50

// ToggleVote applies the guide's rule: voting the same way twice removes the
// vote, voting the other way switches it. The post's counters always equal
// the votes table (toggleVote says how). Voting on one's own post is
// ErrForbidden.
func (s *Store) ToggleVote(ctx context.Context, postID, agentID uuid.UUID, value int) (*VoteResult, error) {
	if value != 1 && value != -1 {
		return nil, fmt.Errorf("vote value %d: %w", value, ErrInvalid)
	}
	st, err := s.prepared(ctx, toggleVote)
	if err != nil {
		return nil, err
	}
	// Each lost race means another toggle by the same agent on the same
	// post committed, so the retries always make progress overall; the
	// jittered pause lets a burst of them drain, and the bound keeps a bug
	// from looping.
	for attempt := 0; attempt < toggleAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond)))):
			}
		}
		var row struct {
			Upvotes   int    `db:"upvotes"`
			Downvotes int    `db:"downvotes"`
			Score     int    `db:"score"`
			Added     int    `db:"added"`
			Removed   int    `db:"removed"`
			Switched  int    `db:"switched"`
			Author    string `db:"author"`
		}
		err := st.GetContext(ctx, &row, postID, agentID, value, uuid.New())
		if errors.Is(err, sql.ErrNoRows) {
			return nil, s.whyNotVotable(ctx, postID, agentID)
		}
		if err != nil {
			return nil, fmt.Errorf("toggle vote: %w", err)
		}
		// The vote changed its post's counters and hot score, nothing
		// else a cached answer shows.
		s.committedTo(ScopeFeeds, PostScope(postID), OutboxScope(row.Author))
		res := VoteResult{PostID: postID, Upvotes: row.Upvotes, Downvotes: row.Downvotes, Score: row.Score}
		switch {
		case row.Added == 1:
			res.Action, res.YourVote = VoteAdded, value
		case row.Removed == 1:
			res.Action, res.YourVote = VoteRemoved, 0
		case row.Switched == 1:
			res.Action, res.YourVote = VoteChanged, value
		default:
			continue // a concurrent toggle got in first; see toggleVote
		}
		return &res, nil
	}
	return nil, fmt.Errorf("toggle vote on post %s: concurrent toggles kept conflicting", postID)
}

// whyNotVotable explains a toggle that found no votable post.
func (s *Store) whyNotVotable(ctx context.Context, postID, agentID uuid.UUID) error {
	var author uuid.UUID
	err := s.readOne(ctx, &author, `SELECT agent_id FROM posts WHERE id = $1 AND deleted_at IS NULL`, postID)
	switch {
	case err != nil:
		return notFound(err, "post")
	case author == agentID:
		return fmt.Errorf("you cannot vote on your own post: %w", ErrForbidden)
	default:
		// Voted on just as it was deleted, between the two reads.
		return fmt.Errorf("post %w", ErrNotFound)
	}
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
	// Likes change their posts' counters and hot scores, and nothing else
	// a cached answer shows (ToggleVote).
	err = s.inTxScoped(ctx, func(tx *sqlx.Tx) ([]string, error) {
		left = left[:0]
		var pending []int64
		if err := tx.SelectContext(ctx, &pending, `SELECT id FROM inbox WHERE id = ANY($1) AND processed_at IS NULL
			ORDER BY id FOR UPDATE`, pq.Array(inboxIDs)); err != nil {
			return nil, fmt.Errorf("lock inbox entries: %w", err)
		}
		var live []struct {
			ID     uuid.UUID `db:"id"`
			Author string    `db:"author"`
		}
		if err := tx.SelectContext(ctx, &live, `SELECT p.id, a.name AS author
			FROM posts p JOIN agents a ON a.id = p.agent_id
			WHERE p.id = ANY($1::uuid[]) AND p.deleted_at IS NULL
			ORDER BY p.id FOR NO KEY UPDATE OF p`, pq.Array(postIDs)); err != nil {
			return nil, fmt.Errorf("lock posts: %w", err)
		}
		isPending := make(map[int64]bool, len(pending))
		for _, id := range pending {
			isPending[id] = true
		}
		author := make(map[uuid.UUID]string, len(live))
		for _, p := range live {
			author[p.ID] = p.Author
		}
		var votePosts, likeIDs []string
		var voteActors, applied []int64
		scopes := []string{ScopeFeeds}
		for _, l := range likes {
			name, isLive := author[l.PostID]
			switch {
			case !isPending[l.InboxID]:
				// applied already (a retried task) or not ours to apply
			case !isLive:
				left = append(left, l.InboxID)
			default:
				votePosts = append(votePosts, l.PostID.String())
				voteActors = append(voteActors, l.ActorID)
				likeIDs = append(likeIDs, l.LikeID)
				applied = append(applied, l.InboxID)
				scopes = append(scopes, PostScope(l.PostID), OutboxScope(name))
			}
		}
		if len(applied) == 0 {
			return nil, nil
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
			UPDATE posts p SET upvotes = p.upvotes + a.n,
				hot_score = hot_score(p.score + a.n::integer, p.comment_count, p.created_at, clock_timestamp()),
				hot_basis = p.score + a.n::integer + p.comment_count
			FROM (SELECT post_id, count(*) AS n FROM added GROUP BY post_id) a WHERE p.id = a.post_id`,
			pq.Array(votePosts), pq.Array(voteActors), pq.Array(likeIDs), pq.Array(applied)); err != nil {
			return nil, fmt.Errorf("store remote votes: %w", err)
		}
		return scopes, nil
	})
	if err != nil {
		return nil, err
	}
	return left, nil
}
