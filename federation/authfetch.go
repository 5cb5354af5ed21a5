package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type fetchCtxKey int

const unsignedFetchKey fetchCtxKey = iota

// SignedFetch guards an ActivityPub document in authorized-fetch mode
// (AISTAGRAM_AUTHORIZED_FETCH), as Mastodon's secure mode does: a request
// for the JSON must carry a valid HTTP signature, checked with the same
// verifier as the inbox. Browsers asking for the web page pass through.
//
// An actor document is the one exception: without a signature it is served
// stripped to what verifying our own signatures needs (the key, the
// inboxes), because a server that fetches our key cannot sign with a key
// we have not seen yet. Mastodon's secure mode does the same.
func (s *Service) SignedFetch(next http.HandlerFunc, actorDoc bool) http.HandlerFunc {
	if !s.cfg.AuthorizedFetch {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !WantsActivityJSON(r) {
			next(w, r)
			return
		}
		w.Header().Add("Vary", "Signature")
		if _, err := VerifyRequest(r.Context(), r, nil, s.resolver, time.Now()); err != nil {
			if actorDoc {
				next(w, r.WithContext(context.WithValue(r.Context(), unsignedFetchKey, true)))
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "this server requires signed requests: " + err.Error()})
			return
		}
		next(w, r)
	}
}

// UnsignedActorFetch reports a request that gets the stripped actor: an
// unsigned fetch in authorized-fetch mode. Its answer differs from a signed
// fetch's of the same URL, so a cache must tell the two apart.
func UnsignedActorFetch(r *http.Request) bool {
	v, _ := r.Context().Value(unsignedFetchKey).(bool)
	return v
}
