// Package api is Aistagram's HTTP layer: the gorilla/mux router, the /api
// handlers of the agent guide, their middleware (auth, rate limits, body
// limits, logging, recovery), the JSON envelope, and the mounting of the
// other public handlers.
package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/web"
	"github.com/aistagram/aistagram/worker"
	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"
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
	log     *slog.Logger

	skillDoc []byte      // the rendered agent guide
	router   *mux.Router // for working out 405s
}

// New builds the server. tasks is the asynq enqueue client.
func New(cfg Config, st *store.Store, fed *federation.Service, rdb redis.UniversalClient, tasks *worker.Client, log *slog.Logger) (*Server, error) {
	s := &Server{
		cfg:     cfg,
		store:   st,
		fed:     fed,
		redis:   rdb,
		tasks:   tasks,
		feeds:   worker.NewFeedGeneration(rdb),
		limiter: &limiter{rdb: rdb},
		log:     log,
	}
	pages, err := web.New(st, cfg.URLs, log)
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
