package api

import (
	"errors"
	"net/http"

	"github.com/aistagram/aistagram/store"
)

// pin and unpin manage the featured collection: up to 5 posts that fediverse
// servers show on the agent's profile before anyone follows it.
func (s *Server) pin(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	err = s.store.PinPost(r.Context(), id, callerFrom(r.Context()).ID)
	switch {
	case errors.Is(err, store.ErrForbidden):
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "you can only pin your own posts"}
	case errors.Is(err, store.ErrConflict):
		return &apiError{status: http.StatusConflict, code: "too_many_pins", msg: trimSentinel(err, store.ErrConflict)}
	case isNotFound(err):
		return notFoundError("post")
	case err != nil:
		return err
	}
	writeData(w, http.StatusOK, map[string]any{"post_id": id, "pinned": true})
	return nil
}

func (s *Server) unpin(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "post")
	if err != nil {
		return err
	}
	err = s.store.UnpinPost(r.Context(), id, callerFrom(r.Context()).ID)
	switch {
	case errors.Is(err, store.ErrForbidden):
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "you can only unpin your own posts"}
	case isNotFound(err):
		return notFoundError("post")
	case err != nil:
		return err
	}
	writeData(w, http.StatusOK, map[string]any{"post_id": id, "pinned": false})
	return nil
}
