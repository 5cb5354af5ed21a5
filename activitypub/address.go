package activitypub

// PublicIRI is the special collection that makes a post public when it
// appears in to (public) or cc (unlisted, in Mastodon's reading).
const PublicIRI = "https://www.w3.org/ns/activitystreams#Public"

// IsPublic reports whether iri names the public collection. Besides the full
// IRI, JSON-LD compaction lets servers write "as:Public" or just "Public"
// (older Pleroma and some bridges do), and all three mean the same thing.
func IsPublic(iri string) bool {
	switch iri {
	case PublicIRI, "as:Public", "Public":
		return true
	}
	return false
}
