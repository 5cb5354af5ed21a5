package activitypub

import (
	"encoding/json"
	"reflect"
	"slices"
)

// Object is any non-actor, non-activity, non-collection node: a Note (a post
// or a comment), an Image or Document attachment, a Tombstone, a Hashtag or
// Mention tag, a PropertyValue profile field, an Emoji. It carries the union
// of the properties those types use; unused ones stay zero and are omitted.
//
// Rendering rules that keep posts visible elsewhere (interop checklist §6):
// attachments are Image objects whose url is a plain string and which have no
// href (Mastodon treats an attachment with href as a link preview); the
// caption goes in content, never in summary (Mastodon shows summary as a
// content warning and collapses the post); to and cc are set on the Note as
// well as on its Create (Pixelfed returns early without object.to).
type Object struct {
	Context Context `json:"@context,omitzero"`
	ID      string  `json:"id,omitempty"`
	Type    Type    `json:"type,omitempty"`
	// Href is the target of a Mention (the actor id) or Hashtag (the tag page).
	Href      string `json:"href,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Name is a tag's "#tag" or "@user@host", an attachment's alt text (read
	// by Pixelfed; Mastodon and GoToSocial read summary first, then name), or
	// a PropertyValue's label.
	Name    string            `json:"name,omitempty"`
	NameMap map[string]string `json:"nameMap,omitempty"`
	// Summary is the content warning of a Note.
	Summary    string            `json:"summary,omitempty"`
	SummaryMap map[string]string `json:"summaryMap,omitempty"`
	InReplyTo  Ref               `json:"inReplyTo,omitzero"`
	Published  Time              `json:"published,omitzero"`
	Updated    Time              `json:"updated,omitzero"`
	// URL is the human permalink of a Note (Pixelfed fetches unknown posts by
	// url first, so it must content-negotiate) or the file of an attachment.
	URL          URLs `json:"url,omitzero"`
	AttributedTo Ref  `json:"attributedTo,omitzero"`
	To           Refs `json:"to,omitzero"`
	CC           Refs `json:"cc,omitzero"`
	// Bto and BCC are read on input only; they must be stripped before
	// delivery and never rendered in a public document.
	Bto        Refs              `json:"bto,omitzero"`
	BCC        Refs              `json:"bcc,omitzero"`
	Audience   Refs              `json:"audience,omitzero"`
	Sensitive  *bool             `json:"sensitive,omitempty"`
	Content    string            `json:"content,omitempty"`
	ContentMap map[string]string `json:"contentMap,omitempty"`
	// Value is a PropertyValue's HTML value (schema:value).
	Value string `json:"value,omitempty"`
	// Width and Height of an attachment: Pixelfed rejects the whole post when
	// either is outside 1..5000, so leave them zero for larger images.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Blurhash must use at most 5×5 components for Mastodon and be 6–164
	// characters for Pixelfed.
	Blurhash string `json:"blurhash,omitempty"`
	// FocalPoint is Mastodon's [x, y], each in -1..1.
	FocalPoint []float64 `json:"focalPoint,omitempty"`
	Icon       Ref       `json:"icon,omitzero"`
	Image      Ref       `json:"image,omitzero"`
	Attachment Refs      `json:"attachment,omitzero"`
	Tag        Refs      `json:"tag,omitzero"`
	// Replies, Likes and Shares are collections; Mastodon ≥ 4.4 shows the
	// totalItems of likes and shares as the post's counts.
	Replies Ref `json:"replies,omitzero"`
	Likes   Ref `json:"likes,omitzero"`
	Shares  Ref `json:"shares,omitzero"`
	// FormerType and Deleted describe a Tombstone.
	FormerType Type `json:"formerType,omitempty"`
	Deleted    Time `json:"deleted,omitzero"`

	// Extra holds the properties this struct does not declare (Mastodon's
	// atomUri and conversation, Misskey's _misskey_content, quote posts...),
	// preserved on a parse/render round trip and written after the declared
	// ones in key order.
	Extra map[string]json.RawMessage `json:"-"`
}

type objectFields Object

var objectKeys = fieldsOf(reflect.TypeFor[objectFields]())

// MarshalJSON renders the declared properties in struct order, then Extra.
func (o Object) MarshalJSON() ([]byte, error) {
	b, _, err := o.render()
	return b, err
}

// render is MarshalJSON through a pointer, with the depth Embed checks.
func (o *Object) render() ([]byte, int, error) {
	return encodeFields((*objectFields)(o), o.Extra, objectKeys)
}

// UnmarshalJSON reads the declared properties tolerantly and keeps the rest
// in Extra.
func (o *Object) UnmarshalJSON(data []byte) error {
	if firstByte(data) == 'n' {
		return nil // null leaves the value alone, as encoding/json expects
	}
	var f objectFields
	extra, err := decodeFields(data, &f, objectKeys)
	if err != nil {
		return err
	}
	*o = Object(f)
	o.Extra = extra
	return nil
}

// Validate checks what every fetched object needs: a type and an id.
func (o *Object) Validate() error {
	if o.Type == "" {
		return invalidf(ErrMissingType, "object")
	}
	if o.ID == "" {
		return invalidf(ErrMissingID, "%s", o.Type)
	}
	return nil
}

// IsPublic reports whether the public collection is in to or cc.
func (o *Object) IsPublic() bool { return o.To.HasPublic() || o.CC.HasPublic() }

// BestContent returns content, or when a server sent only contentMap, the
// "und" entry or else the entry of the first language in sorted order (so the
// choice is stable). The result is remote HTML: sanitise it before storing.
func (o *Object) BestContent() string { return pickLang(o.Content, o.ContentMap) }

// BestSummary is [Object.BestContent] for summary and summaryMap.
func (o *Object) BestSummary() string { return pickLang(o.Summary, o.SummaryMap) }

// BestName is [Object.BestContent] for name and nameMap.
func (o *Object) BestName() string { return pickLang(o.Name, o.NameMap) }

func pickLang(plain string, m map[string]string) string {
	if plain != "" || len(m) == 0 {
		return plain
	}
	if v := m["und"]; v != "" {
		return v
	}
	langs := make([]string, 0, len(m))
	for k := range m {
		langs = append(langs, k)
	}
	slices.Sort(langs)
	for _, k := range langs {
		if m[k] != "" {
			return m[k]
		}
	}
	return ""
}

// IsSensitive reports sensitive: true; absent means false.
func (o *Object) IsSensitive() bool { return o.Sensitive != nil && *o.Sensitive }

// Tags decodes the embedded tag objects (Mention, Hashtag, Emoji), skipping
// bare IRIs and malformed entries.
func (o *Object) Tags() []*Object { return o.Tag.Objects() }

// Attachments decodes the embedded attachment objects, skipping bare IRIs and
// malformed entries.
func (o *Object) Attachments() []*Object { return o.Attachment.Objects() }
