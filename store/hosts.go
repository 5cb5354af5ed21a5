package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// HostHealth is what the circuit breaker knows about a remote server.
type HostHealth struct {
	Host             string     `db:"host"`
	Failures         int        `db:"failures"`
	FirstFailureAt   *time.Time `db:"first_failure_at"`
	UnavailableUntil *time.Time `db:"unavailable_until"`
}

// HostUnavailableUntil returns when a host that keeps failing may be tried
// again, or the zero time when it is available.
func (s *Store) HostUnavailableUntil(ctx context.Context, host string) (time.Time, error) {
	var until *time.Time
	err := s.db.GetContext(ctx, &until, `SELECT unavailable_until FROM hosts WHERE host = $1`, host)
	if isNoRows(err) || (err == nil && until == nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("host health: %w", err)
	}
	return *until, nil
}

// BreakerPolicy decides when a failing host is taken out of rotation.
type BreakerPolicy struct {
	// Threshold is how many consecutive failed attempts open the circuit.
	Threshold int
	// Cooldown is how long the first opening lasts; each further failure
	// while open doubles it, up to MaxCooldown.
	Cooldown    time.Duration
	MaxCooldown time.Duration
}

// RecordHostFailure counts a failed attempt and, past the threshold, marks
// the host unavailable. It returns when the host may be tried again (zero
// while the circuit is still closed).
func (s *Store) RecordHostFailure(ctx context.Context, host string, p BreakerPolicy) (time.Time, error) {
	var until time.Time
	err := s.inTxUnannounced(ctx, func(tx *sqlx.Tx) error {
		var h HostHealth
		err := tx.GetContext(ctx, &h, `INSERT INTO hosts (host, failures, first_failure_at, last_failure_at)
			VALUES ($1, 1, clock_timestamp(), clock_timestamp())
			ON CONFLICT (host) DO UPDATE SET failures = hosts.failures + 1,
				first_failure_at = coalesce(hosts.first_failure_at, clock_timestamp()),
				last_failure_at = clock_timestamp()
			RETURNING host, failures, first_failure_at, unavailable_until`, host)
		if err != nil {
			return fmt.Errorf("record host failure: %w", err)
		}
		if h.Failures < p.Threshold {
			return nil
		}
		// Open (or keep open, longer) the circuit.
		over := h.Failures - p.Threshold
		cool := p.Cooldown << min(over, 16)
		if cool > p.MaxCooldown || cool <= 0 {
			cool = p.MaxCooldown
		}
		return tx.GetContext(ctx, &until, `UPDATE hosts SET unavailable_until = clock_timestamp() + $2 * interval '1 millisecond'
			WHERE host = $1 RETURNING unavailable_until`, host, cool.Milliseconds())
	})
	return until, err
}

// RecordHostSuccess closes the circuit: the host answered.
func (s *Store) RecordHostSuccess(ctx context.Context, host string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE hosts SET failures = 0, first_failure_at = NULL, unavailable_until = NULL,
		last_success_at = clock_timestamp() WHERE host = $1 AND (failures > 0 OR unavailable_until IS NOT NULL)`, host)
	if err != nil {
		return fmt.Errorf("record host success: %w", err)
	}
	return nil
}
