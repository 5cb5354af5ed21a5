package activitypub

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// byEncodingJSON renders v the way encodeFields did before structEncoder:
// encoding/json with HTML escaping off.
func byEncodingJSON(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// TestStructEncoderMatchesEncodingJSON: every document the tests build or
// parse renders to the very bytes encoding/json renders for it, the
// Mastodon fixtures (parsed with their whitespace) included, and zero and
// odd values too.
func TestStructEncoderMatchesEncodingJSON(t *testing.T) {
	tricky := "quote \" backslash \\ <b>&amp;</b> tab\t nl\n cr\r bs\b ff\f nul\x00 us\x1f del\x7f " +
		"bad \xff\xfe utf8 \u2028 \u2029 é 🎨 \xe2\x82"
	docs := map[string]any{
		"actor":          sampleActor(),
		"instance actor": sampleInstanceActor(),
		"note":           sampleNote(),
		"create":         sampleCreate(),
		"like":           sampleLike(),
		"undo like":      sampleUndoLike(),
		"accept":         sampleAcceptFollow(),
		"delete":         sampleDeleteNote(),
		"tombstone":      sampleTombstone(),
		"outbox":         sampleOutbox(),
		"outbox page":    sampleOutboxPage(),
		"followers page": sampleFollowersPage(),
		"zero object":    &Object{},
		"zero activity":  &Activity{},
		"zero actor":     &Actor{},
		"zero page":      &Collection{},
		// Depths summed, not scanned: several values in one Ref inside
		// Refs (one array), and an extra property nested deeper than any.
		"lists and extra": &Object{Type: TypeNote,
			Tag:   Refs{Many(IRI("https://a/t"), Embed(&Object{Type: TypeHashtag, Name: "#x"})), Embed(&Object{Type: TypeMention})},
			Extra: map[string]json.RawMessage{"deep": json.RawMessage(`{"a":[{"b":[1]}]}`)}},
		"tricky strings": &Object{ID: tricky, Type: Type(tricky), Name: tricky, Content: tricky,
			NameMap: map[string]string{"en": tricky, "<b>": "x"}, FocalPoint: []float64{-0.5, 1e-7, 0},
			Width: -3, Sensitive: new(false), URL: URL(tricky)},
	}
	for _, name := range []string{"actor-person.json", "create-note-reply.json", "update-actor.json",
		"undo-like.json", "flag.json", "misskey-like-reaction.json", "announce.json", "delete-actor.json"} {
		data := loadFixture(t, name)
		var generic map[string]any
		if err := json.Unmarshal(data, &generic); err != nil {
			t.Fatal(err)
		}
		var (
			doc any
			err error
		)
		switch generic["type"] {
		case "Person", "Service", "Application", "Group", "Organization":
			doc, err = ParseActor(data)
		default:
			doc, err = ParseActivity(data)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		docs[name] = doc
	}

	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			var (
				fields any
				fs     fieldSet
			)
			switch d := doc.(type) {
			case *Object:
				fields, fs = objectFields(*d), objectKeys
			case *Activity:
				fields, fs = activityFields(*d), activityKeys
			case *Actor:
				fields, fs = actorFields(*d), actorKeys
			case *Collection:
				fields, fs = collectionFields(*d), collectionKeys
			}
			want := byEncodingJSON(t, fields)
			got, gotDepth, err := fs.enc.encode(nil, reflect.ValueOf(fields))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("structEncoder:\n%s\nencoding/json:\n%s", got, want)
			}
			if wantDepth := depth(want); gotDepth != wantDepth {
				t.Errorf("depth %d, scanning says %d", gotDepth, wantDepth)
			}
			// With the extra properties, as Embed sees it.
			rendered, renderedDepth, err := asDocument(doc).render()
			if err != nil || renderedDepth != depth(rendered) {
				t.Errorf("render: depth %d, scanning says %d (%v)", renderedDepth, depth(rendered), err)
			}
		})
	}
}

// TestAppendStringMatchesEncodingJSON: every byte, every short invalid
// sequence and the characters JSON or JavaScript care about are escaped as
// encoding/json escapes them with HTML escaping off.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var cases []string
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "a"+string([]byte{byte(b)})+"z")
	}
	cases = append(cases, "", "plain", "<p>a &amp; b</p>", "\u2028\u2029", "é🎨",
		"\xe2\x82", "\xf0\x9f", "\xed\xa0\x80", "x\xc3", strings.Repeat("\"\\", 40))
	for _, s := range cases {
		checkAppendString(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("quote \" <b> \u2028 \xff")
	f.Add("\x00\x1f\x7f")
	f.Fuzz(checkAppendString)
}

func checkAppendString(t *testing.T, s string) {
	want := byEncodingJSON(t, s)
	if got := appendString(nil, s); !bytes.Equal(got, want) {
		t.Errorf("appendString(%q) = %s, encoding/json: %s (valid UTF-8: %v)", s, got, want, utf8.ValidString(s))
	}
}

// TestParsedValuesAreCompact: what parsing keeps (embedded objects, the
// context) is compacted once, so rendering can copy it unchanged.
func TestParsedValuesAreCompact(t *testing.T) {
	a, err := ParseActivity([]byte(`{
		"@context": [ "https://www.w3.org/ns/activitystreams", { "toot": "http://joinmastodon.org/ns#" } ],
		"id": "https://remote.example/a/1", "type": "Undo", "actor": "https://remote.example/u",
		"object": { "id": "https://remote.example/l/1", "type": "Like",
			"actor": "https://remote.example/u", "object": "https://aistagram.example/posts/1" } }`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var compacted bytes.Buffer
	if err := json.Compact(&compacted, b); err != nil {
		t.Fatalf("rendered invalid JSON %s: %v", b, err)
	}
	if !bytes.Equal(b, compacted.Bytes()) {
		t.Errorf("rendered with whitespace: %s", b)
	}
}

// BenchmarkOutboxPage renders what an outbox page holds: 20 Creates, each
// of a Note with an image, a hashtag and its replies, likes and shares.
func BenchmarkOutboxPage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		var items Refs
		for range 20 {
			note := sampleNote()
			note.Context = Context{}
			note.Replies = Embed(Collection{ID: noteID + "/replies", Type: TypeOrderedCollection,
				TotalItems: new(3), First: IRI(noteID + "/replies?page=1")})
			note.Likes = Embed(Collection{ID: noteID + "/likes", Type: TypeCollection, TotalItems: new(12)})
			note.Shares = Embed(Collection{ID: noteID + "/shares", Type: TypeCollection, TotalItems: new(0)})
			create := &Activity{ID: noteID + "/activity", Type: TypeCreate, Actor: IRI(agent),
				Published: note.Published, To: note.To, CC: note.CC, Object: Embed(note)}
			items = append(items, Embed(create))
		}
		page := &Collection{Context: ActivityContext(), ID: agent + "/outbox?page=1", Type: TypeOrderedCollectionPage,
			PartOf: IRI(agent + "/outbox"), Next: IRI(agent + "/outbox?page=1&cursor=x"), OrderedItems: items}
		if _, err := Marshal(page); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDepthSkipsStrings: brackets inside strings, escaped quotes and runs
// of backslashes do not count; depth matches a byte-by-byte scan.
func TestDepthSkipsStrings(t *testing.T) {
	byteByByte := func(data []byte) int {
		level, deepest, inString, escaped := 0, 0, false, false
		for _, c := range data {
			switch {
			case inString && escaped:
				escaped = false
			case inString && c == '\\':
				escaped = true
			case inString && c == '"':
				inString = false
			case inString:
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				level++
				deepest = max(deepest, level)
			case c == '}' || c == ']':
				level--
			}
		}
		return min(deepest, MaxDepth+1)
	}
	tests := []struct {
		doc  string
		want int
	}{
		{`{}`, 1},
		{`{"a":"{[{[{["}`, 1},
		{`{"a":"\"{[","b":[1]}`, 2},
		{`{"a":"\\","b":[[1]]}`, 3},
		{`{"a":"\\\"[[[","b":{}}`, 2},
		{`{"a":"\\\\","b":[{}]}`, 3},
		{`{"a":["x\\"],"b":"]]"}`, 2},
		{`{"a":"unterminated [[[`, 1},
		{strings.Repeat(`{"a":`, MaxDepth+3) + `1` + strings.Repeat(`}`, MaxDepth+3), MaxDepth + 1},
		{`[` + strings.Repeat(`"\"[",`, 50) + `{}]`, 2},
	}
	for _, tc := range tests {
		got := depth([]byte(tc.doc))
		if got != tc.want || got != byteByByte([]byte(tc.doc)) {
			t.Errorf("depth(%s) = %d, want %d (byte by byte: %d)", tc.doc, got, tc.want, byteByByte([]byte(tc.doc)))
		}
	}
}
