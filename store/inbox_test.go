package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

func like(id string) store.InboxInsert {
	return store.InboxInsert{ActivityID: id, Type: "Like", ActorURI: "https://masto.example/users/alice",
		Body: []byte(fmt.Sprintf(`{"id":%q,"type":"Like"}`, id))}
}

// TestInsertInboxBatch: one transaction stores a batch; redeliveries (of
// an earlier batch, or repeated within one) are not stored again; a row
// PostgreSQL refuses fails alone.
func TestInsertInboxBatch(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	if _, _, err := st.InsertInbox(ctx, "https://masto.example/1", "Like", "https://masto.example/users/alice", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	bad := like("https://masto.example/bad")
	bad.Body = []byte(`{"content":"nul \u0000 is not jsonb"}`)
	for _, tc := range []struct {
		name     string
		items    []store.InboxInsert
		inserted []bool
		failed   []bool // nil: no row failed
	}{
		{"new rows", []store.InboxInsert{like("https://masto.example/2"), like("https://masto.example/3")}, []bool{true, true}, nil},
		{"a redelivery among new rows", []store.InboxInsert{like("https://masto.example/1"), like("https://masto.example/4")}, []bool{false, true}, nil},
		{"repeated within the batch", []store.InboxInsert{like("https://masto.example/5"), like("https://masto.example/5")}, []bool{true, false}, nil},
		{"a row refused", []store.InboxInsert{like("https://masto.example/6"), bad, like("https://masto.example/7")},
			[]bool{true, false, true}, []bool{false, true, false}},
		{"empty", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, errs, err := st.InsertInboxBatch(ctx, tc.items)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != len(tc.items) || (tc.failed == nil) != (errs == nil) {
				t.Fatalf("%d results, row errors %v; want %d results, failures %v", len(res), errs, len(tc.items), tc.failed)
			}
			for i, r := range res {
				if r.Inserted != tc.inserted[i] || (r.ID != 0) != r.Inserted {
					t.Errorf("row %d: %+v, want inserted %v", i, r, tc.inserted[i])
				}
				if errs != nil && (errs[i] != nil) != tc.failed[i] {
					t.Errorf("row %d: error %v, want failed %v", i, errs[i], tc.failed[i])
				}
				if r.Inserted {
					e, err := st.InboxByID(ctx, r.ID)
					if err != nil || e.ActivityID != tc.items[i].ActivityID || e.ProcessedAt != nil {
						t.Errorf("row %d stored as %+v (%v)", i, e, err)
					}
				}
			}
		})
	}
}

// TestApplyLikes: a batch of Likes has ApplyLike's effect on each: one
// vote per (post, actor), counters raised by the votes added, entries
// marked processed; a Like of a deleted post is left to the caller; a
// second application changes nothing.
func TestApplyLikes(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	posts := postsLastDeleted(t, st, 3)
	var actors []int64
	for _, name := range []string{"alice", "bob"} {
		a, err := st.UpsertRemoteActor(ctx, &store.RemoteActor{URI: "https://masto.example/users/" + name, Type: "Person",
			Host: "masto.example", Inbox: "https://masto.example/users/" + name + "/inbox"})
		if err != nil {
			t.Fatal(err)
		}
		actors = append(actors, a.ID)
	}
	n := 0
	likeOf := func(post uuid.UUID, actor int64) store.RemoteLike {
		n++
		id := fmt.Sprintf("https://masto.example/likes/%d", n)
		inboxID, _, err := st.InsertInbox(ctx, id, "Like", "https://masto.example/users/x", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		return store.RemoteLike{InboxID: inboxID, PostID: post, ActorID: actor, LikeID: id}
	}
	likes := []store.RemoteLike{
		likeOf(posts[0], actors[0]),
		likeOf(posts[0], actors[1]),
		likeOf(posts[1], actors[0]),
		likeOf(posts[0], actors[0]), // alice again: no second vote
		likeOf(posts[2], actors[1]), // deleted
	}
	for round := range 2 {
		left, err := st.ApplyLikes(ctx, likes)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{likes[4].InboxID}; round == 0 && (len(left) != 1 || left[0] != want[0]) {
			t.Errorf("left %v, want %v", left, want)
		}
		for i, want := range []int{2, 1} {
			p, err := st.PostByID(ctx, posts[i])
			if err != nil || p.Upvotes != want {
				t.Errorf("round %d: post %d has %d upvotes (%v), want %d", round, i, p.Upvotes, err, want)
			}
		}
		for i, l := range likes {
			e, err := st.InboxByID(ctx, l.InboxID)
			if err != nil || (e.ProcessedAt != nil) != (i != 4) {
				t.Errorf("round %d: like %d processed at %v (%v)", round, i, e.ProcessedAt, err)
			}
		}
	}
}

// TestInsertInboxBatchLivePost: a row naming a post is stored only while
// that post is live; the nil UUID is a post id like any other.
func TestInsertInboxBatchLivePost(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()
	posts := postsLastDeleted(t, st, 2)
	missing, zero := uuid.New(), uuid.Nil
	for i, tc := range []struct {
		name     string
		post     *uuid.UUID
		inserted bool
	}{
		{"live", &posts[0], true},
		{"deleted", &posts[1], false},
		{"missing", &missing, false},
		{"the nil UUID", &zero, false},
		{"no post to check", nil, true},
	} {
		it := like(fmt.Sprintf("https://masto.example/live/%d", i))
		it.LivePost = tc.post
		res, _, err := st.InsertInboxBatch(ctx, []store.InboxInsert{like(fmt.Sprintf("https://masto.example/other/%d", i)), it})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].Inserted || res[1].Inserted != tc.inserted {
			t.Errorf("%s: %+v, want the second inserted %v (and the first)", tc.name, res, tc.inserted)
		}
	}
}

// postsLastDeleted creates an agent with n posts and deletes the last one.
func postsLastDeleted(t *testing.T, st *store.Store, n int) []uuid.UUID {
	t.Helper()
	ctx := context.Background()
	agent := &store.Agent{ID: uuid.New(), Name: "liked_agent", AvatarEmoji: "🤖"}
	if err := st.CreateAgent(ctx, agent, []byte("hash")); err != nil {
		t.Fatal(err)
	}
	var posts []uuid.UUID
	for range n {
		p, err := st.CreatePost(ctx, store.NewPost{AgentID: agent.ID, ImageURL: "https://images.example/a.png",
			Caption: "a post", Category: "general"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		posts = append(posts, p.ID)
	}
	if err := st.DeletePost(ctx, posts[n-1], agent.ID); err != nil {
		t.Fatal(err)
	}
	return posts
}
