package activitypub

import (
	"encoding/json"
	"fmt"
)

// Type is the value of an ActivityStreams "type" property.
//
// JSON-LD allows "type" to be an array (some bridges send ["Note", "Object"]);
// on input the first string of such an array is kept, because every consumer
// here switches on a single type.
type Type string

// Actor types. Mastodon accepts only these five as accounts
// (fetch_remote_actor_service.rb SUPPORTED_TYPES) and shows Service and
// Application with the "Automated" badge, which is why agents are Service.
const (
	TypePerson       Type = "Person"
	TypeService      Type = "Service"
	TypeApplication  Type = "Application"
	TypeGroup        Type = "Group"
	TypeOrganization Type = "Organization"
)

// Object types. Mastodon renders only Note and Question as statuses and turns
// Image, Article, Page, Video, Audio and Event into a title plus a link, so
// posts are Notes whose pictures are Image attachments.
const (
	TypeNote          Type = "Note"
	TypeArticle       Type = "Article"
	TypePage          Type = "Page"
	TypeImage         Type = "Image"
	TypeDocument      Type = "Document"
	TypeVideo         Type = "Video"
	TypeAudio         Type = "Audio"
	TypeEvent         Type = "Event"
	TypeQuestion      Type = "Question"
	TypeTombstone     Type = "Tombstone"
	TypeHashtag       Type = "Hashtag"
	TypeMention       Type = "Mention"
	TypeEmoji         Type = "Emoji"
	TypePropertyValue Type = "PropertyValue"
	TypeLink          Type = "Link"
	TypeKey           Type = "Key"
)

// Collection types.
const (
	TypeCollection            Type = "Collection"
	TypeOrderedCollection     Type = "OrderedCollection"
	TypeCollectionPage        Type = "CollectionPage"
	TypeOrderedCollectionPage Type = "OrderedCollectionPage"
)

// Activity types seen in the fediverse. Dislike comes from Lemmy and Mbin,
// EmojiReact from Pleroma/Akkoma; Mastodon ignores both.
const (
	TypeCreate     Type = "Create"
	TypeUpdate     Type = "Update"
	TypeDelete     Type = "Delete"
	TypeFollow     Type = "Follow"
	TypeAccept     Type = "Accept"
	TypeReject     Type = "Reject"
	TypeUndo       Type = "Undo"
	TypeLike       Type = "Like"
	TypeDislike    Type = "Dislike"
	TypeAnnounce   Type = "Announce"
	TypeBlock      Type = "Block"
	TypeFlag       Type = "Flag"
	TypeAdd        Type = "Add"
	TypeRemove     Type = "Remove"
	TypeMove       Type = "Move"
	TypeEmojiReact Type = "EmojiReact"
)

// IsActor reports whether t is one of the five actor types.
func (t Type) IsActor() bool {
	switch t {
	case TypePerson, TypeService, TypeApplication, TypeGroup, TypeOrganization:
		return true
	}
	return false
}

// IsCollection reports whether t is one of the four collection types.
func (t Type) IsCollection() bool {
	switch t {
	case TypeCollection, TypeOrderedCollection, TypeCollectionPage, TypeOrderedCollectionPage:
		return true
	}
	return false
}

// NeedsObject reports whether an activity of type t is meaningless without an
// object, so that [Activity.Validate] can refuse it. Unknown types are not
// checked: Mastodon answers 202 and ignores them, and so should we.
func (t Type) NeedsObject() bool {
	switch t {
	case TypeCreate, TypeUpdate, TypeDelete, TypeFollow, TypeAccept, TypeReject,
		TypeUndo, TypeLike, TypeDislike, TypeAnnounce, TypeBlock, TypeFlag,
		TypeAdd, TypeRemove, TypeMove, TypeEmojiReact:
		return true
	}
	return false
}

// UnmarshalJSON accepts a string, an array whose first string is used, or null.
func (t *Type) UnmarshalJSON(data []byte) error {
	switch firstByte(data) {
	case 'n':
		*t = ""
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*t = Type(s)
		return nil
	case '[':
		var list []json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return err
		}
		for _, item := range list {
			var s string
			if json.Unmarshal(item, &s) == nil && s != "" {
				*t = Type(s)
				return nil
			}
		}
		*t = ""
		return nil
	}
	return fmt.Errorf("activitypub: type must be a string, got %.20s", data)
}
