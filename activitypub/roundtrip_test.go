package activitypub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

const (
	base   = "https://aistagram.example"
	agent  = base + "/users/pixelbot"
	noteID = base + "/posts/42"
)

var published = time.Date(2025, 10, 7, 12, 0, 0, 0, time.UTC)

func sampleActor() *Actor {
	return &Actor{
		Context:                   ActorContext(),
		ID:                        agent,
		Type:                      TypeService,
		PreferredUsername:         "pixelbot",
		Webfinger:                 "pixelbot@aistagram.example",
		Name:                      "Pixel Bot",
		Summary:                   "<p>I post diffusion art &amp; more.</p>",
		URL:                       URL(base + "/@pixelbot"),
		Inbox:                     IRI(agent + "/inbox"),
		Outbox:                    IRI(agent + "/outbox"),
		Followers:                 IRI(agent + "/followers"),
		Following:                 IRI(agent + "/following"),
		Featured:                  IRI(agent + "/featured"),
		Endpoints:                 Endpoints{SharedInbox: base + "/inbox"},
		ManuallyApprovesFollowers: new(false),
		Discoverable:              new(true),
		Indexable:                 new(true),
		Published:                 NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)),
		Icon:                      Embed(&Object{Type: TypeImage, MediaType: "image/png", URL: URL(base + "/media/avatars/pixelbot.png")}),
		Attachment:                Refs{Embed(&Object{Type: TypePropertyValue, Name: "Model", Value: "sdxl"})},
		PublicKey: PublicKeys{{
			ID:           agent + "#main-key",
			Owner:        agent,
			PublicKeyPem: testPEM,
		}},
	}
}

func sampleInstanceActor() *Actor {
	return &Actor{
		Context:                   ActorContext(),
		ID:                        base + "/actor",
		Type:                      TypeApplication,
		PreferredUsername:         "aistagram.example",
		Inbox:                     IRI(base + "/actor/inbox"),
		Outbox:                    IRI(base + "/actor/outbox"),
		URL:                       URL(base + "/about"),
		ManuallyApprovesFollowers: new(true),
		PublicKey:                 PublicKeys{{ID: base + "/actor#main-key", Owner: base + "/actor", PublicKeyPem: testPEM}},
	}
}

func sampleNote() *Object {
	var attachments Refs
	for i := range 4 {
		attachments = append(attachments, Embed(&Object{
			Type:       TypeImage,
			MediaType:  "image/jpeg",
			URL:        URL(fmt.Sprintf("%s/media/42/%d.jpg", base, i)),
			Name:       fmt.Sprintf("Neon koi pond, panel %d", i+1),
			Width:      1024,
			Height:     1024,
			Blurhash:   "LEHV6nWB2yk8pyo0adR*.7kCMdnj",
			FocalPoint: []float64{0, 0.5},
		}))
	}
	return &Object{
		ID:           noteID,
		Type:         TypeNote,
		Published:    NewTime(published),
		URL:          URL(base + "/p/42"),
		AttributedTo: IRI(agent),
		To:           IRIs(PublicIRI),
		CC:           IRIs(agent + "/followers"),
		Sensitive:    new(false),
		Content:      `<p>Neon koi at dusk <a href="` + base + `/tags/surreal" class="mention hashtag" rel="tag">#<span>surreal</span></a></p>`,
		ContentMap:   map[string]string{"en": `<p>Neon koi at dusk</p>`},
		Attachment:   attachments,
		Tag: Refs{
			Embed(&Object{Type: TypeHashtag, Href: base + "/tags/surreal", Name: "#surreal"}),
			Embed(&Object{Type: TypeHashtag, Href: base + "/tags/koi", Name: "#koi"}),
		},
		Replies: Embed(&Collection{
			ID:   noteID + "/replies",
			Type: TypeCollection,
			First: Embed(&Collection{
				Type:   TypeCollectionPage,
				PartOf: IRI(noteID + "/replies"),
				Next:   IRI(noteID + "/replies?page=2"),
				Items:  IRIs(base + "/comments/7"),
			}),
		}),
		Likes:  Embed(&Collection{ID: noteID + "/likes", Type: TypeCollection, TotalItems: new(17)}),
		Shares: Embed(&Collection{ID: noteID + "/shares", Type: TypeCollection, TotalItems: new(0)}),
	}
}

func sampleCreate() *Activity {
	return &Activity{
		Context:   ObjectContext(),
		ID:        noteID + "/activity",
		Type:      TypeCreate,
		Actor:     IRI(agent),
		Published: NewTime(published),
		To:        IRIs(PublicIRI),
		CC:        IRIs(agent + "/followers"),
		Object:    Embed(sampleNote()),
	}
}

func sampleLike() *Activity {
	return &Activity{ID: base + "/likes/9", Type: TypeLike, Actor: IRI(agent), Object: IRI("https://masto.example/users/alice/statuses/1")}
}

func sampleUndoLike() *Activity {
	return &Activity{
		Context: ActivityContext(),
		ID:      base + "/activities/10",
		Type:    TypeUndo,
		Actor:   IRI(agent),
		Object:  Embed(sampleLike()),
	}
}

func sampleAcceptFollow() *Activity {
	follow := &Activity{
		ID:     "https://masto.example/0b6c1f7e",
		Type:   TypeFollow,
		Actor:  IRI("https://masto.example/users/alice"),
		Object: IRI(agent),
	}
	return &Activity{
		Context: ActivityContext(),
		ID:      base + "/activities/11",
		Type:    TypeAccept,
		Actor:   IRI(agent),
		Object:  Embed(follow),
	}
}

func sampleDeleteNote() *Activity {
	return &Activity{
		Context: ActivityContext(),
		ID:      noteID + "#delete",
		Type:    TypeDelete,
		Actor:   IRI(agent),
		To:      IRIs(PublicIRI),
		Object:  Embed(&Object{ID: noteID, Type: TypeTombstone}),
	}
}

func sampleTombstone() *Object {
	return &Object{
		Context:    ActivityContext(),
		ID:         noteID,
		Type:       TypeTombstone,
		FormerType: TypeNote,
		Published:  NewTime(published),
		Deleted:    NewTime(published.Add(time.Hour)),
	}
}

func sampleOutbox() *Collection {
	return &Collection{
		Context:    ActivityContext(),
		ID:         agent + "/outbox",
		Type:       TypeOrderedCollection,
		TotalItems: new(0), // an empty outbox still says 0: Mastodon shows the count
		First:      IRI(agent + "/outbox?page=true"),
		Last:       IRI(agent + "/outbox?min_id=0&page=true"),
	}
}

func sampleOutboxPage() *Collection {
	create := sampleCreate()
	create.Context = Context{} // embedded: @context only at the top
	return &Collection{
		Context:      ObjectContext(),
		ID:           agent + "/outbox?page=true",
		Type:         TypeOrderedCollectionPage,
		PartOf:       IRI(agent + "/outbox"),
		Next:         IRI(agent + "/outbox?max_id=41&page=true"),
		Prev:         IRI(agent + "/outbox?min_id=42&page=true"),
		OrderedItems: Refs{Embed(create)},
	}
}

func sampleFollowersPage() *Collection {
	return &Collection{
		Context:      ActivityContext(),
		ID:           agent + "/followers?page=1",
		Type:         TypeOrderedCollectionPage,
		TotalItems:   new(2),
		PartOf:       IRI(agent + "/followers"),
		OrderedItems: IRIs("https://masto.example/users/alice", "https://gts.example/users/bob"),
	}
}

// TestRoundTrip renders each kind of document we send, parses it back with
// the entry point the receiving side would use, renders again, and requires
// identical bytes and identical generic JSON (no field lost). It also checks
// the properties other servers need of our output.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		doc   any
		parse func([]byte) (any, error)
	}{
		{"actor", sampleActor(), parseActor},
		{"instance actor", sampleInstanceActor(), parseActor},
		{"note", withContext(sampleNote()), parseObject},
		{"create note", sampleCreate(), parseActivity},
		{"undo like", sampleUndoLike(), parseActivity},
		{"accept follow", sampleAcceptFollow(), parseActivity},
		{"delete tombstone", sampleDeleteNote(), parseActivity},
		{"tombstone", sampleTombstone(), parseObject},
		{"ordered collection", sampleOutbox(), parseCollection},
		{"ordered collection page", sampleOutboxPage(), parseCollection},
		{"followers page", sampleFollowersPage(), parseCollection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := mustMarshal(t, tc.doc)
			parsed, err := tc.parse(first)
			if err != nil {
				t.Fatalf("parse own output: %v\n%s", err, first)
			}
			second := mustMarshal(t, parsed)
			if !bytes.Equal(first, second) {
				t.Errorf("render → parse → render changed the bytes\nfirst:  %s\nsecond: %s", first, second)
			}
			assertSameJSON(t, first, second)

			if !bytes.HasPrefix(first, []byte(`{"@context":`)) {
				t.Errorf("@context is not first: %.60s", first)
			}
			if !HasASContext(first) {
				t.Error("no ActivityStreams context")
			}
			assertClean(t, first)
			if d := depth(first); d > 8 {
				t.Errorf("depth %d > 8: Pixelfed's json_decode would refuse it", d)
			}
			if bytes.Contains(first, []byte(`\u003c`)) {
				t.Error("HTML escaped in output")
			}
		})
	}
}

func withContext(o *Object) *Object { o.Context = ObjectContext(); return o }

func parseActor(b []byte) (any, error)      { return ParseActor(b) }
func parseObject(b []byte) (any, error)     { return ParseObject(b) }
func parseActivity(b []byte) (any, error)   { return ParseActivity(b) }
func parseCollection(b []byte) (any, error) { return ParseCollection(b) }

// TestParsedFieldsMatch checks field by field that the parsed structs hold
// what was rendered, through the accessors the inbox uses.
func TestParsedFieldsMatch(t *testing.T) {
	create, err := ParseActivity(mustMarshal(t, sampleCreate()))
	if err != nil {
		t.Fatal(err)
	}
	note, err := create.Object.AsObject()
	if err != nil {
		t.Fatal(err)
	}
	if got := len(note.Attachments()); got != 4 {
		t.Fatalf("attachments = %d", got)
	}
	img := note.Attachments()[3]
	eq(t, "image url", img.URL.Href(), base+"/media/42/3.jpg")
	eq(t, "image width", img.Width, 1024)
	eq(t, "image blurhash", img.Blurhash, "LEHV6nWB2yk8pyo0adR*.7kCMdnj")
	eq(t, "image focalPoint", fmt.Sprint(img.FocalPoint), "[0 0.5]")
	eq(t, "tags", len(note.Tags()), 2)
	eq(t, "hashtag", note.Tags()[1].Name, "#koi")
	likes, _ := note.Likes.AsCollection()
	eq(t, "likes", likes.Count(), 17)
	shares, _ := note.Shares.AsCollection()
	eq(t, "shares", shares.Count(), 0)
	replies, _ := note.Replies.AsCollection()
	page, _ := replies.First.AsCollection()
	eq(t, "reply", page.AllItems().First().ID(), base+"/comments/7")
	eq(t, "published", note.Published.Equal(published), true)

	undo, err := ParseActivity(mustMarshal(t, sampleUndoLike()))
	if err != nil {
		t.Fatal(err)
	}
	like, err := undo.Object.AsActivity()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "undone like object", like.ObjectID(), "https://masto.example/users/alice/statuses/1")
}

// TestGolden pins two documents byte for byte, so a change in field order
// or shape is a visible diff.
func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		doc  any
		want string
	}{
		{"accept follow", sampleAcceptFollow(), `{"@context":"https://www.w3.org/ns/activitystreams",
			"id":"https://aistagram.example/activities/11","type":"Accept",
			"actor":"https://aistagram.example/users/pixelbot",
			"object":{"id":"https://masto.example/0b6c1f7e","type":"Follow",
				"actor":"https://masto.example/users/alice","object":"https://aistagram.example/users/pixelbot"}}`},
		{"create note (first attachment only)", func() any {
			c := sampleCreate()
			n := sampleNote()
			n.Attachment = n.Attachment[:1]
			n.Tag = n.Tag[:1]
			c.Object = Embed(n)
			return c
		}(), `{"@context":["https://www.w3.org/ns/activitystreams",{"Hashtag":"as:Hashtag","blurhash":"toot:blurhash","focalPoint":{"@container":"@list","@id":"toot:focalPoint"},"sensitive":"as:sensitive","toot":"http://joinmastodon.org/ns#"}],
			"id":"https://aistagram.example/posts/42/activity","type":"Create",
			"actor":"https://aistagram.example/users/pixelbot","published":"2025-10-07T12:00:00Z",
			"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["https://aistagram.example/users/pixelbot/followers"],
			"object":{"id":"https://aistagram.example/posts/42","type":"Note","published":"2025-10-07T12:00:00Z",
				"url":"https://aistagram.example/p/42","attributedTo":"https://aistagram.example/users/pixelbot",
				"to":["https://www.w3.org/ns/activitystreams#Public"],"cc":["https://aistagram.example/users/pixelbot/followers"],
				"sensitive":false,
				"content":"<p>Neon koi at dusk <a href=\"https://aistagram.example/tags/surreal\" class=\"mention hashtag\" rel=\"tag\">#<span>surreal</span></a></p>",
				"contentMap":{"en":"<p>Neon koi at dusk</p>"},
				"attachment":[{"type":"Image","mediaType":"image/jpeg","name":"Neon koi pond, panel 1","url":"https://aistagram.example/media/42/0.jpg","width":1024,"height":1024,"blurhash":"LEHV6nWB2yk8pyo0adR*.7kCMdnj","focalPoint":[0,0.5]}],
				"tag":[{"type":"Hashtag","href":"https://aistagram.example/tags/surreal","name":"#surreal"}],
				"replies":{"id":"https://aistagram.example/posts/42/replies","type":"Collection","first":{"type":"CollectionPage","partOf":"https://aistagram.example/posts/42/replies","next":"https://aistagram.example/posts/42/replies?page=2","items":["https://aistagram.example/comments/7"]}},
				"likes":{"id":"https://aistagram.example/posts/42/likes","type":"Collection","totalItems":17},
				"shares":{"id":"https://aistagram.example/posts/42/shares","type":"Collection","totalItems":0}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := compact(t, tc.want)
			got := mustMarshal(t, tc.doc)
			if !bytes.Equal(got, want) {
				t.Errorf("golden mismatch\nwant: %s\ngot:  %s", want, got)
			}
		})
	}
}

// TestMarshalEscaping shows why Marshal exists: json.Marshal escapes HTML.
func TestMarshalEscaping(t *testing.T) {
	o := &Object{ID: "n", Type: TypeNote, Content: "<p>a & b</p>"}
	ours := mustMarshal(t, o)
	std, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ours, []byte(`"<p>a & b</p>"`)) {
		t.Errorf("Marshal escaped HTML: %s", ours)
	}
	if !bytes.Contains(std, []byte(`\u003cp\u003e`)) {
		t.Errorf("json.Marshal unexpectedly did not escape: %s", std)
	}
	assertSameJSON(t, ours, std)
}

// TestRenderedZeroValues checks that empty values vanish instead of
// rendering null, "" or [].
func TestRenderedZeroValues(t *testing.T) {
	tests := []struct {
		name string
		doc  any
		want string
	}{
		{"empty object", &Object{}, `{}`},
		{"empty activity", &Activity{}, `{}`},
		{"empty actor", &Actor{}, `{}`},
		{"empty collection", &Collection{}, `{}`},
		{"zero refs dropped from arrays", &Object{To: Refs{{}, IRI("a"), {}}}, `{"to":["a"]}`},
		{"only zero refs", &Object{To: Refs{{}}, URL: URLs{{}}}, `{}`},
		{"links without href dropped", &Object{URL: URLs{{}, {Href: "a"}}}, `{"url":"a"}`},
		{"IRIs skips empty", &Object{CC: IRIs("", "b")}, `{"cc":["b"]}`},
		{"URL of empty", &Object{URL: URL("")}, `{}`},
		{"explicit false kept", &Object{Sensitive: new(false)}, `{"sensitive":false}`},
		{"zero count kept", &Collection{TotalItems: new(0)}, `{"totalItems":0}`},
		{"url rich link is an object", &Object{URL: URLs{{Type: TypeLink, Href: "h", MediaType: "text/html"}}}, `{"url":{"type":"Link","href":"h","mediaType":"text/html"}}`},
		{"url several links", &Object{URL: URLs{{Href: "a"}, {Href: "b", MediaType: "image/png"}}}, `{"url":["a",{"href":"b","mediaType":"image/png"}]}`},
		{"Many renders an array", &Activity{Object: Many(IRI("a"), IRI("b"))}, `{"object":["a","b"]}`},
		{"time in UTC seconds", &Object{Published: NewTime(time.Date(2025, 1, 2, 5, 4, 5, 999, time.FixedZone("x", 3600)))}, `{"published":"2025-01-02T04:04:05Z"}`},
		{"extra after fields, known keys ignored", &Activity{Type: TypeLike, Extra: map[string]json.RawMessage{"type": []byte(`"Evil"`), "Type": []byte(`"Evil"`), "z": []byte(` 1 `), "a": []byte(`{"b": 2}`)}}, `{"type":"Like","a":{"b":2},"z":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(mustMarshal(t, tc.doc)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
