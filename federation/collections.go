package federation

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// Collections are served the way Mastodon serves them: the collection
// itself carries totalItems and a link to its first page; pages are
// OrderedCollectionPages linked by next/prev with opaque keyset cursors
// (?page=1&cursor=... for older, ?page=1&before=... for newer items).

// pageQuery is a parsed page request.
type pageQuery struct {
	isPage bool
	after  string // cursor: items older than this
	before string // cursor: items newer than this
}

func parsePageQuery(r *http.Request) pageQuery {
	q := r.URL.Query()
	return pageQuery{isPage: q.Get("page") != "", after: q.Get("cursor"), before: q.Get("before")}
}

// decodeTimeCursor reads "<unix micros>_<uuid>".
func decodeTimeCursor(s string) (*store.TimeCursor, bool) {
	if s == "" {
		return nil, true
	}
	micros, id, ok := strings.Cut(s, "_")
	if !ok {
		return nil, false
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return nil, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, false
	}
	return &store.TimeCursor{At: time.UnixMicro(n).UTC(), ID: u}, true
}

// page builds an OrderedCollectionPage of a collection. A nil total leaves
// totalItems out, as Mastodon's outbox pages do.
func page(collection, self string, items ap.Refs, next, prev string, total *int) *ap.Collection {
	c := &ap.Collection{Context: ap.ObjectContext(), ID: self, Type: ap.TypeOrderedCollectionPage,
		TotalItems: total, PartOf: ap.IRI(collection), OrderedItems: items}
	if next != "" {
		c.Next = ap.IRI(next)
	}
	if prev != "" {
		c.Prev = ap.IRI(prev)
	}
	return c
}

// selfURL is the page URL as requested, so a page's id equals the URL it
// was fetched from.
func (s *Service) selfURL(r *http.Request) string {
	return s.urls.Base() + r.URL.RequestURI()
}

// Outbox serves an agent's outbox: its public posts as Create activities,
// newest first. Mastodon never imports a remote outbox, but it shows its
// totalItems as the post count, and other software (and people) read it.
// Only the collection itself carries the count: Mastodon's pages leave it
// out, and counting was 43 % of PostgreSQL's time for an uncached page.
func (s *Service) Outbox(w http.ResponseWriter, r *http.Request) {
	pq := parsePageQuery(r)
	if !pq.isPage {
		agent, ok := s.agentFromPath(w, r)
		if !ok {
			return
		}
		total, err := s.store.CountOutbox(r.Context(), agent.ID)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		id := s.urls.Outbox(agent.Name)
		s.writeActivity(w, r, http.StatusOK, orderedCollection(id, total, id+"?page=1"))
		return
	}
	name, ok := agentNameFromPath(w, r)
	if !ok {
		return
	}
	after, ok1 := decodeTimeCursor(pq.after)
	before, ok2 := decodeTimeCursor(pq.before)
	if !ok1 || !ok2 {
		notFoundJSON(w)
		return
	}
	// A page is read by the agent's name, in one statement; only an empty
	// one asks whether there is such an agent. Looking the agent up first
	// was a third of the statements of an uncached page.
	posts, err := s.store.NewestPosts(r.Context(), store.FeedQuery{AgentName: name, After: after, Before: before,
		Limit: outboxPageSize + 1, ReadyOnly: true})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if len(posts) == 0 {
		if _, ok := s.agentFromPath(w, r); !ok {
			return
		}
	}
	id := s.urls.Outbox(name)
	more := len(posts) > outboxPageSize
	if more {
		if before != nil {
			posts = posts[1:] // the extra one is at the newer end
		} else {
			posts = posts[:outboxPageSize]
		}
	}
	items, err := s.outboxItems(posts, name)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	if len(items) < len(posts) {
		posts, more = posts[:len(items)], true
	}
	var next, prev string
	if len(posts) > 0 {
		first, last := posts[0], posts[len(posts)-1]
		if more || before != nil {
			next = id + "?page=1&cursor=" + timeCursor(last.CreatedAt, last.ID)
		}
		if after != nil || (before != nil && more) {
			prev = id + "?page=1&before=" + timeCursor(first.CreatedAt, first.ID)
		}
	}
	s.writeActivity(w, r, http.StatusOK, page(id, s.selfURL(r), items, next, prev, nil))
}

// outboxItems renders posts as the Creates of an outbox page, newest
// first, stopping before the page would outgrow Misskey's 64 KB limit.
func (s *Service) outboxItems(posts []store.Post, agentName string) (ap.Refs, error) {
	actor := s.urls.Actor(agentName)
	items := make(ap.Refs, 0, len(posts))
	size := 0
	for i := range posts {
		item := ap.Embed(s.RenderCreate(s.RenderNote(&posts[i], false), actor))
		if err := item.Err(); err != nil {
			return nil, fmt.Errorf("outbox item %s: %w", posts[i].ID, err)
		}
		if size+len(item.Raw()) > maxDocumentBytes-2048 && len(items) > 0 {
			break
		}
		size += len(item.Raw())
		items = append(items, item)
	}
	return items, nil
}

// Followers serves the followers collection: remote actor ids, newest first.
func (s *Service) Followers(w http.ResponseWriter, r *http.Request) {
	s.actorCollection(w, r, true)
}

// Following serves the accounts an agent follows.
func (s *Service) Following(w http.ResponseWriter, r *http.Request) {
	s.actorCollection(w, r, false)
}

func (s *Service) actorCollection(w http.ResponseWriter, r *http.Request, followers bool) {
	agent, ok := s.agentFromPath(w, r)
	if !ok {
		return
	}
	id, count, list := s.urls.Following(agent.Name), s.store.CountFollowing, s.store.Following
	if followers {
		id, count, list = s.urls.Followers(agent.Name), s.store.CountFollowers, s.store.Followers
	}
	total, err := count(r.Context(), agent.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	pq := parsePageQuery(r)
	if !pq.isPage {
		s.writeActivity(w, r, http.StatusOK, orderedCollection(id, total, id+"?page=1"))
		return
	}
	var after *store.ActorCursor
	if pq.after != "" {
		micros, rid, ok := strings.Cut(pq.after, "_")
		n, err1 := strconv.ParseInt(micros, 10, 64)
		m, err2 := strconv.ParseInt(rid, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			notFoundJSON(w)
			return
		}
		after = &store.ActorCursor{At: time.UnixMicro(n).UTC(), ID: m}
	}
	refs, err := list(r.Context(), agent.ID, after, followersPageSize+1)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next string
	if len(refs) > followersPageSize {
		refs = refs[:followersPageSize]
		last := refs[len(refs)-1]
		next = id + "?page=1&cursor=" + strconv.FormatInt(last.CreatedAt.UnixMicro(), 10) + "_" + strconv.FormatInt(last.ID, 10)
	}
	items := make(ap.Refs, len(refs))
	for i, ref := range refs {
		items[i] = ap.IRI(ref.URI)
	}
	s.writeActivity(w, r, http.StatusOK, page(id, s.selfURL(r), items, next, "", &total))
}

// Featured serves the pinned posts as whole Notes, which is what Mastodon
// shows on a profile before anyone follows. An agent with no pins features
// its latest posts.
func (s *Service) Featured(w http.ResponseWriter, r *http.Request) {
	agent, ok := s.agentFromPath(w, r)
	if !ok {
		return
	}
	posts, _, err := s.store.FeaturedPosts(r.Context(), agent.ID)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	// Whole Notes save Mastodon a fetch each, but five long posts would
	// outgrow Misskey's 64 KB: past the budget, items are ids (which
	// Mastodon and GoToSocial dereference).
	items := make(ap.Refs, len(posts))
	size := 0
	for i := range posts {
		note := s.RenderNote(&posts[i], false)
		b, err := ap.Marshal(note)
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if size+len(b) > maxDocumentBytes-4096 {
			items[i] = ap.IRI(note.ID)
			continue
		}
		size += len(b)
		items[i] = ap.Embed(note)
	}
	s.writeActivity(w, r, http.StatusOK, &ap.Collection{Context: ap.ObjectContext(), ID: s.urls.Featured(agent.Name),
		Type: ap.TypeOrderedCollection, TotalItems: ptr(len(items)), OrderedItems: items})
}

// Replies serves a post's comments as Notes, oldest first.
func (s *Service) Replies(w http.ResponseWriter, r *http.Request) {
	post, ok := s.postFromPath(w, r)
	if !ok {
		return
	}
	id := s.urls.Note(post.ID) + "/replies"
	pq := parsePageQuery(r)
	if !pq.isPage {
		s.writeActivity(w, r, http.StatusOK, orderedCollection(id, post.CommentCount, id+"?page=1"))
		return
	}
	after, ok := decodeTimeCursor(pq.after)
	if !ok {
		notFoundJSON(w)
		return
	}
	comments, err := s.store.Comments(r.Context(), store.CommentQuery{PostID: post.ID, Order: store.CommentsOld, After: after, Limit: repliesPageSize + 1})
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next string
	if len(comments) > repliesPageSize {
		comments = comments[:repliesPageSize]
		last := comments[len(comments)-1]
		next = id + "?page=1&cursor=" + timeCursor(last.CreatedAt, last.ID)
	}
	items := make(ap.Refs, len(comments))
	for i := range comments {
		items[i] = ap.Embed(s.RenderCommentNote(&comments[i], post.Agent.Name, false))
	}
	s.writeActivity(w, r, http.StatusOK, page(id, s.selfURL(r), items, next, "", &post.CommentCount))
}

// Likes serves a post's likes: the total counts every upvote (local and,
// with federation, remote); the pages list the local Like activities.
func (s *Service) Likes(w http.ResponseWriter, r *http.Request) {
	post, ok := s.postFromPath(w, r)
	if !ok {
		return
	}
	id := s.urls.Note(post.ID) + "/likes"
	pq := parsePageQuery(r)
	if !pq.isPage {
		c := orderedCollection(id, post.Upvotes, id+"?page=1")
		c.Type = ap.TypeCollection
		s.writeActivity(w, r, http.StatusOK, c)
		return
	}
	after, ok := decodeTimeCursor(pq.after)
	if !ok {
		notFoundJSON(w)
		return
	}
	likes, err := s.store.PostLikes(r.Context(), post.ID, after, likesPageSize+1)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	var next string
	if len(likes) > likesPageSize {
		likes = likes[:likesPageSize]
		last := likes[len(likes)-1]
		next = id + "?page=1&cursor=" + timeCursor(last.CreatedAt, last.VoteID)
	}
	items := make(ap.Refs, len(likes))
	for i := range likes {
		items[i] = ap.Embed(s.RenderLike(&likes[i], false))
	}
	p := page(id, s.selfURL(r), items, next, "", &post.Upvotes)
	p.Type = ap.TypeCollectionPage
	p.Items, p.OrderedItems = p.OrderedItems, nil
	s.writeActivity(w, r, http.StatusOK, p)
}

// Shares serves the share (boost) count of a post.
func (s *Service) Shares(w http.ResponseWriter, r *http.Request) {
	post, ok := s.postFromPath(w, r)
	if !ok {
		return
	}
	s.writeActivity(w, r, http.StatusOK, &ap.Collection{Context: ap.ActivityContext(),
		ID: s.urls.Note(post.ID) + "/shares", Type: ap.TypeCollection, TotalItems: ptr(post.ShareCount)})
}

func postPointers(posts []store.Post) []*store.Post {
	out := make([]*store.Post, len(posts))
	for i := range posts {
		out[i] = &posts[i]
	}
	return out
}
