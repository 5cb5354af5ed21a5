package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// mastodonSetup is an Aistagram instance with one agent and post, and a
// Mastodon-like peer with the fixtures' account "alice".
type mastodonSetup struct {
	in    *instance
	p     *peer
	agent agent
	vars  map[string]string
}

func newMastodonSetup(t *testing.T) *mastodonSetup {
	in := newInstance(t)
	p := newPeer(t)
	p.account("alice")
	a := in.register("robot")
	return &mastodonSetup{in: in, p: p, agent: a, vars: map[string]string{
		"TARGET_ACTOR": in.URL + "/users/" + a.Name,
		"TARGET_URL":   in.URL + "/@" + a.Name,
		"TARGET_NAME":  a.Name,
		"TARGET_HOST":  strings.TrimPrefix(in.URL, "http://"),
	}}
}

func (m *mastodonSetup) inbox() string { return m.in.URL + "/users/" + m.agent.Name + "/inbox" }

// sendFixture sends a fixture from alice and checks the status.
func (m *mastodonSetup) sendFixture(t *testing.T, name string, want int) {
	t.Helper()
	status, msg := m.p.send("alice", m.inbox(), m.p.fixture(name, m.vars), nil)
	if status != want {
		t.Fatalf("%s: status %d, want %d: %s", name, status, want, msg)
	}
}

func (m *mastodonSetup) post(t *testing.T) map[string]any {
	t.Helper()
	return m.in.req("GET", "/api/posts/"+strings.TrimPrefix(m.vars["TARGET_NOTE"], m.in.URL+"/posts/"), "", nil).must(t, 200).data()
}

// TestMastodonFollowerJourney walks what a Mastodon user does with an
// agent, step by step, with the fixtures' real shapes: follow (and get a
// verified Accept), see new posts, like, reply, boost, undo each, get
// deletes, rename themselves, report, block, and finally delete their
// account.
func TestMastodonFollowerJourney(t *testing.T) {
	t.Parallel()
	m := newMastodonSetup(t)
	in, p := m.in, m.p
	followID := p.URL + "/0b6c1f7e-3c1a-4f7e-9d2e-8a1b2c3d4e5f"

	// 1. Follow → a signed Accept, to alice's own inbox, embedding the Follow.
	m.sendFixture(t, "follow.json", http.StatusAccepted)
	accept := p.waitFor("the Accept", func(d delivery) bool { return d.typ() == "Accept" })
	if !accept.Verified || accept.Inbox != "/users/alice/inbox" {
		t.Fatalf("Accept: verified=%v (%v) inbox=%s", accept.Verified, accept.Err, accept.Inbox)
	}
	if f := accept.object(); f["id"] != followID || f["type"] != "Follow" || f["actor"] != p.URL+"/users/alice" || f["object"] != m.vars["TARGET_ACTOR"] {
		t.Fatalf("Accept does not embed the Follow: %v", accept.Activity)
	}
	if accept.Activity["actor"] != m.vars["TARGET_ACTOR"] || accept.KeyID != m.vars["TARGET_ACTOR"]+"#main-key" {
		t.Fatalf("Accept actor/key: %v %s", accept.Activity["actor"], accept.KeyID)
	}
	stats := func() map[string]any {
		return in.req("GET", "/api/agents/"+m.agent.Name, "", nil).must(t, 200).data()["stats"].(map[string]any)
	}
	if num(stats(), "followers") != 1 {
		t.Fatalf("followers: %v", stats())
	}

	// 2. A new post arrives at alice's server (its shared inbox), signed by the agent.
	postID := in.post(m.agent, "selfie")
	m.vars["TARGET_NOTE"] = in.URL + "/posts/" + postID
	create := p.waitFor("the Create", func(d delivery) bool { return d.typ() == "Create" })
	if !create.Verified || create.Inbox != "/inbox" || create.object()["id"] != m.vars["TARGET_NOTE"] {
		t.Fatalf("Create: verified=%v (%v) inbox=%s object=%v", create.Verified, create.Err, create.Inbox, create.object()["id"])
	}
	checkHostedAttachment(t, in, create.object()["attachment"].([]any)[0].(map[string]any))

	// 3. Like → an upvote; the score goes up.
	m.sendFixture(t, "like.json", http.StatusAccepted)
	eventually(t, "the like to count", func() bool { return num(m.post(t), "upvotes") == 1 })
	if num(m.post(t), "score") != 1 {
		t.Fatalf("score after like: %v", m.post(t)["score"])
	}
	// A replayed Like changes nothing.
	m.sendFixture(t, "like.json", http.StatusAccepted)
	m.sendFixture(t, "misskey-like-reaction.json", http.StatusAccepted) // same actor: still one vote
	time.Sleep(300 * time.Millisecond)
	if num(m.post(t), "upvotes") != 1 {
		t.Fatalf("replayed like counted twice: %v", m.post(t)["upvotes"])
	}

	// 4. A reply → a comment, sanitised, with a remote author.
	m.sendFixture(t, "create-note-reply.json", http.StatusAccepted)
	var comment map[string]any
	eventually(t, "the reply to appear", func() bool {
		cs := in.req("GET", "/api/posts/"+postID+"/comments", "", nil).must(t, 200).data()["comments"].([]any)
		if len(cs) == 1 {
			comment = cs[0].(map[string]any)
		}
		return comment != nil
	})
	author := comment["agent"].(map[string]any)
	host := strings.TrimPrefix(p.URL, "http://")
	if author["remote"] != true || author["handle"] != "@alice@"+host || author["server"] != host ||
		author["id"] != nil || author["model"] != nil || author["url"] != p.URL+"/@alice" {
		t.Fatalf("remote author: %v", author)
	}
	if html := comment["content_html"].(string); strings.Contains(html, "<script") || strings.Contains(html, "onerror") || strings.Contains(html, "onclick") {
		t.Fatalf("reply HTML not sanitised: %s", html)
	}
	if strings.TrimSpace(comment["content"].(string)) == "" {
		t.Fatal("reply without plain text")
	}
	// The worker that applied the reply starts the cache's new generation
	// just after its commit, which a reader may see first.
	eventually(t, "comment_count to count the reply", func() bool { return num(m.post(t), "comment_count") == 1 })
	// The reply is in the Note's replies collection.
	replies, _ := in.getAP(t, m.vars["TARGET_NOTE"]+"/replies")
	if num(replies, "totalItems") != 1 {
		t.Fatalf("replies: %v", replies)
	}

	// 5. Boost and unboost.
	m.sendFixture(t, "announce.json", http.StatusAccepted)
	eventually(t, "the share to count", func() bool {
		n, _ := in.getAP(t, m.vars["TARGET_NOTE"])
		return num(n["shares"].(map[string]any), "totalItems") == 1
	})
	m.sendFixture(t, "undo-announce.json", http.StatusAccepted)
	eventually(t, "the share to be withdrawn", func() bool {
		n, _ := in.getAP(t, m.vars["TARGET_NOTE"])
		return num(n["shares"].(map[string]any), "totalItems") == 0
	})

	// 6. Unlike.
	m.sendFixture(t, "undo-like.json", http.StatusAccepted)
	eventually(t, "the like to be withdrawn", func() bool { return num(m.post(t), "upvotes") == 0 })

	// 7. Alice renames herself: the Update refreshes her cached profile.
	p.mu.Lock()
	p.names["alice"] = "Alice (renamed)"
	p.mu.Unlock()
	m.sendFixture(t, "update-actor.json", http.StatusAccepted)
	eventually(t, "the rename", func() bool {
		cs := in.req("GET", "/api/posts/"+postID+"/comments", "", nil).must(t, 200).data()["comments"].([]any)
		return len(cs) == 1 && cs[0].(map[string]any)["agent"].(map[string]any)["display_name"] == "Alice (renamed)"
	})

	// 8. Alice deletes her reply.
	m.sendFixture(t, "delete-note.json", http.StatusAccepted)
	eventually(t, "the reply to go", func() bool {
		return len(in.req("GET", "/api/posts/"+postID+"/comments", "", nil).must(t, 200).data()["comments"].([]any)) == 0
	})

	// 9. Her server's instance actor reports the agent.
	status, msg := p.send("actor", in.URL+"/inbox", p.fixture("flag.json", m.vars), nil)
	if status != http.StatusAccepted {
		t.Fatalf("flag: %d %s", status, msg)
	}
	eventually(t, "the report", func() bool {
		var n int
		_ = in.store.DB().Get(&n, `SELECT count(*) FROM reports WHERE content LIKE 'Spam%' AND cardinality(agent_ids) = 1 AND cardinality(post_ids) = 1`)
		return n == 1
	})

	// 10. The agent deletes its post: alice's server gets Delete{Tombstone}.
	in.req("DELETE", "/api/posts/"+postID, m.agent.Key, nil).must(t, 200)
	del := p.waitFor("the Delete", func(d delivery) bool { return d.typ() == "Delete" })
	if !del.Verified || del.object()["id"] != m.vars["TARGET_NOTE"] || del.object()["type"] != "Tombstone" {
		t.Fatalf("Delete: %v (%v)", del.Activity, del.Err)
	}

	// 11. Profile change → Update to followers.
	in.req("PATCH", "/api/agents/me", m.agent.Key, map[string]string{"bio": "new bio"}).must(t, 200)
	upd := p.waitFor("the Update", func(d delivery) bool { return d.typ() == "Update" })
	if !upd.Verified || upd.object()["id"] != m.vars["TARGET_ACTOR"] || !strings.Contains(upd.object()["summary"].(string), "new bio") {
		t.Fatalf("Update: %v", upd.Activity)
	}

	// 12. Unfollow.
	m.sendFixture(t, "undo-follow.json", http.StatusAccepted)
	eventually(t, "the unfollow", func() bool { return num(stats(), "followers") == 0 })

	// 13. Follow again, then block: the follow is dropped.
	refollow := bytes.ReplaceAll(m.p.fixture("follow.json", m.vars), []byte("0b6c1f7e"), []byte("1b6c1f7e"))
	if status, msg := p.send("alice", m.inbox(), refollow, nil); status != http.StatusAccepted {
		t.Fatalf("refollow: %d %s", status, msg)
	}
	eventually(t, "the refollow", func() bool { return num(stats(), "followers") == 1 })
	m.sendFixture(t, "block.json", http.StatusAccepted)
	eventually(t, "the block to drop the follow", func() bool { return num(stats(), "followers") == 0 })

	// 14. Alice deletes her account: her key is gone (410) and A must not
	// need it; her follows, votes and comments go.
	second := in.post(m.agent, "work")
	m.vars["TARGET_NOTE"] = in.URL + "/posts/" + second
	// A new Like has a new id (the old one was seen: a replay is ignored).
	if status, msg := p.send("alice", m.inbox(), bytes.ReplaceAll(p.fixture("like.json", m.vars), []byte("likes/987"), []byte("likes/989")), nil); status != 202 {
		t.Fatalf("second like: %d %s", status, msg)
	}
	eventually(t, "the second like", func() bool { return num(m.post(t), "upvotes") == 1 })
	p.mu.Lock()
	p.gone["alice"] = true
	p.mu.Unlock()
	m.sendFixture(t, "delete-actor.json", http.StatusAccepted)
	eventually(t, "the account deletion to apply", func() bool { return num(m.post(t), "upvotes") == 0 })
}

// TestInboxRefusals sends what must be refused or must change nothing,
// and checks that nothing was stored.
func TestInboxRefusals(t *testing.T) {
	t.Parallel()
	m := newMastodonSetup(t)
	in, p := m.in, m.p
	p.account("mallory")
	m.vars["TARGET_NOTE"] = in.URL + "/posts/" + in.post(m.agent, "drama")
	like := p.fixture("like.json", m.vars)
	date2hAgo := time.Now().Add(-2 * time.Hour).UTC().Format(http.TimeFormat)

	tests := []struct {
		name   string
		from   string
		body   []byte
		mutate func(*http.Request)
		status int
	}{
		{"no signature", "alice", like, func(r *http.Request) { r.Header.Del("Signature") }, 401},
		{"forged signature", "alice", like, func(r *http.Request) {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), `signature="`, `signature="AAAA`, 1))
		}, 401},
		{"wrong digest", "alice", like, func(r *http.Request) { r.Header.Set("Digest", "SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=") }, 401},
		{"tampered body", "alice", like, func(r *http.Request) {
			b := bytes.Replace(like, []byte("likes/987"), []byte("likes/988"), 1)
			r.Body = readCloser(b)
			r.ContentLength = int64(len(b))
		}, 401},
		{"stale date", "alice", like, func(r *http.Request) { r.Header.Set("Date", date2hAgo) }, 401},
		{"signed by someone else", "mallory", like, nil, 401},
		{"invalid JSON", "alice", []byte(`{"type": "Like",`), nil, 400},
		{"no @context", "alice", []byte(`{"id":"` + p.URL + `/x","type":"Like","actor":"` + p.URL + `/users/alice","object":"` + m.vars["TARGET_NOTE"] + `"}`), nil, 400},
		{"no actor", "alice", []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"` + p.URL + `/x","type":"Like","object":"` + m.vars["TARGET_NOTE"] + `"}`), nil, 400},
		{"no object", "alice", []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"` + p.URL + `/x","type":"Like","actor":"` + p.URL + `/users/alice"}`), nil, 400},
		{"like of an unknown post", "alice", bytes.ReplaceAll(like, []byte(m.vars["TARGET_NOTE"]), []byte(in.URL+"/posts/00000000-0000-0000-0000-000000000000")), nil, 404},
		{"follow of an unknown agent", "alice", bytes.ReplaceAll(p.fixture("follow.json", m.vars), []byte(m.vars["TARGET_ACTOR"]), []byte(in.URL+"/users/nobody_here")), nil, 404},
		{"too large", "alice", append(like[:len(like)-2], []byte(`,"pad":"`+strings.Repeat("x", 1<<20)+`"}`)...), nil, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, msg := p.send(tt.from, m.inbox(), tt.body, tt.mutate)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, msg)
			}
		})
	}
	var stored int
	_ = in.store.DB().Get(&stored, `SELECT count(*) FROM inbox`)
	if stored != 0 {
		t.Fatalf("%d refused activities were stored", stored)
	}
	if num(m.post(t), "upvotes") != 0 {
		t.Fatal("a refused like counted")
	}
	// The genuine one is accepted, and its replay is a no-op.
	m.sendFixture(t, "like.json", http.StatusAccepted)
	m.sendFixture(t, "like.json", http.StatusAccepted)
	eventually(t, "the like", func() bool { return num(m.post(t), "upvotes") == 1 })
	_ = in.store.DB().Get(&stored, `SELECT count(*) FROM inbox`)
	if stored != 1 {
		t.Fatalf("replay stored again: %d rows", stored)
	}
	// Unknown activity types are acknowledged and ignored.
	status, _ := p.send("alice", m.inbox(), []byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"`+p.URL+`/q","type":"Arrive","actor":"`+p.URL+`/users/alice"}`), nil)
	if status != http.StatusAccepted {
		t.Fatalf("unknown type: %d", status)
	}
}

func readCloser(b []byte) *nopCloser { return &nopCloser{bytes.NewReader(b)} }

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

var _ = json.Marshal
