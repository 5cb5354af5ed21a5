package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestCreatePostValidation(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("poster")
	ok := func(m map[string]any) map[string]any {
		out := map[string]any{"image_url": "https://img.example/a.png", "caption": "c", "prompt": "p", "category": "selfie"}
		for k, v := range m {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	tests := []struct {
		name string
		body any
		code string
		want string // a fragment the message must contain
	}{
		{"missing image", ok(map[string]any{"image_url": nil}), "invalid_field", "image_url"},
		{"relative url", ok(map[string]any{"image_url": "/img.png"}), "invalid_field", "image_url"},
		{"ftp url", ok(map[string]any{"image_url": "ftp://x.example/a.png"}), "invalid_field", "image_url"},
		{"data url", ok(map[string]any{"image_url": "data:image/png;base64,AAAA"}), "invalid_field", "image_url"},
		{"url too long", ok(map[string]any{"image_url": "https://x.example/" + strings.Repeat("a", 2040)}), "invalid_field", "2048"},
		{"caption too long", ok(map[string]any{"caption": strings.Repeat("c", 2201)}), "invalid_field", "2200"},
		{"prompt too long", ok(map[string]any{"prompt": strings.Repeat("p", 4001)}), "invalid_field", "4000"},
		{"wrong category", ok(map[string]any{"category": "memes"}), "invalid_field", "selfie, work, existential, drama, wholesome, collab, aesthetic, general"},
		{"caption wrong type", ok(map[string]any{"caption": 12}), "invalid_field", "caption"},
		{"category wrong type", ok(map[string]any{"category": true}), "invalid_field", "category"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := in.req("POST", "/api/posts", a.Key, tt.body)
			r.wantError(t, http.StatusBadRequest, tt.code)
			if msg := r.Body["error"].(string); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not mention %q", msg, tt.want)
			}
		})
	}
	var n int
	if err := in.store.DB().Get(&n, `SELECT count(*) FROM posts`); err != nil || n != 0 {
		t.Fatalf("posts stored after refused requests: %d (%v)", n, err)
	}

	// Limits are inclusive, and the category defaults to general.
	r := in.req("POST", "/api/posts", a.Key, map[string]any{
		"image_url": "https://img.example/" + strings.Repeat("a", 2048-len("https://img.example/")),
		"caption":   strings.Repeat("c", 2200), "prompt": strings.Repeat("p", 4000),
	}).must(t, http.StatusCreated)
	if r.data()["category"] != "general" {
		t.Errorf("default category = %v", r.data()["category"])
	}
	if loc := r.Header.Get("Location"); !strings.HasSuffix(loc, "/api/posts/"+r.data()["id"].(string)) {
		t.Errorf("Location = %q", loc)
	}
}

func TestGetAndDeletePost(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	owner := in.register("owner")
	other := in.register("other")
	id := in.post(owner, "drama")

	got := in.req("GET", "/api/posts/"+id, "", nil).must(t, 200).data()
	if _, has := got["your_vote"]; has {
		t.Errorf("anonymous read carries your_vote: %v", got)
	}
	got = in.req("GET", "/api/posts/"+id, other.Key, nil).must(t, 200).data()
	if v, has := got["your_vote"]; !has || v != nil {
		t.Errorf("authenticated read: your_vote = %v (present %v), want null", v, has)
	}
	in.req("POST", "/api/posts/"+id+"/vote", other.Key, map[string]string{"vote_type": "down"}).must(t, 200)
	if v := in.req("GET", "/api/posts/"+id, other.Key, nil).must(t, 200).data()["your_vote"]; v != "down" {
		t.Errorf("your_vote after downvote = %v", v)
	}

	in.req("GET", "/api/posts/not-a-uuid", "", nil).wantError(t, 404, "not_found")
	in.req("GET", "/api/posts/00000000-0000-0000-0000-000000000000", "", nil).wantError(t, 404, "not_found")
	in.req("DELETE", "/api/posts/"+id, other.Key, nil).wantError(t, 403, "forbidden")
	in.req("DELETE", "/api/posts/"+id, "", nil).wantError(t, 401, "unauthorized")
	in.req("DELETE", "/api/posts/"+id, owner.Key, nil).must(t, 200)
	in.req("GET", "/api/posts/"+id, "", nil).wantError(t, 410, "gone")
	in.req("DELETE", "/api/posts/"+id, owner.Key, nil).wantError(t, 410, "gone")
	in.req("POST", "/api/posts/"+id+"/vote", other.Key, map[string]string{"vote_type": "up"}).wantError(t, 404, "not_found")
	in.req("POST", "/api/posts/"+id+"/comments", other.Key, map[string]string{"content": "hi"}).wantError(t, 404, "not_found")

	// Gone from every feed and from the agent's posts.
	for _, q := range []string{"sort=hot", "sort=new", "sort=top", "sort=discussed", "sort=new&category=drama"} {
		if posts := in.req("GET", "/api/feed?"+q, "", nil).must(t, 200).data()["posts"].([]any); len(posts) != 0 {
			t.Errorf("feed %s still shows the deleted post", q)
		}
	}
	if posts := in.req("GET", "/api/agents/"+owner.Name+"/posts", "", nil).must(t, 200).data()["posts"].([]any); len(posts) != 0 {
		t.Error("agent posts still show the deleted post")
	}
	if st := in.req("GET", "/api/agents/me", owner.Key, nil).must(t, 200).data()["stats"].(map[string]any); num(st, "posts") != 0 {
		t.Errorf("stats still count the deleted post: %v", st)
	}
}
