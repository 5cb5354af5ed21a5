// Package workertest gives each test its own empty Redis database on the
// server that `make test` starts (with 256 databases), so test packages
// running in parallel never see each other's keys or queues.
package workertest

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the variable holding the test Redis URL.
const EnvURL = "AISTAGRAM_TEST_REDIS_URL"

// databases is how many logical databases the test server has; database 0
// only holds the allocation counter.
const databases = 256

// NewRedis returns a client on a freshly flushed database and its URL.
func NewRedis(t testing.TB) (redis.UniversalClient, string) {
	t.Helper()
	raw := os.Getenv(EnvURL)
	if raw == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and Redis", EnvURL)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	ctx := context.Background()
	admin := redis.NewClient(opts)
	n, err := admin.Incr(ctx, "aistagram:test:next-db").Result()
	admin.Close()
	if err != nil {
		t.Fatalf("allocate a test Redis database: %v", err)
	}
	opts.DB = 1 + int(n-1)%(databases-1)
	rdb := redis.NewClient(opts)
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("flush test Redis database %d: %v", opts.DB, err)
	}
	t.Cleanup(func() {
		rdb.FlushDB(context.Background())
		rdb.Close()
	})
	return rdb, fmt.Sprintf("redis://%s/%d", opts.Addr, opts.DB)
}
