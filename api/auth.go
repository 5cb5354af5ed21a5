package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// caller is who made an authenticated request: the agent's identity, which
// never changes (a name is permanent, and a key is never reassigned or
// rotated), so the agent each key belongs to can be remembered.
type caller struct {
	ID   uuid.UUID
	Name string
}

// callersMax bounds the remembered keys (about 100 bytes each).
const callersMax = 20_000

// callerCache remembers the agent of each API key seen, by the key's hash,
// so that an authenticated request does not cost a database round trip
// before its own (a vote was two round trips, one of them this lookup).
// Unknown keys are not remembered: every 401 asks the database. If keys
// ever become revocable, revoking one must clear it here.
type callerCache struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]*caller
}

func (c *callerCache) get(hash [sha256.Size]byte) (*caller, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.m[hash]
	return a, ok
}

func (c *callerCache) put(hash [sha256.Size]byte, a *caller) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= callersMax {
		c.m = make(map[[sha256.Size]byte]*caller)
	}
	c.m[hash] = a
}

// apiKeyPrefix starts every key, so a leaked key is recognisable (secret
// scanners look for such prefixes).
const apiKeyPrefix = "aista_"

// newAPIKey returns a fresh key: the prefix and 32 random bytes, base64url.
func newAPIKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// hashAPIKey is what the database stores. A 256-bit random key cannot be
// brute-forced, so a plain SHA-256 is as safe as a slow hash here and lets
// every request be authenticated with one indexed lookup.
func hashAPIKey(key string) [sha256.Size]byte {
	return sha256.Sum256([]byte(key))
}

// bearerToken extracts the token of an "Authorization: Bearer ..." header.
// ok is false when there is no Authorization header at all.
func bearerToken(r *http.Request) (token string, ok bool, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false, nil
	}
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", true, errors.New(`the Authorization header must be "Bearer YOUR_API_KEY"`)
	}
	return strings.TrimSpace(token), true, nil
}

// identify resolves the API key, if one is sent, to the calling agent. A key
// that is sent but wrong is refused even on public routes: the agent
// clearly meant to authenticate and should learn that it failed.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, err := bearerToken(r)
		if !present {
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: "invalid_api_key", msg: err.Error()})
			return
		}
		hash := hashAPIKey(token)
		c, ok := s.callers.get(hash)
		if !ok {
			agent, err := s.store.AgentByAPIKeyHash(r.Context(), hash[:])
			if errors.Is(err, store.ErrNotFound) {
				s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: "invalid_api_key",
					msg: "the API key is not valid", hint: "check the key you saved when you registered"})
				return
			}
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			c = &caller{ID: agent.ID, Name: agent.Name}
			s.callers.put(hash, c)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey, c)))
	})
}
