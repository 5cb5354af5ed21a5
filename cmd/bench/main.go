// Command bench is what `make bench` runs: it seeds a realistic dataset
// into an empty PostgreSQL database with COPY, starts `aistagram serve` on
// it, measures the ceilings of this machine (a do-nothing HTTP handler, a
// one-query database handler, RSA signing and verifying) with the same load
// generator it then points at the server's hot paths, and writes the
// figures as a Markdown table and JSON under bench/results. Only ratios to
// ceilings measured in the same run mean anything: absolute figures drift
// with the machine.
//
//	bench -database-url URL -redis-url URL [-aistagram BIN] [-scale 1.0]
//	      [-conns 64] [-duration 5s] [-out bench/results] [-profile DIR]
//	      [-only REGEXP]
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver

	"github.com/aistagram/aistagram/cmd/internal/childserver"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/worker"
)

// config is the command line.
type config struct {
	DatabaseURL string
	RedisURL    string
	Binary      string
	Scale       float64
	Conns       int
	Duration    time.Duration
	// Warmup is how long each read target is loaded, unmeasured, before
	// it is measured.
	Warmup time.Duration
	Out    string
	// PGBin is PostgreSQL's bin directory, for pgbench (the write ceiling).
	PGBin string
	// ProfileDir, when set, receives a CPU profile of serve per target.
	ProfileDir string
	// Only, when set, limits the run to the targets (and the fan-out and
	// intake phases) whose names it matches: for working on one path.
	Only *regexp.Regexp
}

func main() {
	if os.Getenv(ceilingChildEnv) != "" {
		os.Exit(serveCeilingChild())
	}
	var c config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&c.DatabaseURL, "database-url", os.Getenv("AISTAGRAM_DATABASE_URL"), "an empty PostgreSQL database to seed (AISTAGRAM_DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", os.Getenv("AISTAGRAM_REDIS_URL"), "Redis for the server (AISTAGRAM_REDIS_URL)")
	fs.StringVar(&c.Binary, "aistagram", "", "the aistagram binary to serve with (make bench builds it)")
	fs.Float64Var(&c.Scale, "scale", 1.0, "dataset size: 1.0 is 100k agents, 1M posts, 5M votes, 1M comments")
	fs.IntVar(&c.Conns, "conns", 64, "concurrent connections of the load generator")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "how long each target is loaded")
	fs.DurationVar(&c.Warmup, "warmup", 5*time.Second, "how long each read target is loaded before it is measured (0: measure from cold)")
	fs.StringVar(&c.Out, "out", "bench/results", "directory for the Markdown and JSON results")
	fs.StringVar(&c.ProfileDir, "profile", "", "directory for a CPU profile of serve under each target (go tool pprof reads them)")
	fs.StringVar(&c.PGBin, "pg-bin", os.Getenv("AISTAGRAM_TEST_PG_BIN"), "PostgreSQL's bin directory, for pgbench (default: PATH)")
	only := fs.String("only", "", "a regular expression: load only the targets whose names match it, e.g. 'feed|post by id' (ceilings are always measured)")
	_ = fs.Parse(os.Args[1:])
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: -only:", err)
			os.Exit(2)
		}
		c.Only = re
	}
	if c.DatabaseURL == "" || c.RedisURL == "" || c.Binary == "" {
		fmt.Fprintln(os.Stderr, "bench: -database-url, -redis-url and -aistagram are required (make bench sets them)")
		os.Exit(2)
	}
	if c.Scale <= 0 || c.Conns < 1 || c.Duration <= 0 || c.Warmup < 0 {
		fmt.Fprintln(os.Stderr, "bench: -scale, -conns and -duration must be positive, -warmup not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(ctx context.Context, c config) (err error) {
	area, err := os.MkdirTemp("", "aistagram-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(area)

	rep := &report{Started: time.Now().UTC(), Scale: c.Scale, Conns: c.Conns,
		DurationS: c.Duration.Seconds(), WarmupS: c.Warmup.Seconds(), CPUs: runtime.NumCPU()}
	d, err := prepare(ctx, c.DatabaseURL, c.Scale, rep)
	if err != nil {
		return err
	}

	settings := serveSettings(c.DatabaseURL, c.RedisURL)
	var prof *profiler
	if c.ProfileDir != "" {
		if prof, err = newProfiler(c.ProfileDir, c.Duration); err != nil {
			return err
		}
		settings["AISTAGRAM_DEBUG_LISTEN"] = prof.addr
	}
	srv, err := childserver.Start(ctx, c.Binary, area, settings)
	if err != nil {
		return err
	}
	defer srv.Stop()
	defer func() {
		if err != nil {
			logf("serve's last log lines:\n%s", childserver.Tail(srv.Log, 30))
		}
	}()
	time.Sleep(time.Second) // let start-up work settle before the idle reading
	if rep.RSSIdleKB, err = rssKB(srv.PID()); err != nil {
		return err
	}

	l := newLoader(c.Conns, c.Duration)
	defer l.close()
	pool, err := sql.Open("postgres", c.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.QueryRowContext(ctx, `SHOW shared_buffers`).Scan(&rep.SharedBuffers); err != nil {
		return fmt.Errorf("read shared_buffers: %w", err)
	}
	meter := newCPUMeter(ctx, pool, c.RedisURL, srv.PID())
	page, err := get(ctx, srv.URL+"/api/feed?sort=new&limit=20", nil)
	if err != nil {
		return err
	}
	ceilings, err := measureCeilings(ctx, l, meter, area, c.DatabaseURL, page, rep)
	if err != nil {
		return err
	}
	defer ceilings.close()
	logf("ceiling: writes (pgbench, %d clients)", pgbenchClients)
	if rep.Ceilings.WriteTPS, err = writeCeiling(ctx, pool, c.DatabaseURL, c.PGBin, c.Duration); err != nil {
		return err
	}
	images, err := imageServer()
	if err != nil {
		return err
	}
	defer images.close()
	targets, err := serverTargets(ctx, srv.URL, images.URL, d)
	if err != nil {
		return err
	}
	rss := sampleRSS(srv.PID(), 50*time.Millisecond)
	for _, t := range targets {
		if !c.selected(t.target.Name) {
			continue
		}
		before := ceilings.ceilingBefore(ctx, l, t)
		// Reads are measured in their steady state, as a server that has
		// been up a while serves them: caches holding what the traffic
		// asked for lately, PostgreSQL's buffers holding what it read.
		// From cold, a target's first seconds are mostly first requests
		// for keys (with the Zipf skew of the popular targets, a third of
		// 5 s of requests), which says more about the run's length than
		// about the server. Writes change the data, so they are not
		// warmed up.
		// The warm-up is the same load: its samples are the target's too
		// (a peak during the first target's warm-up was named after none).
		rss.enter(t.target.Name)
		meanwhile := startDuring(ctx, t.during)
		if !t.write && c.Warmup > 0 {
			logf("warming up %s", t.target.Name)
			_ = l.runFor(ctx, t.target, c.Warmup)
		}
		logf("loading %s", t.target.Name)
		done := prof.capture(ctx, t.target.Name)
		account := meter.start(ctx)
		r := l.run(ctx, t.target)
		r.loadAccount = account()
		r.Meanwhile = meanwhile()
		done()
		l.close()
		r.VsHTTP = ratio(r.RPS, rep.Ceilings.HTTP.RPS)
		if t.vsDB {
			r.VsDB = ratio(r.RPS, rep.Ceilings.DB.RPS)
		}
		if t.write {
			r.VsWrite = ratio(r.RPS, rep.Ceilings.WriteTPS)
		}
		r.CeilingBefore, r.VsCeilingBefore = before, ratio(r.RPS, before)
		rep.Targets = append(rep.Targets, r)
		if ctx.Err() != nil {
			break
		}
	}
	if c.selected("fan-out") {
		rss.enter("federation fan-out")
		measureFanOut(ctx, pool, srv.URL, c.Scale, prof, meter, rep)
	}
	if c.selected("inbox intake") {
		rss.enter("inbox intake")
		measureIntake(ctx, l, pool, srv.URL, d, c.Scale, prof, meter, rep)
	}
	rep.RSSPeakKB, rep.RSSPeakPhase = rss.stop()
	if rep.CountersWrong, err = countersExact(ctx, pool); err != nil {
		return fmt.Errorf("check the counters: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return rep.write(os.Stdout, c.Out)
}

// prepare migrates the database, checks it is empty, seeds it and scores
// every post, recording the times in rep.
func prepare(ctx context.Context, dbURL string, scale float64, rep *report) (*dataset, error) {
	st, err := store.Open(ctx, dbURL, store.Options{MaxOpenConns: 4})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := st.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		return nil, err
	}
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var agents int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM agents`).Scan(&agents); err != nil {
		return nil, err
	}
	if agents > 0 {
		return nil, errors.New("the database already holds agents: bench seeds an empty one")
	}
	start := time.Now()
	d, err := seed(ctx, db, scale, logf)
	if err != nil {
		return nil, err
	}
	rep.SeedSeconds = time.Since(start).Seconds()
	rep.Dataset = d
	logf("seeded in %.1fs", rep.SeedSeconds)

	full, err := recompute(ctx, st, time.Now().Add(-spread-time.Hour))
	if err != nil {
		return nil, err
	}
	rep.RankingAllSeconds = full.Seconds()
	window, err := recompute(ctx, st, time.Now().Add(-worker.RankingWindow))
	if err != nil {
		return nil, err
	}
	rep.RankingWindowSeconds = window.Seconds()
	logf("ranking: cold pass %.2fs, the worker's per-minute run %.2fs", full.Seconds(), window.Seconds())

	// Freshly COPYed tables have no visibility map and no statistics:
	// without this, autovacuum does it during the first targets and takes
	// the CPU they are measured with.
	start = time.Now()
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE)`); err != nil {
		return nil, fmt.Errorf("vacuum the seeded database: %w", err)
	}
	logf("vacuumed in %.1fs", time.Since(start).Seconds())
	return d, nil
}

// startDuring runs during (if any) until the returned function is called,
// which returns what it said it did.
func startDuring(ctx context.Context, during func(context.Context) string) (stop func() string) {
	if during == nil {
		return func() string { return "" }
	}
	ctx, cancel := context.WithCancel(ctx)
	said := make(chan string, 1)
	go func() { said <- during(ctx) }()
	return func() string {
		cancel()
		return <-said
	}
}

// selected reports whether -only lets the target or phase called name run.
func (c config) selected(name string) bool {
	return c.Only == nil || c.Only.MatchString(name)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
