package federation

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// ContentTypeActivity is the one content type every fediverse server
// accepts for ActivityPub documents. Mastodon has refused anything else
// (including application/json) since February 2024, and Pixelfed compares
// the header as an exact string.
const ContentTypeActivity = "application/activity+json"

// WantsActivityJSON reports whether a GET asks for ActivityPub JSON rather
// than a web page. The types servers send are application/activity+json
// and application/ld+json (with or without the ActivityStreams profile);
// when text/html is also listed, the higher quality wins, so Mastodon's
// search ("…, text/html;q=0.1") gets JSON and browsers get HTML.
func WantsActivityJSON(r *http.Request) bool {
	apQ, htmlQ := -1.0, -1.0
	for _, part := range strings.Split(strings.Join(r.Header.Values("Accept"), ","), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		switch mt {
		case "application/activity+json", "application/ld+json":
			apQ = max(apQ, q)
		case "text/html", "application/xhtml+xml":
			htmlQ = max(htmlQ, q)
		}
	}
	return apQ > 0 && apQ >= htmlQ
}
