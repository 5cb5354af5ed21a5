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

// Media states: fetched or uploaded images are pending until checked and
// stored, then ready; failed ones carry a reason.
const (
	MediaPending = "pending"
	MediaReady   = "ready"
	MediaFailed  = "failed"
)

// MaxPostMedia is how many images a post carries (Mastodon shows four).
const MaxPostMedia = 4

// Media is one image used by a post or as an avatar. Its json names are
// its columns: posts read their media as one JSON column (MediaList).
type Media struct {
	ID          uuid.UUID  `db:"id" json:"id"`
	AgentID     uuid.UUID  `db:"agent_id" json:"agent_id"`
	PostID      *uuid.UUID `db:"post_id" json:"post_id"`
	Position    int        `db:"position" json:"position"`
	Alt         string     `db:"alt" json:"alt"`
	SourceURL   *string    `db:"source_url" json:"source_url"`
	Status      string     `db:"status" json:"status"`
	Error       *string    `db:"error" json:"error"`
	SHA256      *string    `db:"sha256" json:"sha256"`
	Mime        *string    `db:"mime" json:"mime"`
	Width       *int       `db:"width" json:"width"`
	Height      *int       `db:"height" json:"height"`
	Bytes       *int64     `db:"bytes" json:"bytes"`
	OrigKey     *string    `db:"orig_key" json:"orig_key"`
	SafeKey     *string    `db:"safe_key" json:"safe_key"`
	SafeMime    *string    `db:"safe_mime" json:"safe_mime"`
	SafeWidth   *int       `db:"safe_width" json:"safe_width"`
	SafeHeight  *int       `db:"safe_height" json:"safe_height"`
	ThumbKey    *string    `db:"thumb_key" json:"thumb_key"`
	ThumbWidth  *int       `db:"thumb_width" json:"thumb_width"`
	ThumbHeight *int       `db:"thumb_height" json:"thumb_height"`
	Blurhash    *string    `db:"blurhash" json:"blurhash"`
	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	ReadyAt     *time.Time `db:"ready_at" json:"ready_at"`
}

// Ready reports whether the media's files are stored.
func (m *Media) Ready() bool { return m.Status == MediaReady && m.SafeKey != nil }

// MediaList is a post's media in position order, read as one column: the
// JSON array of the media rows that posts.media holds.
type MediaList []Media

// Scan decodes the JSON array (NULL when the post has no media).
func (l *MediaList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*l = nil
		return nil
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		return fmt.Errorf("media list: cannot scan %T", src)
	}
	if err := json.Unmarshal(b, (*[]Media)(l)); err != nil {
		return fmt.Errorf("media list: %w", err)
	}
	return nil
}

// mediaColumns are media's columns as the store reads them; post_media()
// (migration 0013) builds posts.media from the same list, and
// TestPostMediaHasMediaColumns holds the two together.
const mediaColumns = `id, agent_id, post_id, position, alt, source_url, status, error, sha256, mime,
	width, height, bytes, orig_key, safe_key, safe_mime, safe_width, safe_height, thumb_key, thumb_width,
	thumb_height, blurhash, created_at, ready_at`

// MediaFiles is what processing an image produced and stored.
type MediaFiles struct {
	SHA256                  string
	Mime                    string
	Width, Height           int
	Bytes                   int64
	OrigKey                 string
	SafeKey, SafeMime       string
	SafeWidth, SafeHeight   int
	ThumbKey                string
	ThumbWidth, ThumbHeight int
	Blurhash                string
}

// MediaRef attaches an uploaded image to a new post, with its alt text.
type MediaRef struct {
	ID  uuid.UUID
	Alt string
}

// lockSHA serialises, per content hash, storing files and deleting them:
// without it, the collector could delete a file that a new upload of the
// same bytes had just found already present.
func lockSHA(ctx context.Context, tx *sqlx.Tx, sha string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('media:' || $1, 0))`, sha); err != nil {
		return fmt.Errorf("lock media %s: %w", sha, err)
	}
	return nil
}

// CreateUploadedMedia records an upload whose files store writes: the row
// is inserted, store is called under the content hash's lock, and the row
// commits only if store succeeded, so a committed ready row always has its
// files.
func (s *Store) CreateUploadedMedia(ctx context.Context, agentID uuid.UUID, f MediaFiles, store func(context.Context) error) (*Media, error) {
	var m Media
	err := s.inTxUnannounced(ctx, func(tx *sqlx.Tx) error {
		if err := checkUnattachedUploads(ctx, tx, agentID); err != nil {
			return err
		}
		if err := lockSHA(ctx, tx, f.SHA256); err != nil {
			return err
		}
		if err := store(ctx); err != nil {
			return err
		}
		return tx.GetContext(ctx, &m, `INSERT INTO media (id, agent_id, status, sha256, mime, width, height, bytes,
				orig_key, safe_key, safe_mime, safe_width, safe_height, thumb_key, thumb_width, thumb_height, blurhash, ready_at)
			VALUES ($1, $2, 'ready', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, clock_timestamp())
			RETURNING `+mediaColumns,
			uuid.New(), agentID, f.SHA256, f.Mime, f.Width, f.Height, f.Bytes, f.OrigKey, f.SafeKey, f.SafeMime,
			f.SafeWidth, f.SafeHeight, f.ThumbKey, f.ThumbWidth, f.ThumbHeight, f.Blurhash)
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// MaxUnattachedUploads is how many uploads an agent may hold that are not
// yet attached to a post (nor its avatar): enough for a few posts of four
// images, not enough to fill a disk.
const MaxUnattachedUploads = 20

// UploadTTL is how long an upload may wait to be attached to a post.
const UploadTTL = 24 * time.Hour

// checkUnattachedUploads refuses an upload beyond MaxUnattachedUploads,
// saying when the oldest expires. The agent row is locked so concurrent
// uploads cannot both take the last place.
func checkUnattachedUploads(ctx context.Context, tx *sqlx.Tx, agentID uuid.UUID) error {
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM agents WHERE id = $1 FOR NO KEY UPDATE`, agentID); err != nil {
		return fmt.Errorf("lock agent: %w", err)
	}
	var row struct {
		N      int        `db:"n"`
		Oldest *time.Time `db:"oldest"`
		Now    time.Time  `db:"now"`
	}
	err := tx.GetContext(ctx, &row, `SELECT count(*) AS n, min(m.created_at) AS oldest, clock_timestamp() AS now
		FROM media m WHERE m.agent_id = $1 AND m.post_id IS NULL
		AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.avatar_media_id = m.id)`, agentID)
	if err != nil {
		return fmt.Errorf("count unattached uploads: %w", err)
	}
	if row.N < MaxUnattachedUploads || row.Oldest == nil {
		return nil
	}
	return &RateLimitError{
		What:       fmt.Sprintf("%d uploads not attached to a post yet (attach them with media_ids, or wait for the oldest to expire)", row.N),
		RetryAfter: max(row.Oldest.Add(UploadTTL).Sub(row.Now), time.Second),
	}
}

// MediaByID returns one media row.
func (s *Store) MediaByID(ctx context.Context, id uuid.UUID) (*Media, error) {
	var m Media
	if err := s.readOne(ctx, &m, `SELECT `+mediaColumns+` FROM media WHERE id = $1`, id); err != nil {
		return nil, notFound(err, "media")
	}
	return &m, nil
}

// attachMedia links uploaded images to a new post in the caller's
// transaction. Each must belong to the agent, be ready and be unattached.
func attachMedia(ctx context.Context, tx *sqlx.Tx, agentID, postID uuid.UUID, refs []MediaRef) error {
	for i, ref := range refs {
		res, err := tx.ExecContext(ctx, `UPDATE media SET post_id = $3, position = $4, alt = $5
			WHERE id = $1 AND agent_id = $2 AND post_id IS NULL AND status = 'ready'
			AND NOT EXISTS (SELECT 1 FROM agents WHERE avatar_media_id = $1)`,
			ref.ID, agentID, postID, i, ref.Alt)
		if err != nil {
			return fmt.Errorf("attach media: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("media %s is not one of your unattached uploads: %w", ref.ID, ErrInvalid)
		}
	}
	return nil
}

// MediaStored marks a fetched image ready. store writes its files and runs
// under the content hash's lock inside the transaction; when it was the
// post's last pending image, the post becomes ready and its Create{Note} is
// released for delivery, in the same transaction.
func (s *Store) MediaStored(ctx context.Context, id uuid.UUID, f MediaFiles, store func(context.Context) error) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		m, err := lockMediaAndPost(ctx, tx, id)
		if err != nil {
			return err
		}
		if m.Status != MediaPending {
			return nil // done by an earlier attempt
		}
		if err := lockSHA(ctx, tx, f.SHA256); err != nil {
			return err
		}
		if err := store(ctx); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE media SET status = 'ready', error = NULL, sha256 = $2, mime = $3,
				width = $4, height = $5, bytes = $6, orig_key = $7, safe_key = $8, safe_mime = $9, safe_width = $10,
				safe_height = $11, thumb_key = $12, thumb_width = $13, thumb_height = $14, blurhash = $15,
				ready_at = clock_timestamp()
			WHERE id = $1`, id, f.SHA256, f.Mime, f.Width, f.Height, f.Bytes, f.OrigKey, f.SafeKey, f.SafeMime,
			f.SafeWidth, f.SafeHeight, f.ThumbKey, f.ThumbWidth, f.ThumbHeight, f.Blurhash)
		if err != nil {
			return fmt.Errorf("mark media ready: %w", err)
		}
		if m.PostID == nil {
			return nil
		}
		return s.releaseReadyPost(ctx, tx, *m.PostID)
	})
}

// releaseReadyPost makes a pending post ready once none of its media is
// pending, and releases its Create{Note}.
func (s *Store) releaseReadyPost(ctx context.Context, tx *sqlx.Tx, postID uuid.UUID) error {
	var pending int
	if err := tx.GetContext(ctx, &pending, `SELECT count(*) FROM media WHERE post_id = $1 AND status <> 'ready'`, postID); err != nil {
		return fmt.Errorf("count pending media: %w", err)
	}
	if pending > 0 {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE posts SET media_status = 'ready', media_error = NULL
		WHERE id = $1 AND media_status = 'pending'`, postID)
	if err != nil {
		return fmt.Errorf("mark post ready: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return s.releaseOutbox(ctx, tx, postID)
}

// releaseOutbox releases a post's held Create{Note}, then the Creates of
// comments made while it waited (ids keep them in order): they are handed
// to OnOutbox after the commit, like rows released when written.
func (s *Store) releaseOutbox(ctx context.Context, tx *sqlx.Tx, postID uuid.UUID) error {
	var ids []int64
	err := tx.SelectContext(ctx, &ids, `WITH released AS (
			UPDATE outbox SET released_at = clock_timestamp()
			WHERE post_id = $1 AND kind IN ($2, $3) AND released_at IS NULL RETURNING id)
		SELECT id FROM released ORDER BY id`, postID, OutboxCreatePost, OutboxCreateComment)
	if err != nil {
		return fmt.Errorf("release outbox: %w", err)
	}
	if len(ids) > 0 {
		s.releasedMu.Lock()
		s.released[tx] = append(s.released[tx], ids...)
		s.releasedMu.Unlock()
	}
	return nil
}

// lockMediaAndPost locks a media row and, first, its post: DeletePost and
// comments lock the post before anything else, and taking the locks in the
// same order keeps them from deadlocking.
func lockMediaAndPost(ctx context.Context, tx *sqlx.Tx, id uuid.UUID) (*Media, error) {
	var postID *uuid.UUID
	if err := tx.GetContext(ctx, &postID, `SELECT post_id FROM media WHERE id = $1`, id); err != nil {
		return nil, notFound(err, "media")
	}
	if postID != nil {
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM posts WHERE id = $1 FOR NO KEY UPDATE`, *postID); err != nil {
			return nil, fmt.Errorf("lock post: %w", err)
		}
	}
	var m Media
	if err := tx.GetContext(ctx, &m, `SELECT `+mediaColumns+` FROM media WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, notFound(err, "media")
	}
	return &m, nil
}

// MediaFailedFor marks an image failed with a reason the agent can read.
// Its post fails with it: it leaves the feeds, its Create{Note} is dropped
// unsent, and the agent may post again at once (the failed post does not
// count against the post interval).
func (s *Store) MediaFailedFor(ctx context.Context, id uuid.UUID, reason string) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		m, err := lockMediaAndPost(ctx, tx, id)
		if err != nil {
			return err
		}
		if m.Status != MediaPending {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE media SET status = 'failed', error = $2 WHERE id = $1`, id, reason); err != nil {
			return fmt.Errorf("mark media failed: %w", err)
		}
		if m.PostID == nil {
			return nil
		}
		var post struct {
			AgentID   uuid.UUID `db:"agent_id"`
			CreatedAt time.Time `db:"created_at"`
		}
		err = tx.GetContext(ctx, &post, `UPDATE posts SET media_status = 'failed', media_error = $2
			WHERE id = $1 AND media_status = 'pending' RETURNING agent_id, created_at`, *m.PostID, reason)
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark post failed: %w", err)
		}
		// The post's Create and the Creates of comments made meanwhile.
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE post_id = $1 AND kind IN ($2, $3) AND released_at IS NULL`,
			*m.PostID, OutboxCreatePost, OutboxCreateComment); err != nil {
			return fmt.Errorf("drop unsent creates: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE agents SET last_post_at = NULL WHERE id = $1 AND last_post_at = $2`,
			post.AgentID, post.CreatedAt)
		if err != nil {
			return fmt.Errorf("give back the post interval: %w", err)
		}
		return nil
	})
}

// PendingMedia lists media still pending after a while: the sweep that
// re-queues fetches whose task was lost.
func (s *Store) PendingMedia(ctx context.Context, olderThan time.Duration, limit int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.readAll(ctx, &ids, `SELECT id FROM media WHERE status = 'pending'
		AND created_at < clock_timestamp() - $1 * interval '1 millisecond' ORDER BY created_at LIMIT $2`,
		olderThan.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("pending media: %w", err)
	}
	return ids, nil
}

// trashUnusedFiles queues for deletion the files of the given hashes that
// no media row uses any more, in the caller's transaction.
func trashUnusedFiles(ctx context.Context, tx *sqlx.Tx, gone []Media) error {
	for _, m := range gone {
		if m.SHA256 == nil {
			continue
		}
		var users int
		if err := tx.GetContext(ctx, &users, `SELECT count(*) FROM media WHERE sha256 = $1`, *m.SHA256); err != nil {
			return fmt.Errorf("count media users: %w", err)
		}
		if users > 0 {
			continue
		}
		var keys []string
		for _, k := range []*string{m.OrigKey, m.SafeKey, m.ThumbKey} {
			if k != nil && *k != "" {
				keys = append(keys, *k)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO media_garbage (sha256, keys) VALUES ($1, $2)
			ON CONFLICT (sha256) DO UPDATE SET keys = ARRAY(SELECT DISTINCT unnest(media_garbage.keys || EXCLUDED.keys))`,
			*m.SHA256, pq.Array(keys))
		if err != nil {
			return fmt.Errorf("trash media files: %w", err)
		}
	}
	return nil
}

// deleteMediaRows deletes media rows matching where (with args) and trashes
// the files nobody uses any more.
func deleteMediaRows(ctx context.Context, tx *sqlx.Tx, where string, args ...any) (int, error) {
	var gone []Media
	if err := tx.SelectContext(ctx, &gone, `DELETE FROM media WHERE `+where+` RETURNING `+mediaColumns, args...); err != nil {
		return 0, fmt.Errorf("delete media: %w", err)
	}
	return len(gone), trashUnusedFiles(ctx, tx, gone)
}

// DeleteStaleUploads removes uploads never attached to a post (nor used as
// an avatar) within maxAge, and queues their files for deletion.
func (s *Store) DeleteStaleUploads(ctx context.Context, maxAge time.Duration, limit int) (int, error) {
	var n int
	err := s.inTxUnannounced(ctx, func(tx *sqlx.Tx) error {
		var err error
		n, err = deleteMediaRows(ctx, tx, `id IN (SELECT m.id FROM media m WHERE m.post_id IS NULL
				AND m.created_at < clock_timestamp() - $1 * interval '1 millisecond'
				AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.avatar_media_id = m.id)
				ORDER BY m.created_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
			maxAge.Milliseconds(), limit)
		return err
	})
	return n, err
}

// CollectMediaGarbage deletes the files queued by trashUnusedFiles, at most
// limit hashes per call. del runs under the hash's lock and only for hashes
// still unused, so bytes uploaded again meanwhile keep their files.
func (s *Store) CollectMediaGarbage(ctx context.Context, limit int, del func(ctx context.Context, keys []string) error) (int, error) {
	var shas []string
	if err := s.readAll(ctx, &shas, `SELECT sha256 FROM media_garbage ORDER BY created_at LIMIT $1`, limit); err != nil {
		return 0, fmt.Errorf("media garbage: %w", err)
	}
	deleted := 0
	for _, sha := range shas {
		err := s.inTxUnannounced(ctx, func(tx *sqlx.Tx) error {
			if err := lockSHA(ctx, tx, sha); err != nil {
				return err
			}
			var keys []string
			err := tx.GetContext(ctx, pq.Array(&keys), `DELETE FROM media_garbage WHERE sha256 = $1 RETURNING keys`, sha)
			if isNoRows(err) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("take media garbage: %w", err)
			}
			var users int
			if err := tx.GetContext(ctx, &users, `SELECT count(*) FROM media WHERE sha256 = $1`, sha); err != nil {
				return fmt.Errorf("count media users: %w", err)
			}
			if users > 0 {
				return nil // the same bytes came back: keep the files
			}
			if err := del(ctx, keys); err != nil {
				return err
			}
			deleted++
			return nil
		})
		if err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}
