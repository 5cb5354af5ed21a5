package activitypub

import (
	"encoding/json"
	"fmt"
)

// JSON-LD contexts and namespaces used by Mastodon-compatible servers.
const (
	// ActivityStreamsContext must appear in every document's @context, as the
	// value or an element of the array: Mastodon silently drops activities
	// and refuses actors without it ("Unsupported JSON-LD context") and
	// GoToSocial errors.
	ActivityStreamsContext = "https://www.w3.org/ns/activitystreams"
	// SecurityContext defines publicKey and publicKeyPem; actors carry it.
	SecurityContext = "https://w3id.org/security/v1"
	// WebFingerContext is FEP-2c59's context for the actor's "webfinger"
	// property, which Mastodon 4.6+ prefers over preferredUsername@host.
	WebFingerContext = "https://purl.archive.org/socialweb/webfinger"
	// MastodonNamespace is the "toot:" prefix.
	MastodonNamespace = "http://joinmastodon.org/ns#"
	// SchemaNamespace is the "schema:" prefix used for PropertyValue fields.
	SchemaNamespace = "http://schema.org#"
)

// activityStreamsHTTP is the http spelling some older servers write; JSON-LD
// processors resolve it to the same document, so input accepts it.
const activityStreamsHTTP = "http://www.w3.org/ns/activitystreams"

// ActorExtensions returns the inline term definitions an actor's @context
// carries, the way Mastodon's context_helper.rb writes them. GoToSocial's
// go-fed resolver matches on these unprefixed names, so the exact shape
// matters more than JSON-LD correctness. The webfinger term is defined inline
// rather than by referencing WebFingerContext so that JSON-LD processors with
// a fixed set of preloaded contexts never need to fetch it.
func ActorExtensions() map[string]any {
	return map[string]any{
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
		"toot":                      MastodonNamespace,
		"featured":                  map[string]any{"@id": "toot:featured", "@type": "@id"},
		"featuredTags":              map[string]any{"@id": "toot:featuredTags", "@type": "@id"},
		"alsoKnownAs":               map[string]any{"@id": "as:alsoKnownAs", "@type": "@id"},
		"movedTo":                   map[string]any{"@id": "as:movedTo", "@type": "@id"},
		"schema":                    SchemaNamespace,
		"PropertyValue":             "schema:PropertyValue",
		"value":                     "schema:value",
		"discoverable":              "toot:discoverable",
		"indexable":                 "toot:indexable",
		"focalPoint":                map[string]any{"@container": "@list", "@id": "toot:focalPoint"},
		"webfinger":                 WebFingerContext + "#webfinger",
	}
}

// ObjectExtensions returns the inline term definitions a Note's (and its
// Create's) @context carries: sensitive and Hashtag live in as: but are not
// in the published ActivityStreams context, blurhash and focalPoint are
// Mastodon's.
func ObjectExtensions() map[string]any {
	return map[string]any{
		"sensitive":  "as:sensitive",
		"Hashtag":    "as:Hashtag",
		"toot":       MastodonNamespace,
		"blurhash":   "toot:blurhash",
		"focalPoint": map[string]any{"@container": "@list", "@id": "toot:focalPoint"},
	}
}

// Context is a JSON-LD @context value, kept as raw JSON: this package never
// expands JSON-LD (nor does Mastodon for plain activities), it only needs to
// render the known shapes and check for the ActivityStreams context.
type Context struct {
	raw json.RawMessage
}

// NewContext returns the @context made of entries: a single entry renders as
// that value alone, several as an array. Entries are strings (context IRIs)
// or maps of term definitions.
func NewContext(entries ...any) (Context, error) {
	var v any = entries
	if len(entries) == 1 {
		v = entries[0]
	}
	b, err := Marshal(v)
	if err != nil {
		return Context{}, fmt.Errorf("activitypub: context: %w", err)
	}
	return Context{raw: b}, nil
}

func mustContext(entries ...any) Context {
	c, err := NewContext(entries...)
	if err != nil {
		panic(err)
	}
	return c
}

var (
	actorContext    = mustContext(ActivityStreamsContext, SecurityContext, ActorExtensions())
	objectContext   = mustContext(ActivityStreamsContext, ObjectExtensions())
	activityContext = mustContext(ActivityStreamsContext)
)

// ActorContext is the @context of an actor document and of Update{actor}:
// ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1",
// {ActorExtensions}], Mastodon's shape.
func ActorContext() Context { return actorContext }

// ObjectContext is the @context of a Note and of the Create, Update or
// Announce carrying it: ["https://www.w3.org/ns/activitystreams",
// {ObjectExtensions}].
func ObjectContext() Context { return objectContext }

// ActivityContext is the plain "https://www.w3.org/ns/activitystreams", enough
// for Follow, Accept, Reject, Undo, Like, Delete, Block and collections, as
// Mastodon sends them.
func ActivityContext() Context { return activityContext }

// IsZero reports whether the context is absent.
func (c Context) IsZero() bool { return len(c.raw) == 0 }

// Raw is the context's JSON. Callers must not modify it.
func (c Context) Raw() json.RawMessage { return c.raw }

// HasAS reports whether the context is the ActivityStreams context or an
// array containing it, Mastodon's supported_context? test. The http spelling
// is accepted too.
func (c Context) HasAS() bool {
	isAS := func(s string) bool { return s == ActivityStreamsContext || s == activityStreamsHTTP }
	switch firstByte(c.raw) {
	case '"':
		var s string
		return json.Unmarshal(c.raw, &s) == nil && isAS(s)
	case '[':
		var items []json.RawMessage
		if json.Unmarshal(c.raw, &items) != nil {
			return false
		}
		for _, item := range items {
			var s string
			if json.Unmarshal(item, &s) == nil && isAS(s) {
				return true
			}
		}
	}
	return false
}

// MarshalJSON writes the context as stored.
func (c Context) MarshalJSON() ([]byte, error) { return c.appendJSON(nil) }

func (c Context) appendJSON(dst []byte) ([]byte, error) {
	if c.IsZero() {
		return append(dst, "null"...), nil
	}
	return append(dst, c.raw...), nil
}

// UnmarshalJSON keeps any JSON value; null is the absent context.
func (c *Context) UnmarshalJSON(data []byte) error {
	if firstByte(data) == 'n' {
		*c = Context{}
		return nil
	}
	c.raw = compactCopy(data)
	return nil
}

// HasASContext reports whether the JSON document data has an @context that
// contains the ActivityStreams context. The inbox should drop (after its 202)
// or refuse activities without it, as Mastodon and GoToSocial do, and
// federation should refuse fetched actors and objects without it.
func HasASContext(data []byte) bool { return CheckContext(data) == nil }

// CheckContext is [HasASContext] with a reason: it returns an error wrapping
// [ErrInvalid] and [ErrNoContext] when the context is missing or lacks the
// ActivityStreams context, or [ErrSyntax] when data is not a JSON object.
func CheckContext(data []byte) error {
	if err := checkDocument(data); err != nil {
		return err
	}
	var doc struct {
		Context Context `json:"@context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return invalid(err)
	}
	if !doc.Context.HasAS() {
		return fmt.Errorf("%w: %w", ErrInvalid, ErrNoContext)
	}
	return nil
}
