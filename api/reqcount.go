package api

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// requestCounter counts API requests per identity per minute for the
// per-minute limit. Counting every request in Redis cost one round trip
// each — 40 % of the CPU of a first feed page served from memory — so the
// count is kept here and added to the shared Redis counter in batches:
// the first request of an identity in a window counts in Redis at once
// (learning what other processes counted), later ones locally, and every
// flushEvery the local counts go to Redis in one pipeline, which answers
// with each identity's total across processes. One process counts exactly;
// several may together let through what the others counted in the last
// flushEvery (at 100 a minute, nothing). Redis keys are those of limiter,
// so both agree.
type requestCounter struct {
	rdb        redis.UniversalClient
	per        time.Duration
	flushEvery time.Duration
	log        *slog.Logger

	mu       sync.Mutex
	windows  map[string]*countWindow
	flushing atomic.Bool
	flushed  atomic.Int64 // when the last flush started, Unix nanoseconds
}

// countWindow is one identity's count in one window.
type countWindow struct {
	slot int64
	// shared is the Redis total at the last answer (this process's flushed
	// requests included); inflight are being flushed; local are not yet.
	shared, inflight, local int64
	known                   bool
}

func newRequestCounter(rdb redis.UniversalClient, per time.Duration, log *slog.Logger) *requestCounter {
	return &requestCounter{rdb: rdb, per: per, flushEvery: 50 * time.Millisecond, log: log,
		windows: map[string]*countWindow{}}
}

func (c *requestCounter) redisKey(key string, slot int64) string {
	return fmt.Sprintf("rl:%s:%d", key, slot)
}

// hit counts one request for key and returns the window as the limiter
// would.
func (c *requestCounter) hit(ctx context.Context, key string, limit int, now time.Time) (window, error) {
	slot := now.UnixNano() / int64(c.per)
	reset := time.Unix(0, (slot+1)*int64(c.per))
	c.mu.Lock()
	w := c.windows[key]
	if w == nil || w.slot != slot {
		w = &countWindow{slot: slot}
		c.windows[key] = w
	}
	var n int64
	if w.known {
		w.local++
		n = w.shared + w.inflight + w.local
		c.mu.Unlock()
	} else {
		c.mu.Unlock()
		total, err := c.incr(ctx, c.redisKey(key, slot), 1, reset)
		if err != nil {
			return window{}, err
		}
		c.mu.Lock()
		w.shared = max(w.shared, total)
		w.known = true
		n = total + w.local
		c.mu.Unlock()
	}
	if now.UnixNano()-c.flushed.Load() >= int64(c.flushEvery) && c.flushing.CompareAndSwap(false, true) {
		c.flushed.Store(now.UnixNano())
		go c.flush(context.WithoutCancel(ctx), now)
	}
	return window{limit: limit, remaining: max(limit-int(n), 0), reset: reset, exceeded: n > int64(limit)}, nil
}

func (c *requestCounter) incr(ctx context.Context, key string, by int64, reset time.Time) (int64, error) {
	pipe := c.rdb.TxPipeline()
	incr := pipe.IncrBy(ctx, key, by)
	pipe.ExpireAt(ctx, key, reset.Add(time.Second))
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("rate limit counter: %w", err)
	}
	return incr.Val(), nil
}

// flush adds the local counts to Redis and forgets past windows.
func (c *requestCounter) flush(ctx context.Context, now time.Time) {
	defer c.flushing.Store(false)
	current := now.UnixNano() / int64(c.per)
	type pending struct {
		key   string
		w     *countWindow
		delta int64
	}
	var batch []pending
	c.mu.Lock()
	for key, w := range c.windows {
		if w.slot < current-1 {
			delete(c.windows, key) // a finished window; its key expires in Redis
			continue
		}
		if w.local > 0 {
			batch = append(batch, pending{key, w, w.local})
			w.inflight += w.local
			w.local = 0
		}
	}
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(batch))
	for i, p := range batch {
		k := c.redisKey(p.key, p.w.slot)
		cmds[i] = pipe.IncrBy(ctx, k, p.delta)
		pipe.ExpireAt(ctx, k, time.Unix(0, (p.w.slot+1)*int64(c.per)).Add(time.Second))
	}
	_, err := pipe.Exec(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range batch {
		p.w.inflight -= p.delta
		if n, cerr := cmds[i].Result(); err == nil && cerr == nil {
			p.w.shared = max(p.w.shared, n)
		} else {
			p.w.local += p.delta // counted again at the next flush
		}
	}
	if err != nil {
		c.log.WarnContext(ctx, "rate limit counts not flushed to Redis; retrying", "err", err)
	}
}
