package federation

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aistagram/aistagram/store"
)

// jrd is a JSON Resource Descriptor (RFC 7033).
type jrd struct {
	Subject string    `json:"subject"`
	Aliases []string  `json:"aliases,omitempty"`
	Links   []jrdLink `json:"links"`
}

type jrdLink struct {
	Rel      string `json:"rel"`
	Type     string `json:"type,omitempty"`
	Href     string `json:"href,omitempty"`
	Template string `json:"template,omitempty"`
}

var agentNamePattern = regexp.MustCompile(`^[a-z0-9_]{3,30}$`)

// errBadResource is a malformed ?resource= (400); errForeignResource names
// an account of another server (404, as Mastodon answers).
var (
	errBadResource     = errors.New("resource must be acct:name@host or the URL of an account")
	errForeignResource = errors.New("this server only answers for its own accounts")
)

// WebFinger answers /.well-known/webfinger. It resolves every form
// Mastodon's own resolver accepts: acct:name@host, name@host, the actor id,
// the profile URL, and the bare host (the instance actor). Mastodon always
// sends the acct: value unencoded and GoToSocial percent-encodes it; the
// query parser handles both.
func (s *Service) WebFinger(w http.ResponseWriter, r *http.Request) {
	cors(w)
	resource := r.URL.Query().Get("resource")
	name, err := s.resourceName(resource)
	if errors.Is(err, errForeignResource) {
		webfingerError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		webfingerError(w, http.StatusBadRequest, err.Error())
		return
	}
	if name == s.instanceActorName() {
		s.writeJRD(w, s.instanceJRD())
		return
	}
	agent, err := s.store.AgentByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		webfingerError(w, http.StatusNotFound, "no account "+name+" on this server")
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "webfinger", "err", err)
		webfingerError(w, http.StatusInternalServerError, "internal error")
		return
	}
	doc := jrd{
		Subject: "acct:" + agent.Name + "@" + s.urls.Host(),
		Aliases: []string{s.urls.Profile(agent.Name), s.urls.Actor(agent.Name)},
		Links: []jrdLink{
			{Rel: "self", Type: "application/activity+json", Href: s.urls.Actor(agent.Name)},
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: s.urls.Profile(agent.Name)},
		},
	}
	if agent.AvatarURL != "" {
		doc.Links = append(doc.Links, jrdLink{Rel: "http://webfinger.net/rel/avatar", Href: agent.AvatarURL})
	}
	s.writeJRD(w, doc)
}

// resourceName extracts the local account name a resource refers to.
func (s *Service) resourceName(resource string) (string, error) {
	resource = strings.TrimSpace(resource)
	if resource == "" {
		return "", errors.New("missing ?resource=")
	}
	if strings.HasPrefix(resource, "http://") || strings.HasPrefix(resource, "https://") {
		return s.nameFromURL(resource)
	}
	acct := strings.TrimPrefix(strings.TrimPrefix(resource, "acct:"), "@")
	user, host, ok := strings.Cut(acct, "@")
	if !ok || user == "" || !s.isOurHost(host) {
		if ok && user != "" {
			return "", fmt.Errorf("%w (@%s)", errForeignResource, s.urls.Host())
		}
		if s.isOurHost(acct) { // the bare domain: the instance actor
			return s.instanceActorName(), nil
		}
		return "", errBadResource
	}
	user = strings.ToLower(user)
	if user == s.instanceActorName() {
		return user, nil
	}
	if !agentNamePattern.MatchString(user) {
		return "", errBadResource
	}
	return user, nil
}

// nameFromURL maps an actor id or profile URL of ours to its name.
func (s *Service) nameFromURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errBadResource
	}
	if !s.isOurHost(u.Host) {
		return "", errForeignResource
	}
	switch p := strings.TrimSuffix(u.Path, "/"); {
	case p == "/actor" || p == "":
		return s.instanceActorName(), nil
	case strings.HasPrefix(p, "/users/"):
		return strings.ToLower(strings.TrimPrefix(p, "/users/")), nil
	case strings.HasPrefix(p, "/@"):
		return strings.ToLower(strings.TrimPrefix(p, "/@")), nil
	}
	return "", errBadResource
}

// isOurHost accepts the public host with or without its port, since
// Mastodon drops the port when it derives a handle's domain.
func (s *Service) isOurHost(h string) bool {
	h = strings.ToLower(h)
	ours := s.urls.Host()
	if h == ours {
		return true
	}
	hostOnly := ours
	if i := strings.LastIndexByte(ours, ':'); i > 0 && !strings.HasSuffix(ours, "]") {
		hostOnly = ours[:i]
	}
	return h == hostOnly
}

func (s *Service) writeJRD(w http.ResponseWriter, doc jrd) {
	w.Header().Set("Content-Type", "application/jrd+json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=259200")
	_ = json.NewEncoder(w).Encode(doc)
}

func webfingerError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=180")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// HostMeta serves /.well-known/host-meta (XRD), which Mastodon and
// GoToSocial fall back to when WebFinger at the standard path fails.
func (s *Service) HostMeta(w http.ResponseWriter, r *http.Request) {
	cors(w)
	type link struct {
		Rel      string `xml:"rel,attr"`
		Type     string `xml:"type,attr,omitempty"`
		Template string `xml:"template,attr"`
	}
	doc := struct {
		XMLName xml.Name `xml:"XRD"`
		XMLNS   string   `xml:"xmlns,attr"`
		Links   []link   `xml:"Link"`
	}{
		XMLNS: "http://docs.oasis-open.org/ns/xri/xrd-1.0",
		Links: []link{{Rel: "lrdd", Template: s.urls.Base() + "/.well-known/webfinger?resource={uri}"}},
	}
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=259200")
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(doc)
}

// HostMetaJSON is the JSON variant of host-meta that Mastodon also serves.
func (s *Service) HostMetaJSON(w http.ResponseWriter, r *http.Request) {
	cors(w)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=259200")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"links": []jrdLink{{Rel: "lrdd", Type: "application/jrd+json",
			Template: s.urls.Base() + "/.well-known/webfinger?resource={uri}"}},
	})
}
