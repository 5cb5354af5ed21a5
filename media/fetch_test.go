package media

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aistagram/aistagram/federation"
)

// loopbackClient is the real SSRF-safe client, allowed to reach the
// httptest servers on 127.0.0.1.
func loopbackClient() *http.Client {
	return federation.NewSafeClient(federation.SafeClientOptions{AllowPrivate: true})
}

// waitOrGone blocks until the client goes away (or a test-sized while),
// so a "slow" server never outlives its test.
func waitOrGone(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
}

func TestFetch(t *testing.T) {
	const limit = 1 << 10
	body := strings.Repeat("x", limit)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "image/*" || r.Header.Get("User-Agent") != "Aistagram-test/1" {
			http.Error(w, "bad headers: "+fmt.Sprint(r.Header), http.StatusBadRequest)
			return
		}
		w.Write([]byte(body))
	})
	for _, code := range []int{403, 404, 410, 408, 429, 500, 502, 503} {
		mux.HandleFunc("/status/"+strconv.Itoa(code), func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		})
	}
	mux.HandleFunc("/announced-too-large", func(w http.ResponseWriter, r *http.Request) {
		// Announce more than the limit, send nothing, and hang: only a
		// Fetch that trusts Content-Length returns quickly.
		w.Header().Set("Content-Length", strconv.Itoa(limit+1))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		waitOrGone(r)
	})
	mux.HandleFunc("/streamed-too-large", func(w http.ResponseWriter, r *http.Request) {
		// Chunked, no Content-Length: the limit is found by reading.
		for range limit/100 + 1 {
			w.Write([]byte(strings.Repeat("y", 100)))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/streamed-at-limit", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(body[:limit/2]))
		w.(http.Flusher).Flush()
		w.Write([]byte(body[limit/2:]))
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) { waitOrGone(r) })
	mux.HandleFunc("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("part of an image"))
		w.(http.Flusher).Flush()
		waitOrGone(r)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://files.example.org/cat.png", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(mux)
	closed.Close() // nothing listens there any more

	tests := []struct {
		name      string
		url       string
		timeout   time.Duration
		reason    string // "" for success
		temporary bool
	}{
		{"ok", srv.URL + "/ok", 0, "", false},
		{"at the limit, streamed", srv.URL + "/streamed-at-limit", 0, "", false},
		{"redirect followed", srv.URL + "/redirect", 0, "", false},
		{"403", srv.URL + "/status/403", 0, "the image URL answered HTTP 403", false},
		{"404", srv.URL + "/status/404", 0, "the image URL answered HTTP 404", false},
		{"410", srv.URL + "/status/410", 0, "the image URL answered HTTP 410", false},
		{"408", srv.URL + "/status/408", 0, "the image URL answered HTTP 408", true},
		{"429", srv.URL + "/status/429", 0, "the image URL answered HTTP 429", true},
		{"500", srv.URL + "/status/500", 0, "the image URL answered HTTP 500", true},
		{"502", srv.URL + "/status/502", 0, "the image URL answered HTTP 502", true},
		{"503", srv.URL + "/status/503", 0, "the image URL answered HTTP 503", true},
		{"too large by Content-Length", srv.URL + "/announced-too-large", 5 * time.Second, "the image is larger than 1 KiB", false},
		{"too large, streamed", srv.URL + "/streamed-too-large", 0, "the image is larger than 1 KiB", false},
		{"slow headers", srv.URL + "/slow-headers", 200 * time.Millisecond, "timed out fetching the image", true},
		{"slow body", srv.URL + "/slow-body", 200 * time.Millisecond, "timed out fetching the image", true},
		{"redirect loop", srv.URL + "/loop", 0, "the image URL redirected too many times", false},
		{"redirect to ftp", srv.URL + "/to-ftp", 0, "the image URL redirected to a URL that is not http or https", false},
		{"nothing listening", closed.URL + "/ok", 0, "could not download the image from its server", true},
		{"ftp URL", "ftp://files.example.org/cat.png", 0, "the image URL is not an http or https URL", false},
		{"no host", "http:///cat.png", 0, "the image URL is not an http or https URL", false},
		{"not a URL", "cat.png", 0, "the image URL is not an http or https URL", false},
		{"unparseable", "http://[::1", 0, "the image URL is not an http or https URL", false},
	}
	client := loopbackClient()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			data, err := Fetch(ctx, client, "Aistagram-test/1", tt.url, limit)
			if tt.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != body {
					t.Fatalf("got %d bytes, want the %d sent", len(data), len(body))
				}
				return
			}
			var fe *FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("Fetch = %d bytes, %v; want a *FetchError", len(data), err)
			}
			if fe.Reason != tt.reason || fe.Temporary != tt.temporary {
				t.Errorf("got %q temporary=%v, want %q temporary=%v (%v)", fe.Reason, fe.Temporary, tt.reason, tt.temporary, err)
			}
			if strings.Contains(fe.Reason, "127.0.0.1") {
				t.Errorf("Reason %q shows an internal address", fe.Reason)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %v", elapsed)
			}
		})
	}
}

// TestFetchRefusesPrivateAddresses uses the client as production builds
// it: a loopback URL is refused at connect time, with a reason that does
// not say which address.
func TestFetchRefusesPrivateAddresses(t *testing.T) {
	var hit atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	t.Cleanup(srv.Close)
	client := federation.NewSafeClient(federation.SafeClientOptions{})

	for _, u := range []string{srv.URL + "/cat.png", "http://localhost/cat.png"} {
		_, err := Fetch(t.Context(), client, "", u, 1<<20)
		var fe *FetchError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: Fetch = %v, want a *FetchError", u, err)
		}
		if fe.Reason != "the image URL points at a private or local address" || fe.Temporary {
			t.Errorf("%s: got %q temporary=%v", u, fe.Reason, fe.Temporary)
		}
		var fae *federation.ForbiddenAddressError
		if !errors.As(err, &fae) || !errors.Is(err, federation.ErrForbiddenAddress) {
			t.Errorf("%s: the cause is not kept: %v", u, err)
		}
	}
	if hit.Load() {
		t.Error("the loopback server was reached")
	}
}

// TestFetchThenProcessSniffs: a PNG served as "cat.jpg" with a JPEG
// Content-Type is a PNG.
func TestFetchThenProcessSniffs(t *testing.T) {
	png := encodePNG(t, noisyImage(40, 30, 11))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(png)
	}))
	t.Cleanup(srv.Close)
	data, err := Fetch(t.Context(), loopbackClient(), "", srv.URL+"/cat.jpg", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Process(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Mime != "image/png" || img.Width != 40 || img.Height != 30 {
		t.Errorf("got %s %dx%d, want image/png 40x30", img.Mime, img.Width, img.Height)
	}
}

func TestFetchErrorText(t *testing.T) {
	cause := errors.New("dial tcp 10.0.0.1:80: refused")
	e := &FetchError{Reason: "could not download the image from its server", Temporary: true, Err: cause}
	if !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	if got := e.Error(); !strings.Contains(got, e.Reason) || !strings.Contains(got, cause.Error()) {
		t.Errorf("Error() = %q, want the reason and, for logs, the cause", got)
	}
	for n, want := range map[int64]string{16 << 20: "16 MiB", 1536 << 10: "1.5 MiB", 512 << 10: "512 KiB", 1000: "1000 bytes"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
