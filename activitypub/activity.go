package activitypub

import (
	"encoding/json"
	"reflect"
)

// Activity is any activity: Create, Update, Delete, Follow, Accept, Reject,
// Undo, Like, Announce, Block, Flag, Move, Add, Remove, and the ones only some
// servers send (Dislike, EmojiReact).
//
// Object is a [Ref]: a bare IRI (Like, Follow, Announce, Delete of an actor),
// an embedded node kept as raw JSON (the Note of a Create, the Follow inside
// an Accept, the Like inside an Undo, the Tombstone of a Delete), or for Flag
// a list of the reported actor and posts ([Ref.All]).
//
// Two receiving rules decide how to render: Mastodon ignores an Undo{Like}
// whose object is a bare IRI and Pixelfed ignores an Accept whose object is
// not an embedded Follow with actor and object, so embed those in full.
type Activity struct {
	Context   Context `json:"@context,omitzero"`
	ID        string  `json:"id,omitempty"`
	Type      Type    `json:"type,omitempty"`
	Actor     Ref     `json:"actor,omitzero"`
	Published Time    `json:"published,omitzero"`
	Updated   Time    `json:"updated,omitzero"`
	// To and CC: Mastodon's Like, Follow, Accept and Undo carry none.
	To       Refs `json:"to,omitzero"`
	CC       Refs `json:"cc,omitzero"`
	Bto      Refs `json:"bto,omitzero"`
	BCC      Refs `json:"bcc,omitzero"`
	Audience Refs `json:"audience,omitzero"`
	// Summary and Content are the comment of a Flag, or the emoji of a
	// Misskey Like reaction or a Pleroma EmojiReact.
	Summary    string            `json:"summary,omitempty"`
	Content    string            `json:"content,omitempty"`
	ContentMap map[string]string `json:"contentMap,omitempty"`
	// Tag carries the custom Emoji of a reaction.
	Tag    Refs `json:"tag,omitzero"`
	Object Ref  `json:"object,omitzero"`
	// Target is the new account of a Move, or the collection of Add/Remove.
	Target Ref `json:"target,omitzero"`

	// Extra holds undeclared properties, e.g. the JSON-LD "signature"
	// Mastodon attaches to Deletes (ignore it: the HTTP signature is what
	// counts) or Misskey's "_misskey_reaction", kept on round trip.
	Extra map[string]json.RawMessage `json:"-"`
}

type activityFields Activity

var activityKeys = fieldsOf(reflect.TypeFor[activityFields]())

// MarshalJSON renders the declared properties in struct order, then Extra.
func (a Activity) MarshalJSON() ([]byte, error) {
	b, _, err := a.render()
	return b, err
}

// render is MarshalJSON through a pointer, with the depth Embed checks.
func (a *Activity) render() ([]byte, int, error) {
	return encodeFields((*activityFields)(a), a.Extra, activityKeys)
}

// UnmarshalJSON reads the declared properties tolerantly and keeps the rest
// in Extra.
func (a *Activity) UnmarshalJSON(data []byte) error {
	if firstByte(data) == 'n' {
		return nil // null leaves the value alone, as encoding/json expects
	}
	var f activityFields
	extra, err := decodeFields(data, &f, activityKeys)
	if err != nil {
		return err
	}
	*a = Activity(f)
	a.Extra = extra
	return nil
}

// Validate checks what the inbox needs before storing an activity: a type, an
// id (the inbox deduplicates on it, and Mastodon matches Undo and Accept by
// it), an actor (compared with the signer), and an object for every type that
// is meaningless without one. Types this package does not know need no
// object: they are accepted and ignored, as Mastodon does.
func (a *Activity) Validate() error {
	if a.Type == "" {
		return invalidf(ErrMissingType, "activity")
	}
	if a.ID == "" {
		return invalidf(ErrMissingID, "%s", a.Type)
	}
	if a.Actor.ID() == "" {
		return invalidf(ErrMissingActor, "%s %s", a.Type, a.ID)
	}
	if a.Type.NeedsObject() && a.Object.IsZero() {
		return invalidf(ErrMissingObject, "%s %s", a.Type, a.ID)
	}
	return nil
}

// ActorID is the id of the actor (usually a bare IRI, but Pleroma may embed
// the actor object).
func (a *Activity) ActorID() string { return a.Actor.ID() }

// ObjectID is the id of the (first) object, embedded or not.
func (a *Activity) ObjectID() string { return a.Object.ID() }

// IsPublic reports whether the public collection is in to or cc.
func (a *Activity) IsPublic() bool { return a.To.HasPublic() || a.CC.HasPublic() }

// Reaction returns the emoji of a reaction: Misskey sends a Like with
// "_misskey_reaction" (and the same in content), Pleroma/Akkoma an
// EmojiReact with content. "" for a plain Like.
func (a *Activity) Reaction() string {
	if raw, ok := a.Extra["_misskey_reaction"]; ok {
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return a.Content
}
