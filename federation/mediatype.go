package federation

import (
	"path"
	"strings"
)

// GuessImageType guesses a media type from a URL's extension, for Notes
// whose image is not stored by the instance (posts made before media were
// hosted, avatars given by URL).
func GuessImageType(imageURL string) string {
	p := imageURL
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".avif":
		return "image/avif"
	default:
		return "image/jpeg"
	}
}
