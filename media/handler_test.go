package media

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			testHandler(t, b.open(t))
		})
	}
}

func testHandler(t *testing.T, st Storage) {
	data, key := testFile(t, 5000, ".png")
	put(t, st, key, data)
	orig, origKey := testFile(t, 100, ".jpg")
	put(t, st, "orig/"+origKey, orig)
	if d, ok := st.(*DiskStorage); ok {
		// A file beside the media root, which traversal would reach.
		if err := os.WriteFile(filepath.Join(filepath.Dir(d.root), "secret.jpg"), []byte("secret"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := st.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	modTime := f.ModTime()
	f.Close()

	srv := httptest.NewServer(Handler(st))
	t.Cleanup(srv.Close)

	type want struct {
		status  int
		body    []byte
		headers map[string]string
	}
	immutable := map[string]string{
		"Content-Type":            "image/png",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "public, max-age=31536000, immutable",
		"Content-Security-Policy": "default-src 'none'; sandbox",
	}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range immutable {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	notFound := want{http.StatusNotFound, []byte("not found\n"), map[string]string{"Content-Type": "text/plain; charset=utf-8"}}
	tests := []struct {
		name    string
		method  string
		path    string // raw: sent as is, never cleaned
		headers map[string]string
		want    want
	}{
		{"get", "GET", "/media/" + key, nil, want{200, data, with(map[string]string{
			"Content-Length": "5000", "Last-Modified": modTime.UTC().Format(http.TimeFormat), "Accept-Ranges": "bytes"})}},
		{"range", "GET", "/media/" + key, map[string]string{"Range": "bytes=100-199"},
			want{206, data[100:200], with(map[string]string{"Content-Range": "bytes 100-199/5000", "Content-Length": "100"})}},
		{"suffix range", "GET", "/media/" + key, map[string]string{"Range": "bytes=-10"},
			want{206, data[4990:], with(map[string]string{"Content-Range": "bytes 4990-4999/5000"})}},
		{"unsatisfiable range", "GET", "/media/" + key, map[string]string{"Range": "bytes=6000-"},
			want{416, nil, map[string]string{"Content-Range": "bytes */5000"}}},
		{"head", "HEAD", "/media/" + key, nil, want{200, []byte{}, with(map[string]string{"Content-Length": "5000"})}},
		{"not modified", "GET", "/media/" + key,
			map[string]string{"If-Modified-Since": modTime.Add(time.Minute).UTC().Format(http.TimeFormat)},
			want{304, []byte{}, map[string]string{"Cache-Control": "public, max-age=31536000, immutable"}}},
		{"modified", "GET", "/media/" + key,
			map[string]string{"If-Modified-Since": modTime.Add(-time.Hour).UTC().Format(http.TimeFormat)},
			want{200, data, immutable}},
		{"original refused", "GET", "/media/orig/" + origKey, nil, notFound},
		{"original refused on head", "HEAD", "/media/orig/" + origKey, nil,
			want{404, []byte{}, nil}},
		{"missing", "GET", "/media/" + key[:3] + "00.png", nil, notFound},
		{"traversal", "GET", "/media/../secret.jpg", nil, notFound},
		{"nested traversal", "GET", "/media/ab/../../secret.jpg", nil, notFound},
		{"encoded traversal", "GET", "/media/%2e%2e/secret.jpg", nil, notFound},
		{"encoded slash traversal", "GET", "/media/..%2fsecret.jpg", nil, notFound},
		{"absolute", "GET", "/media//etc/passwd", nil, notFound},
		{"not an image", "GET", "/media/ab/x.html", nil, notFound},
		{"uppercase", "GET", "/media/" + strings.ToUpper(key), nil, notFound},
		{"outside /media/", "GET", "/" + key, nil, notFound},
		{"media root", "GET", "/media/", nil, notFound},
		{"post", "POST", "/media/" + key, nil, want{405, []byte("method not allowed\n"), map[string]string{"Allow": "GET, HEAD"}}},
		{"delete", "DELETE", "/media/" + key, nil, want{405, nil, map[string]string{"Allow": "GET, HEAD"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			// Opaque keeps the path exactly as written: no client-side
			// cleaning or re-encoding.
			req.URL.Opaque = tt.path
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want.status {
				t.Errorf("%s %s: status %d, want %d (body %.100q)", tt.method, tt.path, resp.StatusCode, tt.want.status, body)
			}
			if tt.want.body != nil && !bytes.Equal(body, tt.want.body) {
				t.Errorf("%s %s: body %.100q (%d bytes), want %.100q (%d bytes)", tt.method, tt.path, body, len(body), tt.want.body, len(tt.want.body))
			}
			for k, v := range tt.want.headers {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %s: %s = %q, want %q", tt.method, tt.path, k, got, v)
				}
			}
			if resp.StatusCode >= 400 && resp.Header.Get("Cache-Control") != "" {
				t.Errorf("%s %s: error response cacheable: %q", tt.method, tt.path, resp.Header.Get("Cache-Control"))
			}
		})
	}
}
