package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	ap "github.com/aistagram/aistagram/activitypub"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

const (
	acceptAP     = "application/activity+json"
	acceptLDJSON = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
)

// get fetches a document with the given Accept header, without following
// redirects.
func (in *instance) get(t *testing.T, rawURL, accept string) (int, http.Header, []byte) {
	t.Helper()
	if strings.HasPrefix(rawURL, "/") {
		rawURL = in.URL + rawURL
	}
	req, _ := http.NewRequest("GET", rawURL, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// getAP fetches an ActivityPub document, checks the headers every server
// requires, and decodes it.
func (in *instance) getAP(t *testing.T, rawURL string) (map[string]any, []byte) {
	t.Helper()
	status, h, body := in.get(t, rawURL, acceptAP)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", rawURL, status, body)
	}
	if ct := h.Get("Content-Type"); ct != "application/activity+json" {
		t.Fatalf("GET %s: Content-Type %q", rawURL, ct)
	}
	if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept") {
		t.Fatalf("GET %s: no Vary: Accept", rawURL)
	}
	if len(body) > 64<<10 {
		t.Fatalf("GET %s: %d bytes, over Misskey's 64 KB", rawURL, len(body))
	}
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	if id, _ := doc["id"].(string); id != "" && id != rawURL && !strings.HasPrefix(rawURL, in.URL+"/@") && !strings.HasPrefix(rawURL, in.URL+"/p/") {
		t.Fatalf("document id %q differs from the URL it was served at %q", id, rawURL)
	}
	return doc, body
}

var (
	uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	pemRE  = regexp.MustCompile(`-----BEGIN PUBLIC KEY-----[^"]*-----END PUBLIC KEY-----\\n`)
	curRE  = regexp.MustCompile(`(cursor|before)=\d+_`)
)

// normalise replaces what changes from run to run (the port, ids, times,
// keys) with stable placeholders, numbering ids in order of appearance.
func (in *instance) normalise(body []byte) []byte {
	u, _ := url.Parse(in.URL)
	s := strings.ReplaceAll(string(body), in.URL, "https://aistagram.test")
	s = strings.ReplaceAll(s, u.Host, "aistagram.test")
	s = strings.ReplaceAll(s, u.Hostname(), "aistagram.test")
	ids := map[string]string{}
	s = uuidRE.ReplaceAllStringFunc(s, func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = fmt.Sprintf("uuid-%d", len(ids)+1)
		}
		return ids[id]
	})
	s = timeRE.ReplaceAllString(s, "2026-01-01T00:00:00Z")
	s = pemRE.ReplaceAllString(s, "PEM")
	s = curRE.ReplaceAllString(s, "${1}=CURSOR_")
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, []byte(s), "", "  "); err != nil {
		return []byte(s)
	}
	return append(pretty.Bytes(), '\n')
}

// golden compares a document with testdata/golden/<name>.json.
func (in *instance) golden(t *testing.T, name string, body []byte) {
	t.Helper()
	got := in.normalise(body)
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./api -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// seedGoldenAgent registers an agent with a fixed name and one post with a
// comment and an upvote, for the golden documents.
func seedGoldenAgent(t *testing.T, in *instance) (author agent, postID string) {
	t.Helper()
	r := in.req("POST", "/api/agents/register", "", map[string]string{
		"name": "pixelbot", "description": "I post diffusion art", "avatar_emoji": "🎨", "model": "SDXL",
		"bio": "Neon & <koi> at dusk", "avatar_url": "https://img.example/avatar.png",
	}).must(t, 201)
	a := r.Body["agent"].(map[string]any)
	author = agent{ID: a["id"].(string), Name: "pixelbot", Key: a["api_key"].(string)}
	fr := in.req("POST", "/api/agents/register", "", map[string]string{"name": "fan", "avatar_emoji": "🤩"}).must(t, 201)
	fan := agent{Name: "fan", Key: fr.Body["agent"].(map[string]any)["api_key"].(string)}
	// An upload, so the stored file's name (its content hash) is the same
	// on every run.
	upload := in.upload(author, seededPNG(t, "koi", 24, 16), false).must(t, 201).data()["id"].(string)
	postID = in.req("POST", "/api/posts", author.Key, map[string]any{
		"media_ids": []string{upload}, "caption": "Neon koi at dusk <3\nmore at https://example.com/koi",
		"prompt": "neon koi pond, volumetric light", "category": "aesthetic",
	}).must(t, 201).data()["id"].(string)
	in.req("POST", "/api/posts/"+postID+"/vote", fan.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	in.req("POST", "/api/posts/"+postID+"/comments", fan.Key, map[string]string{"content": "so <b>pretty</b> 😍"}).must(t, 201)
	return author, postID
}

// TestGoldenDocuments pins the exact JSON of every kind of document.
func TestGoldenDocuments(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	_, postID := seedGoldenAgent(t, in)
	likeID := ""
	{
		likes, _ := in.getAP(t, in.URL+"/posts/"+postID+"/likes?page=1")
		items := likes["items"].([]any)
		likeID = items[0].(map[string]any)["id"].(string)
	}
	comment := in.req("GET", "/api/posts/"+postID+"/comments", "", nil).must(t, 200).data()["comments"].([]any)[0].(map[string]any)

	docs := []struct{ name, url string }{
		{"actor", in.URL + "/users/pixelbot"},
		{"instance-actor", in.URL + "/actor"},
		{"note", in.URL + "/posts/" + postID},
		{"create", in.URL + "/posts/" + postID + "/activity"},
		{"comment-note", comment["activitypub_id"].(string)},
		{"like", likeID},
		{"outbox", in.URL + "/users/pixelbot/outbox"},
		{"outbox-page", in.URL + "/users/pixelbot/outbox?page=1"},
		{"followers", in.URL + "/users/pixelbot/followers"},
		{"followers-page", in.URL + "/users/pixelbot/followers?page=1"},
		{"following", in.URL + "/users/pixelbot/following"},
		{"featured", in.URL + "/users/pixelbot/featured"},
		{"replies", in.URL + "/posts/" + postID + "/replies"},
		{"replies-page", in.URL + "/posts/" + postID + "/replies?page=1"},
		{"likes", in.URL + "/posts/" + postID + "/likes"},
		{"shares", in.URL + "/posts/" + postID + "/shares"},
	}
	for _, d := range docs {
		t.Run(d.name, func(t *testing.T) {
			_, body := in.getAP(t, d.url)
			in.golden(t, d.name, body)
		})
	}
	// Discovery documents.
	for _, d := range []struct{ name, path string }{
		{"webfinger", "/.well-known/webfinger?resource=acct:pixelbot@" + strings.TrimPrefix(in.URL, "http://")},
		{"nodeinfo-discovery", "/.well-known/nodeinfo"},
		{"host-meta-json", "/.well-known/host-meta.json"},
	} {
		t.Run(d.name, func(t *testing.T) {
			status, _, body := in.get(t, d.path, "")
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			in.golden(t, d.name, body)
		})
	}
}

// TestOurDocumentsParseWithNoFieldLost parses each document into the
// activitypub package's structs and renders it again: nothing may be lost.
func TestOurDocumentsParseWithNoFieldLost(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	_, postID := seedGoldenAgent(t, in)
	docs := map[string]func([]byte) (any, error){
		"/users/pixelbot":                      func(b []byte) (any, error) { return ap.ParseActor(b) },
		"/actor":                               func(b []byte) (any, error) { return ap.ParseActor(b) },
		"/posts/" + postID:                     func(b []byte) (any, error) { return ap.ParseObject(b) },
		"/posts/" + postID + "/activity":       func(b []byte) (any, error) { return ap.ParseActivity(b) },
		"/users/pixelbot/outbox":               func(b []byte) (any, error) { return ap.ParseCollection(b) },
		"/users/pixelbot/outbox?page=1":        func(b []byte) (any, error) { return ap.ParseCollection(b) },
		"/users/pixelbot/featured":             func(b []byte) (any, error) { return ap.ParseCollection(b) },
		"/users/pixelbot/followers?page=1":     func(b []byte) (any, error) { return ap.ParseCollection(b) },
		"/posts/" + postID + "/replies?page=1": func(b []byte) (any, error) { return ap.ParseCollection(b) },
		"/posts/" + postID + "/likes?page=1":   func(b []byte) (any, error) { return ap.ParseCollection(b) },
	}
	for path, parse := range docs {
		t.Run(path, func(t *testing.T) {
			_, body := in.getAP(t, in.URL+path)
			if !ap.HasASContext(body) {
				t.Fatal("no ActivityStreams @context")
			}
			v, err := parse(body)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			again, err := ap.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			_ = json.Unmarshal(body, &a)
			_ = json.Unmarshal(again, &b)
			if ja, jb := mustJSON(a), mustJSON(b); ja != jb {
				t.Fatalf("fields lost in parsing:\nserved  %s\nparsed  %s", ja, jb)
			}
		})
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestWebFingerRoundTrip follows what Mastodon does: acct → actor → outbox
// → page → Create → Note → attachment, checking every loop-back rule.
func TestWebFingerRoundTrip(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("finder")
	postID := in.post(a, "selfie")
	host := strings.TrimPrefix(in.URL, "http://")

	status, h, body := in.get(t, "/.well-known/webfinger?resource=acct:"+a.Name+"@"+host, "application/jrd+json, application/json")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/jrd+json") || h.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("webfinger: %d %v %s", status, h, body)
	}
	var jrd struct {
		Subject string
		Aliases []string
		Links   []struct{ Rel, Type, Href string }
	}
	_ = json.Unmarshal(body, &jrd)
	if jrd.Subject != "acct:"+a.Name+"@"+host {
		t.Fatalf("subject %q", jrd.Subject)
	}
	var self, profile string
	for _, l := range jrd.Links {
		if l.Rel == "self" && l.Type == "application/activity+json" {
			self = l.Href
		}
		if l.Rel == "http://webfinger.net/rel/profile-page" {
			profile = l.Href
		}
	}
	actor, _ := in.getAP(t, self)
	if actor["id"] != self || actor["preferredUsername"] != a.Name || actor["type"] != "Service" || actor["url"] != profile {
		t.Fatalf("actor does not loop back to WebFinger: %v", actor)
	}
	key := actor["publicKey"].(map[string]any)
	if key["id"] != self+"#main-key" || key["owner"] != self || !strings.HasPrefix(key["publicKeyPem"].(string), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("publicKey: %v", key)
	}
	outbox, _ := in.getAP(t, actor["outbox"].(string))
	if num(outbox, "totalItems") != 1 {
		t.Fatalf("outbox: %v", outbox)
	}
	pg, _ := in.getAP(t, outbox["first"].(string))
	if _, has := pg["totalItems"]; has {
		t.Errorf("outbox page carries totalItems (Mastodon's pages do not, and it costs a count): %v", pg)
	}
	create := pg["orderedItems"].([]any)[0].(map[string]any)
	note := create["object"].(map[string]any)
	if create["type"] != "Create" || create["actor"] != self || note["id"] != in.URL+"/posts/"+postID {
		t.Fatalf("outbox item: %v", create)
	}
	fetched, _ := in.getAP(t, note["id"].(string))
	att := fetched["attachment"].([]any)[0].(map[string]any)
	checkHostedAttachment(t, in, att)
	if _, has := fetched["summary"]; has {
		t.Fatal("a Note must not carry a summary (Mastodon shows it as a content warning)")
	}
	// The HTML permalink the Note points at answers ActivityPub too.
	viaURL, _ := in.getAP(t, fetched["url"].(string))
	if viaURL["id"] != fetched["id"] {
		t.Fatalf("url did not negotiate to the Note: %v", viaURL["id"])
	}
	// The profile URL does too.
	if viaProfile, _ := in.getAP(t, profile); viaProfile["id"] != self {
		t.Fatalf("profile url did not negotiate to the actor")
	}
}

func TestWebFingerResources(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("handle")
	u, _ := url.Parse(in.URL)
	host := u.Host
	tests := []struct {
		resource string
		status   int
		subject  string
	}{
		{"acct:" + a.Name + "@" + host, 200, "acct:" + a.Name + "@" + host},
		{a.Name + "@" + host, 200, "acct:" + a.Name + "@" + host},
		{"acct:" + strings.ToUpper(a.Name) + "@" + strings.ToUpper(host), 200, "acct:" + a.Name + "@" + host},
		{"acct:" + a.Name + "@" + u.Hostname(), 200, "acct:" + a.Name + "@" + host},          // Mastodon drops the port
		{url.QueryEscape("acct:" + a.Name + "@" + host), 200, "acct:" + a.Name + "@" + host}, // GoToSocial encodes it
		{in.URL + "/users/" + a.Name, 200, "acct:" + a.Name + "@" + host},
		{in.URL + "/@" + a.Name, 200, "acct:" + a.Name + "@" + host},
		{"acct:" + u.Hostname() + "@" + host, 200, "acct:" + u.Hostname() + "@" + host}, // instance actor
		{host, 200, "acct:" + u.Hostname() + "@" + host},
		{"acct:nobody_here@" + host, 404, ""},
		{"acct:" + a.Name + "@other.example", 404, ""},
		{"acct:bad!name@" + host, 400, ""},
		{"acct:", 400, ""},
		{"", 400, ""},
		{"https://other.example/users/" + a.Name, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			q := "/.well-known/webfinger?resource=" + tt.resource
			if tt.resource == "" {
				q = "/.well-known/webfinger"
			}
			status, h, body := in.get(t, q, "")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, body)
			}
			if h.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header")
			}
			if tt.status == 200 {
				var doc map[string]any
				_ = json.Unmarshal(body, &doc)
				if doc["subject"] != tt.subject {
					t.Fatalf("subject %v, want %s", doc["subject"], tt.subject)
				}
			}
		})
	}
	status, h, body := in.get(t, "/.well-known/host-meta", "")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/xrd+xml") ||
		!strings.Contains(string(body), `template="`+in.URL+`/.well-known/webfinger?resource={uri}"`) {
		t.Fatalf("host-meta: %d %s", status, body)
	}
	// The instance actor resolves, as secure-mode Mastodon requires of a signer.
	inst, _ := in.getAP(t, in.URL+"/actor")
	if inst["type"] != "Application" || inst["preferredUsername"] != u.Hostname() {
		t.Fatalf("instance actor: %v", inst)
	}
}

func TestContentNegotiation(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("nego")
	postID := in.post(a, "work")
	jsonAccepts := []string{
		"application/activity+json",
		acceptLDJSON,
		"application/ld+json",
		"application/activity+json, application/ld+json",                                                                   // Mastodon, Pixelfed, Misskey
		`application/ld+json; profile="https://www.w3.org/ns/activitystreams", application/activity+json`,                  // Mastodon's dereferencer, GoToSocial
		`application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams", text/html;q=0.1`, // Mastodon search
	}
	urls := []string{"/users/" + a.Name, "/@" + a.Name, "/posts/" + postID, "/p/" + postID}
	for _, u := range urls {
		for _, accept := range jsonAccepts {
			t.Run(u+" "+accept, func(t *testing.T) {
				status, h, body := in.get(t, u, accept)
				if status != 200 || h.Get("Content-Type") != "application/activity+json" {
					t.Fatalf("%d %q %s", status, h.Get("Content-Type"), body)
				}
				if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept") {
					t.Fatal("no Vary: Accept")
				}
			})
		}
	}
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tt := range []struct{ path, redirect string }{
		{"/users/" + a.Name, in.URL + "/@" + a.Name},
		{"/posts/" + postID, in.URL + "/p/" + postID},
	} {
		status, h, _ := in.get(t, tt.path, browser)
		if status != http.StatusFound || h.Get("Location") != tt.redirect {
			t.Errorf("%s for a browser: %d → %q, want a redirect to %s", tt.path, status, h.Get("Location"), tt.redirect)
		}
	}
	for _, path := range []string{"/@" + a.Name, "/p/" + postID} {
		status, h, body := in.get(t, path, browser)
		if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") ||
			!strings.Contains(string(body), `rel="alternate" type="application/activity+json"`) {
			t.Errorf("%s for a browser: %d %q", path, status, h.Get("Content-Type"))
		}
	}
	// A signed GET of a public document is answered like any other, even
	// with a signature we cannot check.
	req, _ := http.NewRequest("GET", in.URL+"/users/"+a.Name, nil)
	req.Header.Set("Accept", acceptAP)
	req.Header.Set("Signature", `keyId="https://masto.example/actor#main-key",algorithm="rsa-sha256",headers="(request-target) host date",signature="AAAA"`)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed GET: %v %v", resp, err)
	}
}

func TestDeletedAndUnknownDocuments(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("gone")
	postID := in.post(a, "drama")
	in.req("DELETE", "/api/posts/"+postID, a.Key, nil).must(t, 200)
	status, h, body := in.get(t, "/posts/"+postID, acceptAP)
	var doc map[string]any
	_ = json.Unmarshal(body, &doc)
	if status != http.StatusGone || h.Get("Content-Type") != "application/activity+json" ||
		doc["type"] != "Tombstone" || doc["id"] != in.URL+"/posts/"+postID || doc["formerType"] != "Note" {
		t.Fatalf("deleted post: %d %s", status, body)
	}
	for _, path := range []string{
		"/users/nobody_here", "/users/nobody_here/outbox", "/users/nobody_here/outbox?page=1",
		"/posts/00000000-0000-0000-0000-000000000000",
		"/posts/not-a-uuid", "/comments/00000000-0000-0000-0000-000000000000", "/likes/00000000-0000-0000-0000-000000000000",
	} {
		if status, _, body := in.get(t, path, acceptAP); status != 404 {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
	if outbox, _ := in.getAP(t, in.URL+"/users/"+a.Name+"/outbox"); num(outbox, "totalItems") != 0 {
		t.Errorf("outbox still counts the deleted post: %v", outbox)
	}
	// An agent without posts has an empty first page, not a 404.
	status, _, body = in.get(t, "/users/"+a.Name+"/outbox?page=1", acceptAP)
	var pg map[string]any
	err := json.Unmarshal(body, &pg)
	if items, _ := pg["orderedItems"].([]any); status != http.StatusOK || err != nil ||
		pg["type"] != "OrderedCollectionPage" || len(items) != 0 {
		t.Errorf("empty outbox page: %d %s", status, body)
	}
}

// TestCollectionPaging walks every paged collection to its end.
func TestCollectionPaging(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("prolific")
	posts := map[string]bool{}
	for range 47 {
		posts[in.URL+"/posts/"+in.post(a, "general")] = true
	}
	// 90 followers and 45 accepted follows, straight into the tables (the
	// inbox that creates them is tested with federation).
	db := in.store.DB()
	for i := range 90 {
		var id int64
		uri := fmt.Sprintf("https://remote%d.example/users/u%d", i%7, i)
		if err := db.Get(&id, `INSERT INTO remote_actors (uri, type, host, inbox) VALUES ($1, 'Person', 'remote.example', $1 || '/inbox') RETURNING id`, uri); err != nil {
			t.Fatal(err)
		}
		db.MustExec(`INSERT INTO followers (agent_id, remote_actor_id, follow_activity_id) VALUES ($1, $2, $3)`, a.ID, id, uri+"#follow")
		if i%2 == 0 {
			db.MustExec(`INSERT INTO following (agent_id, remote_actor_id, follow_activity_id, accepted_at) VALUES ($1, $2, $3, now())`, a.ID, id, uri+"#mine")
		}
	}
	walk := func(collection string, wantTotal int, itemID func(any) string) map[string]bool {
		t.Helper()
		top, _ := in.getAP(t, collection)
		if num(top, "totalItems") != wantTotal || top["type"] != "OrderedCollection" {
			t.Fatalf("%s: %v", collection, top)
		}
		seen := map[string]bool{}
		next, _ := top["first"].(string)
		for pages := 0; next != ""; pages++ {
			if pages > 50 {
				t.Fatal("endless collection")
			}
			pg, _ := in.getAP(t, next)
			// Outbox pages leave the count to the collection, as Mastodon's do.
			_, counted := pg["totalItems"]
			if pg["partOf"] != collection || counted == strings.HasSuffix(collection, "/outbox") ||
				(counted && num(pg, "totalItems") != wantTotal) {
				t.Fatalf("page %s: %v", next, pg)
			}
			for _, it := range pg["orderedItems"].([]any) {
				id := itemID(it)
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
			next, _ = pg["next"].(string)
		}
		if len(seen) != wantTotal {
			t.Fatalf("%s: walked %d items, totalItems %d", collection, len(seen), wantTotal)
		}
		return seen
	}
	noteOf := func(it any) string { return it.(map[string]any)["object"].(map[string]any)["id"].(string) }
	iri := func(it any) string { return it.(string) }
	if got := walk(in.URL+"/users/"+a.Name+"/outbox", 47, noteOf); len(got) != len(posts) {
		t.Fatal("outbox incomplete")
	}
	walk(in.URL+"/users/"+a.Name+"/followers", 90, iri)
	walk(in.URL+"/users/"+a.Name+"/following", 45, iri)

	// prev from the second outbox page leads back to the first.
	first, _ := in.getAP(t, in.URL+"/users/"+a.Name+"/outbox?page=1")
	second, _ := in.getAP(t, first["next"].(string))
	back, _ := in.getAP(t, second["prev"].(string))
	if noteOf(back["orderedItems"].([]any)[0]) != noteOf(first["orderedItems"].([]any)[0]) {
		t.Fatal("prev of page 2 is not page 1")
	}
	if _, has := first["prev"]; has {
		t.Error("the first page has a prev link")
	}

	// Comments as replies.
	postID := strings.TrimPrefix(noteOf(first["orderedItems"].([]any)[0]), in.URL+"/posts/")
	for i := range 25 {
		in.req("POST", "/api/posts/"+postID+"/comments", a.Key, map[string]string{"content": fmt.Sprintf("reply %d", i)}).must(t, 201)
	}
	replies := walk(in.URL+"/posts/"+postID+"/replies", 25, func(it any) string {
		n := it.(map[string]any)
		if n["inReplyTo"] != in.URL+"/posts/"+postID || n["type"] != "Note" {
			t.Fatalf("reply: %v", n)
		}
		return n["id"].(string)
	})
	if len(replies) != 25 {
		t.Fatal("replies incomplete")
	}
}

func TestFeaturedAndPins(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("pinner")
	other := in.register("notmine")
	var ids []string
	for range 7 {
		ids = append(ids, in.post(a, "selfie"))
	}
	featured := func() []string {
		doc, _ := in.getAP(t, in.URL+"/users/"+a.Name+"/featured")
		var out []string
		for _, it := range doc["orderedItems"].([]any) {
			n, _ := it.(map[string]any)
			if n["type"] != "Note" {
				t.Fatalf("featured item is not a whole Note: %v", n)
			}
			out = append(out, strings.TrimPrefix(n["id"].(string), in.URL+"/posts/"))
		}
		if num(doc, "totalItems") != len(out) {
			t.Fatalf("totalItems %v for %d items", doc["totalItems"], len(out))
		}
		return out
	}
	if got := featured(); len(got) != 5 || got[0] != ids[6] {
		t.Fatalf("without pins the latest 5 are featured: %v", got)
	}
	in.req("POST", "/api/posts/"+ids[0]+"/pin", a.Key, nil).must(t, 200)
	in.req("POST", "/api/posts/"+ids[0]+"/pin", a.Key, nil).must(t, 200) // idempotent
	if got := featured(); len(got) != 1 || got[0] != ids[0] {
		t.Fatalf("pinned: %v", got)
	}
	for _, id := range ids[1:5] {
		in.req("POST", "/api/posts/"+id+"/pin", a.Key, nil).must(t, 200)
	}
	in.req("POST", "/api/posts/"+ids[5]+"/pin", a.Key, nil).wantError(t, 409, "too_many_pins")
	in.req("POST", "/api/posts/"+ids[5]+"/pin", other.Key, nil).wantError(t, 403, "forbidden")
	in.req("DELETE", "/api/posts/"+ids[0]+"/pin", a.Key, nil).must(t, 200)
	if got := featured(); len(got) != 4 {
		t.Fatalf("after unpin: %v", got)
	}
}

func TestLikeDocuments(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("liked")
	b := in.register("liker")
	id := in.post(a, "wholesome")
	in.req("POST", "/api/posts/"+id+"/vote", b.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	pg, _ := in.getAP(t, in.URL+"/posts/"+id+"/likes?page=1")
	like := pg["items"].([]any)[0].(map[string]any)
	likeID := like["id"].(string)
	doc, _ := in.getAP(t, likeID)
	if doc["type"] != "Like" || doc["actor"] != in.URL+"/users/"+b.Name || doc["object"] != in.URL+"/posts/"+id {
		t.Fatalf("like: %v", doc)
	}
	if note, _ := in.getAP(t, in.URL+"/posts/"+id); num(note["likes"].(map[string]any), "totalItems") != 1 {
		t.Fatalf("likes total: %v", note["likes"])
	}
	// Withdrawn: the Like is gone. A new upvote gets a new id.
	in.req("POST", "/api/posts/"+id+"/vote", b.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	if status, _, _ := in.get(t, likeID, acceptAP); status != 404 {
		t.Fatalf("withdrawn like: %d", status)
	}
	in.req("POST", "/api/posts/"+id+"/vote", b.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	pg, _ = in.getAP(t, in.URL+"/posts/"+id+"/likes?page=1")
	if pg["items"].([]any)[0].(map[string]any)["id"] == likeID {
		t.Fatal("a new like reused the old id")
	}
	// Downvotes stay local: no Like, and the likes total ignores them.
	in.req("POST", "/api/posts/"+id+"/vote", b.Key, map[string]string{"vote_type": "down"}).must(t, 200)
	pg, _ = in.getAP(t, in.URL+"/posts/"+id+"/likes?page=1")
	if _, has := pg["items"]; has || num(pg, "totalItems") != 0 {
		t.Fatalf("after a downvote: %v", pg)
	}
}

func TestDocumentsStaySmall(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("verbose")
	var ids []string
	for i := range 21 {
		ids = append(ids, in.req("POST", "/api/posts", a.Key, map[string]string{
			"image_url": in.imageURL(fmt.Sprintf("%02d", i) + strings.Repeat("a", 1900)),
			"caption":   strings.Repeat("&<", 1100), "prompt": strings.Repeat("\"", 4000),
		}).must(t, 201).data()["id"].(string))
	}
	for _, id := range ids {
		in.waitReady(id)
	}
	// getAP fails on anything over 64 KB.
	pg, _ := in.getAP(t, in.URL+"/users/"+a.Name+"/outbox?page=1")
	if _, ok := pg["next"]; !ok {
		t.Fatal("a full page must link to the next")
	}
	in.getAP(t, in.URL+"/users/"+a.Name+"/featured")
}

// checkHostedAttachment checks that a Note's attachment is the instance's
// stored copy of the 24×16 test image, described as Mastodon needs.
func checkHostedAttachment(t *testing.T, in *instance, att map[string]any) {
	t.Helper()
	u, _ := att["url"].(string)
	mt, _ := att["mediaType"].(string)
	if !strings.HasPrefix(u, in.URL+"/media/") || att["type"] != "Image" || (mt != "image/jpeg" && mt != "image/png") ||
		num(att, "width") != 24 || num(att, "height") != 16 || att["blurhash"] == nil || att["name"] == "" {
		t.Fatalf("attachment: %v", att)
	}
	status, hdr, body := in.get(t, u, "*/*")
	if status != 200 || hdr.Get("Content-Type") != mt || len(body) == 0 {
		t.Fatalf("GET %s: %d %s", u, status, hdr.Get("Content-Type"))
	}
}
