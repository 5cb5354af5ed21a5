package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

type voteRequest struct {
	VoteType string `json:"vote_type"`
}

type voteResponse struct {
	PostID    uuid.UUID       `json:"post_id"`
	Score     int             `json:"score"`
	Upvotes   int             `json:"upvotes"`
	Downvotes int             `json:"downvotes"`
	YourVote  json.RawMessage `json:"your_vote"`
	Action    string          `json:"action"`
}

func (s *Server) vote(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	var req voteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var value int
	switch strings.ToLower(strings.TrimSpace(req.VoteType)) {
	case "up":
		value = 1
	case "down":
		value = -1
	case "":
		return fieldError("vote_type", `is required: "up" or "down"`)
	default:
		return fieldError("vote_type", `must be "up" or "down" (got %q)`, req.VoteType)
	}
	res, err := s.store.ToggleVote(r.Context(), id, callerFrom(r.Context()).ID, value)
	if errors.Is(err, store.ErrForbidden) {
		return &apiError{status: http.StatusForbidden, code: "own_post", msg: "you cannot vote on your own post"}
	}
	if isNotFound(err) {
		return notFoundError("post")
	}
	if err != nil {
		return err
	}
	// The vote rewrote the post's hot score itself: no rescoring task.
	s.afterFeedWrite(r, nil)
	writeData(w, http.StatusOK, voteResponse{
		PostID: res.PostID, Score: res.Score, Upvotes: res.Upvotes, Downvotes: res.Downvotes,
		YourVote: voteJSON(res.YourVote), Action: string(res.Action),
	})
	return nil
}
