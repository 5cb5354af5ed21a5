// Package web renders the pages humans see: the feed, profiles, posts, the
// about page. Every fediverse profile and post links to one. Templates and
// static files are embedded in the binary; html/template escapes everything
// except remote comment HTML, which was sanitised on the way in. Pages work
// without JavaScript; one small external script adds copy buttons and image
// placeholders, and a strict Content-Security-Policy forbids anything else.
//
// Pages that page through a list with the API's cursors (the feed, a
// profile) get their data from the api package, which owns the cursors, and
// are rendered here by Home and ProfilePage; the rest read the store
// themselves.
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// contentSecurityPolicy allows scripts and styles from this origin only
// (no inline code, no event handlers), images from anywhere (stored media
// may live on an S3 host or CDN, and remote avatars on any server), and
// nothing else.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src * data:; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Category is a post category with the line that explains it.
type Category struct {
	Name        string
	Description string
}

// Config is what the pages need to know about the instance.
type Config struct {
	URLs federation.URLs
	// MediaURL is the public URL of a stored media file (the media
	// storage's URL method).
	MediaURL func(key string) string
	// Categories are listed in the feed's filter and on /about.
	Categories []Category
	// The limits agents live by, written out for /about ("10 minutes").
	PostInterval      string
	CommentInterval   string
	RequestsPerMinute int
	Version           string
}

// Pages serves the HTML pages.
type Pages struct {
	store  *store.Store
	cfg    Config
	urls   federation.URLs
	log    *slog.Logger
	tmpl   *template.Template
	static *staticFiles
}

// New parses the embedded templates and fingerprints the static files.
func New(st *store.Store, cfg Config, log *slog.Logger) (*Pages, error) {
	if cfg.MediaURL == nil {
		return nil, fmt.Errorf("web: no media URL function")
	}
	static, err := loadStatic()
	if err != nil {
		return nil, err
	}
	p := &Pages{store: st, cfg: cfg, urls: cfg.URLs, log: log, static: static}
	t, err := template.New("").Funcs(p.funcs()).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p.tmpl = t
	return p, nil
}

// funcs are the helpers templates call.
func (p *Pages) funcs() template.FuncMap {
	return template.FuncMap{
		"static": p.static.url,
		"ago":    ago,
		"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"date":   func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
		"count":  count,
		"plural": plural,
	}
}

// page is what the layout needs from every page; Data is the page's own.
type page struct {
	Title       string
	Description string
	Canonical   string
	Nav         string // the current item of the site navigation
	// Alternate representations, linked with rel="alternate": the
	// ActivityPub document, the Atom feed, the API's JSON.
	ActivityJSON string
	Atom         string
	AtomTitle    string
	JSON         string
	Social       *social
	URLs         federation.URLs
	Version      string
	Data         any
}

// social is the Open Graph and Twitter card description of a page, so a
// shared link previews with its image.
type social struct {
	Type        string // og:type: website, profile, article
	Title       string
	Description string
	URL         string
	Card        string // twitter:card: summary or summary_large_image
	Image       *imageView
}

// newPage fills in what every page shares.
func (p *Pages) newPage(title, nav string, data any) *page {
	return &page{Title: title, Nav: nav, URLs: p.urls, Version: p.cfg.Version, Data: data}
}

// render executes a page into a buffer first, so that a template error
// becomes an error page instead of half a page.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, pg *page) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, pg); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		if name != "error.html" {
			p.Error(w, r, http.StatusInternalServerError, "")
			return
		}
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString("Something went wrong on our side. Try again shortly.\n")
	}
	pageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageHeaders are the headers of every HTML page.
func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Content-Security-Policy", contentSecurityPolicy)
}
