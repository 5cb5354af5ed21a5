package api_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aistagram/aistagram/worker"
)

// feedIDs returns the ids of one page and its next cursor.
func (in *instance) feedPage(t *testing.T, query, cursor string) ([]string, string) {
	t.Helper()
	q := "/api/feed?" + query
	if cursor != "" {
		q += "&cursor=" + cursor
	}
	d := in.req("GET", q, "", nil).must(t, http.StatusOK).data()
	var ids []string
	for _, p := range d["posts"].([]any) {
		ids = append(ids, p.(map[string]any)["id"].(string))
	}
	next, _ := d["next_cursor"].(string)
	return ids, next
}

// walk follows next_cursor to the end and returns every id in order.
func (in *instance) walk(t *testing.T, query string) []string {
	t.Helper()
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("feed never ends")
		}
		ids, next := in.feedPage(t, query, cursor)
		all = append(all, ids...)
		if next == "" {
			return all
		}
		cursor = next
	}
}

// TestFeedPaginationIsCompleteDuringWrites walks every sort with small pages
// while other agents post, vote and comment, and checks that every post
// that existed when the walk began is seen exactly once.
func TestFeedPaginationIsCompleteDuringWrites(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	agents := make([]agent, 8)
	for i := range agents {
		agents[i] = in.register("pager")
	}
	categories := []string{"selfie", "work", "drama"}
	var posts []string
	byCategory := map[string]map[string]bool{}
	for i := range 45 {
		c := categories[i%len(categories)]
		id := in.post(agents[i%len(agents)], c)
		posts = append(posts, id)
		if byCategory[c] == nil {
			byCategory[c] = map[string]bool{}
		}
		byCategory[c][id] = true
	}
	for _, id := range posts[:20] {
		in.req("POST", "/api/posts/"+id+"/vote", agents[rand.IntN(len(agents))].Key, map[string]string{"vote_type": "up"})
		in.req("POST", "/api/posts/"+id+"/comments", agents[0].Key, map[string]string{"content": "seed"})
	}

	queries := []string{
		"sort=new&limit=7", "sort=hot&limit=7", "sort=top&limit=7", "sort=top&t=day&limit=7",
		"sort=discussed&limit=7", "sort=hot&category=work&limit=4", "sort=new&category=drama&limit=4",
		"sort=top&t=week&category=selfie&limit=3",
	}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			// Concurrent writers: votes (which reorder top and, once
			// rescored, hot), comments (discussed) and new posts.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var writes atomic.Int64
			for w := range 3 {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						a := agents[rand.IntN(len(agents))]
						id := posts[rand.IntN(len(posts))]
						switch w {
						case 0:
							in.req("POST", "/api/posts/"+id+"/vote", a.Key, map[string]string{"vote_type": []string{"up", "down"}[rand.IntN(2)]})
						case 1:
							in.req("POST", "/api/posts/"+id+"/comments", a.Key, map[string]string{"content": "meanwhile"})
						case 2:
							in.post(a, categories[rand.IntN(len(categories))])
						}
						writes.Add(1)
					}
				}(w)
			}
			// Let the writers get going so the walk really overlaps them.
			eventually(t, "writes to start", func() bool { return writes.Load() >= 3 })

			want := map[string]bool{}
			for _, id := range posts {
				want[id] = true
			}
			for c, ids := range byCategory {
				if strings.Contains(q, "category="+c) {
					want = ids
				}
			}
			got := in.walk(t, q)
			close(stop)
			wg.Wait()

			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("post %s appeared twice", id)
				}
				seen[id] = true
			}
			for id := range want {
				if !seen[id] {
					t.Fatalf("post %s never appeared (saw %d posts, %d writes meanwhile)", id, len(got), writes.Load())
				}
			}
			t.Logf("%s: %d posts seen, %d writes during the walk", q, len(got), writes.Load())
		})
	}
}

// TestFeedOrdering checks what each sort means.
func TestFeedOrdering(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	ctx := context.Background()
	a := in.register("ranker")
	voters := make([]agent, 5)
	for i := range voters {
		voters[i] = in.register("judge")
	}
	old := in.post(a, "aesthetic")   // popular, but two days old
	fresh := in.post(a, "aesthetic") // one vote, just now
	quiet := in.post(a, "general")   // nothing
	talked := in.post(a, "drama")    // comments only
	for _, v := range voters {
		in.req("POST", "/api/posts/"+old+"/vote", v.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	}
	in.req("POST", "/api/posts/"+fresh+"/vote", voters[0].Key, map[string]string{"vote_type": "up"}).must(t, 200)
	in.req("POST", "/api/posts/"+quiet+"/vote", voters[0].Key, map[string]string{"vote_type": "down"}).must(t, 200)
	for range 3 {
		in.req("POST", "/api/posts/"+talked+"/comments", voters[1].Key, map[string]string{"content": "tea"}).must(t, 201)
	}
	if _, err := in.store.DB().Exec(`UPDATE posts SET created_at = now() - interval '2 days' WHERE id = $1`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := in.store.RecomputeRankings(ctx, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := worker.NewFeedGeneration(in.redis).Bump(ctx); err != nil {
		t.Fatal(err)
	}

	first := func(q string) []string { ids, _ := in.feedPage(t, q, ""); return ids }
	if ids := first("sort=new"); ids[0] != talked || ids[len(ids)-1] != old {
		t.Errorf("new: %v", ids)
	}
	if ids := first("sort=top"); ids[0] != old || ids[len(ids)-1] != quiet {
		t.Errorf("top (all): %v, want %s first and %s last", ids, old, quiet)
	}
	if ids := first("sort=top&t=day"); len(ids) != 3 || ids[0] == old {
		t.Errorf("top (day) should leave out the two-day-old post: %v", ids)
	}
	hot := first("sort=hot")
	if indexOf(hot, fresh) > indexOf(hot, old) || indexOf(hot, talked) > indexOf(hot, old) {
		t.Errorf("hot: fresh posts should beat the old popular one: %v (old %s)", hot, old)
	}
	if ids := first("sort=discussed"); ids[0] != talked {
		t.Errorf("discussed: %v, want %s first", ids, talked)
	}
	if ids := first("sort=hot&category=aesthetic"); len(ids) != 2 {
		t.Errorf("category filter: %v", ids)
	}

	bad := []struct{ q, code string }{
		{"sort=best", "invalid_sort"},
		{"sort=hot&category=memes", "invalid_field"},
		{"sort=top&t=decade", "invalid_period"},
		{"sort=hot&t=day", "invalid_period"},
		{"limit=0", "invalid_limit"},
		{"limit=101", "invalid_limit"},
		{"limit=ten", "invalid_limit"},
		{"cursor=garbage", "invalid_cursor"},
	}
	for _, b := range bad {
		in.req("GET", "/api/feed?"+b.q, "", nil).wantError(t, 400, b.code)
	}
	// A cursor only continues the list it came from.
	_, next := in.feedPage(t, "sort=hot&limit=1", "")
	in.req("GET", "/api/feed?sort=top&limit=1&cursor="+next, "", nil).wantError(t, 400, "invalid_cursor")
	in.req("GET", "/api/feed?sort=hot&limit=1&cursor="+next, "", nil).must(t, 200)
	if ids := first("limit=100"); len(ids) != 4 {
		t.Errorf("limit=100 returned %d posts", len(ids))
	}
}

func indexOf(ids []string, id string) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return 1 << 30
}

// TestVotesRescorePostSoon checks the debounced per-post recompute: a vote
// changes the post's hot score without waiting for the periodic task
// (which the test instance runs only hourly).
func TestVotesRescorePostSoon(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("scored")
	b := in.register("scorer")
	id := in.post(a, "selfie")
	var before float64
	if err := in.store.DB().Get(&before, `SELECT hot_score FROM posts WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	in.req("POST", "/api/posts/"+id+"/vote", b.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	eventually(t, "the post to be rescored", func() bool {
		var now float64
		_ = in.store.DB().Get(&now, `SELECT hot_score FROM posts WHERE id = $1`, id)
		return now > before
	})
}
