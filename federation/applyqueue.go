package federation

import (
	"context"
	"sync"
	"time"

	ap "github.com/aistagram/aistagram/activitypub"
)

const (
	// reactionLinger is how long a stored reaction (a Like, the bulk of
	// what a viral post brings) may wait before its application is queued,
	// so that the group commits of a burst share one task. Measured with
	// the intake bench (scale 0.1): one task per group commit (about 30
	// Likes) cost PostgreSQL 200 µs per Like and took 3.6k Likes/s in;
	// 50 ms gathered about 280 per task, 107 µs each, 5.2k/s; 200 ms about
	// 550, 89 µs each, 5.6k/s. A Like counted a fifth of a second later
	// shows no one anything different. Everything else (Follows, replies,
	// Deletes) is queued with its own group commit, as it may fetch from
	// other servers and someone may be waiting on it.
	reactionLinger = 200 * time.Millisecond
	// maxApplyBatch bounds one application task by entries: its
	// transaction locks that many inbox rows and their posts.
	maxApplyBatch = 1024
	// maxApplyBytes bounds it by the bodies the worker reads at once.
	maxApplyBytes = 8 << 20
	// applyQueueTimeout bounds queueing one batch.
	applyQueueTimeout = 10 * time.Second
)

// stored is an inbox entry just stored, for the apply queue.
type stored struct {
	id       int64
	bytes    int
	reaction bool // a Like or an emoji reaction: applied in bulk (apply.go)
}

// lingers reports whether an activity of type t waits for others to be
// applied with: the types ApplyInboxBatch applies in one transaction.
func lingers(t ap.Type) bool { return t == ap.TypeLike || t == ap.TypeEmojiReact }

// applyQueue gathers the ids of newly stored reactions and queues their
// application in batches: a full batch at once, the rest reactionLinger
// after the first of them. The rows are durable before they get here, so
// ids lost with the process (a crash within the linger) are not lost work:
// the worker's sweep queues pending entries it finds idle.
type applyQueue struct {
	mu    sync.Mutex
	ids   []int64
	bytes int
	// gen numbers the timers: a timer flushes only if no full batch or
	// shutdown took its ids since it was armed.
	gen     uint64
	pending *time.Timer
	closed  bool           // after FlushApplies: queue at once
	flushes sync.WaitGroup // timer flushes under way
}

// queueApply queues the application of entries just stored.
func (s *Service) queueApply(entries []stored) {
	if len(entries) == 0 || s.cfg.Enqueuer == nil {
		return
	}
	var now []int64 // queued with this group commit
	q := &s.applies
	q.mu.Lock()
	for _, e := range entries {
		if !e.reaction || q.closed {
			now = append(now, e.id)
			continue
		}
		q.ids = append(q.ids, e.id)
		q.bytes += e.bytes
		if len(q.ids) >= maxApplyBatch || q.bytes >= maxApplyBytes {
			now = append(now, q.take()...)
		}
	}
	if len(q.ids) > 0 && q.pending == nil {
		gen := q.gen
		q.flushes.Add(1)
		q.pending = time.AfterFunc(s.applyLinger, func() {
			defer q.flushes.Done()
			s.lingered(gen)
		})
	}
	q.mu.Unlock()
	s.enqueueApplies(now)
}

// take empties the queue and disarms its timer; q.mu is held.
func (q *applyQueue) take() []int64 {
	ids := q.ids
	q.ids, q.bytes = nil, 0
	q.gen++
	if q.pending != nil {
		if q.pending.Stop() {
			q.flushes.Done() // its callback will never run
		}
		q.pending = nil
	}
	return ids
}

// lingered queues what waits, if the timer of generation gen is still
// the armed one.
func (s *Service) lingered(gen uint64) {
	q := &s.applies
	q.mu.Lock()
	var ids []int64
	if q.gen == gen {
		ids = q.take()
	}
	q.mu.Unlock()
	s.enqueueApplies(ids)
}

// FlushApplies queues the application of every stored entry still
// lingering, waits for queueing under way to finish, and has later ones
// queued at once. serve calls it on shutdown, after the HTTP server, so
// nothing waits for the sweep.
func (s *Service) FlushApplies() {
	q := &s.applies
	q.mu.Lock()
	q.closed = true
	ids := q.take()
	q.mu.Unlock()
	s.enqueueApplies(ids)
	q.flushes.Wait()
}

// enqueueApplies queues ids as tasks of at most maxApplyBatch entries.
func (s *Service) enqueueApplies(ids []int64) {
	for len(ids) > 0 {
		n := min(len(ids), maxApplyBatch)
		ctx, cancel := context.WithTimeout(context.Background(), applyQueueTimeout)
		if err := s.cfg.Enqueuer.ApplyInboxBatch(ctx, ids[:n]); err != nil {
			// Stored, so not lost: the sweep applies them later.
			s.log.WarnContext(ctx, "inbox apply not queued", "inbox_ids", n, "first", ids[0], "err", err)
		}
		cancel()
		ids = ids[n:]
	}
}
