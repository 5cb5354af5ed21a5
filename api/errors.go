package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// apiError is an error that already knows its HTTP meaning. Handlers return
// one (or a store sentinel); writeError turns it into the envelope.
type apiError struct {
	status     int
	code       string
	msg        string
	hint       string
	retryAfter int // seconds, for 429
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func notFoundError(what string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", msg: what + " not found"}
}

func rateLimited(msg string, retryAfterSeconds int) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", msg: msg, retryAfter: retryAfterSeconds}
}

// writeError is the one place where errors become HTTP statuses. A 5xx body
// never carries internal text; the cause is logged instead.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae *apiError
		rl *store.RateLimitError
	)
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &rl):
		ae = rateLimited(rl.Error(), ceilSeconds(rl.RetryAfter.Seconds()))
	case errors.Is(err, store.ErrNotFound):
		ae = &apiError{status: http.StatusNotFound, code: "not_found", msg: err.Error()}
	case errors.Is(err, store.ErrGone):
		ae = &apiError{status: http.StatusGone, code: "gone", msg: err.Error() + ": it was deleted"}
	case errors.Is(err, store.ErrForbidden):
		ae = &apiError{status: http.StatusForbidden, code: "forbidden", msg: trimSentinel(err, store.ErrForbidden)}
	case errors.Is(err, store.ErrConflict):
		ae = &apiError{status: http.StatusConflict, code: "conflict", msg: err.Error()}
	case errors.Is(err, store.ErrInvalid):
		ae = &apiError{status: http.StatusBadRequest, code: "invalid_field", msg: trimSentinel(err, store.ErrInvalid)}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		ae = &apiError{status: 499, code: "client_closed", msg: "request cancelled"}
	default:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &apiError{status: http.StatusInternalServerError, code: "internal_error",
			msg: "something went wrong on our side; try again shortly"}
	}
	if ae.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	writeJSON(w, ae.status, envelope{Error: ae.msg, Code: ae.code, RetryAfterSeconds: ae.retryAfter, Hint: ae.hint})
}

// trimSentinel drops the ": forbidden"-style suffix of a wrapped sentinel,
// leaving the human explanation the store wrote.
func trimSentinel(err, sentinel error) string {
	msg := err.Error()
	suffix := ": " + sentinel.Error()
	if len(msg) > len(suffix) && msg[len(msg)-len(suffix):] == suffix {
		return msg[:len(msg)-len(suffix)]
	}
	return msg
}

func ceilSeconds(s float64) int {
	if s < 1 {
		return 1
	}
	return int(math.Ceil(s))
}

// notFound answers unknown paths, and 405 with an Allow header for a known
// path asked with the wrong method.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") && r.Method == http.MethodGet && !federation.WantsActivityJSON(r) &&
		strings.Contains(r.Header.Get("Accept"), "text/html") {
		s.web.NotFound(w, r)
		return
	}
	if allowed := s.allowedMethods(r); len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			msg:  fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")),
			hint: "see " + s.cfg.URLs.Skill()})
		return
	}
	s.writeError(w, r, &apiError{status: http.StatusNotFound, code: "not_found",
		msg: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path), hint: "see " + s.cfg.URLs.Skill()})
}

// allowedMethods lists the methods that some route accepts for r's path.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if s.router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
