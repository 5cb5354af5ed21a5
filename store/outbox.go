package store

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// OutboxKind says what an outbox row will be rendered as.
type OutboxKind string

// The federated side effects.
const (
	OutboxCreatePost    OutboxKind = "create_post"    // Create{Note} of a post, to followers
	OutboxDeletePost    OutboxKind = "delete_post"    // Delete{Tombstone}, to followers
	OutboxCreateComment OutboxKind = "create_comment" // Create{Note} reply, to followers and the replied-to author
	OutboxDeleteComment OutboxKind = "delete_comment" // Delete{Tombstone}, same audience
	OutboxUpdateActor   OutboxKind = "update_actor"   // Update{Service}, to followers
	OutboxAcceptFollow  OutboxKind = "accept_follow"  // Accept{Follow}, to the follower's own inbox
	OutboxFollow        OutboxKind = "follow"         // Follow, to the followed actor's own inbox
	OutboxUndoFollow    OutboxKind = "undo_follow"    // Undo{Follow}, same
)

// OutboxRow is a federated side effect waiting to be sent.
type OutboxRow struct {
	ID            int64      `db:"id"`
	Kind          OutboxKind `db:"kind"`
	AgentID       *uuid.UUID `db:"agent_id"`
	PostID        *uuid.UUID `db:"post_id"`
	CommentID     *uuid.UUID `db:"comment_id"`
	RemoteActorID *int64     `db:"remote_actor_id"`
	Payload       []byte     `db:"payload"`
	Activity      []byte     `db:"activity"`
	CreatedAt     time.Time  `db:"created_at"`
	ReleasedAt    *time.Time `db:"released_at"`
	FannedOutAt   *time.Time `db:"fanned_out_at"`
}

const outboxColumns = `id, kind, agent_id, post_id, comment_id, remote_actor_id, payload, activity,
	created_at, released_at, fanned_out_at`

// insertOutbox writes a side effect in the caller's transaction. A released
// row is handed to OnOutbox after the commit.
func (s *Store) insertOutbox(ctx context.Context, tx *sqlx.Tx, row OutboxRow, release bool) (int64, error) {
	var id int64
	err := tx.GetContext(ctx, &id, `INSERT INTO outbox (kind, agent_id, post_id, comment_id, remote_actor_id, payload, released_at)
		VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN clock_timestamp() END) RETURNING id`,
		row.Kind, row.AgentID, row.PostID, row.CommentID, row.RemoteActorID, nullJSON(row.Payload), release)
	if err != nil {
		return 0, fmt.Errorf("write outbox: %w", err)
	}
	if release {
		s.releasedMu.Lock()
		s.released[tx] = append(s.released[tx], id)
		s.releasedMu.Unlock()
	}
	return id, nil
}

func nullJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return []byte(b)
}

// OutboxByID returns one outbox row.
func (s *Store) OutboxByID(ctx context.Context, id int64) (*OutboxRow, error) {
	var row OutboxRow
	if err := s.db.GetContext(ctx, &row, `SELECT `+outboxColumns+` FROM outbox WHERE id = $1`, id); err != nil {
		return nil, notFound(err, "outbox row")
	}
	return &row, nil
}

// Recipient is an inbox a fan-out delivers to.
type Recipient struct {
	Inbox    string
	Personal bool
}

// FanOut turns a released outbox row into deliveries, once: render
// produces the activity and any recipients beyond the row's audience (the
// remote author a comment answers); the activity is stored and one
// pending delivery is created per distinct inbox: the followers' shared
// inboxes (or their own when their server has none) for posts, comments
// and profile changes, the one remote actor's personal inbox for Accept
// and Follow. A nil activity sends nothing (the post was deleted before
// its Create went out, say). Calling it again for a row already fanned out
// just returns its pending deliveries, so a fan-out interrupted after the
// commit but before its tasks were queued is finished by a retry or the
// sweep.
//
// render runs before the transaction, not inside it: it reads the post,
// its media and its author through the pool, and a fan-out that held one
// connection while waiting for another deadlocked as soon as the
// concurrent fan-outs outnumbered the pool (a burst of posts, a small
// pool). Whether this call is the one that fans the row out is decided
// under the row's lock, so two concurrent calls still create the
// deliveries once; the loser's render is dropped.
func (s *Store) FanOut(ctx context.Context, id int64,
	render func(ctx context.Context, row *OutboxRow) (activity []byte, to []Recipient, err error)) ([]int64, error) {
	var row OutboxRow
	if err := s.readOne(ctx, &row, `SELECT `+outboxColumns+` FROM outbox WHERE id = $1`, id); err != nil {
		return nil, notFound(err, "outbox row")
	}
	if row.ReleasedAt == nil {
		return nil, nil // held (its media is not ready); the release fans it out
	}
	var (
		activity []byte
		to       []Recipient
		rendered bool
	)
	if row.FannedOutAt == nil {
		var err error
		if activity, to, err = render(ctx, &row); err != nil {
			return nil, err
		}
		rendered = true
	}
	var ids []int64
	err := s.inTxUnannounced(ctx, func(tx *sqlx.Tx) error {
		var fannedOut *time.Time
		if err := tx.GetContext(ctx, &fannedOut, `SELECT fanned_out_at FROM outbox WHERE id = $1 FOR UPDATE`, id); err != nil {
			return notFound(err, "outbox row")
		}
		if fannedOut == nil && rendered {
			audience, err := s.audience(ctx, tx, &row)
			if err != nil {
				return err
			}
			to = append(audience, to...)
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET activity = $2, fanned_out_at = clock_timestamp() WHERE id = $1`,
				id, nullJSON(activity)); err != nil {
				return fmt.Errorf("store rendered activity: %w", err)
			}
			if activity != nil && len(to) > 0 {
				inboxes, hosts, personal := make([]string, 0, len(to)), make([]string, 0, len(to)), make([]bool, 0, len(to))
				seen := map[string]bool{}
				for _, r := range to {
					u, err := url.Parse(r.Inbox)
					if err != nil || u.Host == "" || seen[r.Inbox] {
						continue
					}
					seen[r.Inbox] = true
					inboxes, hosts, personal = append(inboxes, r.Inbox), append(hosts, strings.ToLower(u.Host)), append(personal, r.Personal)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (outbox_id, inbox, host, personal)
					SELECT $1, i, h, p FROM unnest($2::text[], $3::text[], $4::bool[]) AS t(i, h, p)
					ON CONFLICT (outbox_id, inbox) DO NOTHING`,
					id, stringArray(inboxes), stringArray(hosts), boolArray(personal)); err != nil {
					return fmt.Errorf("create deliveries: %w", err)
				}
			}
		}
		return tx.SelectContext(ctx, &ids, `SELECT id FROM deliveries WHERE outbox_id = $1 AND status = 'pending' ORDER BY id`, id)
	})
	return ids, err
}

// followerInboxes lists where an agent's followers receive posts: each
// server's shared inbox once, or the follower's own inbox when its server
// has none (GoToSocial).
func (s *Store) followerInboxes(ctx context.Context, tx *sqlx.Tx, agentID uuid.UUID) ([]Recipient, error) {
	var rows []struct {
		Inbox    string `db:"inbox"`
		Personal bool   `db:"personal"`
	}
	err := tx.SelectContext(ctx, &rows, `SELECT DISTINCT coalesce(nullif(ra.shared_inbox, ''), ra.inbox) AS inbox,
			ra.shared_inbox = '' AS personal
		FROM followers f JOIN remote_actors ra ON ra.id = f.remote_actor_id WHERE f.agent_id = $1`, agentID)
	if err != nil {
		return nil, fmt.Errorf("follower inboxes: %w", err)
	}
	out := make([]Recipient, len(rows))
	for i, r := range rows {
		out[i] = Recipient{Inbox: r.Inbox, Personal: r.Personal}
	}
	return out, nil
}

// audience is who an outbox row goes to by its kind.
func (s *Store) audience(ctx context.Context, tx *sqlx.Tx, row *OutboxRow) ([]Recipient, error) {
	switch row.Kind {
	case OutboxAcceptFollow, OutboxFollow, OutboxUndoFollow:
		if row.RemoteActorID == nil {
			return nil, nil
		}
		var inbox string
		err := tx.GetContext(ctx, &inbox, `SELECT inbox FROM remote_actors WHERE id = $1`, *row.RemoteActorID)
		if isNoRows(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("recipient inbox: %w", err)
		}
		// Personal, never shared: GoToSocial tells which follow an Accept
		// answers by the inbox it lands in.
		return []Recipient{{Inbox: inbox, Personal: true}}, nil
	default:
		if row.AgentID == nil {
			return nil, nil
		}
		return s.followerInboxes(ctx, tx, *row.AgentID)
	}
}

// Delivery is one activity to send to one inbox.
type Delivery struct {
	ID       int64  `db:"id"`
	OutboxID int64  `db:"outbox_id"`
	Inbox    string `db:"inbox"`
	Host     string `db:"host"`
	Personal bool   `db:"personal"`
	Status   string `db:"status"`
	Attempts int    `db:"attempts"`
	// Activity is the JSON sent (a []byte, which scans SQL NULL: see
	// deliverySelect).
	Activity  []byte     `db:"activity"`
	AgentID   *uuid.UUID `db:"agent_id"`
	AgentName string     `db:"agent_name"`
	Kind      OutboxKind `db:"kind"`
	// HostUnavailableUntil is when the host's open circuit lets it be
	// tried again; nil (or past) while the circuit is closed.
	HostUnavailableUntil *time.Time `db:"host_unavailable_until"`
}

// DeliveryByID loads a delivery with the activity and sender it carries,
// and its host's circuit: everything one attempt needs, in one prepared
// query (a delivery is one signature plus as few round trips as can be).
func (s *Store) DeliveryByID(ctx context.Context, id int64) (*Delivery, error) {
	var d Delivery
	if err := s.readOne(ctx, &d, deliverySelect+`WHERE d.id = $1`, id); err != nil {
		return nil, notFound(err, "delivery")
	}
	return &d, nil
}

// DeliveriesByIDs is DeliveryByID for a batch, in one query; ids not found
// are left out.
func (s *Store) DeliveriesByIDs(ctx context.Context, ids []int64) ([]Delivery, error) {
	var ds []Delivery
	if err := s.readAll(ctx, &ds, deliverySelect+`WHERE d.id = ANY($1) ORDER BY d.id`, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	// Only the first delivery of each activity carries it (deliverySelect):
	// the others share its bytes, which nothing writes to.
	activities := make(map[int64][]byte)
	for i := range ds {
		if ds[i].Activity != nil {
			activities[ds[i].OutboxID] = ds[i].Activity
		} else {
			ds[i].Activity = activities[ds[i].OutboxID]
		}
	}
	return ds, nil
}

// deliverySelect reads deliveries with what an attempt needs. The
// activity comes with the first delivery of each outbox row only (in id
// order, the order the callers read in): a batch of a fan-out is 16
// deliveries of one activity, and PostgreSQL turning its jsonb back into
// text (after unpacking it from TOAST) for every row was most of the
// statement's time, and the fan-out's largest statement.
const deliverySelect = `SELECT d.id, d.outbox_id, d.inbox, d.host, d.personal, d.status, d.attempts,
		CASE WHEN row_number() OVER (PARTITION BY d.outbox_id ORDER BY d.id) = 1 THEN o.activity END AS activity,
		o.agent_id, coalesce(a.name, '') AS agent_name, o.kind,
		h.unavailable_until AS host_unavailable_until
	FROM deliveries d JOIN outbox o ON o.id = d.outbox_id LEFT JOIN agents a ON a.id = o.agent_id
		LEFT JOIN hosts h ON h.host = d.host
	`

// RecordDeliveryAttempt stores the outcome of one attempt: delivered,
// failed for good, or still pending (to be retried). A delivered one is
// recorded as RecordDelivered records it, closing its host's circuit.
//
// The commit does not wait for the WAL to reach the disk
// (synchronous_commit off, for this transaction only): with fsync on, a
// worker slot otherwise sits out one disk flush per delivery, and on a
// busy disk that, not signing, bounds deliveries per second. What a crash
// can lose is the last fraction of a second of outcomes, never intent: the
// outbox and delivery rows were committed durably at fan-out, an outcome
// lost leaves its delivery pending, and the sweep sends it again, which
// an inbox already tolerates (a crash between the POST and this commit
// did the same, and receivers drop an activity id they have seen).
func (s *Store) RecordDeliveryAttempt(ctx context.Context, id int64, status int, errText string, outcome string) error {
	if outcome == "delivered" {
		return s.RecordDelivered(ctx, []Delivered{{ID: id, Status: status}})
	}
	st, err := s.prepared(ctx, `WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
		UPDATE deliveries SET status = $2, attempts = attempts + 1, last_status = nullif($3, 0),
			last_error = nullif($4, ''), updated_at = clock_timestamp()
		WHERE id = $1 AND EXISTS (SELECT FROM async)`)
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	if _, err := st.ExecContext(ctx, id, outcome, status, truncate(errText, 500)); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// Delivered is an attempt the inbox accepted, with the status it answered.
type Delivered struct {
	ID     int64
	Status int
}

// RecordDelivered marks deliveries delivered and closes their hosts'
// circuits (RecordHostSuccess), all in one statement: a batch of a
// fan-out records its successes with one round trip and one commit, and
// the hosts row is only written when it had failures to clear. The commit
// does not wait for the disk, as RecordDeliveryAttempt explains.
func (s *Store) RecordDelivered(ctx context.Context, ds []Delivered) error {
	if len(ds) == 0 {
		return nil
	}
	ids, statuses := make([]int64, len(ds)), make([]int64, len(ds))
	for i, d := range ds {
		ids[i], statuses[i] = d.ID, int64(d.Status)
	}
	st, err := s.prepared(ctx, `WITH async AS (SELECT set_config('synchronous_commit', 'off', true)),
		d AS (
			UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, last_status = nullif(x.status, 0),
				last_error = NULL, updated_at = clock_timestamp(), delivered_at = clock_timestamp()
			FROM unnest($1::bigint[], $2::int[]) AS x(id, status)
			WHERE deliveries.id = x.id AND EXISTS (SELECT FROM async) RETURNING deliveries.host)
		UPDATE hosts h SET failures = 0, first_failure_at = NULL, unavailable_until = NULL,
			last_success_at = clock_timestamp()
		WHERE h.host IN (SELECT host FROM d) AND (h.failures > 0 OR h.unavailable_until IS NOT NULL)`)
	if err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	if _, err := st.ExecContext(ctx, pq.Array(ids), pq.Array(statuses)); err != nil {
		return fmt.Errorf("record deliveries: %w", err)
	}
	return nil
}

// StalePendingDeliveries lists pending deliveries untouched for a while:
// the sweep re-queues them (their task ids make a re-queue of a task that
// still exists a no-op).
func (s *Store) StalePendingDeliveries(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM deliveries WHERE status = 'pending'
		AND updated_at < clock_timestamp() - $1 * interval '1 millisecond' ORDER BY updated_at LIMIT $2`,
		olderThan.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("stale deliveries: %w", err)
	}
	return ids, nil
}

// UnsentOutbox lists released rows never fanned out (their enqueue was
// lost, say in a crash right after the commit).
func (s *Store) UnsentOutbox(ctx context.Context, olderThan time.Duration, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM outbox WHERE fanned_out_at IS NULL AND released_at IS NOT NULL
		AND released_at < clock_timestamp() - $1 * interval '1 millisecond' ORDER BY released_at LIMIT $2`,
		olderThan.Milliseconds(), limit)
	if err != nil {
		return nil, fmt.Errorf("unsent outbox: %w", err)
	}
	return ids, nil
}

// RemoveFollowersAtInbox drops the followers whose personal inbox answered
// 410 Gone: the account no longer exists.
func (s *Store) RemoveFollowersAtInbox(ctx context.Context, inbox string) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM followers f USING remote_actors ra
			WHERE ra.id = f.remote_actor_id AND ra.inbox = $1`, inbox)
		if err != nil {
			return fmt.Errorf("remove gone followers: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
