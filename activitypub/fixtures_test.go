package activitypub

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aistagram/aistagram/activitypub/fixtures"
)

// check helpers keep the fixture table short.
func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func innerActivity(t *testing.T, a *Activity) *Activity {
	t.Helper()
	in, err := a.Object.AsActivity()
	if err != nil {
		t.Fatalf("embedded activity: %v", err)
	}
	if err := in.Validate(); err != nil {
		t.Errorf("embedded activity invalid: %v", err)
	}
	return in
}

func innerObject(t *testing.T, a *Activity) *Object {
	t.Helper()
	o, err := a.Object.AsObject()
	if err != nil {
		t.Fatalf("embedded object: %v", err)
	}
	return o
}

func checkAlice(t *testing.T, a *Actor, name string) {
	t.Helper()
	eq(t, "id", a.ID, peer+"/users/alice")
	eq(t, "type", a.Type, TypePerson)
	eq(t, "preferredUsername", a.PreferredUsername, "alice")
	eq(t, "name", a.BestName(), name)
	eq(t, "url", a.URL.Href(), peer+"/@alice")
	eq(t, "inbox", a.Inbox.ID(), peer+"/users/alice/inbox")
	eq(t, "outbox", a.Outbox.ID(), peer+"/users/alice/outbox")
	eq(t, "followers", a.Followers.ID(), peer+"/users/alice/followers")
	eq(t, "featured", a.Featured.ID(), peer+"/users/alice/collections/featured")
	eq(t, "featuredTags", a.FeaturedTags.ID(), peer+"/users/alice/collections/tags")
	eq(t, "sharedInbox", a.SharedInboxIRI(), peer+"/inbox")
	eq(t, "preferred inbox", a.PreferredInbox(), peer+"/inbox")
	eq(t, "manuallyApprovesFollowers", *a.ManuallyApprovesFollowers, false)
	eq(t, "discoverable", *a.Discoverable, true)
	eq(t, "indexable", *a.Indexable, false)
	eq(t, "published", a.Published.Year(), 2023)
	eq(t, "icon", a.IconURL(), peer+"/system/accounts/avatars/000/000/001/original/avatar.png")
	eq(t, "keys", len(a.PublicKey), 1)
	k, ok := a.Key(peer + "/users/alice#main-key")
	if !ok {
		t.Fatal("main key not found")
	}
	eq(t, "key owner", k.Owner, a.ID)
	eq(t, "key pem", k.PublicKeyPem, testPEM)
	fields := a.Attachment.Objects()
	if len(fields) != 1 {
		t.Fatalf("attachment: %d fields", len(fields))
	}
	eq(t, "field type", fields[0].Type, TypePropertyValue)
	eq(t, "field name", fields[0].Name, "Website")
	if !strings.Contains(fields[0].Value, `href="https://example.org"`) {
		t.Errorf("field value = %q", fields[0].Value)
	}
	if string(a.Extra["memorial"]) != "false" {
		t.Errorf("extra memorial = %s", a.Extra["memorial"])
	}
}

// TestFixtures parses every document in shared/fixtures/mastodon, checks the
// fields the inbox relies on, and checks that re-rendering the parsed value
// loses nothing but nulls and empty arrays.
func TestFixtures(t *testing.T) {
	tests := map[string]struct {
		actor bool // parse with ParseActor instead of ParseActivity
		check func(t *testing.T, a *Activity, actor *Actor)
	}{
		"actor-person.json": {actor: true, check: func(t *testing.T, _ *Activity, a *Actor) {
			checkAlice(t, a, "Alice 🌻")
		}},
		"announce.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeAnnounce)
			eq(t, "actor", a.ActorID(), peer+"/users/alice")
			eq(t, "object", a.ObjectID(), targetNote)
			eq(t, "embedded", a.Object.IsEmbedded(), false)
			eq(t, "public", a.IsPublic(), true)
			eq(t, "to public", a.To.HasPublic(), true)
			eq(t, "cc target", a.CC.Contains(targetActor), true)
			eq(t, "published", a.Published.UTC().Format("2006-01-02T15:04:05Z"), "2026-11-28T12:05:00Z")
		}},
		"block.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeBlock)
			eq(t, "id", a.ID, peer+"/5d1e2f3a-4b5c-4d6e-8f90-a1b2c3d4e5f6")
			eq(t, "object", a.ObjectID(), targetActor)
		}},
		"create-note-reply.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeCreate)
			eq(t, "object type", a.Object.Type(), TypeNote)
			eq(t, "object id", a.ObjectID(), peer+"/users/alice/statuses/111")
			if _, ok := a.Extra["signature"]; !ok {
				t.Error("LD signature not kept in Extra")
			}
			n := innerObject(t, a)
			if err := n.Validate(); err != nil {
				t.Error(err)
			}
			eq(t, "inReplyTo", n.InReplyTo.ID(), targetNote)
			eq(t, "attributedTo", n.AttributedTo.ID(), peer+"/users/alice")
			eq(t, "url", n.URL.Href(), peer+"/@alice/111")
			eq(t, "summary", n.Summary, "")
			eq(t, "sensitive", n.IsSensitive(), false)
			if n.Sensitive == nil {
				t.Error("explicit sensitive: false lost")
			}
			// Content is the remote HTML, unsanitised: the script tag is
			// still there for federation's sanitiser to remove.
			if !strings.Contains(n.BestContent(), "<script>alert(1)</script>") {
				t.Errorf("content = %q", n.Content)
			}
			eq(t, "contentMap", n.ContentMap["en"], "<p>@pixelbot this is gorgeous!</p>")
			eq(t, "cc target", n.CC.Contains(targetActor), true)
			eq(t, "to public", n.To.HasPublic(), true)
			eq(t, "attachments", len(n.Attachments()), 0)
			tags := n.Tags()
			if len(tags) != 1 {
				t.Fatalf("tags: %d", len(tags))
			}
			eq(t, "tag type", tags[0].Type, TypeMention)
			eq(t, "tag href", tags[0].Href, targetActor)
			eq(t, "tag name", tags[0].Name, "@pixelbot@aistagram.example")
			if string(n.Extra["atomUri"]) != `"`+peer+`/users/alice/statuses/111"` {
				t.Errorf("atomUri = %s", n.Extra["atomUri"])
			}
			likes, err := n.Likes.AsCollection()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "likes", likes.Count(), 0)
			replies, err := n.Replies.AsCollection()
			if err != nil {
				t.Fatal(err)
			}
			first, err := replies.First.AsCollection()
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "replies first type", first.Type, TypeCollectionPage)
			eq(t, "replies partOf", first.PartOf.ID(), replies.ID)
			eq(t, "replies next", first.Next.ID(), peer+"/users/alice/statuses/111/replies?only_other_accounts=true&page=true")
		}},
		"delete-actor.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeDelete)
			eq(t, "object is actor", a.ObjectID(), a.ActorID())
			if _, err := a.Object.AsObject(); !errors.Is(err, ErrNotEmbedded) {
				t.Errorf("AsObject on an IRI: %v, want ErrNotEmbedded", err)
			}
		}},
		"delete-note.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeDelete)
			eq(t, "object type", a.Object.Type(), TypeTombstone)
			eq(t, "object id", a.ObjectID(), peer+"/users/alice/statuses/111")
			ts := innerObject(t, a)
			if _, ok := ts.Extra["atomUri"]; !ok {
				t.Error("tombstone atomUri lost")
			}
		}},
		"flag.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeFlag)
			eq(t, "actor", a.ActorID(), peer+"/actor")
			eq(t, "content", a.Content, "Spam: posts the same image every ten minutes")
			if got := a.Object.IDs(); !slices.Equal(got, []string{targetActor, targetNote}) {
				t.Errorf("objects = %v", got)
			}
			eq(t, "first object", a.ObjectID(), targetActor)
		}},
		"follow.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeFollow)
			eq(t, "actor", a.ActorID(), peer+"/users/alice")
			eq(t, "object", a.ObjectID(), targetActor)
			eq(t, "public", a.IsPublic(), false)
		}},
		"like.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeLike)
			eq(t, "id", a.ID, peer+"/users/alice#likes/987")
			eq(t, "object", a.ObjectID(), targetNote)
			eq(t, "reaction", a.Reaction(), "")
			eq(t, "to", len(a.To), 0)
		}},
		"misskey-like-reaction.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeLike)
			eq(t, "object", a.ObjectID(), targetNote)
			eq(t, "reaction", a.Reaction(), "🔥")
		}},
		"undo-announce.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeUndo)
			in := innerActivity(t, a)
			eq(t, "inner type", in.Type, TypeAnnounce)
			eq(t, "inner id", in.ID, peer+"/users/alice/statuses/112/activity")
			eq(t, "inner object", in.ObjectID(), targetNote)
			eq(t, "inner actor", in.ActorID(), a.ActorID())
		}},
		"undo-follow.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeUndo)
			in := innerActivity(t, a)
			eq(t, "inner type", in.Type, TypeFollow)
			eq(t, "inner id", in.ID, peer+"/0b6c1f7e-3c1a-4f7e-9d2e-8a1b2c3d4e5f")
			eq(t, "inner object", in.ObjectID(), targetActor)
		}},
		"undo-like.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeUndo)
			eq(t, "object id", a.ObjectID(), peer+"/users/alice#likes/987")
			in := innerActivity(t, a)
			eq(t, "inner type", in.Type, TypeLike)
			eq(t, "inner object", in.ObjectID(), targetNote)
			// The embedded Like can be re-embedded byte for byte.
			again, err := EmbedRaw(a.Object.Raw())
			if err != nil {
				t.Fatal(err)
			}
			assertSameJSON(t, a.Object.Raw(), mustMarshal(t, again))
		}},
		"update-actor.json": {check: func(t *testing.T, a *Activity, _ *Actor) {
			eq(t, "type", a.Type, TypeUpdate)
			eq(t, "object type", a.Object.Type(), TypePerson)
			p, err := a.Object.AsActor()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Validate(); err != nil {
				t.Error(err)
			}
			checkAlice(t, p, "Alice (renamed)")
		}},
	}

	// Every fixture must be in the table, so a new one is not silently
	// ignored.
	files, err := filepath.Glob(filepath.Join(fixtures.Dir(t, "mastodon"), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures found: %v", err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("fixture %s has no test case", filepath.Base(f))
		}
	}

	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := loadFixture(t, name)
			if !HasASContext(data) {
				t.Error("HasASContext = false")
			}
			var rendered []byte
			if tc.actor {
				a, err := ParseActor(data)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, nil, a)
				rendered = mustMarshal(t, a)
			} else {
				a, err := ParseActivity(data)
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, a, nil)
				rendered = mustMarshal(t, a)
			}
			// Embedded nodes are kept verbatim, nulls included, so prune both.
			want, got := prune(generic(t, data)), prune(generic(t, rendered))
			if !equalJSON(want, got) {
				t.Errorf("re-rendering lost or changed fields\nwant: %s\ngot:  %s", data, rendered)
			}
		})
	}
}

func equalJSON(a, b any) bool {
	ab, _ := Marshal(a)
	bb, _ := Marshal(b)
	return string(ab) == string(bb)
}

// TestFixturesDirRequired documents that the fixture lookup must succeed.
func TestFixturesDirRequired(t *testing.T) {
	dir := fixtures.Dir(t, "mastodon")
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("fixtures README missing: %v", err)
	}
}
