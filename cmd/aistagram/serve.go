package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aistagram/aistagram/api"
	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/worker"
)

// deps are the connections every subcommand shares.
type deps struct {
	store *store.Store
	redis redis.UniversalClient
	media *media.Pipeline
}

func (d *deps) Close() {
	if d.redis != nil {
		d.redis.Close()
	}
	if d.store != nil {
		d.store.Close()
	}
}

// connect opens PostgreSQL and Redis, failing with one clear line each, and
// applies migrations (under goose's advisory lock, so replicas starting
// together are safe).
func connect(ctx context.Context, cfg Config, log *slog.Logger) (*deps, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: poolSize(cfg)})
	if err != nil {
		return nil, err
	}
	d := &deps{store: st}
	if err := st.Migrate(ctx, log); err != nil {
		d.Close()
		return nil, err
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("AISTAGRAM_REDIS_URL: %w", err)
	}
	opts.PoolSize = 64
	d.redis = redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.redis.Ping(pingCtx).Err(); err != nil {
		d.Close()
		return nil, fmt.Errorf("cannot reach Redis at %s: %w", opts.Addr, err)
	}
	storage, err := newMediaStorage(ctx, cfg)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.media = &media.Pipeline{Storage: storage, Limits: media.DefaultLimits()}
	return d, nil
}

// poolSize is the configured PostgreSQL pool, or four connections per
// core (at least 8): enough for the HTTP handlers and the workers' slow
// tasks, few enough that PostgreSQL is not slowed by its own contention.
func poolSize(cfg Config) int {
	if cfg.DatabaseMaxConns > 0 {
		return cfg.DatabaseMaxConns
	}
	return max(8, 4*runtime.NumCPU())
}

// newMediaStorage keeps media in S3-compatible storage when an endpoint is
// configured, else on disk under the data directory.
func newMediaStorage(ctx context.Context, cfg Config) (media.Storage, error) {
	base := cfg.PublicURL.String()
	if cfg.S3.Endpoint != "" {
		st, err := media.NewS3Storage(ctx, media.S3Config{
			Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, Region: cfg.S3.Region,
			AccessKeyID: cfg.S3.AccessKeyID, SecretAccessKey: cfg.S3.SecretAccessKey, PublicURL: cfg.S3.PublicURL,
		}, base)
		if err != nil {
			return nil, fmt.Errorf("media storage (AISTAGRAM_MEDIA_S3_*): %w", err)
		}
		return st, nil
	}
	st, err := media.NewDiskStorage(cfg.DataDir, base)
	if err != nil {
		return nil, fmt.Errorf("media storage (AISTAGRAM_DATA_DIR): %w", err)
	}
	return st, nil
}

func migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxOpenConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx, log); err != nil {
		return err
	}
	log.Info("database is up to date")
	return nil
}

func newWorker(cfg Config, d *deps, fed *federation.Service, log *slog.Logger) *worker.Worker {
	ua := userAgent(cfg)
	return worker.New(worker.Config{
		Concurrency:     cfg.WorkerConcurrency,
		RankingInterval: cfg.RankingInterval,
		HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{
			AllowPrivate: cfg.AllowPrivateAddresses,
			UserAgent:    ua,
			MaxBodyBytes: cfg.MediaMaxBytes,
		}),
		UserAgent:     ua,
		MediaMaxBytes: cfg.MediaMaxBytes,
		Media:         d.media,
	}, d.store, fed, d.redis, log.With("component", "worker"))
}

// userAgent names the software, version and instance on outbound requests.
func userAgent(cfg Config) string {
	return "Aistagram/" + version + " (+" + cfg.PublicURL.String() + "/)"
}

// newFederation builds the ActivityPub side and wires the queue in: the
// inbox hands entries to the worker, and every commit that releases outbox
// rows hands them over for fan-out.
func newFederation(cfg Config, d *deps, tasks *worker.Client, log *slog.Logger) *federation.Service {
	fed := federation.New(federation.Config{
		URLs:                  federation.NewURLs(cfg.PublicURL),
		Version:               version,
		OpenRegistrations:     true,
		AuthorizedFetch:       cfg.AuthorizedFetch,
		AllowPrivateAddresses: cfg.AllowPrivateAddresses,
		HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{
			AllowPrivate: cfg.AllowPrivateAddresses,
			UserAgent:    userAgent(cfg),
		}),
		Enqueuer: tasks,
		MediaURL: d.media.Storage.URL,
	}, d.store, log.With("component", "federation"))
	d.store.OnOutbox(func(ctx context.Context, ids []int64) {
		if err := tasks.FanOut(ctx, ids); err != nil {
			// The rows are committed: the sweep fans them out later.
			log.Warn("fan-out not queued", "outbox", ids, "err", err)
		}
	})
	return fed
}

// announceChanges makes every commit of the process announced to every
// serve process, whose caches follow them (store.Changes), and runs until
// stop is called, which waits for it to finish.
func announceChanges(ctx context.Context, cfg Config, d *deps, log *slog.Logger) (changes *store.Changes, stop func()) {
	changes = store.NewChanges(cfg.DatabaseURL, log.With("component", "changes"))
	d.store.AnnounceCommits(changes)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := changes.Run(ctx); err != nil {
			log.Error("change notifications stopped; public pages are no longer cached", "err", err)
		}
	}()
	return changes, func() { cancel(); <-done }
}

func runWorker(ctx context.Context, cfg Config, log *slog.Logger) error {
	d, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()
	_, stopChanges := announceChanges(ctx, cfg, d, log)
	defer stopChanges()
	log.Info("worker started", "version", version)
	tasks := worker.NewClient(d.redis)
	return newWorker(cfg, d, newFederation(cfg, d, tasks, log), log).Run(ctx)
}

func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	d, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer d.Close()

	tasks := worker.NewClient(d.redis)
	fed := newFederation(cfg, d, tasks, log)
	changes, stopChanges := announceChanges(ctx, cfg, d, log)
	defer stopChanges()
	srv, err := api.New(api.Config{
		URLs:                 federation.NewURLs(cfg.PublicURL),
		PostInterval:         cfg.PostInterval,
		CommentInterval:      cfg.CommentInterval,
		RequestsPerMinute:    cfg.RequestsPerMinute,
		RegistrationsPerHour: cfg.RegistrationsPerHour,
		TrustedProxies:       cfg.TrustedProxies,
		Version:              version,
		Media:                d.media,
		MediaMaxBytes:        cfg.MediaMaxBytes,
		Changes:              changes,
	}, d.store, fed, d.redis, tasks, log)
	if err != nil {
		return err
	}
	httpSrv := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}

	var wg sync.WaitGroup
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	if !cfg.NoWorker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := newWorker(cfg, d, fed, log).Run(workerCtx); err != nil {
				log.Error("worker stopped", "err", err)
			}
		}()
	}

	if cfg.DebugListen != "" {
		stopDebug, err := serveDebug(cfg.DebugListen, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("serving", "listen", ln.Addr().String(), "public_url", cfg.PublicURL.String(),
		"worker", !cfg.NoWorker, "version", version)

	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = httpSrv.Shutdown(shutdownCtx)
		cancel()
	}
	// Activities the last requests stored are queued now rather than left
	// for the sweep. Then the worker stops, after HTTP, so work queued by
	// the last requests is still picked up or left safely in Redis.
	fed.FlushApplies()
	stopWorker()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// serveDebug serves Go's profiler on its own listener, never on the public
// one: profiles show internals and a CPU profile costs CPU.
func serveDebug(addr string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener on %s (AISTAGRAM_DEBUG_LISTEN): %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiler listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
