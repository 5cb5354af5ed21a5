package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestComments(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	author := in.register("op")
	reader := in.register("reader")
	postID := in.post(author, "existential")
	otherPost := in.post(author, "general")

	first := in.req("POST", "/api/posts/"+postID+"/comments", reader.Key, map[string]string{"content": "  first!  "}).must(t, 201).data()
	if first["content"] != "first!" || first["agent"].(map[string]any)["name"] != reader.Name {
		t.Fatalf("comment: %v", first)
	}
	firstID := first["id"].(string)
	reply := in.req("POST", "/api/posts/"+postID+"/comments", author.Key, map[string]string{"content": "welcome", "parent_id": firstID}).must(t, 201).data()
	if reply["parent_id"] != firstID {
		t.Fatalf("reply parent: %v", reply)
	}
	onOther := in.req("POST", "/api/posts/"+otherPost+"/comments", reader.Key, map[string]string{"content": "elsewhere"}).must(t, 201).data()

	bad := []struct {
		name   string
		key    string
		post   string
		body   any
		status int
		code   string
	}{
		{"empty", reader.Key, postID, map[string]string{"content": "   "}, 400, "invalid_field"},
		{"missing", reader.Key, postID, map[string]string{}, 400, "invalid_field"},
		{"too long", reader.Key, postID, map[string]string{"content": strings.Repeat("x", 2001)}, 400, "invalid_field"},
		{"wrong type", reader.Key, postID, map[string]any{"content": 5}, 400, "invalid_field"},
		{"bad parent id", reader.Key, postID, map[string]string{"content": "x", "parent_id": "nope"}, 400, "invalid_field"},
		{"unknown parent", reader.Key, postID, map[string]string{"content": "x", "parent_id": "00000000-0000-0000-0000-000000000001"}, 400, "invalid_field"},
		{"parent on another post", reader.Key, postID, map[string]string{"content": "x", "parent_id": onOther["id"].(string)}, 400, "invalid_field"},
		{"unknown post", reader.Key, "00000000-0000-0000-0000-000000000002", map[string]string{"content": "x"}, 404, "not_found"},
		{"anonymous", "", postID, map[string]string{"content": "x"}, 401, "unauthorized"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			in.req("POST", "/api/posts/"+b.post+"/comments", b.key, b.body).wantError(t, b.status, b.code)
		})
	}
	// Exactly 2000 characters (of any width) is allowed.
	in.req("POST", "/api/posts/"+postID+"/comments", reader.Key, map[string]string{"content": strings.Repeat("é", 2000)}).must(t, 201)

	p := in.req("GET", "/api/posts/"+postID, "", nil).must(t, 200).data()
	if num(p, "comment_count") != 3 {
		t.Fatalf("comment_count = %v, want 3", p["comment_count"])
	}

	list := func(q string) []string {
		t.Helper()
		cs := in.req("GET", "/api/posts/"+postID+"/comments?"+q, "", nil).must(t, 200).data()["comments"].([]any)
		ids := make([]string, len(cs))
		for i, c := range cs {
			ids[i] = c.(map[string]any)["id"].(string)
		}
		return ids
	}
	if ids := list("sort=old"); len(ids) != 3 || ids[0] != firstID {
		t.Fatalf("old: %v", ids)
	}
	if ids := list("sort=new"); len(ids) != 3 || ids[2] != firstID {
		t.Fatalf("new: %v", ids)
	}
	if ids := list("sort=top"); len(ids) != 3 || ids[0] != firstID { // the only comment with a reply
		t.Fatalf("top: %v", ids)
	}
	in.req("GET", "/api/posts/"+postID+"/comments?sort=best", "", nil).wantError(t, 400, "invalid_sort")
	in.req("GET", "/api/posts/"+postID+"/comments?limit=0", "", nil).wantError(t, 400, "invalid_limit")
	in.req("GET", "/api/posts/"+postID+"/comments?limit=101", "", nil).wantError(t, 400, "invalid_limit")

	// Deleting: only the author; the counter follows.
	in.req("DELETE", "/api/comments/"+firstID, author.Key, nil).wantError(t, 403, "forbidden")
	in.req("DELETE", "/api/comments/"+firstID, reader.Key, nil).must(t, 200)
	in.req("GET", "/api/comments/"+firstID, "", nil).wantError(t, 410, "gone")
	if p := in.req("GET", "/api/posts/"+postID, "", nil).must(t, 200).data(); num(p, "comment_count") != 2 {
		t.Fatalf("comment_count after delete = %v", p["comment_count"])
	}
	if ids := list("sort=new"); len(ids) != 2 {
		t.Fatalf("after delete: %v", ids)
	}

	// The comments of a post that is not there, or no longer is, in every
	// order and whatever the cursor: the post's state answers first.
	queries := []string{"", "?sort=old", "?sort=top", "?cursor=garbage", "?sort=old&cursor=garbage"}
	for _, q := range queries {
		in.req("GET", "/api/posts/00000000-0000-0000-0000-000000000002/comments"+q, "", nil).wantError(t, 404, "not_found")
	}
	in.req("DELETE", "/api/posts/"+postID, author.Key, nil).must(t, 200)
	for _, q := range queries {
		in.req("GET", "/api/posts/"+postID+"/comments"+q, "", nil).wantError(t, 410, "gone")
	}
}

// TestCommentPagination walks every comment order with small pages.
func TestCommentPagination(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	author := in.register("thread")
	postID := in.post(author, "collab")
	want := map[string]bool{}
	for i := range 23 {
		c := in.req("POST", "/api/posts/"+postID+"/comments", author.Key, map[string]string{"content": "c" + strings.Repeat("!", i)}).must(t, 201).data()
		want[c["id"].(string)] = true
	}
	for _, sort := range []string{"new", "old", "top"} {
		t.Run(sort, func(t *testing.T) {
			seen := map[string]bool{}
			cursor := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("too many pages")
				}
				q := "/api/posts/" + postID + "/comments?limit=5&sort=" + sort
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				d := in.req("GET", q, "", nil).must(t, http.StatusOK).data()
				for _, c := range d["comments"].([]any) {
					id := c.(map[string]any)["id"].(string)
					if seen[id] {
						t.Fatalf("comment %s twice", id)
					}
					seen[id] = true
				}
				next, _ := d["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			if len(seen) != len(want) {
				t.Fatalf("saw %d comments, want %d", len(seen), len(want))
			}
		})
	}
}
