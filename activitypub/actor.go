package activitypub

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Actor is a Person, Service, Application, Group or Organization. Agents are
// rendered as Service (Mastodon and GoToSocial show it as a bot) and the
// instance actor, which signs our fetches, as Application.
//
// What Mastodon requires of an actor it accepts: ActivityStreams in
// @context, one of the five types, an id equal to the URL it fetched, a
// preferredUsername (or webfinger) and a non-empty inbox, and a publicKey
// object whose owner is the actor.
type Actor struct {
	Context           Context `json:"@context,omitzero"`
	ID                string  `json:"id,omitempty"`
	Type              Type    `json:"type,omitempty"`
	PreferredUsername string  `json:"preferredUsername,omitempty"`
	// Webfinger is FEP-2c59's "user@host"; Mastodon 4.6+ prefers it to
	// preferredUsername plus the host of the id.
	Webfinger  string            `json:"webfinger,omitempty"`
	Name       string            `json:"name,omitempty"`
	NameMap    map[string]string `json:"nameMap,omitempty"`
	Summary    string            `json:"summary,omitempty"`
	SummaryMap map[string]string `json:"summaryMap,omitempty"`
	// URL is the HTML profile; Mastodon ignores it when its host differs
	// from the id's.
	URL          URLs      `json:"url,omitzero"`
	Inbox        Ref       `json:"inbox,omitzero"`
	Outbox       Ref       `json:"outbox,omitzero"`
	Followers    Ref       `json:"followers,omitzero"`
	Following    Ref       `json:"following,omitzero"`
	Featured     Ref       `json:"featured,omitzero"`
	FeaturedTags Ref       `json:"featuredTags,omitzero"`
	Endpoints    Endpoints `json:"endpoints,omitzero"`
	// SharedInbox at the top level is what some servers send instead of
	// endpoints.sharedInbox; Mastodon accepts both.
	SharedInbox string `json:"sharedInbox,omitempty"`
	// ManuallyApprovesFollowers false (or absent) means follows are accepted
	// at once; true shows the account as locked.
	ManuallyApprovesFollowers *bool `json:"manuallyApprovesFollowers,omitempty"`
	// Discoverable and Indexable default to false in Mastodon when absent,
	// which hides the account from the directory and its posts from search.
	Discoverable *bool `json:"discoverable,omitempty"`
	Indexable    *bool `json:"indexable,omitempty"`
	Published    Time  `json:"published,omitzero"`
	Updated      Time  `json:"updated,omitzero"`
	// Icon (avatar) and Image (header) must be embedded Image objects:
	// Mastodon dereferences a bare string as an ActivityPub object, so a
	// plain image URL gives no avatar.
	Icon  Ref `json:"icon,omitzero"`
	Image Ref `json:"image,omitzero"`
	// Attachment holds PropertyValue profile fields (Mastodon reads up to
	// 50, GoToSocial 6).
	Attachment  Refs       `json:"attachment,omitzero"`
	Tag         Refs       `json:"tag,omitzero"`
	AlsoKnownAs Refs       `json:"alsoKnownAs,omitzero"`
	MovedTo     Ref        `json:"movedTo,omitzero"`
	PublicKey   PublicKeys `json:"publicKey,omitempty"`

	// Extra holds undeclared properties (suspended, memorial,
	// attributionDomains...), kept on round trip.
	Extra map[string]json.RawMessage `json:"-"`
}

type actorFields Actor

var actorKeys = fieldsOf(reflect.TypeFor[actorFields]())

// MarshalJSON renders the declared properties in struct order, then Extra.
func (a Actor) MarshalJSON() ([]byte, error) {
	b, _, err := a.render()
	return b, err
}

// render is MarshalJSON through a pointer, with the depth Embed checks.
func (a *Actor) render() ([]byte, int, error) {
	return encodeFields((*actorFields)(a), a.Extra, actorKeys)
}

// UnmarshalJSON reads the declared properties tolerantly and keeps the rest
// in Extra.
func (a *Actor) UnmarshalJSON(data []byte) error {
	if firstByte(data) == 'n' {
		return nil // null leaves the value alone, as encoding/json expects
	}
	var f actorFields
	extra, err := decodeFields(data, &f, actorKeys)
	if err != nil {
		return err
	}
	*a = Actor(f)
	a.Extra = extra
	return nil
}

// Validate checks an actor the way Mastodon does before accepting it: a type
// among the five actor types and an id. It does not require an inbox, so
// that GoToSocial's key-only stub actor (served at /main-key) still parses;
// check [Actor.Inbox] before delivering.
func (a *Actor) Validate() error {
	if a.Type == "" {
		return invalidf(ErrMissingType, "actor")
	}
	if !a.Type.IsActor() {
		return invalidf(ErrWrongType, "%q is not an actor type", a.Type)
	}
	if a.ID == "" {
		return invalidf(ErrMissingID, "%s", a.Type)
	}
	return nil
}

// SharedInboxIRI returns endpoints.sharedInbox, else the top-level
// sharedInbox, else "". GoToSocial has none.
func (a *Actor) SharedInboxIRI() string {
	if a.Endpoints.SharedInbox != "" {
		return a.Endpoints.SharedInbox
	}
	return a.SharedInbox
}

// PreferredInbox is where fan-out of posts goes: the shared inbox when the
// actor has one, else its own inbox. Follow, Accept, Undo, Like and Block go
// to the personal Inbox instead (GoToSocial identifies the accepted follower
// by the inbox an Accept lands in).
func (a *Actor) PreferredInbox() string {
	if s := a.SharedInboxIRI(); s != "" {
		return s
	}
	return a.Inbox.ID()
}

// Key returns the public key whose id is keyID. Some servers publish several
// keys as an array (Mastodon reads up to 10); a signature names the one used.
func (a *Actor) Key(keyID string) (PublicKey, bool) {
	for _, k := range a.PublicKey {
		if k.ID == keyID {
			return k, true
		}
	}
	return PublicKey{}, false
}

// IconURL returns the avatar's image URL, or "". A bare string icon is taken
// as the image URL itself, which is what most servers mean by it.
func (a *Actor) IconURL() string { return imageHref(a.Icon) }

// HeaderURL returns the header image's URL, or "".
func (a *Actor) HeaderURL() string { return imageHref(a.Image) }

func imageHref(r Ref) string {
	if !r.IsEmbedded() {
		return r.ID()
	}
	o, err := r.AsObject()
	if err != nil {
		return ""
	}
	if h := o.URL.HrefFor("image/"); h != "" {
		return h
	}
	return o.Href
}

// BestName is the display name, falling back to nameMap like
// [Object.BestContent]. Mastodon falls back to the username when it is empty.
func (a *Actor) BestName() string { return pickLang(a.Name, a.NameMap) }

// BestSummary is the bio (remote HTML: sanitise it), falling back to summaryMap.
func (a *Actor) BestSummary() string { return pickLang(a.Summary, a.SummaryMap) }

// Endpoints is an actor's endpoints object. Only sharedInbox matters here;
// other endpoints (oauth, proxyUrl) are ignored.
type Endpoints struct {
	SharedInbox string `json:"sharedInbox,omitempty"`
}

// UnmarshalJSON accepts the object, and ignores the IRI form AS2 also allows
// (it would have to be fetched, and nobody sends it).
func (e *Endpoints) UnmarshalJSON(data []byte) error {
	*e = Endpoints{}
	if firstByte(data) != '{' {
		return nil
	}
	type plain Endpoints
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	*e = Endpoints(p)
	return nil
}

// PublicKey is an actor's RSA key for HTTP Signatures. ID must equal the
// keyId of our signatures (<actor>#main-key; GoToSocial uses <actor>/main-key),
// Owner the actor id, and PublicKeyPem an SPKI "BEGIN PUBLIC KEY" block.
type PublicKey struct {
	ID           string `json:"id,omitempty"`
	Type         Type   `json:"type,omitempty"`
	Owner        string `json:"owner,omitempty"`
	PublicKeyPem string `json:"publicKeyPem,omitempty"`
}

// Validate checks what verifying a signature with the key needs.
func (k *PublicKey) Validate() error {
	switch {
	case k.ID == "":
		return invalidf(ErrMissingID, "key")
	case k.Owner == "":
		return invalidf(ErrMissingField, "key has no owner")
	case k.PublicKeyPem == "":
		return invalidf(ErrMissingField, "key has no publicKeyPem")
	}
	return nil
}

// PublicKeys is the publicKey property. Output writes a single key as an
// object, never an array: Pixelfed reads publicKey.id and
// publicKey.publicKeyPem directly. Input accepts an object, an array of keys
// (pick one with [Actor.Key]), or a bare key IRI.
type PublicKeys []PublicKey

// MarshalJSON writes one key as an object and several as an array.
func (ks PublicKeys) MarshalJSON() ([]byte, error) {
	if len(ks) == 1 {
		return Marshal(ks[0])
	}
	return Marshal([]PublicKey(ks))
}

func (ks PublicKeys) appendJSON(dst []byte) ([]byte, error) {
	b, err := ks.MarshalJSON()
	return append(dst, b...), err
}

// UnmarshalJSON accepts an object, an array of objects or IRIs, an IRI, or
// null.
func (ks *PublicKeys) UnmarshalJSON(data []byte) error {
	*ks = nil
	one := func(b []byte) (PublicKey, error) {
		var k PublicKey
		switch firstByte(b) {
		case '"':
			err := json.Unmarshal(b, &k.ID)
			return k, err
		case '{':
			err := json.Unmarshal(b, &k)
			return k, err
		}
		return k, fmt.Errorf("activitypub: publicKey must be an object or an IRI, got %.20s", b)
	}
	switch firstByte(data) {
	case 'n':
		return nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return err
		}
		for _, item := range items {
			if firstByte(item) == 'n' {
				continue
			}
			k, err := one(item)
			if err != nil {
				return err
			}
			*ks = append(*ks, k)
		}
		return nil
	}
	k, err := one(data)
	if err != nil {
		return err
	}
	*ks = PublicKeys{k}
	return nil
}
