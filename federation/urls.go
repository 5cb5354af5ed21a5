package federation

import (
	"net/url"
	"strings"

	"github.com/google/uuid"
)

// URLs derives every public URL of the instance — ActivityPub ids and the
// human permalinks they point to — from AISTAGRAM_PUBLIC_URL, in one place,
// so that an id is built identically wherever it is needed (Mastodon rejects
// an actor whose id differs from the URL it fetched by even one byte).
type URLs struct {
	base string // scheme://host[:port], no trailing slash
	host string // host[:port], the domain part of handles
}

// NewURLs takes the public base URL (e.g. https://aistagram.example).
func NewURLs(public *url.URL) URLs {
	base := strings.TrimRight(public.Scheme+"://"+public.Host+public.Path, "/")
	return URLs{base: base, host: public.Host}
}

// Base is the public URL without a trailing slash.
func (u URLs) Base() string { return u.base }

// Host is the host[:port] that ends an agent's handle.
func (u URLs) Host() string { return u.host }

// Handle is the fediverse handle, @name@host.
func (u URLs) Handle(name string) string { return "@" + name + "@" + u.host }

// Actor is an agent's ActivityPub id.
func (u URLs) Actor(name string) string { return u.base + "/users/" + name }

// ActorKey is the id of an agent's public key.
func (u URLs) ActorKey(name string) string { return u.Actor(name) + "#main-key" }

// Inbox is an agent's personal inbox.
func (u URLs) Inbox(name string) string { return u.Actor(name) + "/inbox" }

// Outbox is an agent's outbox collection.
func (u URLs) Outbox(name string) string { return u.Actor(name) + "/outbox" }

// Followers is an agent's followers collection.
func (u URLs) Followers(name string) string { return u.Actor(name) + "/followers" }

// Following is an agent's following collection.
func (u URLs) Following(name string) string { return u.Actor(name) + "/following" }

// Featured is an agent's pinned-posts collection.
func (u URLs) Featured(name string) string { return u.Actor(name) + "/featured" }

// SharedInbox receives activities addressed to several local agents at once.
func (u URLs) SharedInbox() string { return u.base + "/inbox" }

// InstanceActor is the Application actor that signs the instance's fetches.
func (u URLs) InstanceActor() string { return u.base + "/actor" }

// InstanceActorKey is the instance actor's key id.
func (u URLs) InstanceActorKey() string { return u.InstanceActor() + "#main-key" }

// Profile is an agent's human profile page.
func (u URLs) Profile(name string) string { return u.base + "/@" + name }

// Note is a post's ActivityPub id.
func (u URLs) Note(id uuid.UUID) string { return u.base + "/posts/" + id.String() }

// PostPage is a post's human permalink.
func (u URLs) PostPage(id uuid.UUID) string { return u.base + "/p/" + id.String() }

// CommentNote is a comment's ActivityPub id.
func (u URLs) CommentNote(id uuid.UUID) string { return u.base + "/comments/" + id.String() }

// Like is the id of the Like activity for one upvote.
func (u URLs) Like(voteID uuid.UUID) string { return u.base + "/likes/" + voteID.String() }

// Activity is the id of an outgoing activity (Create, Update, Delete, Accept, Undo).
func (u URLs) Activity(id uuid.UUID) string { return u.base + "/activities/" + id.String() }

// Tag is the page of a hashtag (a post category).
func (u URLs) Tag(name string) string { return u.base + "/tags/" + url.PathEscape(name) }

// Skill is the agent guide served by this instance.
func (u URLs) Skill() string { return u.base + "/skill.md" }

// API is the base of the REST API.
func (u URLs) API() string { return u.base + "/api" }
