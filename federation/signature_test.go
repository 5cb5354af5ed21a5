package federation

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
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

	"github.com/aistagram/aistagram/activitypub/fixtures"
)

// --- fixtures -------------------------------------------------------------

type cavageVectors struct {
	Request struct {
		Method        string `json:"method"`
		RequestTarget string `json:"request_target"`
		Body          string `json:"body"`
	} `json:"request"`
	Tests []struct {
		ID              string `json:"id"`
		HeadersParam    string `json:"headers_param"`
		SigningString   string `json:"signing_string"`
		SignatureHeader string `json:"signature_header"`
		AuthHeader      string `json:"authorization_header"`
		SignatureB64    string `json:"signature_b64"`
		Created         int64  `json:"created"`
		Expires         int64  `json:"expires"`
		Consistent      *struct {
			HeadersParam  string `json:"headers_param"`
			SigningString string `json:"signing_string"`
			SignatureB64  string `json:"signature_b64"`
		} `json:"derived_consistent_variant"`
		WithoutPseudo *struct {
			HeadersParam    string `json:"headers_param"`
			SigningString   string `json:"signing_string"`
			SignatureB64    string `json:"signature_b64"`
			SignatureHeader string `json:"signature_header"`
		} `json:"derived_without_pseudo_headers"`
	} `json:"tests"`
}

type cavageFixture struct {
	vectors cavageVectors
	raw     []byte // request.http
	pub     *rsa.PublicKey
	priv    *rsa.PrivateKey
	date    time.Time
}

func loadCavage(t testing.TB) cavageFixture {
	t.Helper()
	dir := filepath.Join(fixtures.Dir(t, "httpsig"), "draft-cavage-12")
	var f cavageFixture
	js, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &f.vectors); err != nil {
		t.Fatal(err)
	}
	if len(f.vectors.Tests) != 3 {
		t.Fatalf("expected 3 draft-cavage vectors, got %d", len(f.vectors.Tests))
	}
	if f.raw, err = os.ReadFile(filepath.Join(dir, "request.http")); err != nil {
		t.Fatal(err)
	}
	pubKey, err := x509.ParsePKIXPublicKey(pemBlock(t, filepath.Join(dir, "test-key-rsa-public.pem")))
	if err != nil {
		t.Fatal(err)
	}
	f.pub = pubKey.(*rsa.PublicKey)
	if f.priv, err = x509.ParsePKCS1PrivateKey(pemBlock(t, filepath.Join(dir, "test-key-rsa-private.pem"))); err != nil {
		t.Fatal(err)
	}
	f.date = time.Date(2014, time.January, 5, 21, 31, 40, 0, time.UTC)
	return f
}

// request returns the vector request as a server receives it.
func (f cavageFixture) request(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(f.raw)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, body
}

func pemBlock(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	return block.Bytes
}

// rfc9421Key is a 2048-bit RSA key from the fixtures, so tests need not
// generate one.
func rfc9421Key(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := x509.ParsePKCS1PrivateKey(pemBlock(t, filepath.Join(fixtures.Dir(t, "httpsig"), "rfc9421", "test-key-rsa-private.pem")))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// --- a KeyResolver that records its calls ---------------------------------

type fakeResolver struct {
	mu    sync.Mutex
	keys  []crypto.PublicKey // answer n is keys[min(n, len-1)]
	owner string
	err   error
	calls []resolveCall
}

type resolveCall struct {
	keyID   string
	refresh bool
}

func (f *fakeResolver) ResolveKey(_ context.Context, keyID string, refresh bool) (crypto.PublicKey, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, resolveCall{keyID, refresh})
	if f.err != nil {
		return nil, "", f.err
	}
	n := len(f.calls) - 1
	if n >= len(f.keys) {
		n = len(f.keys) - 1
	}
	return f.keys[n], f.owner, nil
}

func resolverFor(owner string, keys ...crypto.PublicKey) *fakeResolver {
	return &fakeResolver{keys: keys, owner: owner}
}

// --- draft-cavage Appendix C ----------------------------------------------

// TestCavageVectorsVerify checks our signing-string builder and RSA check
// against the spec's signatures and public key.
func TestCavageVectorsVerify(t *testing.T) {
	f := loadCavage(t)
	c3 := f.vectors.Tests[2]
	type vec struct {
		name, header, signingString string
		wantOK                      bool
	}
	vecs := []vec{
		{"C.1 default", f.vectors.Tests[0].SignatureHeader, f.vectors.Tests[0].SigningString, true},
		{"C.1 Authorization", f.vectors.Tests[0].AuthHeader, f.vectors.Tests[0].SigningString, true},
		{"C.2 basic", f.vectors.Tests[1].SignatureHeader, f.vectors.Tests[1].SigningString, true},
		{"C.3 without pseudo-headers", c3.WithoutPseudo.SignatureHeader, c3.WithoutPseudo.SigningString, true},
		{"C.3 consistent variant", `keyId="Test",algorithm="hs2019",created=1402170695,expires=1402170699,headers="` +
			c3.Consistent.HeadersParam + `",signature="` + c3.Consistent.SignatureB64 + `"`, c3.Consistent.SigningString, true},
		// As printed, headers= lists (created) (expires) but the signature
		// does not cover them: following headers= must fail.
		{"C.3 as printed", c3.SignatureHeader, "", false},
	}
	for _, v := range vecs {
		t.Run(v.name, func(t *testing.T) {
			r, _ := f.request(t)
			raw := v.header
			if strings.HasPrefix(raw, "Signature ") {
				r.Header.Set("Authorization", raw)
			} else {
				r.Header.Set("Signature", raw)
			}
			value, err := signatureValue(r.Header)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseSignatureParams(value)
			if err != nil {
				t.Fatal(err)
			}
			headers := p.headers
			if !p.hasHeaders {
				headers = []string{"date"} // rsa-sha256 default, as in C.1
			}
			strs, err := signingStrings(r, p, headers)
			if err != nil {
				t.Fatal(err)
			}
			if v.signingString != "" && strs[0] != v.signingString {
				t.Fatalf("signing string\n got %q\nwant %q", strs[0], v.signingString)
			}
			sig, err := decodeBase64(p.signature)
			if err != nil {
				t.Fatal(err)
			}
			err = verifyWithKey(f.pub, algHS2019, strs, sig)
			if v.wantOK && err != nil {
				t.Fatalf("spec signature rejected: %v", err)
			}
			if !v.wantOK && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
	}
}

// TestCavageVectorsSign checks that SignRequest's machinery reproduces the
// spec's signatures byte for byte (RSASSA-PKCS1-v1_5 is deterministic).
func TestCavageVectorsSign(t *testing.T) {
	f := loadCavage(t)
	c3 := f.vectors.Tests[2]
	cases := []struct {
		name    string
		headers []string
		want    string
	}{
		{"C.1 default", []string{"date"}, f.vectors.Tests[0].SignatureB64},
		{"C.2 basic", strings.Fields(f.vectors.Tests[1].HeadersParam), f.vectors.Tests[1].SignatureB64},
		{"C.3 without pseudo-headers", strings.Fields(c3.WithoutPseudo.HeadersParam), c3.WithoutPseudo.SignatureB64},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := []byte(f.vectors.Request.Body)
			req, err := http.NewRequest(http.MethodPost, "http://example.com"+f.vectors.Request.RequestTarget, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Length", "18") // signed by C.3; Go would send it anyway
			if err := signWithHeaders(req, body, "Test", f.priv, f.date, c.headers); err != nil {
				t.Fatal(err)
			}
			if got, want := req.Header.Get("Digest"), "SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="; got != want {
				t.Errorf("Digest = %q, want %q", got, want)
			}
			if got := req.Header.Get("Date"); got != "Sun, 05 Jan 2014 21:31:40 GMT" {
				t.Errorf("Date = %q", got)
			}
			sigHeader := req.Header.Get("Signature")
			wantPrefix := `keyId="Test",algorithm="rsa-sha256",headers="` + strings.Join(c.headers, " ") + `",signature="`
			if !strings.HasPrefix(sigHeader, wantPrefix) {
				t.Errorf("Signature header %q\ndoes not start with %q", sigHeader, wantPrefix)
			}
			p, err := parseSignatureParams(sigHeader)
			if err != nil {
				t.Fatal(err)
			}
			if p.signature != c.want {
				t.Errorf("signature\n got %s\nwant %s", p.signature, c.want)
			}
		})
	}
}

// TestCavageVectorsPolicy runs the vectors through VerifyRequest, whose
// policy (coverage, (created) rules) sits on top of the crypto.
func TestCavageVectorsPolicy(t *testing.T) {
	f := loadCavage(t)
	c3 := f.vectors.Tests[2]
	consistent := func(alg string) string {
		return `keyId="Test",algorithm="` + alg + `",created=1402170695,expires=1402170699,headers="` +
			c3.Consistent.HeadersParam + `",signature="` + c3.Consistent.SignatureB64 + `"`
	}
	hs2019Printed := strings.Replace(c3.SignatureHeader, `algorithm="rsa-sha256"`, `algorithm="hs2019"`, 1)
	createdAt := time.Unix(c3.Created, 0).Add(2 * time.Second)
	cases := []struct {
		name   string
		header string
		now    time.Time
		want   error
	}{
		{"C.3 without pseudo-headers is accepted", c3.WithoutPseudo.SignatureHeader, f.date, nil},
		{"C.1 covers date only", f.vectors.Tests[0].SignatureHeader, f.date, ErrHeadersNotSigned},
		{"C.2 leaves the digest of a POST unsigned", f.vectors.Tests[1].SignatureHeader, f.date, ErrHeadersNotSigned},
		{"(created) with hs2019 is honoured", consistent("hs2019"), createdAt, nil},
		{"(created) with rsa-sha256 is refused (draft-cavage-12 §2.3)", consistent("rsa-sha256"), createdAt, ErrMalformedSignature},
		{"(expires) is enforced", consistent("hs2019"), createdAt.Add(2 * time.Hour), ErrDateSkew},
		{"C.3 as printed is refused", c3.SignatureHeader, createdAt, ErrMalformedSignature},
		{"C.3 as printed, labelled hs2019, does not verify", hs2019Printed, createdAt, ErrBadSignature},
		{"the vector is stale today", c3.WithoutPseudo.SignatureHeader, time.Now(), ErrDateSkew},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, body := f.request(t)
			r.Header.Set("Signature", c.header)
			res := resolverFor("https://example.com/actor", f.pub)
			got, err := VerifyRequest(context.Background(), r, body, res, c.now)
			if c.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if got.KeyID != "Test" || got.Owner != "https://example.com/actor" {
					t.Errorf("got %+v", got)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// --- round trip over a real loopback server --------------------------------

func TestSignVerifyRoundTripLoopback(t *testing.T) {
	key := rfc9421Key(t)
	const owner = "https://remote.example/users/alice"
	const keyID = owner + "#main-key"
	res := resolverFor(owner, &key.PublicKey)

	type result struct {
		Status string
		Host   string
		Owner  string
		Heads  []string
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out := result{Host: r.Host}
		v, err := VerifyRequest(r.Context(), r, body, res, time.Now())
		if err != nil {
			out.Status = err.Error()
			w.WriteHeader(http.StatusUnauthorized)
		} else {
			out.Status, out.Owner, out.Heads = "ok", v.Owner, v.Headers
			w.WriteHeader(http.StatusAccepted)
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	defer srv.Close()
	client := NewSafeClient(SafeClientOptions{AllowPrivate: true, UserAgent: "Aistagram/test"})

	cases := []struct {
		name, method, path string
		body               []byte
		wantHeads          string
	}{
		{"POST delivery", http.MethodPost, "/users/bob/inbox", []byte(`{"type":"Follow"}`), "(request-target) host date digest content-type"},
		{"POST empty body", http.MethodPost, "/inbox", nil, "(request-target) host date digest"},
		{"GET fetch", http.MethodGet, "/users/bob", nil, "(request-target) host date"},
		{"escaped path and query", http.MethodGet, "/users/b%40b%2Fx/outbox?page=true&min_id=1", nil, "(request-target) host date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var rd io.Reader
			if c.body != nil {
				rd = bytes.NewReader(c.body)
			}
			req, err := http.NewRequestWithContext(context.Background(), c.method, srv.URL+c.path, rd)
			if err != nil {
				t.Fatal(err)
			}
			if c.body != nil {
				req.Header.Set("Content-Type", "application/activity+json")
			}
			if err := SignRequest(req, c.body, keyID, key, time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out result
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", resp.StatusCode, out.Status)
			}
			if want := strings.TrimPrefix(srv.URL, "http://"); out.Host != want || !strings.Contains(want, ":") {
				t.Errorf("server saw Host %q, want %q (with port)", out.Host, want)
			}
			if out.Owner != owner {
				t.Errorf("owner %q", out.Owner)
			}
			if got := strings.Join(out.Heads, " "); got != c.wantHeads {
				t.Errorf("signed headers %q, want %q", got, c.wantHeads)
			}
		})
	}
}

// --- tampering and policy, on server-side requests --------------------------

// toServer turns a client request into the request a Go server would see,
// through the real wire format.
func toServer(t testing.TB, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, body
}

// signedPost returns a delivery signed by SignRequest at signedAt, as the
// receiving server sees it.
func signedPost(t testing.TB, key *rsa.PrivateKey, keyID string, signedAt time.Time) (*http.Request, []byte) {
	t.Helper()
	body := []byte(`{"@context":"https://www.w3.org/ns/activitystreams","type":"Like"}`)
	req, err := http.NewRequest(http.MethodPost, "https://aistagram.example:8443/users/pixelbot/inbox", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/activity+json")
	if err := SignRequest(req, body, keyID, key, signedAt); err != nil {
		t.Fatal(err)
	}
	return toServer(t, req)
}

// handSign signs a server-side request independently of the code under test:
// the signing string is built here from headers, and params are written as
// given (with signature appended).
func handSign(t testing.TB, r *http.Request, key crypto.Signer, params string, headers []string, target string) {
	t.Helper()
	var lines []string
	for _, h := range headers {
		switch {
		case h == "(request-target)":
			lines = append(lines, h+": "+strings.ToLower(r.Method)+" "+target)
		case h == "(created)" || h == "(expires)":
			name := strings.Trim(h, "()")
			v := ""
			for _, kv := range strings.Split(params, ",") {
				if k, val, ok := strings.Cut(kv, "="); ok && k == name {
					v = val
				}
			}
			lines = append(lines, h+": "+v)
		case h == "host":
			lines = append(lines, "host: "+r.Host)
		default:
			lines = append(lines, h+": "+r.Header.Get(h))
		}
	}
	s := []byte(strings.Join(lines, "\n"))
	var sig []byte
	var err error
	switch key.(type) {
	case ed25519.PrivateKey:
		sig, err = key.Sign(rand.Reader, s, crypto.Hash(0))
	default:
		sum := sha256.Sum256(s)
		sig, err = key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Signature", params+`,headers="`+strings.Join(headers, " ")+`",signature="`+base64.StdEncoding.EncodeToString(sig)+`"`)
}

func newServerPost(t testing.TB, target string, body []byte, now time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "https://aistagram.example"+target, bytes.NewReader(body))
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))
	r.Header.Set("Content-Type", "application/activity+json")
	return r
}

func TestVerifyRequest(t *testing.T) {
	key := rfc9421Key(t)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const owner = "https://masto.example/users/alice"
	const keyID = owner + "#main-key"
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"Note"}`)
	mastoParams := `keyId="` + keyID + `",algorithm="hs2019"`

	type setup func(t *testing.T) (*http.Request, []byte, *fakeResolver)
	good := func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
		r, b := signedPost(t, key, keyID, now)
		return r, b, resolverFor(owner, &key.PublicKey)
	}
	modify := func(f func(r *http.Request, b []byte) []byte) setup {
		return func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b, res := good(t)
			return r, f(r, b), res
		}
	}
	relabel := func(from, to string) setup {
		return modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), from, to, 1))
			return b
		})
	}
	at := func(signedAt time.Time) setup {
		return func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b := signedPost(t, key, keyID, signedAt)
			return r, b, resolverFor(owner, &key.PublicKey)
		}
	}
	hand := func(params string, headers []string, target string, edit func(r *http.Request)) setup {
		return func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r := newServerPost(t, "/inbox?x=1", body, now)
			r.Header.Set("Digest", digestHeader(body))
			if edit != nil {
				edit(r)
			}
			handSign(t, r, key, params, headers, target)
			return r, body, resolverFor(owner, &key.PublicKey)
		}
	}
	allHeads := []string{"(request-target)", "host", "date", "digest"}

	cases := []struct {
		name      string
		setup     setup
		want      error
		wantCalls []bool // refresh flags of the resolver calls, when checked
		check     func(t *testing.T, v *VerifiedSignature, res *fakeResolver)
	}{
		{name: "valid delivery", setup: good, wantCalls: []bool{false}},
		{name: "tampered body", setup: modify(func(_ *http.Request, b []byte) []byte {
			return append(bytes.Clone(b), ' ')
		}), want: ErrDigestMismatch, wantCalls: []bool{}},
		{name: "tampered body with a recomputed digest", setup: modify(func(r *http.Request, b []byte) []byte {
			b = append(bytes.Clone(b), ' ')
			r.Header.Set("Digest", digestHeader(b))
			return b
		}), want: ErrBadSignature, wantCalls: []bool{false, true}},
		{name: "tampered signed header", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Content-Type", "text/plain")
			return b
		}), want: ErrBadSignature},
		{name: "tampered path", setup: modify(func(r *http.Request, b []byte) []byte {
			r.URL.Path = "/users/other/inbox"
			return b
		}), want: ErrBadSignature},
		{name: "tampered host", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Host = "evil.example:8443"
			return b
		}), want: ErrBadSignature},
		{name: "signed an hour ago is still fine", setup: at(now.Add(-time.Hour))},
		{name: "stale date, 2h old", setup: at(now.Add(-2 * time.Hour)), want: ErrDateSkew, wantCalls: []bool{}},
		{name: "30 minutes ahead is clock skew", setup: at(now.Add(30 * time.Minute))},
		{name: "future date, 2h ahead", setup: at(now.Add(2 * time.Hour)), want: ErrDateSkew},
		{name: "unparseable Date", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Date", "yesterday")
			return b
		}), want: ErrDateSkew},
		{name: "no signature", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Del("Signature")
			return b
		}), want: ErrNoSignature},
		{name: "two Signature headers", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Add("Signature", r.Header.Get("Signature"))
			return b
		}), want: ErrMalformedSignature},
		{name: "garbage Signature header", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Signature", `keyId="x",signature="unterminated`)
			return b
		}), want: ErrMalformedSignature},
		{name: "missing Digest header", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Del("Digest")
			return b
		}), want: ErrMissingDigest},
		{name: "Digest with only unknown algorithms", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Digest", "MD5=HUXZLQLMuI/KZ5KDcJPcOA==")
			return b
		}), want: ErrDigestMismatch},
		{name: "digest not signed on a POST", setup: hand(mastoParams, []string{"(request-target)", "host", "date"}, "/inbox?x=1", nil), want: ErrHeadersNotSigned},
		{name: "host not signed", setup: hand(mastoParams, []string{"(request-target)", "date", "digest"}, "/inbox?x=1", nil), want: ErrHeadersNotSigned},
		{name: "(request-target) not signed", setup: hand(mastoParams, []string{"host", "date", "digest"}, "", nil), want: ErrHeadersNotSigned},
		{name: "date not signed", setup: hand(mastoParams, []string{"(request-target)", "host", "digest"}, "/inbox?x=1", nil), want: ErrHeadersNotSigned},
		{name: "signed header absent from the request", setup: hand(mastoParams, append(allHeads, "content-length"), "/inbox?x=1", nil), want: ErrMalformedSignature},
		{name: "wrong key", setup: func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b := signedPost(t, other, keyID, now)
			return r, b, resolverFor(owner, &key.PublicKey)
		}, want: ErrBadSignature, wantCalls: []bool{false, true}},
		{name: "key rotated: stale cached key, refresh gives the right one", setup: func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b := signedPost(t, key, keyID, now)
			return r, b, resolverFor(owner, &other.PublicKey, &key.PublicKey)
		}, wantCalls: []bool{false, true}},
		{name: "key fetch fails", setup: func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b := signedPost(t, key, keyID, now)
			return r, b, &fakeResolver{err: errGone}
		}, want: ErrKeyFetch},
		{name: "unknown algorithm", setup: relabel(`algorithm="rsa-sha256"`, `algorithm="rsa-sha512"`), want: ErrUnsupportedAlgorithm, wantCalls: []bool{}},
		{name: "hs2019 label", setup: relabel(`algorithm="rsa-sha256"`, `algorithm="hs2019"`)},
		{name: "no algorithm parameter", setup: relabel(`algorithm="rsa-sha256",`, ``)},
		{name: "upper-case algorithm", setup: relabel(`algorithm="rsa-sha256"`, `algorithm="RSA-SHA256"`)},
		{name: "Authorization: Signature form", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Authorization", "Signature "+r.Header.Get("Signature"))
			r.Header.Del("Signature")
			return b
		})},
		{name: "legacy 'Signature ' prefix in the Signature header", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Signature", "Signature "+r.Header.Get("Signature"))
			return b
		})},
		{name: "Authorization Bearer does not count", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Authorization", "Bearer abc")
			return b
		})},
		{name: "RFC 9421 signature", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Signature-Input", `sig1=("@method" "@target-uri");created=1;keyid="k"`)
			r.Header.Set("Signature", "sig1=:AAAA:")
			return b
		}), want: ErrUnsupportedAlgorithm},
		{name: "GoToSocial /main-key keyId", setup: func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r, b := signedPost(t, key, "https://gts.example/users/bob/main-key", now)
			return r, b, resolverFor("https://gts.example/users/bob", &key.PublicKey)
		}, check: func(t *testing.T, v *VerifiedSignature, res *fakeResolver) {
			if v.KeyID != "https://gts.example/users/bob/main-key" || v.Owner != "https://gts.example/users/bob" {
				t.Errorf("got %+v", v)
			}
			if res.calls[0].keyID != v.KeyID {
				t.Errorf("resolver asked for %q", res.calls[0].keyID)
			}
		}},
		{name: "several digests", setup: modify(func(r *http.Request, b []byte) []byte {
			// Digest is signed, so it cannot change; an unsigned
			// Content-Digest with two members is checked too.
			r.Header.Set("Content-Digest", contentDigest(b, true))
			return b
		})},
		{name: "multi-valued Digest header, both checked", setup: hand(mastoParams, allHeads, "/inbox?x=1", func(r *http.Request) {
			sum := sha512Sum(body)
			r.Header.Set("Digest", "sha-512="+sum+", "+digestHeader(body))
		})},
		{name: "wrong unsigned Content-Digest", setup: modify(func(r *http.Request, b []byte) []byte {
			r.Header.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(make([]byte, 32))+":")
			return b
		}), want: ErrDigestMismatch},
		{name: "RFC 9530 Content-Digest instead of Digest", setup: hand(mastoParams, []string{"(request-target)", "host", "date", "content-digest"}, "/inbox?x=1", func(r *http.Request) {
			r.Header.Del("Digest")
			r.Header.Set("Content-Digest", contentDigest(body, false))
		})},
		{name: "signed without the query (GoToSocial retry)", setup: hand(mastoParams, allHeads, "/inbox", nil)},
		{name: "(created) and (expires) with hs2019", setup: hand(
			fmt.Sprintf(`keyId="%s",algorithm="hs2019",created=%d,expires=%d`, keyID, now.Unix()-10, now.Unix()+300),
			[]string{"(request-target)", "(created)", "(expires)", "host", "digest"}, "/inbox?x=1",
			func(r *http.Request) { r.Header.Del("Date") })},
		{name: "(expires) long past", setup: hand(
			fmt.Sprintf(`keyId="%s",algorithm="hs2019",created=%d,expires=%d`, keyID, now.Unix()-4*3600, now.Unix()-2*3600),
			[]string{"(request-target)", "(created)", "(expires)", "host", "date", "digest"}, "/inbox?x=1", nil), want: ErrDateSkew},
		{name: "unsigned created parameter is ignored", setup: hand(
			fmt.Sprintf(`keyId="%s",algorithm="hs2019",created=%d`, keyID, now.Unix()),
			allHeads, "/inbox?x=1", func(r *http.Request) { r.Header.Set("Date", now.Add(-3*time.Hour).Format(http.TimeFormat)) }),
			want: ErrDateSkew},
		{name: "(created) with rsa-sha256", setup: hand(
			fmt.Sprintf(`keyId="%s",algorithm="rsa-sha256",created=%d`, keyID, now.Unix()),
			[]string{"(request-target)", "(created)", "host", "digest"}, "/inbox?x=1", nil), want: ErrMalformedSignature},
		{name: "Ed25519 key under hs2019", setup: func(t *testing.T) (*http.Request, []byte, *fakeResolver) {
			r := newServerPost(t, "/inbox", body, now)
			r.Header.Set("Digest", digestHeader(body))
			handSign(t, r, edPriv, `keyId="`+keyID+`",algorithm="hs2019"`, allHeads, "/inbox")
			return r, body, resolverFor(owner, edPub)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, b, res := c.setup(t)
			v, err := VerifyRequest(context.Background(), r, b, res, now)
			if c.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if v.Owner != res.owner {
					t.Errorf("owner %q, want %q", v.Owner, res.owner)
				}
			} else {
				if !errors.Is(err, c.want) {
					t.Fatalf("got %v, want %v", err, c.want)
				}
				if v != nil {
					t.Errorf("got a result with an error: %+v", v)
				}
				t.Logf("error text: %v", err)
			}
			if c.wantCalls != nil {
				var got []bool
				for _, call := range res.calls {
					got = append(got, call.refresh)
				}
				if fmt.Sprint(got) != fmt.Sprint(c.wantCalls) {
					t.Errorf("resolver refresh flags %v, want %v", got, c.wantCalls)
				}
			}
			if c.check != nil && err == nil {
				c.check(t, v, res)
			}
			if c.name == "key fetch fails" && !errors.Is(err, errGone) {
				t.Errorf("resolver error not wrapped: %v", err)
			}
		})
	}
}

var errGone = errors.New("actor gone (410)")

func contentDigest(b []byte, both bool) string {
	sum := sha256.Sum256(b)
	v := "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
	if both {
		v = "sha-512=:" + sha512Sum(b) + ":, " + v
	}
	return v
}

func sha512Sum(b []byte) string {
	s, _ := digestSum("SHA-512", b)
	return base64.StdEncoding.EncodeToString(s)
}

func TestSignRequestHeaders(t *testing.T) {
	key := rfc9421Key(t)
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	req, err := http.NewRequest(http.MethodGet, "https://example.com:8443/users/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/activity+json")
	if err := SignRequest(req, nil, "https://a.example/actor#main-key", key, now); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("Date"); got != "Sun, 01 Mar 2026 11:00:00 GMT" {
		t.Errorf("Date = %q, want UTC IMF-fixdate", got)
	}
	if req.Host != "example.com:8443" || req.Header.Get("Host") != "example.com:8443" {
		t.Errorf("Host = %q / %q", req.Host, req.Header.Get("Host"))
	}
	if req.Header.Get("Digest") != "" {
		t.Error("a GET got a Digest")
	}
	sig := req.Header.Get("Signature")
	if !strings.HasPrefix(sig, `keyId="https://a.example/actor#main-key",algorithm="rsa-sha256",headers="(request-target) host date",signature="`) {
		t.Errorf("Signature = %q", sig)
	}
	if strings.Contains(sig, ", ") {
		t.Error("Pixelfed needs no space after commas")
	}

	// Re-signing a request (a retry) replaces the old headers.
	if err := SignRequest(req, nil, "https://a.example/actor#main-key", key, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(req.Header.Values("Signature")); n != 1 {
		t.Errorf("%d Signature headers after re-signing", n)
	}

	bad := []struct {
		name  string
		keyID string
		url   string
		body  []byte
	}{
		{"quote in keyId", `a"b`, "https://example.com/", nil},
		{"empty keyId", "", "https://example.com/", nil},
		{"non-ASCII host", "k", "https://bücher.example/", nil},
		{"body length differs from the request", "k", "https://example.com/", []byte("xx")},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader("x"))
			if err != nil {
				t.Fatal(err)
			}
			if err := SignRequest(req, c.body, c.keyID, key, now); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestSignRequestConcurrent signs from many goroutines at once (run with
// -race): SignRequest must not share a go-fed signer.
func TestSignRequestConcurrent(t *testing.T) {
	key := rfc9421Key(t)
	now := time.Now()
	res := resolverFor("https://a.example/actor", &key.PublicKey)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := []byte(fmt.Sprintf(`{"n":%d}`, i))
			req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("https://b.example/users/%d/inbox", i), bytes.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			if err := SignRequest(req, body, "https://a.example/actor#main-key", key, now); err != nil {
				errs <- err
				return
			}
			var buf bytes.Buffer
			if err := req.Write(&buf); err != nil {
				errs <- err
				return
			}
			r, err := http.ReadRequest(bufio.NewReader(&buf))
			if err != nil {
				errs <- err
				return
			}
			if _, err := VerifyRequest(context.Background(), r, body, res, now); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestParseSignatureParams(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		keyID   string
		headers string
	}{
		{`keyId="a",signature="b"`, true, "a", ""},
		{`keyId="a" , signature="b" ,headers="Date  HOST"`, true, "a", "date host"},
		{`keyId="a,b",signature="c"`, true, "a,b", ""},
		{`keyId="a\"b",signature="c"`, true, `a"b`, ""},
		{`keyId=a,signature=b,created=1402170695, expires=1402170699.5`, true, "a", ""},
		{`keyId="a",unknown="z",signature="b",`, true, "a", ""},
		{``, false, "", ""},
		{`keyId="a"`, false, "", ""},
		{`keyId="a",keyId="b",signature="c"`, false, "", ""},
		{`keyId="a",signature="b",headers=""`, false, "", ""},
		{`keyId="a",signature="b",created=soon`, false, "", ""},
		{`keyId="a" signature="b"`, false, "", ""},
		{`keyId`, false, "", ""},
		{`=x`, false, "", ""},
		{`keyId="a,signature="b"`, false, "", ""},
		{`keyId="a",signature="b",headers="` + strings.Repeat("date ", 40) + `"`, false, "", ""},
	}
	for _, c := range cases {
		p, err := parseSignatureParams(c.in)
		if c.ok != (err == nil) {
			t.Errorf("%q: err = %v", c.in, err)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Errorf("%q: %v is not ErrMalformedSignature", c.in, err)
			}
			continue
		}
		if p.keyID != c.keyID || strings.Join(p.headers, " ") != c.headers {
			t.Errorf("%q: got keyId %q headers %q", c.in, p.keyID, p.headers)
		}
	}
}

// FuzzVerifySignatureHeader throws arbitrary Signature headers at the
// parser and the policy checks: nothing may panic, and anything accepted
// must have been verified with the key.
func FuzzVerifySignatureHeader(f *testing.F) {
	fx := loadCavage(f)
	for _, v := range fx.vectors.Tests {
		f.Add(v.SignatureHeader)
		f.Add(v.AuthHeader)
	}
	f.Add(`keyId="k",algorithm="hs2019",created=1,expires=2,headers="(request-target) (created) (expires) host digest",signature="AAAA"`)
	f.Add(`keyId="k",signature="a\"",headers="(foo)"`)
	f.Fuzz(func(t *testing.T, header string) {
		r, body := fx.request(t)
		r.Header.Set("Signature", header)
		res := resolverFor("https://example.com/actor", fx.pub)
		v, err := VerifyRequest(context.Background(), r, body, res, fx.date)
		if err == nil && (v == nil || len(res.calls) == 0) {
			t.Fatalf("accepted without a key lookup: %q", header)
		}
		_, _ = parseSignatureParams(header)
	})
}
