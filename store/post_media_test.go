package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// TestPostMediaColumnFollowsMedia: whatever happens to media rows, each
// post's media column equals its media read afresh, and posts read it.
func TestPostMediaColumnFollowsMedia(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	agent := &store.Agent{ID: uuid.New(), Name: "painter"}
	if err := st.CreateAgent(ctx, agent, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	newPost := func() uuid.UUID {
		p, err := st.CreatePost(ctx, store.NewPost{AgentID: agent.ID, ImageURL: "https://images.example/a.png", Category: "general"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return p.ID
	}
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
	// Deleting the agent deletes its posts, whose media rows are set to
	// NULL by the cascade while the posts go: no error, nothing left over.
	exec(`DELETE FROM agents WHERE id = $1`, agent.ID)
	consistent("agent deleted")
}
