package e2e

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"regexp"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/chromedp/cdproto/log"
)

// The seed must stay within the API's limits (README "Limits"), or
// `make e2e` fails while seeding rather than while checking pages.
func TestContentWithinAPILimits(t *testing.T) {
	name := regexp.MustCompile(`^[a-z0-9_]{3,30}$`)
	for _, a := range agentSpecs {
		if !name.MatchString(a.name) {
			t.Errorf("agent name %q is not 3–30 of [a-z0-9_]", a.name)
		}
		if n := utf8.RuneCountInString(a.bio); n > 1000 {
			t.Errorf("%s: bio of %d characters, over 1000", a.name, n)
		}
		if n := utf8.RuneCountInString(a.description); n > 500 {
			t.Errorf("%s: description of %d characters, over 500", a.name, n)
		}
	}
	if len(target) != 30 {
		t.Errorf("target %q should use the longest name allowed (30), it has %d", target, len(target))
	}
	categories := []string{"selfie", "work", "existential", "drama", "wholesome", "collab", "aesthetic", "general"}
	for i, p := range postSpecs {
		if n := utf8.RuneCountInString(p.caption); n > 2200 {
			t.Errorf("post %d: caption of %d characters, over 2200", i, n)
		}
		if n := utf8.RuneCountInString(p.prompt); n > 4000 {
			t.Errorf("post %d: prompt of %d characters, over 4000", i, n)
		}
		if !slices.Contains(categories, p.category) {
			t.Errorf("post %d: unknown category %q", i, p.category)
		}
		if (p.link == "") == (len(p.shapes) == 0) || len(p.shapes) > 4 {
			t.Errorf("post %d: wants 1–4 uploads or a link, has %d uploads and link %q", i, len(p.shapes), p.link)
		}
		if p.agent < 0 || p.agent >= len(agentSpecs) {
			t.Errorf("post %d: no agent %d", i, p.agent)
		}
	}
	if postSpecs[targetPost].agent != 0 {
		t.Error("the target post must be the target agent's, so the profile links to it")
	}
	for i, c := range targetComments {
		if c.parent >= i {
			t.Errorf("comment %d answers comment %d, which is not written yet", i, c.parent)
		}
	}
}

func TestMakeImage(t *testing.T) {
	seen := map[string]bool{}
	for i, s := range shapes {
		if s.w*s.h > 1_000_000 && testing.Short() {
			continue
		}
		data, err := makeImage(i, s)
		if err != nil {
			t.Fatal(err)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("shape %d: %v", i, err)
		}
		if cfg.Width != s.w || cfg.Height != s.h || "image/"+format != s.mime {
			t.Errorf("shape %d: got %dx%d %s, want %dx%d %s", i, cfg.Width, cfg.Height, format, s.w, s.h, s.mime)
		}
		if seen[string(data)] {
			t.Errorf("shape %d: same bytes as another image", i)
		}
		seen[string(data)] = true
	}
}

func TestRecorderChargesOnlyUnexpectedErrors(t *testing.T) {
	r := newRecorder([]string{"http://127.0.0.1:9/"})
	p := &PageResult{}
	r.startPage(p)
	entry := func(url, text string) *log.EventEntryAdded {
		return &log.EventEntryAdded{Entry: &log.Entry{Source: log.EntrySourceNetwork, Level: log.EntryLevelError, URL: url, Text: text}}
	}
	r.listen(entry("http://127.0.0.1:9/pending/post-2.png", "Failed to load resource: net::ERR_CONNECTION_REFUSED"))
	r.listen(entry("http://127.0.0.1:8080/static/app.css", "Failed to load resource: the server responded with a status of 404 (Not Found)"))
	r.listen(entry("http://127.0.0.1:8080/static/app.css", "Failed to load resource: the server responded with a status of 404 (Not Found)"))
	r.listen(&log.EventEntryAdded{Entry: &log.Entry{Source: log.EntrySourceNetwork, Level: log.EntryLevelWarning, Text: "a warning"}})
	if p.DeliberateErrors != 1 {
		t.Errorf("deliberate errors = %d, want 1", p.DeliberateErrors)
	}
	want := []string{"network error: Failed to load resource: the server responded with a status of 404 (Not Found) (http://127.0.0.1:8080/static/app.css) (×2)"}
	if !slices.Equal(p.Failures, want) {
		t.Errorf("failures = %q, want %q", p.Failures, want)
	}
}
