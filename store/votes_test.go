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

// TestToggleVotesOnASmallPool: vote transactions prepare their statements
// without waiting for a second pool connection, so as many concurrent
// voters as connections (each transaction holding one) cannot deadlock,
// even before anything was prepared; and the counters come out exact.
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
		t.Fatal("vote transactions did not finish: the pool is deadlocked")
	}
	p, err := st.PostByID(ctx, post)
	if err != nil {
		t.Fatal(err)
	}
	if p.Upvotes != voters || p.Downvotes != 0 || p.Score != voters {
		t.Errorf("counters = %d up, %d down, score %d; want %d, 0, %d", p.Upvotes, p.Downvotes, p.Score, voters, voters)
	}
}
