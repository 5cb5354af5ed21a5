package main

import (
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
	"github.com/aistagram/aistagram/worker"
	"github.com/aistagram/aistagram/worker/workertest"
)

// TestIntake runs the intake benchmark at a tiny scale against the inbox
// and the workers wired in process as serve wires them: every Like must be
// accepted, applied exactly once (votes and counters), redeliveries must
// be no-ops and no key may be fetched. It asserts nothing about speed.
func TestIntake(t *testing.T) {
	ctx := context.Background()
	base, db, d := newIntakeRig(t)
	l := newLoader(4, 30*time.Second) // the Likes run out long before
	defer l.close()
	const likes = 60
	ir, err := runIntake(ctx, l, db, base, d, 3, likes, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ir.Presigned != likes || ir.Accepted.Requests != likes || ir.Accepted.Errors != 0 {
		t.Errorf("presigned %d, accepted %d, errors %d (%s); want %d, %d, 0",
			ir.Presigned, ir.Accepted.Requests, ir.Accepted.Errors, ir.Accepted.FirstError, likes, likes)
	}
	if ir.Applied != likes || ir.Replays == 0 || ir.ReplaysAccepted != ir.Replays || ir.KeyFetches != 0 || len(ir.Problems) != 0 {
		t.Errorf("applied %d of %d, redeliveries %d/%d accepted, key fetches %d, problems %q",
			ir.Applied, likes, ir.ReplaysAccepted, ir.Replays, ir.KeyFetches, ir.Problems)
	}
	var votes int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM remote_votes`).Scan(&votes); err != nil || votes != likes {
		t.Errorf("remote votes = %d (%v), want %d", votes, err, likes)
	}
}

// BenchmarkIntake is for profiling the inbox in one process (load
// generator, inbox and workers): go test -run - -bench Intake
// -benchtime 3000x -cpuprofile cpu.out ./cmd/bench, then pprof with
// -ignore presignLikes (signing happens before the timed loop).
func BenchmarkIntake(b *testing.B) {
	base, db, d := newIntakeRig(b)
	l := newLoader(32, time.Minute)
	defer l.close()
	ir, err := runIntake(context.Background(), l, db, base, d, 1000, b.N, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if len(ir.Problems) > 0 || ir.Accepted.Errors > 0 {
		b.Fatalf("problems %q, %d errors (%s)", ir.Problems, ir.Accepted.Errors, ir.Accepted.FirstError)
	}
	b.ReportMetric(ir.Accepted.RPS, "accepted/s")
	b.ReportMetric(ir.AppliedPerSec, "applied/s")
	b.ReportMetric(float64(ir.Applied)/float64(max(1, ir.ApplyTransactions)), "likes/apply-tx")
}

// newIntakeRig seeds a tiny dataset into a fresh database and serves the
// shared inbox and the workers in process, wired as serve wires them. It
// returns the server's base URL, the database and the dataset.
func newIntakeRig(t testing.TB) (string, *sql.DB, *dataset) {
	t.Helper()
	ctx := context.Background()
	dbURL := storetest.NewURL(t)
	rep := &report{Started: time.Now().UTC(), Scale: 0.0002}
	d, err := prepare(ctx, dbURL, rep.Scale, rep)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbURL, store.Options{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, _ := workertest.NewRedis(t)
	log := slog.New(slog.DiscardHandler)

	ts := httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + ts.Listener.Addr().String())
	tasks := worker.NewClient(rdb)
	fed := federation.New(federation.Config{URLs: federation.NewURLs(public), Version: "test",
		AllowPrivateAddresses: true, Enqueuer: tasks,
		HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{AllowPrivate: true})}, st, log)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inbox", fed.Inbox)
	ts.Config.Handler = mux
	ts.Start()

	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cfg := worker.Config{Concurrency: 4, RankingInterval: time.Hour, RetryUnit: 50 * time.Millisecond,
			SweepInterval: time.Hour, PollInterval: 50 * time.Millisecond,
			HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{AllowPrivate: true})}
		if err := worker.New(cfg, st, fed, rdb, log).Run(wctx); err != nil {
			t.Errorf("worker: %v", err)
		}
	}()
	t.Cleanup(func() { ts.Close(); cancel(); wg.Wait() })

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return ts.URL, db, d
}
