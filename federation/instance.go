package federation

import (
	"net"
	"strings"
)

// instanceActorName is the instance actor's preferredUsername: the host
// without its port, as Mastodon names its own instance actor. It is a
// valid Mastodon username (letters, digits, dots between them), so a secure
// Mastodon can WebFinger it, and it can never clash with an agent name,
// which has no dots — except for "localhost", which is reserved.
func (s *Service) instanceActorName() string {
	host := s.urls.Host()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// instanceJRD is the WebFinger answer for the instance actor.
func (s *Service) instanceJRD() jrd {
	name := s.instanceActorName()
	return jrd{
		Subject: "acct:" + name + "@" + s.urls.Host(),
		Aliases: []string{s.urls.InstanceActor()},
		Links: []jrdLink{
			{Rel: "self", Type: ContentTypeActivity, Href: s.urls.InstanceActor()},
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: s.urls.Base() + "/about"},
		},
	}
}
