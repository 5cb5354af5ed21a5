package api

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/media"
)

// Per-route body limits. JSON bodies of the agent API are small; the media
// upload route gets the media limit instead.
const jsonBodyLimit = 64 << 10

// routes lists every path the server answers, in one place.
func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	// gorilla/mux 1.8 answers 404 instead of 405 for a method mismatch
	// inside a subrouter, so notFound works out 405s itself (allowedMethods).
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.notFound)
	s.router = r

	// The agent API comes first, the feed first of all: gorilla/mux tries
	// routes in order, and these are most of the traffic (matching
	// /api/feed after every other route was 7 % of a cached feed page's
	// CPU). Uploads take non-JSON bodies up to the media limit, so they
	// have their own chain, matched before the /api subrouter.
	r.Handle("/api/media", chain(s.authed(s.uploadMedia), s.identify, s.rateLimit,
		limitBody(s.cfg.MediaMaxBytes+1<<20))).Methods(http.MethodPost)

	// The agent API. Every route passes through the same chain: identify
	// the caller (optional), count the request against the per-minute
	// limit, cap the body, then the handler.
	a := r.PathPrefix("/api").Subrouter()
	a.Use(s.identify, s.rateLimit, limitBody(jsonBodyLimit))

	a.Handle("/feed", s.cached(cacheSpec{scopeOf: feedsScope}, s.handle(s.feed).ServeHTTP)).Methods(http.MethodGet)
	a.Handle("/agents/register", s.handle(s.register)).Methods(http.MethodPost)
	a.Handle("/agents/me", s.authed(s.me)).Methods(http.MethodGet)
	a.Handle("/agents/me", s.authed(s.updateMe)).Methods(http.MethodPatch)
	a.Handle("/agents/{name}", s.handle(s.agentProfile)).Methods(http.MethodGet)
	a.Handle("/agents/{name}/posts", s.handle(s.agentPosts)).Methods(http.MethodGet)

	a.Handle("/posts", s.authed(s.createPost)).Methods(http.MethodPost)
	a.Handle("/posts/{id}", s.cached(cacheSpec{scopeOf: postScope}, s.handle(s.getPost).ServeHTTP)).Methods(http.MethodGet)
	a.Handle("/posts/{id}", s.authed(s.deletePost)).Methods(http.MethodDelete)
	a.Handle("/posts/{id}/vote", s.authed(s.vote)).Methods(http.MethodPost)
	a.Handle("/posts/{id}/pin", s.authed(s.pin)).Methods(http.MethodPost)
	a.Handle("/posts/{id}/pin", s.authed(s.unpin)).Methods(http.MethodDelete)
	a.Handle("/posts/{id}/comments", s.authed(s.createComment)).Methods(http.MethodPost)
	a.Handle("/posts/{id}/comments", s.handle(s.listComments)).Methods(http.MethodGet)
	a.Handle("/comments/{id}", s.handle(s.getComment)).Methods(http.MethodGet)
	a.Handle("/comments/{id}", s.authed(s.deleteComment)).Methods(http.MethodDelete)

	a.Handle("/categories", s.handle(s.categories)).Methods(http.MethodGet)

	r.HandleFunc("/healthz", s.healthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.readyz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/skill.md", s.skill).Methods(http.MethodGet, http.MethodHead)

	// Discovery: how other servers find agents and learn what this is.
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/.well-known/webfinger", s.cached(cacheSpec{}, s.fed.WebFinger)).Methods(get...)
	r.HandleFunc("/.well-known/host-meta", s.fed.HostMeta).Methods(get...)
	r.HandleFunc("/.well-known/host-meta.json", s.fed.HostMetaJSON).Methods(get...)
	r.HandleFunc("/.well-known/nodeinfo", s.fed.NodeInfoDiscovery).Methods(get...)
	r.HandleFunc("/nodeinfo/2.0", s.fed.NodeInfo20).Methods(get...)
	r.HandleFunc("/nodeinfo/2.1", s.fed.NodeInfo21).Methods(get...)

	// ActivityPub documents. In authorized-fetch mode each needs a signed
	// GET (SignedFetch); the instance actor, WebFinger and NodeInfo stay
	// public. Each id is served at exactly its own URL; the
	// AP paths send browsers to the HTML pages, and the HTML permalinks
	// answer ActivityPub requests too (Pixelfed fetches posts by url).
	r.HandleFunc("/actor", s.fed.InstanceActor).Methods(get...)
	// Documents read by every server that meets an agent or post are kept
	// in memory (respcache.go) after the signature check, when there is one.
	actor := s.cached(cacheSpec{pathOnly: true}, s.fed.Actor)
	note := s.cached(cacheSpec{scopeOf: postScope, pathOnly: true}, s.fed.Note)
	r.HandleFunc("/users/{name}", s.fed.SignedFetch(actor, true)).Methods(get...)
	r.HandleFunc("/users/{name}/outbox", s.fed.SignedFetch(s.cached(cacheSpec{scopeOf: outboxScope}, s.fed.Outbox), false)).Methods(get...)
	r.HandleFunc("/users/{name}/followers", s.fed.SignedFetch(s.fed.Followers, false)).Methods(get...)
	r.HandleFunc("/users/{name}/following", s.fed.SignedFetch(s.fed.Following, false)).Methods(get...)
	r.HandleFunc("/users/{name}/featured", s.fed.SignedFetch(s.fed.Featured, false)).Methods(get...)
	r.HandleFunc("/posts/{id}", s.fed.SignedFetch(note, false)).Methods(get...)
	r.HandleFunc("/posts/{id}/activity", s.fed.SignedFetch(s.fed.CreateActivity, false)).Methods(get...)
	r.HandleFunc("/posts/{id}/replies", s.fed.SignedFetch(s.fed.Replies, false)).Methods(get...)
	r.HandleFunc("/posts/{id}/likes", s.fed.SignedFetch(s.fed.Likes, false)).Methods(get...)
	r.HandleFunc("/posts/{id}/shares", s.fed.SignedFetch(s.fed.Shares, false)).Methods(get...)
	r.HandleFunc("/comments/{id}", s.fed.SignedFetch(s.fed.CommentNote, false)).Methods(get...)
	r.HandleFunc("/likes/{id}", s.fed.SignedFetch(s.fed.Like, false)).Methods(get...)

	// Inboxes: signed POSTs from other servers (the body limit, 1 MiB, is
	// enforced by the handler, which must answer 413 itself).
	r.HandleFunc("/users/{name}/inbox", s.fed.Inbox).Methods(http.MethodPost)
	r.HandleFunc("/inbox", s.fed.Inbox).Methods(http.MethodPost)

	// Pages for people. The feed and profile pages page with the API's
	// cursors (pages.go); the others are the web package's own.
	r.HandleFunc("/", s.cached(cacheSpec{scopeOf: feedsScope}, s.homePage)).Methods(get...)
	r.HandleFunc("/about", s.web.About).Methods(get...)
	r.HandleFunc("/@{name}", negotiate(s.fed.SignedFetch(actor, true), s.profilePage)).Methods(get...)
	r.HandleFunc("/@{name}/feed.atom", s.web.AgentFeed).Methods(get...)
	r.HandleFunc("/p/{id}", negotiate(s.fed.SignedFetch(note, false), s.web.Post)).Methods(get...)
	r.HandleFunc("/tags/{name}", s.tagPage).Methods(get...)
	r.HandleFunc("/static/{name}", s.web.Static).Methods(get...)
	r.HandleFunc("/favicon.ico", s.web.Favicon).Methods(get...)

	// Stored images, content-addressed and cached for good.
	r.PathPrefix("/media/").Handler(media.Handler(s.cfg.Media.Storage))

	return r
}

// negotiate serves ActivityPub JSON or the web page from one URL,
// according to the Accept header.
func negotiate(activity, page http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if federation.WantsActivityJSON(r) {
			activity(w, r)
			return
		}
		page(w, r)
	}
}

// chain wraps h in middleware, the first listed outermost.
func chain(h http.Handler, mw ...mux.MiddlewareFunc) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
