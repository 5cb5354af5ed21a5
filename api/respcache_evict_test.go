package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store"
)

// TestCacheEvictsTheLeastAskedFor: over its budget, the cache first drops
// what no request can be served from (a past generation or scope), then
// the entries asked for least, and keeps the ones asked for most.
func TestCacheEvictsTheLeastAskedFor(t *testing.T) {
	const mb = 1 << 20
	entry := func(gen uint64, scope string, scopeGen uint64) *cachedResponse {
		return &cachedResponse{gen: gen, scope: scope, scopeGen: scopeGen, at: time.Now(),
			status: http.StatusOK, header: http.Header{}, body: make([]byte, mb)}
	}
	for _, tc := range []struct {
		name string
		// setup fills the cache, moves generations, and returns the keys
		// that must survive the eviction and those that must not.
		setup func(c *responseCache, ch *store.Changes) (kept, dropped []string)
	}{
		{"popular entries outlive unpopular ones", func(c *responseCache, _ *store.Changes) (kept, dropped []string) {
			for i := range 20 {
				k := fmt.Sprintf("hot%d", i)
				c.put(k, entry(0, "", 0))
				for range 5 {
					if c.get(k, 0, 0) == nil {
						panic("a fresh entry missed")
					}
				}
				kept = append(kept, k)
			}
			for i := range 12 {
				c.put(fmt.Sprintf("cold%d", i), entry(0, "", 0))
			}
			c.put("last", entry(0, "", 0)) // 33 MB, over the budget: down to 24, nine go
			return kept, nil
		}},
		{"a past generation goes first, however popular", func(c *responseCache, ch *store.Changes) (kept, dropped []string) {
			for i := range 10 {
				k := fmt.Sprintf("old%d", i)
				c.put(k, entry(0, "", 0))
				for range 50 {
					c.get(k, 0, 0)
				}
				dropped = append(dropped, k)
			}
			ch.Bump()
			for i := range 23 {
				k := fmt.Sprintf("new%d", i)
				c.put(k, entry(1, "", 0))
				kept = append(kept, k)
			}
			return kept, dropped
		}},
		{"a past scope goes first, however popular", func(c *responseCache, ch *store.Changes) (kept, dropped []string) {
			for i := range 10 {
				k, scope := fmt.Sprintf("post%d", i), fmt.Sprintf("post:%d", i)
				c.put(k, entry(0, scope, ch.ScopeGeneration(scope)))
				for range 50 {
					c.get(k, 0, ch.ScopeGeneration(scope))
				}
				ch.BumpScopes([]string{scope})
				dropped = append(dropped, k)
			}
			for i := range 23 {
				k := fmt.Sprintf("other%d", i)
				c.put(k, entry(0, "", 0))
				kept = append(kept, k)
			}
			return kept, dropped
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := store.NewChanges("", slog.New(slog.DiscardHandler))
			c := newResponseCache(ch)
			kept, dropped := tc.setup(c, ch)
			if c.bytes > cacheMaxBytes {
				t.Errorf("the cache holds %d bytes, over its budget of %d", c.bytes, cacheMaxBytes)
			}
			for _, k := range kept {
				if c.entries[k] == nil {
					t.Errorf("%s was evicted", k)
				}
			}
			for _, k := range dropped {
				if c.entries[k] != nil {
					t.Errorf("%s was kept", k)
				}
			}
		})
	}
}

// TestCacheBudgetCountsSmallEntries: filled with answers as small as
// WebFinger's, the cache holds about its budget in memory, not the budget
// in bodies plus every entry's bookkeeping on top.
func TestCacheBudgetCountsSmallEntries(t *testing.T) {
	c := newResponseCache(store.NewChanges("", slog.New(slog.DiscardHandler)))
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range 200_000 {
		h := http.Header{}
		h.Set("Content-Type", "application/jrd+json; charset=utf-8")
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Cache-Control", "max-age=60")
		h.Add("Vary", "Accept")
		key := fmt.Sprintf("/.well-known/webfinger?resource=acct:agent_%07d@aistagram.example\x00application/jrd+json", i)
		c.put(key, &cachedResponse{at: time.Now(), status: http.StatusOK, header: h, body: make([]byte, 500)})
	}
	held := heap() - before
	t.Logf("%d entries: %d bytes counted, %d held (%.0f counted and %.0f held per entry)", len(c.entries),
		c.bytes, held, float64(c.bytes)/float64(len(c.entries)), float64(held)/float64(len(c.entries)))
	if held > cacheMaxBytes*5/4 {
		t.Errorf("the cache holds %d MiB for a budget of %d MiB", held>>20, cacheMaxBytes>>20)
	}
	runtime.KeepAlive(c)
}
