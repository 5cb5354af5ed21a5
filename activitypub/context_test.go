package activitypub

import (
	"errors"
	"strings"
	"testing"
)

func TestHasASContext(t *testing.T) {
	tests := []struct {
		name string
		json string
		want bool
	}{
		{"string", `{"@context":"https://www.w3.org/ns/activitystreams","type":"Like"}`, true},
		{"array", `{"@context":["https://www.w3.org/ns/activitystreams","https://w3id.org/security/v1",{"toot":"http://joinmastodon.org/ns#"}]}`, true},
		{"array, AS not first", `{"@context":[{"x":"y"},"https://www.w3.org/ns/activitystreams"]}`, true},
		{"http spelling", `{"@context":"http://www.w3.org/ns/activitystreams"}`, true},
		{"missing", `{"id":"x","type":"Like"}`, false},
		{"null", `{"@context":null}`, false},
		{"other string", `{"@context":"https://w3id.org/security/v1"}`, false},
		{"array without AS", `{"@context":["https://w3id.org/security/v1",{"as":"https://www.w3.org/ns/activitystreams#"}]}`, false},
		{"object only", `{"@context":{"@vocab":"https://www.w3.org/ns/activitystreams"}}`, false},
		{"AS with fragment", `{"@context":"https://www.w3.org/ns/activitystreams#"}`, false},
		{"garbage", `nope`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HasASContext([]byte(tc.json)); got != tc.want {
				t.Errorf("HasASContext = %v, want %v", got, tc.want)
			}
		})
	}
	if err := CheckContext([]byte(`{"type":"Like"}`)); !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrNoContext) {
		t.Errorf("CheckContext without @context = %v", err)
	}
}

// TestContexts pins the rendered @context values, Mastodon's shapes.
func TestContexts(t *testing.T) {
	tests := []struct {
		name string
		ctx  Context
		want string
	}{
		{"actor", ActorContext(), `["https://www.w3.org/ns/activitystreams","https://w3id.org/security/v1",{
			"alsoKnownAs":{"@id":"as:alsoKnownAs","@type":"@id"},
			"discoverable":"toot:discoverable",
			"featured":{"@id":"toot:featured","@type":"@id"},
			"featuredTags":{"@id":"toot:featuredTags","@type":"@id"},
			"focalPoint":{"@container":"@list","@id":"toot:focalPoint"},
			"indexable":"toot:indexable",
			"manuallyApprovesFollowers":"as:manuallyApprovesFollowers",
			"movedTo":{"@id":"as:movedTo","@type":"@id"},
			"PropertyValue":"schema:PropertyValue",
			"schema":"http://schema.org#",
			"toot":"http://joinmastodon.org/ns#",
			"value":"schema:value",
			"webfinger":"https://purl.archive.org/socialweb/webfinger#webfinger"}]`},
		{"object", ObjectContext(), `["https://www.w3.org/ns/activitystreams",{
			"blurhash":"toot:blurhash",
			"focalPoint":{"@container":"@list","@id":"toot:focalPoint"},
			"Hashtag":"as:Hashtag",
			"sensitive":"as:sensitive",
			"toot":"http://joinmastodon.org/ns#"}]`},
		{"activity", ActivityContext(), `"https://www.w3.org/ns/activitystreams"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ctx.HasAS() {
				t.Error("HasAS = false")
			}
			assertSameJSON(t, compact(t, tc.want), tc.ctx.Raw())
		})
	}
	// The extension maps are copies: changing one does not change the
	// rendered context.
	ActorExtensions()["toot"] = "changed"
	if strings.Contains(string(ActorContext().Raw()), "changed") {
		t.Error("ActorContext changed")
	}
}
