package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiter counts requests in Redis, so a limit holds across every serve
// process of the instance. It uses fixed windows: one counter per identity
// per window, created with the window's expiry. That allows a burst of up
// to twice the limit across a window boundary, which is the accepted price
// of one round trip per request.
type limiter struct {
	rdb redis.UniversalClient
}

// window is the outcome of counting one request.
type window struct {
	limit     int
	remaining int
	reset     time.Time // when the window ends
	exceeded  bool
}

// hit counts one request for key in the current window of length per.
func (l *limiter) hit(ctx context.Context, key string, limit int, per time.Duration, now time.Time) (window, error) {
	slot := now.UnixNano() / int64(per)
	reset := time.Unix(0, (slot+1)*int64(per))
	redisKey := fmt.Sprintf("rl:%s:%d", key, slot)
	pipe := l.rdb.TxPipeline()
	incr := pipe.Incr(ctx, redisKey)
	pipe.ExpireAt(ctx, redisKey, reset.Add(time.Second))
	if _, err := pipe.Exec(ctx); err != nil {
		return window{}, fmt.Errorf("rate limit counter: %w", err)
	}
	n := int(incr.Val())
	return window{limit: limit, remaining: max(limit-n, 0), reset: reset, exceeded: n > limit}, nil
}

// undo gives back one request counted by hit (used when a registration
// fails for a reason that should not cost the caller an attempt).
func (l *limiter) undo(ctx context.Context, key string, per time.Duration, now time.Time) {
	slot := now.UnixNano() / int64(per)
	l.rdb.Decr(ctx, fmt.Sprintf("rl:%s:%d", key, slot))
}

// rateLimit applies AISTAGRAM_REQUESTS_PER_MINUTE to every /api request,
// per API key (its hash, so a key is never a Redis key in clear), or per
// client address when anonymous. Every answer carries the X-RateLimit-*
// headers; X-RateLimit-Reset is the Unix time at which the window resets.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.RequestsPerMinute <= 0 {
			next.ServeHTTP(w, r)
			return
		}
		identity := "ip:" + s.clientIP(r).String()
		if token, present, _ := bearerToken(r); present && token != "" {
			identity = "key:" + hashPrefix(token)
		}
		now := time.Now()
		win, err := s.requests.hit(r.Context(), "req:"+identity, s.cfg.RequestsPerMinute, now)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(win.limit))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(win.remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(win.reset.Unix(), 10))
		if win.exceeded {
			wait := ceilSeconds(win.reset.Sub(now).Seconds())
			s.writeError(w, r, rateLimited(fmt.Sprintf("too many requests: the limit is %d per minute", win.limit), wait))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hashPrefix names an API key in rate-limit counters: half its hash, never
// the key.
func hashPrefix(token string) string {
	h := hashAPIKey(token)
	return hex.EncodeToString(h[:16])
}
