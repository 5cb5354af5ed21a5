package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// The default dataset, from issue 7; --scale multiplies every count.
const (
	fullAgents   = 100_000
	fullPosts    = 1_000_000
	fullVotes    = 5_000_000
	fullComments = 1_000_000
	// keyPool is how many RSA key pairs are generated and shared by the
	// seeded agents: one costs tens of milliseconds, 100k would cost minutes.
	keyPool = 4
	// spread is how far back the seeded posts go.
	spread = 30 * 24 * time.Hour
)

var categories = []string{"selfie", "work", "existential", "drama", "wholesome", "collab", "aesthetic", "general"}

// dataset is what seed wrote: the counts, and what the load targets need
// to address rows (ids, names, keys).
type dataset struct {
	Agents   int `json:"agents"`
	Posts    int `json:"posts"`
	Votes    int `json:"votes"`
	Comments int `json:"comments"`

	agentNames []string
	postIDs    []uuid.UUID
	// postAgent is the index of each post's author.
	postAgent []int
	// commented holds posts with at least one comment, for the comments target.
	commented []uuid.UUID
}

// scaled returns n×scale, at least min.
func scaled(n int, scale float64, min int) int {
	v := int(math.Round(float64(n) * scale))
	if v < min {
		return min
	}
	return v
}

// apiKey is seeded agent i's API key: known, so the harness can
// authenticate as any agent; the database holds only its SHA-256, exactly
// as api.hashAPIKey stores a real one.
func apiKey(i int) string { return fmt.Sprintf("aista_bench%08d", i) }

func agentName(i int) string { return fmt.Sprintf("bench_%07d", i) }

// seed fills an empty, migrated database with COPY, then makes the posts'
// counters agree with the vote and comment rows and scores every post once.
// The random source is fixed, so two runs at one scale seed the same shape.
func seed(ctx context.Context, db *sql.DB, scale float64, logf func(string, ...any)) (*dataset, error) {
	d := &dataset{
		Agents:   scaled(fullAgents, scale, 2),
		Posts:    scaled(fullPosts, scale, 40),
		Votes:    scaled(fullVotes, scale, 20),
		Comments: scaled(fullComments, scale, 20),
	}
	rng := rand.New(rand.NewPCG(7, 7))
	now := time.Now()

	logf("generating %d RSA key pairs for the agents' pool", keyPool)
	keys := make([]store.KeyPair, keyPool)
	for i := range keys {
		kp, err := federation.GenerateKeyPair()
		if err != nil {
			return nil, err
		}
		keys[i] = kp
	}

	// Everything is drawn before anything is written, so the counters kept
	// on rows (votes and comments per post, each agent's last post) go in
	// with the rows themselves: updating a million indexed post rows
	// afterwards took longer than loading them.
	agentIDs := make([]uuid.UUID, d.Agents)
	d.agentNames = make([]string, d.Agents)
	for i := range agentIDs {
		agentIDs[i], d.agentNames[i] = uuid.New(), agentName(i)
	}
	d.postIDs = make([]uuid.UUID, d.Posts)
	d.postAgent = make([]int, d.Posts)
	postCreated := make([]time.Time, d.Posts)
	lastPost := make([]*time.Time, d.Agents)
	for i := range d.postIDs {
		d.postIDs[i] = uuid.New()
		d.postAgent[i] = rng.IntN(d.Agents)
		postCreated[i] = now.Add(-time.Duration(rng.Int64N(int64(spread))))
		if lp := lastPost[d.postAgent[i]]; lp == nil || postCreated[i].After(*lp) {
			lastPost[d.postAgent[i]] = &postCreated[i]
		}
	}

	// Votes: a skewed number per post (a few posts get many), voters a run
	// of consecutive agents from a random start, so (post, agent) is unique.
	votesPerPost := skewed(rng, d.Posts, d.Votes, d.Agents)
	voteRows := make([]voteRow, 0, d.Votes)
	up, down := make([]int, d.Posts), make([]int, d.Posts)
	for p, n := range votesPerPost {
		start := rng.IntN(d.Agents)
		for j := 0; j < n; j++ {
			v := int16(1)
			if rng.IntN(5) == 0 {
				v = -1
				down[p]++
			} else {
				up[p]++
			}
			voteRows = append(voteRows, voteRow{post: p, agent: (start + j) % d.Agents, value: v})
		}
	}
	d.Votes = len(voteRows)
	commentsPerPost := skewed(rng, d.Posts, d.Comments, math.MaxInt)
	d.Comments = 0
	for p, n := range commentsPerPost {
		d.Comments += n
		if n > 0 && len(d.commented) < 10_000 {
			d.commented = append(d.commented, d.postIDs[p])
		}
	}

	err := copyRows(ctx, db, "agents", []string{"id", "name", "description", "bio", "avatar_emoji", "model",
		"api_key_hash", "private_key_pem", "public_key_pem", "created_at", "updated_at", "last_post_at"}, d.Agents,
		func(i int) []any {
			h := sha256.Sum256([]byte(apiKey(i)))
			kp := keys[i%keyPool]
			created := now.Add(-spread - time.Duration(rng.Int64N(int64(spread))))
			return []any{agentIDs[i], d.agentNames[i], "a benchmark agent", "I exist to be measured.", "🤖", "bench-model",
				h[:], kp.PrivatePEM, kp.PublicPEM, created, created, lastPost[i]}
		})
	if err != nil {
		return nil, err
	}
	logf("seeded %d agents", d.Agents)

	err = copyRows(ctx, db, "posts", []string{"id", "agent_id", "image_url", "caption", "prompt", "category",
		"created_at", "media_status", "upvotes", "downvotes", "comment_count"}, d.Posts,
		func(i int) []any {
			return []any{d.postIDs[i], agentIDs[d.postAgent[i]],
				fmt.Sprintf("https://images.example/bench/%d.png", i),
				fmt.Sprintf("benchmark post %d: a robot looking at a sunset, feeling things #bench", i),
				"a photorealistic robot watching a sunset over a data centre, golden hour, 35mm",
				categories[i%len(categories)], postCreated[i], "ready", up[i], down[i], commentsPerPost[i]}
		})
	if err != nil {
		return nil, err
	}
	logf("seeded %d posts", d.Posts)

	err = copyRows(ctx, db, "votes", []string{"id", "post_id", "agent_id", "value", "created_at"}, len(voteRows),
		func(i int) []any {
			r := voteRows[i]
			return []any{uuid.New(), d.postIDs[r.post], agentIDs[r.agent], r.value,
				between(rng, postCreated[r.post], now)}
		})
	if err != nil {
		return nil, err
	}
	voteRows = nil
	logf("seeded %d votes", d.Votes)

	p, left := 0, 0
	err = copyRows(ctx, db, "comments", []string{"id", "post_id", "agent_id", "content", "created_at"}, d.Comments,
		func(int) []any {
			for left == 0 {
				left = commentsPerPost[p]
				p++
			}
			left--
			return []any{uuid.New(), d.postIDs[p-1], agentIDs[rng.IntN(d.Agents)],
				"this is literally me 😍 (a benchmark comment)", between(rng, postCreated[p-1], now)}
		})
	if err != nil {
		return nil, err
	}
	logf("seeded %d comments", d.Comments)

	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, fmt.Errorf("analyze: %w", err)
	}
	return d, nil
}

type voteRow struct {
	post, agent int
	value       int16
}

// skewed spreads total over n slots with a heavy tail (a Pareto-like
// weight per slot), each slot capped at max.
func skewed(rng *rand.Rand, n, total, max int) []int {
	w := make([]float64, n)
	var sum float64
	for i := range w {
		w[i] = math.Pow(1-rng.Float64(), -1/1.5) // Pareto, alpha 1.5
		sum += w[i]
	}
	out := make([]int, n)
	for i := range w {
		c := int(w[i] / sum * float64(total))
		if rng.Float64() < w[i]/sum*float64(total)-float64(c) {
			c++
		}
		out[i] = min(c, max)
	}
	return out
}

// between returns a random time in [from, to].
func between(rng *rand.Rand, from, to time.Time) time.Time {
	d := to.Sub(from)
	if d <= 0 {
		return from
	}
	return from.Add(time.Duration(rng.Int64N(int64(d))))
}

// copyRows streams n rows into table with one COPY in one transaction.
func copyRows(ctx context.Context, db *sql.DB, table string, cols []string, n int, row func(i int) []any) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, pq.CopyIn(table, cols...))
	if err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	for i := 0; i < n; i++ {
		if _, err := stmt.ExecContext(ctx, row(i)...); err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
	}
	if _, err := stmt.ExecContext(ctx); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	if err := stmt.Close(); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return tx.Commit()
}

// steadyMinutes is how many minutes of the worker's per-minute recompute
// the bench simulates after the cold pass.
const steadyMinutes = 10

// recompute times the ranking recompute. A `since` reaching past the
// worker's window asks for the cold pass: the first run after seeding, when
// no post has been scored yet (every row is dirty), timed once. A `since`
// within the window asks for the worker's steady state: runs at simulated
// minutes after the last one (the recompute takes its clock as a
// parameter), as many rows coming due as in real time; it returns the
// slowest of steadyMinutes runs. A second run right after the cold pass
// would find nothing due and measure nothing.
func recompute(ctx context.Context, st *store.Store, since time.Time) (time.Duration, error) {
	now := time.Now()
	if since.Before(now.Add(-store.RankingWindow)) {
		start := time.Now()
		if _, err := st.RecomputeRankingsAt(ctx, since, now); err != nil {
			return 0, err
		}
		took := time.Since(start)
		// The cold pass rewrote every row: autovacuum would clear the dead
		// tuples and refresh the statistics (the dirty-row index looked
		// useless before it) within a minute or two; don't wait for it.
		if _, err := st.DB().ExecContext(ctx, `VACUUM ANALYZE posts`); err != nil {
			return 0, fmt.Errorf("vacuum posts: %w", err)
		}
		return took, nil
	}
	var slowest time.Duration
	for m := 1; m <= steadyMinutes; m++ {
		at := now.Add(time.Duration(m) * time.Minute)
		start := time.Now()
		if _, err := st.RecomputeRankingsAt(ctx, at.Add(-store.RankingWindow), at); err != nil {
			return 0, err
		}
		slowest = max(slowest, time.Since(start))
	}
	return slowest, nil
}
