package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// rankingFixture holds a store with agents to post, vote and comment.
type rankingFixture struct {
	t      *testing.T
	st     *store.Store
	author uuid.UUID
	voters []uuid.UUID
}

func newRankingFixture(t *testing.T, voters int) *rankingFixture {
	t.Helper()
	f := &rankingFixture{t: t, st: storetest.New(t)}
	f.author = f.agent()
	for range voters {
		f.voters = append(f.voters, f.agent())
	}
	return f
}

func (f *rankingFixture) agent() uuid.UUID {
	f.t.Helper()
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	a := &store.Agent{ID: uuid.New(), Name: fmt.Sprintf("rank_%x", hash[:6])}
	if err := f.st.CreateAgent(context.Background(), a, hash); err != nil {
		f.t.Fatal(err)
	}
	return a.ID
}

// post creates a post and backdates it to created, as the bench seeds do.
func (f *rankingFixture) post(created time.Time) uuid.UUID {
	f.t.Helper()
	p, err := f.st.CreatePost(context.Background(), store.NewPost{AgentID: f.author,
		ImageURL: "https://images.example/a.png", Category: "general"}, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE posts SET created_at = $2 WHERE id = $1`, p.ID, created)
	return p.ID
}

func (f *rankingFixture) vote(post uuid.UUID, voter, value int) {
	f.t.Helper()
	if _, err := f.st.ToggleVote(context.Background(), post, f.voters[voter], value); err != nil {
		f.t.Fatal(err)
	}
}

// comment adds a comment on post dated at.
func (f *rankingFixture) comment(post uuid.UUID, at time.Time) {
	f.t.Helper()
	c, err := f.st.CreateComment(context.Background(), store.NewComment{PostID: post, AgentID: f.voters[0], Content: "tea"}, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE comments SET created_at = $2 WHERE id = $1`, c.ID, at)
}

func (f *rankingFixture) exec(q string, args ...any) {
	f.t.Helper()
	if _, err := f.st.DB().Exec(q, args...); err != nil {
		f.t.Fatal(err)
	}
}

// scores reads a post's stored hot score and the exact one at `at`.
func (f *rankingFixture) hot(id uuid.UUID, at time.Time) (stored, exact float64) {
	f.t.Helper()
	err := f.st.DB().QueryRow(`SELECT hot_score, hot_score(score, comment_count, created_at, $2) FROM posts WHERE id = $1`,
		id, at).Scan(&stored, &exact)
	if err != nil {
		f.t.Fatal(err)
	}
	return stored, exact
}

func (f *rankingFixture) recompute(since, at time.Time) int64 {
	f.t.Helper()
	n, err := f.st.RecomputeRankingsAt(context.Background(), since, at)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// within reports whether stored is within the tolerance of exact (a tiny
// absolute slack covers float rounding).
func within(stored, exact float64) bool {
	return math.Abs(stored-exact) <= store.RankingTolerance*math.Abs(exact)+1e-12
}

// goHot is README's hot formula, written again independently of the SQL.
func goHot(net, comments int, age time.Duration) float64 {
	return float64(net+comments+1) / math.Pow(math.Max(age.Hours(), 0)+2, 1.5)
}

// TestRecomputeRankingsWritesOnlyMovedRows scores posts of many ages, then
// lets a minute pass: the rows whose hot score moved past the tolerance are
// rewritten exactly, the others keep their stored value, and every row ends
// within the tolerance.
func TestRecomputeRankingsWritesOnlyMovedRows(t *testing.T) {
	f := newRankingFixture(t, 3)
	t0 := time.Now().Truncate(time.Second)
	cases := []struct {
		name    string
		age     time.Duration
		votes   []int // one per voter
		rewrite bool  // moved more than 1 % in the minute after t0
	}{
		// d/dt of ln hot = -1.5/(age_h+2) per hour: 1.15 %/min at 10 min,
		// 0.83 %/min at 1 h, 0.10 %/min at a day, 0.015 %/min at six days.
		{"ten minutes old", 10 * time.Minute, nil, true},
		{"ten minutes old, voted", 10 * time.Minute, []int{1, 1, -1}, true},
		{"an hour old", time.Hour, nil, false},
		{"a day old", 24 * time.Hour, []int{1}, false},
		{"six days old", 6 * 24 * time.Hour, []int{1, 1}, false},
		{"a day old, net -1: always 0", 24 * time.Hour, []int{-1}, false},
		{"ten minutes old, net -2: negative", 10 * time.Minute, []int{-1, -1}, true},
	}
	ids := make([]uuid.UUID, len(cases))
	for i, c := range cases {
		ids[i] = f.post(t0.Add(-c.age))
		for v, value := range c.votes {
			f.vote(ids[i], v, value)
		}
	}

	// The first run scores every unvoted row exactly (each is due); a
	// vote scored its post itself, moments after t0, so those are within
	// the tolerance and the run leaves them.
	f.recompute(t0.Add(-store.RankingWindow), t0)
	for i, c := range cases {
		stored, exact := f.hot(ids[i], t0)
		if len(c.votes) == 0 && math.Abs(stored-exact) > 1e-12*math.Abs(exact) {
			t.Errorf("%s: after the first run hot %g, want exactly %g", c.name, stored, exact)
		}
		if !within(stored, exact) {
			t.Errorf("%s: after the first run hot %g, not within the tolerance of %g", c.name, stored, exact)
		}
		net := 0
		for _, v := range c.votes {
			net += v
		}
		if want := goHot(net, 0, c.age); math.Abs(exact-want) > 1e-12*math.Abs(want) {
			t.Errorf("%s: SQL hot %g, README's formula %g", c.name, exact, want)
		}
	}
	before := map[uuid.UUID]float64{}
	for _, id := range ids {
		before[id], _ = f.hot(id, t0)
	}

	t1 := t0.Add(time.Minute)
	written := f.recompute(t1.Add(-store.RankingWindow), t1)
	var want int64
	for i, c := range cases {
		stored, exact := f.hot(ids[i], t1)
		switch {
		case c.rewrite:
			want++
			if stored != exact {
				t.Errorf("%s: moved, so hot should be rewritten to %g, is %g", c.name, exact, stored)
			}
		case stored != before[ids[i]]:
			t.Errorf("%s: within the tolerance, so hot should stay %g, is %g", c.name, before[ids[i]], stored)
		}
		if !within(stored, exact) {
			t.Errorf("%s: hot %g is not within %g of %g", c.name, stored, store.RankingTolerance, exact)
		}
	}
	if written != want {
		t.Errorf("second run wrote %d posts, want %d", written, want)
	}
}

// TestRecomputeRankingsNeverStrays runs the recompute once a simulated
// minute for three hours over posts of every age in the window: after every
// run, every stored hot score is within the tolerance of its exact value, so
// any two posts whose exact scores differ by more than about 1 % are in the
// right order; and most rows are skipped most minutes.
func TestRecomputeRankingsNeverStrays(t *testing.T) {
	f := newRankingFixture(t, 2)
	t0 := time.Now().Truncate(time.Second)
	var ids []uuid.UUID
	for age := 5 * time.Minute; age < store.RankingWindow+3*time.Hour; age = age*3/2 + time.Minute {
		id := f.post(t0.Add(-age))
		if len(ids)%3 == 0 {
			f.vote(id, 0, 1)
		}
		ids = append(ids, id)
	}
	var writes, rows int64
	for m := 0; m <= 180; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		n := f.recompute(at.Add(-store.RankingWindow), at)
		if m > 0 {
			writes += n
			rows += int64(len(ids))
		}
		type scored struct{ stored, exact float64 }
		var all []scored
		for _, id := range ids {
			var created time.Time
			if err := f.st.DB().QueryRow(`SELECT created_at FROM posts WHERE id = $1`, id).Scan(&created); err != nil {
				t.Fatal(err)
			}
			stored, exact := f.hot(id, at)
			if at.Sub(created) <= store.RankingWindow && !within(stored, exact) {
				t.Fatalf("minute %d: post aged %s has hot %g, exact %g: off by more than the tolerance",
					m, at.Sub(created), stored, exact)
			}
			if at.Sub(created) <= store.RankingWindow {
				all = append(all, scored{stored, exact})
			}
		}
		// The order bound that follows.
		sort.Slice(all, func(i, j int) bool { return all[i].stored > all[j].stored })
		for i := range all {
			for j := i + 1; j < len(all); j++ {
				if all[j].exact > all[i].exact*(1+store.RankingTolerance)/(1-store.RankingTolerance) {
					t.Fatalf("minute %d: exact %g stored below exact %g", m, all[j].exact, all[i].exact)
				}
			}
		}
	}
	if writes >= rows {
		t.Errorf("wrote %d of %d row-minutes: rows within the tolerance should be skipped", writes, rows)
	}
	t.Logf("wrote %d of %d row-minutes", writes, rows)
}

// TestRecomputeRankingsCatchesDirtyRows checks that comments whose
// per-post rescoring never ran (a lost task) are picked up by the next
// periodic run, exactly, whatever their age; and that a vote needs no run:
// it rescores its post itself and leaves the row clean.
func TestRecomputeRankingsCatchesDirtyRows(t *testing.T) {
	f := newRankingFixture(t, 2)
	now := time.Now()
	cases := []struct {
		name string
		age  time.Duration
		act  func(id uuid.UUID)
		// rescored: the act itself rescored the post (a vote), so the run
		// may leave it, within the tolerance; otherwise the run must
		// rewrite it exactly.
		rescored bool
	}{
		{"vote on a fresh post", time.Minute, func(id uuid.UUID) { f.vote(id, 1, 1) }, true},
		{"vote on a five-day-old post", 5 * 24 * time.Hour, func(id uuid.UUID) { f.vote(id, 1, -1) }, true},
		{"comment on a three-day-old post", 3 * 24 * time.Hour, func(id uuid.UUID) { f.comment(id, now.Add(-time.Hour)) }, false},
		{"comment on a month-old post", 30 * 24 * time.Hour, func(id uuid.UUID) { f.comment(id, now.Add(-2*time.Hour)) }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := f.post(now.Add(-c.age))
			if err := f.st.RecomputePost(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			c.act(id) // and no RecomputePost
			var hotDirty bool
			if err := f.st.DB().QueryRow(`SELECT score + comment_count <> hot_basis FROM posts WHERE id = $1`, id).Scan(&hotDirty); err != nil {
				t.Fatal(err)
			}
			if hotDirty == c.rescored {
				t.Errorf("hot score dirty after the act: %v, want %v", hotDirty, !c.rescored)
			}
			at := time.Now().Add(time.Second)
			f.recompute(at.Add(-store.RankingWindow), at)
			stored, exact := f.hot(id, at)
			if (!c.rescored && stored != exact) || !within(stored, exact) {
				t.Errorf("hot %g, want %g", stored, exact)
			}
			checkDiscussed(t, f, id, at)
		})
	}
}

// checkDiscussed checks a post's stored discussed key against README's
// formula at `at`: the score is 2^(key - days since 1970).
func checkDiscussed(t *testing.T, f *rankingFixture, id uuid.UUID, at time.Time) {
	t.Helper()
	var key, exact float64
	var dirty bool
	err := f.st.DB().QueryRow(`SELECT discussed_score, discussed_score(id, $2), comment_count <> discussed_count
		FROM posts WHERE id = $1`, id, at).Scan(&key, &exact, &dirty)
	if err != nil {
		t.Fatal(err)
	}
	got := 0.0
	if key != 0 {
		got = math.Pow(2, key-float64(at.UnixNano())/float64(24*time.Hour))
	}
	if dirty || math.Abs(got-exact) > 1e-9*math.Max(exact, 1) {
		t.Errorf("discussed key %g means score %g at %s, want %g (dirty %v)", key, got, at, exact, dirty)
	}
}

// TestDiscussedKeyKeepsOrder checks that ordering by the stored discussed
// key is ordering by the discussed score at any time, without rescoring.
func TestDiscussedKeyKeepsOrder(t *testing.T) {
	f := newRankingFixture(t, 1)
	now := time.Now()
	comments := [][]time.Duration{ // ages of each post's comments
		{},
		{time.Hour},
		{3 * 24 * time.Hour, 3 * 24 * time.Hour, 3 * 24 * time.Hour, 3 * 24 * time.Hour, 3 * 24 * time.Hour},
		{20 * 24 * time.Hour},
		{time.Minute, 10 * 24 * time.Hour},
		{2 * time.Hour, 2 * time.Hour},
	}
	var ids []uuid.UUID
	for _, ages := range comments {
		id := f.post(now.Add(-31 * 24 * time.Hour))
		for _, a := range ages {
			f.comment(id, now.Add(-a))
		}
		if err := f.st.RecomputePost(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, later := range []time.Duration{0, time.Hour, 7 * 24 * time.Hour, 90 * 24 * time.Hour} {
		at := now.Add(later)
		var byKey, byScore []uuid.UUID
		rows, err := f.st.DB().Query(`SELECT id FROM posts WHERE id = ANY($1)
			ORDER BY discussed_score DESC, id`, uuidArray(ids))
		if err != nil {
			t.Fatal(err)
		}
		byKey = scanIDs(t, rows)
		rows, err = f.st.DB().Query(`SELECT id FROM posts WHERE id = ANY($1)
			ORDER BY discussed_score(id, $2) DESC, id`, uuidArray(ids), at)
		if err != nil {
			t.Fatal(err)
		}
		byScore = scanIDs(t, rows)
		if fmt.Sprint(byKey) != fmt.Sprint(byScore) {
			t.Errorf("%s later: by key %v, by score %v", later, byKey, byScore)
		}
		for _, id := range ids {
			checkDiscussed(t, f, id, at)
		}
	}
}

// TestRecomputePostIsExact checks the per-post path after votes, a comment
// and a deleted comment: the hot score is exact at the moment it ran and
// the discussed key matches the comments.
func TestRecomputePostIsExact(t *testing.T) {
	f := newRankingFixture(t, 3)
	ctx := context.Background()
	id := f.post(time.Now().Add(-5 * time.Hour))
	f.vote(id, 0, 1)
	f.vote(id, 1, 1)
	f.vote(id, 2, -1)
	c, err := f.st.CreateComment(ctx, store.NewComment{PostID: id, AgentID: f.voters[1], Content: "x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.comment(id, time.Now().Add(-30*time.Minute))
	if err := f.st.DeleteComment(ctx, c.ID, f.voters[1]); err != nil {
		t.Fatal(err)
	}

	var before, after time.Time
	if err := f.st.DB().QueryRow(`SELECT clock_timestamp()`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecomputePost(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DB().QueryRow(`SELECT clock_timestamp()`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	stored, early := f.hot(id, before)
	_, late := f.hot(id, after)
	if stored > early || stored < late {
		t.Errorf("hot %g, want between %g and %g (net 1, 1 live comment, 5 h old)", stored, late, early)
	}
	if want := goHot(1, 1, 5*time.Hour); math.Abs(stored-want) > 0.001*want {
		t.Errorf("hot %g, README's formula gives %g", stored, want)
	}
	var basis, counted int
	if err := f.st.DB().QueryRow(`SELECT hot_basis, discussed_count FROM posts WHERE id = $1`, id).Scan(&basis, &counted); err != nil {
		t.Fatal(err)
	}
	if basis != 2 || counted != 1 {
		t.Errorf("scored from net+comments %d and %d comments, want 2 and 1", basis, counted)
	}
	checkDiscussed(t, f, id, after)

	// A periodic run right after has nothing to do for this post.
	if n := f.recompute(after.Add(-store.RankingWindow), after); n != 0 {
		t.Errorf("a run right after RecomputePost rewrote %d posts, want 0", n)
	}
}

// TestHotDueMatchesTolerance checks hot_due (SQL) against RankingTolerance
// and RankingWindow (Go): the migration has them as literals.
func TestHotDueMatchesTolerance(t *testing.T) {
	f := newRankingFixture(t, 0)
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		basis int
		age   time.Duration // when the stored score was exact
	}{{0, 0}, {4, time.Hour}, {10, 24 * time.Hour}, {2, 6 * 24 * time.Hour}, {3, 167 * time.Hour}, {-3, 2 * time.Hour}} {
		stored := goHot(c.basis, 0, c.age)
		var due float64
		if err := f.st.DB().QueryRow(`SELECT hot_due($1, $2, $3)`, c.basis, stored, created).Scan(&due); err != nil {
			t.Fatal(err)
		}
		// Due when stored/exact reaches 1+tolerance.
		dueAge := (c.age.Hours()+2)*math.Pow(1+store.RankingTolerance, 2.0/3) - 2
		want := float64(created.Unix()) + dueAge*3600
		if dueAge > store.RankingWindow.Hours() {
			want = math.Inf(1)
		}
		if due != want && math.Abs(due-want) > 1e-3 {
			t.Errorf("basis %d exact at %s: due %f, want %f", c.basis, c.age, due, want)
		}
		if !math.IsInf(want, 1) {
			at := created.Add(time.Duration(dueAge * float64(time.Hour)))
			if exact := goHot(c.basis, 0, at.Sub(created)); math.Abs(stored/exact-1-store.RankingTolerance) > 1e-6 {
				t.Errorf("basis %d: at the due time stored/exact is %g", c.basis, stored/exact)
			}
		}
	}
}

// TestRecomputeRankingsRunsOneAtATime checks that a run started while
// another holds the lock returns at once without writing.
func TestRecomputeRankingsRunsOneAtATime(t *testing.T) {
	f := newRankingFixture(t, 1)
	ctx := context.Background()
	id := f.post(time.Now().Add(-time.Hour))
	f.comment(id, time.Now()) // dirty: its rescoring task never runs here
	conn, err := f.st.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, 0x72616e6b); err != nil {
		t.Fatal(err)
	}
	if n := f.recompute(time.Now().Add(-store.RankingWindow), time.Now()); n != 0 {
		t.Errorf("a run beside a running one wrote %d posts", n)
	}
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, 0x72616e6b); err != nil {
		t.Fatal(err)
	}
	if n := f.recompute(time.Now().Add(-store.RankingWindow), time.Now()); n != 1 {
		t.Errorf("the run after wrote %d posts, want the commented one", n)
	}
}

func uuidArray(ids []uuid.UUID) any {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return pq.Array(s)
}

func scanIDs(t *testing.T, rows *sql.Rows) []uuid.UUID {
	t.Helper()
	defer rows.Close()
	var ids []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestRecomputeRankingsKeepsCachesValid: a recompute that rewrites scores
// starts no new generation of the data, so responses cached in memory stay
// valid (the scores are read only when a feed takes its next snapshot).
func TestRecomputeRankingsKeepsCachesValid(t *testing.T) {
	url := storetest.NewURL(t)
	st, err := store.Open(context.Background(), url, store.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	changes := runChanges(t, url)
	st.AnnounceCommits(changes)
	f := &rankingFixture{t: t, st: st}
	f.author = f.agent()
	t0 := time.Now().Truncate(time.Second)
	f.post(t0.Add(-10 * time.Minute)) // young enough to move within a minute

	gen := changes.Generation()
	if n := f.recompute(time.Time{}, t0.Add(time.Minute)); n == 0 {
		t.Fatal("the recompute rewrote nothing; the test needs a post that moved")
	}
	if got := changes.Generation(); got != gen {
		t.Errorf("a recompute started generation %d (was %d): cached responses were dropped", got, gen)
	}
}
