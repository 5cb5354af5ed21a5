package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// Task types of the federation queue.
const (
	// TypeApplyInbox applies one verified inbox entry.
	TypeApplyInbox = "federation:apply"
	// TypeFanOut turns one outbox row into deliveries.
	TypeFanOut = "federation:fanout"
	// TypeDeliver makes one delivery attempt; retried for about two days.
	TypeDeliver = "federation:deliver"
	// TypeDeliverBatch makes the first attempt of up to deliverBatch
	// deliveries of one fan-out; each that must be tried again continues
	// as a TypeDeliver task of its own.
	TypeDeliverBatch = "federation:deliver-batch"
	// TypeSweep re-queues what a crash or a lost Redis left behind:
	// released outbox rows never fanned out, deliveries and inbox entries
	// whose tasks are gone. PostgreSQL holds the intent; this restores the
	// work.
	TypeSweep = "federation:sweep"
)

// DeliveryRetries is the retry budget of a delivery: with Mastodon's
// backoff (n⁴ + 15 s, plus jitter) 16 retries span about two days.
const DeliveryRetries = 16

// breaker is when a host is taken out of rotation: 10 consecutive failed
// attempts open its circuit for 10 minutes, doubling while it keeps
// failing, up to 12 hours; any success (or any signed POST from it) closes
// it.
var breaker = store.BreakerPolicy{Threshold: 10, Cooldown: 10 * time.Minute, MaxCooldown: 12 * time.Hour}

// IDPayload names one row of a federation table.
type IDPayload struct {
	Version int   `json:"v"`
	ID      int64 `json:"id"`
}

func idPayload(id int64) []byte {
	b, _ := json.Marshal(IDPayload{Version: 1, ID: id})
	return b
}

func parseID(t *asynq.Task) (int64, error) {
	var p IDPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ID <= 0 {
		return 0, fmt.Errorf("bad %s payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p.ID, nil
}

// federationTaskOptions are the retry budget and time limit of each
// federation task type.
func federationTaskOptions(typ string) []asynq.Option {
	switch typ {
	case TypeApplyInbox:
		return []asynq.Option{asynq.MaxRetry(8), asynq.Timeout(2 * time.Minute)}
	case TypeFanOut:
		return []asynq.Option{asynq.MaxRetry(20), asynq.Timeout(5 * time.Minute)}
	default:
		return []asynq.Option{asynq.MaxRetry(DeliveryRetries), asynq.Timeout(time.Minute)}
	}
}

// enqueueOnce queues a task whose id is derived from its row, so that the
// sweep re-queuing a row whose task still exists is a no-op.
func (c *Client) enqueueOnce(ctx context.Context, typ string, id int64) error {
	return c.enqueueWithID(ctx, typ, id, typ+":"+strconv.FormatInt(id, 10))
}

func (c *Client) enqueueWithID(ctx context.Context, typ string, id int64, taskID string) error {
	if err := c.requeue(ctx, typ, idPayload(id), taskID); err != nil {
		return fmt.Errorf("enqueue %s %d: %w", typ, id, err)
	}
	return nil
}

// requeue queues a federation task with the given payload and task id; a
// task with that id already queued counts as done.
func (c *Client) requeue(ctx context.Context, typ string, payload []byte, taskID string, extra ...asynq.Option) error {
	opts := append([]asynq.Option{asynq.TaskID(taskID), asynq.Queue(QueueFederation)}, federationTaskOptions(typ)...)
	opts = append(opts, extra...)
	_, err := c.c.EnqueueContext(ctx, asynq.NewTask(typ, payload), opts...)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// ApplyInbox queues an inbox entry (federation.Enqueuer).
func (c *Client) ApplyInbox(ctx context.Context, inboxID int64) error {
	return c.enqueueOnce(ctx, TypeApplyInbox, inboxID)
}

// BatchPayload names the rows one task works on: inbox entries applied
// together (received together, or reactions gathered for up to 200 ms:
// federation/applyqueue.go; the sweep's re-queues) or deliveries
// attempted together. One task per batch instead of per row
// keeps Redis out of the way. ID is the first of IDs, so code that reads
// every federation payload as an IDPayload still finds a row.
type BatchPayload struct {
	Version int     `json:"v"`
	ID      int64   `json:"id"`
	IDs     []int64 `json:"ids"`
}

// enqueueBatch queues one task of type typ for several rows. Its task id
// is derived from the rows, so queueing the same batch twice is a no-op.
func (c *Client) enqueueBatch(ctx context.Context, typ string, ids []int64) error {
	b, err := json.Marshal(BatchPayload{Version: 1, ID: ids[0], IDs: ids})
	if err != nil {
		return fmt.Errorf("encode %s batch: %w", typ, err)
	}
	taskID := fmt.Sprintf("%s:%d+%d", typ, ids[0], len(ids))
	if err := c.requeue(ctx, typ, b, taskID); err != nil {
		return fmt.Errorf("enqueue %s batch of %d from %d: %w", typ, len(ids), ids[0], err)
	}
	return nil
}

// ApplyInboxBatch queues inbox entries as one task (federation.Enqueuer).
func (c *Client) ApplyInboxBatch(ctx context.Context, inboxIDs []int64) error {
	switch len(inboxIDs) {
	case 0:
		return nil
	case 1:
		return c.ApplyInbox(ctx, inboxIDs[0])
	}
	return c.enqueueBatch(ctx, TypeApplyInbox, inboxIDs)
}

// FanOut queues the fan-out of released outbox rows; the store calls it
// after each commit (store.OnOutbox).
func (c *Client) FanOut(ctx context.Context, outboxIDs []int64) error {
	var errs []error
	for _, id := range outboxIDs {
		if err := c.enqueueOnce(ctx, TypeFanOut, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Deliver queues one delivery.
func (c *Client) Deliver(ctx context.Context, deliveryID int64) error {
	return c.enqueueOnce(ctx, TypeDeliver, deliveryID)
}

// deliverLater queues a delivery's next attempt after wait. Its task id is
// the delivery's, as Deliver's is: a delivery has one retrying task.
func (c *Client) deliverLater(ctx context.Context, deliveryID int64, wait time.Duration) error {
	taskID := TypeDeliver + ":" + strconv.FormatInt(deliveryID, 10)
	if err := c.requeue(ctx, TypeDeliver, idPayload(deliveryID), taskID, asynq.ProcessIn(wait)); err != nil {
		return fmt.Errorf("enqueue retry of delivery %d: %w", deliveryID, err)
	}
	return nil
}

// enqueuesInFlight is how many enqueues DeliverAll keeps going at once.
const enqueuesInFlight = 8

// deliverBatch is how many deliveries one TypeDeliverBatch task attempts.
// A task costs three Redis scripts (queue, dequeue, done) and a delivery
// one signature, a database read and a write: batches share the scripts
// and read their deliveries in one query.
const deliverBatch = 16

// DeliverAll queues many deliveries in batches of deliverBatch, a few
// enqueues in flight at once: one after the other, a fan-out to 2,000
// hosts waits out its Redis round trips before its last delivery is even
// queued. Each batch's task id is derived from its deliveries, so queueing
// it again is a no-op. Early ids are queued first, so delivery starts at
// once.
func (c *Client) DeliverAll(ctx context.Context, deliveryIDs []int64) error {
	batches := slices.Collect(slices.Chunk(deliveryIDs, deliverBatch))
	n := min(enqueuesInFlight, len(batches))
	errs := make([]error, n)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(batches); i += n {
				if err := c.deliverBatch(ctx, batches[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// deliverBatch queues one TypeDeliverBatch task, or a TypeDeliver task for
// a batch of one.
func (c *Client) deliverBatch(ctx context.Context, ids []int64) error {
	if len(ids) == 1 {
		return c.Deliver(ctx, ids[0])
	}
	return c.enqueueBatch(ctx, TypeDeliverBatch, ids)
}

type federationHandlers struct {
	fed        *federation.Service
	store      *store.Store
	tasks      *Client
	inspector  *asynq.Inspector
	log        *slog.Logger
	sweepAfter time.Duration // how long work sits idle before the sweep re-queues it
	// retryDelay is the retry schedule (retryDelay), for the retries a
	// batch queues itself.
	retryDelay func(n int, err error, t *asynq.Task) time.Duration
}

func (h *federationHandlers) applyInbox(ctx context.Context, t *asynq.Task) error {
	var p BatchPayload
	if err := json.Unmarshal(t.Payload(), &p); err == nil && len(p.IDs) > 0 {
		return h.fed.ApplyInboxBatch(ctx, p.IDs)
	}
	id, err := parseID(t)
	if err != nil {
		return err
	}
	return h.fed.ApplyInbox(ctx, id)
}

func (h *federationHandlers) fanOut(ctx context.Context, t *asynq.Task) error {
	id, err := parseID(t)
	if err != nil {
		return err
	}
	deliveries, err := h.store.FanOut(ctx, id, h.fed.RenderOutbox)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := h.tasks.DeliverAll(ctx, deliveries); err != nil {
		return err // retried; deliveries already queued are not duplicated
	}
	if len(deliveries) > 0 {
		h.log.DebugContext(ctx, "fanned out", "outbox_id", id, "deliveries", len(deliveries))
	}
	return nil
}

// retryIn asks asynq to retry after a given delay (see retryDelay).
type retryIn struct {
	after time.Duration
	err   error
}

func (r *retryIn) Error() string { return r.err.Error() }
func (r *retryIn) Unwrap() error { return r.err }

func (h *federationHandlers) deliver(ctx context.Context, t *asynq.Task) error {
	id, err := parseID(t)
	if err != nil {
		return err
	}
	d, err := h.store.DeliveryByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if d.Status != "pending" {
		return nil
	}
	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	ok, err := h.attempt(ctx, d, retry >= maxRetry)
	if ok != nil {
		return h.store.RecordDelivered(ctx, []store.Delivered{*ok})
	}
	return err
}

// deliverBatch makes the first attempt of each delivery of a batch, all at
// once, and records the successes together in one statement; a delivery to
// try again is queued as its own TypeDeliver task, so its retries are its
// own. The batch itself is retried only when it could not read its
// deliveries, record them or queue those retries: attempting it again
// skips whatever is no longer pending.
func (h *federationHandlers) deliverBatch(ctx context.Context, t *asynq.Task) error {
	var p BatchPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || len(p.IDs) == 0 || len(p.IDs) > 4*deliverBatch {
		return fmt.Errorf("bad %s payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	ds, err := h.store.DeliveriesByIDs(ctx, p.IDs)
	if err != nil {
		return err
	}
	oks := make([]*store.Delivered, len(ds))
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i := range ds {
		if ds[i].Status != "pending" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			oks[i], errs[i] = h.attempt(ctx, &ds[i], false)
		}()
	}
	wg.Wait()
	// In id order (ds is), so batches that overlap a retry lock their rows
	// in one order.
	var delivered []store.Delivered
	for _, ok := range oks {
		if ok != nil {
			delivered = append(delivered, *ok)
		}
	}
	if err := h.store.RecordDelivered(ctx, delivered); err != nil {
		return err // still pending: the batch's retry sends them again
	}
	var queueErrs []error
	for i, err := range errs {
		if err == nil || errors.Is(err, asynq.SkipRetry) {
			continue
		}
		wait := h.retryDelay(0, err, t)
		if err := h.tasks.deliverLater(ctx, ds[i].ID, wait); err != nil {
			queueErrs = append(queueErrs, err)
		}
	}
	return errors.Join(queueErrs...)
}

// attempt makes one attempt of a pending delivery. A delivery the inbox
// accepted comes back for the caller to record (a batch records all of its
// successes at once); every other outcome is recorded here. The error is
// nil when done with it (delivered, or given up), wraps asynq.SkipRetry
// when refused for good, and otherwise asks for a retry, as a *retryIn
// when it says how long to wait. last is the final attempt of its retry
// budget: a failure gives up instead.
func (h *federationHandlers) attempt(ctx context.Context, d *store.Delivery, last bool) (*store.Delivered, error) {
	id := d.ID

	// A host whose circuit is open is not tried: the delivery waits for
	// the circuit to close, so one dead server never clogs the queue. The
	// circuit came with the delivery, in the same query.
	if d.HostUnavailableUntil != nil && time.Until(*d.HostUnavailableUntil) > 0 {
		wait := time.Until(*d.HostUnavailableUntil)
		if last {
			return nil, h.giveUp(ctx, d, 0, "host unavailable")
		}
		return nil, &retryIn{after: wait, err: fmt.Errorf("host %s unavailable for %s", d.Host, wait.Round(time.Second))}
	}

	out := h.fed.Deliver(ctx, d)
	switch {
	case out.OK:
		return &store.Delivered{ID: id, Status: out.Status}, nil
	case out.Permanent:
		if out.Gone {
			if n, err := h.store.RemoveFollowersAtInbox(ctx, d.Inbox); err == nil && n > 0 {
				h.log.InfoContext(ctx, "followers gone", "inbox", d.Inbox, "removed", n)
			}
		}
		if err := h.giveUp(ctx, d, out.Status, out.Err.Error()); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("delivery %d to %s: %w: %w", id, d.Inbox, out.Err, asynq.SkipRetry)
	}
	// A transient failure: count it against the host and retry.
	if last {
		return nil, h.giveUp(ctx, d, out.Status, out.Err.Error())
	}
	if err := h.store.RecordDeliveryAttempt(ctx, id, out.Status, out.Err.Error(), "pending"); err != nil {
		return nil, err
	}
	reopen, err := h.store.RecordHostFailure(ctx, d.Host, breaker)
	if err != nil {
		return nil, err
	}
	wait := max(out.RetryAfter, time.Until(reopen))
	return nil, &retryIn{after: wait, err: fmt.Errorf("delivery %d to %s: %w", id, d.Inbox, out.Err)}
}

func (h *federationHandlers) giveUp(ctx context.Context, d *store.Delivery, status int, reason string) error {
	h.log.InfoContext(ctx, "delivery abandoned", "delivery", d.ID, "inbox", d.Inbox, "reason", reason)
	return h.store.RecordDeliveryAttempt(ctx, d.ID, status, reason, "failed")
}

// sweep re-queues work that Redis lost or a crash dropped.
func (h *federationHandlers) sweep(ctx context.Context, _ *asynq.Task) error {
	outbox, err := h.store.UnsentOutbox(ctx, min(h.sweepAfter, 30*time.Second), 1000)
	if err != nil {
		return err
	}
	if err := h.tasks.FanOut(ctx, outbox); err != nil {
		return err
	}
	deliveries, err := h.store.StalePendingDeliveries(ctx, h.sweepAfter, 2000)
	if err != nil {
		return err
	}
	if err := h.tasks.DeliverAll(ctx, deliveries); err != nil {
		return err
	}
	inbox, err := h.store.PendingInbox(ctx, min(h.sweepAfter, time.Minute), 1000)
	if err != nil {
		return err
	}
	for _, id := range inbox {
		if err := h.tasks.ApplyInbox(ctx, id); err != nil {
			return err
		}
	}
	orphans, err := h.recoverOrphans(ctx)
	if err != nil {
		return err
	}
	if n := len(outbox) + len(deliveries) + len(inbox) + orphans; n > 0 {
		h.log.InfoContext(ctx, "federation sweep requeued work", "outbox", len(outbox), "deliveries", len(deliveries),
			"inbox", len(inbox), "orphaned_tasks", orphans)
	}
	return nil
}

// recoverOrphans re-queues, under a second task id, federation tasks left
// active by a worker that died (their lease ran out). asynq recovers such
// tasks itself, but only once a minute and only after their lease has been
// expired for another 30 s, which would hold a crashed worker's deliveries
// back for up to two minutes; and while the orphan exists, the sweep's
// usual re-queue is a no-op because the task id is taken. Every handler is
// idempotent (it rechecks its row), so when asynq later runs the original
// too, it does nothing. A batch task (inbox entries, deliveries) is
// re-queued whole, with its payload.
func (h *federationHandlers) recoverOrphans(ctx context.Context) (int, error) {
	const pageSize = 200
	n := 0
	for page := 1; page <= 50; page++ {
		active, err := h.inspector.ListActiveTasks(QueueFederation, asynq.PageSize(pageSize), asynq.Page(page))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("list active federation tasks: %w", err)
		}
		for _, t := range active {
			if !t.IsOrphaned || t.Type == TypeSweep {
				continue
			}
			if _, err := parseID(asynq.NewTask(t.Type, t.Payload)); err != nil {
				continue // not a task of ours
			}
			if err := h.tasks.requeue(ctx, t.Type, t.Payload, t.ID+":recovered"); err != nil {
				return n, err
			}
			n++
		}
		if len(active) < pageSize {
			break
		}
	}
	return n, nil
}

// retryDelay returns asynq's retry schedule. Deliveries back off like
// Mastodon's: (15 + n⁴) s plus up to half the n⁴ part again of jitter, so
// 16 retries span about two days; image fetches retry sooner. unit scales the schedule (15 s by
// default; tests shrink it). A handler can ask for a longer wait (a
// Retry-After, an open circuit) with retryIn.
func retryDelay(unit time.Duration) func(n int, err error, t *asynq.Task) time.Duration {
	return func(n int, err error, t *asynq.Task) time.Duration {
		base := asynq.DefaultRetryDelayFunc(n, err, t)
		switch t.Type() {
		case TypeDeliver, TypeDeliverBatch, TypeFanOut, TypeApplyInbox:
			n4 := time.Duration(n*n*n*n) * unit / 15
			base = unit + n4 + time.Duration(rand.Int64N(int64(n4/2)+1))
		case TypeProcessMedia:
			// An image host that hiccups is tried again soon: the post
			// waits for it. 10 s doubling (with the default unit): five
			// retries span about five minutes.
			base = unit * 2 / 3 << min(n, 10)
		}
		var r *retryIn
		if errors.As(err, &r) && r.after > base {
			return r.after
		}
		return base
	}
}
