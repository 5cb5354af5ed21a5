package activitypub

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestActivityShapes feeds the shapes different servers use for the same
// property and checks that each reads the same way.
func TestActivityShapes(t *testing.T) {
	tests := []struct {
		name string
		json string
		test func(t *testing.T, a *Activity)
	}{
		{"actor as IRI", `{"id":"x","type":"Like","actor":"https://a.example/u","object":"o"}`,
			func(t *testing.T, a *Activity) { eq(t, "actor", a.ActorID(), "https://a.example/u") }},
		{"actor embedded (Pleroma)", `{"id":"x","type":"Like","actor":{"id":"https://a.example/u","type":"Person","inbox":"https://a.example/u/inbox"},"object":"o"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "actor", a.ActorID(), "https://a.example/u")
				eq(t, "actor type", a.Actor.Type(), TypePerson)
				p, err := a.Actor.AsActor()
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "inbox", p.Inbox.ID(), "https://a.example/u/inbox")
			}},
		{"actor as array", `{"id":"x","type":"Like","actor":["https://a.example/u"],"object":"o"}`,
			func(t *testing.T, a *Activity) { eq(t, "actor", a.ActorID(), "https://a.example/u") }},
		{"object as IRI", `{"id":"x","type":"Like","actor":"a","object":"https://b.example/n/1"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "object", a.ObjectID(), "https://b.example/n/1")
				eq(t, "embedded", a.Object.IsEmbedded(), false)
				eq(t, "type", a.Object.Type(), Type(""))
			}},
		{"object embedded", `{"id":"x","type":"Create","actor":"a","object":{"id":"https://b.example/n/1","type":"Note","content":"hi"}}`,
			func(t *testing.T, a *Activity) {
				eq(t, "object", a.ObjectID(), "https://b.example/n/1")
				eq(t, "type", a.Object.Type(), TypeNote)
				n, err := a.Object.AsObject()
				if err != nil {
					t.Fatal(err)
				}
				eq(t, "content", n.Content, "hi")
			}},
		{"object array of mixed", `{"id":"x","type":"Flag","actor":"a","object":["https://b.example/u",{"id":"https://b.example/n/1","type":"Note"},null]}`,
			func(t *testing.T, a *Activity) {
				if got := a.Object.IDs(); !slices.Equal(got, []string{"https://b.example/u", "https://b.example/n/1"}) {
					t.Errorf("ids = %v", got)
				}
				eq(t, "all", len(a.Object.All()), 2)
				eq(t, "second type", a.Object.All()[1].Type(), TypeNote)
			}},
		{"to and cc as strings", `{"id":"x","type":"Announce","actor":"a","object":"o","to":"https://www.w3.org/ns/activitystreams#Public","cc":"https://a.example/followers"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "to", len(a.To), 1)
				eq(t, "public", a.IsPublic(), true)
				eq(t, "cc", a.CC.Contains("https://a.example/followers"), true)
			}},
		{"as:Public", `{"id":"x","type":"Announce","actor":"a","object":"o","to":["as:Public"]}`,
			func(t *testing.T, a *Activity) { eq(t, "public", a.IsPublic(), true) }},
		{"Public short form in cc", `{"id":"x","type":"Announce","actor":"a","object":"o","cc":["Public"]}`,
			func(t *testing.T, a *Activity) {
				eq(t, "public", a.IsPublic(), true)
				eq(t, "to public", a.To.HasPublic(), false)
			}},
		{"not public", `{"id":"x","type":"Create","actor":"a","object":"o","to":["https://a.example/followers"]}`,
			func(t *testing.T, a *Activity) { eq(t, "public", a.IsPublic(), false) }},
		{"audience as objects", `{"id":"x","type":"Create","actor":"a","object":"o","to":[{"id":"https://a.example/u","type":"Person"}]}`,
			func(t *testing.T, a *Activity) { eq(t, "to", a.To.Contains("https://a.example/u"), true) }},
		{"type as array", `{"id":"x","type":["Like","Object"],"actor":"a","object":"o"}`,
			func(t *testing.T, a *Activity) { eq(t, "type", a.Type, TypeLike) }},
		{"unknown type without object", `{"id":"x","type":"Arrive","actor":"a"}`,
			func(t *testing.T, a *Activity) { eq(t, "type", a.Type, Type("Arrive")) }},
		{"EmojiReact", `{"id":"x","type":"EmojiReact","actor":"a","object":"o","content":"👍"}`,
			func(t *testing.T, a *Activity) { eq(t, "reaction", a.Reaction(), "👍") }},
		{"Move", `{"id":"x","type":"Move","actor":"https://old/u","object":"https://old/u","target":"https://new/u"}`,
			func(t *testing.T, a *Activity) { eq(t, "target", a.Target.ID(), "https://new/u") }},
		{"fractional published", `{"id":"x","type":"Like","actor":"a","object":"o","published":"2024-05-06T07:08:09.123Z"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "published", a.Published.Equal(time.Date(2024, 5, 6, 7, 8, 9, 123e6, time.UTC)), true)
			}},
		{"published with offset", `{"id":"x","type":"Like","actor":"a","object":"o","published":"2024-05-06T09:08:09.5+02:00"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "published", a.Published.Equal(time.Date(2024, 5, 6, 7, 8, 9, 5e8, time.UTC)), true)
			}},
		{"published without zone", `{"id":"x","type":"Like","actor":"a","object":"o","published":"2024-05-06T07:08:09"}`,
			func(t *testing.T, a *Activity) {
				eq(t, "published", a.Published.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)), true)
			}},
		{"unparsable published", `{"id":"x","type":"Like","actor":"a","object":"o","published":"yesterday"}`,
			func(t *testing.T, a *Activity) { eq(t, "zero", a.Published.IsZero(), true) }},
		{"nulls everywhere", `{"id":"x","type":"Like","actor":"a","object":"o","to":null,"cc":[null],"published":null,"content":null,"tag":null,"target":null}`,
			func(t *testing.T, a *Activity) {
				eq(t, "to", len(a.To), 0)
				eq(t, "cc", len(a.CC), 0)
				eq(t, "target", a.Target.IsZero(), true)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseActivity([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			tc.test(t, a)
		})
	}
}

// TestObjectShapes covers the properties of posts and attachments whose shape
// differs between servers.
func TestObjectShapes(t *testing.T) {
	tests := []struct {
		name string
		json string
		test func(t *testing.T, o *Object)
	}{
		{"contentMap only", `{"id":"n","type":"Note","contentMap":{"fr":"<p>salut</p>","de":"<p>hallo</p>"}}`,
			func(t *testing.T, o *Object) { eq(t, "content", o.BestContent(), "<p>hallo</p>") }},
		{"contentMap und", `{"id":"n","type":"Note","contentMap":{"fr":"<p>salut</p>","und":"<p>?</p>"}}`,
			func(t *testing.T, o *Object) { eq(t, "content", o.BestContent(), "<p>?</p>") }},
		{"content wins over contentMap", `{"id":"n","type":"Note","content":"<p>a</p>","contentMap":{"en":"<p>b</p>"}}`,
			func(t *testing.T, o *Object) { eq(t, "content", o.BestContent(), "<p>a</p>") }},
		{"nameMap only", `{"id":"n","type":"Article","nameMap":{"en":"Title"}}`,
			func(t *testing.T, o *Object) { eq(t, "name", o.BestName(), "Title") }},
		{"tag single object", `{"id":"n","type":"Note","tag":{"type":"Hashtag","href":"https://a/tags/x","name":"#x"}}`,
			func(t *testing.T, o *Object) {
				tags := o.Tags()
				if len(tags) != 1 || tags[0].Type != TypeHashtag || tags[0].Name != "#x" {
					t.Errorf("tags = %+v", tags)
				}
			}},
		{"tag IRIs are skipped by Tags", `{"id":"n","type":"Note","tag":["https://a/tags/x",{"type":"Mention","href":"https://a/u","name":"@u@a"}]}`,
			func(t *testing.T, o *Object) {
				eq(t, "refs", len(o.Tag), 2)
				eq(t, "objects", len(o.Tags()), 1)
			}},
		{"attachment single object", `{"id":"n","type":"Note","attachment":{"type":"Document","mediaType":"image/png","url":"https://a/1.png"}}`,
			func(t *testing.T, o *Object) {
				at := o.Attachments()
				if len(at) != 1 {
					t.Fatalf("attachments = %d", len(at))
				}
				eq(t, "url", at[0].URL.Href(), "https://a/1.png")
			}},
		{"attachment IRI", `{"id":"n","type":"Note","attachment":"https://a/media/1"}`,
			func(t *testing.T, o *Object) {
				eq(t, "refs", o.Attachment.IDs()[0], "https://a/media/1")
				eq(t, "objects", len(o.Attachments()), 0)
			}},
		{"url as Link object", `{"id":"n","type":"Note","url":{"type":"Link","href":"https://a/@u/1","mediaType":"text/html"}}`,
			func(t *testing.T, o *Object) { eq(t, "url", o.URL.Href(), "https://a/@u/1") }},
		{"url as array of Links (PeerTube)", `{"id":"n","type":"Video","url":[{"type":"Link","mediaType":"application/x-mpegURL","href":"https://a/v.m3u8"},{"type":"Link","mediaType":"text/html","href":"https://a/w/1"}]}`,
			func(t *testing.T, o *Object) {
				eq(t, "html", o.URL.HrefFor("text/html"), "https://a/w/1")
				eq(t, "first", o.URL.Href(), "https://a/v.m3u8")
				eq(t, "fallback", o.URL.HrefFor("image/"), "https://a/v.m3u8")
			}},
		{"url as mixed array", `{"id":"n","type":"Note","url":["https://a/1",{"href":"https://a/2.jpg","mediaType":"image/jpeg"},null]}`,
			func(t *testing.T, o *Object) {
				eq(t, "len", len(o.URL), 2)
				eq(t, "image", o.URL.HrefFor("image/"), "https://a/2.jpg")
			}},
		{"attachment url as Link array (Pixelfed)", `{"id":"n","type":"Note","attachment":[{"type":"Image","url":[{"type":"Link","href":"https://a/1.jpg","mediaType":"image/jpeg"}]}]}`,
			func(t *testing.T, o *Object) {
				eq(t, "url", o.Attachments()[0].URL.HrefFor("image/"), "https://a/1.jpg")
			}},
		{"inReplyTo embedded", `{"id":"n","type":"Note","inReplyTo":{"id":"https://a/n/0","type":"Note"}}`,
			func(t *testing.T, o *Object) { eq(t, "inReplyTo", o.InReplyTo.ID(), "https://a/n/0") }},
		{"attributedTo array (PeerTube)", `{"id":"n","type":"Video","attributedTo":[{"type":"Person","id":"https://a/accounts/u"},{"type":"Group","id":"https://a/video-channels/c"}]}`,
			func(t *testing.T, o *Object) {
				eq(t, "first", o.AttributedTo.ID(), "https://a/accounts/u")
				eq(t, "all", len(o.AttributedTo.All()), 2)
			}},
		{"likes as IRI", `{"id":"n","type":"Note","likes":"https://a/n/likes"}`,
			func(t *testing.T, o *Object) { eq(t, "likes", o.Likes.ID(), "https://a/n/likes") }},
		{"sensitive true", `{"id":"n","type":"Note","sensitive":true}`,
			func(t *testing.T, o *Object) { eq(t, "sensitive", o.IsSensitive(), true) }},
		{"tombstone", `{"id":"n","type":"Tombstone","formerType":"Note","deleted":"2025-01-01T00:00:00.000Z"}`,
			func(t *testing.T, o *Object) {
				eq(t, "formerType", o.FormerType, TypeNote)
				eq(t, "deleted", o.Deleted.Year(), 2025)
			}},
		{"extra kept", `{"id":"n","type":"Note","quote":"https://a/n/0","_misskey_content":"hi"}`,
			func(t *testing.T, o *Object) {
				eq(t, "quote", string(o.Extra["quote"]), `"https://a/n/0"`)
				out := string(mustMarshal(t, o))
				if !strings.Contains(out, `"_misskey_content":"hi","quote":"https://a/n/0"`) {
					t.Errorf("extras not rendered in key order: %s", out)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseObject([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			tc.test(t, o)
		})
	}
}

// TestActorShapes covers keys, inboxes and images in their various shapes.
func TestActorShapes(t *testing.T) {
	tests := []struct {
		name string
		json string
		test func(t *testing.T, a *Actor)
	}{
		{"publicKey array", `{"id":"https://a/u","type":"Person","publicKey":[{"id":"https://a/u#k1","owner":"https://a/u","publicKeyPem":"one"},{"id":"https://a/u#k2","owner":"https://a/u","publicKeyPem":"two"}]}`,
			func(t *testing.T, a *Actor) {
				k, ok := a.Key("https://a/u#k2")
				eq(t, "found", ok, true)
				eq(t, "pem", k.PublicKeyPem, "two")
				_, ok = a.Key("https://a/u#k3")
				eq(t, "missing", ok, false)
				// Several keys render as an array again.
				if !strings.Contains(string(mustMarshal(t, a)), `"publicKey":[{`) {
					t.Error("key array not kept")
				}
			}},
		{"publicKey IRI", `{"id":"https://a/u","type":"Person","publicKey":"https://a/u/main-key"}`,
			func(t *testing.T, a *Actor) {
				eq(t, "keys", len(a.PublicKey), 1)
				eq(t, "id", a.PublicKey[0].ID, "https://a/u/main-key")
			}},
		{"top-level sharedInbox", `{"id":"https://a/u","type":"Person","inbox":"https://a/u/inbox","sharedInbox":"https://a/inbox"}`,
			func(t *testing.T, a *Actor) { eq(t, "shared", a.PreferredInbox(), "https://a/inbox") }},
		{"no shared inbox (GoToSocial)", `{"id":"https://a/u","type":"Person","inbox":"https://a/u/inbox"}`,
			func(t *testing.T, a *Actor) { eq(t, "inbox", a.PreferredInbox(), "https://a/u/inbox") }},
		{"endpoints as IRI", `{"id":"https://a/u","type":"Person","endpoints":"https://a/u/endpoints"}`,
			func(t *testing.T, a *Actor) { eq(t, "shared", a.SharedInboxIRI(), "") }},
		{"icon as string", `{"id":"https://a/u","type":"Service","icon":"https://a/avatar.png"}`,
			func(t *testing.T, a *Actor) { eq(t, "icon", a.IconURL(), "https://a/avatar.png") }},
		{"icon as array of Images", `{"id":"https://a/u","type":"Person","icon":[{"type":"Image","url":"https://a/big.png"},{"type":"Image","url":"https://a/small.png"}]}`,
			func(t *testing.T, a *Actor) { eq(t, "icon", a.IconURL(), "https://a/big.png") }},
		{"header with Link url", `{"id":"https://a/u","type":"Person","image":{"type":"Image","url":{"type":"Link","href":"https://a/h.jpg","mediaType":"image/jpeg"}}}`,
			func(t *testing.T, a *Actor) { eq(t, "header", a.HeaderURL(), "https://a/h.jpg") }},
		{"alsoKnownAs string", `{"id":"https://a/u","type":"Person","alsoKnownAs":"https://b/u","movedTo":"https://b/u"}`,
			func(t *testing.T, a *Actor) {
				eq(t, "aka", a.AlsoKnownAs.Contains("https://b/u"), true)
				eq(t, "movedTo", a.MovedTo.ID(), "https://b/u")
			}},
		{"webfinger", `{"id":"https://a/u","type":"Service","webfinger":"u@a"}`,
			func(t *testing.T, a *Actor) { eq(t, "webfinger", a.Webfinger, "u@a") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseActor([]byte(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			tc.test(t, a)
		})
	}
}

// TestParseErrors checks that malformed documents are refused with ErrInvalid
// plus the specific reason, which the inbox turns into a 400.
func TestParseErrors(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth)
	tooDeep := `{"id":"x","type":"Like","actor":"a","object":` + strings.Repeat("[", MaxDepth) + `"o"` + strings.Repeat("]", MaxDepth) + `}`
	huge := `{"id":"x","type":"Like","actor":"a","object":"` + strings.Repeat("o", MaxDocumentSize) + `"}`
	tests := []struct {
		name  string
		parse func([]byte) error
		json  string
		want  error // besides ErrInvalid; nil means "must succeed"
	}{
		{"garbage", activity, `not json`, ErrSyntax},
		{"empty", activity, ``, ErrSyntax},
		{"truncated", activity, `{"id":"x","type":"Like"`, ErrSyntax},
		{"array document", activity, `[{"id":"x"}]`, ErrSyntax},
		{"string document", activity, `"https://a/u"`, ErrSyntax},
		{"missing type", activity, `{"id":"x","actor":"a","object":"o"}`, ErrMissingType},
		{"missing id", activity, `{"type":"Like","actor":"a","object":"o"}`, ErrMissingID},
		{"missing actor", activity, `{"id":"x","type":"Like","object":"o"}`, ErrMissingActor},
		{"empty actor", activity, `{"id":"x","type":"Like","actor":[],"object":"o"}`, ErrMissingActor},
		{"missing object", activity, `{"id":"x","type":"Undo","actor":"a"}`, ErrMissingObject},
		{"null object", activity, `{"id":"x","type":"Create","actor":"a","object":null}`, ErrMissingObject},
		{"actor is a number", activity, `{"id":"x","type":"Like","actor":42,"object":"o"}`, ErrSyntax},
		{"type is an object", activity, `{"id":"x","type":{},"actor":"a","object":"o"}`, ErrSyntax},
		{"case-variant key", activity, `{"id":"x","type":"Like","actor":"https://a/good","Actor":"https://a/evil","object":"o"}`, ErrInvalid},
		{"nested depth at limit", object, strings.Replace(deep, `{"a":`, `{"id":"n","type":"Note","a":`, 1), nil},
		{"nested too deep", activity, tooDeep, ErrTooDeep},
		{"too large", activity, huge, ErrTooLarge},
		{"actor of wrong type", actor, `{"id":"https://a/n","type":"Note"}`, ErrWrongType},
		{"actor without id", actor, `{"type":"Person"}`, ErrMissingID},
		{"object without type", object, `{"id":"n"}`, ErrMissingType},
		{"collection of wrong type", collection, `{"id":"c","type":"Note"}`, ErrWrongType},
		{"key without pem", key, `{"id":"https://a/u#main-key","owner":"https://a/u"}`, ErrMissingField},
		{"key without owner", key, `{"id":"https://a/u#main-key","publicKeyPem":"x"}`, ErrMissingField},
		{"key ok", key, `{"id":"https://a/u#main-key","owner":"https://a/u","publicKeyPem":"x"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse([]byte(tc.json))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want ErrInvalid and %v", err, tc.want)
			}
		})
	}
}

func activity(b []byte) error   { _, err := ParseActivity(b); return err }
func actor(b []byte) error      { _, err := ParseActor(b); return err }
func object(b []byte) error     { _, err := ParseObject(b); return err }
func collection(b []byte) error { _, err := ParseCollection(b); return err }
func key(b []byte) error        { _, err := ParseKey(b); return err }

// TestEmbeddedDecodeErrors checks the errors of the Ref accessors.
func TestEmbeddedDecodeErrors(t *testing.T) {
	if _, err := IRI("https://a/n").AsActivity(); !errors.Is(err, ErrNotEmbedded) {
		t.Errorf("IRI AsActivity: %v", err)
	}
	r := Embed(map[string]any{"id": "x", "type": "Note", "to": 42})
	if _, err := r.AsObject(); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad embedded object: %v, want ErrInvalid", err)
	}
	if _, err := EmbedRaw([]byte(`"https://a/n"`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("EmbedRaw of a string: %v", err)
	}
	if _, err := EmbedRaw([]byte(strings.Repeat("[", MaxDepth+1))); !errors.Is(err, ErrTooDeep) {
		t.Errorf("EmbedRaw too deep: %v", err)
	}
	// A document's depth is added up, not scanned: an object at the
	// limit is embedded, one level more is not.
	atLimit, err := EmbedRaw([]byte(strings.Repeat(`{"a":`, MaxDepth-2) + `1` + strings.Repeat(`}`, MaxDepth-2)))
	if err != nil {
		t.Fatal(err)
	}
	inTag := Embed(&Object{Type: TypeNote, Tag: Refs{atLimit}}) // object, array, then MaxDepth-2 levels
	if _, err := inTag.MarshalJSON(); err != nil || depth(inTag.Raw()) != MaxDepth {
		t.Errorf("embedding at the limit: %v (depth %d)", err, depth(inTag.Raw()))
	}
	if _, err := Embed(&Activity{Type: TypeCreate, Object: inTag}).MarshalJSON(); !errors.Is(err, ErrTooDeep) {
		t.Errorf("embedding past the limit: %v", err)
	}
	if _, err := Marshal(Activity{Type: TypeUndo, Object: Embed(make(chan int))}); err == nil {
		t.Error("embedding an unmarshallable value did not fail at render")
	}
}

// TestPeek reads id and type without decoding the rest.
func TestPeek(t *testing.T) {
	id, typ, err := Peek([]byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"https://a/u#main-key","type":["Key"],"owner":"https://a/u"}`))
	if err != nil || id != "https://a/u#main-key" || typ != TypeKey {
		t.Errorf("Peek = %q, %q, %v", id, typ, err)
	}
	if _, _, err := Peek([]byte(`nope`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Peek garbage: %v", err)
	}
}
