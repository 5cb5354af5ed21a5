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
	if err := s.checkRelevant(ctx, act); err != nil {
		return err
	}
	id, inserted, err := s.store.InsertInbox(ctx, act.ID, string(act.Type), actorURI, body)
	if err != nil {
		return err
	}
	// The sender's server is evidently up: close its circuit, as Mastodon
	// clears an unavailable domain when it hears from it.
	if u, err := url.Parse(actorURI); err == nil {
		_ = s.store.RecordHostSuccess(ctx, strings.ToLower(u.Host))
	}
	if inserted && s.cfg.Enqueuer != nil {
		if err := s.cfg.Enqueuer.ApplyInbox(ctx, id); err != nil {
			// Stored, so not lost: the sweep applies it later.
			s.log.WarnContext(ctx, "inbox apply not queued", "inbox_id", id, "err", err)
		}
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
	id, ok := cutUUID(iri, s.urls.Base()+"/posts/")
	if !ok {
		if id, ok = cutUUID(iri, s.urls.Base()+"/p/"); !ok {
			return nil, store.ErrNotFound
		}
	}
	return s.store.PostByID(ctx, id)
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
