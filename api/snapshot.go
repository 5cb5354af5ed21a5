package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Ranked lists (hot, top, discussed feeds; top comments) change order with
// every vote, so paging them by keyset would repeat or skip posts. Instead
// the first page freezes the order: the ids of the first rankedDepth items
// are stored in Redis as one string of 16-byte ids, and the cursor holds the
// snapshot id and an offset. Walking the cursors then yields each item of
// the snapshot exactly once whatever happens meanwhile; counters and
// deletions are still read live for each page.
//
// A snapshot is shared by every first page of the same list until the feed
// generation changes (a post, vote, comment or rescoring) or
// snapshotFreshness passes, so a burst of readers costs one ranking query.
const (
	rankedDepth       = 10000
	snapshotFreshness = 30 * time.Second
	snapshotLifetime  = time.Hour
)

func errSnapshotExpired() *apiError {
	return badRequest("cursor_expired",
		"this cursor's snapshot has expired (they last an hour); start again from the first page")
}

// currentSnapshot returns the id of the live snapshot of the list named by
// scope, building it with build when there is none for this generation.
func (s *Server) currentSnapshot(ctx context.Context, scope string, build func(context.Context) ([]uuid.UUID, error)) (string, error) {
	gen, err := s.feeds.Current(ctx)
	if err != nil {
		return "", err
	}
	bucket := time.Now().UnixNano() / int64(snapshotFreshness)
	curKey := fmt.Sprintf("snap:cur:%s:%d:%d", scope, gen, bucket)
	id, err := s.redis.Get(ctx, curKey).Result()
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("read snapshot pointer: %w", err)
	}

	ids, err := build(ctx)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 0, len(ids)*16)
	for _, id := range ids {
		buf = append(buf, id[:]...)
	}
	idBytes := make([]byte, 12)
	if _, err := rand.Read(idBytes); err != nil {
		return "", err
	}
	id = hex.EncodeToString(idBytes)
	pipe := s.redis.TxPipeline()
	pipe.Set(ctx, "snap:data:"+id, buf, snapshotLifetime)
	pipe.Set(ctx, curKey, id, 2*snapshotFreshness)
	if _, err := pipe.Exec(ctx); err != nil {
		return "", fmt.Errorf("store snapshot: %w", err)
	}
	return id, nil
}

// snapshotPage reads ids [offset, offset+limit) of a snapshot and reports
// whether more follow.
func (s *Server) snapshotPage(ctx context.Context, id string, offset, limit int) ([]uuid.UUID, bool, error) {
	start := int64(offset) * 16
	end := int64(offset+limit+1)*16 - 1 // one extra id says whether there is a next page
	pipe := s.redis.Pipeline()
	exists := pipe.Exists(ctx, "snap:data:"+id)
	rng := pipe.GetRange(ctx, "snap:data:"+id, start, end)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, false, fmt.Errorf("read snapshot: %w", err)
	}
	if exists.Val() == 0 {
		return nil, false, errSnapshotExpired()
	}
	b := []byte(rng.Val())
	n := len(b) / 16
	more := n > limit
	if more {
		n = limit
	}
	ids := make([]uuid.UUID, n)
	for i := range ids {
		copy(ids[i][:], b[i*16:(i+1)*16])
	}
	return ids, more, nil
}
