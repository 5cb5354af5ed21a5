package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Changes tells every process that the data changed, whichever process or
// worker changed it, so that responses cached in memory are never served
// after the rows they were built from. It counts a generation: every
// commit made through a Store that announces its commits
// (Store.AnnounceCommits) starts a new one in its own process at once, and
// in every other process when the announcement arrives.
//
// Announcements are a NOTIFY sent after the commit, in a transaction of
// their own, coalesced: while one is being sent, any number of further
// commits share the next. A NOTIFY inside the writing transaction (the
// first design: triggers) holds PostgreSQL's global notification lock
// through that transaction's commit and its WAL flush, so every writing
// transaction of the instance committed one after another; vote toggles
// and post creation ran at a fraction of the disk's group-commit rate.
// Each process LISTENs on a connection of its own. Rows changed without an
// announcement (by hand in psql, or by a process that died between its
// commit and the announcement) are seen when cached entries expire.
//
// While the listening connection is down announcements may be lost, so Live
// is false until it is back, and reconnecting starts a new generation:
// callers must not trust a cache while !Live.
//
// A commit may instead name the scopes it changed (AnnounceScopes): "feeds",
// "post:ID", "outbox:NAME". It then starts a new generation of those scopes
// only, and a cached answer that depends on the whole instance's generation
// and on one scope stays valid through commits that touched other scopes.
// Votes and comments are most of an instance's writes, and each emptied
// every cached actor, WebFinger answer and post of the instance; now each
// refreshes the feeds, its post and the post author's outbox. Any commit that names no scope
// (most of them) starts a new generation of everything, as before.
type Changes struct {
	dsn string
	log *slog.Logger
	gen atomic.Uint64
	// scopes are the scoped generations, a scope hashed to one of them: two
	// scopes sharing a slot only refresh each other's entries early.
	scopes [scopeSlots]atomic.Uint64
	seed   maphash.Seed
	// pendingMu guards what the next announcement says: everything, or
	// the union of the scopes committed since the last one.
	pendingMu     sync.Mutex
	pendingAll    bool
	pendingScopes map[string]struct{}
	// received counts the announcements heard, this process's own included.
	received atomic.Uint64
	// live is whether every announcement since the generation began was
	// received.
	live atomic.Bool
	// pending wakes the announcer; one slot, so commits arriving while an
	// announcement is being sent share the next one.
	pending chan struct{}
	// token marks this process's own announcements, which it skips: it
	// bumped its generation at commit already.
	token string
}

// changesChannel is the NOTIFY channel of the announcements. A payload is
// the announcing process's token, then either nothing (everything changed)
// or the scopes that changed, separated by spaces.
const changesChannel = "aistagram_changes"

const (
	// scopeSlots is how many scoped generations a process keeps.
	scopeSlots = 4096
	// maxAnnouncedScopes bounds one announcement's scopes (NOTIFY takes
	// under 8000 bytes); more in one announcement announce everything.
	maxAnnouncedScopes = 100
)

// announceQuery sends one announcement. The implicit transaction of this
// one simple-protocol query does not wait for its WAL flush (nothing is
// lost by a crash that forgets a notification: listeners reconnect, and
// reconnecting starts a new generation).
const announceQuery = `SET LOCAL synchronous_commit TO OFF; SELECT pg_notify('` + changesChannel + `', %s)`

// NewChanges prepares the announcer and listener on the database at dsn;
// Run starts them.
func NewChanges(dsn string, log *slog.Logger) *Changes {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Changes{dsn: dsn, log: log, pending: make(chan struct{}, 1), token: hex.EncodeToString(b),
		pendingScopes: map[string]struct{}{}, seed: maphash.MakeSeed()}
}

// Run announces this process's commits and listens for everyone else's
// until ctx ends, reconnecting as needed.
func (c *Changes) Run(ctx context.Context) error {
	db, err := sql.Open("postgres", c.dsn)
	if err != nil {
		return fmt.Errorf("open the announcer's connection: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	announced := make(chan struct{})
	go func() {
		defer close(announced)
		c.announce(ctx, db)
	}()
	defer func() { <-announced }()
	return c.listen(ctx)
}

// Announce tells the other processes that this one committed a change to
// anything. It never blocks: the announcement is sent in the background.
func (c *Changes) Announce() { c.AnnounceScopes(nil) }

// AnnounceScopes tells the other processes that this one committed a change
// to these scopes only; none means anything. Scopes hold no spaces. It
// never blocks.
func (c *Changes) AnnounceScopes(scopes []string) {
	c.pendingMu.Lock()
	switch {
	case c.pendingAll:
	case len(scopes) == 0:
		c.pendingAll = true
		clear(c.pendingScopes)
	default:
		for _, sc := range scopes {
			c.pendingScopes[sc] = struct{}{}
		}
		if len(c.pendingScopes) > maxAnnouncedScopes {
			c.pendingAll = true
			clear(c.pendingScopes)
		}
	}
	c.pendingMu.Unlock()
	select {
	case c.pending <- struct{}{}:
	default: // one is pending already, and will cover this commit too
	}
}

// takePending returns the payload of the next announcement, and clears it;
// false when there is nothing to announce (an earlier announcement took
// what this wake-up was for).
func (c *Changes) takePending() (string, bool) {
	c.pendingMu.Lock()
	defer c.pendingMu.Unlock()
	payload, some := c.token, c.pendingAll
	if !c.pendingAll && len(c.pendingScopes) > 0 {
		scopes := make([]string, 0, len(c.pendingScopes))
		for sc := range c.pendingScopes {
			scopes = append(scopes, sc)
		}
		payload += " " + strings.Join(scopes, " ")
		some = true
	}
	c.pendingAll = false
	clear(c.pendingScopes)
	return payload, some
}

// announce sends an announcement whenever one is pending.
func (c *Changes) announce(ctx context.Context, db *sql.DB) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.pending:
		}
		payload, ok := c.takePending()
		if !ok {
			continue
		}
		query := fmt.Sprintf(announceQuery, pq.QuoteLiteral(payload))
		for attempt := 0; ; attempt++ {
			_, err := db.ExecContext(ctx, query)
			if err == nil || ctx.Err() != nil {
				break
			}
			// Other processes keep serving what they cached until this
			// gets through or their entries expire.
			if attempt == 0 {
				c.log.Warn("change announcement failed; retrying", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, 5*time.Second)):
			}
		}
	}
}

// listen receives every process's announcements.
func (c *Changes) listen(ctx context.Context) error {
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
	c.Bump()
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
				c.Bump()
				c.live.Store(true)
				c.log.Info("change notifications resumed")
				continue
			}
			c.received.Add(1)
			token, scopes, _ := strings.Cut(n.Extra, " ")
			switch {
			case token == c.token: // bumped at commit already
			case strings.TrimSpace(scopes) == "":
				c.Bump()
			default:
				c.BumpScopes(strings.Fields(scopes))
			}
		}
	}
}

// Live reports whether every change since the generation began was
// announced.
func (c *Changes) Live() bool { return c.live.Load() }

// Received is how many announcements this process has heard, its own
// included: a process's own announcement is heard but starts no generation.
func (c *Changes) Received() uint64 { return c.received.Load() }

// Generation grows whenever anything changes.
func (c *Changes) Generation() uint64 { return c.gen.Load() }

// Bump starts a new generation at once. Writers call it right after their
// own commit (Store.AnnounceCommits), so their next read is fresh without
// waiting for any notification.
func (c *Changes) Bump() { c.gen.Add(1) }

// ScopeGeneration grows whenever scope changes (and perhaps when another
// scope sharing its slot does). A cached answer about one scope is valid
// while both Generation and its ScopeGeneration are what they were when it
// was read.
func (c *Changes) ScopeGeneration(scope string) uint64 { return c.scopes[c.scopeSlot(scope)].Load() }

// BumpScopes starts a new generation of each scope at once, as Bump does
// of everything.
func (c *Changes) BumpScopes(scopes []string) {
	for _, sc := range scopes {
		c.scopes[c.scopeSlot(sc)].Add(1)
	}
}

// scopeSlot hashes a scope to its slot (the seed is this process's own:
// scopes travel between processes by name).
func (c *Changes) scopeSlot(scope string) int {
	return int(maphash.String(c.seed, scope) % scopeSlots)
}
