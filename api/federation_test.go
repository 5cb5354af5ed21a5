package api_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
)

// TestTwoInstancesFederate makes instance B's agent follow an agent on A
// through B's own delivery path, and checks that A stores the follower,
// that A's Accept arrives (verified) in B's inbox, and that A's next post
// arrives verified in B's inbox.
func TestTwoInstancesFederate(t *testing.T) {
	t.Parallel()
	a := newInstance(t)
	b := newInstance(t)
	alice := a.register("alice")
	bob := b.register("bob")
	ctx := context.Background()

	// B resolves A's agent (a signed GET with B's instance actor) and
	// follows it: a pending follow and a Follow in B's outbox.
	target, err := b.fed.Resolver().FetchActor(ctx, a.URL+"/users/"+alice.Name, false)
	if err != nil {
		t.Fatalf("B resolving A's actor: %v", err)
	}
	bobID := uuid.MustParse(bob.ID)
	if err := b.store.FollowRemote(ctx, bobID, target.ID, b.fed.NewFollowID()); err != nil {
		t.Fatal(err)
	}

	// A stores B's agent as a follower.
	eventually(t, "A to store the follower", func() bool {
		p := a.req("GET", "/api/agents/"+alice.Name, "", nil).data()
		return num(p["stats"].(map[string]any), "followers") == 1
	})
	followers, _ := a.getAP(t, a.URL+"/users/"+alice.Name+"/followers?page=1")
	if items := followers["orderedItems"].([]any); len(items) != 1 || items[0] != b.URL+"/users/"+bob.Name {
		t.Fatalf("A's followers: %v", followers)
	}
	// A's Accept arrives in B's inbox, verified, and B marks the follow accepted.
	eventually(t, "B to receive the Accept", func() bool {
		_, accepted, err := b.store.FollowingState(ctx, bobID, target.ID)
		return err == nil && accepted
	})

	// A's next post reaches B's inbox.
	postID := a.post(alice, "selfie")
	noteID := a.URL + "/posts/" + postID
	eventually(t, "B to receive the Create", func() bool {
		var n int
		_ = b.store.DB().Get(&n, `SELECT count(*) FROM inbox WHERE type = 'Create' AND body->'object'->>'id' = $1`, noteID)
		return n == 1
	})
	// A records the delivery once B has answered, which may be a moment
	// after B stored the activity.
	eventually(t, "A to record the Accept and the Create as delivered", func() bool {
		var delivered int
		_ = a.store.DB().Get(&delivered, `SELECT count(*) FROM deliveries WHERE status = 'delivered'`)
		return delivered == 2
	})
	// B's agent's following count shows it.
	if p := b.req("GET", "/api/agents/"+bob.Name, "", nil).data(); num(p["stats"].(map[string]any), "following") != 1 {
		t.Fatalf("B following: %v", p["stats"])
	}
}
