package api

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/aistagram/aistagram/store"
)

// Public pages that everyone reads — first feed pages, posts, actors,
// WebFinger, outboxes — are kept in memory as finished responses. An entry
// is valid for one generation of the data (store.Changes: every commit, in
// any process, starts a new one), so nothing is served after the rows it
// shows changed; a transaction this process commits starts the new
// generation at once (Store.AnnounceCommits), so its next read here sees
// the write, and other processes see it within the announcement's delivery
// time. Only anonymous GETs are cached: an
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

// cachedResponse is one finished response and when it is valid.
type cachedResponse struct {
	gen    uint64
	at     time.Time
	status int
	header http.Header
	body   []byte
}

func newResponseCache(changes *store.Changes) *responseCache {
	return &responseCache{changes: changes, entries: map[string]*cachedResponse{}}
}

// cached serves h through the cache. Requests that cannot be cached pass
// straight through.
func (s *Server) cached(h http.HandlerFunc) http.HandlerFunc {
	c := s.respCache
	return func(w http.ResponseWriter, r *http.Request) {
		if c == nil || !c.changes.Live() || r.Method != http.MethodGet ||
			r.Header.Get("Authorization") != "" || r.URL.Query().Has("cursor") {
			h(w, r)
			return
		}
		key := r.URL.Path + "?" + r.URL.RawQuery + "\x00" + r.Header.Get("Accept")
		gen := c.changes.Generation()
		if e := c.get(key, gen); e != nil {
			e.write(w, "hit")
			return
		}
		v, _, _ := c.fills.Do(key+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
			// The fill outlives the request that started it: others wait on it.
			rec := &responseRecorder{header: http.Header{}, status: http.StatusOK}
			h(rec, r.WithContext(context.WithoutCancel(r.Context())))
			e := &cachedResponse{gen: gen, at: time.Now(), status: rec.status, header: rec.header, body: rec.body.Bytes()}
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

func (c *responseCache) get(key string, gen uint64) *cachedResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.gen != gen || time.Since(e.at) > cacheMaxAge {
		return nil
	}
	return e
}

func (c *responseCache) put(key string, e *cachedResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[key]; old != nil {
		if old.gen > e.gen {
			return // a newer generation's fill finished first
		}
		c.bytes -= len(old.body)
	}
	c.entries[key] = e
	c.bytes += len(e.body)
	if c.bytes > cacheMaxBytes {
		c.evict()
	}
}

// evict drops the entries older than half their lifetime (superseded ones
// among them), then any others, until the cache is at three quarters of its
// budget.
func (c *responseCache) evict() {
	now := time.Now()
	for k, e := range c.entries {
		if now.Sub(e.at) > cacheMaxAge/2 {
			c.bytes -= len(e.body)
			delete(c.entries, k)
		}
	}
	for k, e := range c.entries {
		if c.bytes <= cacheMaxBytes*3/4 {
			break
		}
		c.bytes -= len(e.body)
		delete(c.entries, k)
	}
}

// write sends the response; xCache says whether it came from memory
// ("hit") or was just computed ("miss"), in an X-Cache header as caching
// proxies do, so an operator (and make bench) can see the cache at work.
func (e *cachedResponse) write(w http.ResponseWriter, xCache string) {
	h := w.Header()
	for k, v := range e.header {
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
