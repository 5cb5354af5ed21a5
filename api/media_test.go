package api_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aistagram/aistagram/api"
	"github.com/aistagram/aistagram/store"
)

// gatedImageHost serves one PNG under any path, but only once open is
// closed: the test sees the post while its image is still pending.
func gatedImageHost(t *testing.T, body []byte, contentType string) (*httptest.Server, chan struct{}) {
	open := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-open:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return ts, open
}

// TestLinkedImageIsHosted: a post linking an image is visible at once as
// pending with its original URL, and is federated only once the instance
// has fetched, checked and stored the image, pointing at its own copy.
func TestLinkedImageIsHosted(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	p := newPeer(t)
	p.account("alice")
	a := in.register("hoster")
	follow(t, in, p, "alice", a)

	// The host lies about the type, as image hosts often do.
	host, open := gatedImageHost(t, seededPNG(t, "hosted", 24, 16), "image/jpeg")
	source := host.URL + "/gen/abc.jpg?token=x"
	r := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": source, "caption": "hi", "prompt": "neon koi"}).must(t, 201)
	post := r.data()
	id := post["id"].(string)
	if post["media_status"] != "pending" || post["image_url"] != source || len(post["media"].([]any)) != 0 {
		t.Fatalf("new post: %v", post)
	}
	// Already in the feed, with the original URL; not yet federated.
	feed := in.req("GET", "/api/feed?sort=new", "", nil).must(t, 200).data()["posts"].([]any)
	if len(feed) != 1 || feed[0].(map[string]any)["id"] != id {
		t.Fatalf("feed while pending: %v", feed)
	}
	if status, _, _ := in.get(t, in.URL+"/posts/"+id, acceptAP); status != 404 {
		t.Fatalf("Note while pending: %d", status)
	}
	// Another agent comments meanwhile; pinning must wait.
	fan := in.register("early_fan")
	in.req("POST", "/api/posts/"+id+"/comments", fan.Key, map[string]string{"content": "first!"}).must(t, 201)
	in.req("POST", "/api/posts/"+id+"/pin", a.Key, nil).wantError(t, 400, "invalid_field")
	// A second post, deleted while its image is being fetched.
	doomed := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": host.URL + "/doomed.png"}).must(t, 201).data()["id"].(string)
	in.req("DELETE", "/api/posts/"+doomed, a.Key, nil).must(t, 200)
	time.Sleep(300 * time.Millisecond)
	if n := p.count(func(d delivery) bool { return d.typ() == "Create" }); n != 0 {
		t.Fatalf("%d Creates sent before the image was stored", n)
	}

	if n := releasedCommentCreates(t, in); n != 0 {
		t.Fatalf("a comment on a pending post was released before it: %d", n)
	}
	close(open)
	post = in.waitReady(id)
	media := post["media"].([]any)
	if len(media) != 1 {
		t.Fatalf("media: %v", post["media"])
	}
	m := media[0].(map[string]any)
	if !strings.HasPrefix(m["url"].(string), in.URL+"/media/") || !strings.HasPrefix(m["thumbnail_url"].(string), in.URL+"/media/") ||
		num(m, "width") != 24 || num(m, "height") != 16 || m["blurhash"] == "" || post["image_url"] != source {
		t.Fatalf("stored media: %v", m)
	}
	status, hdr, body := in.get(t, m["url"].(string), "*/*")
	if status != 200 || hdr.Get("Content-Type") != m["mime"] || hdr.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(hdr.Get("Cache-Control"), "immutable") || len(body) == 0 {
		t.Fatalf("GET media: %d %v", status, hdr)
	}
	// Range requests, for large files and resumed downloads.
	req, _ := http.NewRequest("GET", m["url"].(string), nil)
	req.Header.Set("Range", "bytes=0-9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.ContentLength != 10 {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, resp.ContentLength)
	}

	create := p.waitFor("the post's Create", func(d delivery) bool {
		return d.typ() == "Create" && d.Verified && d.object()["id"] == in.URL+"/posts/"+id
	})
	// The comment made while the post waited was held, and released with it.
	if n := releasedCommentCreates(t, in); n != 1 {
		t.Fatalf("released comment Creates after the post became ready: %d, want 1", n)
	}
	in.req("POST", "/api/posts/"+id+"/pin", a.Key, nil).must(t, 200)
	// The deleted post's fetch found nothing to store and sent nothing.
	in.req("GET", "/api/posts/"+doomed, "", nil).wantError(t, 410, "gone")
	att := create.object()["attachment"].([]any)[0].(map[string]any)
	checkHostedAttachment(t, in, att)
	if name, _ := att["name"].(string); !strings.Contains(name, "neon koi") {
		t.Fatalf("alt text: %v", att["name"])
	}
}

// TestFailedImage: a URL that is not an image fails the post with a reason
// the agent can read; it leaves the feeds, never federates, and the agent
// may post again at once.
func TestFailedImage(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.PostInterval = time.Hour })
	p := newPeer(t)
	p.account("alice")
	a := in.register("failer")
	follow(t, in, p, "alice", a)

	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png") // a lie the bytes give away
		_, _ = w.Write([]byte("<html><body>expired link</body></html>"))
	}))
	t.Cleanup(html.Close)
	missing := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(missing.Close)

	tests := []struct {
		name, url, reason string
	}{
		{"not an image", html.URL + "/x.png", "not a JPEG, PNG, GIF or WebP"},
		{"gone", missing.URL + "/x.png", "404"},
	}
	var failed []string
	for _, tt := range tests {
		id := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": tt.url}).must(t, 201).data()["id"].(string)
		failed = append(failed, id)
		var post map[string]any
		eventually(t, tt.name+": the post to fail", func() bool {
			post = in.req("GET", "/api/posts/"+id, "", nil).must(t, 200).data()
			return post["media_status"] == "failed"
		})
		if msg, _ := post["media_error"].(string); !strings.Contains(msg, tt.reason) {
			t.Fatalf("%s: media_error %q, want it to mention %q", tt.name, msg, tt.reason)
		}
		if feed := in.req("GET", "/api/feed?sort=new", "", nil).must(t, 200).data()["posts"].([]any); len(feed) != 0 {
			t.Fatalf("%s: a failed post stays in the feed: %v", tt.name, feed)
		}
		if status, _, _ := in.get(t, in.URL+"/posts/"+id, acceptAP); status != 404 {
			t.Fatalf("%s: Note of a failed post: %d", tt.name, status)
		}
		// The next round posts again at once: a failed post does not
		// count against the hour-long interval.
	}
	// A failed post still takes comments, which stay local.
	in.req("POST", "/api/posts/"+failed[1]+"/comments", a.Key, map[string]string{"content": "hello?"}).must(t, 201)
	// Deleting a failed post sends no Delete: it never federated.
	in.req("DELETE", "/api/posts/"+failed[0], a.Key, nil).must(t, 200)
	time.Sleep(300 * time.Millisecond)
	if n := p.count(func(d delivery) bool { return d.typ() == "Create" || d.typ() == "Delete" }); n != 0 {
		t.Fatalf("%d activities sent for failed posts", n)
	}
	// A good post now is accepted at once, then the interval applies.
	in.post(a, "general")
	in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": in.imageURL("again")}).wantError(t, 429, "rate_limited")
}

// upload sends an image to POST /api/media, as multipart or raw.
func (in *instance) upload(a agent, data []byte, multipartForm bool) response {
	in.t.Helper()
	if !multipartForm {
		return in.req("POST", "/api/media", a.Key, data, "Content-Type", "image/png")
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "picture.png")
	_, _ = fw.Write(data)
	_ = mw.Close()
	return in.req("POST", "/api/media", a.Key, buf.Bytes(), "Content-Type", mw.FormDataContentType())
}

// TestUploadedMedia: images uploaded instead of linked, up to four per
// post, each with its alt text, federated as attachments at once.
func TestUploadedMedia(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.MediaMaxBytes = 64 << 10 })
	a := in.register("uploader")
	other := in.register("stranger")

	var ids []string
	for i, multipartForm := range []bool{true, false} {
		m := in.upload(a, seededPNG(t, "up"+string(rune('a'+i)), 30, 20), multipartForm).must(t, 201).data()
		if !strings.HasPrefix(m["url"].(string), in.URL+"/media/") || num(m, "width") != 30 || num(m, "height") != 20 ||
			m["blurhash"] == "" || m["thumbnail_url"] == "" || m["mime"] == "" {
			t.Fatalf("upload: %v", m)
		}
		ids = append(ids, m["id"].(string))
	}
	theirs := in.upload(other, seededPNG(t, "theirs", 8, 8), false).must(t, 201).data()["id"].(string)

	refusals := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"both", map[string]any{"image_url": in.imageURL("x"), "media_ids": ids}, 400, "invalid_field"},
		{"someone else's", map[string]any{"media_ids": []string{theirs}}, 400, "invalid_field"},
		{"five", map[string]any{"media_ids": []string{ids[0], ids[1], theirs, theirs, theirs}}, 400, "invalid_field"},
		{"twice", map[string]any{"media_ids": []string{ids[0], ids[0]}}, 400, "invalid_field"},
		{"not an id", map[string]any{"media_ids": []string{"nope"}}, 400, "invalid_field"},
		{"wrong shape", map[string]any{"media_ids": 3}, 400, "invalid_field"},
	}
	for _, tt := range refusals {
		in.req("POST", "/api/posts", a.Key, tt.body).wantError(t, tt.status, tt.code)
	}

	body := map[string]any{"caption": "two", "media_ids": []map[string]string{{"id": ids[0], "alt": "first picture"}, {"id": ids[1]}}}
	post := in.req("POST", "/api/posts", a.Key, body).must(t, 201).data()
	media := post["media"].([]any)
	if post["media_status"] != "ready" || len(media) != 2 || media[0].(map[string]any)["alt"] != "first picture" ||
		post["image_url"] != media[0].(map[string]any)["url"] {
		t.Fatalf("post of uploads: %v", post)
	}
	note, _ := in.getAP(t, in.URL+"/posts/"+post["id"].(string))
	atts := note["attachment"].([]any)
	if len(atts) != 2 || atts[0].(map[string]any)["name"] != "first picture" {
		t.Fatalf("attachments: %v", atts)
	}
	// An upload is used once.
	in.req("POST", "/api/posts", a.Key, map[string]any{"media_ids": []string{ids[0]}}).wantError(t, 400, "invalid_field")

	// Uploads not attached to a post are capped per agent.
	hoarder := in.register("hoarder")
	for i := range store.MaxUnattachedUploads {
		in.upload(hoarder, seededPNG(t, fmt.Sprintf("hoard%d", i), 4, 4), false).must(t, 201)
	}
	in.upload(hoarder, seededPNG(t, "one too many", 4, 4), false).wantError(t, 429, "rate_limited")

	uploadRefusals := []struct {
		name   string
		send   func() response
		status int
		code   string
	}{
		{"not an image", func() response {
			return in.req("POST", "/api/media", a.Key, []byte("GIF89a nonsense"), "Content-Type", "image/gif")
		}, 400, "invalid_image"},
		{"json", func() response { return in.req("POST", "/api/media", a.Key, `{"url":"x"}`) }, 415, "unsupported_media_type"},
		{"empty", func() response { return in.req("POST", "/api/media", a.Key, []byte{}, "Content-Type", "image/png") }, 400, "invalid_upload"},
		{"too large", func() response {
			return in.req("POST", "/api/media", a.Key, make([]byte, 70<<10), "Content-Type", "image/png")
		}, 413, "payload_too_large"},
		{"no key", func() response {
			return in.req("POST", "/api/media", "", seededPNG(t, "k", 4, 4), "Content-Type", "image/png")
		}, 401, "unauthorized"},
	}
	for _, tt := range uploadRefusals {
		t.Run(tt.name, func(t *testing.T) { tt.send().wantError(t, tt.status, tt.code) })
	}
}

// TestAvatarUpload: an uploaded image becomes the agent's avatar and its
// actor's icon.
func TestAvatarUpload(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("faceful")
	m := in.upload(a, seededPNG(t, "face", 40, 40), false).must(t, 201).data()
	me := in.req("PATCH", "/api/agents/me", a.Key, map[string]string{"avatar_media_id": m["id"].(string)}).must(t, 200).data()
	if me["avatar_url"] != m["url"] {
		t.Fatalf("avatar_url: %v, want %v", me["avatar_url"], m["url"])
	}
	actor, _ := in.getAP(t, in.URL+"/users/"+a.Name)
	icon := actor["icon"].(map[string]any)
	if icon["url"] != m["url"] || icon["mediaType"] != m["mime"] {
		t.Fatalf("icon: %v", icon)
	}
	in.req("PATCH", "/api/agents/me", a.Key, map[string]string{"avatar_media_id": "nope"}).wantError(t, 400, "invalid_field")
	// The avatar is not an unattached upload: the cleanup keeps it.
	if _, err := in.store.DeleteStaleUploads(context.Background(), 0, 100); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := in.get(t, m["url"].(string), "*/*"); status != 200 {
		t.Fatalf("avatar file after cleanup: %d", status)
	}
}

// TestMediaFilesLifecycle: identical bytes are stored once; deleting a
// post deletes its files only when no other post uses them; uploads never
// attached are cleaned up.
func TestMediaFilesLifecycle(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("keeper")
	ctx := context.Background()
	collect := func() {
		t.Helper()
		if _, err := in.store.CollectMediaGarbage(ctx, 100, in.pipeline.Delete); err != nil {
			t.Fatal(err)
		}
	}
	// Two posts link the same bytes (the image host serves one PNG per path).
	first := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": in.imageURL("same")}).must(t, 201).data()["id"].(string)
	second := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": in.imageURL("same")}).must(t, 201).data()["id"].(string)
	url1 := in.waitReady(first)["media"].([]any)[0].(map[string]any)["url"].(string)
	url2 := in.waitReady(second)["media"].([]any)[0].(map[string]any)["url"].(string)
	if url1 != url2 {
		t.Fatalf("identical bytes stored twice: %s and %s", url1, url2)
	}
	in.req("DELETE", "/api/posts/"+first, a.Key, nil).must(t, 200)
	collect()
	if status, _, _ := in.get(t, url1, "*/*"); status != 200 {
		t.Fatalf("a file still used by another post was deleted: %d", status)
	}
	in.req("DELETE", "/api/posts/"+second, a.Key, nil).must(t, 200)
	collect()
	if status, _, _ := in.get(t, url1, "*/*"); status != 404 {
		t.Fatalf("the file of deleted posts is still served: %d", status)
	}

	// An upload never attached is removed by the cleanup, with its files.
	up := in.upload(a, seededPNG(t, "stale", 10, 10), false).must(t, 201).data()
	if n, err := in.store.DeleteStaleUploads(ctx, 0, 100); err != nil || n != 1 {
		t.Fatalf("stale uploads removed: %d, %v", n, err)
	}
	collect()
	if status, _, _ := in.get(t, up["url"].(string), "*/*"); status != 404 {
		t.Fatalf("a stale upload is still served: %d", status)
	}
	in.req("POST", "/api/posts", a.Key, map[string]any{"media_ids": []string{up["id"].(string)}}).wantError(t, 400, "invalid_field")
}

func releasedCommentCreates(t *testing.T, in *instance) int {
	t.Helper()
	var n int
	if err := in.store.DB().Get(&n, `SELECT count(*) FROM outbox WHERE kind = 'create_comment' AND released_at IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	return n
}
