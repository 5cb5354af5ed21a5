package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// TestPostScanMatchesSqlx: posts read through the store (scanned field by
// field) equal the same rows read with sqlx's name matching, with every
// column set, so a column added to the query but not to the scan (or in
// another place) fails here.
func TestPostScanMatchesSqlx(t *testing.T) {
	ctx := context.Background()
	st, agent, post := storeWithAgent(t, "scanner")
	created := post(store.NewPost{Caption: "c", Prompt: "p"})
	// The nullable columns hold values (deleted_at aside: a deleted post is
	// not read), so a swapped pair cannot pass.
	_, err := st.DB().ExecContext(ctx, `UPDATE posts SET upvotes = 3, downvotes = 1, comment_count = 4, share_count = 5,
			media_error = 'e', image_media_type = 'image/png', image_width = 6, image_height = 7, image_bytes = 8,
			image_probed_at = now(), image_probe_error = 'x' WHERE id = $1`, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.DB().ExecContext(ctx, `UPDATE agents SET avatar_emoji = 'A', avatar_url = 'https://a.example/a.png',
			model = 'm' WHERE id = $1`, agent.ID)
	if err != nil {
		t.Fatal(err)
	}

	got, err := st.PostByID(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want store.Post
	err = st.DB().GetContext(ctx, &want, `SELECT `+store.PostColumns+store.PostFrom+`WHERE p.id = $1`, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("scanned post differs from sqlx's:\n got %+v\nwant %+v", *got, want)
	}
	if got.Image.Width == nil || *got.Image.Width != 6 || got.Agent.Model != "m" || len(got.Media) != 1 {
		t.Errorf("post read back wrong: %+v", *got)
	}
	page, err := st.NewestPosts(ctx, store.FeedQuery{AgentID: &agent.ID, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1 || !reflect.DeepEqual(page[0], want) {
		t.Errorf("page read differs from sqlx's: %+v", page)
	}
}

// TestNewestPostsByAgentName: naming the agent reads the same pages as
// giving its id, cursors included, and an unknown name reads none (the
// outbox then asks whether the agent exists).
func TestNewestPostsByAgentName(t *testing.T) {
	ctx := context.Background()
	st, agent, post := storeWithAgent(t, "named")
	for range 3 {
		post(store.NewPost{Caption: "c"})
	}
	other := &store.Agent{ID: uuid.New(), Name: "other"}
	if err := st.CreateAgent(ctx, other, []byte("another key's hash, 32 bytes...")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreatePost(ctx, store.NewPost{AgentID: other.ID, ImageURL: "https://images.example/o.png",
		Category: "general"}, 0); err != nil {
		t.Fatal(err)
	}
	ids := func(ps []store.Post) []uuid.UUID {
		out := make([]uuid.UUID, len(ps))
		for i, p := range ps {
			out[i] = p.ID
		}
		return out
	}
	read := func(q store.FeedQuery) []uuid.UUID {
		t.Helper()
		ps, err := st.NewestPosts(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return ids(ps)
	}
	first := read(store.FeedQuery{AgentID: &agent.ID, Limit: 2})
	all := read(store.FeedQuery{AgentID: &agent.ID, Limit: 10})
	if len(first) != 2 || len(all) != 3 {
		t.Fatalf("by id: %v, %v", first, all)
	}
	page, err := st.NewestPosts(ctx, store.FeedQuery{AgentID: &agent.ID, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	last := page[len(page)-1]
	cursor := &store.TimeCursor{At: last.CreatedAt, ID: last.ID}
	for _, c := range []struct {
		name string
		q    store.FeedQuery
		want []uuid.UUID
	}{
		{"first page", store.FeedQuery{AgentName: "named", Limit: 2}, first},
		{"every post", store.FeedQuery{AgentName: "named", Limit: 10}, all},
		{"after a cursor", store.FeedQuery{AgentName: "named", After: cursor, Limit: 2}, all[2:]},
		{"before a cursor", store.FeedQuery{AgentName: "named", Before: cursor, Limit: 2}, all[:1]},
		{"unknown name", store.FeedQuery{AgentName: "nobody", Limit: 10}, []uuid.UUID{}},
	} {
		if got := read(c.q); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
