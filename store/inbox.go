package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
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

// InboxInsert is one verified activity to record with InsertInboxBatch.
type InboxInsert struct {
	ActivityID string
	Type       string
	ActorURI   string
	Body       []byte
	// LivePost, when set, is a post the activity is about (a Like's
	// object): the row is stored only while that post is live, a check
	// that costs the batch nothing and each request a query.
	LivePost *uuid.UUID
}

// InboxInserted is what became of one InboxInsert: its new row id when
// Inserted, else nothing (a redelivery, or its LivePost is not live).
type InboxInserted struct {
	ID       int64
	Inserted bool
}

// InsertInboxBatch records verified activities in one statement (one
// transaction), so a batch costs one commit (one WAL flush) instead of one
// per activity: the inbox's group commit. The results are in the order of items. An activity
// id received before, or repeated within items, is not inserted again
// (Inserted false), exactly as with InsertInbox.
//
// Should the batch fail on one row's data (a body PostgreSQL's jsonb
// refuses, say), each row is inserted on its own, so only that row fails:
// errs then holds each row's error (nil for the ones stored). err is a
// failure of the whole batch (the database is unreachable).
func (s *Store) InsertInboxBatch(ctx context.Context, items []InboxInsert) (res []InboxInserted, errs []error, err error) {
	res = make([]InboxInserted, len(items))
	if len(items) == 0 {
		return res, nil, nil
	}
	ids := make([]string, len(items))
	types := make([]string, len(items))
	actors := make([]string, len(items))
	bodies := make([]string, len(items))
	posts := make([]string, len(items))
	checks := make([]bool, len(items))
	for i, it := range items {
		ids[i], types[i], actors[i], bodies[i] = it.ActivityID, it.Type, it.ActorURI, string(it.Body)
		posts[i] = uuid.Nil.String()
		if it.LivePost != nil {
			posts[i], checks[i] = it.LivePost.String(), true
		}
	}
	inserted := make(map[string]int64, len(items))
	// One statement, committed on its own: atomic like any transaction,
	// and one round trip instead of three (BEGIN, INSERT, COMMIT). Its
	// rows are read to the end, and lib/pq ends them only at
	// ReadyForQuery, which PostgreSQL sends after the commit: so when this
	// returns, the rows are durable.
	err = func() error {
		rows, err := s.db.QueryxContext(ctx, `INSERT INTO inbox (activity_id, type, actor_uri, body)
			SELECT a, t, u, b::jsonb
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::bool[]) WITH ORDINALITY AS x(a, t, u, b, p, c, n)
			WHERE NOT x.c OR EXISTS (SELECT 1 FROM posts WHERE id = x.p AND deleted_at IS NULL)
			ORDER BY n
			ON CONFLICT (activity_id) DO NOTHING RETURNING id, activity_id`,
			pq.Array(ids), pq.Array(types), pq.Array(actors), pq.Array(bodies), pq.Array(posts), pq.Array(checks))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var activityID string
			if err := rows.Scan(&id, &activityID); err != nil {
				return err
			}
			inserted[activityID] = id
		}
		return rows.Err()
	}()
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code.Class() == "22" && len(items) > 1 {
			// A data exception names no row: find it by storing each alone.
			errs = make([]error, len(items))
			for i, it := range items {
				res[i].ID, res[i].Inserted, errs[i] = s.InsertInbox(ctx, it.ActivityID, it.Type, it.ActorURI, it.Body)
			}
			return res, errs, nil
		}
		return nil, nil, fmt.Errorf("store inbox batch: %w", err)
	}
	for i, it := range items {
		if id, ok := inserted[it.ActivityID]; ok {
			res[i] = InboxInserted{ID: id, Inserted: true}
			delete(inserted, it.ActivityID) // a repeat later in items is a redelivery
		}
	}
	return res, nil, nil
}

// PendingInboxByIDs returns the entries among ids not applied yet, in id
// order (the order they were received in).
func (s *Store) PendingInboxByIDs(ctx context.Context, ids []int64) ([]InboxEntry, error) {
	var out []InboxEntry
	err := s.db.SelectContext(ctx, &out, `SELECT id, activity_id, type, actor_uri, body, received_at, processed_at, attempts
		FROM inbox WHERE id = ANY($1) AND processed_at IS NULL ORDER BY id`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("pending inbox entries: %w", err)
	}
	return out, nil
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
