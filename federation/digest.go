package federation

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// digestHeader is the value of the legacy Digest header (RFC 3230) for body:
// "SHA-256=" and the base64 SHA-256 of the exact bytes sent. Mastodon accepts
// only SHA-256 and Misskey only the exact "SHA-256" spelling, so this is the
// one form we send.
func digestHeader(body []byte) string {
	sum := sha256.Sum256(body)
	return "SHA-256=" + base64.StdEncoding.EncodeToString(sum[:])
}

// digestSum computes the digest named alg (case-insensitive) over body. ok is
// false for algorithms we do not check; MD5 and SHA-1 are deliberately
// unknown, as at Mastodon.
func digestSum(alg string, body []byte) (sum []byte, ok bool) {
	switch strings.ToLower(alg) {
	case "sha-256":
		s := sha256.Sum256(body)
		return s[:], true
	case "sha-512":
		s := sha512.Sum512(body)
		return s[:], true
	}
	return nil, false
}

// checkLegacyDigest verifies a Digest header value (RFC 3230): a
// comma-separated list of alg=base64. Every known algorithm listed must match
// the body, and at least one must be known. Mastodon accepts the same list
// form and case-insensitive names (signed_request.rb, verify_body_digest!).
func checkLegacyDigest(value string, body []byte) error {
	known := 0
	for _, member := range strings.Split(value, ",") {
		member = strings.TrimSpace(member)
		if member == "" {
			continue
		}
		alg, b64, found := strings.Cut(member, "=")
		if !found {
			return fmt.Errorf("%w: malformed Digest member %q", ErrDigestMismatch, truncate(member))
		}
		want, ok := digestSum(strings.TrimSpace(alg), body)
		if !ok {
			continue
		}
		known++
		got, err := decodeBase64(strings.TrimSpace(b64))
		if err != nil {
			return fmt.Errorf("%w: Digest %s is not base64", ErrDigestMismatch, alg)
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return fmt.Errorf("%w: Digest %s does not match the body", ErrDigestMismatch, alg)
		}
	}
	if known == 0 {
		return fmt.Errorf("%w: Digest lists no SHA-256 or SHA-512 value", ErrDigestMismatch)
	}
	return nil
}

// checkContentDigest verifies an RFC 9530 Content-Digest value, a structured
// field dictionary such as `sha-256=:base64:, sha-512=:base64:`. Parameters
// after ';' are ignored. Rules as for checkLegacyDigest.
func checkContentDigest(value string, body []byte) error {
	known := 0
	for _, member := range strings.Split(value, ",") {
		member = strings.TrimSpace(member)
		if member == "" {
			continue
		}
		alg, rest, found := strings.Cut(member, "=")
		if !found {
			return fmt.Errorf("%w: malformed Content-Digest member %q", ErrDigestMismatch, truncate(member))
		}
		want, ok := digestSum(strings.TrimSpace(alg), body)
		if !ok {
			continue
		}
		known++
		item, _, _ := strings.Cut(strings.TrimSpace(rest), ";")
		if len(item) < 2 || item[0] != ':' || item[len(item)-1] != ':' {
			return fmt.Errorf("%w: Content-Digest %s is not a byte sequence", ErrDigestMismatch, alg)
		}
		got, err := decodeBase64(item[1 : len(item)-1])
		if err != nil {
			return fmt.Errorf("%w: Content-Digest %s is not base64", ErrDigestMismatch, alg)
		}
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return fmt.Errorf("%w: Content-Digest %s does not match the body", ErrDigestMismatch, alg)
		}
	}
	if known == 0 {
		return fmt.Errorf("%w: Content-Digest lists no sha-256 or sha-512 value", ErrDigestMismatch)
	}
	return nil
}

// checkBodyDigests verifies every digest header the request carries against
// body, and requires that at least one of them is covered by the signature
// when a body must be protected (any POST, or a non-empty body). A digest that
// is present but unsigned is still checked: an honest sender's always matches.
func checkBodyDigests(h http.Header, signed map[string]bool, body []byte, required bool) error {
	legacy := h.Values("Digest")
	modern := h.Values("Content-Digest")
	if len(legacy) > 0 {
		if err := checkLegacyDigest(strings.Join(legacy, ","), body); err != nil {
			return err
		}
	}
	if len(modern) > 0 {
		if err := checkContentDigest(strings.Join(modern, ","), body); err != nil {
			return err
		}
	}
	if !required {
		return nil
	}
	if len(legacy) == 0 && len(modern) == 0 {
		return fmt.Errorf("%w: a request with a body needs a Digest header (Mastodon requires it too)", ErrMissingDigest)
	}
	if (len(legacy) > 0 && signed["digest"]) || (len(modern) > 0 && signed["content-digest"]) {
		return nil
	}
	return fmt.Errorf("%w: the Digest header must be signed on a request with a body", ErrHeadersNotSigned)
}

// decodeBase64 accepts padded and unpadded standard base64.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// truncate shortens attacker-controlled text before it goes into an error.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
