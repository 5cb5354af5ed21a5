package activitypub

import (
	"encoding/json"
	"reflect"
)

// Collection is a Collection, OrderedCollection, CollectionPage or
// OrderedCollectionPage: followers, following, outbox, featured, a Note's
// replies/likes/shares, and their pages.
//
// Mastodon reads totalItems of outbox, followers and following for the
// counts it shows, and treats a collection without first as hidden. A
// followers page lists actor ids; an outbox page embeds Create activities;
// featured embeds whole Notes (the only way posts show on a Mastodon profile
// before anyone follows).
type Collection struct {
	Context Context `json:"@context,omitzero"`
	ID      string  `json:"id,omitempty"`
	Type    Type    `json:"type,omitempty"`
	// TotalItems is a pointer so that a count of 0 is written (Mastodon shows
	// it) while an unknown count is omitted.
	TotalItems   *int `json:"totalItems,omitempty"`
	First        Ref  `json:"first,omitzero"`
	Last         Ref  `json:"last,omitzero"`
	PartOf       Ref  `json:"partOf,omitzero"`
	Next         Ref  `json:"next,omitzero"`
	Prev         Ref  `json:"prev,omitzero"`
	Items        Refs `json:"items,omitzero"`
	OrderedItems Refs `json:"orderedItems,omitzero"`

	// Extra holds undeclared properties, kept on round trip.
	Extra map[string]json.RawMessage `json:"-"`
}

type collectionFields Collection

var collectionKeys = fieldsOf(reflect.TypeFor[collectionFields]())

// MarshalJSON renders the declared properties in struct order, then Extra.
func (c Collection) MarshalJSON() ([]byte, error) {
	b, _, err := c.render()
	return b, err
}

// render is MarshalJSON through a pointer, with the depth Embed checks.
func (c *Collection) render() ([]byte, int, error) {
	return encodeFields((*collectionFields)(c), c.Extra, collectionKeys)
}

// UnmarshalJSON reads the declared properties tolerantly and keeps the rest
// in Extra.
func (c *Collection) UnmarshalJSON(data []byte) error {
	if firstByte(data) == 'n' {
		return nil // null leaves the value alone, as encoding/json expects
	}
	var f collectionFields
	extra, err := decodeFields(data, &f, collectionKeys)
	if err != nil {
		return err
	}
	*c = Collection(f)
	c.Extra = extra
	return nil
}

// Validate checks that a fetched collection has a collection type and an id.
func (c *Collection) Validate() error {
	if c.Type == "" {
		return invalidf(ErrMissingType, "collection")
	}
	if !c.Type.IsCollection() {
		return invalidf(ErrWrongType, "%q is not a collection type", c.Type)
	}
	if c.ID == "" {
		return invalidf(ErrMissingID, "%s", c.Type)
	}
	return nil
}

// AllItems returns orderedItems, or items when orderedItems is empty: servers
// mix the two up (an OrderedCollection with items, a page with orderedItems).
func (c *Collection) AllItems() Refs {
	if len(c.OrderedItems) > 0 {
		return c.OrderedItems
	}
	return c.Items
}

// Count returns totalItems, or -1 when the collection does not say.
func (c *Collection) Count() int {
	if c.TotalItems == nil {
		return -1
	}
	return *c.TotalItems
}
