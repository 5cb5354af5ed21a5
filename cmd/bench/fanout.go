package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/federation"
)

// The federation fan-out of issue 7, at scale 1.0: one post by an agent
// with 200k followers on 2,000 hosts that all have a shared inbox, and one
// by an agent with 1,000 followers on 1,000 personal inboxes.
const (
	fullSharedFollowers = 200_000
	fullSharedHosts     = 2_000
	fullDistinctInboxes = 1_000
	// fanoutDeadline bounds how long a fan-out may take before the bench
	// stops waiting and reports what arrived.
	fanoutDeadline = 3 * time.Minute
)

// fanoutResult is one fan-out's figures.
type fanoutResult struct {
	Name      string `json:"name"`
	Followers int    `json:"followers"`
	// Inboxes is how many distinct inboxes should receive the post (one
	// per host with shared inboxes).
	Inboxes int `json:"inboxes"`
	Hosts   int `json:"hosts"`
	// Delivered counts the verified deliveries the sinks received, and
	// InboxesReached and HostsReached the distinct inboxes and hosts among
	// them; Duplicates is Delivered − InboxesReached (must be 0).
	Delivered      int `json:"delivered"`
	InboxesReached int `json:"inboxes_reached"`
	HostsReached   int `json:"hosts_reached"`
	Duplicates     int `json:"duplicates"`
	// BadSignatures counts requests whose signature did not verify.
	BadSignatures int    `json:"bad_signatures"`
	FirstBad      string `json:"first_bad,omitempty"`
	// TimeToLastS runs from the POST /api/posts (its image uploaded
	// before) to the last delivery; DeliverySeconds from the fan-out's
	// mark (outbox.fanned_out_at, set in its transaction before the
	// deliveries are inserted) to the last delivery, the window
	// DeliveriesPerSec is taken over.
	TimeToLastS     float64 `json:"time_to_last_s"`
	DeliverySeconds float64 `json:"delivery_s"`
	// FirstAfterS is when the first delivery reached a sink, from the same
	// start as DeliverySeconds: the ramp before signing is under way.
	FirstAfterS      float64 `json:"first_after_s"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	// VsSign is DeliveriesPerSec over the run's RSA signing ceiling, and
	// VsSignNear over SignsPerSecNear, the same ceiling measured again just
	// before this fan-out: on a shared machine the load of the moment
	// drifts between the start of a run and its end.
	VsSign          float64 `json:"vs_sign"`
	SignsPerSecNear float64 `json:"rsa_signs_per_s_near"`
	VsSignNear      float64 `json:"vs_sign_near"`
	// Attempts is the sum of the server's delivery attempts for the post,
	// and Pending what it still had to deliver when the bench stopped.
	Attempts int `json:"attempts"`
	Pending  int `json:"pending"`
	// PendingError is the most common last error of the deliveries still
	// pending, and how many had it: why the server thinks they failed.
	PendingError string `json:"pending_error,omitempty"`
	// loadAccount covers the POST to the last delivery (the sinks
	// verifying are in the load generator's column).
	loadAccount
	// Error is what stopped the measurement, if anything did.
	Error string `json:"error,omitempty"`
}

// fanoutAgents are the seeded agents that are followed, one by the
// shared-inbox crowd, the other by the personal inboxes: the last two, as
// the write targets pick popular agents from the front (a post of theirs
// whose image is stored late would reach these followers too).
func fanoutAgents(scale float64) (shared, distinct int) {
	n := scaled(fullAgents, scale, 2)
	return n - 1, n - 2
}

// measureFanOut seeds the remote followers, posts once as each followed
// agent through the API and waits for the sinks to have verified every
// delivery, recording both fan-outs in rep. A failure is recorded with the
// fan-out it spoiled, not returned: the figures measured before it are
// worth writing. Run it after the read targets: the followers it seeds
// would otherwise receive their posts too.
func measureFanOut(ctx context.Context, db *sql.DB, base string, scale float64, prof *profiler, meter *cpuMeter, rep *report) {
	sharedAgent, distinctAgent := fanoutAgents(scale)
	shared := fanoutPlan{
		name:      "fan-out, shared inboxes",
		agent:     sharedAgent,
		followers: scaled(fullSharedFollowers, scale, 2),
		hosts:     scaled(fullSharedHosts, scale, 2),
		shared:    true,
	}
	n := scaled(fullDistinctInboxes, scale, 2)
	distinct := fanoutPlan{name: "fan-out, distinct inboxes", agent: distinctAgent, followers: n, hosts: 1}

	if err := quiesce(ctx, db, 2*time.Minute); err != nil {
		logf("fan-out: %v", err)
	}
	for _, p := range []fanoutPlan{distinct, shared} {
		if ctx.Err() != nil {
			return
		}
		logf("%s: %d followers on %d hosts", p.name, p.followers, p.hosts)
		signs, _, err := rsaCeiling(time.Second)
		if err != nil {
			logf("%s: signing ceiling: %v", p.name, err)
		}
		done := prof.capture(ctx, p.name)
		r, err := p.run(ctx, db, base, meter)
		done()
		if err != nil {
			logf("%s: %v", p.name, err)
			r.Error = err.Error()
		}
		r.SignsPerSecNear = signs
		r.VsSign = ratio(r.DeliveriesPerSec, rep.Ceilings.RSASignsPerSec)
		r.VsSignNear = ratio(r.DeliveriesPerSec, signs)
		rep.FanOut = append(rep.FanOut, r)
	}
}

// quiesce waits, at most within, until the server has no image left to
// fetch and no released outbox row left to fan out: the write targets
// before leave a backlog (hundreds of posts whose images are fetched and
// re-encoded, then fanned out) that would otherwise share the worker and
// the CPU with the deliveries measured.
func quiesce(ctx context.Context, db *sql.DB, within time.Duration) error {
	start := time.Now()
	for {
		var busy int
		err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM posts WHERE media_status = 'pending') +
			(SELECT count(*) FROM outbox WHERE fanned_out_at IS NULL AND released_at IS NOT NULL)`).Scan(&busy)
		if err != nil {
			return fmt.Errorf("waiting for the server to be idle: %w", err)
		}
		if busy == 0 {
			if waited := time.Since(start); waited > time.Second {
				logf("fan-out: waited %.1fs for the write targets' backlog to drain", waited.Seconds())
			}
			return nil
		}
		if time.Since(start) > within {
			return fmt.Errorf("%d images or outbox rows still pending after %s; measuring anyway", busy, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// fanoutPlan is one fan-out to set up and measure.
type fanoutPlan struct {
	name      string
	agent     int
	followers int
	hosts     int
	// shared gives every follower its host's shared inbox; otherwise each
	// has only its personal inbox (GoToSocial's accounts look like this).
	shared bool
}

func (p fanoutPlan) inboxes() int {
	if p.shared {
		return min(p.hosts, p.followers)
	}
	return p.followers
}

func (p fanoutPlan) run(ctx context.Context, db *sql.DB, base string, meter *cpuMeter) (fanoutResult, error) {
	r := fanoutResult{Name: p.name, Followers: p.followers, Inboxes: p.inboxes(), Hosts: p.hosts}
	keys, err := senderKey(ctx, db, base, agentName(p.agent))
	if err != nil {
		return r, err
	}
	s, err := startSinks(p.hosts, keys)
	if err != nil {
		return r, err
	}
	defer s.close()
	if err := p.seed(ctx, db, s.hosts); err != nil {
		return r, err
	}

	// The image is uploaded first (stored at once), so the post's Create is
	// released with the post, not behind whatever images the write targets
	// left queued for fetching.
	mediaID, err := upload(ctx, base, apiKey(p.agent), pngImage(p.agent))
	if err != nil {
		return r, err
	}
	account := meter.start(ctx)
	start := time.Now()
	postID, err := createPost(ctx, base, apiKey(p.agent), mediaID)
	if err != nil {
		return r, err
	}
	note, err := noteURL(base, postID)
	if err != nil {
		return r, err
	}
	deadline := time.NewTimer(fanoutDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for s.inboxesReached(note) < r.Inboxes && s.badSignatures() == 0 {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-deadline.C:
			logf("%s: stopped waiting after %s", p.name, fanoutDeadline)
			break wait
		case <-tick.C:
		}
	}
	first, last := s.deliveryTimes(note)
	r.loadAccount = account()

	// The server records an attempt after the sink has answered: give it
	// a moment to record the last ones, so Attempts and Pending are its
	// final word (one attempt per inbox, none pending).
	var fannedOut sql.NullTime
	recorded := time.Now().Add(10 * time.Second)
	for {
		err = db.QueryRowContext(ctx, `SELECT o.fanned_out_at, coalesce(sum(d.attempts), 0),
				count(d.id) FILTER (WHERE d.status = 'pending')
			FROM outbox o LEFT JOIN deliveries d ON d.outbox_id = o.id
			WHERE o.kind = 'create_post' AND o.post_id = $1 GROUP BY o.id`, postID).
			Scan(&fannedOut, &r.Attempts, &r.Pending)
		if errors.Is(err, sql.ErrNoRows) {
			err = nil // not even fanned out yet
		}
		if err != nil {
			return r, fmt.Errorf("read the post's deliveries: %w", err)
		}
		if (r.Pending == 0 && fannedOut.Valid) || time.Now().After(recorded) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Pending > 0 {
		var lastErr sql.NullString
		var n int
		if err := db.QueryRowContext(ctx, `SELECT d.last_error, count(*)
			FROM outbox o JOIN deliveries d ON d.outbox_id = o.id
			WHERE o.kind = 'create_post' AND o.post_id = $1 AND d.status = 'pending'
			GROUP BY 1 ORDER BY 2 DESC LIMIT 1`, postID).Scan(&lastErr, &n); err == nil {
			r.PendingError = fmt.Sprintf("%d with %q", n, lastErr.String)
		}
	}
	s.fill(&r, note)
	if !last.IsZero() {
		r.TimeToLastS = last.Sub(start).Seconds()
		from := start
		if fannedOut.Valid && fannedOut.Time.After(start) && fannedOut.Time.Before(last) {
			from = fannedOut.Time
		}
		r.DeliverySeconds = last.Sub(from).Seconds()
		r.FirstAfterS = first.Sub(from).Seconds()
		r.DeliveriesPerSec = ratio(float64(r.InboxesReached), r.DeliverySeconds)
	}
	logf("%s: %d of %d inboxes on %d of %d hosts, %d duplicates, %d bad signatures, last after %.2fs, %.0f deliveries/s",
		p.name, r.InboxesReached, r.Inboxes, r.HostsReached, r.Hosts, r.Duplicates, r.BadSignatures,
		r.TimeToLastS, r.DeliveriesPerSec)
	return r, nil
}

// seed writes the plan's remote actors with COPY and makes them follow the
// agent. Follower i lives on host i mod len(hosts); the usernames carry the
// plan's agent, so the followers of one plan are told from another's.
func (p fanoutPlan) seed(ctx context.Context, db *sql.DB, hosts []string) error {
	prefix := fmt.Sprintf("fan%d_", p.agent)
	err := copyRows(ctx, db, "remote_actors", []string{"uri", "type", "username", "host", "inbox", "shared_inbox"},
		p.followers, func(i int) []any {
			host := hosts[i%len(hosts)]
			actor := "http://" + host + "/users/" + prefix + strconv.Itoa(i)
			sharedInbox := ""
			if p.shared {
				sharedInbox = "http://" + host + "/inbox"
			}
			return []any{actor, "Person", prefix + strconv.Itoa(i), host, actor + "/inbox", sharedInbox}
		})
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO followers (agent_id, remote_actor_id, follow_activity_id)
		SELECT a.id, ra.id, ra.uri || '#follow' FROM agents a, remote_actors ra
		WHERE a.name = $1 AND ra.username LIKE $2 || '%'`, agentName(p.agent), strings.ReplaceAll(prefix, "_", `\_`))
	if err != nil {
		return fmt.Errorf("seed followers: %w", err)
	}
	_, err = db.ExecContext(ctx, `ANALYZE remote_actors; ANALYZE followers`)
	return err
}

// senderKey reads a seeded agent's public key (the sinks fetch nothing:
// they are told the key, as a server that cached it would be).
func senderKey(ctx context.Context, db *sql.DB, base, name string) (staticKeys, error) {
	var pemText string
	if err := db.QueryRowContext(ctx, `SELECT public_key_pem FROM agents WHERE name = $1`, name).Scan(&pemText); err != nil {
		return nil, fmt.Errorf("public key of %s: %w", name, err)
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, fmt.Errorf("public key of %s: no PEM block", name)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("public key of %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	urls := federation.NewURLs(u)
	return staticKeys{urls.ActorKey(name): {key: key, owner: urls.Actor(name)}}, nil
}

// staticKeys resolves the keyIds it knows and refuses the rest.
type staticKeys map[string]struct {
	key   crypto.PublicKey
	owner string
}

func (k staticKeys) ResolveKey(_ context.Context, keyID string, _ bool) (crypto.PublicKey, string, error) {
	e, ok := k[keyID]
	if !ok {
		return nil, "", fmt.Errorf("unknown key %q", keyID)
	}
	return e.key, e.owner, nil
}

// sinks are remote servers on loopback: one listener (so one host:port, a
// distinct host to the server's dedupe and circuit breaker) per host, all
// served by one handler that verifies every signature and counts
// deliveries per delivered object and inbox URL, so the measured post's
// deliveries are told from any other activity's.
type sinks struct {
	srv   *http.Server
	hosts []string
	keys  federation.KeyResolver

	mu       sync.Mutex
	byObject map[string]*objectDeliveries
	bad      int
	firstBad string
}

// objectDeliveries are the deliveries of one object (a Create's Note).
type objectDeliveries struct {
	perInbox map[string]int
	perHost  map[string]bool
	first    time.Time
	last     time.Time
}

func startSinks(n int, keys federation.KeyResolver) (*sinks, error) {
	s := &sinks{keys: keys, byObject: make(map[string]*objectDeliveries)}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.close()
			return nil, fmt.Errorf("sink listener %d of %d: %w", len(s.hosts)+1, n, err)
		}
		s.hosts = append(s.hosts, ln.Addr().String())
		go func() { _ = s.srv.Serve(ln) }()
	}
	return s, nil
}

func (s *sinks) close() { _ = s.srv.Close() }

func (s *sinks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "inboxes take POST", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := federation.VerifyRequest(r.Context(), r, body, s.keys, time.Now()); err != nil {
		s.mu.Lock()
		if s.bad++; s.firstBad == "" {
			s.firstBad = err.Error()
		}
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	object := deliveredObject(body)
	inbox := "http://" + r.Host + r.URL.Path
	now := time.Now()
	s.mu.Lock()
	o := s.byObject[object]
	if o == nil {
		o = &objectDeliveries{perInbox: make(map[string]int), perHost: make(map[string]bool)}
		s.byObject[object] = o
	}
	o.perInbox[inbox]++
	o.perHost[r.Host] = true
	if o.first.IsZero() || now.Before(o.first) {
		o.first = now
	}
	if now.After(o.last) {
		o.last = now
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// deliveredObject is the id of an activity's object (embedded or named),
// or the activity's own id when it has none.
func deliveredObject(body []byte) string {
	var a struct {
		ID     string          `json:"id"`
		Object json.RawMessage `json:"object"`
	}
	if json.Unmarshal(body, &a) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(a.Object, &id) == nil {
		return id
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(a.Object, &obj) == nil && obj.ID != "" {
		return obj.ID
	}
	return a.ID
}

func (s *sinks) inboxesReached(object string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.byObject[object]; o != nil {
		return len(o.perInbox)
	}
	return 0
}

func (s *sinks) badSignatures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

// deliveryTimes is when object's first and last deliveries arrived.
func (s *sinks) deliveryTimes(object string) (first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.byObject[object]; o != nil {
		return o.first, o.last
	}
	return time.Time{}, time.Time{}
}

// fill copies the counts of object's deliveries into r, and logs any
// other activity the sinks received.
func (s *sinks) fill(r *fanoutResult, object string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.byObject[object]; o != nil {
		for _, n := range o.perInbox {
			r.Delivered += n
		}
		r.InboxesReached = len(o.perInbox)
		r.HostsReached = len(o.perHost)
	}
	r.Duplicates = r.Delivered - r.InboxesReached
	r.BadSignatures, r.FirstBad = s.bad, s.firstBad
	for other, o := range s.byObject {
		if other != object {
			logf("%s: the sinks also received %d deliveries of %q", r.Name, len(o.perInbox), other)
		}
	}
}

// upload stores an image as the agent through POST /api/media and returns
// its media id.
func upload(ctx context.Context, base, key string, img []byte) (string, error) {
	return apiCreate(ctx, base+"/api/media", key, "image/png", img)
}

// createPost posts as the agent with key through the API, with an
// uploaded image, and returns the post's id.
func createPost(ctx context.Context, base, key, mediaID string) (string, error) {
	body, _ := json.Marshal(map[string]any{"media_ids": []string{mediaID}, "category": "general",
		"caption": "a robot looking at 200k followers #bench", "prompt": "a robot waving at a crowd of servers"})
	return apiCreate(ctx, base+"/api/posts", key, "application/json", body)
}

// apiCreate POSTs body to an API endpoint that answers 201 with the new
// thing's id.
func apiCreate(ctx context.Context, u, key, contentType string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s: %s: %.300s", u, resp.Status, b)
	}
	var out struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Data.ID == "" {
		return "", errors.Join(fmt.Errorf("POST %s answered %.300s", u, b), err)
	}
	return out.Data.ID, nil
}

// noteURL is the ActivityPub id of a post, the object its Create carries.
func noteURL(base, postID string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	id, err := uuid.Parse(postID)
	if err != nil {
		return "", fmt.Errorf("post id %q: %w", postID, err)
	}
	return federation.NewURLs(u).Note(id), nil
}

// pngImage is a small PNG, different per seed (the server keeps one copy
// of identical images).
func pngImage(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		for y := range 48 {
			img.Set(x, y, color.RGBA{R: uint8(seed) + uint8(3*x), G: uint8(5 * y), B: uint8(seed >> 8), A: 255})
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // encoding to memory cannot fail
	return buf.Bytes()
}

// fanoutLines is the report's fan-out section.
func fanoutLines(b *strings.Builder, rs []fanoutResult) {
	if len(rs) == 0 {
		return
	}
	b.WriteString("\n")
	tableHead(b, "federation fan-out", "followers", "inboxes reached", "hosts reached", "duplicates", "bad signatures",
		"attempts (pending)", "time to last s", "first delivery after s", "deliveries/s", "vs signing ceiling",
		"signs/s just before", "vs that")
	for _, r := range rs {
		fmt.Fprintf(b, "| %s | %d | %d / %d | %d / %d | %d | %d | %d (%d) | %.2f | %.3f | %.0f | %.1f %% | %.0f | %.1f %% |\n",
			r.Name, r.Followers, r.InboxesReached, r.Inboxes, r.HostsReached, r.Hosts, r.Duplicates,
			r.BadSignatures, r.Attempts, r.Pending, r.TimeToLastS, r.FirstAfterS, r.DeliveriesPerSec, 100*r.VsSign,
			r.SignsPerSecNear, 100*r.VsSignNear)
	}
	for _, r := range rs {
		if r.Error != "" || r.FirstBad != "" {
			fmt.Fprintf(b, "\n%s: error %q, first bad signature %q\n", r.Name, r.Error, r.FirstBad)
		}
		if r.PendingError != "" {
			fmt.Fprintf(b, "\n%s: deliveries still pending when read, the most common last error: %s\n", r.Name, r.PendingError)
		}
	}
	b.WriteString("\nTime to last runs from the POST of the post (its image uploaded before; fan-out included); deliveries/s is taken " +
		"from the moment the fan-out marks the post sent (outbox.fanned_out_at, inside its transaction, before it inserts the deliveries) to the last delivery verified by the sinks, and the first delivery is timed from the same moment. The signing ceiling is measured " +
		"again just before each fan-out, since the machine's load drifts during a run.\n")
}
