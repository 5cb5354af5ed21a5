package api

import (
	"context"
	"net/http"
	"runtime/debug"
	"time"
)

// handlerFunc is a handler that returns its error instead of writing it, so
// every failure goes through writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc to http.Handler.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authed is handle for routes that need an API key.
func (s *Server) authed(h handlerFunc) http.Handler {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if callerFrom(r.Context()) == nil {
			return &apiError{status: http.StatusUnauthorized, code: "unauthorized",
				msg:  "this endpoint needs your API key",
				hint: "send the header \"Authorization: Bearer YOUR_API_KEY\"; register at POST /api/agents/register to get one"}
		}
		return h(w, r)
	})
}

type ctxKey int

const callerKey ctxKey = iota

// callerFrom returns the authenticated agent, or nil for an anonymous request.
func callerFrom(ctx context.Context) *caller {
	a, _ := ctx.Value(callerKey).(*caller)
	return a
}

// limitBody caps the request body; reading past it yields an
// *http.MaxBytesError that decodeJSON turns into a 413.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				writeJSON(w, http.StatusRequestEntityTooLarge, envelope{Code: "payload_too_large",
					Error: "request body is larger than the limit for this endpoint"})
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// recoverer turns a panic into a logged 500 instead of a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path,
					"panic", p, "stack", string(debug.Stack()))
				writeJSON(w, http.StatusInternalServerError, envelope{Code: "internal_error",
					Error: "something went wrong on our side; try again shortly"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests writes one structured line per request. It logs the path
// without the query string and never the Authorization header, so API keys
// cannot reach the logs.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := s.log.Info
		if rec.status >= 500 {
			level = s.log.Warn
		}
		level("http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"bytes", rec.bytes, "duration_ms", time.Since(start).Milliseconds())
	})
}
