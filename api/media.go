package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
)

// maxAlt is the longest alt text, as Mastodon allows.
const maxAlt = 1500

// mediaJSON is a stored image as the API shows it: the URLs serve the
// federation-safe copy and its thumbnail, and width, height and mime are
// theirs.
type mediaJSON struct {
	ID           uuid.UUID `json:"id"`
	URL          string    `json:"url"`
	ThumbnailURL string    `json:"thumbnail_url"`
	Width        int       `json:"width"`
	Height       int       `json:"height"`
	Blurhash     string    `json:"blurhash"`
	Mime         string    `json:"mime"`
	Alt          string    `json:"alt"`
}

func (s *Server) mediaJSON(m store.Media) mediaJSON {
	out := mediaJSON{ID: m.ID, URL: s.cfg.Media.URL(m.SafeKey), ThumbnailURL: s.cfg.Media.URL(m.ThumbKey), Alt: m.Alt}
	if m.SafeWidth != nil && m.SafeHeight != nil {
		out.Width, out.Height = *m.SafeWidth, *m.SafeHeight
	}
	if m.Blurhash != nil {
		out.Blurhash = *m.Blurhash
	}
	if m.SafeMime != nil {
		out.Mime = *m.SafeMime
	}
	return out
}

// uploadMedia takes an image as a multipart/form-data file (field "file")
// or as the raw body with an image Content-Type, checks and stores it at
// once, and answers its id for media_ids or avatar_media_id.
func (s *Server) uploadMedia(w http.ResponseWriter, r *http.Request) error {
	// Reading and decoding hold a whole image in memory: a few uploads at
	// a time, so memory stays bounded however many arrive.
	select {
	case s.uploadSlots <- struct{}{}:
		defer func() { <-s.uploadSlots }()
	case <-r.Context().Done():
		return errClientGone
	}
	data, err := readUpload(r, s.cfg.MediaMaxBytes)
	if err != nil {
		return err
	}
	prepared, err := s.cfg.Media.Prepare(data)
	var rejected *media.RejectError
	if errors.As(err, &rejected) {
		return badRequest("invalid_image", "%s", rejected.Reason)
	}
	if err != nil {
		return err
	}
	m, err := s.store.CreateUploadedMedia(r.Context(), callerFrom(r.Context()).ID, prepared.Files,
		func(ctx context.Context) error { return s.cfg.Media.Save(ctx, prepared) })
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, s.mediaJSON(*m))
	return nil
}

// errClientGone answers a client that left while its upload waited; it
// never reads the answer, and it is not a server error.
var errClientGone = &apiError{status: 499, code: "client_closed_request", msg: "the client closed the request"}

// readUpload reads the image of an upload request, at most max bytes.
func readUpload(r *http.Request, max int64) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		mt = ""
	}
	var src io.Reader
	switch {
	case mt == "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, badRequest("invalid_upload", "malformed multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, badRequest("invalid_upload", `no "file" part in the multipart body`)
			}
			if err != nil {
				return nil, uploadReadError(err, max)
			}
			if part.FormName() == "file" {
				src = part
				break
			}
		}
	case strings.HasPrefix(mt, "image/"):
		src = r.Body
	default:
		return nil, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: `send the image as multipart/form-data (field "file") or as the body with an image/* Content-Type`}
	}
	data, err := io.ReadAll(io.LimitReader(src, max+1))
	if err != nil {
		return nil, uploadReadError(err, max)
	}
	if int64(len(data)) > max {
		return nil, tooLarge(max)
	}
	if len(data) == 0 {
		return nil, badRequest("invalid_upload", "the image is empty")
	}
	return data, nil
}

func uploadReadError(err error, max int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(max)
	}
	return badRequest("invalid_upload", "could not read the upload: %v", err)
}

func tooLarge(max int64) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
		msg: fmt.Sprintf("the image is larger than %s", humanBytes(max))}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// parseMediaIDs reads media_ids: a list of ids, or of {"id", "alt"}.
func parseMediaIDs(raw json.RawMessage) ([]store.MediaRef, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var ids []string
	var objs []struct {
		ID  string `json:"id"`
		Alt string `json:"alt"`
	}
	var refs []store.MediaRef
	if err := json.Unmarshal(raw, &ids); err == nil {
		for _, id := range ids {
			objs = append(objs, struct {
				ID  string `json:"id"`
				Alt string `json:"alt"`
			}{ID: id})
		}
	} else if err := json.Unmarshal(raw, &objs); err != nil {
		return nil, fieldError("media_ids", `must be a list of media ids, or of {"id": ..., "alt": ...}`)
	}
	if len(objs) == 0 || len(objs) > store.MaxPostMedia {
		return nil, fieldError("media_ids", "give 1 to %d images", store.MaxPostMedia)
	}
	seen := map[uuid.UUID]bool{}
	for _, o := range objs {
		id, err := uuid.Parse(o.ID)
		if err != nil {
			return nil, fieldError("media_ids", "%q is not a media id", o.ID)
		}
		if seen[id] {
			return nil, fieldError("media_ids", "%s is listed twice", id)
		}
		seen[id] = true
		alt, err := cleanText("alt", o.Alt, maxAlt)
		if err != nil {
			return nil, err
		}
		refs = append(refs, store.MediaRef{ID: id, Alt: alt})
	}
	return refs, nil
}
