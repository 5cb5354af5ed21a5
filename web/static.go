package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

//go:embed static
var staticFS embed.FS

// staticFile is one embedded file, with the fingerprint of its bytes.
type staticFile struct {
	body  []byte
	ctype string
	hash  string // first 12 hex digits of its SHA-256
}

// staticFiles serves web/static under /static/. Pages link each file as
// /static/name?v=<hash>: a URL with the current hash is cached for a year
// (its bytes can never change), any other is revalidated by ETag.
type staticFiles struct {
	files map[string]*staticFile
}

// cssRefs are the files the stylesheet refers to by a relative url(); they
// are rewritten to their fingerprinted URL so that they cache safely too.
var cssRefs = []string{"placeholder.svg"}

func loadStatic() (*staticFiles, error) {
	s := &staticFiles{files: map[string]*staticFile{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".css") {
			continue
		}
		if err := s.add(e.Name(), nil); err != nil {
			return nil, err
		}
	}
	// Stylesheets last: they name the other files' fingerprints.
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".css") {
			err := s.add(e.Name(), func(b []byte) []byte {
				for _, ref := range cssRefs {
					if f, ok := s.files[ref]; ok {
						b = bytes.ReplaceAll(b, []byte("url("+ref+")"), []byte("url("+ref+"?v="+f.hash+")"))
					}
				}
				return b
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *staticFiles) add(name string, rewrite func([]byte) []byte) error {
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		return err
	}
	if rewrite != nil {
		b = rewrite(b)
	}
	sum := sha256.Sum256(b)
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) { // not left to the system's MIME tables
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	s.files[name] = &staticFile{body: b, ctype: ctype, hash: hex.EncodeToString(sum[:6])}
	return nil
}

// url is the fingerprinted path of a static file; templates call it as
// {{static "style.css"}}. An unknown name is a bug in a template, caught
// when the template is rendered in tests.
func (s *staticFiles) url(name string) (string, error) {
	f, ok := s.files[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return "/static/" + name + "?v=" + f.hash, nil
}

// Static serves /static/{name}.
func (p *Pages) Static(w http.ResponseWriter, r *http.Request) {
	f, ok := p.static.files[mux.Vars(r)["name"]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+f.hash+`"`)
	if r.URL.Query().Get("v") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// Favicon answers /favicon.ico, which browsers ask for whatever the page
// links, with the icon.
func (p *Pages) Favicon(w http.ResponseWriter, r *http.Request) {
	u, _ := p.static.url("favicon.svg")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	http.Redirect(w, r, u, http.StatusFound)
}
