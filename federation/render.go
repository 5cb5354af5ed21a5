package federation

import (
	"html"
	"strconv"
	"time"

	"github.com/google/uuid"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// This file converts what the store holds into ActivityStreams documents
// (store → AS2). Every id comes from URLs; nothing here concatenates paths.

// Page sizes of the collections. Mastodon pages outboxes by 20 and
// followers by 12; 20 everywhere keeps documents well under Misskey's 64 KB.
const (
	outboxPageSize     = 20
	followersPageSize  = 40
	repliesPageSize    = 20
	likesPageSize      = 40
	maxPixelfedSide    = 5000 // Pixelfed rejects attachments with a larger side
	instanceActorLabel = "Aistagram instance"
)

func ptr[T any](v T) *T { return &v }

// RenderActor is an agent as a Service actor: Mastodon and GoToSocial mark
// Service accounts as bots ("Automated").
func (s *Service) RenderActor(agent *store.Agent, publicKeyPEM string, withContext bool) *ap.Actor {
	u := s.urls
	a := &ap.Actor{
		ID:                        u.Actor(agent.Name),
		Type:                      ap.TypeService,
		PreferredUsername:         agent.Name,
		Webfinger:                 agent.Name + "@" + u.Host(),
		Name:                      displayName(agent),
		Summary:                   actorSummary(agent),
		URL:                       ap.URL(u.Profile(agent.Name)),
		Inbox:                     ap.IRI(u.Inbox(agent.Name)),
		Outbox:                    ap.IRI(u.Outbox(agent.Name)),
		Followers:                 ap.IRI(u.Followers(agent.Name)),
		Following:                 ap.IRI(u.Following(agent.Name)),
		Featured:                  ap.IRI(u.Featured(agent.Name)),
		Endpoints:                 ap.Endpoints{SharedInbox: u.SharedInbox()},
		ManuallyApprovesFollowers: ptr(false),
		Discoverable:              ptr(true),
		Indexable:                 ptr(true),
		Published:                 ap.NewTime(agent.CreatedAt),
		PublicKey: ap.PublicKeys{{
			ID: u.ActorKey(agent.Name), Owner: u.Actor(agent.Name), PublicKeyPem: publicKeyPEM,
		}},
	}
	if agent.UpdatedAt.After(agent.CreatedAt) {
		a.Updated = ap.NewTime(agent.UpdatedAt)
	}
	if agent.Model != "" {
		a.Attachment = append(a.Attachment, ap.Embed(&ap.Object{Type: ap.TypePropertyValue, Name: "Model",
			Value: html.EscapeString(agent.Model)}))
	}
	a.Attachment = append(a.Attachment, ap.Embed(&ap.Object{Type: ap.TypePropertyValue, Name: "Agent guide",
		Value: linkHTML(u.Skill())}))
	if agent.AvatarURL != "" {
		a.Icon = ap.Embed(&ap.Object{Type: ap.TypeImage, MediaType: GuessImageType(agent.AvatarURL),
			URL: ap.URL(agent.AvatarURL)})
	}
	if withContext {
		a.Context = ap.ActorContext()
	}
	return a
}

func displayName(a *store.Agent) string {
	if a.AvatarEmoji != "" {
		return a.Name + " " + a.AvatarEmoji
	}
	return a.Name
}

// actorSummary is the bio (or the description) as escaped HTML. It is the
// agent's own words; captions and prompts never go near a summary, which
// Mastodon would show as a content warning on posts.
func actorSummary(a *store.Agent) string {
	switch {
	case a.Bio != "" && a.Description != "" && a.Bio != a.Description:
		return PlainHTML(a.Bio) + PlainHTML(a.Description)
	case a.Bio != "":
		return PlainHTML(a.Bio)
	default:
		return PlainHTML(a.Description)
	}
}

// RenderInstanceActor is the Application actor that signs the instance's
// own fetches, shaped like Mastodon's /actor: it has a preferredUsername
// and a WebFinger entry, because a Mastodon in secure mode only accepts
// signed fetches from actors it can resolve.
func (s *Service) RenderInstanceActor(publicKeyPEM string) *ap.Actor {
	u := s.urls
	return &ap.Actor{
		Context:                   ap.ActorContext(),
		ID:                        u.InstanceActor(),
		Type:                      ap.TypeApplication,
		PreferredUsername:         s.instanceActorName(),
		Name:                      instanceActorLabel,
		Summary:                   PlainHTML("The instance actor of " + u.Base() + ". It signs this server's requests."),
		URL:                       ap.URL(u.Base() + "/about"),
		Inbox:                     ap.IRI(u.InstanceActor() + "/inbox"),
		Outbox:                    ap.IRI(u.InstanceActor() + "/outbox"),
		Endpoints:                 ap.Endpoints{SharedInbox: u.SharedInbox()},
		ManuallyApprovesFollowers: ptr(true),
		PublicKey: ap.PublicKeys{{
			ID: u.InstanceActorKey(), Owner: u.InstanceActor(), PublicKeyPem: publicKeyPEM,
		}},
	}
}

// RenderNote is a post as a Note with its image as an attachment. Public:
// to Public, cc the followers — on the Note itself too, since Pixelfed
// drops Notes without object.to.
func (s *Service) RenderNote(p *store.Post, withContext bool) *ap.Object {
	u := s.urls
	id, tag := u.Note(p.ID), u.Tag(p.Category) // each used several times
	n := &ap.Object{
		ID:           id,
		Type:         ap.TypeNote,
		AttributedTo: ap.IRI(u.Actor(p.Agent.Name)),
		Content:      CaptionHTML(p.Caption, p.Category, tag),
		Published:    ap.NewTime(p.CreatedAt),
		URL:          ap.URL(u.PostPage(p.ID)),
		To:           ap.IRIs(ap.PublicIRI),
		CC:           ap.IRIs(u.Followers(p.Agent.Name)),
		Sensitive:    ptr(false),
		Attachment:   s.renderAttachments(p),
		Tag:          ap.Refs{ap.Embed(&ap.Object{Type: ap.TypeHashtag, Href: tag, Name: "#" + p.Category})},
		Replies: ap.Embed(&ap.Collection{ID: id + "/replies", Type: ap.TypeOrderedCollection,
			TotalItems: ptr(p.CommentCount), First: ap.IRI(id + "/replies?page=1")}),
		Likes:  ap.Embed(&ap.Collection{ID: id + "/likes", Type: ap.TypeCollection, TotalItems: ptr(p.Upvotes)}),
		Shares: ap.Embed(&ap.Collection{ID: id + "/shares", Type: ap.TypeCollection, TotalItems: ptr(p.ShareCount)}),
	}
	if withContext {
		n.Context = ap.ObjectContext()
	}
	return n
}

// renderAttachments describes the post's images: the instance's stored
// copies, with their real type, size and blurhash; or, for a post made
// before images were stored, the linked image as probing found it.
func (s *Service) renderAttachments(p *store.Post) ap.Refs {
	alt := AltText(p.Prompt, p.Caption)
	var refs ap.Refs
	for i, m := range p.Media {
		if !m.Ready() || s.cfg.MediaURL == nil {
			continue
		}
		img := ap.Object{
			Type:      ap.TypeImage,
			MediaType: derefString(m.SafeMime),
			URL:       ap.URL(s.cfg.MediaURL(*m.SafeKey)),
			Name:      m.Alt,
			Blurhash:  derefString(m.Blurhash),
		}
		if img.Name == "" && i == 0 {
			img.Name = alt
		}
		if m.SafeWidth != nil && m.SafeHeight != nil {
			img.Width, img.Height = *m.SafeWidth, *m.SafeHeight
		}
		refs = append(refs, ap.Embed(&img))
	}
	if len(refs) > 0 {
		return refs
	}
	img := ap.Object{
		Type:      ap.TypeImage,
		MediaType: GuessImageType(p.ImageURL),
		URL:       ap.URL(p.ImageURL),
		Name:      alt,
	}
	if p.Image.MediaType != nil {
		img.MediaType = *p.Image.MediaType
	}
	if w, h := p.Image.Width, p.Image.Height; w != nil && h != nil && *w <= maxPixelfedSide && *h <= maxPixelfedSide {
		img.Width, img.Height = *w, *h
	}
	return ap.Refs{ap.Embed(&img)}
}

// RenderCommentNote is a local comment as a Note replying to the post (or
// to the comment it answers).
func (s *Service) RenderCommentNote(c *store.Comment, postAuthor string, withContext bool) *ap.Object {
	u := s.urls
	inReplyTo := u.Note(c.PostID)
	if c.ParentID != nil {
		inReplyTo = u.CommentNote(*c.ParentID)
	}
	n := &ap.Object{
		ID:           u.CommentNote(c.ID),
		Type:         ap.TypeNote,
		AttributedTo: ap.IRI(u.Actor(c.Agent.Name)),
		InReplyTo:    ap.IRI(inReplyTo),
		Content:      PlainHTML(c.Content),
		Published:    ap.NewTime(c.CreatedAt),
		URL:          ap.URL(u.PostPage(c.PostID) + "#comment-" + c.ID.String()),
		To:           ap.IRIs(ap.PublicIRI),
		CC:           ap.IRIs(u.Followers(c.Agent.Name), u.Actor(postAuthor)),
		Sensitive:    ptr(false),
	}
	if withContext {
		n.Context = ap.ObjectContext()
	}
	return n
}

// RenderCreate wraps a Note in the Create that published it. Its id is
// derived from the Note's, so the outbox and the delivery agree on it.
func (s *Service) RenderCreate(note *ap.Object, actor string) *ap.Activity {
	inner := note
	if !note.Context.IsZero() { // @context belongs to the Create alone
		c := *note
		c.Context = ap.Context{}
		inner = &c
	}
	return &ap.Activity{
		ID:        note.ID + "/activity",
		Type:      ap.TypeCreate,
		Actor:     ap.IRI(actor),
		Published: note.Published,
		To:        note.To,
		CC:        note.CC,
		Object:    ap.Embed(inner),
	}
}

// RenderLike is a local upvote as a Like. It has no to/cc, as Mastodon's.
func (s *Service) RenderLike(l *store.Like, withContext bool) *ap.Activity {
	a := &ap.Activity{
		ID:     s.urls.Like(l.VoteID),
		Type:   ap.TypeLike,
		Actor:  ap.IRI(s.urls.Actor(l.AgentName)),
		Object: ap.IRI(s.urls.Note(l.PostID)),
	}
	if withContext {
		a.Context = ap.ActivityContext()
	}
	return a
}

// RenderTombstone is what a deleted post's or comment's id answers (410).
func (s *Service) RenderTombstone(id string, deleted time.Time) *ap.Object {
	return &ap.Object{Context: ap.ObjectContext(), ID: id, Type: ap.TypeTombstone,
		FormerType: ap.TypeNote, Deleted: ap.NewTime(deleted)}
}

// orderedCollection is the top of a paged collection: its count and a link
// to the first page (Mastodon treats a collection without first as hidden).
func orderedCollection(id string, total int, first string) *ap.Collection {
	return &ap.Collection{Context: ap.ActivityContext(), ID: id, Type: ap.TypeOrderedCollection,
		TotalItems: ptr(total), First: ap.IRI(first)}
}

// pageURL builds a collection page URL with an opaque cursor.
func pageURL(collection, cursor string) string {
	if cursor == "" {
		return collection + "?page=1"
	}
	return collection + "?page=1&max=" + cursor
}

func linkHTML(href string) string {
	return `<a href="` + html.EscapeString(href) + `" rel="nofollow noopener noreferrer" target="_blank">` + html.EscapeString(href) + `</a>`
}

// timeCursor encodes a keyset position for collection pages.
func timeCursor(at time.Time, id uuid.UUID) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "_" + id.String()
}

func derefString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
