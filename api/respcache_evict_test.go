package api

import (
	"fmt"
	"log/slog"
	"net/http"
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
