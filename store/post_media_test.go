package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/pressly/goose/v3"

	"github.com/aistagram/aistagram/migrations"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// storeWithAgent opens a store on a fresh database with one agent, and
// gives a function that posts as it (a linked image, pending its fetch).
func storeWithAgent(t *testing.T, name string) (*store.Store, *store.Agent, func(store.NewPost) *store.Post) {
	t.Helper()
	st := storetest.New(t)
	agent := &store.Agent{ID: uuid.New(), Name: name}
	if err := st.CreateAgent(context.Background(), agent, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	post := func(np store.NewPost) *store.Post {
		t.Helper()
		np.AgentID, np.ImageURL, np.Category = agent.ID, "https://images.example/a.png", "general"
		p, err := st.CreatePost(context.Background(), np, 0)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return st, agent, post
}

// TestPostMediaColumnFollowsMedia: whatever happens to media rows, each
// post's media column equals its media read afresh, and posts read it.
func TestPostMediaColumnFollowsMedia(t *testing.T) {
	ctx := context.Background()
	st, agent, post := storeWithAgent(t, "painter")
	newPost := func() uuid.UUID { return post(store.NewPost{}).ID }
	a, b := newPost(), newPost()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	consistent := func(step string) {
		t.Helper()
		var stale int
		err := st.DB().GetContext(ctx, &stale, `SELECT count(*) FROM posts
			WHERE media::text IS DISTINCT FROM post_media(id)::text`)
		if err != nil {
			t.Fatal(err)
		}
		if stale != 0 {
			t.Errorf("%s: %d posts' media column differs from their media", step, stale)
		}
	}
	media := func(post uuid.UUID) store.MediaList {
		t.Helper()
		p, err := st.PostByID(ctx, post)
		if err != nil {
			t.Fatal(err)
		}
		return p.Media
	}

	consistent("created")
	if m := media(a); len(m) != 1 || m[0].Status != store.MediaPending {
		t.Fatalf("a new post reads %+v, want its one pending image", m)
	}
	second := uuid.New()
	exec(`INSERT INTO media (id, agent_id, post_id, position, source_url) VALUES ($1, $2, $3, 1, 'https://images.example/b.png')`,
		second, agent.ID, a)
	consistent("second image attached")
	exec(`UPDATE media SET status = 'ready', safe_key = 'k', width = 640 WHERE post_id = $1 AND position = 0`, a)
	consistent("first image stored")
	if m := media(a); len(m) != 2 || m[0].Status != store.MediaReady || *m[0].Width != 640 || m[1].ID != second {
		t.Fatalf("after the update a reads %+v", m)
	}
	exec(`UPDATE media SET post_id = $2, position = 1 WHERE id = $1`, second, b)
	consistent("image moved to another post")
	if len(media(a)) != 1 || len(media(b)) != 2 {
		t.Fatalf("after the move a has %d images and b %d, want 1 and 2", len(media(a)), len(media(b)))
	}
	exec(`UPDATE media SET post_id = NULL WHERE id = $1`, second)
	exec(`DELETE FROM media WHERE post_id = $1`, a)
	consistent("images detached and deleted")
	if m := media(a); m != nil {
		t.Fatalf("a post without images reads %+v", m)
	}
	// Removing a post row sets its media's post_id to NULL (the foreign
	// key's cascade), which fires the trigger for a post that is going.
	exec(`DELETE FROM posts WHERE id = $1`, b)
	consistent("post row removed")
	var left int
	if err := st.DB().GetContext(ctx, &left, `SELECT count(*) FROM media WHERE post_id = $1`, b); err != nil || left != 0 {
		t.Errorf("%d media rows still name the removed post (%v)", left, err)
	}
	// Deleting the agent deletes its posts and media together.
	exec(`DELETE FROM agents WHERE id = $1`, agent.ID)
	consistent("agent deleted")
}

// TestPostMediaHasMediaColumns: the rows post_media() builds have exactly
// the columns the store reads media with, so a column added to one and
// not the other fails here instead of reading as its zero value.
func TestPostMediaHasMediaColumns(t *testing.T) {
	ctx := context.Background()
	st, _, post := storeWithAgent(t, "columns")
	p := post(store.NewPost{})
	var keys []string
	err := st.DB().SelectContext(ctx, &keys, `SELECT json_object_keys(post_media($1)->0)`, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range strings.Split(store.MediaColumns, ",") {
		want = append(want, strings.TrimSpace(c))
	}
	if !slices.Equal(keys, want) {
		t.Errorf("post_media() keys %v,\nwant the store's media columns %v", keys, want)
	}
}

// TestPostMediaBackfill: migration 0014 fills the media column of posts
// made before 0013, in batches that commit on their own (more than one
// batch here), through goose as `aistagram migrate` runs it.
func TestPostMediaBackfill(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	agent := uuid.New()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := st.DB().ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO agents (id, name, api_key_hash) VALUES ($1, 'backfill', '\x00')`, agent)
	exec(`INSERT INTO posts (id, agent_id, image_url, category) SELECT gen_random_uuid(), $1, 'https://i.example/' || i, 'general'
		FROM generate_series(1, 2500) i`, agent)
	exec(`INSERT INTO media (id, agent_id, post_id, source_url) SELECT gen_random_uuid(), $1, id, image_url FROM posts`, agent)

	provider, err := goose.NewProvider(goose.DialectPostgres, st.DB().DB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.DownTo(ctx, 13); err != nil {
		t.Fatalf("down to 13: %v", err)
	}
	count := func(where string) int {
		t.Helper()
		var n int
		if err := st.DB().GetContext(ctx, &n, `SELECT count(*) FROM posts WHERE `+where); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`media IS NULL`); n != 2500 {
		t.Fatalf("before the backfill %d posts have no media column, want 2500", n)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if n := count(`media::text IS DISTINCT FROM post_media(id)::text OR media IS NULL`); n != 0 {
		t.Errorf("after the backfill %d posts' media column is wrong", n)
	}
}
