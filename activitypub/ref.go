package activitypub

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotEmbedded is returned by the As* methods of a [Ref] that holds only an
// IRI: the node has to be fetched (or looked up) before it can be read. It
// does not wrap [ErrInvalid]; an IRI is a legitimate value, although Mastodon
// ignores an Undo{Like} whose object is a bare IRI and Pixelfed an Accept.
var ErrNotEmbedded = errors.New("activitypub: value is an IRI, not an embedded object")

// Ref is the value of a single-valued property that points at another node:
// actor, object, target, attributedTo, inReplyTo, icon, image, first, next,
// replies, likes... It is an IRI, an embedded JSON object, or (on input) an
// array of those, and the zero Ref is "absent" and is omitted on output.
//
// An embedded node is kept as the JSON it arrived as (or was rendered to) and
// decoded on demand with [Ref.AsObject], [Ref.AsActivity], [Ref.AsActor],
// [Ref.AsCollection] or [Ref.Decode]. Keeping the bytes is what lets an Undo
// re-embed the exact original activity, and keeps properties this package
// does not model.
//
// Arrays are kept too: Pleroma's and Mastodon's Flag send "object" as a list
// of the reported actor and posts, and PeerTube's attributedTo lists the
// account and its channel. [Ref.ID] and [Ref.Type] describe the first element,
// [Ref.All] returns every one, and output keeps the array.
type Ref struct {
	iri  string
	raw  json.RawMessage
	id   string
	typ  Type
	rest []Ref
	list bool
	err  error
	// depth is raw's nesting when known, 0 when it is still to be scanned.
	depth int
}

// IRI returns a Ref to the node named by iri, rendered as a bare string.
func IRI(iri string) Ref { return Ref{iri: iri} }

// Embed returns a Ref that renders v inline. v is marshalled now, so later
// changes to v do not show; a marshalling error is reported when the Ref
// itself is marshalled. v may also be a json.RawMessage holding an object.
// Embedded nodes should leave their Context empty: @context belongs at the
// top of a document, and every extra level counts against Pixelfed's JSON
// depth limit of 8.
func Embed(v any) Ref {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	default:
		d := asDocument(v)
		if d == nil {
			b, err := Marshal(v)
			if err != nil {
				return Ref{err: fmt.Errorf("activitypub: embed %T: %w", v, err)}
			}
			raw = b
			break
		}
		// A document struct says its own id and type, and its encoder its
		// depth: no need to parse or scan what was just rendered (outbox
		// pages embed a Note in a Create in a page, and parsing each again
		// was a fifth of their time).
		b, depth, err := d.render()
		if err != nil {
			return Ref{err: fmt.Errorf("activitypub: embed %T: %w", v, err)}
		}
		if depth > MaxDepth {
			return Ref{err: errTooDeep()}
		}
		id, typ := d.head()
		return Ref{raw: b, id: id, typ: typ, depth: depth}
	}
	r, err := EmbedRaw(raw)
	if err != nil {
		return Ref{err: err}
	}
	return r
}

// document is implemented by the document types (Object, Activity, Actor,
// Collection), which know their id and type and render themselves.
type document interface {
	head() (id string, typ Type)
	render() (b []byte, depth int, err error)
}

func (o *Object) head() (string, Type)     { return o.ID, o.Type }
func (a *Activity) head() (string, Type)   { return a.ID, a.Type }
func (a *Actor) head() (string, Type)      { return a.ID, a.Type }
func (c *Collection) head() (string, Type) { return c.ID, c.Type }

// asDocument returns v as a document when it is one of the document structs
// or a non-nil pointer to one. Their methods take pointers: an Object is
// 1.4 KB, and a value method called through an interface copies it (to the
// heap, when the copy's address reaches the encoder) on every call.
func asDocument(v any) document {
	switch x := v.(type) {
	case *Object:
		return nonNil(x)
	case *Activity:
		return nonNil(x)
	case *Actor:
		return nonNil(x)
	case *Collection:
		return nonNil(x)
	case Object:
		return &x
	case Activity:
		return &x
	case Actor:
		return &x
	case Collection:
		return &x
	}
	return nil
}

// nonNil is p as a document, or nil (not a document holding a nil pointer).
func nonNil[T any, P interface {
	*T
	document
}](p P) document {
	if p == nil {
		return nil
	}
	return p
}

// EmbedRaw returns a Ref that renders raw, a JSON object, inline and
// unchanged but for whitespace: use it to re-embed an activity exactly as it
// was received (the Follow inside an Accept, the Like inside an Undo). raw
// is checked against [MaxDepth] and copied compacted.
func EmbedRaw(raw json.RawMessage) (Ref, error) {
	d := depth(raw)
	if d > MaxDepth {
		return Ref{}, errTooDeep()
	}
	var r Ref
	if err := r.UnmarshalJSON(raw); err != nil {
		return Ref{}, err
	}
	if !r.IsEmbedded() || r.list {
		return Ref{}, fmt.Errorf("%w: %w: embedded value must be a JSON object", ErrInvalid, ErrSyntax)
	}
	r.depth = d
	return r, nil
}

// Many returns a Ref holding several values, rendered as a JSON array. Only
// Flag needs this; everywhere else a single-valued property has one value.
func Many(refs ...Ref) Ref {
	var all []Ref
	for _, r := range refs {
		all = append(all, r.All()...)
	}
	if len(all) == 0 {
		return Ref{}
	}
	out := all[0]
	out.rest = all[1:]
	out.list = true
	return out
}

// IsZero reports whether the property is absent.
func (r Ref) IsZero() bool { return r.iri == "" && r.raw == nil && r.err == nil }

// IsEmbedded reports whether the (first) value is an embedded object rather
// than an IRI.
func (r Ref) IsEmbedded() bool { return r.raw != nil }

// ID is the IRI, or the "id" of the embedded object ("" when it has none, as
// with Mastodon's embedded first page of replies or a Mention tag).
func (r Ref) ID() string {
	if r.raw != nil {
		return r.id
	}
	return r.iri
}

// Err is why Embed could not render its value, or nil; marshalling the
// Ref reports it too.
func (r Ref) Err() error { return r.err }

// Type is the "type" of the embedded object; "" for a bare IRI, whose type is
// unknown until it is fetched.
func (r Ref) Type() Type { return r.typ }

// Raw is the embedded object's JSON, or nil for an IRI. Callers must not
// modify it.
func (r Ref) Raw() json.RawMessage { return r.raw }

// All returns every value of the property: one element for a plain value,
// several when the property held an array, none when absent.
func (r Ref) All() []Ref {
	if r.IsZero() {
		return nil
	}
	first := r
	first.rest, first.list = nil, false
	return append([]Ref{first}, r.rest...)
}

// IDs returns the ID of every value, skipping embedded objects without one.
func (r Ref) IDs() []string { return Refs(r.All()).IDs() }

// Decode unmarshals the embedded object into v. It returns ErrNotEmbedded for
// an IRI.
func (r Ref) Decode(v any) error {
	if r.raw == nil {
		return ErrNotEmbedded
	}
	if err := json.Unmarshal(r.raw, v); err != nil {
		return invalid(err)
	}
	return nil
}

// AsObject decodes the embedded value as an [Object] (a Note, an Image
// attachment, a Tombstone, a Hashtag or Mention tag...).
func (r Ref) AsObject() (*Object, error) {
	var o Object
	if err := r.Decode(&o); err != nil {
		return nil, err
	}
	return &o, nil
}

// AsActivity decodes the embedded value as an [Activity]: the Follow inside
// an Accept, the Like inside an Undo. It does not validate it; call
// [Activity.Validate] when the inner activity must be complete.
func (r Ref) AsActivity() (*Activity, error) {
	var a Activity
	if err := r.Decode(&a); err != nil {
		return nil, err
	}
	return &a, nil
}

// AsActor decodes the embedded value as an [Actor], as in Update{Person}.
func (r Ref) AsActor() (*Actor, error) {
	var a Actor
	if err := r.Decode(&a); err != nil {
		return nil, err
	}
	return &a, nil
}

// AsCollection decodes the embedded value as a [Collection], such as the
// replies, likes and shares of a Note or a collection's first page.
func (r Ref) AsCollection() (*Collection, error) {
	var c Collection
	if err := r.Decode(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

// MarshalJSON renders an IRI as a string, an embedded object as its JSON, and
// several values as an array. The zero Ref renders as null, so fields of type
// Ref are tagged omitzero.
func (r Ref) MarshalJSON() ([]byte, error) { return r.appendJSON(nil) }

func (r Ref) appendJSON(dst []byte) ([]byte, error) {
	if !r.list {
		return r.appendOne(dst)
	}
	dst = append(dst, '[')
	dst, err := r.appendValues(dst)
	if err != nil {
		return nil, err
	}
	return append(dst, ']'), nil
}

// appendValues appends every value of the Ref, separated by commas: one
// array's elements, whether this Ref's own or among those of Refs.
func (r *Ref) appendValues(dst []byte) ([]byte, error) {
	dst, err := r.appendOne(dst)
	for i := 0; err == nil && i < len(r.rest); i++ {
		dst, err = r.rest[i].appendOne(append(dst, ','))
	}
	return dst, err
}

// jsonDepth is the nesting of what the Ref renders: 0 for an IRI, the
// embedded object's depth, or one more than its values' for an array.
func (r Ref) jsonDepth() int {
	if !r.list {
		return r.depthOne()
	}
	return 1 + r.valuesDepth()
}

// valuesDepth is the deepest of the Ref's values.
func (r *Ref) valuesDepth() int {
	deepest := r.depthOne()
	for i := range r.rest {
		deepest = max(deepest, r.rest[i].depthOne())
	}
	return deepest
}

func (r *Ref) depthOne() int {
	switch {
	case r.raw == nil:
		return 0
	case r.depth > 0:
		return r.depth
	}
	return depth(r.raw) // parsed, never scanned alone
}

// appendOne appends the first value alone.
func (r *Ref) appendOne(dst []byte) ([]byte, error) {
	switch {
	case r.err != nil:
		return nil, r.err
	case r.raw != nil:
		return append(dst, r.raw...), nil
	case r.iri != "":
		return appendString(dst, r.iri), nil
	}
	return append(dst, "null"...), nil
}

// UnmarshalJSON accepts a string, an object, an array of those, or null.
// Nulls inside an array are dropped (JSON-LD ignores them too); nested
// arrays are flattened.
func (r *Ref) UnmarshalJSON(data []byte) error {
	*r = Ref{}
	switch firstByte(data) {
	case 'n':
		return nil
	case '"':
		return json.Unmarshal(data, &r.iri)
	case '{':
		var head struct {
			ID   json.RawMessage `json:"id"`
			Type Type            `json:"type"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			return err
		}
		_ = json.Unmarshal(head.ID, &r.id) // a non-string id is no id
		r.typ = head.Type
		r.raw = compactCopy(data)
		return nil
	case '[':
		var items Refs
		if err := items.UnmarshalJSON(data); err != nil {
			return err
		}
		if len(items) == 0 {
			return nil
		}
		*r = Many(items...)
		return nil
	}
	return fmt.Errorf("activitypub: expected an IRI or an object, got %.20s", data)
}

// Refs is the value of a multi-valued property: to, cc, bto, bcc, audience,
// tag, attachment, alsoKnownAs, items, orderedItems. Input may be a single
// value or an array; output is always an array, because Pixelfed (PHP
// in_array and foreach) breaks on a bare string "to" or a single "attachment"
// object. Fields of type Refs are tagged omitzero, so an empty Refs is omitted.
type Refs []Ref

// IRIs returns Refs holding each iri, skipping empty strings.
func IRIs(iris ...string) Refs {
	var out Refs
	for _, s := range iris {
		if s != "" {
			out = append(out, IRI(s))
		}
	}
	return out
}

// IsZero reports whether no value is set, so that fields tagged omitzero
// vanish even when they hold only zero Refs (which would render as []).
func (rs Refs) IsZero() bool {
	for _, r := range rs {
		if !r.IsZero() {
			return false
		}
	}
	return true
}

// IDs returns the ID of every value, skipping embedded objects without one.
func (rs Refs) IDs() []string {
	var out []string
	for _, r := range rs {
		if id := r.ID(); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Contains reports whether some value has the given ID.
func (rs Refs) Contains(id string) bool {
	for _, r := range rs {
		if r.ID() == id {
			return true
		}
	}
	return false
}

// HasPublic reports whether some value is the public collection, in any of
// the spellings [IsPublic] accepts.
func (rs Refs) HasPublic() bool {
	for _, r := range rs {
		if IsPublic(r.ID()) {
			return true
		}
	}
	return false
}

// First returns the first value, or the zero Ref.
func (rs Refs) First() Ref {
	if len(rs) == 0 {
		return Ref{}
	}
	return rs[0]
}

// Objects decodes every embedded value as an [Object], skipping IRIs and
// values that do not decode: one malformed tag or attachment from a remote
// server should cost that item, not the whole post.
func (rs Refs) Objects() []*Object {
	var out []*Object
	for _, r := range rs {
		if o, err := r.AsObject(); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// MarshalJSON renders an array, leaving out zero Refs so no null appears.
func (rs Refs) MarshalJSON() ([]byte, error) { return rs.appendJSON(nil) }

// jsonDepth is one more than the deepest value's: Refs render one array,
// a Ref holding several values included.
func (rs Refs) jsonDepth() int {
	deepest := 0
	for i := range rs {
		deepest = max(deepest, rs[i].valuesDepth())
	}
	return 1 + deepest
}

func (rs Refs) appendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '[')
	n := 0
	for i := range rs {
		if rs[i].IsZero() {
			continue
		}
		if n++; n > 1 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = rs[i].appendValues(dst); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// UnmarshalJSON accepts a single IRI or object, an array of them, or null.
func (rs *Refs) UnmarshalJSON(data []byte) error {
	*rs = nil
	if firstByte(data) != '[' {
		var r Ref
		if err := r.UnmarshalJSON(data); err != nil {
			return err
		}
		*rs = Refs(r.All())
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(data, &items); err != nil {
		return err
	}
	var out Refs
	for _, item := range items {
		var r Ref
		if err := r.UnmarshalJSON(item); err != nil {
			return err
		}
		out = append(out, r.All()...)
	}
	*rs = out
	return nil
}
