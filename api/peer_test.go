package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/activitypub/fixtures"
	"github.com/aistagram/aistagram/federation"
)

// peer is a test server that behaves like a Mastodon server on loopback:
// it serves its accounts' actors and keys, sends activities shaped like the
// fixtures in activitypub/testdata/fixtures/mastodon (a copy of the shared fixtures) signed as Mastodon signs them,
// and receives deliveries, verifying each signature against the sender's
// published key.
type peer struct {
	t   *testing.T
	srv *httptest.Server
	URL string

	mu         sync.Mutex
	keys       map[string]*rsa.PrivateKey // by username; "actor" is the instance actor
	gone       map[string]bool
	names      map[string]string // display names changed since the fixture
	noShared   map[string]bool   // accounts whose actor has no sharedInbox (GoToSocial)
	notes      map[string][]byte // by path
	deliveries []delivery
	statuses   []int         // scripted inbox answers, consumed in order
	hang       time.Duration // answer the inbox only after this long
	hits       int
}

// delivery is one POST the peer received.
type delivery struct {
	Inbox    string
	Activity map[string]any
	Verified bool
	Err      error
	KeyID    string
}

// keyPool hands out RSA keys generated once per test binary: generating
// RSA-2048 takes tens of milliseconds each.
var keyPool struct {
	once sync.Once
	keys []*rsa.PrivateKey
	next int
	mu   sync.Mutex
}

func poolKey() *rsa.PrivateKey {
	keyPool.once.Do(func() {
		for range 6 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keyPool.keys = append(keyPool.keys, k)
		}
	})
	keyPool.mu.Lock()
	defer keyPool.mu.Unlock()
	k := keyPool.keys[keyPool.next%len(keyPool.keys)]
	keyPool.next++
	return k
}

func newPeer(t *testing.T) *peer {
	p := &peer{t: t, keys: map[string]*rsa.PrivateKey{}, gone: map[string]bool{}, notes: map[string][]byte{},
		names: map[string]string{}, noShared: map[string]bool{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	p.keys["actor"] = poolKey()
	return p
}

// account creates (or returns) an account with a key.
func (p *peer) account(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keys[name] == nil {
		p.keys[name] = poolKey()
	}
	return p.URL + "/users/" + name
}

func publicPEM(k *rsa.PrivateKey) string {
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// fixture reads a Mastodon fixture and fills in its placeholders.
func (p *peer) fixture(name string, vars map[string]string) []byte {
	p.t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtures.Dir(p.t, "mastodon"), name))
	if err != nil {
		p.t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "{{PEER}}", p.URL)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return []byte(s)
}

func (p *peer) actorDoc(name string) []byte {
	if name == "actor" {
		doc, _ := json.Marshal(map[string]any{
			"@context": []any{"https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"},
			"id":       p.URL + "/actor", "type": "Application", "preferredUsername": "masto.test",
			"inbox": p.URL + "/actor/inbox",
			"publicKey": map[string]string{"id": p.URL + "/actor#main-key", "owner": p.URL + "/actor",
				"publicKeyPem": publicPEM(p.keys["actor"])},
		})
		return doc
	}
	pemJSON, _ := json.Marshal(publicPEM(p.keys[name]))
	doc := p.fixture("actor-person.json", map[string]string{"PEER_PUBLIC_KEY_PEM": string(pemJSON[1 : len(pemJSON)-1])})
	doc = bytes.ReplaceAll(doc, []byte("/users/alice"), []byte("/users/"+name))
	doc = bytes.ReplaceAll(doc, []byte(`"preferredUsername": "alice"`), []byte(`"preferredUsername": "`+name+`"`))
	if n, ok := p.names[name]; ok {
		doc = bytes.ReplaceAll(doc, []byte(`"name": "Alice 🌻"`), []byte(`"name": "`+n+`"`))
	}
	if p.noShared[name] {
		var m map[string]any
		_ = json.Unmarshal(doc, &m)
		delete(m, "endpoints")
		doc, _ = json.Marshal(m)
	}
	return doc
}

func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && (path == "/inbox" || strings.HasSuffix(path, "/inbox")):
		p.receive(w, r)
	case r.Method == http.MethodGet && path == "/actor":
		w.Header().Set("Content-Type", "application/activity+json")
		p.mu.Lock()
		doc := p.actorDoc("actor")
		p.mu.Unlock()
		w.Write(doc)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/users/") && !strings.Contains(path[len("/users/"):], "/"):
		name := strings.TrimPrefix(path, "/users/")
		p.mu.Lock()
		_, known := p.keys[name]
		gone := p.gone[name]
		p.mu.Unlock()
		switch {
		case gone:
			w.WriteHeader(http.StatusGone)
		case !known:
			w.WriteHeader(http.StatusNotFound)
		default:
			p.mu.Lock()
			doc := p.actorDoc(name)
			p.mu.Unlock()
			w.Header().Set("Content-Type", "application/activity+json")
			w.Write(doc)
		}
	default:
		p.mu.Lock()
		note, ok := p.notes[path]
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/activity+json")
		w.Write(note)
	}
}

// keysOverHTTP resolves a keyId by fetching the actor document unsigned,
// as most servers do for keys.
type keysOverHTTP struct{}

func (keysOverHTTP) ResolveKey(ctx context.Context, keyID string, _ bool) (crypto.PublicKey, string, error) {
	u, _, _ := strings.Cut(keyID, "#")
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.Header.Set("Accept", "application/activity+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, "", fmt.Errorf("key fetch: %d", resp.StatusCode)
	}
	actor, err := ap.ParseActor(body)
	if err != nil {
		return nil, "", err
	}
	k, ok := actor.Key(keyID)
	if !ok {
		return nil, "", fmt.Errorf("actor does not list %s", keyID)
	}
	block, _ := pem.Decode([]byte(k.PublicKeyPem))
	if block == nil {
		return nil, "", fmt.Errorf("bad pem")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	return pub, actor.ID, err
}

func (p *peer) receive(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.hits++
	hang := p.hang
	status := http.StatusAccepted
	if len(p.statuses) > 0 {
		status, p.statuses = p.statuses[0], p.statuses[1:]
	}
	p.mu.Unlock()
	// Reading the body first lets the server notice a client that gives
	// up (its context is then cancelled), so a hanging inbox ends with it.
	body, _ := io.ReadAll(r.Body)
	if hang > 0 {
		select {
		case <-time.After(hang):
		case <-r.Context().Done():
			return
		}
	}
	d := delivery{Inbox: r.URL.Path}
	_ = json.Unmarshal(body, &d.Activity)
	sig, err := federation.VerifyRequest(r.Context(), r, body, keysOverHTTP{}, time.Now())
	d.Verified, d.Err = err == nil, err
	if sig != nil {
		d.KeyID = sig.KeyID
		if owner, _ := d.Activity["actor"].(string); owner != sig.Owner {
			d.Verified, d.Err = false, fmt.Errorf("signed by %s for actor %s", sig.Owner, owner)
		}
	}
	if r.Header.Get("Content-Type") != "application/activity+json" {
		d.Verified, d.Err = false, fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
	}
	p.mu.Lock()
	p.deliveries = append(p.deliveries, d)
	p.mu.Unlock()
	if !d.Verified && status < 300 {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
}

// waitFor waits until a delivery matching match has arrived.
func (p *peer) waitFor(what string, match func(delivery) bool) delivery {
	p.t.Helper()
	var found *delivery
	eventually(p.t, what, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := range p.deliveries {
			if match(p.deliveries[i]) {
				found = &p.deliveries[i]
				return true
			}
		}
		return false
	})
	return *found
}

func (p *peer) count(match func(delivery) bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, d := range p.deliveries {
		if match(d) {
			n++
		}
	}
	return n
}

// send POSTs a body to an inbox signed by one of the peer's accounts, the
// way Mastodon signs: (request-target) host date digest content-type.
// mutate, if given, runs after signing (to forge or tamper).
func (p *peer) send(from, inbox string, body []byte, mutate func(*http.Request)) (int, string) {
	p.t.Helper()
	req, _ := http.NewRequest("POST", inbox, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/activity+json")
	keyID := p.URL + "/users/" + from + "#main-key"
	if from == "actor" {
		keyID = p.URL + "/actor#main-key"
	}
	p.mu.Lock()
	key := p.keys[from]
	p.mu.Unlock()
	if err := federation.SignRequest(req, body, keyID, key, time.Now()); err != nil {
		p.t.Fatal(err)
	}
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func (d delivery) typ() string { s, _ := d.Activity["type"].(string); return s }
func (d delivery) object() map[string]any {
	o, _ := d.Activity["object"].(map[string]any)
	return o
}
