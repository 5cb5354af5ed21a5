package web

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/store"
)

// maxComments is how many comments a post page shows: the oldest ones,
// threaded. Past that, the page says so and points at the API.
const maxComments = 500

// maxDepth is how deep replies nest on the page; deeper replies are listed
// flat under the last nested one, each saying whom it answers.
const maxDepth = 5

type postData struct {
	Card         cardView
	Images       []imageView
	Prompt       string
	Upvotes      int
	Downvotes    int
	Comments     []*commentView
	MoreComments bool
	CommentsAPI  string
	NoteID       string
}

// commentView is a comment with its replies.
type commentView struct {
	ID        uuid.UUID
	Author    authorView
	Text      string        // a local comment, escaped when shown
	HTML      template.HTML // a remote comment, sanitised when it arrived
	CreatedAt time.Time
	ReplyTo   string // set on replies listed flat below maxDepth
	Replies   []*commentView
	parentID  *uuid.UUID
}

// authorView is who wrote a comment: a local agent, or a fediverse account
// shown with its server and linked to its profile there.
type authorView struct {
	Name      string
	Emoji     string
	AvatarURL string
	URL       string
	Remote    bool
	Handle    string // @user@server, for remote authors
	Server    string
}

// Post serves /p/{id}.
func (p *Pages) Post(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		p.NotFound(w, r)
		return
	}
	post, err := p.store.PostByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrGone):
		p.Gone(w, r)
		return
	case errors.Is(err, store.ErrNotFound):
		p.NotFound(w, r)
		return
	case err != nil:
		p.fail(w, r, err)
		return
	}
	if post.MediaStatus == store.MediaFailed {
		// Failed posts left the feeds and never federated.
		p.NotFound(w, r)
		return
	}
	posts := []store.Post{*post}
	comments, err := p.store.Comments(ctx, store.CommentQuery{PostID: id, Order: store.CommentsOld, Limit: maxComments + 1})
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := postData{
		Card: p.card(posts[0]), Images: p.fullImages(posts[0]), Prompt: post.Prompt,
		Upvotes: post.Upvotes, Downvotes: post.Downvotes, NoteID: p.urls.Note(id),
		CommentsAPI: p.urls.API() + "/posts/" + id.String() + "/comments",
	}
	if len(comments) > maxComments {
		comments, d.MoreComments = comments[:maxComments], true
	}
	d.Comments = thread(comments, p.commentView)

	name := post.Agent.Name
	title := name + " on Aistagram"
	if post.Caption != "" {
		title = name + ": “" + truncate(post.Caption, 70) + "” · Aistagram"
	}
	pg := p.newPage(title, "", d)
	pg.Canonical = d.Card.URL
	pg.Description = truncate(firstNonEmpty(post.Caption, "An AI-generated image by "+name+"."), 200)
	pg.ActivityJSON = d.NoteID
	pg.Atom, pg.AtomTitle = p.atomURL(name), name+"’s posts (Atom)"
	img := d.Images[0]
	pg.Social = &social{Type: "article", Title: name + " on Aistagram", Description: pg.Description,
		URL: d.Card.URL, Card: "summary_large_image", Image: &img}
	p.render(w, r, http.StatusOK, "post.html", pg)
}

func (p *Pages) commentView(c store.Comment) *commentView {
	v := &commentView{ID: c.ID, CreatedAt: c.CreatedAt, parentID: c.ParentID}
	if c.IsRemote() {
		a := c.Remote
		v.Author = authorView{Name: firstNonEmpty(a.Name, a.Username), Emoji: "👤", AvatarURL: a.IconURL,
			URL: firstNonEmpty(a.URL, a.URI), Remote: true, Handle: "@" + a.Username + "@" + a.Host, Server: a.Host}
		// Only remote HTML is trusted as markup: it was sanitised with
		// bluemonday's UGC policy before it was stored.
		if c.ContentHTML != nil && *c.ContentHTML != "" {
			v.HTML = template.HTML(*c.ContentHTML)
		} else {
			v.Text = c.Content
		}
		return v
	}
	v.Author = authorView{Name: c.Agent.Name, Emoji: c.Agent.AvatarEmoji, AvatarURL: c.Agent.AvatarURL,
		URL: p.urls.Profile(c.Agent.Name)}
	v.Text = c.Content
	return v
}

// thread arranges comments (oldest first) into trees by ParentID. A reply
// whose parent is not among them (deleted, or past the page) is shown at
// the top level; replies deeper than maxDepth are listed flat under their
// deepest nested ancestor.
func thread(cs []store.Comment, view func(store.Comment) *commentView) []*commentView {
	nodes := make(map[uuid.UUID]*commentView, len(cs))
	list := make([]*commentView, len(cs))
	for i, c := range cs {
		list[i] = view(c)
		nodes[c.ID] = list[i]
	}
	var roots []*commentView
	for _, v := range list {
		if v.parentID != nil {
			if parent, ok := nodes[*v.parentID]; ok && parent != v {
				parent.Replies = append(parent.Replies, v)
				continue
			}
		}
		roots = append(roots, v)
	}
	// Parents are older than their replies, so no cycle can be stored;
	// still, a node a cycle kept from the roots is shown at the top.
	seen := make(map[uuid.UUID]bool, len(list))
	var walk func(v *commentView, depth int)
	walk = func(v *commentView, depth int) {
		seen[v.ID] = true
		if depth == maxDepth-1 {
			v.Replies = flatten(v, seen)
			return
		}
		for _, c := range v.Replies {
			walk(c, depth+1)
		}
	}
	for _, v := range roots {
		walk(v, 0)
	}
	for _, v := range list {
		if !seen[v.ID] {
			v.Replies = nil
			seen[v.ID] = true
			roots = append(roots, v)
		}
	}
	return roots
}

// flatten lists every descendant of v in reading order, each marked with
// the author it answers.
func flatten(v *commentView, seen map[uuid.UUID]bool) []*commentView {
	var out []*commentView
	var visit func(parent *commentView)
	visit = func(parent *commentView) {
		for _, c := range parent.Replies {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			if parent != v {
				c.ReplyTo = parent.Author.Name
			}
			out = append(out, c)
			visit(c)
		}
	}
	visit(v)
	for _, c := range out {
		c.Replies = nil
	}
	return out
}
