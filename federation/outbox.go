package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/google/uuid"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// RenderOutbox renders an outbox row into the activity to deliver, and
// names recipients beyond the row's own audience (which the store adds:
// followers, or the one remote actor). A nil activity means there is
// nothing to send any more. Activity ids are fresh per row, never reused.
func (s *Service) RenderOutbox(ctx context.Context, row *store.OutboxRow) ([]byte, []store.Recipient, error) {
	var (
		doc   any
		extra []store.Recipient
		err   error
	)
	switch row.Kind {
	case store.OutboxCreatePost:
		doc, err = s.renderCreatePost(ctx, row)
	case store.OutboxDeletePost:
		doc, err = s.renderDelete(ctx, row, s.urls.Note(deref(row.PostID)))
	case store.OutboxCreateComment:
		doc, extra, err = s.renderCreateComment(ctx, row)
	case store.OutboxDeleteComment:
		doc, err = s.renderDelete(ctx, row, s.urls.CommentNote(deref(row.CommentID)))
		if err == nil {
			extra = s.repliedToAuthor(ctx, deref(row.CommentID))
		}
	case store.OutboxUpdateActor:
		doc, err = s.renderUpdateActor(ctx, row)
	case store.OutboxAcceptFollow:
		doc, err = s.renderAccept(ctx, row)
	case store.OutboxFollow, store.OutboxUndoFollow:
		doc, err = s.renderFollow(ctx, row)
	default:
		return nil, nil, fmt.Errorf("outbox row %d: unknown kind %q", row.ID, row.Kind)
	}
	if err != nil || doc == nil {
		return nil, nil, err
	}
	b, err := ap.Marshal(doc)
	return b, extra, err
}

func deref(id *uuid.UUID) uuid.UUID {
	if id == nil {
		return uuid.Nil
	}
	return *id
}

func (s *Service) senderName(ctx context.Context, row *store.OutboxRow) (string, error) {
	if row.AgentID == nil {
		return "", fmt.Errorf("outbox row %d has no sender", row.ID)
	}
	a, err := s.store.AgentByID(ctx, *row.AgentID)
	if err != nil {
		return "", err
	}
	return a.Name, nil
}

// renderCreatePost is the Create{Note} of a post, as it is now; a post
// deleted before its Create went out is not sent.
func (s *Service) renderCreatePost(ctx context.Context, row *store.OutboxRow) (any, error) {
	post, err := s.store.PostByID(ctx, deref(row.PostID))
	if errors.Is(err, store.ErrGone) || errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !post.Ready() {
		return nil, nil // its images failed: never federated
	}
	create := s.RenderCreate(s.RenderNote(post, false), s.urls.Actor(post.Agent.Name))
	create.Context = ap.ObjectContext()
	return create, nil
}

// renderCreateComment is the Create{Note} of a local comment; the author of
// what it replies to receives it too when that author is remote.
func (s *Service) renderCreateComment(ctx context.Context, row *store.OutboxRow) (any, []store.Recipient, error) {
	c, err := s.store.CommentByID(ctx, deref(row.CommentID))
	if errors.Is(err, store.ErrGone) || errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	post, err := s.store.PostByID(ctx, c.PostID)
	if err != nil && !errors.Is(err, store.ErrGone) {
		return nil, nil, err
	}
	note := s.RenderCommentNote(c, post.Agent.Name, false)
	extra := s.repliedToAuthor(ctx, c.ID)
	if len(extra) > 0 {
		// Address the remote author so their server shows the reply.
		parent, _ := s.store.CommentByID(ctx, deref(c.ParentID))
		if parent != nil && parent.IsRemote() {
			note.CC = append(note.CC, ap.IRI(parent.Remote.URI))
			note.Tag = append(note.Tag, ap.Embed(&ap.Object{Type: ap.TypeMention, Href: parent.Remote.URI,
				Name: "@" + parent.Remote.Username + "@" + parent.Remote.Host}))
			if parent.APID != nil {
				note.InReplyTo = ap.IRI(*parent.APID)
			}
		}
	}
	create := s.RenderCreate(note, s.urls.Actor(c.Agent.Name))
	create.Context = ap.ObjectContext()
	return create, extra, nil
}

// repliedToAuthor is the remote author of the comment a local comment
// answers, if any: they get the reply in their personal inbox.
func (s *Service) repliedToAuthor(ctx context.Context, commentID uuid.UUID) []store.Recipient {
	c, err := s.store.CommentByID(ctx, commentID)
	if c == nil || (err != nil && !errors.Is(err, store.ErrGone)) || c.ParentID == nil {
		return nil
	}
	parent, err := s.store.CommentByID(ctx, *c.ParentID)
	if parent == nil || (err != nil && !errors.Is(err, store.ErrGone)) || !parent.IsRemote() || parent.Remote.Inbox == "" {
		return nil
	}
	return []store.Recipient{{Inbox: parent.Remote.Inbox, Personal: true}}
}

// renderDelete is Delete{Tombstone}: Pixelfed only acts on an embedded
// Tombstone, Mastodon and GoToSocial take either form.
func (s *Service) renderDelete(ctx context.Context, row *store.OutboxRow, objectID string) (any, error) {
	name, err := s.senderName(ctx, row)
	if err != nil {
		return nil, err
	}
	return &ap.Activity{
		Context: ap.ActivityContext(),
		ID:      objectID + "#delete-" + strconv.FormatInt(row.ID, 10),
		Type:    ap.TypeDelete,
		Actor:   ap.IRI(s.urls.Actor(name)),
		To:      ap.IRIs(ap.PublicIRI),
		CC:      ap.IRIs(s.urls.Followers(name)),
		Object:  ap.Embed(&ap.Object{ID: objectID, Type: ap.TypeTombstone}),
	}, nil
}

// renderUpdateActor is Update{Service} with the whole current actor, so
// followers' servers refresh the profile and key.
func (s *Service) renderUpdateActor(ctx context.Context, row *store.OutboxRow) (any, error) {
	agent, err := s.store.AgentByID(ctx, deref(row.AgentID))
	if err != nil {
		return nil, err
	}
	key, err := s.keys.agent(ctx, agent.ID)
	if err != nil {
		return nil, err
	}
	actor := s.RenderActor(agent, key.publicPEM, false)
	return &ap.Activity{
		Context: ap.ActorContext(),
		ID:      s.urls.Actor(agent.Name) + "#updates/" + strconv.FormatInt(row.ID, 10),
		Type:    ap.TypeUpdate,
		Actor:   ap.IRI(actor.ID),
		To:      ap.IRIs(ap.PublicIRI),
		CC:      ap.IRIs(s.urls.Followers(agent.Name)),
		Object:  ap.Embed(actor),
	}, nil
}

// renderAccept embeds the whole Follow (Pixelfed ignores an Accept whose
// object is a bare id; GoToSocial checks the embedded actor and object).
func (s *Service) renderAccept(ctx context.Context, row *store.OutboxRow) (any, error) {
	name, err := s.senderName(ctx, row)
	if err != nil {
		return nil, err
	}
	follow, err := ap.EmbedRaw(row.Payload)
	if err != nil {
		return nil, fmt.Errorf("accept of row %d: %w", row.ID, err)
	}
	return &ap.Activity{
		Context: ap.ActivityContext(),
		ID:      s.urls.Actor(name) + "#accepts/follows/" + strconv.FormatInt(row.ID, 10),
		Type:    ap.TypeAccept,
		Actor:   ap.IRI(s.urls.Actor(name)),
		Object:  follow,
	}, nil
}

// renderFollow is the Follow a local agent sends (or its Undo, which embeds
// the Follow).
func (s *Service) renderFollow(ctx context.Context, row *store.OutboxRow) (any, error) {
	name, err := s.senderName(ctx, row)
	if err != nil {
		return nil, err
	}
	var p struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(row.Payload, &p); err != nil || p.ID == "" || row.RemoteActorID == nil {
		return nil, fmt.Errorf("follow row %d without follow id or target", row.ID)
	}
	target, err := s.store.RemoteActorByID(ctx, *row.RemoteActorID)
	if err != nil {
		return nil, err
	}
	follow := &ap.Activity{ID: p.ID, Type: ap.TypeFollow, Actor: ap.IRI(s.urls.Actor(name)), Object: ap.IRI(target.URI)}
	if row.Kind == store.OutboxFollow {
		follow.Context = ap.ActivityContext()
		return follow, nil
	}
	return &ap.Activity{Context: ap.ActivityContext(), ID: p.ID + "/undo", Type: ap.TypeUndo,
		Actor: ap.IRI(s.urls.Actor(name)), Object: ap.Embed(follow)}, nil
}

// NewFollowID makes the id of a Follow a local agent sends: fresh every
// time, as Pixelfed drops ids it has seen within the hour.
func (s *Service) NewFollowID() string { return s.urls.Activity(uuid.New()) }
