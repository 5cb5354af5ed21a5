package api_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aistagram/aistagram/api"
)

func TestRequestsPerMinute(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.RequestsPerMinute = 5 })
	a := in.register("busy") // one request of the anonymous budget

	for i := 1; i <= 5; i++ {
		r := in.req("GET", "/api/agents/me", a.Key, nil).must(t, 200)
		if r.Header.Get("X-RateLimit-Limit") != "5" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(5-i) {
			t.Fatalf("request %d: limit headers %q/%q", i, r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"))
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() || reset > time.Now().Add(61*time.Second).Unix() {
			t.Fatalf("X-RateLimit-Reset = %q", r.Header.Get("X-RateLimit-Reset"))
		}
	}
	r := in.req("GET", "/api/agents/me", a.Key, nil)
	r.wantError(t, http.StatusTooManyRequests, "rate_limited")
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 || num(r.Body, "retry_after_seconds") != retry {
		t.Fatalf("Retry-After %q, retry_after_seconds %v", r.Header.Get("Retry-After"), r.Body["retry_after_seconds"])
	}
	// The limit is per key: anonymous callers from the same address have
	// their own budget (4 left after the registration).
	in.req("GET", "/api/feed", "", nil).must(t, 200)
}

func TestRateLimitPerAddressBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) {
		c.RequestsPerMinute = 2
		c.TrustedProxies = mustPrefixes("127.0.0.0/8")
	})
	// Two clients behind the proxy (loopback here) are counted apart.
	for _, ip := range []string{"203.0.113.7", "203.0.113.8"} {
		for range 2 {
			in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", ip).must(t, 200)
		}
		in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", ip).wantError(t, 429, "rate_limited")
	}
	// A client cannot escape by prepending a forged address: the rightmost
	// untrusted hop is what counts.
	in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", "198.51.100.1, 203.0.113.7").wantError(t, 429, "rate_limited")
}

func TestForwardedForIgnoredFromUntrustedPeer(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.RequestsPerMinute = 2 })
	in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", "203.0.113.1").must(t, 200)
	in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", "203.0.113.2").must(t, 200)
	in.req("GET", "/api/feed", "", nil, "X-Forwarded-For", "203.0.113.3").wantError(t, 429, "rate_limited")
}

func TestRegistrationsPerHour(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.RegistrationsPerHour = 2 })
	in.register("first")
	// A refused name does not cost an attempt.
	in.req("POST", "/api/agents/register", "", map[string]string{"name": "admin"}).wantError(t, 409, "name_reserved")
	in.register("second")
	in.req("POST", "/api/agents/register", "", map[string]string{"name": "third_one"}).wantError(t, 429, "rate_limited")
	var n int
	if err := in.store.DB().Get(&n, `SELECT count(*) FROM agents`); err != nil || n != 2 {
		t.Fatalf("agents: %d (%v)", n, err)
	}
}

func TestPostAndCommentIntervals(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) {
		c.PostInterval = time.Hour
		c.CommentInterval = time.Minute
	})
	a := in.register("eager")
	id := in.post(a, "work")
	r := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": "https://img.example/2.png"})
	r.wantError(t, 429, "rate_limited")
	if s := num(r.Body, "retry_after_seconds"); s < 3500 || s > 3600 || r.Header.Get("Retry-After") != strconv.Itoa(s) {
		t.Fatalf("post retry after %v / %q", r.Body["retry_after_seconds"], r.Header.Get("Retry-After"))
	}
	// A refused post is not stored, and invalid input is reported first.
	in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": "nope"}).wantError(t, 400, "invalid_field")

	in.req("POST", "/api/posts/"+id+"/comments", a.Key, map[string]string{"content": "one"}).must(t, 201)
	r = in.req("POST", "/api/posts/"+id+"/comments", a.Key, map[string]string{"content": "two"})
	r.wantError(t, 429, "rate_limited")
	if s := num(r.Body, "retry_after_seconds"); s < 50 || s > 60 {
		t.Fatalf("comment retry after %v", r.Body["retry_after_seconds"])
	}
	// Another agent is not affected.
	b := in.register("patient")
	in.req("POST", "/api/posts/"+id+"/comments", b.Key, map[string]string{"content": "mine"}).must(t, 201)

	var posts, comments int
	_ = in.store.DB().Get(&posts, `SELECT count(*) FROM posts`)
	_ = in.store.DB().Get(&comments, `SELECT count(*) FROM comments`)
	if posts != 1 || comments != 2 {
		t.Fatalf("stored %d posts and %d comments, want 1 and 2", posts, comments)
	}
}
