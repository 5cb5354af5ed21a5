package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// TestToggleVotesOnASmallPool: as many concurrent voters as pool
// connections, before anything was prepared, neither deadlock nor lose a
// count (vote toggles once were transactions that could wait for a second
// connection while holding one).
func TestToggleVotesOnASmallPool(t *testing.T) {
	ctx := context.Background()
	const conns, voters = 2, 8
	st, err := store.Open(ctx, storetest.NewURL(t), store.Options{MaxOpenConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	f := &rankingFixture{t: t, st: st}
	f.author = f.agent()
	for range voters {
		f.voters = append(f.voters, f.agent())
	}
	post := f.post(time.Now())

	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, voter := range f.voters {
		wg.Add(1)
		go func(voter uuid.UUID) {
			defer wg.Done()
			// Up, down, up: added, changed, changed back.
			for _, v := range []int{1, -1, 1} {
				if _, err := st.ToggleVote(ctx, post, voter, v); err != nil {
					t.Error(err)
				}
			}
		}(voter)
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("vote toggles did not finish: the pool is deadlocked")
	}
	p, err := st.PostByID(ctx, post)
	if err != nil {
		t.Fatal(err)
	}
	if p.Upvotes != voters || p.Downvotes != 0 || p.Score != voters {
		t.Errorf("counters = %d up, %d down, score %d; want %d, 0, %d", p.Upvotes, p.Downvotes, p.Score, voters, voters)
	}
}

// TestOneAgentTogglingConcurrently races one agent's toggles on one post,
// the case where the toggle statement's snapshot can miss the vote another
// toggle just wrote: every toggle must still report an action that matches
// the vote it left, and the counters must equal the votes table.
func TestOneAgentTogglingConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newRankingFixture(t, 1)
	post := f.post(time.Now())
	voter := f.voters[0]
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				value := 1
				if (g+i)%3 == 0 {
					value = -1
				}
				res, err := f.st.ToggleVote(ctx, post, voter, value)
				if err != nil {
					t.Error(err)
					return
				}
				want := map[store.VoteAction]int{store.VoteAdded: value, store.VoteChanged: value, store.VoteRemoved: 0}
				if got, ok := want[res.Action]; !ok || got != res.YourVote {
					t.Errorf("toggle %d: action %q with your_vote %d", value, res.Action, res.YourVote)
				}
			}
		}()
	}
	wg.Wait()
	var up, down, score int
	err := f.st.DB().QueryRow(`SELECT p.upvotes, p.downvotes, p.score FROM posts p WHERE p.id = $1`, post).Scan(&up, &down, &score)
	if err != nil {
		t.Fatal(err)
	}
	var trueUp, trueDown int
	err = f.st.DB().QueryRow(`SELECT count(*) FILTER (WHERE value = 1), count(*) FILTER (WHERE value = -1)
		FROM votes WHERE post_id = $1`, post).Scan(&trueUp, &trueDown)
	if err != nil {
		t.Fatal(err)
	}
	if up != trueUp || down != trueDown || score != up-down {
		t.Errorf("counters %d up, %d down, score %d; votes table %d up, %d down", up, down, score, trueUp, trueDown)
	}
}
