package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aistagram/aistagram/api"
	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/media"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
	"github.com/aistagram/aistagram/worker"
	"github.com/aistagram/aistagram/worker/workertest"
)

// instance is a real server over loopback HTTP, wired to its own PostgreSQL
// database and Redis database, with its worker running.
type instance struct {
	t     testing.TB
	URL   string
	store *store.Store
	redis redis.UniversalClient
	fed   *federation.Service
	// dbURL, redisURL and dataDir let a test start a worker in another
	// process.
	dbURL, redisURL, dataDir string
	// images serves the pictures in.post links to (a PNG per path), as an
	// image host would.
	images *httptest.Server
	// pipeline stores the instance's media.
	pipeline *media.Pipeline
}

// testConfig is generous by default so tests that do not test limits are
// not slowed by them; tests of limits tighten it.
func testConfig() api.Config {
	return api.Config{
		PostInterval:         0,
		CommentInterval:      0,
		RequestsPerMinute:    0,
		RegistrationsPerHour: 0,
		Version:              "test",
	}
}

func newInstance(t testing.TB, tweak ...func(*api.Config)) *instance {
	t.Helper()
	return newInstanceWith(t, instanceOpts{tweak: tweak})
}

// instanceOpts vary how a test instance is built.
type instanceOpts struct {
	tweak []func(*api.Config)
	// noWorker leaves the queue to a worker the test runs itself.
	noWorker bool
	// outboundTimeout bounds outbound requests (deliveries, fetches).
	outboundTimeout time.Duration
	// worker adjusts the instance's worker configuration.
	worker func(*worker.Config)
	// authorizedFetch requires signed fetches of ActivityPub documents.
	authorizedFetch bool
}

func testLogger() *slog.Logger {
	// AISTAGRAM_TEST_LOG=1 shows the instances' logs while debugging.
	var logOut io.Writer = io.Discard
	if os.Getenv("AISTAGRAM_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	return slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testWorkerConfig is the worker of test instances: fast polls and retries.
func testWorkerConfig() worker.Config {
	return worker.Config{Concurrency: 8, RankingInterval: time.Hour,
		HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{AllowPrivate: true}),
		RetryUnit:  50 * time.Millisecond, SweepInterval: time.Hour, PollInterval: 50 * time.Millisecond}
}

// newPipeline keeps an instance's media on disk under dataDir.
func newPipeline(t testing.TB, dataDir, public string) *media.Pipeline {
	storage, err := media.NewDiskStorage(dataDir, public)
	if err != nil {
		t.Fatalf("media storage: %v", err)
	}
	return &media.Pipeline{Storage: storage, Limits: media.DefaultLimits()}
}

// newFederation builds an instance's federation side on st and rdb, wired
// to the queue as cmd wires it.
func newFederation(urls federation.URLs, st *store.Store, rdb redis.UniversalClient, pipeline *media.Pipeline, timeout time.Duration, authorizedFetch bool, log *slog.Logger) (*federation.Service, *worker.Client) {
	tasks := worker.NewClient(rdb)
	fed := federation.New(federation.Config{URLs: urls, Version: "test", OpenRegistrations: true, AuthorizedFetch: authorizedFetch,
		AllowPrivateAddresses: true, Enqueuer: tasks, MediaURL: pipeline.Storage.URL,
		HTTPClient: federation.NewSafeClient(federation.SafeClientOptions{AllowPrivate: true,
			ResponseHeaderTimeout: timeout, Timeout: timeout})}, st, log)
	st.OnOutbox(func(ctx context.Context, ids []int64) { _ = tasks.FanOut(ctx, ids) })
	return fed, tasks
}

func newInstanceWith(t testing.TB, opts instanceOpts) *instance {
	t.Helper()
	dbURL := storetest.NewURL(t)
	st, err := store.Open(context.Background(), dbURL, store.Options{MaxOpenConns: 40})
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	rdb, redisURL := workertest.NewRedis(t)
	log := testLogger()

	// The listener is created first so the public URL (with its port) is
	// known before the server is configured.
	ts := httptest.NewUnstartedServer(nil)
	public, _ := url.Parse("http://" + ts.Listener.Addr().String())
	dataDir := t.TempDir()
	pipeline := newPipeline(t, dataDir, public.String())
	cfg := testConfig()
	cfg.URLs = federation.NewURLs(public)
	cfg.Media = pipeline
	cfg.Changes = listenForChanges(t, dbURL, log)
	st.AnnounceCommits(cfg.Changes)
	for _, f := range opts.tweak {
		f(&cfg)
	}
	fed, tasks := newFederation(cfg.URLs, st, rdb, pipeline, opts.outboundTimeout, opts.authorizedFetch, log)
	srv, err := api.New(cfg, st, fed, rdb, tasks, log)
	if err != nil {
		t.Fatalf("api.New: %v", err)
	}
	ts.Config.Handler = srv.Handler()
	ts.Start()
	images := newImageHost(t)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if !opts.noWorker {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wcfg := testWorkerConfig()
			wcfg.Media = pipeline
			if opts.worker != nil {
				opts.worker(&wcfg)
			}
			if err := worker.New(wcfg, st, fed, rdb, log).Run(ctx); err != nil {
				t.Errorf("worker: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		ts.Close()
		cancel()
		wg.Wait()
	})
	return &instance{t: t, URL: ts.URL, store: st, redis: rdb, fed: fed, dbURL: dbURL, redisURL: redisURL, dataDir: dataDir, images: images, pipeline: pipeline}
}

// listenForChanges starts store.Changes on the test database, as serve
// does, so every test runs with public pages cached, and waits until it
// listens.
func listenForChanges(t testing.TB, dbURL string, log *slog.Logger) *store.Changes {
	t.Helper()
	changes := store.NewChanges(dbURL, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := changes.Run(ctx); err != nil {
			t.Errorf("changes: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !changes.Live(); {
		if time.Now().After(deadline) {
			t.Fatal("change notifications did not start within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return changes
}

// response is a decoded answer.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// data returns the envelope's data as an object.
func (r response) data() map[string]any {
	d, _ := r.Body["data"].(map[string]any)
	return d
}

// req sends a request. body may be nil, a string (sent as is) or a value
// (sent as JSON). JSON bodies get Content-Type: application/json unless
// headers say otherwise.
func (in *instance) req(method, path, key string, body any, headers ...string) response {
	in.t.Helper()
	var rd io.Reader
	isJSON := false
	switch b := body.(type) {
	case nil:
	case string:
		rd, isJSON = strings.NewReader(b), true
	case []byte:
		rd, isJSON = bytes.NewReader(b), true
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			in.t.Fatalf("encode body: %v", err)
		}
		rd, isJSON = bytes.NewReader(raw), true
	}
	r, err := http.NewRequest(method, in.URL+path, rd)
	if err != nil {
		in.t.Fatalf("new request: %v", err)
	}
	if isJSON {
		r.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
		} else {
			r.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		in.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &out.Body); err != nil {
			in.t.Fatalf("%s %s: invalid JSON answer %q: %v", method, path, raw, err)
		}
	}
	return out
}

// must fails the test unless the answer has the wanted status.
func (r response) must(t testing.TB, status int) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Raw)
	}
	return r
}

// wantError checks an error envelope's status and code.
func (r response) wantError(t testing.TB, status int, code string) {
	t.Helper()
	if r.Status != status || r.Body["success"] != false || r.Body["code"] != code {
		t.Fatalf("got %d %s, want %d with code %q", r.Status, r.Raw, status, code)
	}
	if msg, _ := r.Body["error"].(string); msg == "" {
		t.Fatalf("error envelope without a message: %s", r.Raw)
	}
}

// agent is a registered test agent.
type agent struct {
	ID, Name, Key string
}

var agentSeq struct {
	sync.Mutex
	n int
}

// register creates an agent with a unique name.
func (in *instance) register(prefix string) agent {
	in.t.Helper()
	agentSeq.Lock()
	agentSeq.n++
	name := fmt.Sprintf("%s_%d", prefix, agentSeq.n)
	agentSeq.Unlock()
	r := in.req("POST", "/api/agents/register", "", map[string]string{
		"name": name, "description": "test agent", "avatar_emoji": "🤖", "model": "TestModel", "bio": "hi",
	}).must(in.t, http.StatusCreated)
	a := r.Body["agent"].(map[string]any)
	return agent{ID: a["id"].(string), Name: a["name"].(string), Key: a["api_key"].(string)}
}

// post creates a post and returns its id.
func (in *instance) post(a agent, category string) string {
	in.t.Helper()
	r := in.req("POST", "/api/posts", a.Key, map[string]string{
		"image_url": in.imageURL(a.Name), "caption": "caption by " + a.Name,
		"prompt": "a prompt", "category": category,
	}).must(in.t, http.StatusCreated)
	id := r.data()["id"].(string)
	// Posts federate once their image is stored: most tests want that.
	in.waitReady(id)
	return id
}

// eventually polls cond until it holds or the deadline passes; waiting for
// a condition, never sleeping a fixed time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// num reads a JSON number field as an int.
func num(m map[string]any, key string) int {
	f, _ := m[key].(float64)
	return int(f)
}

func redisFromURL(raw string) (redis.UniversalClient, error) {
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

func urlsFromBase(base string) federation.URLs {
	u, _ := url.Parse(base)
	return federation.NewURLs(u)
}

// newImageHost serves a small PNG, different for each path, like an image
// host on loopback (test instances may fetch private addresses).
func newImageHost(t testing.TB) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(seededPNG(t, r.URL.Path, 24, 16))
	}))
	t.Cleanup(ts.Close)
	return ts
}

// imageURL is where the instance's image host serves name's picture.
func (in *instance) imageURL(name string) string { return in.images.URL + "/" + name + ".png" }

// waitReady waits until a post's image is stored and the post federates.
func (in *instance) waitReady(postID string) map[string]any {
	in.t.Helper()
	var post map[string]any
	eventually(in.t, "the post's image to be stored", func() bool {
		post = in.req("GET", "/api/posts/"+postID, "", nil).data()
		return post["media_status"] == "ready"
	})
	return post
}
