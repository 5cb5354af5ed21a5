package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/worker"
)

// follow makes a peer account follow the instance's agent and waits for
// the Accept.
func follow(t *testing.T, in *instance, p *peer, account string, a agent) {
	t.Helper()
	target := in.URL + "/users/" + a.Name
	body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%s/follows/%s-%d","type":"Follow","actor":"%s/users/%s","object":"%s"}`,
		p.URL, account, time.Now().UnixNano(), p.URL, account, target)
	if status, msg := p.send(account, target+"/inbox", []byte(body), nil); status != http.StatusAccepted {
		t.Fatalf("follow from %s: %d %s", account, status, msg)
	}
	p.waitFor("the Accept for "+account, func(d delivery) bool {
		return d.typ() == "Accept" && d.Inbox == "/users/"+account+"/inbox" && d.Verified
	})
}

func deliveryRows(t *testing.T, in *instance) []struct {
	Inbox    string `db:"inbox"`
	Status   string `db:"status"`
	Attempts int    `db:"attempts"`
} {
	var rows []struct {
		Inbox    string `db:"inbox"`
		Status   string `db:"status"`
		Attempts int    `db:"attempts"`
	}
	if err := in.store.DB().Select(&rows, `SELECT d.inbox, d.status, d.attempts FROM deliveries d
		JOIN outbox o ON o.id = d.outbox_id WHERE o.kind = 'create_post' ORDER BY d.id`); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestDeliveryRetriedAfterServerError: the inbox answers 500 once; the
// delivery is retried, re-signed, and succeeds exactly once.
func TestDeliveryRetriedAfterServerError(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	p := newPeer(t)
	p.account("alice")
	a := in.register("retry")
	follow(t, in, p, "alice", a)

	p.mu.Lock()
	p.statuses = []int{500}
	p.mu.Unlock()
	in.post(a, "general")
	p.waitFor("a verified Create after the 500", func(d delivery) bool { return d.typ() == "Create" && d.Verified })
	eventually(t, "the delivery to be recorded", func() bool {
		rows := deliveryRows(t, in)
		return len(rows) == 1 && rows[0].Status == "delivered"
	})
	rows := deliveryRows(t, in)
	if rows[0].Attempts != 2 {
		t.Fatalf("attempts = %d, want 2 (one 500, one success)", rows[0].Attempts)
	}
	if n := p.count(func(d delivery) bool { return d.typ() == "Create" }); n != 2 {
		t.Fatalf("the peer saw %d Creates, want 2 (the refused one and the retry)", n)
	}
}

// TestBatchedDeliveryRetriedAlone: a post to followers on three personal
// inboxes goes out as one batch task; the one inbox that answers 500 gets
// its retry as a task of its own, and every follower ends with the post
// exactly once.
func TestBatchedDeliveryRetriedAlone(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	p := newPeer(t)
	a := in.register("batch")
	accounts := []string{"ann", "ben", "cat"}
	for _, name := range accounts {
		p.account(name)
		p.mu.Lock()
		p.noShared[name] = true
		p.mu.Unlock()
		follow(t, in, p, name, a)
	}

	p.mu.Lock()
	p.statuses = []int{500}
	p.mu.Unlock()
	in.post(a, "general")
	eventually(t, "every delivery to be recorded delivered", func() bool {
		rows := deliveryRows(t, in)
		if len(rows) != len(accounts) {
			return false
		}
		for _, r := range rows {
			if r.Status != "delivered" {
				return false
			}
		}
		return true
	})
	attempts := map[int]int{}
	for _, r := range deliveryRows(t, in) {
		attempts[r.Attempts]++
	}
	if attempts[1] != 2 || attempts[2] != 1 {
		t.Fatalf("attempts per delivery: %v, want two deliveries in one attempt and one in two", attempts)
	}
	for _, name := range accounts {
		inbox := "/users/" + name + "/inbox"
		if n := p.count(func(d delivery) bool { return d.typ() == "Create" && d.Inbox == inbox && d.Verified }); n < 1 {
			t.Errorf("%s received no verified Create", name)
		}
	}
	if n := p.count(func(d delivery) bool { return d.typ() == "Create" }); n != len(accounts)+1 {
		t.Fatalf("the peer saw %d Creates, want %d (one each, and the refused one again)", n, len(accounts)+1)
	}
}

// TestGoneInboxRemovesFollower: a follower's own inbox (its server has no
// shared inbox, like GoToSocial) answers 410: the follower is removed and
// the delivery is not retried.
func TestGoneInboxRemovesFollower(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	p := newPeer(t)
	p.account("gts")
	p.mu.Lock()
	p.noShared["gts"] = true
	p.mu.Unlock()
	a := in.register("gone")
	follow(t, in, p, "gts", a)

	p.mu.Lock()
	p.statuses = []int{410}
	p.mu.Unlock()
	in.post(a, "general")
	eventually(t, "the follower to be removed", func() bool {
		return num(in.req("GET", "/api/agents/"+a.Name, "", nil).data()["stats"].(map[string]any), "followers") == 0
	})
	// The follower goes first, then the attempt is recorded.
	eventually(t, "the delivery to be recorded as failed", func() bool {
		rows := deliveryRows(t, in)
		return len(rows) == 1 && rows[0].Status == "failed"
	})
	rows := deliveryRows(t, in)
	if rows[0].Attempts != 1 || rows[0].Inbox != p.URL+"/users/gts/inbox" {
		t.Fatalf("delivery: %+v", rows)
	}
}

// TestDeadHostOpensCircuit: a server that never answers is taken out of
// rotation after repeated failures, while another server keeps receiving.
func TestDeadHostOpensCircuit(t *testing.T) {
	t.Parallel()
	// Retries 2 ms apart reach the breaker's threshold of 10 failures in
	// well under a second (the schedule grows as n⁴).
	in := newInstanceWith(t, instanceOpts{outboundTimeout: 150 * time.Millisecond,
		worker: func(c *worker.Config) { c.RetryUnit = 2 * time.Millisecond }})
	dead, alive := newPeer(t), newPeer(t)
	dead.account("alice")
	alive.account("bob")
	a := in.register("breaker")
	follow(t, in, dead, "alice", a)
	follow(t, in, alive, "bob", a)

	dead.mu.Lock()
	dead.hang = time.Hour
	dead.mu.Unlock()
	in.post(a, "general")
	alive.waitFor("the live server's Create", func(d delivery) bool { return d.typ() == "Create" && d.Verified })

	host := strings.TrimPrefix(dead.URL, "http://")
	eventually(t, "the dead host's circuit to open", func() bool {
		until, err := in.store.HostUnavailableUntil(context.Background(), host)
		return err == nil && until.After(time.Now())
	})
	dead.mu.Lock()
	hits := dead.hits
	dead.mu.Unlock()
	if hits < 10 {
		t.Fatalf("circuit opened after %d attempts, want the threshold of 10", hits)
	}
	// While it is open, nothing more is sent to the dead host, yet its
	// delivery is kept (pending), not dropped.
	time.Sleep(time.Second)
	dead.mu.Lock()
	later := dead.hits
	dead.mu.Unlock()
	if later != hits {
		t.Fatalf("the open circuit let %d more attempts through", later-hits)
	}
	pending := 0
	for _, r := range deliveryRows(t, in) {
		if r.Status == "pending" {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("pending deliveries: %d, want the dead host's one", pending)
	}
}

// TestChildWorker is not a test on its own: TestKilledWorkerLosesNothing
// runs the test binary again with AISTAGRAM_TEST_CHILD_WORKER set, and this
// function then runs a worker until it is killed.
func TestChildWorker(t *testing.T) {
	if os.Getenv("AISTAGRAM_TEST_CHILD_WORKER") == "" {
		return
	}
	st, err := store.Open(context.Background(), os.Getenv("AISTAGRAM_TEST_CHILD_DB"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rdb, err := redisFromURL(os.Getenv("AISTAGRAM_TEST_CHILD_REDIS"))
	if err != nil {
		t.Fatal(err)
	}
	public := os.Getenv("AISTAGRAM_TEST_CHILD_PUBLIC")
	urls := urlsFromBase(public)
	log := testLogger()
	pipeline := newPipeline(t, os.Getenv("AISTAGRAM_TEST_CHILD_DATA"), public)
	fed, _ := newFederation(urls, st, rdb, pipeline, 0, false, log)
	cfg := testWorkerConfig()
	cfg.Media = pipeline
	cfg.Concurrency = 2
	cfg.SweepInterval, cfg.SweepAfter = 500*time.Millisecond, time.Second
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	_ = worker.New(cfg, st, fed, rdb, log).Run(ctx)
}

// TestKilledWorkerLosesNothing kills a worker process (SIGKILL) in the
// middle of fanning a post out to 40 inboxes, starts another, and checks
// that every delivery is made.
func TestKilledWorkerLosesNothing(t *testing.T) {
	t.Parallel()
	in := newInstanceWith(t, instanceOpts{noWorker: true})
	p := newPeer(t)
	a := in.register("crash")
	const followers = 40
	for i := range followers {
		name := fmt.Sprintf("f%02d", i)
		p.account(name)
		p.mu.Lock()
		p.noShared[name] = true // one delivery per follower
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.hang = 100 * time.Millisecond // slow enough to kill the worker midway
	p.mu.Unlock()

	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestChildWorker$", "-test.count=1")
		cmd.Env = append(os.Environ(), "AISTAGRAM_TEST_CHILD_WORKER=1", "AISTAGRAM_TEST_CHILD_DB="+in.dbURL,
			"AISTAGRAM_TEST_CHILD_REDIS="+in.redisURL, "AISTAGRAM_TEST_CHILD_PUBLIC="+in.URL, "AISTAGRAM_TEST_CHILD_DATA="+in.dataDir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	first := start()
	for i := range followers {
		name := fmt.Sprintf("f%02d", i)
		body := fmt.Sprintf(`{"@context":"https://www.w3.org/ns/activitystreams","id":"%s/follows/%s","type":"Follow","actor":"%s/users/%s","object":"%s/users/%s"}`,
			p.URL, name, p.URL, name, in.URL, a.Name)
		if status, msg := p.send(name, in.URL+"/users/"+a.Name+"/inbox", []byte(body), nil); status != 202 {
			t.Fatalf("follow: %d %s", status, msg)
		}
	}
	eventually(t, "every follow to be applied", func() bool {
		return num(in.req("GET", "/api/agents/"+a.Name, "", nil).data()["stats"].(map[string]any), "followers") == followers
	})
	in.post(a, "general")
	creates := func() int { return p.count(func(d delivery) bool { return d.typ() == "Create" && d.Verified }) }
	eventually(t, "some deliveries to start", func() bool { return creates() >= 3 })
	_ = first.Process.Kill() // SIGKILL: no graceful shutdown
	_ = first.Wait()
	killedAt := creates()

	// A new worker takes over at once. The tasks the killed one held stay
	// "active" in Redis until their lease runs out (30 s); the new worker's
	// sweep then re-queues them.
	second := start()
	defer func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rows := deliveryRows(t, in)
		done := 0
		for _, r := range rows {
			if r.Status == "delivered" {
				done++
			}
		}
		if len(rows) == followers && done == followers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries made after the restart (%d rows)", done, followers, len(rows))
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := map[string]bool{}
	p.mu.Lock()
	for _, d := range p.deliveries {
		if d.typ() == "Create" && d.Verified {
			got[d.Inbox] = true
		}
	}
	p.mu.Unlock()
	if len(got) != followers {
		t.Fatalf("%d inboxes received the post, want %d", len(got), followers)
	}
	t.Logf("killed after %d of %d deliveries; the restarted worker made the rest", killedAt, followers)
}
