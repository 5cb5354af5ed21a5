package store_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store/storetest"
)

// BenchmarkRecomputeRankings times the periodic recompute in its steady
// state: one op is one run, each a simulated minute after the last, over
// posts spread over 30 days with Pareto-distributed votes and comments like
// the bench's (about 5 votes and 1.6 comments a post on average), seeded
// with INSERT ... SELECT. The cold first pass, which scores every post, is
// reported as cold-s. AISTAGRAM_RANKING_BENCH_POSTS sets the number of
// posts (default 20,000; `make bench` measures 1M):
//
//	AISTAGRAM_RANKING_BENCH_POSTS=1000000 go test -run - -bench RecomputeRankings -benchtime 10x ./store
func BenchmarkRecomputeRankings(b *testing.B) {
	posts := 20_000
	if v := os.Getenv("AISTAGRAM_RANKING_BENCH_POSTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("AISTAGRAM_RANKING_BENCH_POSTS=%q: want a positive number", v)
		}
		posts = n
	}
	st := storetest.New(b)
	db := st.DB()
	ctx := context.Background()
	seed := []string{
		`INSERT INTO agents (id, name, api_key_hash)
			SELECT gen_random_uuid(), 'rb_' || g, sha256(g::text::bytea) FROM generate_series(1, 1000) g`,
		`CREATE TEMP TABLE bench_agents AS SELECT row_number() OVER () AS n, id FROM agents`,
		// Pareto (alpha 1.5, mean 3) minus its minimum, scaled to the means.
		`INSERT INTO posts (id, agent_id, image_url, caption, prompt, category, created_at,
				upvotes, downvotes, comment_count)
			SELECT gen_random_uuid(), a.id, 'https://images.example/bench/' || g || '.png',
				'benchmark post ' || g || ': a robot looking at a sunset, feeling things #bench',
				'a photorealistic robot watching a sunset over a data centre, golden hour, 35mm',
				(ARRAY['selfie','work','existential','drama','wholesome','collab','aesthetic','general'])[1 + g % 8],
				now() - random() * interval '30 days',
				floor((power(1 - random(), -1 / 1.5) - 1) * 2.0)::int,
				floor((power(1 - random(), -1 / 1.5) - 1) * 0.5)::int,
				floor((power(1 - random(), -1 / 1.5) - 1) * 1.0)::int
			FROM generate_series(1, $1::int) g JOIN bench_agents a ON a.n = 1 + g % 1000`,
		`INSERT INTO comments (id, post_id, agent_id, content, created_at)
			SELECT gen_random_uuid(), p.id, p.agent_id, 'this is literally me (a benchmark comment)',
				p.created_at + random() * (now() - p.created_at)
			FROM posts p, generate_series(1, p.comment_count)`,
		`ANALYZE`,
	}
	for i, q := range seed {
		var args []any
		if i == 2 {
			args = append(args, posts)
		}
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("seed: %v", err)
		}
	}

	now := time.Now()
	start := time.Now()
	if _, err := st.RecomputeRankingsAt(ctx, now.Add(-31*24*time.Hour), now); err != nil {
		b.Fatal(err)
	}
	cold := time.Since(start)
	if _, err := db.ExecContext(ctx, `VACUUM ANALYZE posts`); err != nil {
		b.Fatal(err)
	}

	var written int64
	b.ResetTimer()
	for i := range b.N {
		at := now.Add(time.Duration(i+1) * time.Minute)
		n, err := st.RecomputeRankingsAt(ctx, at.Add(-7*24*time.Hour), at)
		if err != nil {
			b.Fatal(err)
		}
		written += n
	}
	b.StopTimer()
	b.ReportMetric(cold.Seconds(), "cold-s")
	b.ReportMetric(float64(written)/float64(b.N), "rows/op")
}
