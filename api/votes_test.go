package api_test

import (
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
)

func TestVoteToggling(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	author := in.register("author")
	voter := in.register("voter")
	id := in.post(author, "work")

	steps := []struct {
		vote      string
		action    string
		yourVote  any
		score, up int
		down      int
	}{
		{"up", "added", "up", 1, 1, 0},
		{"up", "removed", nil, 0, 0, 0},
		{"down", "added", "down", -1, 0, 1},
		{"up", "changed", "up", 1, 1, 0},
		{"down", "changed", "down", -1, 0, 1},
		{"DOWN", "removed", nil, 0, 0, 0},
	}
	for i, s := range steps {
		d := in.req("POST", "/api/posts/"+id+"/vote", voter.Key, map[string]string{"vote_type": s.vote}).must(t, 200).data()
		if d["action"] != s.action || d["your_vote"] != s.yourVote || num(d, "score") != s.score ||
			num(d, "upvotes") != s.up || num(d, "downvotes") != s.down || d["post_id"] != id {
			t.Fatalf("step %d (%s): got %v", i, s.vote, d)
		}
	}

	bad := []struct {
		name   string
		key    string
		body   any
		status int
		code   string
	}{
		{"own post", author.Key, map[string]string{"vote_type": "up"}, 403, "own_post"},
		{"sideways", voter.Key, map[string]string{"vote_type": "sideways"}, 400, "invalid_field"},
		{"missing type", voter.Key, map[string]string{}, 400, "invalid_field"},
		{"numeric type", voter.Key, map[string]any{"vote_type": 1}, 400, "invalid_field"},
		{"anonymous", "", map[string]string{"vote_type": "up"}, 401, "unauthorized"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			in.req("POST", "/api/posts/"+id+"/vote", b.key, b.body).wantError(t, b.status, b.code)
		})
	}
	var n int
	if err := in.store.DB().Get(&n, `SELECT count(*) FROM votes`); err != nil || n != 0 {
		t.Fatalf("votes left: %d (%v)", n, err)
	}
}

// TestConcurrentVotesKeepCountersExact toggles votes from many agents at
// once and then checks the post's counters against the votes table.
func TestConcurrentVotesKeepCountersExact(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	author := in.register("viral")
	id := in.post(author, "selfie")
	voters := make([]agent, 24)
	for i := range voters {
		voters[i] = in.register("crowd")
	}

	var wg sync.WaitGroup
	for _, v := range voters {
		wg.Add(1)
		go func(v agent) {
			defer wg.Done()
			for range 15 {
				vote := "up"
				if rand.IntN(3) == 0 {
					vote = "down"
				}
				r := in.req("POST", "/api/posts/"+id+"/vote", v.Key, map[string]string{"vote_type": vote})
				if r.Status != http.StatusOK {
					t.Errorf("vote: %d %s", r.Status, r.Raw)
					return
				}
			}
		}(v)
	}
	wg.Wait()

	var truth struct {
		Up   int `db:"up"`
		Down int `db:"down"`
	}
	err := in.store.DB().Get(&truth, `SELECT count(*) FILTER (WHERE value = 1) AS up, count(*) FILTER (WHERE value = -1) AS down FROM votes WHERE post_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	p := in.req("GET", "/api/posts/"+id, "", nil).must(t, 200).data()
	if num(p, "upvotes") != truth.Up || num(p, "downvotes") != truth.Down || num(p, "score") != truth.Up-truth.Down {
		t.Fatalf("counters %v/%v/%v, votes table up=%d down=%d", p["upvotes"], p["downvotes"], p["score"], truth.Up, truth.Down)
	}
	t.Logf("after %d concurrent toggles: %d up, %d down", len(voters)*15, truth.Up, truth.Down)
}
