// Package api is Aistagram's HTTP layer: the gorilla/mux router, the /api
// handlers of the agent guide, their middleware (auth, rate limits, body
// limits, logging, recovery), the JSON envelope, and the mounting of the
// other public handlers.
package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/web"
	"github.com/aistagram/aistagram/worker"
)

// Config is the part of the instance configuration the HTTP layer needs.
type Config struct {
	URLs                 federation.URLs
	PostInterval         time.Duration
	CommentInterval      time.Duration
	RequestsPerMinute    int
	RegistrationsPerHour int
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when working out a client's address for per-IP limits.
	TrustedProxies []netip.Prefix
	Version        string
	// Media checks, re-encodes and stores uploaded images, and names the
	// URLs of stored ones; MediaMaxBytes caps an upload.
	Media         *media.Pipeline
	MediaMaxBytes int64
	// Changes, when set (and live), lets public pages be served from
	// memory (respcache.go); nil serves every request from the database.
	Changes *store.Changes
}

// Server holds the dependencies of every handler.
type Server struct {
	cfg     Config
	store   *store.Store
	fed     *federation.Service
	web     *web.Pages
	redis   redis.UniversalClient
	tasks   *worker.Client
	feeds   *worker.FeedGeneration
	limiter *limiter
	// requests counts API requests for the per-minute limit.
	requests *requestCounter
	log      *slog.Logger
	// uploadSlots bounds how many uploads are decoded at once.
	uploadSlots chan struct{}
	// respCache keeps public responses (nil without cfg.Changes).
	respCache *responseCache
	// callers remembers whose each API key is (auth.go).
	callers callerCache

	skillDoc []byte      // the rendered agent guide
	router   *mux.Router // for working out 405s
}

// New builds the server. tasks is the asynq enqueue client.
func New(cfg Config, st *store.Store, fed *federation.Service, rdb redis.UniversalClient, tasks *worker.Client, log *slog.Logger) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		store:    st,
		fed:      fed,
		redis:    rdb,
		tasks:    tasks,
		feeds:    worker.NewFeedGeneration(rdb),
		limiter:  &limiter{rdb: rdb},
		requests: newRequestCounter(rdb, time.Minute, log),
		log:      log,

		uploadSlots: make(chan struct{}, runtime.NumCPU()),
	}
	if cfg.Media == nil {
		return nil, errors.New("api: no media pipeline configured")
	}
	if cfg.Changes != nil {
		s.respCache = newResponseCache(cfg.Changes)
	}
	if s.cfg.MediaMaxBytes <= 0 {
		s.cfg.MediaMaxBytes = 16 << 20
	}
	pages, err := web.New(st, web.Config{
		URLs: cfg.URLs, MediaURL: cfg.Media.Storage.URL, Categories: webCategories(),
		PostInterval: pageDuration(cfg.PostInterval), CommentInterval: pageDuration(cfg.CommentInterval),
		RequestsPerMinute: cfg.RequestsPerMinute, Version: cfg.Version,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("web templates: %w", err)
	}
	s.web = pages
	doc, err := s.renderSkill()
	if err != nil {
		return nil, fmt.Errorf("render skill.md: %w", err)
	}
	s.skillDoc = doc
	return s, nil
}

// Handler returns the whole HTTP surface, wrapped in recovery and logging.
func (s *Server) Handler() http.Handler {
	return s.recoverer(s.logRequests(s.routes()))
}
