package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// RankingTolerance is the relative error the periodic recompute leaves in a
// stored hot score: right after a run, every score it follows is within
// this fraction of its exact value at the run's time, so any two posts whose
// exact scores differ by more than a factor (1+t)/(1-t) (about 2 %) are in
// the right order. That is about what one minute between runs costs the
// freshest posts anyway (their scores fall 0.5 to 1.25 % a minute in their
// first hours), while a day-old post, falling 0.1 % a minute, is rewritten
// every ten minutes instead of every minute. hot_due
// (migrations/0010_ranking_incremental.sql) has it as 1.01.
const RankingTolerance = 0.01

// RankingWindow is how long the periodic recompute follows a post's hot
// score. A week-old post's hot score is already about 1/800 of a fresh
// one's, so older posts only move again when they get a vote (ToggleVote
// rewrites the hot score) or a comment (RecomputePost). hot_due has it as
// 168 hours.
const RankingWindow = 7 * 24 * time.Hour

// rankBatch is how many posts one UPDATE of the periodic recompute rewrites,
// in a transaction of its own: a vote on one of them waits for at most one
// batch, not for the whole run.
const rankBatch = 1000

// rankLockKey names the advisory lock that serialises periodic recomputes
// (several workers, or a run that outlasts its interval): a second run at
// the same time would only repeat the first one's writes.
const rankLockKey = 0x72616e6b // "rank"

// RecomputeRankings brings the scores of live posts up to date at the
// database's current time; see RecomputeRankingsAt.
func (s *Store) RecomputeRankings(ctx context.Context, since time.Time) (int64, error) {
	return s.RecomputeRankingsAt(ctx, since, time.Time{})
}

// RecomputeRankingsAt brings the hot score of every live post younger than
// RankingWindow (and of those created since `since`, when that reaches
// further back) to within RankingTolerance of its exact value at `at` (the
// database's clock when zero), and the scores of every post whose counters
// changed since it was last scored to their exact values. It returns how
// many posts it rewrote.
//
// Only those rows are read and written. One read-only query picks them
// through two small indexes: posts whose hot score is due (hot_due,
// derived from the row's own columns) and dirty posts, whose vote or
// comment counters moved since they were scored (the per-post task
// normally gets there first). Posts older than the window are compared one
// by one, only when `since` asks for them: the worker's `since` is the
// window's start. The discussed order needs no periodic work: the column
// holds a time-invariant key (migrations/0010_ranking_incremental.sql).
// The rows are then rewritten in batches of rankBatch, each UPDATE
// computing the values again from the row it has locked, so a vote that
// landed in between is never overwritten with a score computed before it.
//
// If another recompute holds the lock, it returns 0 at once: that run
// covers this one.
func (s *Store) RecomputeRankingsAt(ctx context.Context, since, at time.Time) (int64, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return 0, fmt.Errorf("recompute rankings: %w", err)
	}
	defer conn.Close()
	var locked bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, rankLockKey).Scan(&locked); err != nil {
		return 0, fmt.Errorf("recompute rankings: lock: %w", err)
	}
	if !locked {
		return 0, nil
	}
	defer func() {
		// A fresh context: the lock must go even when ctx has ended, or the
		// pooled connection would keep it.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, rankLockKey); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // drop the connection, and the lock with it
		}
	}()

	if at.IsZero() {
		if err := conn.QueryRowContext(ctx, `SELECT clock_timestamp()`).Scan(&at); err != nil {
			return 0, fmt.Errorf("recompute rankings: clock: %w", err)
		}
	}
	ids, err := movedPosts(ctx, conn, since, at)
	if err != nil {
		return 0, err
	}
	var total int64
	for len(ids) > 0 {
		n := min(rankBatch, len(ids))
		written, err := rescore(ctx, conn, ids[:n], at)
		if err != nil {
			return total, err
		}
		// Not announced (see Changes): a rescore changes no answer until
		// a feed's next snapshot of its ranking (RankedPostIDs is the only
		// reader of these scores), and snapshots are taken on their own
		// schedule. Announcing it emptied every process's response cache
		// once a minute, whatever the traffic.
		total += written
		ids = ids[n:]
	}
	return total, nil
}

// rescore runs rescoreBatch on ids. Other writers that lock several posts
// in one statement (a batch of remote Likes) may not lock them in id order,
// so PostgreSQL can break a deadlock by failing this batch: it is retried,
// since a batch rolled back wrote nothing.
func rescore(ctx context.Context, conn *sql.Conn, ids []string, at time.Time) (int64, error) {
	for attempt := 1; ; attempt++ {
		res, err := conn.ExecContext(ctx, rescoreBatch, pq.Array(ids), at)
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "40P01" && attempt < 3 {
			continue // deadlock_detected
		}
		if err != nil {
			return 0, fmt.Errorf("recompute rankings: rescore %d posts: %w", len(ids), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("recompute rankings: rescore %d posts: %w", len(ids), err)
		}
		return n, nil
	}
}

// movedPosts returns, sorted, the ids of the posts to rescore at `at`. It
// only reads, so it blocks nobody.
func movedPosts(ctx context.Context, conn *sql.Conn, since, at time.Time) ([]string, error) {
	rows, err := conn.QueryContext(ctx, `
		SELECT p.id FROM posts p
		WHERE p.deleted_at IS NULL
			AND hot_due(p.hot_basis, p.hot_score, p.created_at)
				<= date_part('epoch', $2::timestamptz - 'epoch'::timestamptz)
		UNION
		SELECT p.id FROM posts p
		WHERE p.deleted_at IS NULL
			AND (p.score + p.comment_count <> p.hot_basis OR p.comment_count <> p.discussed_count)
		UNION
		SELECT p.id FROM posts p
		WHERE p.deleted_at IS NULL AND p.created_at >= $1 AND p.created_at < $3
			AND abs(hot_score(p.score, p.comment_count, p.created_at, $2) - p.hot_score)
				> $4 * abs(hot_score(p.score, p.comment_count, p.created_at, $2))
		ORDER BY 1`, since, at, at.Add(-RankingWindow), RankingTolerance)
	if err != nil {
		return nil, fmt.Errorf("recompute rankings: find moved posts: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("recompute rankings: find moved posts: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recompute rankings: find moved posts: %w", err)
	}
	return ids, nil
}

// rescoreBatch rescores the posts in $1 at $2. The CTE locks the rows in id
// order (two writers of several posts each then lock in the same order; a
// vote locks only its own post). The hot score is computed from the locked
// row, exact whatever happened since movedPosts looked. The discussed key,
// a sum over the post's comments, is recomputed only when the comment count
// moved; the key and the count it was computed from read the same snapshot,
// so a comment committed meanwhile leaves the row dirty for the next run
// instead of being lost.
const rescoreBatch = `
	WITH d AS (
		SELECT p.id FROM posts p
		WHERE p.id = ANY($1::uuid[]) AND p.deleted_at IS NULL
		ORDER BY p.id
		FOR NO KEY UPDATE OF p)
	UPDATE posts p SET
		hot_score = hot_score(p.score, p.comment_count, p.created_at, $2),
		hot_basis = p.score + p.comment_count,
		discussed_score = CASE WHEN p.comment_count = p.discussed_count THEN p.discussed_score
			ELSE discussed_key(p.id) END,
		discussed_count = CASE WHEN p.comment_count = p.discussed_count THEN p.discussed_count
			ELSE (SELECT count(*) FROM comments c WHERE c.post_id = p.id AND c.deleted_at IS NULL) END
	FROM d
	WHERE p.id = d.id`

// RecomputePost rescores one post exactly, right after a comment on it (a
// vote rescores its post in the same statement, ToggleVote): its hot score
// at the database's current time, and its discussed key. It announces
// nothing; the caller does, after moving the feed generation.
func (s *Store) RecomputePost(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE posts p SET
			hot_score = hot_score(p.score, p.comment_count, p.created_at, clock_timestamp()),
			hot_basis = p.score + p.comment_count,
			discussed_score = x.key,
			discussed_count = x.n
		FROM (SELECT discussed_key($1) AS key,
			(SELECT count(*) FROM comments c WHERE c.post_id = $1 AND c.deleted_at IS NULL)::integer AS n) x
		WHERE p.id = $1`, id)
	if err != nil {
		return fmt.Errorf("recompute post %s: %w", id, err)
	}
	// Only the feeds' order reads these scores, and no answer shows them:
	// the caller announces the new order (FeedsReordered) once the feed
	// generation has moved too.
	return nil
}
