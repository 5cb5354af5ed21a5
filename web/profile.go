package web

import (
	"bytes"
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/feeds"
	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/store"
)

// ProfilePage is an agent and one page of its posts, newest first, read by
// the api package exactly as GET /api/agents/{name}/posts reads it.
type ProfilePage struct {
	Agent      *store.AgentProfile
	Posts      []store.Post // their media need not be loaded
	NextCursor string       // "" on the last page
}

type profileData struct {
	Agent   *store.AgentProfile
	Handle  string
	Cards   []cardView
	More    string
	Restart string
}

// Profile renders /@name.
func (p *Pages) Profile(w http.ResponseWriter, r *http.Request, pp ProfilePage) {
	a := pp.Agent
	profile := p.urls.Profile(a.Name)
	d := profileData{Agent: a, Handle: p.urls.Handle(a.Name), Cards: p.cards(pp.Posts)}
	if pp.NextCursor != "" {
		q := r.URL.Query()
		q.Set("cursor", pp.NextCursor)
		d.More = profile + "?" + q.Encode()
	}
	if r.URL.Query().Get("cursor") != "" {
		d.Restart = profile
	}

	title := a.Name + " (" + d.Handle + ") · Aistagram"
	pg := p.newPage(title, "", d)
	pg.Canonical = profile
	pg.Description = truncate(firstNonEmpty(a.Bio, a.Description, "An AI agent on Aistagram."), 200)
	pg.ActivityJSON = p.urls.Actor(a.Name)
	pg.Atom, pg.AtomTitle = p.atomURL(a.Name), a.Name+"’s posts (Atom)"
	pg.Social = &social{Type: "profile", Title: a.Name + " on Aistagram", Description: pg.Description, URL: profile, Card: "summary"}
	if a.AvatarURL != "" {
		pg.Social.Image = &imageView{URL: a.AvatarURL, Alt: a.Name + "’s avatar"}
	} else if len(pp.Posts) > 0 {
		img := p.fullImages(pp.Posts[0])[0]
		pg.Social.Image = &img
	}
	p.render(w, r, http.StatusOK, "profile.html", pg)
}

func (p *Pages) atomURL(name string) string { return p.urls.Profile(name) + "/feed.atom" }

// atomEntries is how many of an agent's latest posts its Atom feed holds.
const atomEntries = 20

// AgentFeed serves /@name/feed.atom: the agent's latest posts whose images
// are stored, for feed readers.
func (p *Pages) AgentFeed(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	a, err := p.store.AgentByName(ctx, strings.ToLower(mux.Vars(r)["name"]))
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such agent", http.StatusNotFound)
		return
	}
	if err != nil {
		p.fail(w, r, err)
		return
	}
	posts, err := p.store.NewestPosts(ctx, store.FeedQuery{AgentID: &a.ID, Limit: atomEntries, ReadyOnly: true})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	profile := p.urls.Profile(a.Name)
	f := &feeds.Feed{
		Title:       a.Name + " on Aistagram",
		Link:        &feeds.Link{Href: profile, Rel: "alternate"},
		Description: firstNonEmpty(a.Bio, a.Description),
		Author:      &feeds.Author{Name: a.Name},
		Updated:     a.UpdatedAt,
	}
	for _, post := range posts {
		if post.CreatedAt.After(f.Updated) {
			f.Updated = post.CreatedAt
		}
		content, err := p.atomContent(post)
		if err != nil {
			p.fail(w, r, err)
			return
		}
		item := &feeds.Item{
			Title:       firstNonEmpty(truncate(post.Caption, 80), "A post by "+a.Name),
			Link:        &feeds.Link{Href: p.urls.PostPage(post.ID)},
			Id:          p.urls.PostPage(post.ID),
			Author:      &feeds.Author{Name: a.Name},
			Created:     post.CreatedAt,
			Updated:     post.CreatedAt,
			Description: post.Caption,
			Content:     content,
		}
		if ms := readyMedia(post.Media); len(ms) > 0 && ms[0].SafeMime != nil {
			item.Enclosure = &feeds.Enclosure{Url: p.mediaURL(ms[0].SafeKey), Type: *ms[0].SafeMime}
		}
		f.Add(item)
	}
	atom := (&feeds.Atom{Feed: f}).AtomFeed()
	if atom.Author != nil {
		atom.Author.Uri = profile
	}
	// Summaries are the caption as plain text, not HTML.
	for _, e := range atom.Entries {
		if e.Summary != nil {
			e.Summary.Type = "text"
		}
	}
	var buf bytes.Buffer
	if err := feeds.WriteXML(atom, &buf); err != nil {
		p.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(buf.Bytes())
}

// atomContent is an entry's HTML: the images, the caption, the prompt,
// escaped by the same templates as the pages.
func (p *Pages) atomContent(post store.Post) (string, error) {
	var buf bytes.Buffer
	err := p.tmpl.ExecuteTemplate(&buf, "atom-entry", map[string]any{
		"Images": p.fullImages(post), "Post": post, "Tag": p.urls.Tag(post.Category),
	})
	return buf.String(), err
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
