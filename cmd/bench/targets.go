package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// dbCeilingConns is the database ceiling's pool: small, because PostgreSQL
// on few cores slows down as clients are added.
const dbCeilingConns = 8

// fixed is a target that always requests the same URL.
func fixed(name, u string) target {
	return target{Name: name, URL: func(int, int) string { return u }}
}

// ceilingServers keeps the HTTP and database ceilings' process up after
// they are measured, so each target can be compared with its ceiling
// measured again just before it (ceilingBefore).
type ceilingServers struct {
	proc  *ceilingProcess
	meter *cpuMeter // the ceilings' process in the server's column
}

func (cs *ceilingServers) close() { cs.proc.close() }

// measureCeilings runs the HTTP and database ceilings through l and RSA
// on every core, recording them in rep. The HTTP ceiling's body is page
// (the server's real first feed page, so that it has exactly its size),
// kept in dir for the ceilings' process.
func measureCeilings(ctx context.Context, l *loader, meter *cpuMeter, dir, dbURL string, page []byte, rep *report) (*ceilingServers, error) {
	rep.Ceilings.BodyBytes = len(page)
	bodyFile := filepath.Join(dir, "ceiling-body.json")
	if err := os.WriteFile(bodyFile, page, 0o644); err != nil {
		return nil, err
	}
	proc, err := startCeilingProcess(ctx, bodyFile, dbURL)
	if err != nil {
		return nil, err
	}
	cs := &ceilingServers{proc: proc, meter: meter.withServer(proc.pid())}
	logf("ceiling: HTTP (%d-byte body)", len(page))
	rep.Ceilings.HTTP = cs.run(ctx, l, "HTTP ceiling", proc.HTTP)
	inLoader, err := startCeiling(httpCeiling(page))
	if err != nil {
		cs.close()
		return nil, err
	}
	rep.Ceilings.HTTPInLoader = l.run(ctx, fixed("HTTP ceiling in the load generator", inLoader.URL+"/"))
	l.close()
	inLoader.close()
	logf("ceiling: database (%d connections)", dbCeilingConns)
	rep.Ceilings.DB = cs.run(ctx, l, "DB ceiling", proc.DB)

	logf("ceiling: RSA-2048")
	rep.Ceilings.RSASignsPerSec, rep.Ceilings.RSAVerifiesPerSec, err = rsaCeiling(2 * time.Second)
	if err != nil {
		cs.close()
		return nil, err
	}
	return cs, nil
}

// run loads one ceiling, noting where the cores went.
func (cs *ceilingServers) run(ctx context.Context, l *loader, name, u string) result {
	account := cs.meter.start(ctx)
	r := l.run(ctx, fixed(name, u+"/"))
	r.loadAccount = account()
	l.close()
	return r
}

// ceilingBefore measures t's own ceiling again, just before t is loaded:
// the database ceiling for pages compared with it, else the HTTP one.
// This machine's speed drifts by tens of percent within a run, so a
// target measured minutes after the ceilings can look better or worse
// than it is; the ratio to the ceiling next to it does not drift with it.
// Writes have none (pgbench needs its own database set up).
func (cs *ceilingServers) ceilingBefore(ctx context.Context, l *loader, t serverTarget) float64 {
	if t.write {
		return 0
	}
	u := cs.proc.HTTP
	if t.vsDB {
		u = cs.proc.DB
	}
	r := l.run(ctx, fixed("ceiling before "+t.target.Name, u+"/"))
	l.close()
	return r.RPS
}

// serverTarget is a target on the server and whether its figure is also
// compared with the database ceiling (pages that cannot be cached).
type serverTarget struct {
	target target
	vsDB   bool
	// write targets are compared with the write ceiling (pgbench TPS).
	write bool
	// during, when set, runs beside the target's warm-up and load, until
	// its context ends: other traffic the figure is measured under. It
	// says what it did.
	during func(ctx context.Context) string
}

// serverTargets lists what is loaded on the server: the read paths, then
// the writes (vote toggles, then new posts whose image is at imageURL).
// Posts and actors are requested two ways: uniformly over the whole
// dataset (mostly misses of any cache: the database's figure) and with the
// skew of real traffic, a Zipf distribution where a few popular posts and
// agents get most reads (what a viral post does to an instance).
func serverTargets(ctx context.Context, base, imageURL string, d *dataset) ([]serverTarget, error) {
	host := strings.TrimPrefix(base, "http://")
	var out []serverTarget
	for _, sort := range []string{"new", "hot", "top", "discussed"} {
		out = append(out, serverTarget{target: fixed("feed "+sort, base+"/api/feed?sort="+sort+"&limit=20")})
	}
	deep, depth, err := deepPage(ctx, base+"/api/feed?sort=new&limit=20", 50)
	if err != nil {
		return nil, err
	}
	out = append(out, serverTarget{target: fixed(fmt.Sprintf("feed new, page %d", depth+1), deep), vsDB: true})
	popularPost, popularAgent := zipf(len(d.postIDs), 1), zipf(len(d.agentNames), 1)
	out = append(out,
		serverTarget{target: target{Name: "post by id, popular", URL: func(int, int) string {
			return base + "/api/posts/" + d.postIDs[popularPost()].String()
		}}},
		serverTarget{target: target{Name: "post by id, uniform", URL: func(int, int) string {
			return base + "/api/posts/" + d.postIDs[rand.IntN(len(d.postIDs))].String()
		}}, vsDB: true})
	if len(d.commented) > 0 {
		out = append(out, serverTarget{target: target{Name: "comments", URL: func(int, int) string {
			return base + "/api/posts/" + d.commented[rand.IntN(len(d.commented))].String() + "/comments"
		}}, vsDB: true})
	}
	name := func() string { return d.agentNames[popularAgent()] }
	activity := http.Header{"Accept": {"application/activity+json"}}
	out = append(out,
		serverTarget{target: target{Name: "webfinger", URL: func(int, int) string {
			return base + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+name()+"@"+host)
		}}},
		serverTarget{target: fixed("nodeinfo", base+"/nodeinfo/2.1")},
		serverTarget{target: target{Name: "actor, popular", URL: func(int, int) string { return base + "/users/" + name() },
			Header: activity}},
		serverTarget{target: target{Name: "actor, uniform", URL: func(int, int) string {
			return base + "/users/" + d.agentNames[rand.IntN(len(d.agentNames))]
		}, Header: activity}, vsDB: true},
		serverTarget{target: target{Name: "outbox page", URL: func(int, int) string { return base + "/users/" + name() + "/outbox?page=1" },
			Header: activity}},
		serverTarget{target: fixed("web /", base+"/")},
	)

	// Writes. Each connection acts as its own agent. A vote toggle is two
	// requests on one post: the first casts the vote, the second (the same
	// vote again) takes it back, both through the whole write path.
	agentKey := func(conn int) string { return apiKey(conn % d.Agents) }
	voted := func(conn, n int) uuid.UUID {
		// Someone else's post: agents cannot vote on their own (403).
		i := (conn*7919 + n/2) % len(d.postIDs)
		for range len(d.postIDs) {
			if d.postAgent[i] != conn%d.Agents {
				break
			}
			i = (i + 1) % len(d.postIDs)
		}
		return d.postIDs[i]
	}
	// Reads while votes land, as on a live instance: each vote is a write
	// the response cache must not serve stale answers after, and must
	// not empty itself for when the answer does not show it. Votes go to
	// popular posts as reads do (the same skew, its own sequence): those
	// are the posts whose cached answers a vote refreshes.
	popularVote := zipf(len(d.postIDs), 3)
	voteOnPopular := func(n int) (conn int, post uuid.UUID) {
		i, conn := popularVote(), 1000+n%64 // agents other than the vote target's first ones
		if d.postAgent[i] == conn%d.Agents {
			conn++ // not on one's own post
		}
		return conn, d.postIDs[i]
	}
	for _, rt := range slices.Clone(out) {
		if rt.target.Name != "post by id, popular" && rt.target.Name != "actor, popular" {
			continue
		}
		rt.target.Name += fmt.Sprintf(", %d votes/s meanwhile", votesMeanwhile)
		rt.during = func(ctx context.Context) string {
			landed, failed := voteSteadily(ctx, base, votesMeanwhile, agentKey, voteOnPopular)
			return fmt.Sprintf("%d votes landed, %d failed", landed, failed)
		}
		out = append(out, rt)
	}

	out = append(out,
		serverTarget{write: true, target: target{Name: "vote toggle", Auth: agentKey,
			URL:  func(conn, n int) string { return base + "/api/posts/" + voted(conn, n).String() + "/vote" },
			Body: func(int, int) []byte { return []byte(`{"vote_type":"up"}`) }}},
		serverTarget{write: true, target: target{Name: "post create", Auth: agentKey,
			URL: func(int, int) string { return base + "/api/posts" },
			Body: func(conn, n int) []byte {
				b, _ := json.Marshal(map[string]string{
					"image_url": fmt.Sprintf("%s/%d-%d.png", imageURL, conn, n), "caption": "bench post",
					"prompt": "a benchmark, rendered", "category": categories[n%len(categories)]})
				return b
			}}},
	)
	return out, nil
}

// votesMeanwhile is the rate of the votes cast during the mixed targets: a
// busy instance's (a vote every 10 ms).
const votesMeanwhile = 100

// voteSteadily toggles votes at perSecond until ctx ends, the nth by the
// agent of connection number conn on the post pick(n) says, on its own
// connections, each vote through the whole API path.
func voteSteadily(ctx context.Context, base string, perSecond int, key func(conn int) string, pick func(n int) (conn int, post uuid.UUID)) (landed, failed int64) {
	var ok, bad atomic.Int64
	defer func() { landed, failed = ok.Load(), bad.Load() }()
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		conn, post := pick(n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodPost,
				base+"/api/posts/"+post.String()+"/vote", strings.NewReader(`{"vote_type":"up"}`))
			if err != nil {
				bad.Add(1)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key(conn))
			resp, err := client.Do(req)
			if err != nil {
				bad.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				bad.Add(1)
				return
			}
			ok.Add(1)
		}()
	}
}

// zipf returns a source of indexes below n where index 0 is the most
// popular, then 1 and so on, with exponent 1.1 (close to what web caches
// observe); safe for the load generator's goroutines.
func zipf(n int, seed uint64) func() int {
	var mu sync.Mutex
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, seed+1)), 1.1, 1, uint64(max(n-1, 0)))
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return int(z.Uint64())
	}
}

// imageServer serves one small PNG at every path, as an image host would,
// for the post-creation target.
func imageServer() (*ceilingServer, error) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	body := buf.Bytes()
	return startCeiling(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(body)
	}))
}

// countersExact counts posts whose vote counters disagree with their rows
// (local votes, and Likes from other servers, which are upvotes): after the
// write targets and the inbox intake, it must be 0.
func countersExact(ctx context.Context, db *sql.DB) (int, error) {
	var wrong int
	err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM posts p
		LEFT JOIN (SELECT post_id, count(*) FILTER (WHERE value = 1) AS up, count(*) FILTER (WHERE value = -1) AS down
			FROM votes GROUP BY post_id) v ON v.post_id = p.id
		LEFT JOIN (SELECT post_id, count(*) AS n FROM remote_votes GROUP BY post_id) r ON r.post_id = p.id
		WHERE p.upvotes <> coalesce(v.up, 0) + coalesce(r.n, 0) OR p.downvotes <> coalesce(v.down, 0)
			OR p.score <> p.upvotes - p.downvotes`).Scan(&wrong)
	return wrong, err
}

// deepPage follows next_cursor up to n times from first and returns the
// URL of the last page reached and how many hops it took (fewer than n on
// a small dataset).
func deepPage(ctx context.Context, first string, n int) (string, int, error) {
	u := first
	for i := 0; i < n; i++ {
		body, err := get(ctx, u, nil)
		if err != nil {
			return "", 0, err
		}
		var page struct {
			Data struct {
				NextCursor *string `json:"next_cursor"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", 0, fmt.Errorf("feed page %s: %w", u, err)
		}
		if page.Data.NextCursor == nil || *page.Data.NextCursor == "" {
			return u, i, nil
		}
		u = first + "&cursor=" + url.QueryEscape(*page.Data.NextCursor)
	}
	return u, n, nil
}

// get fetches u and returns its body, failing on anything but 200.
func get(ctx context.Context, u string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, body)
	}
	return body, nil
}
