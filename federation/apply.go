package federation

import (
	"context"
	"errors"
	"html"
	"strings"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// This file turns received activities into changes of local data
// (AS2 → store). Each activity type is applied by one store method, in one
// transaction that also marks the inbox entry applied.

// errSkip is an activity that is valid but changes nothing here; the
// entry is closed with the reason.
type errSkip string

func (e errSkip) Error() string { return string(e) }

// ApplyInbox applies one stored inbox entry. It returns an error only for
// failures worth retrying (a remote server that did not answer); activities
// that can never apply are closed with a note.
func (s *Service) ApplyInbox(ctx context.Context, id int64) error {
	entry, err := s.store.InboxByID(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	if entry.ProcessedAt != nil {
		return nil
	}
	return s.applyEntry(ctx, entry)
}

// applyEntry applies one loaded, pending inbox entry (see ApplyInbox).
func (s *Service) applyEntry(ctx context.Context, entry *store.InboxEntry) error {
	id := entry.ID
	act, err := ap.ParseActivity(entry.Body)
	if err != nil {
		return s.store.MarkInboxProcessed(ctx, id, "unparseable: "+err.Error())
	}
	err = s.apply(ctx, id, act)
	var skip errSkip
	switch {
	case err == nil:
		return nil
	case errors.As(err, &skip), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrGone),
		errors.Is(err, store.ErrInvalid), errors.Is(err, ErrActorGone), errors.Is(err, ErrActorNotFound),
		errors.Is(err, ErrActorInvalid):
		return s.store.MarkInboxProcessed(ctx, id, err.Error())
	default:
		_ = s.store.RecordInboxFailure(ctx, id, err.Error())
		return err
	}
}

// ApplyInboxBatch applies stored inbox entries in the order they were
// received, with the same outcome as ApplyInbox on each in turn. Runs of
// Likes are applied together, in one transaction (store.ApplyLikes): a
// viral post brings Likes by the thousand, and one commit per Like is what
// would limit applying them. Everything else, and any Like the batch
// cannot take as it is (its actor not cached or stale, its post gone), is
// applied on its own as ApplyInbox does. It returns the failures worth
// retrying, joined; what was applied stays applied, and a retry skips it.
func (s *Service) ApplyInboxBatch(ctx context.Context, ids []int64) error {
	entries, err := s.store.PendingInboxByIDs(ctx, ids)
	if err != nil {
		return err
	}
	var errs []error
	var run []likeEntry
	flush := func() {
		if len(run) > 0 {
			errs = append(errs, s.applyLikes(ctx, run))
			run = run[:0]
		}
	}
	for i := range entries {
		e := &entries[i]
		if act, err := ap.ParseActivity(e.Body); err == nil && (act.Type == ap.TypeLike || act.Type == ap.TypeEmojiReact) {
			run = append(run, likeEntry{entry: e, act: act})
			continue
		}
		flush() // keep the order of receipt around anything else
		errs = append(errs, s.applyEntry(ctx, e))
	}
	flush()
	return errors.Join(errs...)
}

// likeEntry is a pending inbox entry holding a Like.
type likeEntry struct {
	entry *store.InboxEntry
	act   *ap.Activity
}

// applyLikes applies a run of Likes in one transaction where it can: the
// actor must be cached and fresh (apply would otherwise refetch it) and
// the object must name one of our posts. The rest, and Likes whose post
// turns out gone, go through applyEntry one by one, which closes them
// with the reason.
func (s *Service) applyLikes(ctx context.Context, run []likeEntry) error {
	uris := make([]string, 0, len(run))
	for _, l := range run {
		uris = append(uris, l.act.ActorID())
	}
	actors, err := s.store.RemoteActorsByURIs(ctx, uris)
	if err != nil {
		return err
	}
	now := s.resolver.now()
	var likes []store.RemoteLike
	var alone []*store.InboxEntry
	byID := make(map[int64]*store.InboxEntry, len(run))
	for _, l := range run {
		a := actors[l.act.ActorID()]
		postID, ok := s.localPostID(l.act.ObjectID())
		if a == nil || now.Sub(a.FetchedAt) >= actorStaleAfter || !ok {
			alone = append(alone, l.entry)
			continue
		}
		byID[l.entry.ID] = l.entry
		likes = append(likes, store.RemoteLike{InboxID: l.entry.ID, PostID: postID, ActorID: a.ID, LikeID: l.act.ID})
	}
	left, err := s.store.ApplyLikes(ctx, likes)
	if err != nil {
		// One at a time, a failure stays with its own entry.
		s.log.WarnContext(ctx, "applying Likes together failed; applying each alone", "likes", len(likes), "err", err)
		left = left[:0]
		for _, l := range likes {
			left = append(left, l.InboxID)
		}
	}
	for _, id := range left {
		alone = append(alone, byID[id])
	}
	var errs []error
	for _, e := range alone {
		errs = append(errs, s.applyEntry(ctx, e))
	}
	return errors.Join(errs...)
}

func (s *Service) apply(ctx context.Context, id int64, act *ap.Activity) error {
	actor, err := s.resolver.FetchActor(ctx, act.ActorID(), false)
	if err != nil {
		if act.Type == ap.TypeDelete && act.ObjectID() == act.ActorID() {
			if existing, lerr := s.store.RemoteActorByURI(ctx, act.ActorID()); lerr == nil {
				defer s.resolver.ForgetActor(existing.URI) // after the key is blanked
				return s.store.ApplyDeleteRemoteActor(ctx, id, existing.ID)
			}
		}
		return err
	}
	if actor.URI != act.ActorID() {
		return errSkip("actor id does not match its document")
	}
	switch act.Type {
	case ap.TypeFollow:
		return s.applyFollow(ctx, id, act, actor)
	case ap.TypeUndo:
		return s.applyUndo(ctx, id, act, actor)
	case ap.TypeLike, ap.TypeEmojiReact:
		post, err := s.localPost(ctx, act.ObjectID())
		if err != nil {
			return errSkip("reaction to something that is not a post")
		}
		return s.store.ApplyLike(ctx, id, post.ID, actor.ID, act.ID)
	case ap.TypeAnnounce:
		post, err := s.localPost(ctx, act.ObjectID())
		if err != nil {
			return errSkip("share of something that is not a post")
		}
		return s.store.ApplyAnnounce(ctx, id, post.ID, actor.ID, act.ID)
	case ap.TypeCreate:
		return s.applyCreate(ctx, id, act, actor)
	case ap.TypeUpdate:
		return s.applyUpdate(ctx, id, act, actor)
	case ap.TypeDelete:
		if act.ObjectID() == actor.URI {
			defer s.resolver.ForgetActor(actor.URI) // after the key is blanked
			return s.store.ApplyDeleteRemoteActor(ctx, id, actor.ID)
		}
		return s.store.ApplyDeleteRemoteComment(ctx, id, act.ObjectID(), actor.ID)
	case ap.TypeBlock:
		agent, err := s.localAgent(ctx, act.ObjectID())
		if err != nil {
			return errSkip("block of an unknown agent")
		}
		return s.store.ApplyBlock(ctx, id, agent.ID, actor.ID)
	case ap.TypeFlag:
		return s.applyFlag(ctx, id, act, actor)
	case ap.TypeAccept, ap.TypeReject:
		followID := act.ObjectID()
		if inner, err := act.Object.AsActivity(); err == nil && inner.Type != ap.TypeFollow {
			return errSkip("accept of something other than a follow")
		}
		if act.Type == ap.TypeAccept {
			return s.store.ApplyAcceptFollow(ctx, id, followID, actor.ID)
		}
		return s.store.ApplyRejectFollow(ctx, id, followID, actor.ID)
	default:
		return errSkip("activity type " + string(act.Type) + " is not handled")
	}
}

// applyFollow stores the follower and queues an Accept that embeds the
// Follow rebuilt from its parts (not the received bytes, which would carry
// an @context and an LD signature inside the Accept).
func (s *Service) applyFollow(ctx context.Context, id int64, act *ap.Activity, actor *store.RemoteActor) error {
	agent, err := s.localAgent(ctx, act.ObjectID())
	if err != nil {
		return errSkip("follow of an unknown agent")
	}
	follow, err := ap.Marshal(&ap.Activity{ID: act.ID, Type: ap.TypeFollow, Actor: ap.IRI(actor.URI),
		Object: ap.IRI(s.urls.Actor(agent.Name))})
	if err != nil {
		return err
	}
	return s.store.ApplyFollow(ctx, id, agent.ID, actor.ID, follow)
}

// applyUndo reverses a Follow, Like or Announce of the same actor. Mastodon
// embeds the undone activity; a bare id is matched against what we stored.
func (s *Service) applyUndo(ctx context.Context, id int64, act *ap.Activity, actor *store.RemoteActor) error {
	if !act.Object.IsEmbedded() {
		return s.store.ApplyUndoByActivityID(ctx, id, actor.ID, act.ObjectID())
	}
	inner, err := act.Object.AsActivity()
	if err != nil {
		return errSkip("undo of an unreadable activity")
	}
	if inner.ActorID() != "" && inner.ActorID() != actor.URI {
		return errSkip("undo of another actor's activity")
	}
	switch inner.Type {
	case ap.TypeFollow:
		agent, err := s.localAgent(ctx, inner.ObjectID())
		if err != nil {
			return errSkip("undo of a follow of an unknown agent")
		}
		return s.store.ApplyUndoFollow(ctx, id, agent.ID, actor.ID)
	case ap.TypeLike, ap.TypeEmojiReact:
		post, err := s.localPost(ctx, inner.ObjectID())
		if err != nil {
			return errSkip("undo of a reaction to something that is not a post")
		}
		return s.store.ApplyUndoLike(ctx, id, post.ID, actor.ID)
	case ap.TypeAnnounce:
		post, err := s.localPost(ctx, inner.ObjectID())
		if err != nil {
			return errSkip("undo of a share of something that is not a post")
		}
		return s.store.ApplyUndoAnnounce(ctx, id, post.ID, actor.ID)
	default:
		return s.store.ApplyUndoByActivityID(ctx, id, actor.ID, inner.ID)
	}
}

// noteOf returns the Note an activity carries, fetching it when only its
// id is given.
func (s *Service) noteOf(ctx context.Context, act *ap.Activity) (*ap.Object, error) {
	if act.Object.IsEmbedded() {
		obj, err := act.Object.AsObject()
		if err != nil {
			return nil, errSkip("unreadable object")
		}
		return obj, nil
	}
	raw, err := s.resolver.FetchObject(ctx, act.ObjectID())
	if err != nil {
		return nil, err
	}
	obj, err := ap.ParseObject(raw)
	if err != nil {
		return nil, errSkip("unreadable object")
	}
	return obj, nil
}

// applyCreate turns a reply to one of our posts or comments into a comment
// by the remote actor. Other posts are recorded in the inbox and left
// alone.
func (s *Service) applyCreate(ctx context.Context, id int64, act *ap.Activity, actor *store.RemoteActor) error {
	note, err := s.noteOf(ctx, act)
	if err != nil {
		return err
	}
	switch note.Type {
	case ap.TypeNote, ap.TypeArticle, ap.TypePage, ap.TypeQuestion:
	default:
		return errSkip("created object is not a note")
	}
	if note.ID == "" || !sameHost(note.ID, actor.URI) {
		return errSkip("note id is not on the actor's server")
	}
	if note.AttributedTo.ID() != actor.URI {
		return errSkip("note is attributed to someone else")
	}
	target := note.InReplyTo.ID()
	rc := store.RemoteComment{APID: note.ID, ActorID: actor.ID, Published: note.Published.Time}
	if post, err := s.localPost(ctx, target); err == nil {
		rc.PostID = post.ID
	} else if parent, err := s.localComment(ctx, target); err == nil {
		rc.PostID, rc.ParentID = parent.PostID, &parent.ID
	} else if parent, err := s.store.CommentByAPID(ctx, target); err == nil && parent.DeletedAt == nil {
		rc.PostID, rc.ParentID = parent.PostID, &parent.ID // a reply to a remote reply
	} else {
		return errSkip("not a reply to anything here")
	}
	rc.ContentHTML = s.san.HTML(note.BestContent())
	rc.Content = commentText(rc.ContentHTML)
	if summary := s.san.Text(note.BestSummary()); summary != "" {
		rc.Content = "[" + summary + "] " + rc.Content
	}
	if strings.TrimSpace(rc.Content) == "" {
		return errSkip("reply without text")
	}
	rc.Content = truncateRunes(rc.Content, 5000)
	return s.store.ApplyRemoteComment(ctx, id, rc)
}

// applyUpdate refreshes a remote actor (from its own server, which is
// authoritative) or the text of a remote comment.
func (s *Service) applyUpdate(ctx context.Context, id int64, act *ap.Activity, actor *store.RemoteActor) error {
	if act.ObjectID() == actor.URI {
		if _, err := s.resolver.FetchActor(ctx, actor.URI, true); err != nil {
			return err
		}
		return s.store.MarkInboxProcessed(ctx, id, "")
	}
	note, err := s.noteOf(ctx, act)
	if err != nil {
		return err
	}
	if note.AttributedTo.ID() != actor.URI {
		return errSkip("update of someone else's note")
	}
	htmlContent := s.san.HTML(note.BestContent())
	return s.store.ApplyUpdateRemoteComment(ctx, id, note.ID, actor.ID, truncateRunes(commentText(htmlContent), 5000), htmlContent)
}

// applyFlag stores a report naming local agents and posts.
func (s *Service) applyFlag(ctx context.Context, id int64, act *ap.Activity, actor *store.RemoteActor) error {
	r := store.Report{ActivityID: act.ID, ReporterURI: actor.URI, Content: truncateRunes(s.san.Text(act.Content), 5000)}
	for _, iri := range act.Object.IDs() {
		if a, err := s.localAgent(ctx, iri); err == nil {
			r.AgentIDs = append(r.AgentIDs, a.ID)
		} else if p, err := s.localPost(ctx, iri); err == nil {
			r.PostIDs = append(r.PostIDs, p.ID)
		} else if pid, ok := cutUUID(iri, s.urls.Base()+"/posts/"); ok {
			r.PostIDs = append(r.PostIDs, pid) // reported, then deleted: keep the id
		}
	}
	if len(r.AgentIDs) == 0 && len(r.PostIDs) == 0 {
		return errSkip("flag of nothing here")
	}
	return s.store.ApplyFlag(ctx, id, r)
}

// commentText is the plain text of sanitised comment HTML: paragraphs and
// line breaks become newlines, entities are decoded.
func commentText(sanitised string) string {
	t := strings.NewReplacer("</p><p>", "\n\n", "<br>", "\n", "<br/>", "\n", "<br />", "\n").Replace(sanitised)
	var b strings.Builder
	inTag := false
	for _, r := range t {
		switch {
		case r == '<':
			inTag = true
		case r == '>':
			inTag = false
		case !inTag:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(html.UnescapeString(b.String()))
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
