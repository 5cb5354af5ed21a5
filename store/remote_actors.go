package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// RemoteActor is an actor on another server that federation has fetched and
// checked: where to deliver to it, what to show of it, and the public key
// that verifies its signatures. Name is plain text and SummaryHTML is
// already sanitised; both are safe to show only through the usual escaping
// (templates, JSON).
//
// One key is kept per actor (Mastodon publishes one; GoToSocial too): the
// one its signatures last named, else the first it publishes.
type RemoteActor struct {
	ID           int64     `db:"id"`
	URI          string    `db:"uri"`
	Type         string    `db:"type"`
	Username     string    `db:"username"`
	Host         string    `db:"host"`
	Name         string    `db:"name"`
	SummaryHTML  string    `db:"summary_html"`
	URL          string    `db:"url"`
	IconURL      string    `db:"icon_url"`
	Inbox        string    `db:"inbox"`
	SharedInbox  string    `db:"shared_inbox"`
	FollowersURI string    `db:"followers_uri"`
	KeyID        string    `db:"key_id"`
	PublicKeyPEM string    `db:"public_key_pem"`
	FetchedAt    time.Time `db:"fetched_at"`
	CreatedAt    time.Time `db:"created_at"`
}

const remoteActorColumns = `id, uri, type, username, host, name, summary_html, url, icon_url,
	inbox, shared_inbox, followers_uri, key_id, public_key_pem, fetched_at, created_at`

// UpsertRemoteActor stores a freshly fetched actor: a new row, or every
// field of the existing row with the same URI replaced (its id and
// created_at stay, so follows and comments keep pointing at it). A zero
// FetchedAt means now. It returns the stored row. URI, Type, Host and Inbox
// are required (ErrInvalid): an actor we cannot deliver to is of no use.
func (s *Store) UpsertRemoteActor(ctx context.Context, a *RemoteActor) (*RemoteActor, error) {
	if a == nil || a.URI == "" || a.Type == "" || a.Host == "" || a.Inbox == "" {
		return nil, fmt.Errorf("remote actor needs uri, type, host and inbox: %w", ErrInvalid)
	}
	fetched := sql.NullTime{Time: a.FetchedAt, Valid: !a.FetchedAt.IsZero()}
	var out RemoteActor
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &out, `
			INSERT INTO remote_actors (uri, type, username, host, name, summary_html, url, icon_url,
				inbox, shared_inbox, followers_uri, key_id, public_key_pem, fetched_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, COALESCE($14, clock_timestamp()))
			ON CONFLICT (uri) DO UPDATE SET
				type = EXCLUDED.type, username = EXCLUDED.username, host = EXCLUDED.host,
				name = EXCLUDED.name, summary_html = EXCLUDED.summary_html, url = EXCLUDED.url,
				icon_url = EXCLUDED.icon_url, inbox = EXCLUDED.inbox, shared_inbox = EXCLUDED.shared_inbox,
				followers_uri = EXCLUDED.followers_uri, key_id = EXCLUDED.key_id,
				public_key_pem = EXCLUDED.public_key_pem, fetched_at = EXCLUDED.fetched_at
			RETURNING `+remoteActorColumns,
			a.URI, a.Type, a.Username, a.Host, a.Name, a.SummaryHTML, a.URL, a.IconURL,
			a.Inbox, a.SharedInbox, a.FollowersURI, a.KeyID, a.PublicKeyPEM, fetched)
		if err != nil {
			return fmt.Errorf("upsert remote actor: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoteActorByURI returns the actor whose ActivityPub id is uri.
func (s *Store) RemoteActorByURI(ctx context.Context, uri string) (*RemoteActor, error) {
	return s.remoteActorWhere(ctx, `uri = $1`, uri)
}

// RemoteActorByKeyID returns the actor whose stored key is keyID, the cache
// lookup of signature verification. Should two rows claim the same key (the
// resolver only stores keys on the actor's own host, so both would be on one
// server), the most recently fetched wins.
func (s *Store) RemoteActorByKeyID(ctx context.Context, keyID string) (*RemoteActor, error) {
	if keyID == "" {
		return nil, fmt.Errorf("remote actor %w", ErrNotFound)
	}
	return s.remoteActorWhere(ctx, `key_id = $1 ORDER BY fetched_at DESC, id DESC LIMIT 1`, keyID)
}

// RemoteActorByID returns the actor with the given row id.
func (s *Store) RemoteActorByID(ctx context.Context, id int64) (*RemoteActor, error) {
	return s.remoteActorWhere(ctx, `id = $1`, id)
}

func (s *Store) remoteActorWhere(ctx context.Context, where string, arg any) (*RemoteActor, error) {
	var a RemoteActor
	if err := s.db.GetContext(ctx, &a, `SELECT `+remoteActorColumns+` FROM remote_actors WHERE `+where, arg); err != nil {
		if isNoRows(err) {
			return nil, notFound(err, "remote actor")
		}
		return nil, fmt.Errorf("read remote actor: %w", err)
	}
	return &a, nil
}

// RemoteActorsByURIs returns the stored actors among uris, by URI: the
// batch form of RemoteActorByURI, for applying many activities at once.
func (s *Store) RemoteActorsByURIs(ctx context.Context, uris []string) (map[string]*RemoteActor, error) {
	out := make(map[string]*RemoteActor, len(uris))
	if len(uris) == 0 {
		return out, nil
	}
	var rows []RemoteActor
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+remoteActorColumns+` FROM remote_actors WHERE uri = ANY($1)`,
		pq.Array(uris)); err != nil {
		return nil, fmt.Errorf("read remote actors: %w", err)
	}
	for i := range rows {
		out[rows[i].URI] = &rows[i]
	}
	return out, nil
}
