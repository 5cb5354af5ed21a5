package api_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/aistagram/aistagram/federation"
)

// TestCachedPagesFollowWrites checks the in-memory cache of public pages
// (respcache.go) from the outside: a write through the API is visible to
// the very next anonymous read, in every cached view; a write another
// process made shows once that process announces it (store.Changes); and a
// cached page really is served from memory — proven by changing a row
// without announcing it.
func TestCachedPagesFollowWrites(t *testing.T) {
	in := newInstance(t)
	alice, bob := in.register("cache_alice"), in.register("cache_bob")
	postID := in.post(alice, "general")

	views := []struct {
		name, path string
		accept     string
	}{
		{"feed new", "/api/feed?sort=new&limit=5", ""},
		{"feed hot", "/api/feed?sort=hot&limit=5", ""},
		{"post", "/api/posts/" + postID, ""},
		{"note", "/posts/" + postID, "application/activity+json"},
		{"home page", "/", ""},
	}
	body := func(path, accept string) string {
		var headers []string
		if accept != "" {
			headers = []string{"Accept", accept}
		}
		return string(in.req("GET", path, "", nil, headers...).must(t, http.StatusOK).Raw)
	}
	for _, v := range views {
		body(v.path, v.accept) // fill the cache
	}

	// A comment through the API: the next read of each view shows it.
	in.req("POST", "/api/posts/"+postID+"/comments", bob.Key, map[string]string{"content": "first!"}).must(t, http.StatusCreated)
	for _, v := range views {
		if v.name == "home page" || v.name == "note" {
			continue // they show no comment count
		}
		if got := body(v.path, v.accept); !strings.Contains(got, `"comment_count":1`) {
			t.Errorf("%s right after a comment: %.300s", v.name, got)
		}
	}
	// A vote: the voter sees it, and so does everyone else at once.
	in.req("POST", "/api/posts/"+postID+"/vote", bob.Key, map[string]string{"vote_type": "up"}).must(t, http.StatusOK)
	if got := body("/api/posts/"+postID, ""); !strings.Contains(got, `"upvotes":1`) {
		t.Errorf("anonymous read right after a vote: %.300s", got)
	}
	mine := in.req("GET", "/api/posts/"+postID, bob.Key, nil).must(t, http.StatusOK).data()
	if mine["your_vote"] != "up" || num(mine, "upvotes") != 1 {
		t.Errorf("voter's read: your_vote=%v upvotes=%v", mine["your_vote"], mine["upvotes"])
	}

	db, err := sql.Open("postgres", in.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	// A change made by another process shows once that process announces
	// it.
	elsewhere := listenForChanges(t, in.dbURL, testLogger())
	exec(`UPDATE posts SET caption = 'edited elsewhere' WHERE id = $1`, postID)
	elsewhere.Announce()
	for _, v := range views {
		eventually(t, v.name+" to show a change made elsewhere", func() bool {
			return strings.Contains(body(v.path, v.accept), "edited elsewhere")
		})
	}

	// Unannounced, a change is not seen by anonymous readers (the page comes
	// from memory) but is by an authenticated one (never cached). The
	// worker may still be rescoring the post after the comment, which
	// starts a new generation and so a fresh read: try a few rounds.
	for _, v := range views[:3] {
		hit := false
		for round := 0; round < 5 && !hit; round++ {
			caption := fmt.Sprintf("unannounced %s %d", v.name, round)
			before := body(v.path, v.accept) // (re)fill
			exec(`UPDATE posts SET caption = $2 WHERE id = $1`, postID, caption)
			hit = body(v.path, v.accept) == before
		}
		if !hit {
			t.Errorf("%s was never served from the cache", v.name)
		}
	}
	current := in.req("GET", "/api/posts/"+postID, bob.Key, nil).must(t, http.StatusOK).data()["caption"].(string)
	if !strings.HasPrefix(current, "unannounced post") {
		t.Errorf("authenticated read = %q, want the row as it is", current)
	}

	// Losing the notification connection may lose announcements: once it
	// is back, nothing cached before counts.
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %aistagram_changes%'`)
	eventually(t, "anonymous reads to show the unannounced change after reconnecting", func() bool {
		return strings.Contains(body("/api/posts/"+postID, ""), current)
	})
}

// TestCacheDoesNotServeAuthenticatedOrPagedRequests: responses that depend
// on the caller or on a cursor always come from the database.
func TestCacheDoesNotServeAuthenticatedOrPagedRequests(t *testing.T) {
	in := newInstance(t)
	a := in.register("nocache")
	for range 3 {
		in.post(a, "general")
	}
	_, next := in.feedPage(t, "sort=new&limit=2", "")
	if next == "" {
		t.Fatal("no second page")
	}
	in.feedPage(t, "sort=new&limit=2", next)

	db, err := sql.Open("postgres", in.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Changed without an announcement: the cache cannot know.
	if _, err := db.Exec(`UPDATE posts SET caption = 'changed quietly'`); err != nil {
		t.Fatal(err)
	}
	d := in.req("GET", "/api/feed?sort=new&limit=2&cursor="+next, "", nil).must(t, http.StatusOK).data()
	if p := d["posts"].([]any); len(p) != 1 || p[0].(map[string]any)["caption"] != "changed quietly" {
		t.Errorf("second page = %v, want the row as it is", p)
	}
	d = in.req("GET", "/api/feed?sort=new&limit=2", a.Key, nil).must(t, http.StatusOK).data()
	if p := d["posts"].([]any); p[0].(map[string]any)["caption"] != "changed quietly" {
		t.Errorf("authenticated first page = %v, want the rows as they are", p[0])
	}
}

// TestXCacheSaysWhereAnswersCameFrom: a cached page says "miss" when it was
// just computed and "hit" when it came from memory; a request the cache
// does not serve says nothing.
func TestXCacheSaysWhereAnswersCameFrom(t *testing.T) {
	in := newInstance(t)
	a := in.register("xcache")
	postID := in.post(a, "general")
	// A query string of its own: no earlier read (in.post polls the post)
	// has cached this URL.
	path := "/api/posts/" + postID + "?probe=xcache"
	cases := []struct {
		name, key, want string
	}{
		{"first anonymous read", "", "miss"},
		{"second anonymous read", "", "hit"},
		{"authenticated read", a.Key, ""},
	}
	for _, c := range cases {
		r := in.req("GET", path, c.key, nil).must(t, http.StatusOK)
		if got := r.Header.Get("X-Cache"); got != c.want {
			t.Errorf("%s: X-Cache %q, want %q", c.name, got, c.want)
		}
	}
}

// TestRescoringKeepsCachedPages: the periodic rescoring rewrites scores
// that only a feed's next snapshot reads, so it changes no answer and
// leaves the cached pages in place (announcing it emptied every cache once
// a minute). A row made dirty without a visible change is rewritten, and
// the next anonymous first page is still the cached one, byte for byte.
func TestRescoringKeepsCachedPages(t *testing.T) {
	in := newInstance(t)
	a := in.register("rescored")
	postID := in.post(a, "general")
	path := "/api/feed?sort=hot&limit=5&probe=rescoring"
	first := in.req("GET", path, "", nil).must(t, http.StatusOK) // fill
	if _, err := in.store.DB().Exec(`UPDATE posts SET hot_basis = hot_basis + 1 WHERE id = $1`, postID); err != nil {
		t.Fatal(err)
	}
	if n, err := in.store.RecomputeRankings(context.Background(), time.Now().Add(-time.Hour)); err != nil || n == 0 {
		t.Fatalf("rescoring wrote %d posts, err %v; want the dirty one", n, err)
	}
	r := in.req("GET", path, "", nil).must(t, http.StatusOK)
	if got := r.Header.Get("X-Cache"); got != "hit" || string(r.Raw) != string(first.Raw) {
		t.Errorf("first page after rescoring: X-Cache %q, %.300s", got, r.Raw)
	}
}

// TestCountsRefreshOnlyWhatTheyChange: a vote or a comment (scoped
// commits, store.ScopeFeeds and the rest) refreshes its post's documents,
// the feeds and the post author's outbox at once, and leaves every other
// cached answer — the author's other post, actor and WebFinger answer — in
// memory. Before scopes, each emptied the whole cache.
func TestCountsRefreshOnlyWhatTheyChange(t *testing.T) {
	in := newInstance(t)
	author, voter := in.register("scoped_author"), in.register("scoped_voter")
	counted, other := in.post(author, "general"), in.post(author, "general")
	host := strings.TrimPrefix(in.URL, "http://")
	ap := "application/activity+json"

	views := []struct {
		name, path, accept string
		refreshed          bool // by a write on the counted post
	}{
		{"counted post", "/api/posts/" + counted, "", true},
		{"counted note", "/posts/" + counted, ap, true},
		{"feed", "/api/feed?sort=new&limit=5", "", true},
		{"home page", "/", "", true},
		{"author's outbox", "/users/" + author.Name + "/outbox?page=1", ap, true},
		{"other post", "/api/posts/" + other, "", false},
		{"other note", "/posts/" + other, ap, false},
		{"author's actor", "/users/" + author.Name, ap, false},
		{"author's webfinger", "/.well-known/webfinger?resource=acct:" + author.Name + "@" + host, "", false},
	}
	read := func(path, accept string) response {
		var headers []string
		if accept != "" {
			headers = []string{"Accept", accept}
		}
		return in.req("GET", path, "", nil, headers...).must(t, http.StatusOK)
	}
	writes := []struct {
		name  string
		write func()
		shows string // in the counted post's answer afterwards
	}{
		{"vote", func() {
			in.req("POST", "/api/posts/"+counted+"/vote", voter.Key, map[string]string{"vote_type": "up"}).must(t, http.StatusOK)
		}, `"upvotes":1`},
		{"comment", func() {
			in.req("POST", "/api/posts/"+counted+"/comments", voter.Key, map[string]string{"content": "scoped"}).must(t, http.StatusCreated)
		}, `"comment_count":1`},
	}
	for _, w := range writes {
		// Fill the cache, and wait until every view is served from it:
		// the worker may still be finishing earlier work (the posts'
		// media, each a commit that empties the cache).
		eventually(t, "every view to be cached before the "+w.name, func() bool {
			for _, v := range views {
				read(v.path, v.accept)
			}
			for _, v := range views {
				if read(v.path, v.accept).Header.Get("X-Cache") != "hit" {
					return false
				}
			}
			return true
		})
		w.write()
		for _, v := range views {
			want := "hit"
			if v.refreshed {
				want = "miss"
			}
			if got := read(v.path, v.accept).Header.Get("X-Cache"); got != want {
				t.Errorf("%s after a %s on the counted post: X-Cache %q, want %q", v.name, w.name, got, want)
			}
		}
		if got := string(read("/api/posts/"+counted, "").Raw); !strings.Contains(got, w.shows) {
			t.Errorf("counted post after the %s: %.300s", w.name, got)
		}
	}
	// The outbox's Note carries the counts too: one like, one reply.
	raw := read("/users/"+author.Name+"/outbox?page=1", ap).Raw
	var page struct {
		OrderedItems []struct {
			Object struct {
				ID      string                   `json:"id"`
				Likes   struct{ TotalItems int } `json:"likes"`
				Replies struct{ TotalItems int } `json:"replies"`
			} `json:"object"`
		} `json:"orderedItems"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, item := range page.OrderedItems {
		if strings.HasSuffix(item.Object.ID, "/posts/"+counted) {
			found = true
			if item.Object.Likes.TotalItems != 1 || item.Object.Replies.TotalItems != 1 {
				t.Errorf("outbox Note after a vote and a comment: likes %d, replies %d, want 1 and 1",
					item.Object.Likes.TotalItems, item.Object.Replies.TotalItems)
			}
		}
	}
	if !found {
		t.Errorf("the outbox page lacks the counted post's Note: %.500s", raw)
	}
}

// TestAuthorizedFetchKeepsSignedAndUnsignedActorsApart: in authorized-fetch
// mode an unsigned fetch of an actor gets it stripped (key and inboxes)
// and a signed one gets it whole; the cache must serve each its own, in
// either order, and never the whole actor to an unsigned fetch.
func TestAuthorizedFetchKeepsSignedAndUnsignedActorsApart(t *testing.T) {
	in := newInstanceWith(t, instanceOpts{authorizedFetch: true})
	p := newPeer(t)
	keyID := p.account("fetcher") + "#main-key"
	a := in.register("guarded")
	actorURL := in.URL + "/users/" + a.Name

	fetch := func(signed bool) (string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("GET", actorURL, nil)
		req.Header.Set("Accept", "application/activity+json")
		if signed {
			p.mu.Lock()
			key := p.keys["fetcher"]
			p.mu.Unlock()
			if err := federation.SignRequest(req, nil, keyID, key, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("signed=%v: status %d", signed, resp.StatusCode)
		}
		// Shared caches in front must know the answer depends on the
		// signature, whether this one came from memory or not.
		if vary := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(vary, "Signature") {
			t.Errorf("signed=%v (X-Cache %s): Vary %q lacks Signature", signed, resp.Header.Get("X-Cache"), vary)
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("X-Cache"), doc
	}
	// An unknown actor: a 404 the cache keeps, whose handler says it
	// varies on Accept; SignedFetch's Signature must go out beside it.
	for range 2 {
		req, _ := http.NewRequest("GET", in.URL+"/users/nobody_here", nil)
		req.Header.Set("Accept", "application/activity+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		vary := strings.Join(resp.Header.Values("Vary"), ",")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(vary, "Signature") || !strings.Contains(vary, "Accept") {
			t.Errorf("unknown actor (X-Cache %s): status %d, Vary %q; want 404 varying on Signature and Accept",
				resp.Header.Get("X-Cache"), resp.StatusCode, vary)
		}
	}
	for _, signed := range []bool{true, false, true, false} {
		xCache, doc := fetch(signed)
		_, whole := doc["followers"]
		if whole != signed {
			t.Errorf("signed=%v (X-Cache %s): got the whole actor = %v", signed, xCache, whole)
		}
		if doc["publicKey"] == nil {
			t.Errorf("signed=%v: no publicKey", signed)
		}
	}
}

// TestCacheKeysOnEveryAcceptLine: whether an actor URL answers JSON or
// sends a browser to the page depends on every Accept line a request
// carries, so a JSON answer filled by a request with two lines is not
// served to a browser whose first line is the same.
func TestCacheKeysOnEveryAcceptLine(t *testing.T) {
	in := newInstance(t)
	a := in.register("accept_lines")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(accept ...string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", in.URL+"/users/"+a.Name, nil)
		for _, v := range accept {
			req.Header.Add("Accept", v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 { // the second round reads what the first cached
		if got := get("text/html", "application/activity+json"); got != http.StatusOK {
			t.Errorf("two Accept lines, the second ActivityPub: status %d, want the actor (200)", got)
		}
		if got := get("text/html"); got != http.StatusFound {
			t.Errorf("a browser's Accept: status %d, want a redirect to the page (302)", got)
		}
	}
}

// TestActorAndNoteIgnoreQueryStrings: the actor and Note handlers read no
// query parameter, so a query string makes no new cache entry (each one
// did, and anyone could fill the cache with ?1, ?2... and push the popular
// entries out), while the API's post keeps keying on it.
func TestActorAndNoteIgnoreQueryStrings(t *testing.T) {
	in := newInstance(t)
	a := in.register("query_strings")
	postID := in.post(a, "general")
	ap := []string{"Accept", "application/activity+json"}
	cases := []struct {
		name, path string
		headers    []string
		want       string // X-Cache of the second read, with another query
	}{
		{"actor", "/users/" + a.Name, ap, "hit"},
		{"note", "/posts/" + postID, ap, "hit"},
		{"api post", "/api/posts/" + postID, nil, "miss"},
	}
	for _, c := range cases {
		eventually(t, c.name+" to be cached", func() bool {
			in.req("GET", c.path+"?q=1", "", nil, c.headers...).must(t, http.StatusOK)
			return in.req("GET", c.path+"?q=1", "", nil, c.headers...).must(t, http.StatusOK).Header.Get("X-Cache") == "hit"
		})
		if got := in.req("GET", c.path+"?q=2", "", nil, c.headers...).must(t, http.StatusOK).Header.Get("X-Cache"); got != c.want {
			t.Errorf("%s with another query string: X-Cache %q, want %q", c.name, got, c.want)
		}
	}
}
