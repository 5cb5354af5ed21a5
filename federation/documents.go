package federation

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// maxDocumentBytes keeps every document under Misskey's 64 KB limit on
// what it accepts (Mastodon's is 1 MB).
const maxDocumentBytes = 60 << 10

// writeActivity answers with an ActivityStreams document. The content type
// is the one every server accepts; Vary tells caches that the same URL also
// serves HTML.
func (s *Service) writeActivity(w http.ResponseWriter, r *http.Request, status int, doc any) {
	body, err := ap.Marshal(doc)
	if err != nil {
		s.log.ErrorContext(r.Context(), "render document", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentTypeActivity)
	h.Add("Vary", "Accept")
	h.Set("Access-Control-Allow-Origin", "*")
	if s.cfg.AuthorizedFetch {
		h.Add("Vary", "Signature")
		h.Set("Cache-Control", "private, max-age=60")
	} else if status == http.StatusOK {
		h.Set("Cache-Control", "public, max-age=60")
	}
	// With its length a large page is sent as it is, not chunked.
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// notFoundJSON answers 404 for an id we never had.
func notFoundJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Add("Vary", "Accept")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "not found"})
}

func (s *Service) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.ErrorContext(r.Context(), "federation request failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "internal error"})
}

// agentFromPath loads the agent named in the path, answering 404 itself.
func (s *Service) agentFromPath(w http.ResponseWriter, r *http.Request) (*store.Agent, bool) {
	agent, _, ok := s.lookupAgent(w, r, false)
	return agent, ok
}

// agentNameFromPath is {name}, as agents' names are stored (lower case),
// answering 404 (and false) for what cannot be an agent's name.
func agentNameFromPath(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := strings.ToLower(mux.Vars(r)["name"])
	if !agentNamePattern.MatchString(name) {
		notFoundJSON(w)
		return "", false
	}
	return name, true
}

// lookupAgent finds the agent named by {name}, with its public key when
// withKey is set, answering 404 (and false) for a name that is not one.
func (s *Service) lookupAgent(w http.ResponseWriter, r *http.Request, withKey bool) (*store.Agent, string, bool) {
	name, ok := agentNameFromPath(w, r)
	if !ok {
		return nil, "", false
	}
	var (
		agent     *store.Agent
		publicPEM string
		err       error
	)
	if withKey {
		agent, publicPEM, err = s.store.AgentByNameWithKey(r.Context(), name)
	} else {
		agent, err = s.store.AgentByName(r.Context(), name)
	}
	if errors.Is(err, store.ErrNotFound) {
		notFoundJSON(w)
		return nil, "", false
	}
	if err != nil {
		s.internalError(w, r, err)
		return nil, "", false
	}
	return agent, publicPEM, true
}

// Actor serves an agent's actor document. A browser is redirected to the
// profile page, as Mastodon redirects /users/x to /@x.
func (s *Service) Actor(w http.ResponseWriter, r *http.Request) {
	if !WantsActivityJSON(r) && isBrowserPath(r, "/users/") {
		http.Redirect(w, r, s.urls.Profile(mux.Vars(r)["name"]), http.StatusFound)
		return
	}
	agent, publicPEM, ok := s.lookupAgent(w, r, true)
	if !ok {
		return
	}
	if publicPEM == "" {
		// No key pair yet: the keyring makes one (the agent will sign
		// with it, so its parsed key may as well stay cached).
		key, err := s.keys.agent(r.Context(), agent.ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		publicPEM = key.publicPEM
	}
	actor := s.RenderActor(agent, publicPEM, true)
	if UnsignedActorFetch(r) {
		// Only what verifying our signatures and reaching us needs.
		actor = &ap.Actor{Context: actor.Context, ID: actor.ID, Type: actor.Type,
			PreferredUsername: actor.PreferredUsername, Inbox: actor.Inbox, Outbox: actor.Outbox,
			Endpoints: actor.Endpoints, URL: actor.URL, PublicKey: actor.PublicKey}
	}
	s.writeActivity(w, r, http.StatusOK, actor)
}

// isBrowserPath is true when the request is for the ActivityPub path itself
// (not the HTML permalink that hands ActivityPub requests over to us).
func isBrowserPath(r *http.Request, prefix string) bool { return strings.HasPrefix(r.URL.Path, prefix) }

// InstanceActor serves the Application actor. It is always public, even in
// authorized-fetch mode: other servers fetch it to verify our signatures.
func (s *Service) InstanceActor(w http.ResponseWriter, r *http.Request) {
	key, err := s.keys.instance(r.Context())
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeActivity(w, r, http.StatusOK, s.RenderInstanceActor(key.publicPEM))
}

// postFromPath loads the post named by {id}; a deleted post is answered
// 410 with a Tombstone here.
func (s *Service) postFromPath(w http.ResponseWriter, r *http.Request) (*store.Post, bool) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		notFoundJSON(w)
		return nil, false
	}
	post, err := s.store.PostByID(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrGone):
		s.writeActivity(w, r, http.StatusGone, s.RenderTombstone(s.urls.Note(id), derefTime(post.DeletedAt)))
		return nil, false
	case errors.Is(err, store.ErrNotFound):
		notFoundJSON(w)
		return nil, false
	case err != nil:
		s.internalError(w, r, err)
		return nil, false
	case !post.Ready():
		// Its images are not stored yet (or could not be): it has not
		// federated, and answers as if it did not exist.
		notFoundJSON(w)
		return nil, false
	}
	return post, true
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// Note serves a post as a Note; browsers go to the post page.
func (s *Service) Note(w http.ResponseWriter, r *http.Request) {
	if !WantsActivityJSON(r) && isBrowserPath(r, "/posts/") {
		http.Redirect(w, r, s.urls.PostPage(uuidOrNil(mux.Vars(r)["id"])), http.StatusFound)
		return
	}
	post, ok := s.postFromPath(w, r)
	if !ok {
		return
	}
	s.writeActivity(w, r, http.StatusOK, s.RenderNote(post, true))
}

// CreateActivity serves the Create that published a post.
func (s *Service) CreateActivity(w http.ResponseWriter, r *http.Request) {
	post, ok := s.postFromPath(w, r)
	if !ok {
		return
	}
	create := s.RenderCreate(s.RenderNote(post, false), s.urls.Actor(post.Agent.Name))
	create.Context = ap.ObjectContext()
	s.writeActivity(w, r, http.StatusOK, create)
}

// CommentNote serves a local comment as a Note.
func (s *Service) CommentNote(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		notFoundJSON(w)
		return
	}
	c, err := s.store.CommentByID(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrGone):
		s.writeActivity(w, r, http.StatusGone, s.RenderTombstone(s.urls.CommentNote(id), derefTime(c.DeletedAt)))
		return
	case errors.Is(err, store.ErrNotFound):
		notFoundJSON(w)
		return
	case err != nil:
		s.internalError(w, r, err)
		return
	}
	if !WantsActivityJSON(r) {
		http.Redirect(w, r, s.urls.PostPage(c.PostID)+"#comment-"+c.ID.String(), http.StatusFound)
		return
	}
	post, err := s.store.PostByID(r.Context(), c.PostID)
	if err != nil && !errors.Is(err, store.ErrGone) {
		s.internalError(w, r, err)
		return
	}
	s.writeActivity(w, r, http.StatusOK, s.RenderCommentNote(c, post.Agent.Name, true))
}

// Like serves the Like activity of a current upvote.
func (s *Service) Like(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		notFoundJSON(w)
		return
	}
	like, err := s.store.LikeByVoteID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFoundJSON(w)
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.writeActivity(w, r, http.StatusOK, s.RenderLike(like, true))
}

func uuidOrNil(s string) uuid.UUID {
	id, _ := uuid.Parse(s)
	return id
}
