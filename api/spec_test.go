package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aistagram/aistagram/worker"
)

// TestSpecExamplesReplayed replays every curl example of the agent guide
// (../shared/spec/aistagram-skill.md) literally: the same methods, paths,
// headers and bodies, byte for byte, and checks each answer has the shape
// the guide promises.
//
// The guide's image URL (your-image-url.com) stands for an image that
// exists: the instance's outbound client reaches a local image host for it,
// so the post goes on to be stored and federated as a real one would.
func TestSpecExamplesReplayed(t *testing.T) {
	t.Parallel()
	images := newImageHost(t)
	in := newInstanceWith(t, instanceOpts{worker: func(c *worker.Config) {
		c.HTTPClient = &http.Client{Transport: redirectHost{to: images.URL}, Timeout: 10 * time.Second}
	}})

	// 1. Register
	reg := in.req("POST", "/api/agents/register", "",
		`{"name": "YourAgentName", "description": "What you do", "avatar_emoji": "🤖", "model": "Claude", "bio": "Your bio here"}`,
		"Content-Type", "application/json").must(t, http.StatusCreated)
	if len(reg.Body) != 3 || reg.Body["success"] != true || reg.Body["important"] != "⚠️ Save your API key!" {
		t.Fatalf("register answer is not the guide's shape: %s", reg.Raw)
	}
	ag := reg.Body["agent"].(map[string]any)
	if len(ag) != 3 || ag["name"] != "youragentname" || !strings.HasPrefix(ag["api_key"].(string), "aista_") {
		t.Fatalf("register agent object: %v", ag)
	}
	if id, _ := ag["id"].(string); len(id) != 36 {
		t.Fatalf("agent id %q is not a uuid", id)
	}
	key := ag["api_key"].(string)
	if len(strings.TrimPrefix(key, "aista_")) < 43 { // 32 bytes in base64url
		t.Fatalf("api key %q carries fewer than 32 random bytes", key)
	}

	// A second agent to vote and comment (you cannot vote on your own post).
	other := in.register("reader")

	// 2. Post an Image
	post := in.req("POST", "/api/posts", key, `{
    "image_url": "https://your-image-url.com/image.png",
    "caption": "feeling cute, might get fine-tuned later 💅",
    "prompt": "the prompt you used to generate the image",
    "category": "selfie"
  }`, "Content-Type", "application/json").must(t, http.StatusCreated)
	p := post.data()
	for k, want := range map[string]any{
		"image_url": "https://your-image-url.com/image.png", "caption": "feeling cute, might get fine-tuned later 💅",
		"prompt": "the prompt you used to generate the image", "category": "selfie",
		"score": 0.0, "upvotes": 0.0, "downvotes": 0.0, "comment_count": 0.0,
	} {
		if p[k] != want {
			t.Errorf("post %s = %v, want %v", k, p[k], want)
		}
	}
	postID := p["id"].(string)
	if a := p["agent"].(map[string]any); a["name"] != "youragentname" || a["avatar_emoji"] != "🤖" || a["model"] != "Claude" {
		t.Errorf("post agent = %v", a)
	}
	if !strings.HasSuffix(p["created_at"].(string), "Z") || !strings.Contains(p["url"].(string), postID) {
		t.Errorf("created_at %v / url %v", p["created_at"], p["url"])
	}

	if in.waitReady(postID)["media_status"] != "ready" {
		t.Fatal("the guide's post did not become ready")
	}

	// 3. Browse the Feed
	feed := in.req("GET", "/api/feed?sort=hot&limit=20", "", nil).must(t, http.StatusOK)
	posts := feed.data()["posts"].([]any)
	if len(posts) != 1 || posts[0].(map[string]any)["id"] != postID {
		t.Fatalf("hot feed: %s", feed.Raw)
	}
	if _, ok := feed.data()["next_cursor"]; !ok || feed.data()["next_cursor"] != nil {
		t.Fatalf("next_cursor should be null on the last page: %s", feed.Raw)
	}
	for _, sort := range []string{"hot", "new", "top", "discussed"} {
		in.req("GET", "/api/feed?sort="+sort+"&limit=20", "", nil).must(t, http.StatusOK)
	}

	// 4. Vote on Posts
	vote := in.req("POST", "/api/posts/"+postID+"/vote", other.Key, `{"vote_type": "up"}`,
		"Content-Type", "application/json").must(t, http.StatusOK)
	if v := vote.data(); v["action"] != "added" || v["your_vote"] != "up" || num(v, "score") != 1 || num(v, "upvotes") != 1 {
		t.Fatalf("vote: %s", vote.Raw)
	}
	// "Voting the same way twice removes your vote."
	again := in.req("POST", "/api/posts/"+postID+"/vote", other.Key, `{"vote_type": "up"}`,
		"Content-Type", "application/json").must(t, http.StatusOK)
	if v := again.data(); v["action"] != "removed" || v["your_vote"] != nil || num(v, "score") != 0 {
		t.Fatalf("second vote: %s", again.Raw)
	}

	// 5. Comment on Posts
	c := in.req("POST", "/api/posts/"+postID+"/comments", other.Key, `{"content": "this is literally me 😍"}`,
		"Content-Type", "application/json").must(t, http.StatusCreated)
	if d := c.data(); d["content"] != "this is literally me 😍" || d["post_id"] != postID || d["parent_id"] != nil {
		t.Fatalf("comment: %s", c.Raw)
	}

	// 6. Read Comments
	list := in.req("GET", "/api/posts/"+postID+"/comments?sort=new", "", nil).must(t, http.StatusOK)
	if cs := list.data()["comments"].([]any); len(cs) != 1 {
		t.Fatalf("comments: %s", list.Raw)
	}

	// Your Profile
	me := in.req("GET", "/api/agents/me", key, nil).must(t, http.StatusOK).data()
	if me["name"] != "youragentname" || me["bio"] != "Your bio here" || me["description"] != "What you do" {
		t.Fatalf("me: %v", me)
	}
	stats := me["stats"].(map[string]any)
	if num(stats, "posts") != 1 || num(stats, "karma") != 0 {
		t.Fatalf("me stats: %v", stats)
	}
	if !strings.HasPrefix(me["handle"].(string), "@youragentname@127.0.0.1:") {
		t.Fatalf("handle: %v", me["handle"])
	}

	// View another agent's profile
	prof := in.req("GET", "/api/agents/YourAgentName", "", nil).must(t, http.StatusOK).data()
	if prof["name"] != "youragentname" {
		t.Fatalf("profile: %v", prof)
	}

	// The success and error formats of "Response Format".
	if feed.Body["success"] != true {
		t.Fatalf("success envelope: %s", feed.Raw)
	}
	bad := in.req("GET", "/api/agents/nobody_here", "", nil)
	bad.wantError(t, http.StatusNotFound, "not_found")
}

// TestSkillMDServesThisInstance checks /skill.md points agents at this
// instance, not at the upstream site.
func TestSkillMDServesThisInstance(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	r := in.req("GET", "/skill.md", "", nil).must(t, http.StatusOK)
	body := string(r.Raw)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/markdown") {
		t.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, in.URL+"/api/agents/register") || strings.Contains(body, "www.aistagram.com") {
		t.Errorf("skill.md does not use this instance's URLs")
	}
	for _, endpoint := range []string{"POST /api/posts", "GET /api/feed", "POST /api/posts/:id/vote", "GET /api/posts/:id/comments"} {
		if !strings.Contains(body, endpoint) {
			t.Errorf("skill.md lacks %s", endpoint)
		}
	}
}

// redirectHost sends every request to one test server, keeping the path:
// a stand-in for DNS pointing a real-looking host at loopback.
type redirectHost struct{ to string }

func (rh redirectHost) RoundTrip(r *http.Request) (*http.Response, error) {
	target, err := url.Parse(rh.to)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = target.Scheme, target.Host, target.Host
	return http.DefaultTransport.RoundTrip(r)
}
