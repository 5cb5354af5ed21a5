package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"golang.org/x/net/html"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// newTestPages builds pages without a database: enough for everything that
// does not read the store.
func newTestPages(t *testing.T) *Pages {
	t.Helper()
	base, _ := url.Parse("https://aistagram.example")
	p, err := New(nil, Config{
		URLs:       federation.NewURLs(base),
		MediaURL:   func(key string) string { return "https://cdn.example/" + key },
		Categories: []Category{{Name: "work", Description: "Work"}},
		Version:    "test",
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewNeedsMediaURL(t *testing.T) {
	if _, err := New(nil, Config{}, slog.Default()); err == nil {
		t.Fatal("New without a media URL function succeeded")
	}
}

func TestThread(t *testing.T) {
	ids := make([]uuid.UUID, 10)
	for i := range ids {
		ids[i] = uuid.New()
	}
	c := func(i int, parent int) store.Comment {
		cm := store.Comment{ID: ids[i], Agent: store.AgentSummary{Name: "a" + string(rune('0'+i))}}
		if parent >= 0 {
			cm.ParentID = &ids[parent]
		}
		return cm
	}
	missing := uuid.New()
	orphan := store.Comment{ID: ids[9], ParentID: &missing, Agent: store.AgentSummary{Name: "orphan"}}

	// shape writes a forest as "id(children)" with indices, ReplyTo as ^name.
	var shape func([]*commentView) string
	shape = func(vs []*commentView) string {
		var parts []string
		for _, v := range vs {
			s := string(rune('0' + slices.Index(ids, v.ID)))
			if v.ReplyTo != "" {
				s += "^" + v.ReplyTo
			}
			if len(v.Replies) > 0 {
				s += "(" + shape(v.Replies) + ")"
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	p := newTestPages(t)
	for _, tt := range []struct {
		name string
		in   []store.Comment
		want string
	}{
		{"none", nil, ""},
		{"flat", []store.Comment{c(0, -1), c(1, -1)}, "0 1"},
		{"nested", []store.Comment{c(0, -1), c(1, 0), c(2, 1), c(3, -1), c(4, 0)}, "0(1(2) 4) 3"},
		{"reply listed before its parent", []store.Comment{c(1, 0), c(0, -1)}, "0(1)"},
		{"missing parent", []store.Comment{c(0, -1), orphan}, "0 9"},
		// Past maxDepth (5) levels, replies are listed flat under the
		// deepest nested one, saying whom they answer.
		{"deep", []store.Comment{c(0, -1), c(1, 0), c(2, 1), c(3, 2), c(4, 3), c(5, 4), c(6, 5), c(7, 4)},
			"0(1(2(3(4(5 6^a5 7)))))"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := shape(thread(tt.in, p.commentView)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommentViewTrustsOnlyRemoteHTML(t *testing.T) {
	p := newTestPages(t)
	markup := "<p>hi</p>"
	local := p.commentView(store.Comment{ID: uuid.New(), Content: "<b>x</b>", ContentHTML: &markup, Agent: store.AgentSummary{Name: "bot"}})
	if local.HTML != "" || local.Text != "<b>x</b>" || local.Author.URL != "https://aistagram.example/@bot" {
		t.Fatalf("local comment %+v", local)
	}
	remote := p.commentView(store.Comment{ID: uuid.New(), Content: "hi", ContentHTML: &markup,
		Remote: store.RemoteAuthor{ID: 1, URI: "https://m.example/users/bob", Username: "bob", Host: "m.example"}})
	if string(remote.HTML) != markup || !remote.Author.Remote || remote.Author.Handle != "@bob@m.example" ||
		remote.Author.URL != "https://m.example/users/bob" || remote.Author.Name != "bob" {
		t.Fatalf("remote comment %+v", remote)
	}
}

func TestImages(t *testing.T) {
	p := newTestPages(t)
	n := func(v int) *int { return &v }
	s := func(v string) *string { return &v }
	stored := store.Media{Status: store.MediaReady, Alt: "a koi", SafeKey: s("safe.jpg"), SafeWidth: n(2000), SafeHeight: n(1000),
		ThumbKey: s("thumb.jpg"), ThumbWidth: n(640), ThumbHeight: n(320)}
	for _, tt := range []struct {
		name       string
		post       store.Post
		thumb, big imageView
	}{
		{"stored", store.Post{ImageURL: "https://gen.example/x.png", Media: []store.Media{stored}},
			imageView{URL: "https://cdn.example/thumb.jpg", Width: 640, Height: 320, Alt: "a koi"},
			imageView{URL: "https://cdn.example/safe.jpg", SrcSet: "https://cdn.example/thumb.jpg 640w, https://cdn.example/safe.jpg 2000w",
				Width: 2000, Height: 1000, Alt: "a koi", Eager: true}},
		{"older post, probed", store.Post{ImageURL: "https://gen.example/x.png", Prompt: "neon", Image: store.ImageInfo{Width: n(30), Height: n(20)}},
			imageView{URL: "https://gen.example/x.png", Width: 30, Height: 20, Alt: "AI-generated image. Prompt: neon"},
			imageView{URL: "https://gen.example/x.png", Width: 30, Height: 20, Alt: "AI-generated image. Prompt: neon", Eager: true}},
		{"pending", store.Post{ImageURL: "https://gen.example/x.png", Caption: "hi", Media: []store.Media{{Status: store.MediaPending}}},
			imageView{URL: "https://gen.example/x.png", Alt: "AI-generated image. Prompt: hi"},
			imageView{URL: "https://gen.example/x.png", Alt: "AI-generated image. Prompt: hi", Eager: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.thumbnail(tt.post); got != tt.thumb {
				t.Errorf("thumbnail %+v, want %+v", got, tt.thumb)
			}
			if got := p.fullImages(tt.post); len(got) != 1 || got[0] != tt.big {
				t.Errorf("full %+v, want %+v", got, tt.big)
			}
		})
	}
}

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1K"}, {1234, "1.2K"}, {9999, "9.9K"}, {12345, "12K"},
		{int64(999_999), "999K"}, {int64(3_456_789), "3.4M"}, {-1500, "-1.5K"}, {"x", "x"},
	} {
		if got := count(tt.in); got != tt.want {
			t.Errorf("count(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if plural(1, "post", "posts") != "post" || plural(int64(2), "post", "posts") != "posts" || plural(0, "a", "b") != "b" {
		t.Error("plural")
	}
}

func TestAgo(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{now, "just now"}, {now.Add(-5 * time.Minute), "5m"}, {now.Add(-3 * time.Hour), "3h"}, {now.Add(-50 * time.Hour), "2d"},
		{time.Date(2001, 2, 3, 0, 0, 0, 0, time.UTC), "3 Feb 2001"},
	} {
		if got := ago(tt.at); got != tt.want {
			t.Errorf("ago(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("a  b\nc", 10); got != "a b c" {
		t.Errorf("%q", got)
	}
	if got := truncate("héllo wörld", 6); got != "héllo…" {
		t.Errorf("%q", got)
	}
}

func TestStatic(t *testing.T) {
	p := newTestPages(t)
	r := mux.NewRouter()
	r.HandleFunc("/static/{name}", p.Static)
	for _, name := range []string{"style.css", "app.js", "placeholder.svg", "favicon.svg"} {
		u, err := p.static.url(name)
		if err != nil || !strings.HasPrefix(u, "/static/"+name+"?v=") {
			t.Fatalf("url(%s) = %q, %v", name, u, err)
		}
		for _, tt := range []struct{ path, cache string }{
			{u, "public, max-age=31536000, immutable"},
			{"/static/" + name, "public, no-cache"},
			{"/static/" + name + "?v=old", "public, no-cache"},
		} {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != 200 || rec.Header().Get("Cache-Control") != tt.cache || rec.Header().Get("ETag") == "" ||
				rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Body.Len() == 0 {
				t.Errorf("GET %s: %d %v", tt.path, rec.Code, rec.Header())
			}
		}
		// A revalidation with the ETag costs no body.
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/static/"+name, nil)
		req.Header.Set("If-None-Match", `"`+p.static.files[name].hash+`"`)
		r.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("revalidate %s: %d", name, rec.Code)
		}
	}
	if _, err := p.static.url("nope.css"); err == nil {
		t.Error("an unknown static file has a URL")
	}
	css := string(p.static.files["style.css"].body)
	placeholder, _ := p.static.url("placeholder.svg")
	if strings.Contains(css, "url(placeholder.svg)") || !strings.Contains(css, "url("+strings.TrimPrefix(placeholder, "/static/")+")") {
		t.Error("the stylesheet's placeholder is not fingerprinted")
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/static/nope.js", nil))
	if rec.Code != 404 {
		t.Errorf("unknown file: %d", rec.Code)
	}
}

// TestErrorPages renders the pages that need no database.
func TestErrorPages(t *testing.T) {
	p := newTestPages(t)
	for _, tt := range []struct {
		name    string
		serve   func(w http.ResponseWriter, r *http.Request)
		target  string
		status  int
		heading string
		restart bool
	}{
		{"not found", p.NotFound, "/nope", 404, "Nothing here", false},
		{"gone", p.Gone, "/p/x", 410, "This post was deleted", false},
		{"bad cursor", func(w http.ResponseWriter, r *http.Request) { p.Error(w, r, 400, "cursor is not valid") },
			"/?sort=hot&cursor=x", 400, "That did not work", true},
		{"internal", func(w http.ResponseWriter, r *http.Request) { p.Error(w, r, 500, "secret detail") },
			"/", 500, "Something went wrong on our side", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.serve(rec, httptest.NewRequest("GET", tt.target, nil))
			if rec.Code != tt.status || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
			body := rec.Body.String()
			doc, err := html.Parse(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			var h1, restart string
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode && n.Data == "h1" && n.FirstChild != nil {
					h1 = n.FirstChild.Data
				}
				if n.Type == html.ElementNode && n.Data == "a" && n.FirstChild != nil && n.FirstChild.Data == "Start this list again" {
					for _, a := range n.Attr {
						if a.Key == "href" {
							restart = a.Val
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(doc)
			if h1 != tt.heading {
				t.Errorf("h1 %q", h1)
			}
			if tt.restart != (restart == "/?sort=hot") {
				t.Errorf("restart link %q", restart)
			}
			if strings.Contains(body, "secret detail") {
				t.Error("a 500 page shows the internal message")
			}
		})
	}
}
