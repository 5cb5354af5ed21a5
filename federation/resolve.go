package federation

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	ap "github.com/aistagram/aistagram/activitypub"
	"github.com/aistagram/aistagram/store"
)

// Errors of the Resolver, matched with errors.Is. Anything else (network
// trouble, a 5xx, a 401 from a server that cannot verify us yet) is
// transient: try again later.
var (
	// ErrActorGone: the actor's server answered 410 Gone. Mastodon answers
	// 410 for a deleted account and deletes its own copy when it sees one
	// (fetch_remote_actor_service.rb); the inbox should do the same.
	ErrActorGone = errors.New("remote actor is gone (410)")
	// ErrActorNotFound: the server answered 404.
	ErrActorNotFound = errors.New("remote actor not found (404)")
	// ErrActorInvalid: the server answered, but with something we refuse
	// (FetchObject: whatever the document, with the same fetch checks):
	// not ActivityPub JSON, no ActivityStreams @context, an id that is not
	// the URL fetched, no inbox or username, an inbox on another host, no
	// usable public key, or a key the actor does not list; also a document
	// over 1 MiB, too many redirects, and URLs the safe client refuses
	// (private addresses, other schemes). Retrying will not help until the
	// remote side changes.
	ErrActorInvalid = errors.New("remote actor document refused")
)

const (
	// actorStaleAfter is Mastodon's Account::STALE_THRESHOLD: a cached
	// actor older than this is refetched when next needed.
	actorStaleAfter = 24 * time.Hour
	// keyRefetchInterval: a keyId is fetched at most once per interval, so a
	// flood of forged signatures naming one key (each of which makes
	// VerifyRequest ask for a refresh) costs its server one GET, not one per
	// request. Mastodon rate-limits the same refetch with a Stoplight
	// circuit breaker (signature_verification.rb).
	keyRefetchInterval = 30 * time.Second
	// maxKeyFetchesTracked bounds the limiter's memory. When it is full of
	// keys fetched within the interval, further key fetches are refused
	// until entries expire: under that much key churn refusing (the sender
	// sees 503 and retries) is better than unbounded growth.
	maxKeyFetchesTracked = 4096
	// maxFetchRedirects is how many redirects one fetch follows, as
	// Mastodon's Request (max_hops: 3).
	maxFetchRedirects = 3
	// maxFetchBytes caps a fetched document at Mastodon's MAX_JSON_SIZE.
	maxFetchBytes = 1 << 20
	// maxUsernameRunes bounds preferredUsername; real ones are short
	// (Mastodon's own limit is 30).
	maxUsernameRunes = 200

	// acceptActivityJSON is what we ask for, GoToSocial's and Mastodon's
	// Dereferencer's Accept.
	acceptActivityJSON = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
)

// Resolver fetches remote actors and their keys, checks them the way
// Mastodon does, and caches them in remote_actors. It is the KeyResolver
// that VerifyRequest uses for incoming signatures.
//
// Every fetch is a GET signed by the instance actor: GoToSocial, and
// Mastodon in secure mode (AUTHORIZED_FETCH), refuse unsigned ones.
// Build one Resolver per process and share it: it is safe for concurrent
// use, and its key-refetch rate limit only works if it is shared.
type Resolver struct {
	store      *store.Store
	client     *http.Client
	keyID      string
	signingKey func(context.Context) (*rsa.PrivateKey, error)
	san        *sanitizer
	log        *slog.Logger
	now        func() time.Time // for the cache TTL and the limiter; tests move it
	limiter    *keyFetchLimiter
	keys       keyCache
}

// NewResolver returns a Resolver that signs its fetches with the instance
// actor's key and sends them through client, which must be the SSRF-safe
// client (NewSafeClient, with AllowPrivate as configured). The Resolver
// follows redirects itself, re-signing each hop (a signature covers the
// host and path, so the client's own redirect following cannot keep it),
// whatever client's MaxRedirects says.
//
// It shares the Service's sanitizer when it has one (a policy is built
// once per Service).
func (s *Service) NewResolver(client *http.Client) *Resolver {
	return newResolver(s.store, client, s.urls.InstanceActorKey(), func(ctx context.Context) (*rsa.PrivateKey, error) {
		k, err := s.keys.instance(ctx)
		if err != nil {
			return nil, err
		}
		return k.private, nil
	}, s.san, s.log)
}

// newResolver takes its dependencies one by one; san and log may be nil.
func newResolver(st *store.Store, client *http.Client, keyID string, signingKey func(context.Context) (*rsa.PrivateKey, error),
	san *sanitizer, log *slog.Logger) *Resolver {
	c := *client // a shallow copy shares the transport; only redirect handling changes
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if san == nil {
		san = newSanitizer()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{
		store:      st,
		client:     &c,
		keyID:      keyID,
		signingKey: signingKey,
		san:        san,
		log:        log,
		now:        time.Now,
		limiter:    newKeyFetchLimiter(keyRefetchInterval, maxKeyFetchesTracked),
	}
}

// FetchActor returns the actor at uri. Without refresh, a cached copy
// younger than a day (Mastodon's STALE_THRESHOLD) is returned without a
// request; otherwise the actor is fetched, checked and stored.
//
// The document's id must equal the URL it was finally served from (after
// redirects). When it does not — uri was a profile page, say — the
// document's own id is fetched once and must match there, as Mastodon's
// fetch_resource does for an id it does not know yet. So the returned
// actor's URI can differ from uri: a caller that needs the actor AT uri
// (the actor of an activity, say) must compare.
//
// When a stale cached copy exists and refetching fails transiently
// (network, 5xx), the stale copy is returned, as Mastodon keeps using a
// stale account while its refresh fails. 410 (ErrActorGone), 404
// (ErrActorNotFound) and refused documents (ErrActorInvalid) are always
// returned as errors.
func (r *Resolver) FetchActor(ctx context.Context, uri string, refresh bool) (*store.RemoteActor, error) {
	var stale *store.RemoteActor
	if !refresh {
		row, err := r.store.RemoteActorByURI(ctx, uri)
		switch {
		case err == nil && r.now().Sub(row.FetchedAt) < actorStaleAfter:
			return row, nil
		case err == nil:
			stale = row
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	row, err := r.fetchActor(ctx, uri, false, "", "")
	if err != nil {
		if stale != nil && ctx.Err() == nil && !errors.Is(err, ErrActorGone) &&
			!errors.Is(err, ErrActorNotFound) && !errors.Is(err, ErrActorInvalid) {
			r.log.WarnContext(ctx, "refreshing a remote actor failed; using the cached copy",
				"actor", uri, "fetched_at", stale.FetchedAt, "err", err)
			return stale, nil
		}
		return nil, err
	}
	return row, nil
}

// ResolveKey implements KeyResolver. Without refresh it answers from the
// cache when an actor's stored key is keyID. Otherwise it fetches the keyId
// URL (without its fragment, which is never sent), signed:
//
//   - Mastodon's keyId is <actor>#main-key, so the actor itself comes back;
//     its publicKey must list keyID.
//   - GoToSocial's is <actor>/main-key, which serves a stub actor (the
//     actor's id, its key, no inbox); other servers serve a Key document
//     {id, owner, publicKeyPem}. Either way the owner named there is then
//     fetched at its own id and must list keyID itself; nothing else in the
//     stub or Key document is trusted (Mastodon's fetch_remote_key_service.rb).
//
// The key must be on the same host as its actor. The key is stored on the
// actor's row (key_id, public_key_pem) and returned with the actor's id.
//
// A keyId is fetched at most once per keyRefetchInterval (refreshes and
// cache misses alike); a caller that is held back gets whatever the cache
// has then, after waiting for a fetch of the same key already under way.
// Cached keys are also kept parsed in memory for keyCacheTTL (see
// keyCache); a refresh always reads past that to the database.
func (r *Resolver) ResolveKey(ctx context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	keyURL, err := keyFetchURL(keyID)
	if err != nil {
		return nil, "", err
	}
	if !refresh {
		key, owner, err := r.cachedKey(ctx, keyID)
		if !errors.Is(err, store.ErrNotFound) {
			return key, owner, err
		}
	}
	proceed, inflight := r.limiter.begin(keyID, r.now())
	if !proceed {
		if inflight != nil {
			select {
			case <-inflight:
			case <-ctx.Done():
				return nil, "", ctx.Err()
			}
		}
		// Another request may just have stored a new key: read the
		// database, not the memory cache.
		key, owner, err := r.storedKey(ctx, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fmt.Errorf("key %q was fetched less than %s ago without result; not fetching it again yet", keyID, keyRefetchInterval)
		}
		return key, owner, err
	}
	defer r.limiter.end(keyID)

	row, err := r.fetchKeyOwner(ctx, keyID, keyURL)
	if err != nil {
		return nil, "", err
	}
	key, err := parsePublicKeyPEM(row.PublicKeyPEM)
	if err != nil { // checked before storing; only a bug gets here
		return nil, "", fmt.Errorf("key %q of %s: %w", keyID, row.URI, err)
	}
	r.keys.put(keyID, key, row.URI, r.now())
	return key, row.URI, nil
}

// FetchObject fetches any ActivityPub document (a Note to confirm a
// forwarded activity, say), signed, with the checks of every fetch (2xx,
// ActivityPub content type, at most 1 MiB, the ActivityStreams @context).
// Its id must equal the URL finally fetched, and a redirect may not leave
// uri's host: the document must come from the server that owns uri, which
// is what lets a forwarded activity's object be trusted. Nothing is
// cached; the caller parses the bytes.
func (r *Resolver) FetchObject(ctx context.Context, uri string) ([]byte, error) {
	doc, err := r.fetch(ctx, uri)
	if err != nil {
		return nil, err
	}
	id, _, err := ap.Peek(doc.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrActorInvalid, doc.url, err)
	}
	if id != doc.url {
		return nil, fmt.Errorf("%w: the document at %s has id %q", ErrActorInvalid, doc.url, id)
	}
	if doc.url != uri {
		from, err1 := url.Parse(uri)
		to, err2 := url.Parse(doc.url)
		if err1 != nil || err2 != nil || !strings.EqualFold(from.Host, to.Host) {
			return nil, fmt.Errorf("%w: %s redirected to another host (%s)", ErrActorInvalid, uri, doc.url)
		}
	}
	return doc.body, nil
}

// cachedKey returns the stored key named keyID and its actor, or an error
// wrapping store.ErrNotFound. A row whose key was blanked is an actor that
// deleted itself (store.ApplyDeleteRemoteActor keeps the row so that its
// comments stay threaded): ErrActorGone, without asking its server again.
// Fetching the actor successfully again (FetchActor) restores the key.
func (r *Resolver) cachedKey(ctx context.Context, keyID string) (crypto.PublicKey, string, error) {
	if key, owner, ok := r.keys.get(keyID, r.now()); ok {
		return key, owner, nil
	}
	return r.storedKey(ctx, keyID)
}

// storedKey is cachedKey read from the database, which it then caches in
// memory.
func (r *Resolver) storedKey(ctx context.Context, keyID string) (crypto.PublicKey, string, error) {
	row, err := r.store.RemoteActorByKeyID(ctx, keyID)
	if err != nil {
		return nil, "", err
	}
	if row.PublicKeyPEM == "" {
		return nil, "", fmt.Errorf("key %q: %s was deleted: %w", keyID, row.URI, ErrActorGone)
	}
	key, err := parsePublicKeyPEM(row.PublicKeyPEM)
	if err != nil {
		return nil, "", fmt.Errorf("cached key %q of %s: %w", keyID, row.URI, err)
	}
	r.keys.put(keyID, key, row.URI, r.now())
	return key, row.URI, nil
}

// ForgetActor drops an actor's keys from the memory cache: its row's key
// changed or was blanked (the actor deleted itself).
func (r *Resolver) ForgetActor(uri string) { r.keys.forgetOwner(uri) }

const (
	// keyCacheTTL is how long a parsed key is trusted in memory without
	// reading remote_actors again. Every signed POST needs its sender's
	// key, and at thousands of activities a second that read was a
	// database round trip per request. Changes made in this process
	// (a refetch, an actor's self-deletion) update the cache at once; a
	// change made by another process (an API-only replica beside the
	// worker) is seen within the TTL. A rotated key never waits for it:
	// a signature that fails with the cached key refreshes from the
	// database and then the sender's server.
	keyCacheTTL = time.Minute
	// maxCachedRemoteKeys bounds the cache's memory (a parsed RSA-2048 public key
	// is well under 1 KiB).
	maxCachedRemoteKeys = 20_000
)

// keyCache holds parsed public keys by keyId. The zero value is ready.
type keyCache struct {
	mu sync.Mutex
	m  map[string]keyCacheEntry
}

type keyCacheEntry struct {
	key   crypto.PublicKey
	owner string
	until time.Time
}

func (c *keyCache) get(keyID string, now time.Time) (crypto.PublicKey, string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[keyID]
	if !ok || now.After(e.until) {
		return nil, "", false
	}
	return e.key, e.owner, true
}

func (c *keyCache) put(keyID string, key crypto.PublicKey, owner string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]keyCacheEntry)
	}
	if _, ok := c.m[keyID]; !ok && len(c.m) >= maxCachedRemoteKeys {
		// Full: drop the expired entries, else an arbitrary one (a miss
		// costs one database read, nothing more).
		for k, e := range c.m {
			if now.After(e.until) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < maxCachedRemoteKeys {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[keyID] = keyCacheEntry{key: key, owner: owner, until: now.Add(keyCacheTTL)}
}

func (c *keyCache) forgetOwner(owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.owner == owner {
			delete(c.m, k)
		}
	}
}

// fetchKeyOwner fetches keyURL and, through it, the actor owning keyID
// (see ResolveKey), and stores that actor with keyID as its key.
func (r *Resolver) fetchKeyOwner(ctx context.Context, keyID, keyURL string) (*store.RemoteActor, error) {
	doc, err := r.fetch(ctx, keyURL)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", keyID, err)
	}
	_, typ, err := ap.Peek(doc.body)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q at %s: %w", ErrActorInvalid, keyID, doc.url, err)
	}
	if typ.IsActor() {
		actor, err := ap.ParseActor(doc.body)
		if err != nil {
			return nil, fmt.Errorf("%w: key %q at %s: %w", ErrActorInvalid, keyID, doc.url, err)
		}
		if actor.ID == doc.url {
			// Mastodon: the keyId is a fragment of the actor, which came back.
			return r.storeActor(ctx, actor, keyID, "")
		}
		// GoToSocial's stub: it only tells us who claims to own the key.
		k, ok := actor.Key(keyID)
		if !ok || (k.Owner != "" && k.Owner != actor.ID) {
			return nil, fmt.Errorf("%w: the actor document at %s does not publish key %q for %s", ErrActorInvalid, doc.url, keyID, actor.ID)
		}
		return r.fetchActor(ctx, actor.ID, true, keyID, "")
	}
	k, err := ap.ParseKey(doc.body)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q at %s is neither an actor nor a key: %w", ErrActorInvalid, keyID, doc.url, err)
	}
	if k.ID != keyID && k.ID != doc.url {
		return nil, fmt.Errorf("%w: the key document at %s has id %q, not %q", ErrActorInvalid, doc.url, k.ID, keyID)
	}
	return r.fetchActor(ctx, k.Owner, true, keyID, k.PublicKeyPem)
}

// fetchActor fetches, checks and stores the actor at uri. With exact, the
// document's id must be uri itself (an owner named by a key); otherwise a
// different id is fetched once (see FetchActor). keyID, when set, is the
// key to store, which the actor must list; keyPEM is used when the actor
// lists that key by IRI only.
func (r *Resolver) fetchActor(ctx context.Context, uri string, exact bool, keyID, keyPEM string) (*store.RemoteActor, error) {
	actor, err := r.fetchActorDoc(ctx, uri)
	if err != nil {
		return nil, err
	}
	if actor.ID != actor.servedFrom {
		// Mastodon's fetch_resource(uri, id_is_known: false): believe the
		// document's own id only after fetching it there.
		if exact {
			return nil, fmt.Errorf("%w: the actor at %s has id %q", ErrActorInvalid, actor.servedFrom, actor.ID)
		}
		again, err := r.fetchActorDoc(ctx, actor.ID)
		if err != nil {
			return nil, err
		}
		if again.ID != again.servedFrom {
			return nil, fmt.Errorf("%w: the actor at %s has id %q", ErrActorInvalid, again.servedFrom, again.ID)
		}
		actor = again
	}
	if exact && actor.ID != uri {
		// A key's owner must be found at the very id the key names
		// (Mastodon fetches it with id_is_known: true).
		return nil, fmt.Errorf("%w: the actor fetched from %s has id %q", ErrActorInvalid, uri, actor.ID)
	}
	return r.storeActor(ctx, actor.Actor, keyID, keyPEM)
}

// fetchedActor is a parsed actor and the URL it was served from.
type fetchedActor struct {
	*ap.Actor
	servedFrom string // the URL finally fetched; the document's id must equal it
}

func (r *Resolver) fetchActorDoc(ctx context.Context, uri string) (*fetchedActor, error) {
	doc, err := r.fetch(ctx, uri)
	if err != nil {
		return nil, err
	}
	actor, err := ap.ParseActor(doc.body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrActorInvalid, doc.url, err)
	}
	return &fetchedActor{Actor: actor, servedFrom: doc.url}, nil
}

// storeActor checks what we need of an actor, sanitises what we show, and
// upserts it. The key stored is keyID (which must be listed), else the key
// already stored for this actor if it is still listed (so an actor with
// several keys does not flip between them), else its first key.
func (r *Resolver) storeActor(ctx context.Context, a *ap.Actor, keyID, keyPEM string) (*store.RemoteActor, error) {
	if keyID == "" {
		if prev, err := r.store.RemoteActorByURI(ctx, a.ID); err == nil {
			if k, ok := a.Key(prev.KeyID); ok && k.PublicKeyPem != "" {
				keyID = prev.KeyID
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	row, err := r.actorRow(a, keyID, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrActorInvalid, a.ID, err)
	}
	stored, err := r.store.UpsertRemoteActor(ctx, row)
	if err != nil {
		return nil, err
	}
	r.keys.forgetOwner(stored.URI) // its key may have changed
	return stored, nil
}

// actorRow turns a parsed actor into the row we store, enforcing
// Mastodon's rules (process_account_service.rb): an http(s) id, an inbox on
// the id's host, a username, a usable key owned by the actor. Optional
// URLs that break the rules are dropped rather than refused, as Mastodon
// drops a url on another host: a profile link, a followers collection on
// another host, a non-http(s) sharedInbox or icon.
func (r *Resolver) actorRow(a *ap.Actor, keyID, keyPEM string) (*store.RemoteActor, error) {
	id, err := httpURL(a.ID)
	if err != nil {
		return nil, fmt.Errorf("id: %w", err)
	}
	host := strings.ToLower(id.Host)
	sameHost := func(raw string) bool {
		u, err := httpURL(raw)
		return err == nil && strings.EqualFold(u.Host, id.Host)
	}
	inbox := a.Inbox.ID()
	if inbox == "" {
		return nil, errors.New("no inbox")
	}
	if !sameHost(inbox) {
		return nil, fmt.Errorf("inbox %q is not an http(s) URL on %s", inbox, host)
	}
	username, err := r.username(a)
	if err != nil {
		return nil, err
	}
	key, err := pickKey(a, keyID, keyPEM)
	if err != nil {
		return nil, err
	}
	if !sameHost(key.ID) {
		// A key on another host would let one server's actor shadow
		// another's keyId in our cache.
		return nil, fmt.Errorf("key %q is not on %s", key.ID, host)
	}

	row := &store.RemoteActor{
		URI:          a.ID,
		Type:         string(a.Type),
		Username:     username,
		Host:         host,
		Name:         r.san.Text(a.BestName()),
		SummaryHTML:  r.san.HTML(a.BestSummary()),
		Inbox:        inbox,
		KeyID:        key.ID,
		PublicKeyPEM: key.PublicKeyPem,
		FetchedAt:    r.now(),
	}
	// Mastodon delivers to a sharedInbox on any host (a relay-like setup
	// is legitimate); it must still be http(s).
	if s := a.SharedInboxIRI(); s != "" {
		if _, err := httpURL(s); err == nil {
			row.SharedInbox = s
		}
	}
	if u := a.URL.HrefFor("text/html"); sameHost(u) {
		row.URL = u
	}
	if f := a.Followers.ID(); sameHost(f) {
		row.FollowersURI = f
	}
	if icon := a.IconURL(); icon != "" {
		if _, err := httpURL(icon); err == nil {
			row.IconURL = icon // avatars are often on a CDN host
		}
	}
	return row, nil
}

// username is preferredUsername, else the user part of FEP-2c59's
// webfinger property, which Mastodon 4.6+ accepts instead.
func (r *Resolver) username(a *ap.Actor) (string, error) {
	name := a.PreferredUsername
	if name == "" {
		name, _, _ = strings.Cut(strings.TrimPrefix(a.Webfinger, "acct:"), "@")
	}
	clean := r.san.Text(name)
	switch {
	case clean == "":
		return "", errors.New("no preferredUsername")
	case clean != name || strings.ContainsAny(name, "@/ ") || len([]rune(name)) > maxUsernameRunes:
		return "", fmt.Errorf("preferredUsername %q cannot be part of a handle", truncate(name))
	}
	return name, nil
}

// pickKey chooses the key to store (see storeActor) and checks it parses.
func pickKey(a *ap.Actor, keyID, keyPEM string) (ap.PublicKey, error) {
	var k ap.PublicKey
	if keyID != "" {
		var ok bool
		if k, ok = a.Key(keyID); !ok {
			return k, fmt.Errorf("does not list key %q", keyID)
		}
		if k.PublicKeyPem == "" {
			k.PublicKeyPem = keyPEM
		}
	} else {
		for _, c := range a.PublicKey {
			if c.ID != "" && c.PublicKeyPem != "" {
				k = c
				break
			}
		}
		if k.ID == "" {
			return k, errors.New("no publicKey")
		}
	}
	if k.Owner != "" && k.Owner != a.ID {
		return k, fmt.Errorf("key %q is owned by %q", k.ID, k.Owner)
	}
	if _, err := parsePublicKeyPEM(k.PublicKeyPem); err != nil {
		return k, fmt.Errorf("key %q: %w", k.ID, err)
	}
	return k, nil
}

// fetchedDoc is a fetched ActivityPub document and the URL it came from.
type fetchedDoc struct {
	body []byte
	url  string
}

// fetch GETs an ActivityPub document, signed, following up to
// maxFetchRedirects redirects by hand and re-signing each hop. It requires
// a 2xx answer with an ActivityPub content type, at most maxFetchBytes,
// whose @context includes ActivityStreams.
func (r *Resolver) fetch(ctx context.Context, rawURL string) (*fetchedDoc, error) {
	current := rawURL
	for hop := 0; ; hop++ {
		u, err := httpURL(current)
		if err != nil {
			return nil, fmt.Errorf("%w: fetch %q: %w", ErrActorInvalid, current, err)
		}
		resp, err := r.get(ctx, u)
		if err != nil {
			if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrBadScheme) || errors.Is(err, ErrTooLarge) {
				// The safe client's refusals are about the URL or the
				// document, not the network: permanent.
				return nil, fmt.Errorf("%w: fetch %s: %w", ErrActorInvalid, current, err)
			}
			return nil, fmt.Errorf("fetch %s: %w", current, err)
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
			http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc := resp.Header.Get("Location")
			discard(resp)
			if hop >= maxFetchRedirects {
				return nil, fmt.Errorf("%w: fetch %s: %w: more than %d", ErrActorInvalid, rawURL, ErrTooManyRedirects, maxFetchRedirects)
			}
			next, err := u.Parse(loc)
			if loc == "" || err != nil {
				return nil, fmt.Errorf("%w: fetch %s: redirect to an unusable Location %q", ErrActorInvalid, current, truncate(loc))
			}
			next.Fragment, next.RawFragment = "", ""
			current = next.String()
			continue
		}
		body, err := readDocument(resp)
		if errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrActorInvalid) {
			return nil, fmt.Errorf("%w: fetch %s: %w", ErrActorInvalid, current, err)
		}
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", current, err)
		}
		return &fetchedDoc{body: body, url: current}, nil
	}
}

// get sends one signed GET. The signature is made just before sending, with
// the real clock: the receiver checks its Date.
func (r *Resolver) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptActivityJSON)
	key, err := r.signingKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("instance actor key: %w", err)
	}
	if err := SignRequest(req, nil, r.keyID, key, time.Now()); err != nil {
		return nil, err
	}
	return r.client.Do(req)
}

// readDocument checks a final (non-redirect) response and reads its body.
// It closes the body.
func readDocument(resp *http.Response) ([]byte, error) {
	if code := resp.StatusCode; code < 200 || code > 299 {
		discard(resp)
		switch code {
		case http.StatusGone:
			return nil, ErrActorGone
		case http.StatusNotFound:
			return nil, ErrActorNotFound
		}
		return nil, fmt.Errorf("HTTP %d", code)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !isActivityContentType(ct) {
		// Mastodon has refused anything else since 4.2.7
		// (GHSA-jhrq-qvrm-qr36): an HTML page or a generic JSON file
		// elsewhere on a server must not pass as an actor.
		return nil, fmt.Errorf("%w: Content-Type %q is not application/activity+json or application/ld+json", ErrActorInvalid, truncate(ct))
	}
	body, err := ReadLimited(resp, maxFetchBytes)
	if err != nil {
		return nil, err
	}
	if err := ap.CheckContext(body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrActorInvalid, err)
	}
	return body, nil
}

// isActivityContentType accepts application/activity+json and
// application/ld+json, with any parameters (GoToSocial's and Mastodon's
// test; we do not insist on ld+json's profile, which some servers omit).
func isActivityContentType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/activity+json" || mt == "application/ld+json")
}

// discard drains a little of a body we do not use, so the connection can
// be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// httpURL parses an absolute http(s) URL with a host and no credentials.
func httpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL", truncate(raw))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q is not an http(s) URL", truncate(raw))
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q has no host", truncate(raw))
	case u.User != nil:
		return nil, fmt.Errorf("%q carries credentials", truncate(raw))
	}
	return u, nil
}

// keyFetchURL is the URL to GET for keyID: keyID without its fragment.
// Legacy acct: keyIds, which Mastodon still accepts, are not supported.
func keyFetchURL(keyID string) (string, error) {
	u, err := httpURL(keyID)
	if err != nil {
		return "", fmt.Errorf("%w: keyId: %w", ErrActorInvalid, err)
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// parsePublicKeyPEM reads a PEM public key the way GoToSocial does
// (ap/extract.go): "PUBLIC KEY" is PKIX (what Mastodon publishes), "RSA
// PUBLIC KEY" is PKCS#1. Only RSA (at least 1024 bits, what Go still
// verifies) and Ed25519 keys are accepted, the kinds VerifyRequest checks.
func parsePublicKeyPEM(pemText string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(strings.TrimSpace(pemText)))
	if block == nil {
		return nil, errors.New("no PEM block in publicKeyPem")
	}
	var (
		key crypto.PublicKey
		err error
	)
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q", truncate(block.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits is too short", k.N.BitLen())
		}
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T", key)
}

// keyFetchLimiter lets a keyId be fetched once per interval, and lets the
// callers held back wait for a fetch under way instead of failing. Its map
// is bounded by max.
type keyFetchLimiter struct {
	every time.Duration
	max   int

	mu      sync.Mutex
	entries map[string]*keyFetch
}

type keyFetch struct {
	at       time.Time
	inflight bool
	done     chan struct{} // closed when the fetch ends
}

func newKeyFetchLimiter(every time.Duration, max int) *keyFetchLimiter {
	return &keyFetchLimiter{every: every, max: max, entries: make(map[string]*keyFetch)}
}

// begin reports whether the caller may fetch keyID now; if so it must call
// end when done. If not, inflight is non-nil when a fetch is under way and
// closes when it ends.
func (l *keyFetchLimiter) begin(keyID string, now time.Time) (proceed bool, inflight <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[keyID]; ok {
		if e.inflight {
			return false, e.done
		}
		if now.Before(e.at.Add(l.every)) {
			return false, nil
		}
		delete(l.entries, keyID)
	}
	if len(l.entries) >= l.max {
		for k, e := range l.entries {
			if !e.inflight && !now.Before(e.at.Add(l.every)) {
				delete(l.entries, k)
			}
		}
		if len(l.entries) >= l.max {
			return false, nil
		}
	}
	l.entries[keyID] = &keyFetch{at: now, inflight: true, done: make(chan struct{})}
	return true, nil
}

// end marks the fetch of keyID finished, releasing its waiters.
func (l *keyFetchLimiter) end(keyID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.entries[keyID]; ok && e.inflight {
		e.inflight = false
		close(e.done)
	}
}
