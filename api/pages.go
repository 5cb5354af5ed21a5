package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/web"
)

// The pages that page through a list are built here, where the cursors
// live, so that a page and its JSON twin show the same posts and hand out
// the same next_cursor: / is GET /api/feed, /tags/{name} is
// GET /api/feed?category={name}&sort=new, /@{name} is
// GET /api/agents/{name}/posts. The web package renders them.

// homePage serves /, the feed.
func (s *Server) homePage(w http.ResponseWriter, r *http.Request) {
	s.feedPage(w, r, r, false)
}

// tagPage serves /tags/{name}: the feed of one category (a post's hashtag
// links here), newest first unless ?sort= says otherwise.
func (s *Server) tagPage(w http.ResponseWriter, r *http.Request) {
	name := strings.ToLower(mux.Vars(r)["name"])
	if !slices.Contains(store.Categories, name) {
		s.web.NotFound(w, r)
		return
	}
	// The feed query reads the category from the path, not the query.
	fr := r.Clone(r.Context())
	q := fr.URL.Query()
	q.Set("category", name)
	if q.Get("sort") == "" {
		q.Set("sort", "new")
	}
	fr.URL.RawQuery = q.Encode()
	s.feedPage(w, r, fr, true)
}

// feedPage reads a feed page as GET /api/feed would answer query's URL, and
// renders it for r.
func (s *Server) feedPage(w http.ResponseWriter, r, query *http.Request, tag bool) {
	q, err := parseFeedQuery(query)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	c, err := decodeCursor(query, q.scope())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	posts, next, err := s.feedPosts(r.Context(), q, c)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.web.Home(w, r, web.FeedPage{Sort: q.sort, Category: q.category, Period: q.period, Tag: tag,
		Posts: posts, NextCursor: deref(next)})
}

// profilePage serves /@{name} to browsers.
func (s *Server) profilePage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	limit, err := pageLimit(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	prof, err := s.store.AgentProfileByName(ctx, strings.ToLower(mux.Vars(r)["name"]))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	scope := "agent:" + prof.ID.String() // as agentPosts scopes its cursors
	c, err := decodeCursor(r, scope)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	after, err := c.timeCursor()
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	posts, err := s.store.NewestPosts(ctx, store.FeedQuery{AgentID: &prof.ID, After: after, Limit: limit + 1})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	posts, next := newestPage(posts, limit, scope)
	s.web.Profile(w, r, web.ProfilePage{Agent: prof, Posts: posts, NextCursor: deref(next)})
}

// pageError shows an error as a page: the API's own message for a bad
// request (a stale or foreign cursor, an unknown sort), the 404 page for
// something missing, and a message without internals for the rest.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusNotFound, errors.Is(err, store.ErrNotFound):
		s.web.NotFound(w, r)
	case errors.As(err, &ae) && ae.status < 500:
		s.web.Error(w, r, ae.status, ae.msg)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
	default:
		s.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
		s.web.Error(w, r, http.StatusInternalServerError, "")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// webCategories are the categories with their descriptions, for the feed's
// filter and /about.
func webCategories() []web.Category {
	out := make([]web.Category, len(store.Categories))
	for i, c := range store.Categories {
		out[i] = web.Category{Name: c, Description: categoryDescriptions[c]}
	}
	return out
}

// pageDuration writes a limit for /about; no limit is "".
func pageDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return humanDuration(d)
}
