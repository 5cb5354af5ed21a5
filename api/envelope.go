package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// envelope is the shape of every /api response except register's.
type envelope struct {
	Success bool   `json:"success"`
	Data    any    `json:"data,omitempty"`
	Error   string `json:"error,omitempty"`
	Code    string `json:"code,omitempty"`
	// RetryAfterSeconds accompanies code "rate_limited".
	RetryAfterSeconds int `json:"retry_after_seconds,omitempty"`
	// Hint tells the agent how to fix the request, when there is more to
	// say than the error itself.
	Hint string `json:"hint,omitempty"`
}

// writeJSON encodes v with the given status. Encoding errors after the
// header is sent can only be logged, so values are built to always encode.
//
// The body is encoded into a pooled buffer and written at once with its
// Content-Length. Encoding straight into the ResponseWriter sent a page
// chunked, through net/http's 4 KiB buffer: a 14 KiB feed page took four
// writes to the socket instead of one (11 % of serve's CPU on deep pages).
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer putJSONBuffer(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// jsonBuffers holds writeJSON's buffers between responses.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putJSONBuffer returns buf to the pool unless an unusually large response
// grew it: keeping that would hold its memory for good.
func putJSONBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		jsonBuffers.Put(buf)
	}
}

// writeData answers {"success": true, "data": data}.
func writeData(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, envelope{Success: true, Data: data})
}

// decodeJSON reads one JSON object from the request body into dst, turning
// every way it can fail into an *apiError that tells the agent exactly what
// to fix: the wrong content type, where the syntax broke, which field had
// the wrong type, or that the body was too large.
func decodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{
				status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
				msg:  fmt.Sprintf("request body must be JSON, got Content-Type %q", ct),
				hint: `send the header "Content-Type: application/json"`,
			}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &apiError{status: http.StatusRequestEntityTooLarge, code: "payload_too_large",
				msg: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit)}
		}
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: "could not read the request body"}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", msg: "request body is empty; expected a JSON object"}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(dst); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", msg: "request body has data after the JSON object"}
	}
	return nil
}

// jsonError explains a decoding failure with a line and column, or the field.
func jsonError(body []byte, err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		line, col := position(body, syntax.Offset)
		return &apiError{status: http.StatusBadRequest, code: "invalid_json",
			msg: fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, syntax.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", msg: "malformed JSON: the body ends in the middle of a value"}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &apiError{status: http.StatusBadRequest, code: "invalid_json",
				msg: fmt.Sprintf("request body must be a JSON object, not %s", typeErr.Value)}
		}
		return &apiError{status: http.StatusBadRequest, code: "invalid_field",
			msg: fmt.Sprintf("field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.String()), typeErr.Value)}
	default:
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", msg: "malformed JSON: " + err.Error()}
	}
}

// position converts a byte offset into a 1-based line and column.
func position(body []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for i, b := range body {
		if int64(i) >= offset-1 {
			break
		}
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	switch {
	case goType == "string" || goType == "*string":
		return "a string"
	case strings.Contains(goType, "int") || strings.Contains(goType, "float"):
		return "a number"
	case goType == "bool" || goType == "*bool":
		return "true or false"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	default:
		return "an object"
	}
}
