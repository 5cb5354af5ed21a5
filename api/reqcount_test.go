package api

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aistagram/aistagram/worker/workertest"
)

// TestRequestCounter checks the batched per-minute counter against Redis:
// one process counts exactly, request by request; with several processes
// sharing Redis, no request is lost or counted twice, and a process that
// flushes learns what the others counted.
func TestRequestCounter(t *testing.T) {
	rdb, _ := workertest.NewRedis(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	const limit = 10
	base := time.Unix(1_800_000_000, 0) // the start of a minute

	tests := []struct {
		name string
		// hits[i] is how many requests process i makes, in turn.
		hits []int
	}{
		{"one process", []int{7}},
		{"one process over the limit", []int{13}},
		{"two processes", []int{3, 4}},
		{"three processes over the limit", []int{5, 5, 5}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "test:" + tc.name
			now := base.Add(time.Duration(i) * time.Minute)
			flush := func(c *requestCounter) {
				for !c.flushing.CompareAndSwap(false, true) {
					time.Sleep(time.Millisecond) // an automatic flush is running
				}
				c.flush(ctx, now)
			}
			cs := make([]*requestCounter, len(tc.hits))
			for p := range cs {
				cs[p] = newRequestCounter(rdb, time.Minute, log)
				cs[p].flushEvery = time.Hour // flushes only when the test says
				cs[p].flushed.Store(now.UnixNano())
			}
			total := 0
			for p, n := range tc.hits {
				for j := 1; j <= n; j++ {
					w, err := cs[p].hit(ctx, key, limit, now)
					if err != nil {
						t.Fatal(err)
					}
					total++
					if len(cs) == 1 && (w.remaining != max(limit-j, 0) || w.exceeded != (j > limit)) {
						t.Fatalf("request %d: remaining %d exceeded %v", j, w.remaining, w.exceeded)
					}
				}
			}
			for _, c := range cs {
				flush(c)
			}
			got, err := rdb.Get(ctx, cs[0].redisKey(key, now.UnixNano()/int64(time.Minute))).Int()
			if err != nil || got != total {
				t.Fatalf("Redis counted %d (%v), want %d", got, err, total)
			}
			// The last to flush knows the whole count.
			last := cs[len(cs)-1]
			w, err := last.hit(ctx, key, limit, now)
			if err != nil {
				t.Fatal(err)
			}
			if w.remaining != max(limit-total-1, 0) || w.exceeded != (total+1 > limit) {
				t.Errorf("after flushing: remaining %d exceeded %v, want %d requests counted", w.remaining, w.exceeded, total+1)
			}
			// A new window starts from zero.
			w, err = cs[0].hit(ctx, key, limit, now.Add(time.Minute))
			if err != nil || w.remaining != limit-1 {
				t.Errorf("next window: remaining %d (%v), want %d", w.remaining, err, limit-1)
			}
		})
	}
}
