// Package federation speaks ActivityPub to the rest of the fediverse:
// HTTP Signatures (draft-cavage, as Mastodon, GoToSocial and Pixelfed sign),
// WebFinger, NodeInfo, the actor and collection endpoints, the inbox, remote
// actor and key resolution, the SSRF-safe HTTP client every outbound request
// goes through, every ActivityPub URL, and one delivery attempt.
//
// It imports only the standard library, github.com/go-fed/httpsig, and the
// project's activitypub and store packages; work that must be queued goes
// through small interfaces that the worker package satisfies.
package federation
