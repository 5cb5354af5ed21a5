package federation

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAddressPolicy(t *testing.T) {
	p := newAddressPolicy()
	cases := []struct {
		addr    string
		allowed bool
	}{
		// public
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"2001:4860::8888", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"172.32.0.1", true},       // just outside 172.16/12
		{"100.128.0.1", true},      // just outside 100.64/10
		{"11.0.0.1", true},
		// IPv4 special ranges
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"100.64.1.1", false},
		{"100.127.255.254", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false}, // cloud metadata
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.170", false},
		{"192.0.2.1", false},
		{"192.168.1.1", false},
		{"198.18.0.1", false},
		{"198.51.100.7", false},
		{"203.0.113.9", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		// IPv4 hidden in IPv6
		{"::ffff:127.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:10.1.2.3", false},
		{"::127.0.0.1", false},     // IPv4-compatible
		{"64:ff9b::a00:1", false},  // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", false}, // NAT64 of 127.0.0.1
		{"64:ff9b:1::a00:1", false},
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		// IPv6 special ranges
		{"::", false},
		{"::1", false},
		{"fd00::1", false},
		{"fc00::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"100::1", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"4000::1", false}, // unallocated
	}
	check := p.checker(false)
	allowAll := p.checker(true)
	for _, c := range cases {
		a := netip.MustParseAddr(c.addr)
		err := check(a)
		if c.allowed != (err == nil) {
			t.Errorf("%s: allowed=%v, err=%v", c.addr, c.allowed, err)
			continue
		}
		if err != nil {
			var fe *ForbiddenAddressError
			if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) || fe.Addr != a || fe.Reason == "" {
				t.Errorf("%s: error %v is not a proper ForbiddenAddressError", c.addr, err)
			}
		}
		if err := allowAll(a); err != nil {
			t.Errorf("%s refused with AllowPrivate: %v", c.addr, err)
		}
	}
}

// hitCounter is a loopback server that counts requests and records the
// User-Agent of each.
type hitCounter struct {
	mu  sync.Mutex
	uas []string
}

func (h *hitCounter) record(r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uas = append(h.uas, r.UserAgent())
}

func (h *hitCounter) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.uas...)
}

func TestSafeClientLoopback(t *testing.T) {
	var hits hitCounter
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.record(r)
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()

	t.Run("refused without AllowPrivate", func(t *testing.T) {
		_, err := NewSafeClient(SafeClientOptions{}).Get(srv.URL)
		var fe *ForbiddenAddressError
		if !errors.Is(err, ErrForbiddenAddress) || !errors.As(err, &fe) {
			t.Fatalf("got %v, want ErrForbiddenAddress", err)
		}
		if fe.Addr != netip.MustParseAddr("127.0.0.1") || fe.Reason != "loopback" {
			t.Errorf("refused %v (%s)", fe.Addr, fe.Reason)
		}
		if n := len(hits.seen()); n != 0 {
			t.Errorf("server got %d requests", n)
		}
		t.Logf("error text: %v", err)
	})
	t.Run("allowed with AllowPrivate, User-Agent set", func(t *testing.T) {
		client := NewSafeClient(SafeClientOptions{AllowPrivate: true, UserAgent: "Aistagram/1.0 (+https://a.example/)"})
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadLimited(resp, 10)
		resp.Body.Close()
		if err != nil || string(b) != "ok" {
			t.Fatalf("body %q, err %v", b, err)
		}
		// A caller's own User-Agent is kept.
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("User-Agent", "custom")
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The default User-Agent is ours, not Go's.
		resp, err = NewSafeClient(SafeClientOptions{AllowPrivate: true}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		want := []string{"Aistagram/1.0 (+https://a.example/)", "custom", DefaultUserAgent}
		if got := hits.seen(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("User-Agents %q, want %q", got, want)
		}
	})
	t.Run("localhost works with AllowPrivate", func(t *testing.T) {
		port := srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
		resp, err := NewSafeClient(SafeClientOptions{AllowPrivate: true}).Get("http://localhost:" + strconv.Itoa(int(port)) + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestSafeClientRefusedURLs(t *testing.T) {
	client := NewSafeClient(SafeClientOptions{})
	cases := []struct {
		url  string
		want error
	}{
		{"ftp://example.com/file", ErrBadScheme},
		{"file:///etc/passwd", ErrBadScheme},
		{"gopher://example.com/", ErrBadScheme},
		{"http://localhost:1/", ErrForbiddenAddress},
		{"http://LOCALHOST./", ErrForbiddenAddress},
		{"http://api.localhost/", ErrForbiddenAddress},
		{"http://printer.local/", ErrForbiddenAddress},
		{"http://metadata.google.internal/computeMetadata/v1/", ErrForbiddenAddress},
		{"http://router.home.arpa/", ErrForbiddenAddress},
		{"http://redis:6379/", ErrForbiddenAddress},
	}
	for _, c := range cases {
		resp, err := client.Get(c.url)
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.url, err, c.want)
		}
	}
}

// TestSafeClientRedirects runs with an address check that allows only
// 127.0.0.1, so the loopback server stands in for a public host and
// 127.0.0.2 for a forbidden one (refused before any packet is sent).
func TestSafeClientRedirects(t *testing.T) {
	var hits hitCounter
	var sigMu sync.Mutex
	var sigSeen []string
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.record(r)
		sigMu.Lock()
		sigSeen = append(sigSeen, r.Header.Get("Signature"))
		sigMu.Unlock()
		port := strings.TrimPrefix(srv.URL, "http://127.0.0.1:")
		switch {
		case r.URL.Path == "/to-forbidden":
			http.Redirect(w, r, "http://127.0.0.2:"+port+"/ok", http.StatusFound)
		case r.URL.Path == "/to-metadata":
			http.Redirect(w, r, "http://[::ffff:169.254.169.254]/latest/meta-data/", http.StatusFound)
		case r.URL.Path == "/to-ftp":
			http.Redirect(w, r, "ftp://127.0.0.1/x", http.StatusFound)
		case r.URL.Path == "/to-localhost":
			http.Redirect(w, r, "http://localhost:"+port+"/ok", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/hops/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hops/"))
			if n == 0 {
				fmt.Fprint(w, "done")
				return
			}
			http.Redirect(w, r, "/hops/"+strconv.Itoa(n-1), http.StatusFound)
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	defer srv.Close()
	policy := newAddressPolicy().checker(false)
	onlyLoopback1 := func(a netip.Addr) error {
		if a == netip.MustParseAddr("127.0.0.1") {
			return nil
		}
		return policy(a)
	}
	client := newSafeClient(SafeClientOptions{UserAgent: "UA/1"}, onlyLoopback1)

	for _, c := range []struct {
		path string
		want error
		addr string
	}{
		{"/to-forbidden", ErrForbiddenAddress, "127.0.0.2"},
		{"/to-metadata", ErrForbiddenAddress, "::ffff:169.254.169.254"},
		{"/to-ftp", ErrBadScheme, ""},
		{"/to-localhost", ErrForbiddenAddress, ""},
		{"/hops/4", ErrTooManyRedirects, ""},
	} {
		t.Run(c.path, func(t *testing.T) {
			resp, err := client.Get(srv.URL + c.path)
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			var fe *ForbiddenAddressError
			if c.addr != "" && (!errors.As(err, &fe) || fe.Addr.Unmap() != netip.MustParseAddr(c.addr).Unmap()) {
				t.Errorf("refused address: %v", err)
			}
		})
	}

	t.Run("three hops are followed, each with the User-Agent, without the signature", func(t *testing.T) {
		before := len(hits.seen())
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/hops/3", nil)
		req.Header.Set("Signature", `keyId="k",signature="s"`)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadLimited(resp, 100)
		resp.Body.Close()
		if err != nil || string(b) != "done" {
			t.Fatalf("body %q, err %v", b, err)
		}
		uas := hits.seen()[before:]
		if len(uas) != 4 {
			t.Fatalf("%d requests, want 4", len(uas))
		}
		for _, ua := range uas {
			if ua != "UA/1" {
				t.Errorf("User-Agent %q on a hop", ua)
			}
		}
		sigMu.Lock()
		sigs := sigSeen[before:]
		sigMu.Unlock()
		if sigs[0] == "" || sigs[1] != "" || sigs[3] != "" {
			t.Errorf("signature on hops: %q", sigs)
		}
	})

	t.Run("negative MaxRedirects returns the redirect", func(t *testing.T) {
		c := newSafeClient(SafeClientOptions{MaxRedirects: -1}, onlyLoopback1)
		resp, err := c.Get(srv.URL + "/hops/1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestSafeClientBodyLimits(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := strings.Repeat("x", 100)
		for n > 0 {
			k := min(n, len(chunk))
			io.WriteString(w, chunk[:k])
			w.(http.Flusher).Flush()
			n -= k
		}
	}))
	defer srv.Close()
	client := NewSafeClient(SafeClientOptions{AllowPrivate: true, MaxBodyBytes: 1024})
	get := func(t *testing.T, q string) (*http.Response, error) {
		t.Helper()
		return client.Get(srv.URL + "/?" + q)
	}

	t.Run("announced too large", func(t *testing.T) {
		resp, err := get(t, "n=2048")
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("streamed too large", func(t *testing.T) {
		resp, err := get(t, "n=2048&chunked=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("exactly at the limit", func(t *testing.T) {
		resp, err := get(t, "n=1024&chunked=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := ReadLimited(resp, 1024)
		if err != nil || len(b) != 1024 {
			t.Fatalf("%d bytes, %v", len(b), err)
		}
	})
	t.Run("ReadLimited tighter than the client", func(t *testing.T) {
		for _, q := range []string{"n=500", "n=500&chunked=1"} {
			resp, err := get(t, q)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ReadLimited(resp, 499)
			resp.Body.Close()
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("%s: got %v", q, err)
			}
		}
	})
}

func TestSafeClientTimeoutsAndProxy(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	client := NewSafeClient(SafeClientOptions{AllowPrivate: true, ResponseHeaderTimeout: 100 * time.Millisecond})
	start := time.Now()
	resp, err := client.Get(srv.URL)
	if err == nil {
		resp.Body.Close()
		t.Fatal("no timeout")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed out after %s", d)
	}

	// Defaults are Mastodon's, and proxies are never taken from the
	// environment.
	c := NewSafeClient(SafeClientOptions{})
	tr := c.Transport.(*safeTransport).next.(*http.Transport)
	if tr.Proxy != nil {
		t.Error("transport uses a proxy")
	}
	if c.Timeout != 30*time.Second || tr.TLSHandshakeTimeout != 5*time.Second || tr.ResponseHeaderTimeout != 10*time.Second {
		t.Errorf("timeouts %s %s %s", c.Timeout, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
}
