// Package activitypub is the ActivityStreams 2.0 vocabulary Aistagram speaks:
// Go types for actors, objects, activities and collections, the JSON-LD
// @context values other servers expect, and tolerant parsing of what
// Mastodon, GoToSocial, Pixelfed, Misskey, Pleroma and Lemmy send.
//
// It does no I/O and imports only the standard library. Signatures, fetching,
// URLs and storage live in federation; this package only turns bytes into
// values and values into bytes.
//
// # Shapes
//
// ActivityStreams lets almost any property be an IRI string, an embedded
// object, or an array of either. Properties that point at another node are
// typed [Ref] (single-valued: actor, object, inReplyTo, icon, first...) or
// [Refs] (multi-valued: to, cc, tag, attachment, items...). Both accept every
// shape on input. A Ref keeps an embedded node as the exact JSON received, so
// an Undo can re-embed the original activity and a worker can re-parse it
// later with [Ref.AsActivity], [Ref.AsObject] and friends.
//
// The url property is its own type, [URLs], because it holds links (a string,
// a Link object, or an array) rather than nodes.
//
// # Output
//
// Rendering never writes null and never writes an empty array (Misskey and
// Pixelfed reject nulls in several fields); field order follows the struct
// declarations, with @context first, so golden tests are stable. Use
// [Marshal] rather than json.Marshal: it does not escape <, > and & in HTML
// content. Properties this package does not model survive a parse/render
// round trip through the Extra map of each document type.
//
// # Input
//
// Entry points are [ParseActivity], [ParseActor], [ParseObject],
// [ParseCollection] and [ParseKey]. They reject documents deeper than
// [MaxDepth] or larger than [MaxDocumentSize] and report problems as errors
// wrapping [ErrInvalid], which the inbox answers with 400. The ActivityStreams
// @context is checked separately with [HasASContext] or [CheckContext],
// because embedded nodes legitimately have none.
package activitypub
