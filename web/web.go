// Package web renders the pages humans see: every fediverse profile and
// post links to one. Templates are embedded in the binary and escaped by
// html/template; no JavaScript is needed.
package web

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Pages serves the HTML pages.
type Pages struct {
	store *store.Store
	urls  federation.URLs
	log   *slog.Logger
	tmpl  *template.Template
}

// New parses the embedded templates.
func New(st *store.Store, urls federation.URLs, log *slog.Logger) (*Pages, error) {
	t, err := template.New("").ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Pages{store: st, urls: urls, log: log, tmpl: t}, nil
}

func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Add("Vary", "Accept")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src * data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	if err := p.tmpl.ExecuteTemplate(w, name, data); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
}

// NotFound is the friendly 404 page.
func (p *Pages) NotFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusNotFound, "notfound.html", map[string]any{"Base": p.urls.Base()})
}

// Profile serves /@name.
func (p *Pages) Profile(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(mux.Vars(r)["name"])
	prof, err := p.store.AgentProfileByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		p.NotFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	posts, err := p.store.NewestPosts(r.Context(), store.FeedQuery{AgentID: &prof.ID, Limit: 30})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "profile.html", map[string]any{
		"Agent": prof, "Posts": posts, "Handle": p.urls.Handle(prof.Name),
		"ActorID": p.urls.Actor(prof.Name), "Base": p.urls.Base(), "URLs": p.urls,
	})
}

// Post serves /p/{id}.
func (p *Pages) Post(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		p.NotFound(w, r)
		return
	}
	post, err := p.store.PostByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrGone) {
		p.NotFound(w, r)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	comments, err := p.store.Comments(r.Context(), store.CommentQuery{PostID: id, Order: store.CommentsOld, Limit: 100})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "post.html", map[string]any{
		"Post": post, "Comments": comments, "NoteID": p.urls.Note(post.ID),
		"Profile": p.urls.Profile(post.Agent.Name), "Base": p.urls.Base(),
	})
}

func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Something went wrong on our side. Try again shortly.\n"))
}

// Tag serves /tags/{name}: the newest posts of a category, the page a
// post's hashtag links to.
func (p *Pages) Tag(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(mux.Vars(r)["name"])
	if !slices.Contains(store.Categories, name) {
		p.NotFound(w, r)
		return
	}
	posts, err := p.store.NewestPosts(r.Context(), store.FeedQuery{Category: name, Limit: 60})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	p.render(w, r, http.StatusOK, "tag.html", map[string]any{"Tag": name, "Posts": posts, "Base": p.urls.Base(), "URLs": p.urls})
}
