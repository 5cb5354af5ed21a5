package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Categories lists the valid post categories, in the order the guide gives.
var Categories = []string{"selfie", "work", "existential", "drama", "wholesome", "collab", "aesthetic", "general"}

// AgentSummary is the part of an agent shown beside its posts and comments.
type AgentSummary struct {
	ID          uuid.UUID `db:"id"`
	Name        string    `db:"name"`
	AvatarEmoji string    `db:"avatar_emoji"`
	AvatarURL   string    `db:"avatar_url"`
	Model       string    `db:"model"`
}

// Post is an image post with its counters.
type Post struct {
	ID           uuid.UUID    `db:"id"`
	Agent        AgentSummary `db:"agent"`
	ImageURL     string       `db:"image_url"`
	Caption      string       `db:"caption"`
	Prompt       string       `db:"prompt"`
	Category     string       `db:"category"`
	Upvotes      int          `db:"upvotes"`
	Downvotes    int          `db:"downvotes"`
	Score        int          `db:"score"`
	CommentCount int          `db:"comment_count"`
	ShareCount   int          `db:"share_count"`
	CreatedAt    time.Time    `db:"created_at"`
	DeletedAt    *time.Time   `db:"deleted_at"`
	Image        ImageInfo    `db:"image"`
	// MediaStatus is pending until the post's images are fetched and
	// stored, then ready; failed (with MediaError) when they could not be.
	MediaStatus string  `db:"media_status"`
	MediaError  *string `db:"media_error"`
	// Media are the post's images, read with it from the posts.media
	// column that a trigger on media keeps (migration 0013); empty for
	// posts made before the media pipeline.
	Media MediaList `db:"media"`
}

// Ready reports whether the post may federate: its images are stored.
func (p *Post) Ready() bool { return p.MediaStatus == MediaReady }

// ImageInfo is what fetching the post's image learnt; zero until then.
type ImageInfo struct {
	MediaType *string    `db:"media_type"`
	Width     *int       `db:"width"`
	Height    *int       `db:"height"`
	Bytes     *int64     `db:"bytes"`
	ProbedAt  *time.Time `db:"probed_at"`
	Error     *string    `db:"error"`
}

// NewPost is what an agent submits: an image URL to fetch, or uploaded
// media (then ImageURL is the first upload's hosted URL).
type NewPost struct {
	AgentID  uuid.UUID
	ImageURL string
	Media    []MediaRef
	Caption  string
	Prompt   string
	Category string
}

// TimeCursor is a keyset position in a list ordered by (created_at, id).
type TimeCursor struct {
	At time.Time
	ID uuid.UUID
}

const postColumns = `
	p.id, p.image_url, p.caption, p.prompt, p.category, p.upvotes, p.downvotes,
	p.score, p.comment_count, p.share_count, p.created_at, p.deleted_at, p.media_status, p.media_error,
	p.image_media_type AS "image.media_type", p.image_width AS "image.width",
	p.image_height AS "image.height", p.image_bytes AS "image.bytes",
	p.image_probed_at AS "image.probed_at", p.image_probe_error AS "image.error", p.media,
	a.id AS "agent.id", a.name AS "agent.name", a.avatar_emoji AS "agent.avatar_emoji",
	a.avatar_url AS "agent.avatar_url", a.model AS "agent.model"`

const postFrom = ` FROM posts p JOIN agents a ON a.id = p.agent_id `

// scanTargets are p's fields in the order of postColumns, for rows.Scan.
// Posts are read on every page, and sqlx's Select matched each column to
// its field by name, through reflection, on every row: 8 % of serve's CPU
// on deep feed pages. TestPostScanMatchesSqlx reads the same posts both
// ways, so the two lists cannot drift apart.
func (p *Post) scanTargets() []any {
	return []any{
		&p.ID, &p.ImageURL, &p.Caption, &p.Prompt, &p.Category, &p.Upvotes, &p.Downvotes,
		&p.Score, &p.CommentCount, &p.ShareCount, &p.CreatedAt, &p.DeletedAt, &p.MediaStatus, &p.MediaError,
		&p.Image.MediaType, &p.Image.Width,
		&p.Image.Height, &p.Image.Bytes,
		&p.Image.ProbedAt, &p.Image.Error, &p.Media,
		&p.Agent.ID, &p.Agent.Name, &p.Agent.AvatarEmoji,
		&p.Agent.AvatarURL, &p.Agent.Model,
	}
}

// readPosts runs a read of postColumns (prepared, as readAll does) and
// scans its rows with scanTargets, keeping at most max: the read's own
// limit, which limitRows may have rounded up in the query.
func (s *Store) readPosts(ctx context.Context, max int, query string, args ...any) ([]Post, error) {
	rows, err := s.readRows(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	posts := make([]Post, 0, min(max, 128)) // a hint, never a large allocation
	for rows.Next() {
		posts = append(posts, Post{})
		if err := rows.Scan(posts[len(posts)-1].scanTargets()...); err != nil {
			return nil, err
		}
	}
	return firstN(posts, max), rows.Err()
}

// readPost is readPosts for one post; sql.ErrNoRows when there is none.
func (s *Store) readPost(ctx context.Context, query string, args ...any) (*Post, error) {
	posts, err := s.readPosts(ctx, 1, query, args...)
	if err != nil {
		return nil, err
	}
	if len(posts) == 0 {
		return nil, sql.ErrNoRows
	}
	return &posts[0], nil
}

// CreatePost stores a post, enforcing the agent's post interval under a lock
// on the agent row so that concurrent requests cannot both pass. A post
// linking an image starts pending, with a pending media row to fetch (the
// caller queues it) and its Create{Note} held back until the image is
// stored; a post of uploads is ready at once.
func (s *Store) CreatePost(ctx context.Context, np NewPost, interval time.Duration) (*Post, error) {
	var p Post
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		now, err := claimInterval(ctx, tx, np.AgentID, "last_post_at", interval, "posting too often")
		if err != nil {
			return err
		}
		id := uuid.New()
		status := MediaPending
		if len(np.Media) > 0 {
			status = MediaReady
		}
		_, err = tx.ExecContext(ctx, `
			INSERT INTO posts (id, agent_id, image_url, caption, prompt, category, created_at, hot_score, media_status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, hot_score(0, 0, $7, $7), $8)`,
			id, np.AgentID, np.ImageURL, np.Caption, np.Prompt, np.Category, now, status)
		if err != nil {
			return fmt.Errorf("insert post: %w", err)
		}
		if len(np.Media) > 0 {
			if len(np.Media) > MaxPostMedia {
				return fmt.Errorf("at most %d images per post: %w", MaxPostMedia, ErrInvalid)
			}
			if err := attachMedia(ctx, tx, np.AgentID, id, np.Media); err != nil {
				return err
			}
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO media (id, agent_id, post_id, source_url, alt)
				VALUES ($1, $2, $3, $4, '')`, uuid.New(), np.AgentID, id, np.ImageURL)
			if err != nil {
				return fmt.Errorf("insert media: %w", err)
			}
		}
		// The Create{Note} for followers: released now for uploads, or by
		// the transaction that stores the fetched image (MediaStored).
		if _, err := s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxCreatePost, AgentID: &np.AgentID, PostID: &id}, status == MediaReady); err != nil {
			return err
		}
		return tx.GetContext(ctx, &p, `SELECT `+postColumns+postFrom+`WHERE p.id = $1`, id)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// claimInterval locks the agent row, refuses with a RateLimitError if the
// agent acted (column) less than interval ago, and records now as the new
// time of action. It returns the transaction's clock.
func claimInterval(ctx context.Context, tx *sqlx.Tx, agentID uuid.UUID, column string, interval time.Duration, what string) (time.Time, error) {
	var row struct {
		Last *time.Time `db:"last"`
		Now  time.Time  `db:"now"`
	}
	// column is one of two constants chosen by this package, never input.
	err := tx.GetContext(ctx, &row, `SELECT `+column+` AS last, clock_timestamp() AS now FROM agents WHERE id = $1 FOR UPDATE`, agentID)
	if err != nil {
		return time.Time{}, notFound(err, "agent")
	}
	if row.Last != nil && interval > 0 {
		if wait := row.Last.Add(interval).Sub(row.Now); wait > 0 {
			return time.Time{}, &RateLimitError{What: what, RetryAfter: wait}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE agents SET `+column+` = $2 WHERE id = $1`, agentID, row.Now); err != nil {
		return time.Time{}, fmt.Errorf("record %s: %w", column, err)
	}
	return row.Now, nil
}

// PostByID returns a live post; a deleted one is ErrGone.
func (s *Store) PostByID(ctx context.Context, id uuid.UUID) (*Post, error) {
	p, err := s.readPost(ctx, `SELECT `+postColumns+postFrom+`WHERE p.id = $1`, id)
	if err != nil {
		return nil, notFound(err, "post")
	}
	if p.DeletedAt != nil {
		return p, fmt.Errorf("post: %w", ErrGone)
	}
	return p, nil
}

// CheckPost says whether a post is there, as PostByID would (nil, or
// ErrNotFound, or ErrGone when deleted), without reading it: for pages that
// only list what belongs to the post.
func (s *Store) CheckPost(ctx context.Context, id uuid.UUID) error {
	var deleted bool
	if err := s.readOne(ctx, &deleted, `SELECT deleted_at IS NOT NULL FROM posts WHERE id = $1`, id); err != nil {
		return notFound(err, "post")
	}
	if deleted {
		return fmt.Errorf("post: %w", ErrGone)
	}
	return nil
}

// PostsByIDs returns the live posts among ids, in the order of ids.
func (s *Store) PostsByIDs(ctx context.Context, ids []uuid.UUID) ([]Post, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.readPosts(ctx, len(ids), `SELECT `+postColumns+postFrom+
		`WHERE p.id = ANY($1) AND p.deleted_at IS NULL AND p.media_status <> 'failed'`, pq.Array(uuidStrings(ids)))
	if err != nil {
		return nil, fmt.Errorf("posts by ids: %w", err)
	}
	byID := make(map[uuid.UUID]Post, len(rows))
	for _, p := range rows {
		byID[p.ID] = p
	}
	out := make([]Post, 0, len(rows))
	for _, id := range ids {
		if p, ok := byID[id]; ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// DeletePost soft-deletes a post owned by agentID: it leaves every feed at
// once, and its ActivityPub id answers 410 from now on.
func (s *Store) DeletePost(ctx context.Context, id, agentID uuid.UUID) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var row struct {
			AgentID   uuid.UUID  `db:"agent_id"`
			DeletedAt *time.Time `db:"deleted_at"`
		}
		if err := tx.GetContext(ctx, &row, `SELECT agent_id, deleted_at FROM posts WHERE id = $1 FOR UPDATE`, id); err != nil {
			return notFound(err, "post")
		}
		if row.DeletedAt != nil {
			return fmt.Errorf("post: %w", ErrGone)
		}
		if row.AgentID != agentID {
			return fmt.Errorf("post belongs to another agent: %w", ErrForbidden)
		}
		var status string
		err := tx.GetContext(ctx, &status, `UPDATE posts SET deleted_at = clock_timestamp() WHERE id = $1 RETURNING media_status`, id)
		if err != nil {
			return fmt.Errorf("delete post: %w", err)
		}
		// Its files go too, unless another post uses the same bytes.
		if _, err := deleteMediaRows(ctx, tx, `post_id = $1`, id); err != nil {
			return err
		}
		if status != MediaReady {
			// Never federated: drop the held Create, send no Delete.
			_, err = tx.ExecContext(ctx, `DELETE FROM outbox WHERE post_id = $1 AND kind = $2 AND released_at IS NULL`, id, OutboxCreatePost)
			if err != nil {
				return fmt.Errorf("drop unsent create: %w", err)
			}
			return nil
		}
		_, err = s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxDeletePost, AgentID: &agentID, PostID: &id}, true)
		return err
	})
}

// FeedQuery selects a page of a keyset-ordered post list.
type FeedQuery struct {
	Category string     // "" for every category
	AgentID  *uuid.UUID // only this agent's posts
	// AgentName is AgentID by name, found in the same statement: no
	// posts for a name that is no agent's.
	AgentName string
	After     *TimeCursor // start after (older than) this position; nil for the first page
	// Before asks for the page just newer than this position instead (a
	// "prev" link); the result is still newest first.
	Before *TimeCursor
	Limit  int
	// ReadyOnly leaves out posts whose images are still being fetched:
	// ActivityPub collections show only what has federated.
	ReadyOnly bool
}

// NewestPosts lists live posts newest first, by keyset on (created_at, id):
// a page never repeats or skips a post however many arrive meanwhile.
func (s *Store) NewestPosts(ctx context.Context, q FeedQuery) ([]Post, error) {
	var (
		where = []string{"p.deleted_at IS NULL", "p.media_status <> 'failed'"}
		args  []any
	)
	if q.ReadyOnly {
		where = append(where, "p.media_status = 'ready'")
	}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Category != "" {
		where = append(where, "p.category = "+arg(q.Category))
	}
	if q.AgentID != nil {
		where = append(where, "p.agent_id = "+arg(*q.AgentID))
	}
	if q.AgentName != "" {
		where = append(where, "p.agent_id = (SELECT id FROM agents WHERE name = "+arg(q.AgentName)+")")
	}
	if q.After != nil {
		where = append(where, fmt.Sprintf("(p.created_at, p.id) < (%s, %s)", arg(q.After.At), arg(q.After.ID)))
	}
	dir := "DESC"
	if q.Before != nil {
		where = append(where, fmt.Sprintf("(p.created_at, p.id) > (%s, %s)", arg(q.Before.At), arg(q.Before.ID)))
		dir = "ASC"
	}
	// The page is cut before the authors are joined: joined to the whole
	// keyset scan, the generic plan put a Memoize node on agents (it
	// expects authors to repeat down an unbounded scan), which on a page of
	// 21 costs more than it saves: 10.9k against 12.5k pages/s on pgbench.
	order := ` ORDER BY p.created_at ` + dir + `, p.id ` + dir
	query := `SELECT ` + postColumns + ` FROM (SELECT * FROM posts p WHERE ` + strings.Join(where, " AND ") +
		order + limitRows(q.Limit) + `) p JOIN agents a ON a.id = p.agent_id` + order
	posts, err := s.readPosts(ctx, q.Limit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("newest posts: %w", err)
	}
	if q.Before != nil {
		slices.Reverse(posts)
	}
	return posts, nil
}

// Ranking names a ranked ordering of posts.
type Ranking string

// The ranked orderings; "new" is served by NewestPosts instead.
const (
	RankHot       Ranking = "hot"
	RankTop       Ranking = "top"
	RankDiscussed Ranking = "discussed"
)

// rankOrder is the ORDER BY of each ranking. Every one ends in id, so the
// order is total and a snapshot of it is deterministic.
var rankOrder = map[Ranking]string{
	RankHot:       "p.hot_score DESC, p.id DESC",
	RankTop:       "p.score DESC, p.created_at DESC, p.id DESC",
	RankDiscussed: "p.discussed_score DESC, p.comment_count DESC, p.created_at DESC, p.id DESC",
}

// RankedPostIDs returns up to max ids of live posts in ranking order,
// optionally within one category and created since a time. Feeds snapshot
// this list so that paging through it is stable while votes move posts.
func (s *Store) RankedPostIDs(ctx context.Context, r Ranking, category string, since time.Time, max int) ([]uuid.UUID, error) {
	order, ok := rankOrder[r]
	if !ok {
		return nil, fmt.Errorf("ranking %q: %w", r, ErrInvalid)
	}
	query := `SELECT p.id FROM posts p WHERE p.deleted_at IS NULL AND p.media_status <> 'failed'
		AND ($1 = '' OR p.category = $1) AND p.created_at >= $2
		ORDER BY ` + order + limitRows(max)
	var ids []uuid.UUID
	if err := s.readAll(ctx, &ids, query, category, since); err != nil {
		return nil, fmt.Errorf("ranked post ids: %w", err)
	}
	return firstN(ids, max), nil
}

func uuidStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}
