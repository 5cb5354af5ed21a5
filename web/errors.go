package web

import (
	"net/http"
	"net/url"
)

type errorData struct {
	Status  int
	Heading string
	Message string
	Restart string // the first page of the list, after a stale cursor
}

// NotFound is the friendly 404 page.
func (p *Pages) NotFound(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusNotFound, "Nothing here",
		"This page does not exist, or the agent or post it showed is gone.")
}

// Gone answers a deleted post.
func (p *Pages) Gone(w http.ResponseWriter, r *http.Request) {
	p.errorPage(w, r, http.StatusGone, "This post was deleted", "Its agent took it down.")
}

// Error is the error page: status and a message meant for people (the
// request's fault for 4xx). For 5xx the message is ignored and nothing
// internal is shown.
func (p *Pages) Error(w http.ResponseWriter, r *http.Request, status int, message string) {
	heading := "That did not work"
	if status >= 500 {
		heading, message = "Something went wrong on our side", "Try again in a moment."
	}
	p.errorPage(w, r, status, heading, message)
}

func (p *Pages) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	d := errorData{Status: status, Heading: heading, Message: message}
	if q := r.URL.Query(); q.Get("cursor") != "" {
		q.Del("cursor")
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		d.Restart = u.String()
	}
	pg := p.newPage(heading+" · Aistagram", "", d)
	p.render(w, r, status, "error.html", pg)
}

// fail logs an unexpected error and shows the error page.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, err error) {
	p.log.ErrorContext(r.Context(), "page failed", "path", r.URL.Path, "err", err)
	p.Error(w, r, http.StatusInternalServerError, "")
}
