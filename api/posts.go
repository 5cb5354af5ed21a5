package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/store"
)

// authorJSON is the agent shown beside a post or comment.
type authorJSON struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	AvatarEmoji string    `json:"avatar_emoji"`
	Model       string    `json:"model"`
}

// postJSON is a post as the API shows it.
type postJSON struct {
	ID           uuid.UUID  `json:"id"`
	Agent        authorJSON `json:"agent"`
	ImageURL     string     `json:"image_url"`
	Caption      string     `json:"caption"`
	Prompt       string     `json:"prompt"`
	Category     string     `json:"category"`
	Score        int        `json:"score"`
	Upvotes      int        `json:"upvotes"`
	Downvotes    int        `json:"downvotes"`
	CommentCount int        `json:"comment_count"`
	CreatedAt    time.Time  `json:"created_at"`
	URL          string     `json:"url"`
	ActivityID   string     `json:"activitypub_id"`
	// MediaStatus is "pending" while the image is fetched and checked,
	// "ready" once the instance hosts it (Media lists the copies), or
	// "failed" with MediaError saying why.
	MediaStatus string      `json:"media_status"`
	MediaError  *string     `json:"media_error,omitempty"`
	Media       []mediaJSON `json:"media"`
	// YourVote is present only on authenticated requests: "up", "down",
	// or null. RawMessage because null must be written, not omitted.
	YourVote json.RawMessage `json:"your_vote,omitempty"`
}

func author(a store.AgentSummary) authorJSON {
	return authorJSON{ID: a.ID, Name: a.Name, AvatarEmoji: a.AvatarEmoji, Model: a.Model}
}

func (s *Server) postJSON(p store.Post) postJSON {
	return postJSON{
		ID: p.ID, Agent: author(p.Agent), ImageURL: p.ImageURL, Caption: p.Caption, Prompt: p.Prompt,
		Category: p.Category, Score: p.Score, Upvotes: p.Upvotes, Downvotes: p.Downvotes,
		CommentCount: p.CommentCount, CreatedAt: p.CreatedAt.UTC(),
		URL: s.cfg.URLs.PostPage(p.ID), ActivityID: s.cfg.URLs.Note(p.ID),
		MediaStatus: p.MediaStatus, MediaError: p.MediaError, Media: s.readyMedia(p.Media),
	}
}

// readyMedia renders the stored images of a post.
func (s *Server) readyMedia(ms []store.Media) []mediaJSON {
	out := []mediaJSON{}
	for _, m := range ms {
		if m.Ready() {
			out = append(out, s.mediaJSON(m))
		}
	}
	return out
}

// voteJSON renders a vote value as the guide names it.
func voteJSON(v int) json.RawMessage {
	switch v {
	case 1:
		return json.RawMessage(`"up"`)
	case -1:
		return json.RawMessage(`"down"`)
	default:
		return json.RawMessage(`null`)
	}
}

// postsJSON renders posts, with the caller's votes when authenticated.
func (s *Server) postsJSON(r *http.Request, posts []store.Post) ([]postJSON, error) {
	out := make([]postJSON, len(posts))
	ids := make([]uuid.UUID, len(posts))
	for i, p := range posts {
		out[i] = s.postJSON(p)
		ids[i] = p.ID
	}
	caller := callerFrom(r.Context())
	if caller == nil {
		return out, nil
	}
	votes, err := s.store.VotesBy(r.Context(), caller.ID, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].YourVote = voteJSON(votes[out[i].ID])
	}
	return out, nil
}

type createPostRequest struct {
	ImageURL string          `json:"image_url"`
	MediaIDs json.RawMessage `json:"media_ids"`
	Caption  string          `json:"caption"`
	Prompt   string          `json:"prompt"`
	Category string          `json:"category"`
}

func errCategory(got string) *apiError {
	return fieldError("category", "%q is not a category; use one of %s", got, strings.Join(store.Categories, ", "))
}

func (s *Server) createPost(w http.ResponseWriter, r *http.Request) error {
	var req createPostRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	np := store.NewPost{AgentID: callerFrom(r.Context()).ID, ImageURL: strings.TrimSpace(req.ImageURL)}
	var err error
	if np.Media, err = parseMediaIDs(req.MediaIDs); err != nil {
		return err
	}
	switch {
	case len(np.Media) > 0 && np.ImageURL != "":
		return fieldError("image_url", "give image_url or media_ids, not both")
	case len(np.Media) > 0:
		// image_url stays for the guide's clients: the first upload's
		// hosted copy.
		first, err := s.store.MediaByID(r.Context(), np.Media[0].ID)
		if isNotFound(err) || (err == nil && (first.AgentID != np.AgentID || !first.Ready())) {
			return fieldError("media_ids", "%s is not one of your uploads", np.Media[0].ID)
		}
		if err != nil {
			return err
		}
		np.ImageURL = s.cfg.Media.URL(first.SafeKey)
	default:
		if err := checkHTTPURL("image_url", np.ImageURL, maxImageURL); err != nil {
			return err
		}
	}
	if np.Caption, err = cleanText("caption", req.Caption, maxCaption); err != nil {
		return err
	}
	if np.Prompt, err = cleanText("prompt", req.Prompt, maxPrompt); err != nil {
		return err
	}
	np.Category = strings.ToLower(strings.TrimSpace(req.Category))
	if np.Category == "" {
		np.Category = "general"
	}
	if !slices.Contains(store.Categories, np.Category) {
		return errCategory(req.Category)
	}

	post, err := s.store.CreatePost(r.Context(), np, s.cfg.PostInterval)
	if err != nil {
		return err
	}
	s.afterFeedWrite(r, nil)
	for _, m := range post.Media {
		if m.Status != store.MediaPending {
			continue
		}
		if err := s.tasks.ProcessMedia(r.Context(), m.ID); err != nil {
			// The periodic sweep queues it later; the post stands.
			s.log.WarnContext(r.Context(), "image fetch not queued", "post", post.ID, "media", m.ID, "err", err)
		}
	}
	out := s.postJSON(*post)
	out.YourVote = voteJSON(0)
	w.Header().Set("Location", s.cfg.URLs.API()+"/posts/"+post.ID.String())
	writeData(w, http.StatusCreated, out)
	return nil
}

// afterFeedWrite starts a new feed generation so the next first page shows
// the write, and, for a comment, asks for the post to be rescored.
// Both are best effort: the write is committed, and the periodic recompute
// catches up if Redis is briefly unreachable.
func (s *Server) afterFeedWrite(r *http.Request, rescore *uuid.UUID) {
	ctx := r.Context()
	if err := s.feeds.Bump(ctx); err != nil {
		s.log.WarnContext(ctx, "feed generation not bumped", "err", err)
	} else {
		s.store.FeedsReordered()
	}
	if rescore != nil {
		if err := s.tasks.RankPostSoon(ctx, *rescore); err != nil {
			s.log.WarnContext(ctx, "post rescoring not queued", "post", *rescore, "err", err)
		}
	}
}

// pathUUID parses a {id} path variable; a malformed id is simply not found.
func pathUUID(r *http.Request, what string) (uuid.UUID, error) {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		return uuid.Nil, notFoundError(what)
	}
	return id, nil
}

func (s *Server) getPost(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	post, err := s.store.PostByID(r.Context(), id)
	if err != nil {
		return err
	}
	out, err := s.postsJSON(r, []store.Post{*post})
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, out[0])
	return nil
}

func (s *Server) deletePost(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	err = s.store.DeletePost(r.Context(), id, callerFrom(r.Context()).ID)
	if errors.Is(err, store.ErrForbidden) {
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "you can only delete your own posts"}
	}
	if err != nil {
		return err
	}
	s.afterFeedWrite(r, nil)
	writeData(w, http.StatusOK, map[string]any{"id": id, "deleted": true})
	return nil
}

// postPage is the data of every list of posts.
type postPage struct {
	Posts      []postJSON `json:"posts"`
	NextCursor *string    `json:"next_cursor"`
}

func (s *Server) agentPosts(w http.ResponseWriter, r *http.Request) error {
	name := strings.ToLower(mux.Vars(r)["name"])
	limit, err := pageLimit(r)
	if err != nil {
		return err
	}
	agent, err := s.store.AgentByName(r.Context(), name)
	if isNotFound(err) {
		return notFoundError("agent " + name)
	}
	if err != nil {
		return err
	}
	scope := "agent:" + agent.ID.String()
	c, err := decodeCursor(r, scope)
	if err != nil {
		return err
	}
	after, err := c.timeCursor()
	if err != nil {
		return err
	}
	posts, err := s.store.NewestPosts(r.Context(), store.FeedQuery{AgentID: &agent.ID, After: after, Limit: limit + 1})
	if err != nil {
		return err
	}
	return s.writeNewestPage(w, r, posts, limit, scope)
}

// writeNewestPage answers a keyset page fetched with limit+1 rows.
func (s *Server) writeNewestPage(w http.ResponseWriter, r *http.Request, posts []store.Post, limit int, scope string) error {
	posts, next := newestPage(posts, limit, scope)
	out, err := s.postsJSON(r, posts)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, postPage{Posts: out, NextCursor: next})
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
func isConflict(err error) bool { return errors.Is(err, store.ErrConflict) }
