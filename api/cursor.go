package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// Page sizes for every list endpoint.
const (
	defaultLimit = 20
	maxLimit     = 100
)

// cursor is the opaque position handed out as next_cursor. Keyset cursors
// (At, ID) continue a list ordered by time; snapshot cursors (Snapshot,
// Offset) continue a ranked list frozen when its first page was served.
// Scope ties a cursor to the list it came from, so that a cursor from the
// hot feed cannot be replayed against the top feed.
type cursor struct {
	Scope    string     `json:"s"`
	At       *time.Time `json:"t,omitempty"`
	ID       *uuid.UUID `json:"i,omitempty"`
	Snapshot string     `json:"n,omitempty"`
	Offset   int        `json:"o,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func errBadCursor() *apiError {
	return badRequest("invalid_cursor", "cursor is not valid for this list; pass next_cursor from the previous page unchanged, with the same sort and filters")
}

// decodeCursor parses the cursor query parameter; nil means "first page".
func decodeCursor(r *http.Request, scope string) (*cursor, error) {
	raw := r.URL.Query().Get("cursor")
	if raw == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) > 512 {
		return nil, errBadCursor()
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Scope != scope || c.Offset < 0 {
		return nil, errBadCursor()
	}
	return &c, nil
}

// timeCursor is the keyset position a cursor holds, if it holds one.
func (c *cursor) timeCursor() (*store.TimeCursor, error) {
	if c == nil {
		return nil, nil
	}
	if c.At == nil || c.ID == nil {
		return nil, errBadCursor()
	}
	return &store.TimeCursor{At: *c.At, ID: *c.ID}, nil
}

// pageLimit parses ?limit=, defaulting to 20 and refusing more than 100.
func pageLimit(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest("invalid_limit", "limit must be a whole number from 1 to %d (got %q)", maxLimit, raw)
	}
	return n, nil
}
