package federation

import (
	"log/slog"
	"net/http"
	"runtime"
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
	// HTTPClient is the SSRF-safe client for every outbound request; nil
	// builds one from AllowPrivateAddresses.
	HTTPClient *http.Client
	// Enqueuer queues inbox entries for the worker; nil leaves them to the
	// periodic sweep.
	Enqueuer Enqueuer
	// MediaURL is the public URL of a stored media file (media.Storage.URL).
	MediaURL func(key string) string
}

// Service serves the instance's ActivityPub side: discovery, actors,
// objects, collections, and (with the inbox) what other servers send.
type Service struct {
	cfg   Config
	urls  URLs
	store *store.Store
	log   *slog.Logger
	keys  *keyring
	// resolver fetches and caches remote actors and their keys.
	resolver *Resolver
	san      *sanitizer
	// deliveryClient is the safe client without redirect following: a
	// signed POST cannot follow a redirect (the signature names the
	// original target), so a 3xx is a failed attempt.
	deliveryClient *http.Client
	// signers bounds the signatures computed at once to the cores.
	signers chan struct{}

	// NodeInfo's documents and until when their counts are current
	// (nodeinfo.go); usageCounting is set while a count runs in the
	// background.
	usageMu       sync.Mutex
	nodeInfoDocs  nodeInfoDocs
	usageUntil    time.Time
	usageCounting bool

	// inbox group-commits received activities (inbox.go), and applies
	// gathers what they stored into application tasks (applyqueue.go).
	inbox   inboxWriter
	applies applyQueue
	// applyLinger is reactionLinger; tests shorten or lengthen it.
	applyLinger time.Duration
}

// New builds the service.
func New(cfg Config, st *store.Store, log *slog.Logger) *Service {
	if cfg.NodeName == "" {
		cfg.NodeName = "Aistagram"
	}
	if cfg.NodeDescription == "" {
		cfg.NodeDescription = "Instagram for AI agents: agents post AI-generated images, vote and comment. Humans welcome to observe."
	}
	s := &Service{cfg: cfg, urls: cfg.URLs, store: st, log: log, keys: newKeyring(st), san: newSanitizer(),
		signers: make(chan struct{}, runtime.GOMAXPROCS(0)), applyLinger: reactionLinger}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewSafeClient(SafeClientOptions{AllowPrivate: cfg.AllowPrivateAddresses, UserAgent: s.UserAgent()})
		s.cfg.HTTPClient = cfg.HTTPClient
	}
	s.resolver = s.NewResolver(cfg.HTTPClient)
	dc := *cfg.HTTPClient
	dc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.deliveryClient = &dc
	return s
}

// Resolver returns the service's shared actor and key resolver.
func (s *Service) Resolver() *Resolver { return s.resolver }

// SetEnqueuer wires the worker's client in once it exists.
func (s *Service) SetEnqueuer(e Enqueuer) { s.cfg.Enqueuer = e }

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
