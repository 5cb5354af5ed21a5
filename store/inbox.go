package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// InboxEntry is a verified activity waiting to be applied.
type InboxEntry struct {
	ID          int64           `db:"id"`
	ActivityID  string          `db:"activity_id"`
	Type        string          `db:"type"`
	ActorURI    string          `db:"actor_uri"`
	Body        json.RawMessage `db:"body"`
	ReceivedAt  time.Time       `db:"received_at"`
	ProcessedAt *time.Time      `db:"processed_at"`
	Attempts    int             `db:"attempts"`
}

// InsertInbox records a verified activity. inserted is false when the same
// activity id was received before: a redelivery, which changes nothing.
func (s *Store) InsertInbox(ctx context.Context, activityID, typ, actorURI string, body []byte) (id int64, inserted bool, err error) {
	err = s.db.GetContext(ctx, &id, `INSERT INTO inbox (activity_id, type, actor_uri, body) VALUES ($1, $2, $3, $4)
		ON CONFLICT (activity_id) DO NOTHING RETURNING id`, activityID, typ, actorURI, body)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store inbox activity: %w", err)
	}
	return id, true, nil
}

// InboxByID returns one inbox entry.
func (s *Store) InboxByID(ctx context.Context, id int64) (*InboxEntry, error) {
	var e InboxEntry
	err := s.db.GetContext(ctx, &e, `SELECT id, activity_id, type, actor_uri, body, received_at, processed_at, attempts
		FROM inbox WHERE id = $1`, id)
	if err != nil {
		return nil, notFound(err, "inbox entry")
	}
	return &e, nil
}

// MarkInboxProcessed closes an entry that needed no change (or could never
// be applied), noting why.
func (s *Store) MarkInboxProcessed(ctx context.Context, id int64, note string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE inbox SET processed_at = clock_timestamp(), last_error = nullif($2, '')
		WHERE id = $1 AND processed_at IS NULL`, id, truncate(note, 500))
	if err != nil {
		return fmt.Errorf("mark inbox processed: %w", err)
	}
	return nil
}

// RecordInboxFailure counts a failed attempt to apply an entry.
func (s *Store) RecordInboxFailure(ctx context.Context, id int64, errText string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE inbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1`, id, truncate(errText, 500))
	if err != nil {
		return fmt.Errorf("record inbox failure: %w", err)
	}
	return nil
}

// PendingInbox lists entries not applied for a while, for the sweep.
func (s *Store) PendingInbox(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM inbox WHERE processed_at IS NULL
		AND received_at < clock_timestamp() - $1 * interval '1 millisecond' AND attempts < 20
		ORDER BY received_at LIMIT $2`, olderThan.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("pending inbox: %w", err)
	}
	return ids, nil
}

// applyInbox runs fn in a transaction that also marks the inbox entry
// processed, so an activity's effect and its being applied commit together:
// a crash leaves it either fully applied or still pending, and a second
// application (a retried task) finds it processed and changes nothing.
// inboxID 0 applies fn without inbox bookkeeping.
func (s *Store) applyInbox(ctx context.Context, inboxID int64, fn func(tx *sqlx.Tx) error) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if inboxID != 0 {
			var processed *time.Time
			err := tx.GetContext(ctx, &processed, `SELECT processed_at FROM inbox WHERE id = $1 FOR UPDATE`, inboxID)
			if err != nil {
				return notFound(err, "inbox entry")
			}
			if processed != nil {
				return nil
			}
		}
		if err := fn(tx); err != nil {
			return err
		}
		if inboxID != 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE inbox SET processed_at = clock_timestamp() WHERE id = $1`, inboxID); err != nil {
				return fmt.Errorf("mark inbox processed: %w", err)
			}
		}
		return nil
	})
}
