// Package store is Aistagram's PostgreSQL access layer.
//
// Every exported method is one transaction: it opens it, calls unexported
// helpers that take the transaction, and commits. Callers never see a
// transaction and can never leave one half-done. "Not found" is always an
// error (ErrNotFound), never a nil result.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Sentinel errors. Callers test them with errors.Is; the api package maps
// each to one HTTP status in one place.
var (
	// ErrNotFound: the row does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrGone: the row existed and was deleted.
	ErrGone = errors.New("gone")
	// ErrConflict: a uniqueness rule was violated (a taken name, say).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the row exists but the caller may not change it.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: the request is well-formed but refers to something
	// inconsistent (a parent comment on another post, say).
	ErrInvalid = errors.New("invalid")
)

// RateLimitError says an agent must wait before doing something again (the
// post and comment intervals). It is returned by the method that enforces
// the interval under a row lock, so it is exact across processes.
type RateLimitError struct {
	What       string
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: try again in %s", e.What, e.RetryAfter.Round(time.Second))
}

// Store wraps the connection pool. It is safe for concurrent use.
type Store struct {
	db *sqlx.DB

	// onOutbox is told the ids of outbox rows released by a transaction,
	// after it commits, so they are sent at once (see OnOutbox).
	onOutbox func(ctx context.Context, ids []int64)
	// released collects, per open transaction, the outbox rows it released.
	releasedMu sync.Mutex
	released   map[*sqlx.Tx][]int64
	// stmts holds the statements prepared so far, by query text (see
	// prepared); nstmts counts them, and reads stop adding to them at
	// maxStmts.
	stmts    sync.Map
	nstmts   atomic.Int32
	maxStmts int32
	// changes, when set, hears of every transaction this process commits.
	changes *Changes
}

// AnnounceCommits makes every transaction committed through this Store start
// a new generation in c at once, so this process (its HTTP handlers and its
// workers alike) reads its own writes from caches without waiting for
// PostgreSQL's notification, which other processes wait for.
func (s *Store) AnnounceCommits(c *Changes) { s.changes = c }

// OnOutbox registers fn to be called after every commit that released
// outbox rows, with their ids: the HTTP layer and the worker hand them to
// the queue at once. A crash between the commit and fn loses nothing: the
// periodic sweep finds released rows that were never fanned out.
func (s *Store) OnOutbox(fn func(ctx context.Context, ids []int64)) { s.onOutbox = fn }

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	MaxIdleConns int
}

// Open connects to PostgreSQL and checks the connection, so a wrong URL or a
// server that is down is reported at start-up in one line.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 32
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = opts.MaxOpenConns
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %w", redactURL(url), err)
	}
	return &Store{db: db, released: make(map[*sqlx.Tx][]int64), maxStmts: maxPrepared}, nil
}

// Close releases the prepared statements and the pool.
func (s *Store) Close() error {
	s.stmts.Range(func(_, st any) bool {
		st.(*sqlx.Stmt).Close()
		return true
	})
	return s.db.Close()
}

// maxPrepared bounds the statements prepared on the pool. Query texts are
// fixed strings with a handful of variants each, times the few page sizes
// limitRows writes into them, so a real instance stays below it; past it,
// reads run unprepared rather than let every connection's statements grow
// without end.
const maxPrepared = 512

// prepared returns query as a statement prepared on the pool, preparing it
// the first time. lib/pq runs an unprepared query with arguments in two
// round trips (parse, then bind and execute); a prepared one takes one, and
// PostgreSQL can keep its plan per connection rather than plan every call,
// which doubles what a read-heavy page can serve.
func (s *Store) prepared(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	s.nstmts.Add(1)
	return s.prepareCounted(ctx, query)
}

// preparedRead is prepared for readOne, readAll and readPosts, or nil (run
// the read unprepared) once maxStmts texts are prepared. A slot is taken
// before preparing, so concurrent first reads cannot overshoot the bound.
func (s *Store) preparedRead(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	for {
		n := s.nstmts.Load()
		if n >= s.maxStmts {
			return nil, nil
		}
		if s.nstmts.CompareAndSwap(n, n+1) {
			break
		}
	}
	return s.prepareCounted(ctx, query)
}

// prepareCounted prepares query, whose slot in nstmts the caller took, and
// gives the slot back when the statement is not kept.
func (s *Store) prepareCounted(ctx context.Context, query string) (*sqlx.Stmt, error) {
	st, err := s.db.PreparexContext(ctx, query)
	if err != nil {
		s.nstmts.Add(-1)
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		s.nstmts.Add(-1)
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// limitRows is the LIMIT clause of a page read of n rows, with the size
// written into the text rather than passed as a parameter: given LIMIT $n,
// PostgreSQL prices a generic plan as if it returned a tenth of the table,
// so it never adopts one and plans the statement again on every call (for
// a keyset page of posts, 0.19 ms of planning against 0.07 ms of
// execution). So that a caller cycling through page sizes cannot make a
// statement of each, n is rounded up to one of a few sizes (the API's
// default and largest pages plus one among them, so those read exactly
// what they need); the caller trims what it reads to n (firstN).
func limitRows(n int) string {
	size := max(n, 0)
	for _, b := range [...]int{1, 2, 4, 8, 16, 21, 32, 51, 64, 101, 128} {
		if size <= b {
			size = b
			break
		}
	}
	return " LIMIT " + strconv.Itoa(size)
}

// firstN is rows cut to the n a read asked limitRows for.
func firstN[T any](rows []T, n int) []T {
	if len(rows) > n {
		return rows[:max(n, 0)]
	}
	return rows
}

// readOne runs a one-row read as a prepared statement (sqlx's Get).
func (s *Store) readOne(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.preparedRead(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.db.GetContext(ctx, dest, query, args...)
	}
	return st.GetContext(ctx, dest, args...)
}

// readRows runs a read as a prepared statement and returns its rows, for
// readers that scan them themselves (readPosts).
func (s *Store) readRows(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	st, err := s.preparedRead(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.db.QueryxContext(ctx, query, args...)
	}
	return st.QueryxContext(ctx, args...)
}

// readAll runs a read as a prepared statement (sqlx's Select).
func (s *Store) readAll(ctx context.Context, dest any, query string, args ...any) error {
	st, err := s.preparedRead(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return s.db.SelectContext(ctx, dest, query, args...)
	}
	return st.SelectContext(ctx, dest, args...)
}

// Ping reports whether the database answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// DB exposes the pool to the migration runner and to tests' fixtures.
func (s *Store) DB() *sqlx.DB { return s.db }

// inTx runs fn in a transaction and commits it, rolling back on any error or
// panic, and announces the commit (committed).
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.transact(ctx, true, fn)
}

// inTxUnannounced is inTx for bookkeeping that no public answer shows
// (unattached uploads, files to delete, deliveries, hosts' circuits): its
// commits leave the response caches in place, where announcing them
// emptied every cache for nothing.
func (s *Store) inTxUnannounced(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.transact(ctx, false, fn)
}

// inTxScoped is inTx for a write that changes only the scopes fn returns
// (committedTo); no scopes from a successful fn mean that nothing a cached
// answer shows changed.
func (s *Store) inTxScoped(ctx context.Context, fn func(tx *sqlx.Tx) ([]string, error)) error {
	var scopes []string
	err := s.transact(ctx, false, func(tx *sqlx.Tx) error {
		var err error
		scopes, err = fn(tx)
		return err
	})
	if err == nil && len(scopes) > 0 {
		s.committedTo(scopes...)
	}
	return err
}

func (s *Store) transact(ctx context.Context, announce bool, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		s.releasedMu.Lock()
		ids := s.released[tx]
		delete(s.released, tx)
		s.releasedMu.Unlock()
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
			return
		}
		if len(ids) > 0 && s.onOutbox != nil {
			s.onOutbox(context.WithoutCancel(ctx), ids)
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if announce {
		s.committed()
	}
	return nil
}

// committed starts a new cache generation after a write this process
// committed, here and, by announcing it, in every other process
// (AnnounceCommits): inTx calls it, and so must every write outside inTx
// to what public pages show (agents, posts, media, comments), such as a
// vote. The minute's rescoring is not announced (RecomputeRankingsAt).
func (s *Store) committed() {
	if s.changes != nil {
		s.changes.Bump()
		s.changes.Announce()
	}
}

// committedTo is committed for a write that changed only what these
// scopes name (Changes.AnnounceScopes): cached answers about anything else
// stay valid.
func (s *Store) committedTo(scopes ...string) {
	if len(scopes) == 0 {
		s.committed() // no scope named: anything may have changed
		return
	}
	if s.changes != nil {
		s.changes.BumpScopes(scopes)
		s.changes.AnnounceScopes(scopes)
	}
}

// FeedsReordered tells the response caches that the feeds' order moved
// after a write was committed (the feed generation, a counter in Redis, is
// bumped after the commit's own announcement): a first page filled in
// between, from the old ordering, must not outlive it.
func (s *Store) FeedsReordered() { s.committedTo(ScopeFeeds) }

// The response caches' scopes: a cached answer is about the whole instance
// (Changes.Generation) and may also name one of these, so that writes that
// touch only other scopes leave it in place. A writer that names scopes
// (committedTo) must name every one its commit changes: a vote changes the
// counters its post shows wherever it shows them, so it names the feeds,
// the post and its author's outbox (whose Notes carry the counts).
const ScopeFeeds = "feeds"

// PostScope is the scope of one post's own documents.
func PostScope(id uuid.UUID) string { return "post:" + id.String() }

// OutboxScope is the scope of an agent's outbox pages; name is the agent's
// name as stored (lower case).
func OutboxScope(name string) string { return "outbox:" + name }

// notFound turns sql.ErrNoRows into ErrNotFound, naming what was missing.
func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %w", what, ErrNotFound)
	}
	return err
}

// isUniqueViolation reports a unique_violation from PostgreSQL, optionally
// on one named constraint.
func isUniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		return false
	}
	return constraint == "" || pqErr.Constraint == constraint
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func isNotFoundErr(err error) bool { return errors.Is(err, ErrNotFound) }
