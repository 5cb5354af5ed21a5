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
	// shows no one anything different.
	reactionLinger = 200 * time.Millisecond
	// maxApplyBatch and maxApplyBytes bound the reactions gathered for one
	// task, by entries (its transaction locks that many inbox rows and
	// their posts) and by the bodies the worker reads at once. A task may
	// also carry one group commit's other entries (see queueApply), so
	// these bound it to within one group commit.
	maxApplyBatch = 1024
	maxApplyBytes = 8 << 20
	// applyQueueTimeout bounds queueing one task.
	applyQueueTimeout = 10 * time.Second
)

// stored is an inbox entry just stored, for the apply queue.
type stored struct {
	id    int64
	bytes int
	// lingers: a Like, an emoji reaction or an Undo (of one, as often as
	// not), which may wait for others to be applied with.
	lingers bool
}

// lingers reports whether an activity of type t may wait to be applied
// with others: the reactions ApplyInboxBatch applies in one transaction,
// and Undo, which must not overtake the reaction it takes back.
func lingers(t ap.Type) bool {
	return t == ap.TypeLike || t == ap.TypeEmojiReact || t == ap.TypeUndo
}

// applyQueue gathers the ids of newly stored reactions and queues their
// application in batches: a full batch at once, the rest reactionLinger
// after the first of them. Anything else (a Follow, a reply, a Delete,
// which may fetch from other servers and which someone may be waiting on)
// is queued with its group commit, in one task with the reactions waiting
// before it: a task is applied in the order it was received, so an
// actor's Delete never lands before its Likes. The rows are durable before
// they get here, so ids lost with the process (a crash within the linger)
// are not lost work: the worker's sweep queues pending entries it finds
// idle.
type applyQueue struct {
	mu    sync.Mutex
	ids   []int64
	bytes int
	// gen numbers the timers: a timer flushes only if no full batch,
	// other entry or shutdown took its ids since it was armed.
	gen     uint64
	pending *time.Timer
	closed  bool           // after FlushApplies: queue at once
	flushes sync.WaitGroup // timer flushes under way
}

// queueApply queues the application of entries just stored, in the
// order they were stored.
func (s *Service) queueApply(entries []stored) {
	if len(entries) == 0 || s.cfg.Enqueuer == nil {
		return
	}
	// The tasks to queue now, in receipt order. Consecutive small ones (a
	// group commit of Follows makes one each) are joined while the result
	// stays within maxApplyBatch.
	var tasks [][]int64
	add := func(ids []int64) {
		if n := len(tasks); n > 0 && len(tasks[n-1])+len(ids) <= maxApplyBatch {
			tasks[n-1] = append(tasks[n-1], ids...)
			return
		}
		tasks = append(tasks, ids)
	}
	q := &s.applies
	q.mu.Lock()
	for _, e := range entries {
		if !e.lingers || q.closed {
			// With whatever waits before it, in one task.
			add(append(q.take(), e.id))
			continue
		}
		q.ids = append(q.ids, e.id)
		q.bytes += e.bytes
		if len(q.ids) >= maxApplyBatch || q.bytes >= maxApplyBytes {
			add(q.take())
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
	for _, ids := range tasks {
		s.enqueueApply(ids)
	}
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
	s.enqueueApply(ids)
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
	s.enqueueApply(ids)
	q.flushes.Wait()
}

// enqueueApply queues ids as one task: they were received in that order
// and are applied in it.
func (s *Service) enqueueApply(ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), applyQueueTimeout)
	defer cancel()
	if err := s.cfg.Enqueuer.ApplyInboxBatch(ctx, ids); err != nil {
		// Stored, so not lost: the sweep applies them later.
		s.log.WarnContext(ctx, "inbox apply not queued", "inbox_ids", len(ids), "first", ids[0], "err", err)
	}
}
