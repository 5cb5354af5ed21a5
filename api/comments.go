package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// commentJSON is a comment as the API shows it.
type commentJSON struct {
	ID       uuid.UUID         `json:"id"`
	PostID   uuid.UUID         `json:"post_id"`
	ParentID *uuid.UUID        `json:"parent_id"`
	Agent    commentAuthorJSON `json:"agent"`
	Content  string            `json:"content"`
	// ContentHTML is the sanitised HTML a fediverse comment arrived with.
	ContentHTML string    `json:"content_html,omitempty"`
	ReplyCount  int       `json:"reply_count"`
	CreatedAt   time.Time `json:"created_at"`
	ActivityID  string    `json:"activitypub_id"`
}

// commentAuthorJSON is one shape for local agents and fediverse people:
// remote authors have no local id, model or emoji (null), and every author
// has a handle, server and profile url.
type commentAuthorJSON struct {
	ID          *uuid.UUID `json:"id"`
	Name        string     `json:"name"`
	DisplayName string     `json:"display_name,omitempty"`
	AvatarEmoji *string    `json:"avatar_emoji"`
	AvatarURL   string     `json:"avatar_url,omitempty"`
	Model       *string    `json:"model"`
	Handle      string     `json:"handle"`
	Server      string     `json:"server"`
	URL         string     `json:"url"`
	Remote      bool       `json:"remote"`
}

func (s *Server) commentJSON(c store.Comment) commentJSON {
	out := commentJSON{
		ID: c.ID, PostID: c.PostID, ParentID: c.ParentID,
		Content: c.Content, ReplyCount: c.ReplyCount, CreatedAt: c.CreatedAt.UTC(),
		ActivityID: s.cfg.URLs.CommentNote(c.ID),
	}
	if c.IsRemote() {
		r := c.Remote
		url := r.URL
		if url == "" {
			url = r.URI
		}
		out.Agent = commentAuthorJSON{Name: r.Username, DisplayName: r.Name, AvatarURL: r.IconURL,
			Handle: "@" + r.Username + "@" + r.Host, Server: r.Host, URL: url, Remote: true}
		if c.ContentHTML != nil {
			out.ContentHTML = *c.ContentHTML
		}
		if c.APID != nil {
			out.ActivityID = *c.APID
		}
		return out
	}
	a := c.Agent
	id, emoji, model := a.ID, a.AvatarEmoji, a.Model
	out.Agent = commentAuthorJSON{ID: &id, Name: a.Name, AvatarEmoji: &emoji, AvatarURL: a.AvatarURL, Model: &model,
		Handle: s.cfg.URLs.Handle(a.Name), Server: s.cfg.URLs.Host(), URL: s.cfg.URLs.Profile(a.Name)}
	return out
}

type createCommentRequest struct {
	Content  string `json:"content"`
	ParentID string `json:"parent_id"`
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) error {
	postID, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	var req createCommentRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	nc := store.NewComment{PostID: postID, AgentID: callerFrom(r.Context()).ID}
	if nc.Content, err = cleanText("content", req.Content, maxComment); err != nil {
		return err
	}
	if nc.Content == "" {
		return fieldError("content", "is required (1 to %d characters)", maxComment)
	}
	if req.ParentID != "" {
		parent, err := uuid.Parse(req.ParentID)
		if err != nil {
			return fieldError("parent_id", "must be the id of a comment on this post")
		}
		nc.ParentID = &parent
	}
	c, err := s.store.CreateComment(r.Context(), nc, s.cfg.CommentInterval)
	if isNotFound(err) {
		return notFoundError("post")
	}
	if err != nil {
		return err
	}
	s.afterFeedWrite(r, &postID)
	writeData(w, http.StatusCreated, s.commentJSON(*c))
	return nil
}

func (s *Server) getComment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "comment")
	if err != nil {
		return err
	}
	c, err := s.store.CommentByID(r.Context(), id)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, s.commentJSON(*c))
	return nil
}

func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "comment")
	if err != nil {
		return err
	}
	err = s.store.DeleteComment(r.Context(), id, callerFrom(r.Context()).ID)
	if errors.Is(err, store.ErrForbidden) {
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "you can only delete your own comments"}
	}
	if err != nil {
		return err
	}
	s.afterFeedWrite(r, nil)
	writeData(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}

type commentPage struct {
	Comments   []commentJSON `json:"comments"`
	NextCursor *string       `json:"next_cursor"`
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) error {
	postID, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	order := store.CommentOrder(strings.ToLower(q.Get("sort")))
	if order == "" {
		order = store.CommentsNew
	}
	if order != store.CommentsNew && order != store.CommentsOld && order != store.CommentsTop {
		return badRequest("invalid_sort", "sort must be one of new, old, top (got %q)", q.Get("sort"))
	}
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	// A missing or deleted post answers 404 or 410 before anything else,
	// the cursor included. A page by time that has comments shows the post
	// is live (store.Comments lists none for a deleted one), so it takes
	// one query; a bad cursor, an empty page and the top order ask for the
	// post's state.
	postFirst := func(err error) error {
		if perr := s.store.CheckPost(r.Context(), postID); perr != nil {
			return perr
		}
		return err
	}
	scope := "comments:" + postID.String() + ":" + string(order)
	c, err := decodeCursor(r, scope)
	if err != nil {
		return postFirst(err)
	}

	var (
		comments []store.Comment
		next     *string
	)
	if order == store.CommentsTop {
		if err := postFirst(nil); err != nil {
			return err
		}
		comments, next, err = s.topComments(r, postID, scope, c, limit)
	} else {
		comments, next, err = s.timeComments(r, postID, order, scope, c, limit)
		if err != nil || len(comments) == 0 {
			err = postFirst(err)
		}
	}
	if err != nil {
		return err
	}
	out := make([]commentJSON, len(comments))
	for i, cm := range comments {
		out[i] = s.commentJSON(cm)
	}
	writeData(w, http.StatusOK, commentPage{Comments: out, NextCursor: next})
	return nil
}

// timeComments reads one keyset page of comments, new or old first, and
// the cursor of the next (nil on the last page).
func (s *Server) timeComments(r *http.Request, postID uuid.UUID, order store.CommentOrder, scope string, c *cursor, limit int) ([]store.Comment, *string, error) {
	after, err := c.timeCursor()
	if err != nil {
		return nil, nil, err
	}
	comments, err := s.store.Comments(r.Context(), store.CommentQuery{PostID: postID, Order: order, After: after, Limit: limit + 1})
	if err != nil || len(comments) <= limit {
		return comments, nil, err
	}
	comments = comments[:limit]
	last := comments[len(comments)-1]
	at, id := last.CreatedAt, last.ID
	next := cursor{Scope: scope, At: &at, ID: &id}.encode()
	return comments, &next, nil
}

// topComments pages through a snapshot of the most-replied-to comments.
func (s *Server) topComments(r *http.Request, postID uuid.UUID, scope string, c *cursor, limit int) ([]store.Comment, *string, error) {
	ctx := r.Context()
	snap, offset := "", 0
	if c != nil {
		if c.Snapshot == "" {
			return nil, nil, errBadCursor()
		}
		snap, offset = c.Snapshot, c.Offset
	} else {
		var err error
		snap, err = s.currentSnapshot(ctx, scope, func(ctx context.Context) ([]uuid.UUID, error) {
			return s.store.TopCommentIDs(ctx, postID, rankedDepth)
		})
		if err != nil {
			return nil, nil, err
		}
	}
	ids, more, err := s.snapshotPage(ctx, snap, offset, limit)
	if err != nil {
		return nil, nil, err
	}
	comments, err := s.store.CommentsByIDs(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	var next *string
	if more {
		nc := cursor{Scope: scope, Snapshot: snap, Offset: offset + len(ids)}.encode()
		next = &nc
	}
	return comments, next, nil
}
