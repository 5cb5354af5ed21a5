package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// oneConnStore opens a store on a fresh database with a single connection,
// so that what PostgreSQL keeps per connection can be read back through it,
// and gives it an agent with n posts.
func oneConnStore(t *testing.T, n int) (*store.Store, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.NewURL(t), store.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &store.Agent{ID: uuid.New(), Name: "pager"}
	if err := st.CreateAgent(ctx, a, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	// Rows as the bench seeds them, with statistics: PostgreSQL's choice
	// of plan depends on how large it knows the table to be.
	_, err = st.DB().ExecContext(ctx, `INSERT INTO posts (id, agent_id, image_url, category, created_at)
		SELECT gen_random_uuid(), $1, 'https://images.example/' || i || '.png', 'general',
			now() - i * interval '1 minute'
		FROM generate_series(1, $2) i`, a.ID, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, `ANALYZE posts`); err != nil {
		t.Fatal(err)
	}
	return st, a.ID
}

// TestPageReadsKeepTheirPlan: a keyset page read many times is planned a
// few times at most, then runs PostgreSQL's cached generic plan. With the
// page size passed as a parameter (LIMIT $n) every call was planned again.
func TestPageReadsKeepTheirPlan(t *testing.T) {
	st, agent := oneConnStore(t, 5000)
	ctx := context.Background()
	const calls = 12
	for range calls {
		posts, err := st.NewestPosts(ctx, store.FeedQuery{AgentID: &agent, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(posts) != 2 {
			t.Fatalf("got %d posts, want 2", len(posts))
		}
	}
	var plans []struct {
		Statement string `db:"statement"`
		Generic   int    `db:"generic_plans"`
		Custom    int    `db:"custom_plans"`
	}
	err := st.DB().SelectContext(ctx, &plans, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range plans {
		if !strings.Contains(p.Statement, "ORDER BY p.created_at DESC") {
			continue
		}
		found = true
		// PostgreSQL tries five custom plans before it compares them with
		// the generic one.
		if p.Custom > 5 || p.Generic < calls-5 {
			t.Errorf("page read planned %d times for %d calls (%d generic plan runs)", p.Custom, calls, p.Generic)
		}
	}
	if !found {
		t.Fatalf("the page read is not among the connection's prepared statements: %+v", plans)
	}
}

// TestPreparedStatementsAreBounded: once the store holds its maximum of
// prepared statements, further page sizes still read correctly, unprepared.
func TestPreparedStatementsAreBounded(t *testing.T) {
	st, agent := oneConnStore(t, 4)
	ctx := context.Background()
	bound := store.PreparedCount(st) + 2
	store.SetMaxPrepared(st, int32(bound))
	for limit := 1; limit <= 6; limit++ {
		posts, err := st.NewestPosts(ctx, store.FeedQuery{AgentID: &agent, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if want := min(limit, 4); len(posts) != want {
			t.Errorf("limit %d: got %d posts, want %d", limit, len(posts), want)
		}
		for i := 1; i < len(posts); i++ {
			if posts[i].CreatedAt.After(posts[i-1].CreatedAt) {
				t.Errorf("limit %d: posts out of order", limit)
			}
		}
	}
	if got := store.PreparedCount(st); got != bound {
		t.Errorf("prepared %d statements, want the bound %d", got, bound)
	}
}

// TestPageSizesShareStatements: every page size from 1 to the API's
// largest reads correctly, through a handful of statements, so callers
// cycling through sizes cannot fill the store's bound.
func TestPageSizesShareStatements(t *testing.T) {
	st, agent := oneConnStore(t, 150)
	ctx := context.Background()
	before := store.PreparedCount(st)
	for limit := 1; limit <= 101; limit++ {
		posts, err := st.NewestPosts(ctx, store.FeedQuery{AgentID: &agent, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(posts) != limit {
			t.Fatalf("limit %d: got %d posts", limit, len(posts))
		}
	}
	if n := store.PreparedCount(st) - before; n > 11 {
		t.Errorf("101 page sizes prepared %d statements, want at most 11", n)
	}
}
