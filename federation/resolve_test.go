package federation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/activitypub/fixtures"
	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// --- keys -------------------------------------------------------------------

// resolveTestKeys are generated once per test binary: RSA-2048 generation
// is slow, under -race especially. [0] is our instance actor's, [1] and [2]
// a remote actor's before and after rotation.
var resolveTestKeys = sync.OnceValues(func() ([3]*rsa.PrivateKey, error) {
	var keys [3]*rsa.PrivateKey
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return keys, err
		}
		keys[i] = k
	}
	return keys, nil
})

func resolveKeys(t testing.TB) [3]*rsa.PrivateKey {
	t.Helper()
	keys, err := resolveTestKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func spkiPEM(t testing.TB, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// --- a fake remote server -----------------------------------------------------

// resolveRoute is one canned answer of the fake remote server.
type resolveRoute struct {
	status      int    // 200 when zero
	contentType string // application/activity+json; charset=utf-8 when empty
	location    string // for redirects
	body        []byte
}

// resolveRemote is a fediverse server on loopback that serves canned
// documents and, like GoToSocial, refuses any GET not signed by our
// instance actor's key with our instance actor's keyId.
type resolveRemote struct {
	t     testing.TB
	srv   *httptest.Server
	key   crypto.PublicKey
	keyID string

	mu     sync.Mutex
	routes map[string]resolveRoute
	hits   []string
}

func newResolveRemote(t testing.TB, instanceKey crypto.PublicKey, instanceKeyID string) *resolveRemote {
	rr := &resolveRemote{t: t, key: instanceKey, keyID: instanceKeyID, routes: make(map[string]resolveRoute)}
	rr.srv = httptest.NewServer(http.HandlerFunc(rr.serve))
	t.Cleanup(rr.srv.Close)
	return rr
}

func (rr *resolveRemote) serve(w http.ResponseWriter, r *http.Request) {
	v, err := VerifyRequest(r.Context(), r, nil, resolveStaticKey{rr.key}, time.Now())
	switch {
	case err != nil:
		rr.t.Errorf("GET %s: signature does not verify: %v", r.URL.Path, err)
		http.Error(w, "unsigned", http.StatusUnauthorized)
		return
	case v.KeyID != rr.keyID:
		rr.t.Errorf("GET %s: signed with keyId %q, want %q", r.URL.Path, v.KeyID, rr.keyID)
	case !strings.Contains(r.Header.Get("Accept"), "application/activity+json"):
		rr.t.Errorf("GET %s: Accept %q", r.URL.Path, r.Header.Get("Accept"))
	}
	rr.mu.Lock()
	rr.hits = append(rr.hits, r.URL.Path)
	route, ok := rr.routes[r.URL.Path]
	rr.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if route.location != "" {
		w.Header().Set("Location", route.location)
	}
	ct := route.contentType
	if ct == "" {
		ct = "application/activity+json; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	if route.status == 0 {
		route.status = http.StatusOK
	}
	w.WriteHeader(route.status)
	_, _ = w.Write(route.body)
}

// set serves route at path.
func (rr *resolveRemote) set(path string, route resolveRoute) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.routes[path] = route
}

// doc serves the JSON document at path.
func (rr *resolveRemote) doc(path string, doc any) {
	b, err := json.Marshal(doc)
	if err != nil {
		rr.t.Fatal(err)
	}
	rr.set(path, resolveRoute{body: b})
}

// redirect answers path with status and a Location.
func (rr *resolveRemote) redirect(path string, status int, location string) {
	rr.set(path, resolveRoute{status: status, location: location})
}

// takeHits returns the paths requested since the last call.
func (rr *resolveRemote) takeHits() []string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	h := rr.hits
	rr.hits = nil
	return h
}

// url is the absolute URL of path on this server.
func (rr *resolveRemote) url(path string) string { return rr.srv.URL + path }

// host is host:port of this server.
func (rr *resolveRemote) host() string { return strings.TrimPrefix(rr.srv.URL, "http://") }

// actor returns Mastodon's actor document from the fixture for the user
// name on this server, with publicKeyPem pub, as a map to modify.
func (rr *resolveRemote) actor(name string, pub crypto.PublicKey) map[string]any {
	rr.t.Helper()
	pemJSON, err := json.Marshal(spkiPEM(rr.t, pub))
	if err != nil {
		rr.t.Fatal(err)
	}
	raw := strings.NewReplacer(
		`"{{PEER_PUBLIC_KEY_PEM}}"`, string(pemJSON),
		"{{PEER}}/users/alice", rr.srv.URL+"/users/"+name,
		"{{PEER}}/@alice", rr.srv.URL+"/@"+name,
		`"preferredUsername": "alice"`, `"preferredUsername": "`+name+`"`,
		"{{PEER}}", rr.srv.URL,
	).Replace(string(fixtures.Read(rr.t, "mastodon/actor-person.json")))
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		rr.t.Fatal(err)
	}
	return doc
}

// resolveStaticKey is the KeyResolver of the fake remote server: it knows
// only our instance actor's key.
type resolveStaticKey struct{ key crypto.PublicKey }

func (k resolveStaticKey) ResolveKey(context.Context, string, bool) (crypto.PublicKey, string, error) {
	return k.key, "https://aistagram.test/actor", nil
}

// --- the rig ------------------------------------------------------------------

type resolveClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *resolveClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *resolveClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type resolveRig struct {
	res    *Resolver
	st     *store.Store
	remote *resolveRemote
	clock  *resolveClock
	keys   [3]*rsa.PrivateKey
}

// newResolveRig builds a Resolver the way cmd does — Service.NewResolver
// over the safe client, loopback allowed — on a fresh database whose
// instance actor key is keys[0], and a remote server that checks it.
func newResolveRig(t *testing.T) *resolveRig {
	t.Helper()
	keys := resolveKeys(t)
	st := storetest.New(t)
	der, err := x509.MarshalPKCS8PrivateKey(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	kp := store.KeyPair{
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PublicPEM:  spkiPEM(t, &keys[0].PublicKey),
	}
	if _, err := st.SetInstanceKeyPairIfMissing(context.Background(), instanceKeyID, kp); err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://aistagram.test")
	svc := New(Config{URLs: NewURLs(base), Version: "test"}, st, slog.New(slog.DiscardHandler))
	// MaxRedirects 0 means the default (3): the Resolver must still follow
	// redirects itself, re-signing each hop.
	client := NewSafeClient(SafeClientOptions{AllowPrivate: true, UserAgent: svc.UserAgent()})
	res := svc.NewResolver(client)
	clock := &resolveClock{t: time.Now()}
	res.now = clock.Now
	return &resolveRig{
		res:    res,
		st:     st,
		remote: newResolveRemote(t, &keys[0].PublicKey, svc.URLs().InstanceActorKey()),
		clock:  clock,
		keys:   keys,
	}
}

func (g *resolveRig) wantHits(t *testing.T, want ...string) {
	t.Helper()
	if got := g.remote.takeHits(); !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
}

func sameKey(got crypto.PublicKey, want *rsa.PrivateKey) bool {
	k, ok := got.(*rsa.PublicKey)
	return ok && k.Equal(&want.PublicKey)
}

// --- tests ----------------------------------------------------------------------

func TestResolveKeyMastodon(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	rem := g.remote
	rem.doc("/users/alice", rem.actor("alice", &g.keys[1].PublicKey))

	keyID := rem.url("/users/alice#main-key")
	key, owner, err := g.res.ResolveKey(ctx, keyID, false)
	if err != nil {
		t.Fatal(err)
	}
	if !sameKey(key, g.keys[1]) || owner != rem.url("/users/alice") {
		t.Fatalf("got key %T, owner %q", key, owner)
	}
	g.wantHits(t, "/users/alice")

	row, err := g.st.RemoteActorByKeyID(ctx, keyID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.RemoteActor{
		ID: row.ID, URI: rem.url("/users/alice"), Type: "Person", Username: "alice", Host: rem.host(),
		Name:         "Alice 🌻",
		SummaryHTML:  `<p>Human who follows robots. <a href="https://example.org" rel="nofollow noopener noreferrer" target="_blank">example.org</a></p>`,
		URL:          rem.url("/@alice"),
		IconURL:      rem.url("/system/accounts/avatars/000/000/001/original/avatar.png"),
		Inbox:        rem.url("/users/alice/inbox"),
		SharedInbox:  rem.url("/inbox"),
		FollowersURI: rem.url("/users/alice/followers"),
		KeyID:        keyID, PublicKeyPEM: spkiPEM(t, &g.keys[1].PublicKey),
		FetchedAt: row.FetchedAt, CreatedAt: row.CreatedAt,
	}
	if *row != want {
		t.Errorf("stored\n %+v\nwant\n %+v", *row, want)
	}
	if d := row.FetchedAt.Sub(g.clock.Now()).Abs(); d > time.Millisecond { // PostgreSQL keeps microseconds
		t.Errorf("fetched_at %v, want the resolver's clock %v", row.FetchedAt, g.clock.Now())
	}

	// Cached now: no request.
	key, owner, err = g.res.ResolveKey(ctx, keyID, false)
	if err != nil || !sameKey(key, g.keys[1]) || owner != rem.url("/users/alice") {
		t.Fatalf("cached: %v %q %v", key, owner, err)
	}
	g.wantHits(t)
}

func TestResolveKeyGoToSocialAndKeyDocuments(t *testing.T) {
	cases := []struct {
		name string
		// serve sets up the server; keyPath is what the keyId names.
		serve   func(g *resolveRig) (keyPath, ownerPath string)
		wantErr error
		hits    []string
	}{
		{
			name: "GoToSocial stub actor at /main-key, then the owner",
			serve: func(g *resolveRig) (string, string) {
				rem := g.remote
				keyID := rem.url("/users/bob/main-key")
				rem.doc("/users/bob/main-key", map[string]any{
					"@context":          []any{ap.ActivityStreamsContext, ap.SecurityContext},
					"id":                rem.url("/users/bob"),
					"type":              "Person",
					"preferredUsername": "bob",
					"publicKey":         map[string]any{"id": keyID, "owner": rem.url("/users/bob"), "publicKeyPem": spkiPEM(g.t(), &g.keys[1].PublicKey)},
				})
				full := rem.actor("bob", &g.keys[1].PublicKey)
				full["publicKey"].(map[string]any)["id"] = keyID
				rem.doc("/users/bob", full)
				return "/users/bob/main-key", "/users/bob"
			},
			hits: []string{"/users/bob/main-key", "/users/bob"},
		},
		{
			name: "stub whose owner does not list the key",
			serve: func(g *resolveRig) (string, string) {
				rem := g.remote
				rem.doc("/users/bob/main-key", map[string]any{
					"@context":          ap.ActivityStreamsContext,
					"id":                rem.url("/users/bob"),
					"type":              "Person",
					"preferredUsername": "bob",
					"publicKey":         map[string]any{"id": rem.url("/users/bob/main-key"), "owner": rem.url("/users/bob"), "publicKeyPem": spkiPEM(g.t(), &g.keys[2].PublicKey)},
				})
				rem.doc("/users/bob", rem.actor("bob", &g.keys[1].PublicKey)) // lists #main-key only
				return "/users/bob/main-key", ""
			},
			wantErr: ErrActorInvalid,
			hits:    []string{"/users/bob/main-key", "/users/bob"},
		},
		{
			name: "Key document whose owner lists it by IRI",
			serve: func(g *resolveRig) (string, string) {
				rem := g.remote
				rem.doc("/keys/carol", map[string]any{
					"@context":     []any{ap.ActivityStreamsContext, ap.SecurityContext},
					"id":           rem.url("/keys/carol"),
					"type":         "CryptographicKey",
					"owner":        rem.url("/users/carol"),
					"publicKeyPem": spkiPEM(g.t(), &g.keys[1].PublicKey),
				})
				full := rem.actor("carol", &g.keys[1].PublicKey)
				full["publicKey"] = rem.url("/keys/carol")
				rem.doc("/users/carol", full)
				return "/keys/carol", "/users/carol"
			},
			hits: []string{"/keys/carol", "/users/carol"},
		},
		{
			name: "Key document claiming an owner that does not list it",
			serve: func(g *resolveRig) (string, string) {
				rem := g.remote
				rem.doc("/keys/evil", map[string]any{
					"@context":     ap.ActivityStreamsContext,
					"id":           rem.url("/keys/evil"),
					"type":         "Key",
					"owner":        rem.url("/users/carol"),
					"publicKeyPem": spkiPEM(g.t(), &g.keys[2].PublicKey),
				})
				rem.doc("/users/carol", rem.actor("carol", &g.keys[1].PublicKey))
				return "/keys/evil", ""
			},
			wantErr: ErrActorInvalid,
			hits:    []string{"/keys/evil", "/users/carol"},
		},
		{
			name: "Key document whose owner is found under another id",
			serve: func(g *resolveRig) (string, string) {
				rem := g.remote
				rem.doc("/keys/dan", map[string]any{
					"@context": ap.ActivityStreamsContext, "id": rem.url("/keys/dan"), "type": "Key",
					"owner": rem.url("/@dan"), "publicKeyPem": spkiPEM(g.t(), &g.keys[1].PublicKey),
				})
				dan := rem.actor("dan", &g.keys[1].PublicKey)
				dan["publicKey"] = rem.url("/keys/dan")
				rem.doc("/@dan", dan) // its id is /users/dan
				return "/keys/dan", ""
			},
			wantErr: ErrActorInvalid,
			hits:    []string{"/keys/dan", "/@dan"},
		},
		{
			name: "actor that does not list the keyId",
			serve: func(g *resolveRig) (string, string) {
				g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))
				return "/users/alice#other-key", ""
			},
			wantErr: ErrActorInvalid,
			hits:    []string{"/users/alice"},
		},
		{
			name: "key document that is neither actor nor key",
			serve: func(g *resolveRig) (string, string) {
				g.remote.doc("/notes/1", map[string]any{"@context": ap.ActivityStreamsContext, "id": g.remote.url("/notes/1"), "type": "Note"})
				return "/notes/1", ""
			},
			wantErr: ErrActorInvalid,
			hits:    []string{"/notes/1"},
		},
		{
			name: "gone",
			serve: func(g *resolveRig) (string, string) {
				g.remote.set("/users/zed", resolveRoute{status: 410})
				return "/users/zed#main-key", ""
			},
			wantErr: ErrActorGone,
			hits:    []string{"/users/zed"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newResolveRig(t)
			keyPath, ownerPath := c.serve(g)
			keyID := g.remote.url(keyPath)
			key, owner, err := g.res.ResolveKey(context.Background(), keyID, false)
			g.wantHits(t, c.hits...)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				if _, err := g.st.RemoteActorByKeyID(context.Background(), keyID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a refused key was stored (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !sameKey(key, g.keys[1]) || owner != g.remote.url(ownerPath) {
				t.Fatalf("key %T owner %q", key, owner)
			}
			row, err := g.st.RemoteActorByKeyID(context.Background(), keyID)
			if err != nil || row.URI != owner || row.Inbox == "" {
				t.Fatalf("stored %+v, %v", row, err)
			}
			if _, _, err := g.res.ResolveKey(context.Background(), keyID, false); err != nil {
				t.Fatal(err)
			}
			g.wantHits(t) // cached
		})
	}
}

func TestFetchActorChecks(t *testing.T) {
	const big = maxFetchBytes + 1
	cases := []struct {
		name    string
		serve   func(g *resolveRig, doc map[string]any) // doc: a valid actor at /users/x
		start   string                                  // the path fetched; /users/x when empty
		wantErr error
		hits    []string
		check   func(t *testing.T, row *store.RemoteActor)
	}{
		{name: "valid", hits: []string{"/users/x"}},
		{
			name: "ld+json with the ActivityStreams profile",
			serve: func(g *resolveRig, doc map[string]any) {
				b, _ := json.Marshal(doc)
				g.remote.set("/users/x", resolveRoute{contentType: `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, body: b})
			},
			hits: []string{"/users/x"},
		},
		{
			name: "application/json is refused",
			serve: func(g *resolveRig, doc map[string]any) {
				b, _ := json.Marshal(doc)
				g.remote.set("/users/x", resolveRoute{contentType: "application/json", body: b})
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "text/html is refused",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.set("/users/x", resolveRoute{contentType: "text/html; charset=utf-8", body: []byte("<html>profile</html>")})
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name:    "missing @context is refused",
			serve:   func(g *resolveRig, doc map[string]any) { delete(doc, "@context"); g.remote.doc("/users/x", doc) },
			wantErr: ap.ErrNoContext, hits: []string{"/users/x"},
		},
		{
			name: "410 Gone",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.set("/users/x", resolveRoute{status: http.StatusGone})
			},
			wantErr: ErrActorGone, hits: []string{"/users/x"},
		},
		{
			name: "404 Not Found",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.set("/users/x", resolveRoute{status: http.StatusNotFound})
			},
			wantErr: ErrActorNotFound, hits: []string{"/users/x"},
		},
		{
			name: "oversize body",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["summary"] = strings.Repeat("a", big)
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrTooLarge, hits: []string{"/users/x"},
		},
		{
			name:    "not an actor",
			serve:   func(g *resolveRig, doc map[string]any) { doc["type"] = "Note"; g.remote.doc("/users/x", doc) },
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name:    "no inbox",
			serve:   func(g *resolveRig, doc map[string]any) { delete(doc, "inbox"); g.remote.doc("/users/x", doc) },
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "inbox on another host",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["inbox"] = strings.Replace(g.remote.url("/users/x/inbox"), "127.0.0.1", "localhost", 1)
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "no preferredUsername",
			serve: func(g *resolveRig, doc map[string]any) {
				delete(doc, "preferredUsername")
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "username that cannot be a handle",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["preferredUsername"] = "x@evil.example"
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name:    "no publicKey",
			serve:   func(g *resolveRig, doc map[string]any) { delete(doc, "publicKey"); g.remote.doc("/users/x", doc) },
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "key owned by someone else",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["publicKey"].(map[string]any)["owner"] = g.remote.url("/users/other")
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "key on another host",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["publicKey"].(map[string]any)["id"] = "https://victim.example/users/v#main-key"
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "unparseable key",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["publicKey"].(map[string]any)["publicKeyPem"] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
				g.remote.doc("/users/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "id elsewhere whose own document disagrees",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["id"] = g.remote.url("/users/y")
				g.remote.doc("/users/x", doc)
				other := maps(doc)
				other["id"] = g.remote.url("/users/z")
				g.remote.doc("/users/y", other)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x", "/users/y"},
		},
		{
			name: "id elsewhere, confirmed there (a profile URL)",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.doc("/@x", doc) // its id is /users/x
				g.remote.doc("/users/x", doc)
			},
			start: "/@x",
			hits:  []string{"/@x", "/users/x"},
		},
		{
			name: "redirect followed, re-signed, final id matches",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.redirect("/go/x", http.StatusMovedPermanently, "/go/x2")
				g.remote.redirect("/go/x2", http.StatusTemporaryRedirect, g.remote.url("/users/x"))
				g.remote.doc("/users/x", doc)
			},
			start: "/go/x",
			hits:  []string{"/go/x", "/go/x2", "/users/x"},
		},
		{
			name: "redirect whose document claims the original URL",
			serve: func(g *resolveRig, doc map[string]any) {
				doc["id"] = g.remote.url("/users/x")
				g.remote.redirect("/users/x", http.StatusFound, "/elsewhere/x")
				g.remote.doc("/elsewhere/x", doc)
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x", "/elsewhere/x", "/users/x", "/elsewhere/x"},
		},
		{
			name: "too many redirects",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.redirect("/users/x", http.StatusFound, "/r1")
				g.remote.redirect("/r1", http.StatusFound, "/r2")
				g.remote.redirect("/r2", http.StatusFound, "/r3")
				g.remote.redirect("/r3", http.StatusFound, "/r4")
				g.remote.doc("/r4", doc)
			},
			wantErr: ErrTooManyRedirects, hits: []string{"/users/x", "/r1", "/r2", "/r3"},
		},
		{
			name: "redirect to another scheme",
			serve: func(g *resolveRig, doc map[string]any) {
				g.remote.redirect("/users/x", http.StatusFound, "file:///etc/passwd")
			},
			wantErr: ErrActorInvalid, hits: []string{"/users/x"},
		},
		{
			name: "optional URLs that break the rules are dropped",
			serve: func(g *resolveRig, doc map[string]any) {
				other := strings.Replace(g.remote.srv.URL, "127.0.0.1", "localhost", 1)
				doc["url"] = other + "/@x"              // another host: Mastodon ignores it
				doc["followers"] = other + "/users/x/f" // another host
				doc["endpoints"] = map[string]any{"sharedInbox": "https://relay.example/inbox"}
				doc["icon"] = map[string]any{"type": "Image", "url": "javascript:alert(1)"}
				doc["name"] = `<script>alert(1)</script>X &amp; <b>Y</b>`
				doc["summary"] = `<p onclick="x()">bio<img src=x onerror=alert(1)></p>`
				g.remote.doc("/users/x", doc)
			},
			hits: []string{"/users/x"},
			check: func(t *testing.T, row *store.RemoteActor) {
				if row.URL != "" || row.FollowersURI != "" || row.IconURL != "" {
					t.Errorf("kept url %q followers %q icon %q", row.URL, row.FollowersURI, row.IconURL)
				}
				if row.SharedInbox != "https://relay.example/inbox" {
					t.Errorf("sharedInbox on another https host dropped: %q", row.SharedInbox)
				}
				if row.Name != "X & Y" || row.SummaryHTML != "<p>bio</p>" {
					t.Errorf("name %q summary %q", row.Name, row.SummaryHTML)
				}
			},
		},
		{
			name: "webfinger instead of preferredUsername",
			serve: func(g *resolveRig, doc map[string]any) {
				delete(doc, "preferredUsername")
				doc["webfinger"] = "x@" + g.remote.host()
				g.remote.doc("/users/x", doc)
			},
			hits:  []string{"/users/x"},
			check: func(t *testing.T, row *store.RemoteActor) { checkEqual(t, "username", row.Username, "x") },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newResolveRig(t)
			doc := g.remote.actor("x", &g.keys[1].PublicKey)
			if c.serve != nil {
				c.serve(g, doc)
			} else {
				g.remote.doc("/users/x", doc)
			}
			start := "/users/x"
			if c.start != "" {
				start = c.start
			}
			row, err := g.res.FetchActor(context.Background(), g.remote.url(start), false)
			g.wantHits(t, c.hits...)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				if _, err := g.st.RemoteActorByURI(context.Background(), g.remote.url("/users/x")); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("a refused actor was stored (%v)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if row.URI != g.remote.url("/users/x") || row.ID == 0 {
				t.Errorf("got actor %q (row %d), want %q", row.URI, row.ID, g.remote.url("/users/x"))
			}
			if c.check != nil {
				c.check(t, row)
			}
		})
	}
}

// maps copies a JSON object one level deep.
func maps(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func checkEqual(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestFetchActorCache(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	uri := g.remote.url("/users/alice")
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))

	first, err := g.res.FetchActor(ctx, uri, false)
	if err != nil {
		t.Fatal(err)
	}
	g.wantHits(t, "/users/alice")

	// A fresh cached copy answers without a request.
	if row, err := g.res.FetchActor(ctx, uri, false); err != nil || row.ID != first.ID {
		t.Fatalf("cached: %+v %v", row, err)
	}
	g.wantHits(t)

	// refresh makes exactly one request, and updates the row in place.
	doc := g.remote.actor("alice", &g.keys[1].PublicKey)
	doc["name"] = "Alice renamed"
	g.remote.doc("/users/alice", doc)
	row, err := g.res.FetchActor(ctx, uri, true)
	if err != nil || row.ID != first.ID || row.Name != "Alice renamed" {
		t.Fatalf("refresh: %+v %v", row, err)
	}
	g.wantHits(t, "/users/alice")

	// After a day the copy is stale and refetched.
	g.clock.Add(actorStaleAfter + time.Minute)
	if _, err := g.res.FetchActor(ctx, uri, false); err != nil {
		t.Fatal(err)
	}
	g.wantHits(t, "/users/alice")

	// A stale copy is used while the server fails transiently...
	g.clock.Add(actorStaleAfter + time.Minute)
	g.remote.set("/users/alice", resolveRoute{status: http.StatusServiceUnavailable})
	if row, err := g.res.FetchActor(ctx, uri, false); err != nil || row.ID != first.ID {
		t.Fatalf("stale fallback: %+v %v", row, err)
	}
	g.wantHits(t, "/users/alice")
	// ...but not when the caller asks for a refresh...
	if _, err := g.res.FetchActor(ctx, uri, true); err == nil || errors.Is(err, ErrActorGone) || errors.Is(err, ErrActorInvalid) {
		t.Fatalf("refresh during an outage: %v, want a transient error", err)
	}
	g.wantHits(t, "/users/alice")
	// ...and never once the actor is gone.
	g.remote.set("/users/alice", resolveRoute{status: http.StatusGone})
	if _, err := g.res.FetchActor(ctx, uri, false); !errors.Is(err, ErrActorGone) {
		t.Fatalf("gone: %v", err)
	}
	g.wantHits(t, "/users/alice")
}

func TestResolveKeyRotationAndRateLimit(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	owner := g.remote.url("/users/alice")
	keyID := owner + "#main-key"
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))

	resolve := func(refresh bool, want *rsa.PrivateKey, hits ...string) {
		t.Helper()
		key, gotOwner, err := g.res.ResolveKey(ctx, keyID, refresh)
		if err != nil {
			t.Fatalf("ResolveKey(refresh=%v): %v", refresh, err)
		}
		if !sameKey(key, want) || gotOwner != owner {
			t.Errorf("ResolveKey(refresh=%v): wrong key or owner %q", refresh, gotOwner)
		}
		g.wantHits(t, hits...)
	}
	resolve(false, g.keys[1], "/users/alice")

	// The actor rotates its key.
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[2].PublicKey))
	resolve(false, g.keys[1]) // the cache still has the old one
	resolve(true, g.keys[1])  // fetched less than 30 s ago: no refetch
	g.clock.Add(keyRefetchInterval + time.Second)
	resolve(true, g.keys[2], "/users/alice") // refetched once
	resolve(true, g.keys[2])                 // and not again at once
	resolve(false, g.keys[2])
	if row, err := g.st.RemoteActorByKeyID(ctx, keyID); err != nil || row.PublicKeyPEM != spkiPEM(t, &g.keys[2].PublicKey) {
		t.Errorf("stored key not rotated: %v", err)
	}

	// An actor cached by FetchActor: refresh makes exactly one request.
	g.remote.doc("/users/bob", g.remote.actor("bob", &g.keys[1].PublicKey))
	if _, err := g.res.FetchActor(ctx, g.remote.url("/users/bob"), false); err != nil {
		t.Fatal(err)
	}
	g.wantHits(t, "/users/bob")
	bobKey := g.remote.url("/users/bob#main-key")
	if _, _, err := g.res.ResolveKey(ctx, bobKey, false); err != nil {
		t.Fatal(err)
	}
	g.wantHits(t)
	if _, _, err := g.res.ResolveKey(ctx, bobKey, true); err != nil {
		t.Fatal(err)
	}
	g.wantHits(t, "/users/bob")

	// An unknown key that 404s is not refetched for every forged request.
	ghost := g.remote.url("/users/ghost#main-key")
	if _, _, err := g.res.ResolveKey(ctx, ghost, false); !errors.Is(err, ErrActorNotFound) {
		t.Fatalf("ghost: %v", err)
	}
	g.wantHits(t, "/users/ghost")
	for _, refresh := range []bool{false, true} {
		if _, _, err := g.res.ResolveKey(ctx, ghost, refresh); err == nil {
			t.Fatal("ghost resolved")
		}
	}
	g.wantHits(t)
	g.clock.Add(keyRefetchInterval + time.Second)
	if _, _, err := g.res.ResolveKey(ctx, ghost, true); !errors.Is(err, ErrActorNotFound) {
		t.Fatalf("ghost later: %v", err)
	}
	g.wantHits(t, "/users/ghost")
}

// TestResolveKeyConcurrent: callers racing for a new key share one fetch.
func TestResolveKeyConcurrent(t *testing.T) {
	g := newResolveRig(t)
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))
	keyID := g.remote.url("/users/alice#main-key")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			key, _, err := g.res.ResolveKey(context.Background(), keyID, false)
			if err != nil || !sameKey(key, g.keys[1]) {
				t.Errorf("concurrent resolve: %v", err)
			}
		})
	}
	wg.Wait()
	g.wantHits(t, "/users/alice")
}

// TestVerifyRequestWithResolver runs an inbox delivery's signature check
// against the real resolver: first contact, then a key rotation.
func TestVerifyRequestWithResolver(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	owner := g.remote.url("/users/alice")
	keyID := owner + "#main-key"
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))

	req, body := signedPost(t, g.keys[1], keyID, time.Now())
	v, err := VerifyRequest(ctx, req, body, g.res, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if v.Owner != owner {
		t.Errorf("owner %q", v.Owner)
	}
	g.wantHits(t, "/users/alice")

	g.clock.Add(time.Hour)
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[2].PublicKey))
	req, body = signedPost(t, g.keys[2], keyID, time.Now())
	if v, err = VerifyRequest(ctx, req, body, g.res, time.Now()); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	g.wantHits(t, "/users/alice")

	// A forgery (signed with a key alice never had) costs no request now.
	req, body = signedPost(t, g.keys[0], keyID, time.Now())
	if _, err := VerifyRequest(ctx, req, body, g.res, time.Now()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forgery: %v", err)
	}
	g.wantHits(t)
}

func TestParsePublicKeyPEM(t *testing.T) {
	keys := resolveKeys(t)
	rsaPub := &keys[1].PublicKey
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rsaPub)}))
	cases := []struct {
		name string
		pem  string
		want crypto.PublicKey // nil: an error
	}{
		{"PKIX RSA, as Mastodon publishes", spkiPEM(t, rsaPub), rsaPub},
		{"PKCS#1 RSA, as GoToSocial accepts", pkcs1, rsaPub},
		{"surrounding whitespace", "\n  " + spkiPEM(t, rsaPub) + "\n\n", rsaPub},
		{"Ed25519", spkiPEM(t, edPub), edPub},
		{"ECDSA is not verifiable", spkiPEM(t, &ecKey.PublicKey), nil},
		{"not PEM", "hello", nil},
		{"wrong block type", strings.Replace(spkiPEM(t, rsaPub), "PUBLIC KEY", "CERTIFICATE", 2), nil},
		{"garbage in the block", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parsePublicKeyPEM(c.pem)
			if c.want == nil {
				if err == nil {
					t.Fatalf("parsed %T", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if eq, ok := got.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(c.want) {
				t.Errorf("got %T, want %T", got, c.want)
			}
		})
	}
}

func TestKeyFetchLimiter(t *testing.T) {
	l := newKeyFetchLimiter(30*time.Second, 2)
	now := time.Unix(1_700_000_000, 0)

	ok, wait := l.begin("a", now)
	if !ok || wait != nil {
		t.Fatal("first fetch refused")
	}
	// While a's fetch runs, others wait for it.
	ok, wait = l.begin("a", now)
	if ok || wait == nil {
		t.Fatal("a concurrent fetch was not told to wait")
	}
	l.end("a")
	select {
	case <-wait:
	default:
		t.Fatal("waiters not released")
	}
	if ok, wait = l.begin("a", now.Add(29*time.Second)); ok || wait != nil {
		t.Fatal("refetch within the interval allowed")
	}
	if ok, _ = l.begin("b", now); !ok {
		t.Fatal("b refused")
	}
	l.end("b")
	// Full (2 entries, both recent): c must wait for room.
	if ok, _ = l.begin("c", now.Add(time.Second)); ok {
		t.Fatal("limiter grew past its bound")
	}
	if ok, _ = l.begin("c", now.Add(31*time.Second)); !ok {
		t.Fatal("expired entries were not pruned")
	}
	l.end("c")
	if len(l.entries) > 2 {
		t.Errorf("%d entries", len(l.entries))
	}
	if ok, _ = l.begin("a", now.Add(31*time.Second)); !ok {
		t.Fatal("a not allowed again after the interval")
	}
}

// t returns the rig's test, for helpers building documents.
func (g *resolveRig) t() testing.TB { return g.remote.t }

var _ KeyResolver = (*Resolver)(nil)

// TestFetchActorRefusesPrivateAddresses: with the production client
// (private addresses refused), a loopback actor is refused for good.
func TestFetchActorRefusesPrivateAddresses(t *testing.T) {
	g := newResolveRig(t)
	g.remote.doc("/users/x", g.remote.actor("x", &g.keys[1].PublicKey))
	res := newResolver(g.st, NewSafeClient(SafeClientOptions{}), "https://aistagram.test/actor#main-key",
		func(context.Context) (*rsa.PrivateKey, error) { return g.keys[0], nil }, nil, nil)
	_, err := res.FetchActor(context.Background(), g.remote.url("/users/x"), false)
	if !errors.Is(err, ErrForbiddenAddress) || !errors.Is(err, ErrActorInvalid) {
		t.Fatalf("err %v, want ErrForbiddenAddress and ErrActorInvalid", err)
	}
	g.wantHits(t)
}

// blankAfterResolving serves alice, resolves her key once (one fetch), then
// blanks her stored key as a Delete handled by another process does,
// behind the resolver's back; it returns her key id.
func (g *resolveRig) blankAfterResolving(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	g.remote.doc("/users/alice", g.remote.actor("alice", &g.keys[1].PublicKey))
	keyID := g.remote.url("/users/alice#main-key")
	if _, _, err := g.res.ResolveKey(ctx, keyID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := g.st.DB().ExecContext(ctx, `UPDATE remote_actors SET public_key_pem = '' WHERE key_id = $1`, keyID); err != nil {
		t.Fatal(err)
	}
	return keyID
}

// TestResolveKeyDeletedActor: an actor whose row was blanked by a Delete
// is gone for signature checks, without a request.
func TestResolveKeyDeletedActor(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	keyID := g.blankAfterResolving(t)
	g.wantHits(t, "/users/alice")
	// Deleted behind the resolver's back (by another process): seen once
	// the parsed key's time in memory is up.
	g.clock.Add(keyCacheTTL + time.Second)
	if _, _, err := g.res.ResolveKey(ctx, keyID, false); !errors.Is(err, ErrActorGone) {
		t.Fatalf("err %v, want ErrActorGone", err)
	}
	g.wantHits(t)
}

// TestResolveKeyMemoryCache: a cached key is answered from memory (the
// database is not read again) until its actor is forgotten, as an actor's
// refetch or self-deletion in this process does.
func TestResolveKeyMemoryCache(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	keyID := g.blankAfterResolving(t)
	for _, tc := range []struct {
		name   string
		before func()
		gone   bool
	}{
		{"cached", func() {}, false},
		{"forgotten", func() { g.res.ForgetActor(g.remote.url("/users/alice")) }, true},
	} {
		tc.before()
		_, owner, err := g.res.ResolveKey(ctx, keyID, false)
		if gone := errors.Is(err, ErrActorGone); gone != tc.gone || (!gone && (err != nil || owner != g.remote.url("/users/alice"))) {
			t.Errorf("%s: owner %q, err %v; want gone %v", tc.name, owner, err, tc.gone)
		}
	}
	g.wantHits(t, "/users/alice")
}

func TestFetchObject(t *testing.T) {
	g := newResolveRig(t)
	ctx := context.Background()
	note := func(id string) map[string]any {
		return map[string]any{"@context": ap.ActivityStreamsContext, "id": id, "type": "Note",
			"attributedTo": g.remote.url("/users/alice"), "content": "<p>hi</p>"}
	}
	g.remote.doc("/notes/1", note(g.remote.url("/notes/1")))
	g.remote.redirect("/n/2", http.StatusMovedPermanently, "/notes/2")
	g.remote.doc("/notes/2", note(g.remote.url("/notes/2")))
	g.remote.doc("/notes/3", note(g.remote.url("/notes/elsewhere")))
	other := strings.Replace(g.remote.srv.URL, "127.0.0.1", "localhost", 1)
	g.remote.redirect("/n/4", http.StatusFound, other+"/notes/4")
	g.remote.doc("/notes/4", note(other+"/notes/4"))
	g.remote.set("/notes/5", resolveRoute{status: http.StatusGone})

	cases := []struct {
		path    string
		wantErr error
		hits    []string
	}{
		{"/notes/1", nil, []string{"/notes/1"}},
		{"/n/2", nil, []string{"/n/2", "/notes/2"}},
		{"/notes/3", ErrActorInvalid, []string{"/notes/3"}},
		{"/n/4", ErrActorInvalid, []string{"/n/4", "/notes/4"}},
		{"/notes/5", ErrActorGone, []string{"/notes/5"}},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			raw, err := g.res.FetchObject(ctx, g.remote.url(c.path))
			g.wantHits(t, c.hits...)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if obj, err := ap.ParseObject(raw); err != nil || obj.Type != "Note" {
				t.Fatalf("parsed %v, %v", obj, err)
			}
		})
	}
}
