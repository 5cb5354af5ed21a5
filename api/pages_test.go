package api_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"

	"github.com/aistagram/aistagram/api"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/worker"
)

// browserAccept is what a browser asks for when following a link.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// htmlPage is a fetched and parsed page.
type htmlPage struct {
	Status int
	Header http.Header
	Doc    *html.Node
	Raw    string
}

// page fetches a page as a browser would and parses it.
func (in *instance) page(t *testing.T, path string) htmlPage {
	t.Helper()
	status, h, body := in.get(t, path, browserAccept)
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET %s: %d %q, not HTML: %.300s", path, status, h.Get("Content-Type"), body)
	}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("GET %s: unparsable HTML: %v", path, err)
	}
	return htmlPage{Status: status, Header: h, Doc: doc, Raw: string(body)}
}

// matcher selects elements.
type matcher func(*html.Node) bool

// el matches a tag with attributes given as name, value pairs: a value of
// "" only requires the attribute, and "class" matches one class name.
func el(tag string, attrs ...string) matcher {
	return func(n *html.Node) bool {
		if n.Type != html.ElementNode || (tag != "" && n.Data != tag) {
			return false
		}
		for i := 0; i+1 < len(attrs); i += 2 {
			v, ok := attrOf(n, attrs[i])
			switch {
			case !ok:
				return false
			case attrs[i] == "class":
				if !slices.Contains(strings.Fields(v), attrs[i+1]) {
					return false
				}
			case attrs[i+1] != "" && v != attrs[i+1]:
				return false
			}
		}
		return true
	}
}

func attrOf(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attr(n *html.Node, key string) string { v, _ := attrOf(n, key); return v }

// findAll lists the elements under n (n included) that match, in document order.
func findAll(n *html.Node, match matcher) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// find returns the only element under n that matches.
func find(t *testing.T, n *html.Node, what string, match matcher) *html.Node {
	t.Helper()
	all := findAll(n, match)
	if len(all) != 1 {
		t.Fatalf("%d elements for %s, want 1", len(all), what)
	}
	return all[0]
}

// textOf is the text under n, spaces collapsed.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

func isInside(n, ancestor *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p == ancestor {
			return true
		}
	}
	return false
}

// meta returns the content of <meta property|name=key>.
func (p htmlPage) meta(key string) string {
	for _, m := range findAll(p.Doc, el("meta")) {
		if attr(m, "property") == key || attr(m, "name") == key {
			return attr(m, "content")
		}
	}
	return ""
}

// alternate returns the href of <link rel="alternate" type=typ>.
func (p htmlPage) alternate(typ string) string {
	for _, l := range findAll(p.Doc, el("link", "rel", "alternate", "type", typ)) {
		return attr(l, "href")
	}
	return ""
}

func (p htmlPage) title() string { return textOf(findAll(p.Doc, el("title"))[0]) }

// postIDs are the ids of the posts a feed or grid page shows, in order.
func (p htmlPage) postIDs() []string {
	var ids []string
	for _, li := range findAll(p.Doc, el("li", "id", "")) {
		if id, ok := strings.CutPrefix(attr(li, "id"), "post-"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// next is the "load more" link, "" on the last page.
func (p htmlPage) next() string {
	for _, a := range findAll(p.Doc, el("a", "rel", "next")) {
		return attr(a, "href")
	}
	return ""
}

// walkPages follows "load more" from path to the end and returns every
// post id shown, in order.
func (in *instance) walkPages(t *testing.T, path string) []string {
	t.Helper()
	var all []string
	for pages := 0; path != ""; pages++ {
		if pages > 100 {
			t.Fatal("load more never ends")
		}
		p := in.page(t, path)
		if p.Status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, p.Status)
		}
		all = append(all, p.postIDs()...)
		path = p.next()
		if path != "" && !strings.HasPrefix(path, in.URL+"/") {
			t.Fatalf("load more link %q is not on this instance", path)
		}
	}
	return all
}

// seedFeed registers two agents and gives them posts in a few categories,
// the newest last in the returned ids.
func seedFeed(t *testing.T, in *instance, n int) ([]agent, []string) {
	t.Helper()
	agents := []agent{in.register("pager"), in.register("pager")}
	categories := []string{"work", "selfie", "work", "aesthetic"}
	var ids []string
	for i := range n {
		ids = append(ids, in.post(agents[i%2], categories[i%len(categories)]))
	}
	// Votes and comments so that the ranked sorts differ from new.
	for i, id := range ids {
		for range i % 3 {
			in.req("POST", "/api/posts/"+id+"/vote", agents[(i+1)%2].Key, map[string]string{"vote_type": "up"}).must(t, 200)
		}
		if i%2 == 0 {
			in.req("POST", "/api/posts/"+id+"/comments", agents[0].Key, map[string]string{"content": "nice"}).must(t, 201)
		}
	}
	return agents, ids
}

func TestHomePageTabs(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	_, ids := seedFeed(t, in, 6)
	for _, tt := range []struct {
		path, tab, title string
		want             int
	}{
		{"/", "hot", "Hot · Aistagram", 6},
		{"/?sort=new", "new", "New · Aistagram", 6},
		{"/?sort=top", "top", "Top · Aistagram", 6},
		{"/?sort=top&t=day", "top", "Top · Aistagram", 6},
		{"/?sort=discussed", "discussed", "Discussed · Aistagram", 6},
		{"/?sort=new&category=work", "new", "New in work · Aistagram", 3},
		{"/?category=aesthetic", "hot", "Hot in aesthetic · Aistagram", 1},
	} {
		t.Run(tt.path, func(t *testing.T) {
			p := in.page(t, tt.path)
			if p.Status != 200 || p.title() != tt.title {
				t.Fatalf("%d %q", p.Status, p.title())
			}
			current := find(t, p.Doc, "the current tab", func(n *html.Node) bool {
				return el("a", "aria-current", "page")(n) && n.Parent != nil && n.Parent.Parent != nil &&
					el("ul", "class", "tabs")(n.Parent.Parent)
			})
			if textOf(current) != tt.tab {
				t.Fatalf("current tab %q, want %q", textOf(current), tt.tab)
			}
			if tabs := findAll(p.Doc, el("ul", "class", "tabs"))[0]; len(findAll(tabs, el("a"))) != 4 {
				t.Fatal("not four tabs")
			}
			if chips := findAll(p.Doc, el("ul", "class", "categories")); len(chips) != 1 || len(findAll(chips[0], el("a"))) != len(store.Categories)+1 {
				t.Fatal("category filter")
			}
			got := p.postIDs()
			if len(got) != tt.want {
				t.Fatalf("%d posts, want %d", len(got), tt.want)
			}
			for _, id := range got {
				if !slices.Contains(ids, id) {
					t.Fatalf("unknown post %s", id)
				}
			}
			// Each card: the thumbnail the instance stored, sized, lazy,
			// with alt text; the agent, score and comment count.
			for _, card := range findAll(p.Doc, el("li", "class", "card")) {
				img := find(t, card, "the card's image", el("img", "loading", "lazy"))
				if !strings.HasPrefix(attr(img, "src"), in.URL+"/media/") || attr(img, "width") == "" ||
					attr(img, "height") == "" || !strings.Contains(attr(img, "alt"), "a prompt") {
					t.Fatalf("card image %v", img.Attr)
				}
				find(t, card, "the agent link", el("a", "class", "name"))
				find(t, card, "the score", el("span", "class", "score"))
				find(t, card, "the comment count", el("a", "class", "comment-count"))
			}
			if tt.want > 0 && p.next() != "" {
				t.Fatalf("a load more link on the only page: %s", p.next())
			}
		})
	}
	// The period chips show only under top.
	if len(findAll(in.page(t, "/?sort=top").Doc, el("ul", "class", "periods"))) != 1 ||
		len(findAll(in.page(t, "/?sort=new").Doc, el("ul", "class", "periods"))) != 0 {
		t.Fatal("period filter")
	}
}

// TestHomePageLoadMore walks every sort with small pages through the "load
// more" links: each post shows once, the posts are the API's, and a page's
// cursor is the API's own (same posts, same order).
func TestHomePageLoadMore(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	_, ids := seedFeed(t, in, 7)
	for _, q := range []string{"sort=new&limit=3", "sort=hot&limit=3", "sort=top&limit=2", "sort=discussed&limit=3", "sort=new&category=work&limit=2"} {
		t.Run(q, func(t *testing.T) {
			got := in.walkPages(t, "/?"+q)
			want := in.walk(t, q)
			// The two walks may start from different snapshots (a debounced
			// rescoring can land between them and reorder near-ties), so
			// they must show the same posts; the order within one snapshot
			// is checked by the cursor exchange below.
			if !slices.Equal(sorted(got), sorted(want)) {
				t.Fatalf("pages show %v, the API %v", got, want)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s shown twice", id)
				}
				seen[id] = true
			}
			if !strings.Contains(q, "category") && len(got) != len(ids) {
				t.Fatalf("%d posts, want %d", len(got), len(ids))
			}
			// The second page's cursor, given to the API, answers the
			// same posts.
			first := in.page(t, "/?"+q)
			next, _ := url.Parse(first.next())
			apiIDs, _ := in.feedPage(t, q, next.Query().Get("cursor"))
			if !slices.Equal(apiIDs, in.page(t, first.next()).postIDs()) {
				t.Fatal("the page's cursor gives the API other posts")
			}
		})
	}
}

func TestTagPage(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	_, ids := seedFeed(t, in, 5)
	p := in.page(t, "/tags/work")
	if p.Status != 200 || textOf(find(t, p.Doc, "h1", el("h1"))) != "#work" {
		t.Fatalf("%d %s", p.Status, p.Raw)
	}
	// Newest first by default, like the API's sort=new for the category.
	want := in.walk(t, "sort=new&category=work")
	if got := in.walkPages(t, "/tags/work?limit=1"); !slices.Equal(got, want) || len(want) != 3 || want[0] != ids[4] {
		t.Fatalf("tag pages %v, API %v", got, want)
	}
	if got := in.page(t, "/tags/WORK?sort=top").postIDs(); len(got) != 3 {
		t.Fatalf("top of #work: %v", got)
	}
}

func TestProfilePage(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("profiled")
	other := in.register("other")
	var ids []string
	for range 4 {
		ids = append(ids, in.post(a, "selfie"))
	}
	in.post(other, "selfie")
	host := strings.TrimPrefix(in.URL, "http://")

	p := in.page(t, "/@"+a.Name+"?limit=3")
	if p.Status != 200 || !strings.HasPrefix(p.title(), a.Name+" (@"+a.Name+"@"+host+")") {
		t.Fatalf("%d %q", p.Status, p.title())
	}
	if h1 := textOf(find(t, p.Doc, "h1", el("h1"))); h1 != a.Name {
		t.Fatalf("h1 %q", h1)
	}
	for key, want := range map[string]string{
		"og:title": a.Name + " on Aistagram", "og:type": "profile", "og:url": in.URL + "/@" + a.Name,
		"og:description": "hi", "twitter:card": "summary",
	} {
		if got := p.meta(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if img := p.meta("og:image"); !strings.HasPrefix(img, in.URL+"/media/") {
		t.Errorf("og:image %q", img)
	}
	if got := p.alternate("application/activity+json"); got != in.URL+"/users/"+a.Name {
		t.Errorf("activity+json alternate %q", got)
	}
	if got := p.alternate("application/atom+xml"); got != in.URL+"/@"+a.Name+"/feed.atom" {
		t.Errorf("atom alternate %q", got)
	}
	// The handle as selectable text, and a copy button the script reveals.
	handle := "@" + a.Name + "@" + host
	if got := textOf(find(t, p.Doc, "the handle", el("code", "id", "handle"))); got != handle {
		t.Errorf("handle %q", got)
	}
	button := find(t, p.Doc, "the copy button", el("button", "data-copy", handle))
	if _, hidden := attrOf(button, "hidden"); !hidden {
		t.Error("the copy button shows without JavaScript")
	}
	if !strings.Contains(textOf(find(t, p.Doc, "follow help", el("p", "class", "follow-help"))), "Mastodon") {
		t.Error("no follow-from-Mastodon explanation")
	}
	if counts := textOf(find(t, p.Doc, "counts", el("ul", "class", "counts"))); !strings.Contains(counts, "4 posts") ||
		!strings.Contains(counts, "0 followers") {
		t.Errorf("counts %q", counts)
	}
	find(t, p.Doc, "the emoji avatar", el("span", "class", "emoji"))

	// The grid pages by the cursors of GET /api/agents/{name}/posts.
	if got := p.postIDs(); !slices.Equal(got, []string{ids[3], ids[2], ids[1]}) {
		t.Fatalf("first page %v", got)
	}
	if all := in.walkPages(t, "/@"+a.Name+"?limit=3"); !slices.Equal(all, []string{ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("walk %v", all)
	}
	next, _ := url.Parse(p.next())
	api := in.req("GET", "/api/agents/"+a.Name+"/posts?limit=3&cursor="+next.Query().Get("cursor"), "", nil).must(t, 200).data()
	if posts := api["posts"].([]any); len(posts) != 1 || posts[0].(map[string]any)["id"] != ids[0] {
		t.Fatalf("the page's cursor in the API: %v", api)
	}
	// The same name in capitals is the same agent.
	if p := in.page(t, "/@"+strings.ToUpper(a.Name)); p.Status != 200 || len(p.postIDs()) != 4 {
		t.Fatalf("capitalised profile: %d", p.Status)
	}
}

// TestPostPage renders a post with threaded comments, one of them from a
// fediverse account, and checks what is escaped and what is not.
func TestPostPage(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a, b := in.register("poster"), in.register("commenter")
	caption := `<script>alert("caption")</script> & a very long caption https://example.com/` + strings.Repeat("x", 300)
	r := in.req("POST", "/api/posts", a.Key, map[string]string{
		"image_url": in.imageURL(a.Name), "caption": caption, "prompt": "neon koi <b>pond</b>", "category": "aesthetic",
	}).must(t, 201)
	id := r.data()["id"].(string)
	post := in.waitReady(id)
	media := post["media"].([]any)[0].(map[string]any)

	comment := func(who agent, content, parent string) string {
		body := map[string]string{"content": content}
		if parent != "" {
			body["parent_id"] = parent
		}
		return in.req("POST", "/api/posts/"+id+"/comments", who.Key, body).must(t, 201).data()["id"].(string)
	}
	c1 := comment(b, "first!", "")
	c2 := comment(a, "thanks", c1)
	c3 := comment(b, "you're welcome", c2)
	c4 := comment(b, "<b>not bold</b>", "")
	remote := addRemoteComment(t, in, id, c1, `<p>hello from <a href="https://remote.example/@bob" rel="nofollow">@bob</a></p>`)

	p := in.page(t, "/p/"+id)
	if p.Status != 200 || !strings.HasPrefix(p.title(), a.Name+": “<script>") {
		t.Fatalf("%d %q", p.Status, p.title())
	}
	for key, want := range map[string]string{
		"og:type": "article", "og:url": in.URL + "/p/" + id, "og:image": media["url"].(string),
		"og:image:width": "24", "og:image:height": "16", "twitter:card": "summary_large_image",
		"twitter:image": media["url"].(string),
	} {
		if got := p.meta(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if !strings.Contains(p.meta("og:image:alt"), "neon koi <b>pond</b>") {
		t.Errorf("og:image:alt %q", p.meta("og:image:alt"))
	}
	if got := p.alternate("application/activity+json"); got != in.URL+"/posts/"+id {
		t.Errorf("activity+json alternate %q", got)
	}
	// The image: the instance's safe copy, sized, with the thumbnail for
	// narrow screens, fetched first (it is the page's main content).
	img := find(t, p.Doc, "the post image", func(n *html.Node) bool {
		return el("img")(n) && n.Parent != nil && el("div", "class", "frame")(n.Parent)
	})
	if attr(img, "src") != media["url"] || attr(img, "width") != "24" || attr(img, "height") != "16" ||
		attr(img, "fetchpriority") != "high" || !strings.Contains(attr(img, "alt"), "neon koi") {
		t.Errorf("image %v", img.Attr)
	}
	// Caption and prompt are text, never markup.
	capt := find(t, p.Doc, "the caption", el("p", "class", "caption"))
	if textOf(capt) != strings.Join(strings.Fields(caption), " ") || len(findAll(capt, el(""))) != 1 {
		t.Errorf("caption %q", textOf(capt))
	}
	for _, s := range findAll(p.Doc, el("script")) {
		if attr(s, "src") == "" || s.FirstChild != nil {
			t.Fatalf("an inline script: %v", s.Attr)
		}
	}
	details := find(t, p.Doc, "the prompt", el("details", "class", "prompt"))
	if textOf(find(t, details, "summary", el("summary"))) != "Prompt" || !strings.Contains(textOf(details), "neon koi <b>pond</b>") ||
		len(findAll(details, el("b"))) != 0 {
		t.Errorf("prompt %q", textOf(details))
	}
	if tag := find(t, p.Doc, "the category", el("a", "class", "tag")); attr(tag, "href") != in.URL+"/tags/aesthetic" {
		t.Errorf("category link %v", tag.Attr)
	}
	if score := textOf(find(t, p.Doc, "the score", el("span", "class", "score"))); score != "0 points" {
		t.Errorf("score %q", score)
	}

	// Threads: c2 answers c1 and c3 answers c2; c4 stands alone; the
	// remote reply sits under c1.
	li := func(cid string) *html.Node { return find(t, p.Doc, "comment "+cid, el("li", "id", "comment-"+cid)) }
	for _, tt := range []struct {
		child, parent string
		inside        bool
	}{
		{c2, c1, true}, {c3, c2, true}, {c3, c1, true}, {remote, c1, true},
		{c4, c1, false}, {c1, c4, false}, {remote, c2, false},
	} {
		if got := isInside(li(tt.child), li(tt.parent)); got != tt.inside {
			t.Errorf("comment %s inside %s: %v, want %v", tt.child, tt.parent, got, tt.inside)
		}
	}
	if len(findAll(find(t, p.Doc, "the thread", el("ol", "class", "thread")), func(n *html.Node) bool {
		return el("li", "class", "comment")(n) && el("ol", "class", "thread")(n.Parent)
	})) != 2 {
		t.Error("not two top-level comments")
	}
	// A local comment is escaped text, linked to its agent.
	local := li(c4)
	if body := find(t, local, "c4 body", el("div", "class", "comment-body")); textOf(body) != "<b>not bold</b>" || len(findAll(body, el("b"))) != 0 {
		t.Errorf("local comment %q", textOf(body))
	}
	if name := find(t, local, "c4 author", el("a", "class", "name")); attr(name, "href") != in.URL+"/@"+b.Name || textOf(name) != b.Name {
		t.Errorf("local author %v", name.Attr)
	}
	// A remote comment keeps its (sanitised) HTML, names its server and
	// links to the author's profile there.
	rli := li(remote)
	rbody := find(t, rli, "remote body", el("div", "class", "remote"))
	if link := find(t, rbody, "the remote comment's link", el("a")); attr(link, "href") != "https://remote.example/@bob" {
		t.Errorf("remote link %v", link.Attr)
	}
	if server := textOf(find(t, rli, "the server", el("span", "class", "server"))); server != "@bob@remote.example" {
		t.Errorf("server %q", server)
	}
	if name := find(t, rli, "the remote author", el("a", "class", "name")); attr(name, "href") != "https://remote.example/@bob" ||
		textOf(name) != "Bob Remote" {
		t.Errorf("remote author %v %q", name.Attr, textOf(name))
	}
}

// addRemoteComment stores a fediverse reply as the inbox worker would, and
// returns its comment id.
func addRemoteComment(t *testing.T, in *instance, postID, parentID, contentHTML string) string {
	t.Helper()
	ctx := context.Background()
	actor, err := in.store.UpsertRemoteActor(ctx, &store.RemoteActor{
		URI: "https://remote.example/users/bob", Type: "Person", Username: "bob", Host: "remote.example",
		Name: "Bob Remote", URL: "https://remote.example/@bob", Inbox: "https://remote.example/users/bob/inbox",
	})
	if err != nil {
		t.Fatal(err)
	}
	apID := "https://remote.example/users/bob/statuses/1"
	inboxID, _, err := in.store.InsertInbox(ctx, apID+"/activity", "Create", actor.URI, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	post, parent := mustUUID(t, postID), mustUUID(t, parentID)
	if err := in.store.ApplyRemoteComment(ctx, inboxID, store.RemoteComment{APID: apID, PostID: post, ParentID: &parent,
		ActorID: actor.ID, Content: "hello from @bob", ContentHTML: contentHTML, Published: time.Now()}); err != nil {
		t.Fatal(err)
	}
	c, err := in.store.CommentByAPID(ctx, apID)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID.String()
}

// TestPendingPostPage: until the instance has stored a post's image, the
// pages show the image the agent linked.
func TestPendingPostPage(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("pending")
	host, open := gatedImageHost(t, seededPNG(t, "pending", 24, 16), "image/png")
	defer close(open)
	source := host.URL + "/gen/abc.png"
	id := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": source, "caption": "soon"}).must(t, 201).data()["id"].(string)

	p := in.page(t, "/p/"+id)
	img := find(t, p.Doc, "the post image", func(n *html.Node) bool { return el("img")(n) && el("div", "class", "frame")(n.Parent) })
	if p.Status != 200 || attr(img, "src") != source || p.meta("og:image") != source {
		t.Fatalf("%d %v", p.Status, img.Attr)
	}
	find(t, p.Doc, "the pending notice", el("p", "class", "notice"))
	home := in.page(t, "/?sort=new")
	if imgs := findAll(find(t, home.Doc, "the card", el("li", "id", "post-"+id)), el("img")); attr(imgs[len(imgs)-1], "src") != source {
		t.Fatalf("card image %v", imgs[len(imgs)-1].Attr)
	}
}

// TestPageErrors: friendly pages with the right status for what is missing
// or malformed.
func TestPageErrors(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("gone")
	deleted := in.post(a, "general")
	in.req("DELETE", "/api/posts/"+deleted, a.Key, nil).must(t, 200)
	feedCursor := func() string {
		in.post(a, "general")
		in.post(a, "general")
		_, next := in.feedPage(t, "sort=new&limit=1", "")
		return next
	}()
	for _, tt := range []struct {
		path    string
		status  int
		restart bool
	}{
		{"/@nobody", 404, false},
		{"/@nobody/feed.atom", 404, false},
		{"/p/" + "6a0c5b1e-3f4d-4c1e-9d7e-2a6b8c9d0e1f", 404, false},
		{"/p/not-a-uuid", 404, false},
		{"/p/" + deleted, 410, false},
		{"/tags/nonsense", 404, false},
		{"/no/such/page", 404, false},
		{"/?sort=sideways", 400, false},
		{"/?category=nonsense", 400, false},
		{"/?cursor=garbage", 400, true},
		{"/?sort=hot&cursor=" + feedCursor, 400, true}, // a cursor of another list
		{"/@" + a.Name + "?cursor=" + feedCursor, 400, true},
		{"/@" + a.Name + "?limit=1000", 400, false},
	} {
		t.Run(tt.path, func(t *testing.T) {
			if strings.HasSuffix(tt.path, ".atom") {
				if status, _, _ := in.get(t, tt.path, "*/*"); status != tt.status {
					t.Fatalf("%d", status)
				}
				return
			}
			p := in.page(t, tt.path)
			if p.Status != tt.status {
				t.Fatalf("status %d, want %d", p.Status, tt.status)
			}
			h1 := textOf(find(t, p.Doc, "h1", el("h1")))
			if tt.status == 404 && h1 != "Nothing here" || h1 == "" {
				t.Fatalf("h1 %q", h1)
			}
			find(t, find(t, p.Doc, "the error", el("div", "class", "error-page")), "the way back", el("a", "href", in.URL+"/"))
			restart := findAll(p.Doc, func(n *html.Node) bool { return el("a")(n) && textOf(n) == "Start this list again" })
			if (len(restart) == 1) != tt.restart {
				t.Fatalf("restart link: %d", len(restart))
			}
			if tt.restart && strings.Contains(attr(restart[0], "href"), "cursor") {
				t.Fatalf("restart keeps the cursor: %s", attr(restart[0], "href"))
			}
		})
	}
	// The API keeps answering JSON for unknown paths.
	if r := in.req("GET", "/api/nope", "", nil); r.Status != 404 || r.Body["code"] != "not_found" {
		t.Fatalf("API 404: %d %s", r.Status, r.Raw)
	}
}

// atomFeed is what a feed reader reads of an Atom document.
type atomFeed struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string   `xml:"title"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Author  struct {
		Name string `xml:"name"`
		URI  string `xml:"uri"`
	} `xml:"author"`
	Entries []struct {
		Title   string `xml:"title"`
		ID      string `xml:"id"`
		Updated string `xml:"updated"`
		Links   []struct {
			Href string `xml:"href,attr"`
			Rel  string `xml:"rel,attr"`
			Type string `xml:"type,attr"`
		} `xml:"link"`
		Content struct {
			Type string `xml:"type,attr"`
			Body string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

func TestAgentAtomFeed(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("atomic")
	var ids []string
	for range 3 {
		ids = append(ids, in.post(a, "work"))
	}
	r := in.req("POST", "/api/posts", a.Key, map[string]string{"image_url": in.imageURL("x"), "caption": `<i>escaped</i> & "quoted"`}).must(t, 201)
	ids = append(ids, r.data()["id"].(string))
	post := in.waitReady(ids[3])

	status, h, body := in.get(t, "/@"+a.Name+"/feed.atom", "application/atom+xml")
	if status != 200 || h.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("%d %q", status, h.Get("Content-Type"))
	}
	var f atomFeed
	if err := xml.Unmarshal(body, &f); err != nil {
		t.Fatalf("not Atom: %v\n%s", err, body)
	}
	if f.Title != a.Name+" on Aistagram" || f.ID != in.URL+"/@"+a.Name || f.Author.Name != a.Name || f.Updated == "" || len(f.Entries) != 4 {
		t.Fatalf("feed %+v", f)
	}
	for i, e := range f.Entries {
		want := in.URL + "/p/" + ids[len(ids)-1-i]
		if e.ID != want || e.Links[0].Href != want || e.Updated == "" || e.Content.Type != "html" {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	first := f.Entries[0]
	if first.Title != `<i>escaped</i> & "quoted"` {
		t.Fatalf("title %q", first.Title)
	}
	// The content is HTML in which the caption is text.
	content, err := html.Parse(strings.NewReader(first.Content.Body))
	if err != nil {
		t.Fatal(err)
	}
	media := post["media"].([]any)[0].(map[string]any)
	if img := find(t, content, "the entry image", el("img")); attr(img, "src") != media["url"] {
		t.Fatalf("entry image %v", img.Attr)
	}
	if len(findAll(content, el("i"))) != 0 || !strings.Contains(textOf(content), `<i>escaped</i> & "quoted"`) {
		t.Fatalf("entry content %q", first.Content.Body)
	}
	if enc := first.Links[len(first.Links)-1]; enc.Rel != "enclosure" || enc.Href != media["url"] || enc.Type != media["mime"] {
		t.Fatalf("enclosure %+v", enc)
	}
}

func TestAboutPage(t *testing.T) {
	t.Parallel()
	in := newInstance(t, func(c *api.Config) { c.PostInterval = 10 * time.Minute; c.RequestsPerMinute = 100 })
	a := in.register("about")
	in.post(a, "general")
	p := in.page(t, "/about")
	if p.Status != 200 || p.title() != "About · Aistagram" {
		t.Fatalf("%d %q", p.Status, p.title())
	}
	numbers := textOf(find(t, p.Doc, "the numbers", el("ul", "class", "numbers")))
	for _, want := range []string{"1 agent", "1 post", "0 comments"} {
		if !strings.Contains(numbers, want) {
			t.Errorf("numbers %q lack %q", numbers, want)
		}
	}
	if len(findAll(p.Doc, el("a", "href", in.URL+"/skill.md"))) < 2 {
		t.Error("no link to the agent guide")
	}
	text := textOf(p.Doc)
	for _, want := range []string{"once every 10 minutes", "100 API requests a minute", "POST /api/posts", "GET /api/feed"} {
		if !strings.Contains(text, want) {
			t.Errorf("about lacks %q", want)
		}
	}
	if got := len(findAll(find(t, p.Doc, "categories", el("dl", "class", "categories")), el("dt"))); got != len(store.Categories) {
		t.Errorf("%d categories", got)
	}
}

// TestPageSecurityAndAssets checks every page for what the
// Content-Security-Policy relies on (no inline script, style or event
// handler), for sized images, and that the assets they link are served
// with the right type and cached for good only under their fingerprint.
func TestPageSecurityAndAssets(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("secure")
	id := in.post(a, "drama")
	in.req("POST", "/api/posts/"+id+"/comments", a.Key, map[string]string{"content": "hm"}).must(t, 201)
	assets := map[string]bool{}
	for _, path := range []string{"/", "/?sort=new", "/about", "/@" + a.Name, "/p/" + id, "/tags/drama", "/nothing"} {
		t.Run(path, func(t *testing.T) {
			p := in.page(t, path)
			csp := p.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src * data:", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
			if p.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff")
			}
			for _, n := range findAll(p.Doc, el("")) {
				for _, at := range n.Attr {
					if strings.HasPrefix(at.Key, "on") || at.Key == "style" || strings.HasPrefix(strings.ToLower(at.Val), "javascript:") {
						t.Errorf("<%s %s=%q>", n.Data, at.Key, at.Val)
					}
				}
				switch {
				case n.Data == "style":
					t.Error("a <style> element")
				case n.Data == "script" && (attr(n, "src") == "" || n.FirstChild != nil):
					t.Error("an inline script")
				case n.Data == "img" && (attr(n, "width") == "" || attr(n, "height") == "" || !slices.ContainsFunc(n.Attr, func(a html.Attribute) bool { return a.Key == "alt" })):
					t.Errorf("image without size or alt: %v", n.Attr)
				case n.Data == "img" && strings.HasPrefix(attr(n, "src"), "http") && attr(n, "loading") != "lazy" && attr(n, "fetchpriority") != "high":
					t.Errorf("image not lazy: %v", n.Attr)
				case n.Data == "script":
					assets[attr(n, "src")] = true
				case n.Data == "link" && (attr(n, "rel") == "stylesheet" || attr(n, "rel") == "icon"):
					assets[attr(n, "href")] = true
				}
			}
			if root := find(t, p.Doc, "html", el("html")); !strings.HasPrefix(attr(root, "data-placeholder"), "/static/placeholder.svg?v=") {
				t.Errorf("placeholder %v", root.Attr)
			}
		})
	}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	if len(assets) != 3 {
		t.Fatalf("assets %v", assets)
	}
	for asset := range assets {
		u, _ := url.Parse(asset)
		status, h, body := in.get(t, asset, "*/*")
		if status != 200 || len(body) == 0 || h.Get("Content-Type") != types[u.Path[strings.LastIndex(u.Path, "."):]] ||
			h.Get("Cache-Control") != "public, max-age=31536000, immutable" || u.Query().Get("v") == "" {
			t.Errorf("%s: %d %v", asset, status, h)
		}
		if _, h, _ := in.get(t, u.Path+"?v=stale", "*/*"); h.Get("Cache-Control") != "public, no-cache" || h.Get("ETag") == "" {
			t.Errorf("%s without its fingerprint: %v", asset, h)
		}
	}
	// The stylesheet's placeholder is fingerprinted too.
	for asset := range assets {
		if strings.Contains(asset, ".css") {
			_, _, css := in.get(t, asset, "*/*")
			if !strings.Contains(string(css), "url(placeholder.svg?v=") {
				t.Error("the stylesheet's placeholder is not fingerprinted")
			}
		}
	}
	if status, _, _ := in.get(t, "/static/nope.js", "*/*"); status != 404 {
		t.Errorf("unknown asset: %d", status)
	}
	if status, h, _ := in.get(t, "/favicon.ico", "*/*"); status != http.StatusFound || !strings.HasPrefix(h.Get("Location"), "/static/favicon.svg?v=") {
		t.Errorf("favicon: %d %v", status, h)
	}
}

// benchServer seeds an instance through the API and returns a second
// server over the same database and Redis whose handler the benchmark
// calls directly, so that only server time is measured.
func benchServer(b *testing.B, posts int) http.Handler {
	b.Helper()
	in := newInstance(b)
	agents := []agent{in.register("bench"), in.register("bench")}
	categories := []string{"work", "selfie", "aesthetic"}
	for i := range posts {
		in.post(agents[i%2], categories[i%len(categories)])
	}
	cfg := testConfig()
	cfg.URLs = urlsFromBase(in.URL)
	cfg.Media = in.pipeline
	srv, err := api.New(cfg, in.store, in.fed, in.redis, worker.NewClient(in.redis), testLogger())
	if err != nil {
		b.Fatal(err)
	}
	return srv.Handler()
}

// benchGet serves path over and over, checking the first answer.
func benchGet(b *testing.B, h http.Handler, path, accept string) {
	b.Helper()
	check := httptest.NewRecorder()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Accept", accept)
	h.ServeHTTP(check, req)
	if check.Code != 200 {
		b.Fatalf("GET %s: %d %s", path, check.Code, check.Body)
	}
	size := check.Body.Len()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", accept)
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
		_, _ = io.Copy(io.Discard, rec.Body)
	}
	b.ReportMetric(float64(size), "body-bytes")
}

// The home page and GET /api/feed serve the same 20 posts of the same
// feed: compare their server times with
//
//	go test -run '^$' -bench 'HomePage|FeedAPI' ./api
var benchSorts = []string{"hot", "new"}

func BenchmarkHomePage(b *testing.B) {
	h := benchServer(b, 40)
	for _, sort := range benchSorts {
		b.Run(sort, func(b *testing.B) { benchGet(b, h, fmt.Sprintf("/?sort=%s", sort), browserAccept) })
	}
}

func BenchmarkFeedAPI(b *testing.B) {
	h := benchServer(b, 40)
	for _, sort := range benchSorts {
		b.Run(sort, func(b *testing.B) { benchGet(b, h, fmt.Sprintf("/api/feed?sort=%s", sort), "application/json") })
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	id, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
