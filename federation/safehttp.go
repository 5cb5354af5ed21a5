package federation

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Errors of the safe HTTP client. They reach callers wrapped in *url.Error;
// match them with errors.Is (and errors.As for *ForbiddenAddressError).
var (
	// ErrForbiddenAddress: the destination is loopback, private, link-local
	// or otherwise not on the public internet (see ForbiddenAddressError).
	ErrForbiddenAddress = errors.New("destination is not a public internet address")
	// ErrBadScheme: a URL, or a redirect, is not http or https.
	ErrBadScheme = errors.New("only http and https URLs may be fetched")
	// ErrTooManyRedirects: more redirects than SafeClientOptions.MaxRedirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrTooLarge: a response body is longer than allowed.
	ErrTooLarge = errors.New("response body too large")
)

// Defaults of SafeClientOptions: Mastodon's (app/lib/request.rb) connect and
// read timeouts, 3 redirects as it follows, and the media size limit.
const (
	DefaultConnectTimeout        = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 5 * time.Second
	DefaultResponseHeaderTimeout = 10 * time.Second
	DefaultTotalTimeout          = 30 * time.Second
	DefaultMaxRedirects          = 3
	DefaultMaxBodyBytes          = 16 << 20
	DefaultUserAgent             = "Aistagram"
)

// ForbiddenAddressError says which destination was refused and why. Host is
// set when a name was refused before any lookup (such as "localhost"); Addr
// when a resolved address was refused at connect time.
type ForbiddenAddressError struct {
	Host   string
	Addr   netip.Addr
	Reason string
}

func (e *ForbiddenAddressError) Error() string {
	if e.Addr.IsValid() {
		return fmt.Sprintf("refusing to connect to %s (%s): %v", e.Addr, e.Reason, ErrForbiddenAddress)
	}
	return fmt.Sprintf("refusing to connect to %q (%s): %v", e.Host, e.Reason, ErrForbiddenAddress)
}

// Unwrap makes errors.Is(err, ErrForbiddenAddress) true.
func (e *ForbiddenAddressError) Unwrap() error { return ErrForbiddenAddress }

// SafeClientOptions configure NewSafeClient. Zero values mean the defaults.
type SafeClientOptions struct {
	// AllowPrivate lets the client reach loopback, private and other
	// non-public addresses (AISTAGRAM_ALLOW_PRIVATE_ADDRESSES), for tests and
	// labs, like Mastodon's ALLOWED_PRIVATE_ADDRESSES.
	AllowPrivate bool
	// UserAgent is sent on every request that has none, redirects
	// included, e.g. "Aistagram/0.1 (+https://aistagram.example/)".
	UserAgent string
	// ConnectTimeout bounds DNS resolution plus TCP connect.
	ConnectTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for response headers after the
	// request is written.
	ResponseHeaderTimeout time.Duration
	// Timeout bounds the whole exchange, body reading included.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed (default 3). Negative
	// follows none: the 3xx response itself is returned, for callers that
	// re-sign and follow by hand.
	MaxRedirects int
	// MaxBodyBytes caps every response body, after decompression: reading
	// past it fails with ErrTooLarge, and a larger Content-Length fails the
	// request at once. ReadLimited applies a tighter cap per call.
	MaxBodyBytes int64
}

func (o SafeClientOptions) withDefaults() SafeClientOptions {
	if o.UserAgent == "" {
		o.UserAgent = DefaultUserAgent
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.TLSHandshakeTimeout <= 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if o.ResponseHeaderTimeout <= 0 {
		o.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTotalTimeout
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = DefaultMaxRedirects
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return o
}

// NewSafeClient returns the HTTP client every outbound request goes through
// (deliveries, actor and key fetches, WebFinger, media): remote servers hand
// us URLs, and without these checks a crafted actor or image URL would make
// us probe our own network or the cloud metadata service (SSRF).
//
//   - Only http and https, on the first request and on every redirect.
//   - Destinations are checked at connect time, on the resolved IP, in
//     net.Dialer.Control, so a DNS answer that changes between a check and
//     the connection (rebinding) cannot slip through. Names that are local by
//     definition ("localhost", *.local, …) are refused before any lookup, for
//     a clearer error.
//   - Proxies from the environment are never used: through a proxy we would
//     dial the proxy, not the destination, and the address check would see
//     only the proxy's address.
//   - Timeouts and the redirect limit are Mastodon's; every response body is
//     capped at MaxBodyBytes.
//
// The client is safe for concurrent use and pools connections; make one per
// process (or per configuration) and share it.
func NewSafeClient(opts SafeClientOptions) *http.Client {
	return newSafeClient(opts, newAddressPolicy().checker(opts.AllowPrivate))
}

// newSafeClient is NewSafeClient with the address check injected, so tests
// can allow one loopback address and forbid another.
func newSafeClient(opts SafeClientOptions, allowAddr func(netip.Addr) error) *http.Client {
	opts = opts.withDefaults()
	dialer := &net.Dialer{
		Timeout:   opts.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: unparseable dial address %q", ErrForbiddenAddress, address)
			}
			return allowAddr(ap.Addr())
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // never from the environment: see NewSafeClient
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   opts.TLSHandshakeTimeout,
		ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		// A fan-out to one big server without a shared inbox keeps
		// dozens of requests to it in flight; with fewer idle
		// connections kept, each one past them was dialled anew.
		MaxIdleConnsPerHost:    64,
		MaxResponseHeaderBytes: 256 << 10,
	}
	return &http.Client{
		Transport: &safeTransport{
			next:         transport,
			userAgent:    opts.UserAgent,
			maxBody:      opts.MaxBodyBytes,
			allowPrivate: opts.AllowPrivate,
		},
		Timeout: opts.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if opts.MaxRedirects < 0 {
				return http.ErrUseLastResponse
			}
			if len(via) > opts.MaxRedirects {
				return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, opts.MaxRedirects)
			}
			if err := checkOutboundURL(req.URL, opts.AllowPrivate); err != nil {
				return err
			}
			// A draft-cavage signature covers the original host and
			// path, so it cannot be valid for the new target; do not hand
			// it to a third party.
			req.Header.Del("Signature")
			if scheme, _, _ := strings.Cut(req.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Signature") {
				req.Header.Del("Authorization")
			}
			return nil
		},
	}
}

// safeTransport checks each request's URL, sets the User-Agent and caps the
// response body before handing over to the real transport. The http.Client
// sends redirects through it too.
type safeTransport struct {
	next         http.RoundTripper
	userAgent    string
	maxBody      int64
	allowPrivate bool
}

func (t *safeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkOutboundURL(req.URL, t.allowPrivate); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("User-Agent") == "" {
		req = req.Clone(req.Context()) // a RoundTripper must not modify its request
		req.Header.Set("User-Agent", t.userAgent)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.maxBody {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, t.maxBody)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.maxBody, limit: t.maxBody}
	return resp, nil
}

// limitedBody fails with ErrTooLarge instead of silently truncating, so a
// caller using io.ReadAll cannot mistake a cut-off document for a whole one.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64 // bytes still allowed; -1 once the limit was passed
	limit int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.limit)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte more tells "exactly at the limit" from "over"
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, b.limit)
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// ReadLimited reads resp.Body whole, failing with ErrTooLarge when it is
// longer than limit bytes (for example 1 MiB for ActivityPub JSON, Mastodon's
// MAX_JSON_SIZE). The caller still closes the body.
func ReadLimited(resp *http.Response, limit int64) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, limit %d", ErrTooLarge, resp.ContentLength, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// checkOutboundURL refuses non-http(s) schemes and, unless allowPrivate,
// host names that are local by definition. IP literals are left to the
// connect-time check, which sees every address actually dialed.
func checkOutboundURL(u *url.URL, allowPrivate bool) error {
	if u == nil {
		return fmt.Errorf("%w: no URL", ErrBadScheme)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return fmt.Errorf("%w: %q", ErrBadScheme, u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return &ForbiddenAddressError{Host: host, Reason: "no host in URL"}
	}
	if reason := reservedNameReason(host); reason != "" {
		// Refused even with allowPrivate: these names never resolve, so
		// asking a resolver about them only leaks them.
		return &ForbiddenAddressError{Host: host, Reason: reason}
	}
	if allowPrivate {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if reason := localNameReason(host); reason != "" {
		return &ForbiddenAddressError{Host: host, Reason: reason}
	}
	return nil
}

// reservedNameReason refuses the top-level domains reserved so that they
// never exist (RFC 2606, RFC 6761): .test, .example and .invalid.
func reservedNameReason(host string) string {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, tld := range []string{".test", ".example", ".invalid"} {
		if strings.HasSuffix(name, tld) || name == tld[1:] {
			return "reserved name that never resolves (RFC 2606)"
		}
	}
	return ""
}

// localNameReason says why a host name can only be local, or "".
func localNameReason(host string) string {
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	switch {
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return "localhost name (RFC 6761)"
	case strings.HasSuffix(name, ".local"):
		return "multicast DNS name (.local)"
	case strings.HasSuffix(name, ".localdomain"),
		strings.HasSuffix(name, ".internal"),
		strings.HasSuffix(name, ".home.arpa"):
		return "private-use name"
	case !strings.Contains(name, "."):
		// Single-label names (docker's "redis", "postgres") are never
		// public fediverse hosts.
		return "single-label host name"
	}
	return ""
}

// namedPrefix is an address range we refuse and why.
type namedPrefix struct {
	prefix netip.Prefix
	reason string
}

// addressPolicy classifies destination addresses. Its tables are built by
// newAddressPolicy, not kept in package variables, so nothing can change them.
type addressPolicy struct {
	v4     []namedPrefix
	v6     []namedPrefix
	nat64  netip.Prefix // 64:ff9b::/96, embeds an IPv4 address
	global netip.Prefix // 2000::/3, the only allocated IPv6 unicast space
}

func newAddressPolicy() *addressPolicy {
	p := func(s, reason string) namedPrefix {
		return namedPrefix{prefix: netip.MustParsePrefix(s), reason: reason}
	}
	return &addressPolicy{
		v4: []namedPrefix{
			p("0.0.0.0/8", "this-network"),
			p("10.0.0.0/8", "private (RFC 1918)"),
			p("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
			p("127.0.0.0/8", "loopback"),
			p("169.254.0.0/16", "link-local, includes cloud metadata"),
			p("172.16.0.0/12", "private (RFC 1918)"),
			p("192.0.0.0/24", "IETF protocol assignments"),
			p("192.0.2.0/24", "documentation"),
			p("192.88.99.0/24", "6to4 relay anycast"),
			p("192.168.0.0/16", "private (RFC 1918)"),
			p("198.18.0.0/15", "benchmarking"),
			p("198.51.100.0/24", "documentation"),
			p("203.0.113.0/24", "documentation"),
			p("224.0.0.0/4", "multicast"),
			p("240.0.0.0/4", "reserved, includes broadcast"),
		},
		v6: []namedPrefix{
			p("::/128", "unspecified"),
			p("::1/128", "loopback"),
			p("::/96", "IPv4-compatible (deprecated)"),
			p("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
			p("100::/64", "discard-only"),
			p("2001::/23", "IETF protocol assignments, includes Teredo"),
			p("2001:db8::/32", "documentation"),
			p("2002::/16", "6to4, embeds an IPv4 address"),
			p("3fff::/20", "documentation"),
			p("fc00::/7", "unique local (private)"),
			p("fe80::/10", "link-local"),
			p("fec0::/10", "site-local (deprecated)"),
			p("ff00::/8", "multicast"),
		},
		nat64:  netip.MustParsePrefix("64:ff9b::/96"),
		global: netip.MustParsePrefix("2000::/3"),
	}
}

// checker returns the connect-time check: nil for an allowed address, a
// *ForbiddenAddressError otherwise. allowPrivate allows everything.
func (p *addressPolicy) checker(allowPrivate bool) func(netip.Addr) error {
	return func(a netip.Addr) error {
		if allowPrivate {
			return nil
		}
		if reason := p.forbidden(a); reason != "" {
			return &ForbiddenAddressError{Addr: a, Reason: reason}
		}
		return nil
	}
}

// forbidden says why a is not a public internet address, or "".
// IPv4-mapped IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address, and
// NAT64 (64:ff9b::a00:1) as the IPv4 address it embeds.
func (p *addressPolicy) forbidden(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid address"
	}
	if a.Zone() != "" {
		return "scoped (zoned) address"
	}
	a = a.Unmap()
	if a.Is4() {
		for _, np := range p.v4 {
			if np.prefix.Contains(a) {
				return np.reason
			}
		}
		return ""
	}
	for _, np := range p.v6 {
		if np.prefix.Contains(a) {
			return np.reason
		}
	}
	if p.nat64.Contains(a) {
		b := a.As16()
		if reason := p.forbidden(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); reason != "" {
			return "NAT64 of a " + reason + " address"
		}
		return ""
	}
	if !p.global.Contains(a) {
		return "not global unicast IPv6"
	}
	return ""
}
