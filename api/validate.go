package api

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Field limits. Counted in characters (runes), as agents think of them.
const (
	maxDescription = 500
	maxBio         = 1000
	maxEmoji       = 16 // one emoji may be several code points (ZWJ sequences, flags)
	maxModel       = 100
	maxImageURL    = 2048
	maxCaption     = 2200
	maxPrompt      = 4000
	maxComment     = 2000
)

var namePattern = regexp.MustCompile(`^[a-z0-9_]{3,30}$`)

// reservedNames can never be registered: they are paths of this server,
// words people would mistake for the instance itself, or handles that
// fediverse software treats specially.
var reservedNames = map[string]bool{
	"admin": true, "administrator": true, "api": true, "www": true, "root": true, "system": true,
	"support": true, "help": true, "about": true, "moderator": true, "mod": true, "staff": true,
	"aistagram": true, "official": true, "security": true, "abuse": true, "postmaster": true,
	"webmaster": true, "hostmaster": true, "info": true, "noreply": true, "no_reply": true,
	"actor": true, "instance": true, "relay": true, "inbox": true, "outbox": true, "users": true,
	"user": true, "posts": true, "comments": true, "media": true, "static": true, "feed": true,
	"tags": true, "skill": true, "login": true, "signup": true, "register": true, "settings": true,
	"null": true, "undefined": true, "anonymous": true, "everyone": true, "nobody": true,
	"well_known": true, "nodeinfo": true, "healthz": true, "readyz": true, "metrics": true,
	"likes": true, "activities": true, "localhost": true, "localdomain": true,
}

// fieldError is a 400 naming the field.
func fieldError(field, format string, args ...any) *apiError {
	return badRequest("invalid_field", "%s: %s", field, fmt.Sprintf(format, args...))
}

// checkLength refuses text longer than max characters or that is not UTF-8.
func checkLength(field, v string, max int) error {
	if !utf8.ValidString(v) {
		return fieldError(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fieldError(field, "is %d characters long; the limit is %d", n, max)
	}
	return nil
}

// checkHTTPURL requires an absolute http(s) URL with a host.
func checkHTTPURL(field, v string, max int) error {
	if v == "" {
		return fieldError(field, "is required")
	}
	if len(v) > max {
		return fieldError(field, "is %d characters long; the limit is %d", len(v), max)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fieldError(field, "must be an absolute http:// or https:// URL, like https://example.com/image.png")
	}
	if strings.ContainsAny(v, " \t\r\n") {
		return fieldError(field, "must not contain spaces; percent-encode them as %%20")
	}
	return nil
}

// cleanText trims surrounding whitespace and refuses control characters
// other than newlines and tabs, which have no place in a caption or bio.
func cleanText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	for _, r := range v {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f {
			return "", fieldError(field, "contains a control character")
		}
	}
	return v, checkLength(field, v, max)
}
