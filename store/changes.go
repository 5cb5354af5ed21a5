package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Changes tells this process that a table changed, whichever process or
// worker changed it, so that responses cached in memory are never served
// after the rows they were built from. A statement-level trigger on each
// watched table (migrations/0011_change_notify.sql) NOTIFYs the table's
// name; PostgreSQL delivers it when, and only if, the transaction commits,
// once per transaction however many rows it touched. Changes LISTENs on a
// connection of its own and counts a generation per table.
//
// While that connection is down notifications may be lost, so Live is
// false until it is back, and reconnecting starts a new generation of
// every table: callers must not trust a cache while !Live.
type Changes struct {
	dsn  string
	log  *slog.Logger
	gens map[string]*atomic.Uint64
	live atomic.Bool
}

// changesChannel is the NOTIFY channel of the triggers.
const changesChannel = "aistagram_changes"

// Tables whose changes are announced (the triggers exist on exactly these).
const (
	TableAgents = "agents"
	TablePosts  = "posts"
	TableMedia  = "media"
)

// NewChanges prepares a listener on the database at dsn; Run starts it.
func NewChanges(dsn string, log *slog.Logger) *Changes {
	c := &Changes{dsn: dsn, log: log, gens: map[string]*atomic.Uint64{}}
	for _, t := range []string{TableAgents, TablePosts, TableMedia} {
		c.gens[t] = new(atomic.Uint64)
	}
	return c
}

// Run listens until ctx ends, reconnecting as needed.
func (c *Changes) Run(ctx context.Context) error {
	l := pq.NewListener(c.dsn, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			if c.live.Swap(false) {
				c.log.Warn("change notifications interrupted; in-memory caches are off until they resume", "err", err)
			}
		}
	})
	defer l.Close()
	listened := make(chan error, 1)
	go func() { listened <- l.Listen(changesChannel) }()
	select {
	case err := <-listened:
		if err != nil {
			return fmt.Errorf("listen for changes: %w", err)
		}
	case <-ctx.Done():
		return nil
	}
	c.BumpAll()
	c.live.Store(true)

	for {
		select {
		case <-ctx.Done():
			c.live.Store(false)
			return nil
		case n := <-l.Notify:
			if n == nil {
				// Reconnected (and listening again): whatever changed
				// meanwhile went unannounced.
				c.BumpAll()
				c.live.Store(true)
				c.log.Info("change notifications resumed")
				continue
			}
			c.Bump(n.Extra)
		}
	}
}

// Live reports whether every change since the last generation was
// announced.
func (c *Changes) Live() bool { return c.live.Load() }

// Generation is the sum of the named tables' generations: it grows
// whenever any of them changes. Unknown names count nothing.
func (c *Changes) Generation(tables ...string) uint64 {
	var g uint64
	for _, t := range tables {
		if n, ok := c.gens[t]; ok {
			g += n.Load()
		}
	}
	return g
}

// Bump starts a new generation of a table at once. Writers call it right
// after their own commit, so their next read is fresh without waiting for
// the notification.
func (c *Changes) Bump(table string) {
	if n, ok := c.gens[table]; ok {
		n.Add(1)
	}
}

// BumpAll starts a new generation of every table.
func (c *Changes) BumpAll() {
	for _, n := range c.gens {
		n.Add(1)
	}
}
