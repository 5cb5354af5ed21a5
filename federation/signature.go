package federation

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-fed/httpsig"
)

// Errors of VerifyRequest. Each is wrapped with the detail a remote admin
// needs to fix their side; match them with errors.Is. Mastodon answers 400 to
// a malformed header, 503 when it cannot fetch the key (so the sender
// retries), and 401 to everything else (signature_verification.rb); the
// suggested status is on each error.
var (
	// ErrNoSignature: the request carries neither a Signature header nor an
	// Authorization: Signature header (401).
	ErrNoSignature = errors.New("request is not signed")
	// ErrMalformedSignature: the signature header cannot be parsed, lacks
	// keyId or signature, or names a header the request does not have (400).
	ErrMalformedSignature = errors.New("malformed HTTP signature")
	// ErrUnsupportedAlgorithm: an algorithm other than rsa-sha256 or hs2019,
	// a key type we cannot verify, or an RFC 9421 signature (401, which makes
	// Mastodon 4.7 retry with the other signature flavour).
	ErrUnsupportedAlgorithm = errors.New("unsupported HTTP signature algorithm")
	// ErrHeadersNotSigned: the signature does not cover (request-target),
	// host, date (or (created)), or, on a request with a body, its digest (401).
	ErrHeadersNotSigned = errors.New("required headers are not signed")
	// ErrDateSkew: Date or (created) is unparseable, too far in the future
	// or too old (401; the sender should re-sign with a fresh Date).
	ErrDateSkew = errors.New("signature date outside the accepted window")
	// ErrMissingDigest: a POST or a body without any Digest header (401).
	ErrMissingDigest = errors.New("missing body digest")
	// ErrDigestMismatch: a Digest or Content-Digest header does not match
	// the body, or names no algorithm we check (401).
	ErrDigestMismatch = errors.New("body digest mismatch")
	// ErrKeyFetch: the KeyResolver could not produce the key; the
	// resolver's own error is wrapped too (503, so the sender retries).
	ErrKeyFetch = errors.New("cannot fetch the signing key")
	// ErrBadSignature: the signature does not verify with the key, even
	// after refetching it once (401).
	ErrBadSignature = errors.New("HTTP signature does not verify")
)

const (
	// signatureClockSkew is Mastodon's CLOCK_SKEW_MARGIN (signed_request.rb):
	// a signature may be created up to this far in the future and is
	// accepted this long after it expires. Mastodon is the main sender we
	// talk to; a tighter window than its own would reject its deliveries
	// from hosts whose clocks drift, and replays are already harmless
	// because the inbox deduplicates by activity id.
	signatureClockSkew = time.Hour
	// signatureDefaultLifetime is how long a signature without an
	// (expires) lives, as at Mastodon: so a Date-only signature is accepted
	// from about 65 minutes in the past to 1 hour in the future.
	signatureDefaultLifetime = 5 * time.Minute
	// signatureMaxLifetime caps a sender's (expires), as Mastodon's
	// EXPIRATION_WINDOW_LIMIT does.
	signatureMaxLifetime = 12 * time.Hour
	// maxSignatureHeaderLen bounds the signature header we parse; a 4096-bit
	// RSA signature and a long keyId fit in a fraction of it.
	maxSignatureHeaderLen = 16 << 10
	// maxSignedHeaders bounds headers= so a hostile list cannot make us
	// build a huge signing string.
	maxSignedHeaders = 32

	algRSASHA256 = "rsa-sha256"
	algHS2019    = "hs2019"

	pseudoRequestTarget = "(request-target)"
	pseudoCreated       = "(created)"
	pseudoExpires       = "(expires)"
)

// SignRequest signs an outgoing request the draft-cavage way, as Mastodon,
// GoToSocial and Pixelfed expect. It must be called just before sending, on
// every attempt: Mastodon accepts a Date-only signature for about an hour,
// and deliveries are retried for days.
//
// It sets Date (now, UTC, IMF-fixdate), Host (and r.Host to the same value,
// because Go's client never sends Header["Host"]: the signed host is exactly
// what goes on the wire, port included), and for a request with a body
// Digest: SHA-256=<base64> over body, which must be the exact bytes sent.
// Existing Date, Host, Digest and Signature headers are replaced.
//
// Covered headers: `(request-target) host date digest content-type` on a
// POST (content-type only when set, as Mastodon signs it), and
// `(request-target) host date` on a GET — what Mastodon, GoToSocial and
// Pixelfed send and what Misskey requires. go-fed/httpsig always labels its
// signatures algorithm="hs2019"; we write the real name, rsa-sha256, as
// Mastodon does, because older servers accept only that. The label is not
// covered by the signature, so changing it is safe.
//
// It is safe for concurrent use: a go-fed signer is created per call, since
// go-fed signers are not goroutine-safe.
func SignRequest(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time) error {
	if r == nil {
		return errors.New("sign request: no request")
	}
	headers := []string{pseudoRequestTarget, "host", "date"}
	if body != nil || (r.Method != "" && r.Method != http.MethodGet && r.Method != http.MethodHead) {
		if body == nil {
			body = []byte{}
		}
		headers = append(headers, "digest")
		if r.Header.Get("Content-Type") != "" {
			headers = append(headers, "content-type")
		}
	}
	return signWithHeaders(r, body, keyID, key, now, headers)
}

// signWithHeaders is SignRequest with an explicit header list (the published
// test vectors cover other lists). A non-nil body gets a Digest header.
func signWithHeaders(r *http.Request, body []byte, keyID string, key *rsa.PrivateKey, now time.Time, headers []string) error {
	switch {
	case r == nil || r.URL == nil:
		return errors.New("sign request: no request or URL")
	case key == nil:
		return errors.New("sign request: no private key")
	case now.IsZero():
		return errors.New("sign request: zero time")
	case keyID == "" || strings.ContainsAny(keyID, "\"\\") || hasControl(keyID):
		return fmt.Errorf("sign request: keyId %q cannot be written in a quoted header value", keyID)
	case r.URL.Opaque != "":
		return errors.New("sign request: opaque URLs are not supported")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	if host == "" {
		return errors.New("sign request: no host")
	}
	if !isASCII(host) || hasControl(host) {
		// Go's client would send the punycode form, so the host we sign
		// must already be it.
		return fmt.Errorf("sign request: host %q is not ASCII; convert it to punycode first", host)
	}
	if body != nil && r.ContentLength > 0 && r.ContentLength != int64(len(body)) {
		return fmt.Errorf("sign request: body is %d bytes but the request sends %d", len(body), r.ContentLength)
	}

	r.Host = host
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	for _, h := range []string{"Host", "Date", "Digest", "Signature"} {
		r.Header.Del(h)
	}
	r.Header.Set("Host", host)
	r.Header.Set("Date", now.UTC().Format(http.TimeFormat))

	signer, alg, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	if alg != httpsig.RSA_SHA256 {
		return fmt.Errorf("sign request: go-fed chose %s instead of rsa-sha256", alg)
	}
	// go-fed builds (request-target) from URL.Path, the decoded path, while
	// Go's client sends the escaped one (URL.RequestURI) and "/" for an
	// empty path. Hand go-fed a shallow copy whose Path is what goes on the
	// wire; it shares r.Header, so the headers it adds land on r.
	target := *r
	u := *r.URL
	u.Path = r.URL.EscapedPath()
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = ""
	target.URL = &u
	if err := signer.SignRequest(key, keyID, &target, body); err != nil {
		return fmt.Errorf("sign request: %w", err)
	}

	value := r.Header.Get("Signature")
	hidden := `keyId="` + keyID + `",algorithm="hs2019",`
	if !strings.HasPrefix(value, hidden) {
		return fmt.Errorf("sign request: unexpected go-fed signature header %q", value)
	}
	r.Header.Set("Signature", `keyId="`+keyID+`",algorithm="`+algRSASHA256+`",`+value[len(hidden):])
	return nil
}

// KeyResolver finds the public key named by a signature's keyId, and the
// actor that owns it. Its implementation (elsewhere) caches keys and fetches
// them with signed GETs through the safe client. The keyId comes in
// Mastodon's form (https://host/users/x#main-key) and GoToSocial's
// (https://host/users/x/main-key); legacy acct: ids are the resolver's call.
//
// VerifyRequest calls it with refresh=false first and, when the signature
// does not verify with that key, once more with refresh=true so a rotated key
// is refetched, as Mastodon does. Since a forged signature can trigger that
// refetch, an implementation should make refresh cheap when the key was just
// fetched (Mastodon rate-limits refetches with a circuit breaker).
type KeyResolver interface {
	ResolveKey(ctx context.Context, keyID string, refresh bool) (key crypto.PublicKey, ownerActorID string, err error)
}

// VerifiedSignature is what VerifyRequest learnt from a valid signature.
type VerifiedSignature struct {
	// KeyID is the keyId as the sender wrote it.
	KeyID string
	// Owner is the actor id that owns the key, as the KeyResolver reported
	// it. The inbox must check that the activity's actor equals it (Mastodon
	// drops activities whose actor differs from the signer).
	Owner string
	// Algorithm is the algorithm label, lower-cased; "hs2019" when absent.
	Algorithm string
	// Headers lists the covered headers, lower-cased, in signed order.
	Headers []string
	// Created is when the signature was made: (created), else Date.
	Created time.Time
}

// VerifyRequest checks the draft-cavage HTTP signature of an incoming request
// whose body (already read, with a size cap) is body, and returns who signed
// it. It does not read r.Body.
//
// Accepted: a Signature header, or Authorization: Signature; algorithm
// rsa-sha256, hs2019 or none (meaning hs2019, as at Mastodon), RSASSA-PKCS1-v1_5
// with SHA-256 for RSA keys either way (and Ed25519 keys under hs2019). The
// signature must cover (request-target), host and date — or (created), which
// Mastodon accepts instead of date — and, on a POST or any body, Digest (or
// RFC 9530 Content-Digest), which is checked against body. The time window is
// Mastodon's (see signatureClockSkew); unlike Mastodon, created/expires
// parameters count only when (created)/(expires) are signed, since an unsigned
// one could be rewritten by a replayer. Like Mastodon and GoToSocial, the
// (request-target) is tried with and without the query string.
//
// Cheap checks run before the key is resolved, so junk never triggers a
// fetch. now is injected for tests; callers pass time.Now().
func VerifyRequest(ctx context.Context, r *http.Request, body []byte, keys KeyResolver, now time.Time) (*VerifiedSignature, error) {
	if r == nil || r.URL == nil {
		return nil, fmt.Errorf("%w: no request", ErrMalformedSignature)
	}
	if keys == nil {
		return nil, fmt.Errorf("%w: no key resolver configured", ErrKeyFetch)
	}
	raw, err := signatureValue(r.Header)
	if err != nil {
		return nil, err
	}
	p, err := parseSignatureParams(raw)
	if err != nil {
		return nil, err
	}

	alg := p.algorithm
	if alg == "" {
		alg = algHS2019
	}
	if alg != algRSASHA256 && alg != algHS2019 {
		return nil, fmt.Errorf("%w: %q (use rsa-sha256 or hs2019)", ErrUnsupportedAlgorithm, truncate(alg))
	}
	headers := p.headers
	if !p.hasHeaders {
		// Mastodon's defaults; the draft-cavage vectors default to date.
		headers = []string{"date"}
		if alg == algHS2019 {
			headers = []string{pseudoCreated}
		}
	}
	signed := make(map[string]bool, len(headers))
	for _, h := range headers {
		signed[h] = true
	}
	if err := checkCoverage(p, alg, headers, signed); err != nil {
		return nil, err
	}
	created, err := checkSignatureTime(r.Header, p, signed, now)
	if err != nil {
		return nil, err
	}
	needDigest := r.Method == http.MethodPost || len(body) > 0
	if err := checkBodyDigests(r.Header, signed, body, needDigest); err != nil {
		return nil, err
	}
	sig, err := decodeBase64(p.signature)
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("%w: signature is not base64", ErrMalformedSignature)
	}
	candidates, err := signingStrings(r, p, headers)
	if err != nil {
		return nil, err
	}

	key, owner, err := keys.ResolveKey(ctx, p.keyID, false)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrKeyFetch, p.keyID, err)
	}
	err = verifyWithKey(key, alg, candidates, sig)
	if errors.Is(err, ErrBadSignature) {
		// The sender may have rotated its key: refetch once.
		fresh, freshOwner, ferr := keys.ResolveKey(ctx, p.keyID, true)
		if ferr != nil {
			return nil, fmt.Errorf("keyId %q: %w (refetching the key failed: %v)", p.keyID, err, ferr)
		}
		key, owner = fresh, freshOwner
		err = verifyWithKey(key, alg, candidates, sig)
	}
	if err != nil {
		return nil, fmt.Errorf("keyId %q: %w", p.keyID, err)
	}
	if owner == "" {
		return nil, fmt.Errorf("%w %q: the resolver reported no owner", ErrKeyFetch, p.keyID)
	}
	return &VerifiedSignature{KeyID: p.keyID, Owner: owner, Algorithm: alg, Headers: headers, Created: created}, nil
}

// signatureValue picks the draft-cavage signature parameters from the
// headers: the Signature header (a legacy "Signature " prefix is stripped, as
// Mastodon does), else Authorization: Signature.
func signatureValue(h http.Header) (string, error) {
	var auth string
	for _, v := range h.Values("Authorization") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Signature") {
			auth = strings.TrimSpace(rest)
			break
		}
	}
	if len(h.Values("Signature-Input")) > 0 {
		// RFC 9421: Signature then holds `sig1=:…:`, not cavage parameters.
		if auth != "" {
			return auth, nil
		}
		return "", fmt.Errorf("%w: RFC 9421 message signatures (Signature-Input) are not supported; sign with draft-cavage", ErrUnsupportedAlgorithm)
	}
	sigs := h.Values("Signature")
	switch len(sigs) {
	case 0:
		if auth != "" {
			return auth, nil
		}
		return "", ErrNoSignature
	case 1:
		v := strings.TrimSpace(sigs[0])
		if len(v) > len("Signature ") && strings.EqualFold(v[:len("Signature ")], "Signature ") {
			v = strings.TrimSpace(v[len("Signature "):])
		}
		return v, nil
	default:
		return "", fmt.Errorf("%w: %d Signature headers", ErrMalformedSignature, len(sigs))
	}
}

// sigParams are the parameters of a draft-cavage signature header.
type sigParams struct {
	keyID      string
	algorithm  string   // lower-cased; "" when absent
	headers    []string // lower-cased
	hasHeaders bool
	signature  string
	// created and expires keep the text as sent (it goes into the signing
	// string verbatim) and its whole seconds.
	createdRaw, expiresRaw string
	created, expires       int64
	hasCreated, hasExpires bool
}

// parseSignatureParams parses `k="v",k=v,...`. It follows the grammar rather
// than splitting on commas (as go-fed does), so a quoted value may contain a
// comma, whitespace around commas is allowed (the spec's own C.3 example has
// it), and a backslash escapes the next character in a quoted value. Unknown
// parameters are ignored; a repeated known one is an error.
func parseSignatureParams(s string) (sigParams, error) {
	var p sigParams
	if len(s) > maxSignatureHeaderLen {
		return p, fmt.Errorf("%w: header longer than %d bytes", ErrMalformedSignature, maxSignatureHeaderLen)
	}
	seen := make(map[string]bool, 6)
	i := 0
	for {
		for i < len(s) && (s[i] == ',' || isOWS(s[i])) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTchar(s[i]) {
			i++
		}
		key := s[start:i]
		if key == "" {
			return p, fmt.Errorf("%w: expected a parameter name at byte %d", ErrMalformedSignature, i)
		}
		for i < len(s) && isOWS(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return p, fmt.Errorf("%w: parameter %q has no value", ErrMalformedSignature, truncate(key))
		}
		i++
		for i < len(s) && isOWS(s[i]) {
			i++
		}
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return p, fmt.Errorf("%w: unterminated quoted value of %q", ErrMalformedSignature, truncate(key))
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && s[i] != ',' && !isOWS(s[i]) {
				i++
			}
			val = s[start:i]
		}
		for i < len(s) && isOWS(s[i]) {
			i++
		}
		if i < len(s) && s[i] != ',' {
			return p, fmt.Errorf("%w: unexpected %q after parameter %q", ErrMalformedSignature, s[i], truncate(key))
		}

		switch key {
		case "keyId", "algorithm", "headers", "signature", "created", "expires":
			if seen[key] {
				return p, fmt.Errorf("%w: parameter %q repeated", ErrMalformedSignature, key)
			}
			seen[key] = true
		}
		var err error
		switch key {
		case "keyId":
			p.keyID = val
		case "algorithm":
			p.algorithm = strings.ToLower(val)
		case "headers":
			p.headers = strings.Fields(strings.ToLower(val))
			p.hasHeaders = true
		case "signature":
			p.signature = val
		case "created":
			p.createdRaw = val
			p.created, err = parseUnixTime(val)
			p.hasCreated = true
		case "expires":
			p.expiresRaw = val
			p.expires, err = parseUnixTime(val)
			p.hasExpires = true
		}
		if err != nil {
			return p, fmt.Errorf("%w: %s: %w", ErrMalformedSignature, key, err)
		}
	}
	switch {
	case p.keyID == "":
		return p, fmt.Errorf("%w: no keyId", ErrMalformedSignature)
	case p.signature == "":
		return p, fmt.Errorf("%w: no signature", ErrMalformedSignature)
	case p.hasHeaders && len(p.headers) == 0:
		return p, fmt.Errorf("%w: empty headers list", ErrMalformedSignature)
	case len(p.headers) > maxSignedHeaders:
		return p, fmt.Errorf("%w: more than %d signed headers", ErrMalformedSignature, maxSignedHeaders)
	}
	return p, nil
}

// parseUnixTime reads a Unix time as draft-cavage-12 writes created and
// expires: an integer, for expires possibly with a decimal fraction, which
// is dropped.
func parseUnixTime(s string) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(whole) > 12 || !isDigits(whole) || (frac != "" && !isDigits(frac)) {
		return 0, fmt.Errorf("%q is not a Unix time", truncate(s))
	}
	return strconv.ParseInt(whole, 10, 64)
}

// checkCoverage enforces the headers a signature must cover: what every
// fediverse server signs, (request-target) and host, so a signature cannot be
// replayed against another path or host, and date or (created) so it ages.
func checkCoverage(p sigParams, alg string, headers []string, signed map[string]bool) error {
	for _, h := range headers {
		switch {
		case h == pseudoRequestTarget:
		case h == pseudoCreated || h == pseudoExpires:
			// draft-cavage-12 §2.3: they MUST be rejected with
			// rsa-*, hmac-* and ecdsa-* algorithms; Mastodon does so.
			if alg != algHS2019 {
				return fmt.Errorf("%w: %s may not be signed with algorithm %s", ErrMalformedSignature, h, alg)
			}
			if (h == pseudoCreated && !p.hasCreated) || (h == pseudoExpires && !p.hasExpires) {
				return fmt.Errorf("%w: %s is signed but its parameter is missing", ErrMalformedSignature, h)
			}
		case strings.HasPrefix(h, "("):
			return fmt.Errorf("%w: unknown pseudo-header %q", ErrMalformedSignature, truncate(h))
		}
	}
	var missing []string
	if !signed[pseudoRequestTarget] {
		missing = append(missing, pseudoRequestTarget)
	}
	if !signed["host"] {
		missing = append(missing, "host")
	}
	if !signed["date"] && !signed[pseudoCreated] {
		missing = append(missing, "date")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (signed: %s)", ErrHeadersNotSigned, strings.Join(missing, ", "), truncate(strings.Join(headers, " ")))
	}
	return nil
}

// checkSignatureTime applies Mastodon's window (signed_request.rb,
// matches_time_window?): created is (created) or else Date; expires is
// (expires) or else created+5min, capped at created+12h; reject when created
// is more than an hour ahead of now or now is more than an hour past expires.
func checkSignatureTime(h http.Header, p sigParams, signed map[string]bool, now time.Time) (time.Time, error) {
	var created time.Time
	if signed[pseudoCreated] {
		created = time.Unix(p.created, 0).UTC()
	} else {
		d := h.Get("Date")
		if d == "" {
			return time.Time{}, fmt.Errorf("%w: date is signed but there is no Date header", ErrMalformedSignature)
		}
		t, err := http.ParseTime(d)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: Date %q is not an HTTP date", ErrDateSkew, truncate(d))
		}
		created = t.UTC()
	}
	expires := created.Add(signatureDefaultLifetime)
	if signed[pseudoExpires] {
		expires = time.Unix(p.expires, 0).UTC()
	}
	if limit := created.Add(signatureMaxLifetime); expires.After(limit) {
		expires = limit
	}
	if created.After(now.Add(signatureClockSkew)) {
		return time.Time{}, fmt.Errorf("%w: signed at %s, more than %s ahead of our clock (%s)",
			ErrDateSkew, created.Format(http.TimeFormat), signatureClockSkew, now.UTC().Format(http.TimeFormat))
	}
	if now.After(expires.Add(signatureClockSkew)) {
		return time.Time{}, fmt.Errorf("%w: signed at %s, expired at %s; our clock says %s (re-sign each attempt)",
			ErrDateSkew, created.Format(http.TimeFormat), expires.Format(http.TimeFormat), now.UTC().Format(http.TimeFormat))
	}
	return created, nil
}

// signingStrings builds the string the sender signed, following headers=
// exactly: first with the query in (request-target), then, when there is a
// query, without it (Mastodon and GoToSocial accept both).
func signingStrings(r *http.Request, p sigParams, headers []string) ([]string, error) {
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	targets := []string{path}
	if r.URL.RawQuery != "" {
		targets = []string{path + "?" + r.URL.RawQuery, path}
	}
	out := make([]string, 0, len(targets))
	for _, target := range targets {
		var b strings.Builder
		for i, h := range headers {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(h)
			b.WriteString(": ")
			switch h {
			case pseudoRequestTarget:
				b.WriteString(strings.ToLower(r.Method))
				b.WriteByte(' ')
				b.WriteString(target)
			case pseudoCreated:
				b.WriteString(p.createdRaw)
			case pseudoExpires:
				b.WriteString(p.expiresRaw)
			default:
				vals := r.Header.Values(h)
				if h == "host" && len(vals) == 0 && r.Host != "" {
					// Go's server moves Host out of the header map.
					vals = []string{r.Host}
				}
				if len(vals) == 0 {
					return nil, fmt.Errorf("%w: signed header %q is not in the request", ErrMalformedSignature, truncate(h))
				}
				for j, v := range vals {
					if j > 0 {
						b.WriteString(", ")
					}
					b.WriteString(strings.TrimSpace(v))
				}
			}
		}
		out = append(out, b.String())
	}
	return out, nil
}

// verifyWithKey checks sig over any of the candidate signing strings. With an
// RSA key both labels mean RSASSA-PKCS1-v1_5 with SHA-256: hs2019 derives the
// algorithm from the key, and that is what Mastodon and GoToSocial compute.
func verifyWithKey(key crypto.PublicKey, alg string, candidates []string, sig []byte) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil {
			return fmt.Errorf("%w: the resolver returned no key", ErrKeyFetch)
		}
		for _, s := range candidates {
			sum := sha256.Sum256([]byte(s))
			if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
				return nil
			}
		}
		return ErrBadSignature
	case ed25519.PublicKey:
		if alg != algHS2019 {
			return fmt.Errorf("%w: an Ed25519 key needs algorithm hs2019, not %s", ErrBadSignature, alg)
		}
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", ErrBadSignature, len(k))
		}
		for _, s := range candidates {
			if ed25519.Verify(k, []byte(s), sig) {
				return nil
			}
		}
		return ErrBadSignature
	case nil:
		return fmt.Errorf("%w: the resolver returned no key", ErrKeyFetch)
	default:
		return fmt.Errorf("%w: cannot verify with a %T key", ErrUnsupportedAlgorithm, key)
	}
}

// isTchar reports whether c may appear in an RFC 9110 token.
func isTchar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}
