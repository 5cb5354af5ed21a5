package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// ImageProbe is the outcome of fetching a post's image once.
type ImageProbe struct {
	MediaType string
	Width     int
	Height    int
	Bytes     int64
	Err       string // why the image could not be probed; empty on success
}

// RecordImageProbe stores what the probe learnt. A failed probe keeps
// whatever an earlier successful one found.
func (s *Store) RecordImageProbe(ctx context.Context, postID uuid.UUID, p ImageProbe) error {
	var err error
	if p.Err != "" {
		_, err = s.db.ExecContext(ctx, `UPDATE posts SET image_probed_at = clock_timestamp(), image_probe_error = $2
			WHERE id = $1`, postID, p.Err)
	} else {
		_, err = s.db.ExecContext(ctx, `UPDATE posts SET image_probed_at = clock_timestamp(), image_probe_error = NULL,
			image_media_type = $2, image_width = nullif($3, 0), image_height = nullif($4, 0), image_bytes = nullif($5, 0)
			WHERE id = $1`, postID, p.MediaType, p.Width, p.Height, p.Bytes)
	}
	if err != nil {
		return fmt.Errorf("record image probe: %w", err)
	}
	return nil
}

// UnprobedImages lists live posts whose image has never been probed, oldest
// first: the sweep that catches probes whose task was lost.
func (s *Store) UnprobedImages(ctx context.Context, limit int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM posts WHERE image_probed_at IS NULL AND deleted_at IS NULL
		AND created_at < clock_timestamp() - interval '1 minute' ORDER BY created_at LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("unprobed images: %w", err)
	}
	return ids, nil
}
