package api

import (
	"bytes"
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"golang.org/x/sync/singleflight"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// Public pages that everyone reads — first feed pages, posts, actors,
// WebFinger, outboxes — are kept in memory as finished responses. An entry
// is valid for one generation of the data (store.Changes: every commit, in
// any process, starts a new one), so nothing is served after the rows it
// shows changed; a transaction this process commits starts the new
// generation at once (Store.AnnounceCommits), so its next read here sees
// the write, and other processes see it within the announcement's delivery
// time. An entry about one post or one outbox also names that scope
// (store.PostScope, store.OutboxScope; the feeds name store.ScopeFeeds),
// and stays valid through commits that announce other scopes only: votes
// refresh their post, the feeds and the author's outbox, and leave every
// actor, WebFinger answer and other post in place. Only anonymous GETs are cached: an
// authenticated response carries the caller's own votes. Pages behind a
// cursor are not cached (only first pages are read often enough to
// matter), and a miss is computed once for all the requests waiting on it.
const (
	// cacheMaxAge bounds how long an entry lives without any write, for the
	// few pages that change with time alone (sort=top&t=day).
	cacheMaxAge = 10 * time.Second
	// cacheMaxBytes is the memory the cache may hold; cacheMaxEntry the
	// largest response it keeps.
	cacheMaxBytes = 32 << 20
	cacheMaxEntry = 1 << 20
)

// responseCache holds the responses.
type responseCache struct {
	changes *store.Changes
	fills   singleflight.Group

	mu      sync.Mutex
	entries map[string]*cachedResponse
	bytes   int
}

// cachedResponse is one finished response and when it is valid: while the
// instance's generation is gen and its scope's is scopeGen.
type cachedResponse struct {
	gen      uint64
	scope    string // "" for none
	scopeGen uint64
	at       time.Time
	status   int
	header   http.Header
	body     []byte
	hits     int // answers served from it; under responseCache.mu
	size     int // what it holds in memory (entrySize); set by put
}

// entryOverhead is what an entry holds besides its body, key and header
// strings: the entry, its header map and slices, its slot in the cache's
// map. Counting bodies alone let 32 MiB of WebFinger answers (half a
// kilobyte each) hold two and a half times that, and serve's memory peak
// past 200 MiB at full scale.
const entryOverhead = 640

// entrySize is the memory an entry holds, as the cache counts it.
func entrySize(key string, e *cachedResponse) int {
	n := entryOverhead + len(key) + len(e.body)
	for k, vs := range e.header {
		n += len(k)
		for _, v := range vs {
			n += len(v) + 16 // and its string header
		}
	}
	return n
}

func newResponseCache(changes *store.Changes) *responseCache {
	return &responseCache{changes: changes, entries: map[string]*cachedResponse{}}
}

// cacheSpec says what a route's cached answers depend on besides the
// whole instance's generation and the request's URL and Accept lines.
type cacheSpec struct {
	// scopeOf names the scope the answer is about ("" or nil for none).
	scopeOf func(*http.Request) string
	// pathOnly leaves the query string out of the key, for handlers that
	// read none (actor and Note documents): otherwise ?anything would make
	// as many entries as anyone asked for and push the popular ones out.
	pathOnly bool
}

// cached serves h through the cache as spec says. Requests that cannot be
// cached pass straight through.
func (s *Server) cached(spec cacheSpec, h http.HandlerFunc) http.HandlerFunc {
	c, scopeOf := s.respCache, spec.scopeOf
	return func(w http.ResponseWriter, r *http.Request) {
		if c == nil || !c.changes.Live() || r.Method != http.MethodGet ||
			r.Header.Get("Authorization") != "" || r.URL.Query().Has("cursor") {
			h(w, r)
			return
		}
		// Every Accept line: which answer a URL gets (ActivityPub JSON or
		// a redirect to the page, and whether a signature is checked)
		// depends on all of them (federation.WantsActivityJSON).
		key := r.URL.Path
		if !spec.pathOnly {
			key += "?" + r.URL.RawQuery
		}
		key += "\x00" + strings.Join(r.Header.Values("Accept"), ",")
		if federation.UnsignedActorFetch(r) {
			// In authorized-fetch mode an unsigned fetch gets the stripped
			// actor, a signed one the whole: two answers for one URL.
			key += "\x00unsigned"
		}
		// Both generations are read before the handler reads the data, so
		// a commit landing in between makes this fill stale at once.
		gen, scope, scopeGen := c.changes.Generation(), "", uint64(0)
		if scopeOf != nil {
			if scope = scopeOf(r); scope != "" {
				scopeGen = c.changes.ScopeGeneration(scope)
			}
		}
		if e := c.get(key, gen, scopeGen); e != nil {
			e.write(w, "hit")
			return
		}
		fill := key + "\x00" + strconv.FormatUint(gen, 10) + "." + strconv.FormatUint(scopeGen, 10)
		v, _, _ := c.fills.Do(fill, func() (any, error) {
			// The fill outlives the request that started it: others wait on it.
			rec := &responseRecorder{header: http.Header{}, status: http.StatusOK}
			h(rec, r.WithContext(context.WithoutCancel(r.Context())))
			e := &cachedResponse{gen: gen, scope: scope, scopeGen: scopeGen, at: time.Now(),
				status: rec.status, header: rec.header, body: rec.body.Bytes()}
			if cacheable(e.status) && len(e.body) <= cacheMaxEntry {
				c.put(key, e)
			}
			return e, nil
		})
		v.(*cachedResponse).write(w, "miss")
	}
}

// cacheable statuses are answers about the data, not about the request.
func cacheable(status int) bool {
	return status == http.StatusOK || status == http.StatusNotFound || status == http.StatusGone
}

// servable reports whether e may still answer, at now, a request of the
// instance's generation gen and its scope's scopeGen (0 for no scope).
func (e *cachedResponse) servable(now time.Time, gen, scopeGen uint64) bool {
	return e.gen == gen && e.scopeGen == scopeGen && now.Sub(e.at) <= cacheMaxAge
}

func (c *responseCache) get(key string, gen, scopeGen uint64) *cachedResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || !e.servable(time.Now(), gen, scopeGen) {
		return nil
	}
	e.hits++
	return e
}

func (c *responseCache) put(key string, e *cachedResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[key]; old != nil {
		if old.gen > e.gen || (old.gen == e.gen && old.scopeGen > e.scopeGen) {
			return // a newer generation's fill finished first
		}
		c.bytes -= old.size
	}
	e.size = entrySize(key, e)
	c.entries[key] = e
	c.bytes += e.size
	if c.bytes > cacheMaxBytes {
		c.evict()
	}
}

// evict drops the entries no request can be served from any more
// (expired, or of a past generation or scope), then the ones least asked
// for, until the cache is at three quarters of its budget. How much an
// entry is asked for is its answers per second of its life, counting the
// fill as one and a life as at least a second, so a page just filled is
// not dropped for having had no time to be read. Dropping in map order, as
// before, dropped the popular pages as readily as the rest: with outbox
// pages of 40 KB, the budget holds about 800 of them, which a Zipf(1.1)
// draw over 100k agents asks for three quarters of the time, yet the cache
// answered two thirds.
func (c *responseCache) evict() {
	now, gen := time.Now(), c.changes.Generation()
	type candidate struct {
		key  string
		rate float64
		size int
	}
	live := make([]candidate, 0, len(c.entries))
	for k, e := range c.entries {
		scopeGen := uint64(0)
		if e.scope != "" {
			scopeGen = c.changes.ScopeGeneration(e.scope)
		}
		if !e.servable(now, gen, scopeGen) {
			c.bytes -= e.size
			delete(c.entries, k)
			continue
		}
		live = append(live, candidate{key: k, rate: float64(e.hits+1) / max(now.Sub(e.at).Seconds(), 1), size: e.size})
	}
	if c.bytes <= cacheMaxBytes*3/4 {
		return
	}
	slices.SortFunc(live, func(a, b candidate) int { return cmp.Compare(a.rate, b.rate) })
	for _, x := range live {
		if c.bytes <= cacheMaxBytes*3/4 {
			break
		}
		c.bytes -= x.size
		delete(c.entries, x.key)
	}
}

// write sends the response; xCache says whether it came from memory
// ("hit") or was just computed ("miss"), in an X-Cache header as caching
// proxies do, so an operator (and make bench) can see the cache at work.
func (e *cachedResponse) write(w http.ResponseWriter, xCache string) {
	h := w.Header()
	for k, v := range e.header {
		if k == "Vary" {
			// Handlers around the cache say what they vary on too
			// (SignedFetch: Signature); both lists go out.
			h[k] = append(h[k], v...)
			continue
		}
		h[k] = append([]string(nil), v...) // later middleware may append
	}
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	h.Set("X-Cache", xCache)
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body)
}

// responseRecorder captures what a handler writes.
type responseRecorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }

func (r *responseRecorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
}

func (r *responseRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(b)
}

// The scopes of the cached routes' answers (store.ScopeFeeds and the rest).
func feedsScope(*http.Request) string { return store.ScopeFeeds }

// postScope is the scope of a post's documents; a malformed id names none
// (its answer, a 400 or 404, depends on no post).
func postScope(r *http.Request) string {
	id, err := uuid.Parse(mux.Vars(r)["id"])
	if err != nil {
		return ""
	}
	return store.PostScope(id)
}

// outboxScope is the scope of an agent's outbox pages (names are stored in
// lower case, and looked up so).
func outboxScope(r *http.Request) string {
	return store.OutboxScope(strings.ToLower(mux.Vars(r)["name"]))
}
