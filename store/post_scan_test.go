package store_test

import (
	"context"
	"reflect"
	"testing"

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
