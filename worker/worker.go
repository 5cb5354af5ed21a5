package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
)

// Config tunes the worker.
type Config struct {
	Concurrency     int
	RankingInterval time.Duration // how often every recent post is rescored
	// HTTPClient is the SSRF-safe client for every outbound request.
	HTTPClient *http.Client
	UserAgent  string
	// MediaMaxBytes caps an image download.
	MediaMaxBytes int64
	// Media checks, re-encodes and stores images.
	Media *media.Pipeline
	// MediaConcurrency bounds how many images are decoded at once (each
	// holds a decoded image in memory); the number of CPUs by default.
	MediaConcurrency int
	// RetryUnit scales the retry schedule of federation tasks (15 s: about
	// two days over 16 delivery retries). Tests shrink it.
	RetryUnit time.Duration
	// SweepInterval is how often lost federation work is re-queued, and
	// SweepAfter how long work must have been idle to count as lost.
	SweepInterval time.Duration
	SweepAfter    time.Duration
	// PollInterval is how often an idle worker checks for new tasks
	// (default 10 ms), and DuePollInterval how often it moves retries and
	// scheduled tasks that became due into their queues (default 200 ms,
	// or PollInterval when only that is set). asynq's defaults (1 s and
	// 5 s) add seconds to every hop of a federation exchange. asynq has one
	// dequeuing loop, which sleeps between half and one and a half
	// PollInterval whenever it finds the queues empty. It finds them empty
	// right after it took a fan-out task, before that task has queued its
	// deliveries: at 50 ms the first delivery of a 1,000-inbox fan-out
	// came 80 ms after the fan-out's commit, a tenth of the whole fan-out.
	// One Redis call per tick while idle costs far less. The due check
	// runs a script per queue and state, so it stays slower.
	PollInterval    time.Duration
	DuePollInterval time.Duration
}

// Worker processes tasks and runs the scheduler.
type Worker struct {
	cfg   Config
	rdb   redis.UniversalClient
	store *store.Store
	fed   *federation.Service
	log   *slog.Logger
}

// New builds a worker.
func New(cfg Config, st *store.Store, fed *federation.Service, rdb redis.UniversalClient, log *slog.Logger) *Worker {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.RankingInterval <= 0 {
		cfg.RankingInterval = time.Minute
	}
	if cfg.MediaMaxBytes <= 0 {
		cfg.MediaMaxBytes = 16 << 20
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = federation.NewSafeClient(federation.SafeClientOptions{UserAgent: cfg.UserAgent})
	}
	if cfg.RetryUnit <= 0 {
		cfg.RetryUnit = 15 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 30 * time.Second
	}
	if cfg.SweepAfter <= 0 {
		cfg.SweepAfter = 5 * time.Minute
	}
	if cfg.MediaConcurrency <= 0 {
		cfg.MediaConcurrency = runtime.NumCPU()
	}
	if cfg.DuePollInterval <= 0 {
		cfg.DuePollInterval = 200 * time.Millisecond
		if cfg.PollInterval > 0 {
			cfg.DuePollInterval = cfg.PollInterval
		}
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	return &Worker{cfg: cfg, rdb: rdb, store: st, fed: fed, log: log}
}

// Run processes tasks and schedules periodic ones until ctx is cancelled,
// then lets running tasks finish (asynq's shutdown timeout) and returns.
func (w *Worker) Run(ctx context.Context) error {
	feeds := NewFeedGeneration(w.rdb)
	ranking := &rankingHandlers{store: w.store, feeds: feeds, log: w.log}

	mux := asynq.NewServeMux()
	mux.HandleFunc(TypeRecomputeRankings, ranking.recomputeAll)
	mux.HandleFunc(TypeRankPost, ranking.rankPost)

	images := &mediaHandlers{store: w.store, pipeline: w.cfg.Media, client: w.cfg.HTTPClient, tasks: NewClient(w.rdb),
		userAgent: w.cfg.UserAgent, maxBytes: w.cfg.MediaMaxBytes, slots: make(chan struct{}, w.cfg.MediaConcurrency), log: w.log}
	mux.HandleFunc(TypeProcessMedia, images.process)
	mux.HandleFunc(TypeMediaSweep, images.sweep)
	mux.HandleFunc(TypeMediaCleanup, images.cleanup)

	fedTasks := &federationHandlers{fed: w.fed, store: w.store, tasks: NewClient(w.rdb),
		inspector: asynq.NewInspectorFromRedisClient(w.rdb), log: w.log, sweepAfter: w.cfg.SweepAfter,
		retryDelay: retryDelay(w.cfg.RetryUnit)}
	mux.HandleFunc(TypeApplyInbox, fedTasks.applyInbox)
	mux.HandleFunc(TypeFanOut, fedTasks.fanOut)
	mux.HandleFunc(TypeDeliver, fedTasks.deliver)
	mux.HandleFunc(TypeDeliverBatch, fedTasks.deliverBatch)
	mux.HandleFunc(TypeSweep, fedTasks.sweep)

	srv := asynq.NewServerFromRedisClient(w.rdb, asynq.Config{
		Concurrency: w.cfg.Concurrency,
		Queues:      map[string]int{QueueFederation: 6, QueueMedia: 3, QueueRanking: 3, QueueDefault: 1},
		Logger:      asynqLogger{w.log},
		LogLevel:    asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			w.log.WarnContext(ctx, "task failed", "type", t.Type(), "err", err)
		}),
		ShutdownTimeout:          20 * time.Second,
		RetryDelayFunc:           retryDelay(w.cfg.RetryUnit),
		TaskCheckInterval:        w.cfg.PollInterval,
		DelayedTaskCheckInterval: w.cfg.DuePollInterval,
	})
	if err := srv.Start(mux); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}

	sched := &scheduler{
		client: asynq.NewClientFromRedisClient(w.rdb),
		tasks: []periodic{
			{taskType: TypeRecomputeRankings, queue: QueueRanking, every: w.cfg.RankingInterval},
			{taskType: TypeMediaSweep, queue: QueueMedia, every: time.Minute},
			{taskType: TypeMediaCleanup, queue: QueueMedia, every: time.Hour},
			{taskType: TypeSweep, queue: QueueFederation, every: w.cfg.SweepInterval},
		},
		log: w.log,
	}
	done := make(chan struct{})
	go func() { sched.run(ctx); close(done) }()

	<-ctx.Done()
	<-done
	srv.Shutdown()
	return nil
}

// asynqLogger routes asynq's own logs into slog.
type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
