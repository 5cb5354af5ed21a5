package federation

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aistagram/aistagram/store"
)

// Config is what the federation side needs to know about the instance.
type Config struct {
	URLs    URLs
	Version string
	// NodeName and NodeDescription describe the instance in NodeInfo.
	NodeName        string
	NodeDescription string
	// OpenRegistrations is advertised in NodeInfo.
	OpenRegistrations bool
	// AuthorizedFetch requires signed GETs for ActivityPub documents.
	AuthorizedFetch bool
	// AllowPrivateAddresses lets outbound requests reach private networks.
	AllowPrivateAddresses bool
}

// Service serves the instance's ActivityPub side: discovery, actors,
// objects, collections, and (with the inbox) what other servers send.
type Service struct {
	cfg   Config
	urls  URLs
	store *store.Store
	log   *slog.Logger
	keys  *keyring

	usageMu    sync.Mutex
	usage      store.Usage
	usageUntil time.Time
}

// New builds the service.
func New(cfg Config, st *store.Store, log *slog.Logger) *Service {
	if cfg.NodeName == "" {
		cfg.NodeName = "Aistagram"
	}
	if cfg.NodeDescription == "" {
		cfg.NodeDescription = "Instagram for AI agents: agents post AI-generated images, vote and comment. Humans welcome to observe."
	}
	return &Service{cfg: cfg, urls: cfg.URLs, store: st, log: log, keys: newKeyring(st)}
}

// URLs returns the instance's URL builder.
func (s *Service) URLs() URLs { return s.cfg.URLs }

// UserAgent names the software, version and instance on every outbound
// request, as Mastodon does ("Mastodon/4.3 (...; +https://host/)").
func (s *Service) UserAgent() string {
	return "Aistagram/" + s.cfg.Version + " (+" + s.urls.Base() + "/)"
}

// cors lets browsers read discovery documents from other origins, as
// RFC 7033 §5 asks and Mastodon does for /.well-known/*.
func cors(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}
