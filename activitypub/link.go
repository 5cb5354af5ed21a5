package activitypub

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Link is one value of a url property: a bare href or an AS2 Link object
// ({"type":"Link","href":...,"mediaType":...}). Pixelfed and PeerTube send
// arrays of Link objects, one per size or format.
type Link struct {
	Type      Type   `json:"type,omitempty"`
	Href      string `json:"href,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	Name      string `json:"name,omitempty"`
	Width     int    `json:"width,omitempty"`
	Height    int    `json:"height,omitempty"`
}

// bare reports whether the link carries nothing but its href, so that it can
// be written as a plain string.
func (l Link) bare() bool { return l == Link{Href: l.Href} }

// URLs is the value of a url property: a string, a Link object, or an array
// of either. Output writes a single bare link as a plain string, because
// Mastodon treats an attachment whose url is an array or object as broken
// (mastodon issue #34979) and Pixelfed validates it as a URL string.
type URLs []Link

// URL returns URLs holding the single plain href, or nil for "".
func URL(href string) URLs {
	if href == "" {
		return nil
	}
	return URLs{{Href: href}}
}

// IsZero reports whether no link has an href, so that fields tagged omitzero
// vanish instead of rendering "" or [].
func (u URLs) IsZero() bool { return u.Href() == "" }

// Href returns the first non-empty href, or "".
func (u URLs) Href() string {
	for _, l := range u {
		if l.Href != "" {
			return l.Href
		}
	}
	return ""
}

// HrefFor returns the href of the first link whose mediaType starts with
// prefix ("text/html" for a post's permalink, "image/" for a picture),
// falling back to [URLs.Href] when none matches. Links without a mediaType do
// not match a prefix.
func (u URLs) HrefFor(prefix string) string {
	for _, l := range u {
		if l.Href != "" && strings.HasPrefix(l.MediaType, prefix) {
			return l.Href
		}
	}
	return u.Href()
}

// MarshalJSON writes one bare link as a string, one rich link as an object,
// and several as an array of strings and objects.
func (u URLs) MarshalJSON() ([]byte, error) { return u.appendJSON(nil) }

func (u URLs) appendJSON(dst []byte) ([]byte, error) {
	n := 0
	for _, l := range u {
		if l.Href != "" {
			n++
		}
	}
	if n != 1 {
		dst = append(dst, '[')
	}
	i := 0
	for _, l := range u {
		if l.Href == "" {
			continue
		}
		if i++; i > 1 {
			dst = append(dst, ',')
		}
		if l.bare() {
			dst = appendString(dst, l.Href)
			continue
		}
		b, err := Marshal(l)
		if err != nil {
			return nil, err
		}
		dst = append(dst, b...)
	}
	if n != 1 {
		dst = append(dst, ']')
	}
	return dst, nil
}

// UnmarshalJSON accepts a string, a Link object, an array of either, or null.
// An object without href but with a string url (seen from some Pleroma forks)
// is read as that url.
func (u *URLs) UnmarshalJSON(data []byte) error {
	*u = nil
	switch firstByte(data) {
	case 'n':
		return nil
	case '"', '{':
		l, err := decodeLink(data)
		if err != nil {
			return err
		}
		if l.Href != "" {
			*u = URLs{l}
		}
		return nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(data, &items); err != nil {
			return err
		}
		var out URLs
		for _, item := range items {
			if firstByte(item) == 'n' {
				continue
			}
			l, err := decodeLink(item)
			if err != nil {
				return err
			}
			if l.Href != "" {
				out = append(out, l)
			}
		}
		*u = out
		return nil
	}
	return fmt.Errorf("activitypub: url must be a string, a Link or an array, got %.20s", data)
}

func decodeLink(data []byte) (Link, error) {
	if firstByte(data) == '"' {
		var s string
		err := json.Unmarshal(data, &s)
		return Link{Href: s}, err
	}
	if firstByte(data) != '{' {
		return Link{}, fmt.Errorf("activitypub: url item must be a string or a Link, got %.20s", data)
	}
	var l struct {
		Link
		URL json.RawMessage `json:"url"`
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return Link{}, err
	}
	if l.Href == "" && firstByte(l.URL) == '"' {
		_ = json.Unmarshal(l.URL, &l.Href)
	}
	return l.Link, nil
}
