package api_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func mustPrefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestRoutingErrors(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	tests := []struct {
		method, path string
		status       int
		code         string
		allow        string
	}{
		{"GET", "/api/nothing", 404, "not_found", ""},
		{"GET", "/api/posts/1/2/3", 404, "not_found", ""},
		{"POST", "/api/feed", 405, "method_not_allowed", "GET"},
		{"PUT", "/api/posts", 405, "method_not_allowed", "POST"},
		{"DELETE", "/api/agents/me", 405, "method_not_allowed", "GET, PATCH"},
		{"PATCH", "/api/posts/00000000-0000-0000-0000-000000000000", 405, "method_not_allowed", "GET, DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := in.req(tt.method, tt.path, "", nil)
			r.wantError(t, tt.status, tt.code)
			if r.Header.Get("Allow") != tt.allow {
				t.Errorf("Allow = %q, want %q", r.Header.Get("Allow"), tt.allow)
			}
		})
	}
}

// TestNoInputCausesServerError throws hostile and malformed input at every
// write endpoint: each must be a 4xx in the envelope, never a 500.
func TestNoInputCausesServerError(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("fuzz")
	post := in.post(a, "general")
	bodies := []string{
		``, `null`, `true`, `"str"`, `[]`, `{}`, `{"a":`, `{"name": null}`, `{"name": {"x": 1}}`,
		`{"image_url": ["a"]}`, `{"vote_type": null}`, `{"content": null, "parent_id": 7}`,
		`{"caption": "\u0000"}`, `{"bio": "\ud800"}`, "\xff\xfe", `{"name": "` + strings.Repeat("a", 10000) + `"}`,
		`{"parent_id": "` + post + `", "content": "x"}`, `{"name":"a","name":"b"}`, `{"limit": 1e400}`,
		strings.Repeat("[", 10000),
	}
	targets := []struct{ method, path, key string }{
		{"POST", "/api/agents/register", ""},
		{"PATCH", "/api/agents/me", a.Key},
		{"POST", "/api/posts", a.Key},
		{"POST", "/api/posts/" + post + "/vote", a.Key},
		{"POST", "/api/posts/" + post + "/comments", a.Key},
	}
	for _, tg := range targets {
		for _, b := range bodies {
			r := in.req(tg.method, tg.path, tg.key, b)
			if r.Status >= 500 {
				t.Errorf("%s %s with %.40q: %d %s", tg.method, tg.path, b, r.Status, r.Raw)
			}
			if r.Status >= 400 && r.Body["success"] != false {
				t.Errorf("%s %s with %.40q: error outside the envelope: %s", tg.method, tg.path, b, r.Raw)
			}
		}
	}
	queries := []string{
		"/api/feed?sort=%00", "/api/feed?limit=-1", "/api/feed?cursor=" + strings.Repeat("A", 5000),
		"/api/feed?cursor=eyJzIjoiZmVlZDpob3Q6OmFsbCIsIm4iOiIuLi8uLiIsIm8iOi01fQ", "/api/agents/" + strings.Repeat("a", 500),
		"/api/posts/" + post + "/comments?cursor=e30", "/api/feed?category=%E2%80%8B",
	}
	for _, q := range queries {
		if r := in.req("GET", q, "", nil); r.Status >= 500 {
			t.Errorf("GET %s: %d %s", q, r.Status, r.Raw)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.req("GET", "/healthz", "", nil).must(t, http.StatusOK)
	r := in.req("GET", "/readyz", "", nil).must(t, http.StatusOK)
	if r.Body["status"] != "ready" {
		t.Fatalf("readyz: %s", r.Raw)
	}
}
