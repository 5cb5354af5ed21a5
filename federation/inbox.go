package federation

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// maxInboxBody is Mastodon's MAX_JSON_SIZE: larger POSTs are refused 413.
const maxInboxBody = 1 << 20

// Enqueuer queues background work; worker's client satisfies it (wired in
// cmd), so federation never imports worker.
type Enqueuer interface {
	// ApplyInbox queues the application of a stored inbox entry.
	ApplyInbox(ctx context.Context, inboxID int64) error
	// ApplyInboxBatch queues the application of stored inbox entries as
	// one task (see Service.ApplyInboxBatch).
	ApplyInboxBatch(ctx context.Context, inboxIDs []int64) error
}

// inboxError is a refusal with its status.
type inboxError struct {
	status int
	msg    string
}

func (e *inboxError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) *inboxError {
	return &inboxError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Inbox receives activities at an agent's inbox and at the shared inbox:
// cap the body → parse → verify the HTTP signature (fetching the key,
// refetching once on failure) → check the signer is the actor → check the
// activity concerns something we have → store it in the inbox table
// (unique activity id, so a redelivery is a no-op) → 202. A worker applies
// it. Nothing is stored for a refused request.
//
// Status codes follow what senders act on: 401 for a signature we could
// not verify (Mastodon retries 401; Fedify-based servers only fall back
// to draft-cavage after a 4xx, so never 202 for an unverified signature),
// 503 when fetching the key failed transiently, 400/404 for activities we
// will never accept (permanent for Mastodon), 413 for oversize bodies.
func (s *Service) Inbox(w http.ResponseWriter, r *http.Request) {
	if err := s.receive(w, r); err != nil && err != errIgnore {
		var ie *inboxError
		if !errors.As(err, &ie) {
			s.log.ErrorContext(r.Context(), "inbox", "err", err)
			ie = refuse(http.StatusInternalServerError, "internal error")
		} else {
			s.log.InfoContext(r.Context(), "inbox refused", "status", ie.status, "reason", ie.msg,
				"path", r.URL.Path, "signature", truncateString(r.Header.Get("Signature"), 120))
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if ie.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "60")
		}
		w.WriteHeader(ie.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": ie.msg})
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Service) receive(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if r.ContentLength > maxInboxBody {
		return refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxInboxBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInboxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return refuse(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxInboxBody)
		}
		return refuse(http.StatusBadRequest, "could not read the body")
	}
	if err := ap.CheckContext(body); err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	act, err := ap.ParseActivity(body)
	if err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	if act.ID == "" {
		return refuse(http.StatusBadRequest, "activity has no id")
	}
	if err := act.Validate(); err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	actorURI := act.ActorID()

	// A Delete of an actor by itself: its key may be gone with it, so (as
	// Mastodon does) an unknown actor's self-deletion is acknowledged and
	// dropped without fetching anything, and a known one is verified with
	// the cached key only.
	selfDelete := act.Type == ap.TypeDelete && act.ObjectID() == actorURI
	keys := KeyResolver(s.resolver)
	if selfDelete {
		if _, err := s.store.RemoteActorByURI(ctx, actorURI); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		keys = cachedKeysOnly{s.resolver}
	}

	sig, err := VerifyRequest(ctx, r, body, keys, time.Now())
	if err != nil {
		return signatureRefusal(err)
	}
	if sig.Owner != actorURI {
		if err := s.checkForwarded(ctx, act, sig.Owner); err != nil {
			return err
		}
	}
	row := store.InboxInsert{ActivityID: act.ID, Type: string(act.Type), ActorURI: actorURI, Body: body}
	// A reaction to one of our posts, the bulk of what a viral post
	// brings, has its post checked by the group commit itself, in the
	// statement that stores it, instead of by a query per request.
	if postID, ok := s.localPostID(act.ObjectID()); ok && isReaction(act.Type) {
		row.LivePost = &postID
		inserted, err := s.storeInbox(ctx, row)
		if err != nil || inserted {
			return err
		}
		// Not stored: a redelivery, or the post is not live. Sort it out
		// the usual way.
		row.LivePost = nil
	}
	if err := s.checkRelevant(ctx, act); err != nil {
		return err
	}
	// The 202 promises the activity is durably stored: storeInbox answers
	// only after the commit that holds it.
	_, err = s.storeInbox(ctx, row)
	return err
}

// isReaction reports the activity types checkRelevant accepts when their
// object is one of our posts.
func isReaction(t ap.Type) bool {
	switch t {
	case ap.TypeLike, ap.TypeAnnounce, ap.TypeDislike, ap.TypeEmojiReact:
		return true
	}
	return false
}

const (
	// maxInboxBatch bounds one group commit of the inbox.
	maxInboxBatch = 256
	// inboxFlushers is how many group commits may be under way at once.
	// One: while it waits for its WAL flush the next batch fills, so the
	// batch grows with the load by itself. Measured with the intake bench,
	// two took as many requests per second but wrote in half-size batches,
	// which cost PostgreSQL more and the workers more transactions.
	inboxFlushers = 1
	// inboxFlushTimeout bounds one group commit, whichever request leads it.
	inboxFlushTimeout = 30 * time.Second
)

// inboxWriter is the inbox's group commit. Each verified activity costs
// one INSERT, and with fsync on one commit costs a WAL flush, which on
// most disks takes far longer than verifying a signature: committing each
// request alone caps the inbox at the disk's flushes per second. Instead
// concurrent requests queue their rows here; one of them (the leader)
// stores up to maxInboxBatch queued rows in one transaction and answers
// each request after that commit, so a 202 still means durably stored.
// A request that arrives while no flush is under way is stored at once,
// alone: nothing waits for a batch to fill. Leadership passes to the
// oldest queued request when a flush ends, so no goroutine of the group
// commit outlives its request (only the apply queue's timer does, and it
// holds ids, not requests) and the zero value is ready to use.
type inboxWriter struct {
	mu      sync.Mutex
	pending []*inboxWrite
	leaders int // flushes under way, at most inboxFlushers
}

// inboxWrite is one request's row and where its answer goes.
type inboxWrite struct {
	row  store.InboxInsert
	done chan inboxWritten // buffered, so answering never blocks
}

// inboxWritten answers an inboxWrite: stored (or a redelivery), failed,
// or asked to lead the next flush itself.
type inboxWritten struct {
	lead     bool
	inserted bool
	err      error
}

// storeInbox stores a verified activity through the group commit and
// returns once it is committed; inserted is false for a redelivery (the
// activity id is already stored) or when row.LivePost is not live. The
// application of what is stored is queued.
func (s *Service) storeInbox(ctx context.Context, row store.InboxInsert) (inserted bool, err error) {
	w := &inboxWrite{row: row, done: make(chan inboxWritten, 1)}
	iw := &s.inbox
	iw.mu.Lock()
	if iw.leaders < inboxFlushers {
		iw.leaders++
		iw.mu.Unlock()
		return s.leadInboxFlush(ctx, w)
	}
	iw.pending = append(iw.pending, w)
	iw.mu.Unlock()
	// Not abandoned on ctx: the row may be committed by now, and a
	// request handed the lead must take it. The flush itself is bounded.
	r := <-w.done
	if r.lead {
		return s.leadInboxFlush(ctx, w)
	}
	return r.inserted, r.err
}

// leadInboxFlush stores self's row with the oldest queued ones in one
// transaction, answers their requests, passes the lead on, and then does
// the work that no request needs to wait for: queueing the application of
// the new rows (applyqueue.go) and closing the senders' circuits.
func (s *Service) leadInboxFlush(ctx context.Context, self *inboxWrite) (inserted bool, err error) {
	iw := &s.inbox
	iw.mu.Lock()
	n := min(len(iw.pending), maxInboxBatch-1)
	batch := make([]*inboxWrite, 0, n+1)
	batch = append(append(batch, self), iw.pending[:n]...)
	iw.pending = append(iw.pending[:0], iw.pending[n:]...)
	iw.mu.Unlock()

	// The flush serves every request in the batch, so the leader's own
	// cancellation must not abort it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inboxFlushTimeout)
	defer cancel()
	rows := make([]store.InboxInsert, len(batch))
	for i, w := range batch {
		rows[i] = w.row
	}
	res, rowErrs, err := s.store.InsertInboxBatch(fctx, rows)
	for i, w := range batch[1:] {
		w.done <- inboxWritten{inserted: err == nil && res[i+1].Inserted, err: rowError(err, rowErrs, i+1)}
	}
	selfErr := rowError(err, rowErrs, 0)

	iw.mu.Lock()
	if len(iw.pending) > 0 {
		next := iw.pending[0]
		iw.pending = iw.pending[1:]
		iw.mu.Unlock()
		next.done <- inboxWritten{lead: true}
	} else {
		iw.leaders--
		iw.mu.Unlock()
	}
	if err != nil {
		return false, selfErr
	}

	var added []stored
	hosts := make(map[string]bool)
	for i, r := range res {
		if rowErrs != nil && rowErrs[i] != nil {
			continue
		}
		if r.Inserted {
			row := &batch[i].row
			added = append(added, stored{id: r.ID, bytes: len(row.Body), lingers: lingers(ap.Type(row.Type))})
		}
		if u, err := url.Parse(batch[i].row.ActorURI); err == nil {
			hosts[strings.ToLower(u.Host)] = true
		}
	}
	s.queueApply(added)
	// The senders' servers are evidently up: close their circuits, as
	// Mastodon clears an unavailable domain when it hears from it.
	for h := range hosts {
		_ = s.store.RecordHostSuccess(fctx, h)
	}
	return res[0].Inserted, selfErr
}

// rowError is row i's outcome of InsertInboxBatch.
func rowError(batchErr error, rowErrs []error, i int) error {
	if batchErr != nil {
		return batchErr
	}
	if rowErrs != nil {
		return rowErrs[i]
	}
	return nil
}

// signatureRefusal maps verification failures to statuses.
func signatureRefusal(err error) error {
	switch {
	case errors.Is(err, ErrMalformedSignature):
		return refuse(http.StatusBadRequest, "%v", err)
	case errors.Is(err, ErrActorGone), errors.Is(err, ErrActorNotFound), errors.Is(err, ErrActorInvalid):
		return refuse(http.StatusUnauthorized, "cannot verify the signature: %v", err)
	case errors.Is(err, ErrKeyFetch):
		return refuse(http.StatusServiceUnavailable, "could not fetch the signing key yet: %v", err)
	default:
		return refuse(http.StatusUnauthorized, "%v", err)
	}
}

// cachedKeysOnly resolves keys from the cache and never fetches.
type cachedKeysOnly struct{ r *Resolver }

func (c cachedKeysOnly) ResolveKey(ctx context.Context, keyID string, _ bool) (crypto.PublicKey, string, error) {
	return c.r.cachedKey(ctx, keyID)
}

// checkForwarded accepts an activity signed by someone other than its actor
// only when the signer is on the actor's server and the object it carries
// is confirmed by fetching it from its origin (inbox forwarding: a server
// passing on a reply it received).
func (s *Service) checkForwarded(ctx context.Context, act *ap.Activity, signer string) error {
	actorURI := act.ActorID()
	if !sameHost(signer, actorURI) {
		return refuse(http.StatusUnauthorized, "signed by %s, but the activity's actor is %s", signer, actorURI)
	}
	switch act.Type {
	case ap.TypeCreate, ap.TypeUpdate:
	default:
		return refuse(http.StatusUnauthorized, "signed by %s, but the activity's actor is %s", signer, actorURI)
	}
	objID := act.ObjectID()
	if objID == "" || !sameHost(objID, actorURI) {
		return refuse(http.StatusUnauthorized, "forwarded %s without an object on the actor's server", act.Type)
	}
	raw, err := s.resolver.FetchObject(ctx, objID)
	if err != nil {
		return refuse(http.StatusUnauthorized, "could not confirm the forwarded object: %v", err)
	}
	obj, err := ap.ParseObject(raw)
	if err != nil || obj.AttributedTo.ID() != actorURI {
		return refuse(http.StatusUnauthorized, "the forwarded object is not by %s", actorURI)
	}
	return nil
}

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

// checkRelevant refuses, before anything is stored, activities about
// objects we do not have: a Follow of an unknown agent, a Like of a post we
// never had. Activity types we do not handle are acknowledged (202 by the
// caller) and dropped, as Mastodon does.
func (s *Service) checkRelevant(ctx context.Context, act *ap.Activity) error {
	switch act.Type {
	case ap.TypeFollow, ap.TypeBlock:
		if _, err := s.localAgent(ctx, act.ObjectID()); err != nil {
			return refuse(http.StatusNotFound, "%s of %s: no such agent here", act.Type, act.ObjectID())
		}
	case ap.TypeLike, ap.TypeAnnounce, ap.TypeDislike, ap.TypeEmojiReact:
		if _, err := s.localPost(ctx, act.ObjectID()); err != nil {
			if _, cerr := s.localComment(ctx, act.ObjectID()); cerr == nil {
				return nil // a reaction to a comment: acknowledged, not counted
			}
			return refuse(http.StatusNotFound, "%s of %s: no such post here", act.Type, act.ObjectID())
		}
	case ap.TypeFlag:
		for _, id := range act.Object.IDs() {
			if _, err := s.localAgent(ctx, id); err == nil {
				return nil
			}
			if _, err := s.localPost(ctx, id); err == nil {
				return nil
			}
		}
		return refuse(http.StatusNotFound, "Flag of nothing on this server")
	case ap.TypeCreate, ap.TypeUpdate, ap.TypeDelete, ap.TypeUndo, ap.TypeAccept, ap.TypeReject:
		// Stored and sorted out by the worker: a Create that is not a
		// reply to us is recorded and ignored; Undo and Delete of what we
		// never had change nothing.
	default:
		return errIgnore
	}
	return nil
}

// errIgnore marks an activity acknowledged but not stored.
var errIgnore = &inboxError{status: http.StatusAccepted, msg: "ignored"}

// localAgent maps an actor id of ours to the agent.
func (s *Service) localAgent(ctx context.Context, iri string) (*store.Agent, error) {
	name, ok := strings.CutPrefix(iri, s.urls.Actor(""))
	if !ok || !agentNamePattern.MatchString(name) {
		return nil, store.ErrNotFound
	}
	return s.store.AgentByName(ctx, name)
}

// localPost maps a Note id (or the post page URL) of ours to the live post.
func (s *Service) localPost(ctx context.Context, iri string) (*store.Post, error) {
	id, ok := s.localPostID(iri)
	if !ok {
		return nil, store.ErrNotFound
	}
	return s.store.PostByID(ctx, id)
}

// localPostID parses a Note id (or the post page URL) of ours, without
// checking that the post exists.
func (s *Service) localPostID(iri string) (uuid.UUID, bool) {
	if id, ok := cutUUID(iri, s.urls.Base()+"/posts/"); ok {
		return id, true
	}
	return cutUUID(iri, s.urls.Base()+"/p/")
}

// localComment maps a comment Note id of ours to the live comment.
func (s *Service) localComment(ctx context.Context, iri string) (*store.Comment, error) {
	id, ok := cutUUID(iri, s.urls.Base()+"/comments/")
	if !ok {
		return nil, store.ErrNotFound
	}
	return s.store.CommentByID(ctx, id)
}

func cutUUID(iri, prefix string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(iri, prefix)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
