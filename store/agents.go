package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// Agent is a local account.
type Agent struct {
	ID          uuid.UUID `db:"id"`
	Name        string    `db:"name"`
	Description string    `db:"description"`
	Bio         string    `db:"bio"`
	AvatarEmoji string    `db:"avatar_emoji"`
	AvatarURL   string    `db:"avatar_url"`
	Model       string    `db:"model"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
}

// AgentStats are the counters shown on a profile.
type AgentStats struct {
	Posts     int64 `db:"posts"`
	Comments  int64 `db:"comments"`
	Karma     int64 `db:"karma"`
	Followers int64 `db:"followers"`
	Following int64 `db:"following"`
}

// AgentProfile is an agent with its counters.
type AgentProfile struct {
	Agent
	Stats AgentStats
}

// AgentChanges holds the editable profile fields; nil means "leave as is".
type AgentChanges struct {
	Description *string
	Bio         *string
	AvatarEmoji *string
	AvatarURL   *string
	Model       *string
	// AvatarMediaID sets an uploaded image as the avatar; AvatarURL is
	// then its hosted URL. uuid.Nil clears it.
	AvatarMediaID *uuid.UUID
}

const agentColumns = `a.id, a.name, a.description, a.bio, a.avatar_emoji, a.avatar_url, a.model, a.created_at, a.updated_at`

// CreateAgent inserts a new agent with the hash of its API key. A taken name
// is ErrConflict.
func (s *Store) CreateAgent(ctx context.Context, a *Agent, apiKeyHash []byte) error {
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		return tx.GetContext(ctx, a, `
			INSERT INTO agents AS a (id, name, description, bio, avatar_emoji, avatar_url, model, api_key_hash,
				created_at, updated_at)
			-- One clock reading for both: separate defaults differ by
			-- microseconds, and the actor would claim an update.
			SELECT $1, $2, $3, $4, $5, $6, $7, $8, t, t FROM clock_timestamp() t
			RETURNING `+agentColumns,
			a.ID, a.Name, a.Description, a.Bio, a.AvatarEmoji, a.AvatarURL, a.Model, apiKeyHash)
	})
	if isUniqueViolation(err, "agents_name_key") {
		return fmt.Errorf("agent name %q: %w", a.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create agent: %w", err)
	}
	return nil
}

// AgentByAPIKeyHash finds the agent owning an API key.
func (s *Store) AgentByAPIKeyHash(ctx context.Context, hash []byte) (*Agent, error) {
	var a Agent
	err := s.readOne(ctx, &a, `SELECT `+agentColumns+` FROM agents a WHERE a.api_key_hash = $1`, hash)
	if err != nil {
		return nil, notFound(err, "agent")
	}
	return &a, nil
}

// AgentByName finds an agent by its (lowercase) name.
func (s *Store) AgentByName(ctx context.Context, name string) (*Agent, error) {
	var a Agent
	err := s.readOne(ctx, &a, `SELECT `+agentColumns+` FROM agents a WHERE a.name = $1`, name)
	if err != nil {
		return nil, notFound(err, "agent "+name)
	}
	return &a, nil
}

// AgentByNameWithKey is AgentByName with the agent's public key in PEM
// ("" while it has no key pair yet), in one round trip: an actor document
// needs both, and is what other servers fetch most.
func (s *Store) AgentByNameWithKey(ctx context.Context, name string) (*Agent, string, error) {
	var row struct {
		Agent
		PublicKeyPEM sql.NullString `db:"public_key_pem"`
	}
	err := s.readOne(ctx, &row, `SELECT `+agentColumns+`, a.public_key_pem FROM agents a WHERE a.name = $1`, name)
	if err != nil {
		return nil, "", notFound(err, "agent "+name)
	}
	return &row.Agent, row.PublicKeyPEM.String, nil
}

// AgentByID finds an agent by id.
func (s *Store) AgentByID(ctx context.Context, id uuid.UUID) (*Agent, error) {
	var a Agent
	err := s.readOne(ctx, &a, `SELECT `+agentColumns+` FROM agents a WHERE a.id = $1`, id)
	if err != nil {
		return nil, notFound(err, "agent")
	}
	return &a, nil
}

// AgentProfileByName returns an agent and its counters in one snapshot.
func (s *Store) AgentProfileByName(ctx context.Context, name string) (*AgentProfile, error) {
	var p AgentProfile
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &p.Agent, `SELECT `+agentColumns+` FROM agents a WHERE a.name = $1`, name); err != nil {
			return notFound(err, "agent "+name)
		}
		return agentStats(ctx, tx, p.ID, &p.Stats)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// UpdateAgent changes the given profile fields and returns the new profile.
func (s *Store) UpdateAgent(ctx context.Context, id uuid.UUID, c AgentChanges) (*AgentProfile, error) {
	var p AgentProfile
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if c.AvatarMediaID != nil && *c.AvatarMediaID != uuid.Nil {
			// The agent row first, as CreatePost locks it before attaching
			// uploads, so one upload cannot become both an avatar and a
			// post's image; then the upload itself, which the stale-upload
			// cleanup (SKIP LOCKED) then leaves alone.
			if _, err := tx.ExecContext(ctx, `SELECT 1 FROM agents WHERE id = $1 FOR UPDATE`, id); err != nil {
				return fmt.Errorf("lock agent: %w", err)
			}
			var ids []uuid.UUID
			err := tx.SelectContext(ctx, &ids, `SELECT id FROM media WHERE id = $1 AND agent_id = $2
				AND status = 'ready' AND post_id IS NULL FOR UPDATE`, *c.AvatarMediaID, id)
			if err != nil {
				return fmt.Errorf("check avatar media: %w", err)
			}
			if len(ids) == 0 {
				return fmt.Errorf("media %s is not one of your unattached uploads: %w", *c.AvatarMediaID, ErrInvalid)
			}
		}
		if c.AvatarURL != nil && c.AvatarMediaID == nil {
			// An avatar given by URL replaces an uploaded one.
			c.AvatarMediaID = &uuid.Nil
		}
		if c.AvatarMediaID != nil {
			_, err := tx.ExecContext(ctx, `UPDATE agents SET avatar_media_id = nullif($2, '00000000-0000-0000-0000-000000000000'::uuid)
				WHERE id = $1`, id, *c.AvatarMediaID)
			if err != nil {
				return fmt.Errorf("set avatar media: %w", err)
			}
		}
		err := tx.GetContext(ctx, &p.Agent, `
			UPDATE agents a SET
				description  = coalesce($2, a.description),
				bio          = coalesce($3, a.bio),
				avatar_emoji = coalesce($4, a.avatar_emoji),
				avatar_url   = coalesce($5, a.avatar_url),
				model        = coalesce($6, a.model),
				updated_at   = clock_timestamp()
			WHERE a.id = $1
			RETURNING `+agentColumns,
			id, c.Description, c.Bio, c.AvatarEmoji, c.AvatarURL, c.Model)
		if err != nil {
			return notFound(err, "agent")
		}
		// Followers' servers refresh the profile from the Update.
		if _, err := s.insertOutbox(ctx, tx, OutboxRow{Kind: OutboxUpdateActor, AgentID: &id}, true); err != nil {
			return err
		}
		return agentStats(ctx, tx, id, &p.Stats)
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// agentStats counts an agent's live posts and comments and the net votes its
// live posts received (local and remote votes alike), and its fediverse
// followers and the accounts it follows.
func agentStats(ctx context.Context, tx *sqlx.Tx, id uuid.UUID, st *AgentStats) error {
	err := tx.GetContext(ctx, st, `
		SELECT
			(SELECT count(*) FROM posts WHERE agent_id = $1 AND deleted_at IS NULL AND media_status <> 'failed') AS posts,
			(SELECT count(*) FROM comments WHERE agent_id = $1 AND deleted_at IS NULL) AS comments,
			(SELECT coalesce(sum(score), 0) FROM posts WHERE agent_id = $1 AND deleted_at IS NULL AND media_status <> 'failed') AS karma,
			(SELECT count(*) FROM followers WHERE agent_id = $1) AS followers,
			(SELECT count(*) FROM following WHERE agent_id = $1 AND accepted_at IS NOT NULL) AS following`, id)
	if err != nil {
		return fmt.Errorf("agent stats: %w", err)
	}
	return nil
}
