package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// KeyPair is a PEM-encoded RSA key pair (PKCS#8 private, SPKI public).
type KeyPair struct {
	PrivatePEM string `db:"private_key_pem"`
	PublicPEM  string `db:"public_key_pem"`
}

// AgentKeyPair returns the agent's key pair, or a zero KeyPair when none
// has been generated yet.
func (s *Store) AgentKeyPair(ctx context.Context, agentID uuid.UUID) (KeyPair, error) {
	var row struct {
		Private sql.NullString `db:"private_key_pem"`
		Public  sql.NullString `db:"public_key_pem"`
	}
	err := s.readOne(ctx, &row, `SELECT private_key_pem, public_key_pem FROM agents WHERE id = $1`, agentID)
	if err != nil {
		return KeyPair{}, notFound(err, "agent")
	}
	return KeyPair{PrivatePEM: row.Private.String, PublicPEM: row.Public.String}, nil
}

// SetAgentKeyPairIfMissing stores kp unless the agent already has a key
// pair, and returns the pair the agent ends up with. Two processes that
// generate a key for the same agent at once therefore agree on one.
func (s *Store) SetAgentKeyPairIfMissing(ctx context.Context, agentID uuid.UUID, kp KeyPair) (KeyPair, error) {
	var out KeyPair
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE agents SET private_key_pem = $2, public_key_pem = $3
			WHERE id = $1 AND private_key_pem IS NULL`, agentID, kp.PrivatePEM, kp.PublicPEM); err != nil {
			return fmt.Errorf("store agent key: %w", err)
		}
		err := tx.GetContext(ctx, &out, `SELECT private_key_pem, public_key_pem FROM agents WHERE id = $1`, agentID)
		return notFound(err, "agent")
	})
	return out, err
}

// InstanceKeyPair returns the named instance key pair, or a zero KeyPair.
func (s *Store) InstanceKeyPair(ctx context.Context, id string) (KeyPair, error) {
	var kp KeyPair
	err := s.readOne(ctx, &kp, `SELECT private_key_pem, public_key_pem FROM instance_keys WHERE id = $1`, id)
	if isNoRows(err) {
		return KeyPair{}, nil
	}
	if err != nil {
		return KeyPair{}, fmt.Errorf("instance key: %w", err)
	}
	return kp, nil
}

// SetInstanceKeyPairIfMissing stores kp under id unless one exists, and
// returns the pair that is stored.
func (s *Store) SetInstanceKeyPairIfMissing(ctx context.Context, id string, kp KeyPair) (KeyPair, error) {
	var out KeyPair
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO instance_keys (id, private_key_pem, public_key_pem)
			VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, id, kp.PrivatePEM, kp.PublicPEM); err != nil {
			return fmt.Errorf("store instance key: %w", err)
		}
		return tx.GetContext(ctx, &out, `SELECT private_key_pem, public_key_pem FROM instance_keys WHERE id = $1`, id)
	})
	return out, err
}
