package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

const testPublicBase = "https://aistagram.test"

// backend is one Storage implementation the shared suites run against.
type backend struct {
	name string
	// open returns a fresh, empty storage.
	open func(t *testing.T) Storage
	// urlPrefix is what URL(key) returns before the key.
	urlPrefix string
}

// backends lists every Storage: disk always works; S3 needs the server
// `make test` starts (see s3TestEnv). The S3 public-URL variant runs the
// whole suite again, as its URLs are the only difference.
func backends() []backend {
	return []backend{
		{"disk", openTestDisk, testPublicBase + "/media/"},
		{"s3", func(t *testing.T) Storage { return openTestS3(t, "") }, testPublicBase + "/media/"},
		{"s3-public-url", func(t *testing.T) Storage { return openTestS3(t, "https://cdn.aistagram.test/bucket/") }, "https://cdn.aistagram.test/bucket/"},
	}
}

func openTestDisk(t *testing.T) Storage {
	st, err := NewDiskStorage(t.TempDir(), testPublicBase+"/")
	if err != nil {
		t.Fatalf("NewDiskStorage: %v", err)
	}
	return st
}

// s3TestEnv returns the connection to the S3-compatible server (versitygw)
// that `make test` starts. Without it the test fails, unless
// AISTAGRAM_TEST_NO_S3=1 says to skip S3 on purpose.
func s3TestEnv(t *testing.T) S3Config {
	t.Helper()
	cfg := S3Config{
		Endpoint:        os.Getenv("AISTAGRAM_TEST_S3_ENDPOINT"),
		Region:          os.Getenv("AISTAGRAM_TEST_S3_REGION"),
		AccessKeyID:     os.Getenv("AISTAGRAM_TEST_S3_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("AISTAGRAM_TEST_S3_SECRET_ACCESS_KEY"),
	}
	if cfg.Endpoint == "" || cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		if os.Getenv("AISTAGRAM_TEST_NO_S3") == "1" {
			t.Skip("AISTAGRAM_TEST_NO_S3=1: skipping the S3 storage tests")
		}
		t.Fatal("AISTAGRAM_TEST_S3_ENDPOINT, AISTAGRAM_TEST_S3_ACCESS_KEY_ID and AISTAGRAM_TEST_S3_SECRET_ACCESS_KEY are not set: " +
			"run the tests through `make test`, which starts an S3 server (versitygw), or set AISTAGRAM_TEST_NO_S3=1 to skip them")
	}
	return cfg
}

// openTestS3 creates a uniquely named bucket, removed with its objects
// when the test ends, and an S3Storage on it.
func openTestS3(t *testing.T, publicURL string) Storage {
	t.Helper()
	cfg := s3TestEnv(t)
	cfg.Bucket = "aistagram-test-" + strings.ToLower(rand.Text()[:12])
	cfg.PublicURL = publicURL
	admin := testS3Client(t, cfg)
	ctx := t.Context()
	if err := admin.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
		t.Fatalf("create bucket %q at %s: %v", cfg.Bucket, cfg.Endpoint, err)
	}
	t.Cleanup(func() {
		// t.Context is done by now.
		ctx := context.Background()
		for obj := range admin.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				_ = admin.RemoveObject(ctx, cfg.Bucket, obj.Key, minio.RemoveObjectOptions{})
			}
		}
		if err := admin.RemoveBucket(ctx, cfg.Bucket); err != nil {
			t.Errorf("remove bucket %q: %v", cfg.Bucket, err)
		}
	})
	st, err := NewS3Storage(ctx, cfg, testPublicBase)
	if err != nil {
		t.Fatalf("NewS3Storage: %v", err)
	}
	return st
}

// testS3Client is a plain client for what production code must not do:
// create and remove buckets.
func testS3Client(t *testing.T, cfg S3Config) *minio.Client {
	t.Helper()
	host := strings.TrimPrefix(strings.TrimPrefix(cfg.Endpoint, "http://"), "https://")
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       strings.HasPrefix(cfg.Endpoint, "https://"),
		Region:       cfg.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatalf("S3 client: %v", err)
	}
	return c
}

// testFile returns n random bytes and their content-addressed key.
func testFile(t *testing.T, n int, ext string) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b, testKey(b, ext)
}

func testKey(b []byte, ext string) string {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	return h[:2] + "/" + h[2:] + ext
}

func put(t *testing.T, st Storage, key string, b []byte) {
	t.Helper()
	ct, _ := keyContentType(key)
	if err := st.Put(t.Context(), key, ct, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func readAll(t *testing.T, st Storage, key string) []byte {
	t.Helper()
	f, err := st.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b
}

func TestStorage(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			testStorage(t, b.open(t), b.urlPrefix)
		})
	}
}

// testStorage is the suite every Storage must pass.
func testStorage(t *testing.T, st Storage, urlPrefix string) {
	t.Run("PutOpen", func(t *testing.T) {
		types := []struct{ ext, contentType string }{
			{".jpg", "image/jpeg"}, {".png", "image/png"}, {".gif", "image/gif"}, {".webp", "image/webp"},
		}
		for _, tt := range types {
			data, key := testFile(t, 3000, tt.ext)
			// S3 keeps Last-Modified to the second.
			before := time.Now().Truncate(time.Second).Add(-time.Second)
			if err := st.Put(t.Context(), key, tt.contentType, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("Put(%q): %v", key, err)
			}
			after := time.Now().Add(time.Second)
			f, err := st.Open(t.Context(), key)
			if err != nil {
				t.Fatalf("Open(%q): %v", key, err)
			}
			if f.Size() != int64(len(data)) {
				t.Errorf("%s: Size = %d, want %d", key, f.Size(), len(data))
			}
			if f.ContentType() != tt.contentType {
				t.Errorf("%s: ContentType = %q, want %q", key, f.ContentType(), tt.contentType)
			}
			if mt := f.ModTime(); mt.Before(before) || mt.After(after) {
				t.Errorf("%s: ModTime = %v, want between %v and %v", key, mt, before, after)
			}
			got, err := io.ReadAll(f)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s: read %d bytes (%v), want the %d put", key, len(got), err, len(data))
			}
			if err := f.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})

	t.Run("EmptyContentTypeFollowsKey", func(t *testing.T) {
		data, key := testFile(t, 100, ".png")
		if err := st.Put(t.Context(), key, "", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatalf("Put: %v", err)
		}
		f, err := st.Open(t.Context(), key)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer f.Close()
		if f.ContentType() != "image/png" {
			t.Errorf("ContentType = %q", f.ContentType())
		}
	})

	t.Run("Seek", func(t *testing.T) {
		data, key := testFile(t, 10000, ".jpg")
		put(t, st, key, data)
		size := int64(len(data))
		tests := []struct {
			offset int64
			whence int
			n      int
			wantAt int64 // offset in data of the expected bytes
		}{
			{0, io.SeekStart, 10, 0},
			{4096, io.SeekStart, 100, 4096},
			{-10, io.SeekEnd, 10, size - 10},
			{0, io.SeekEnd, 0, size},
			{size - 1, io.SeekStart, 1, size - 1},
		}
		for _, tt := range tests {
			f, err := st.Open(t.Context(), key)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			pos, err := f.Seek(tt.offset, tt.whence)
			if err != nil || pos != tt.wantAt {
				t.Errorf("Seek(%d, %d) = %d, %v; want %d", tt.offset, tt.whence, pos, err, tt.wantAt)
			}
			got, err := io.ReadAll(io.LimitReader(f, int64(tt.n)))
			if err != nil || !bytes.Equal(got, data[tt.wantAt:tt.wantAt+int64(tt.n)]) {
				t.Errorf("after Seek(%d, %d): read %d bytes (%v), not data[%d:+%d]", tt.offset, tt.whence, len(got), err, tt.wantAt, tt.n)
			}
			f.Close()
		}

		// http.ServeContent's pattern: size from SeekEnd, back to the
		// start, then a range.
		f, err := st.Open(t.Context(), key)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer f.Close()
		if end, err := f.Seek(0, io.SeekEnd); err != nil || end != size {
			t.Fatalf("Seek(0, SeekEnd) = %d, %v", end, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			t.Fatalf("Seek(0, SeekStart): %v", err)
		}
		head := make([]byte, 50)
		if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, data[:50]) {
			t.Fatalf("first 50 bytes: %v", err)
		}
		if pos, err := f.Seek(1000, io.SeekCurrent); err != nil || pos != 1050 {
			t.Fatalf("Seek(1000, SeekCurrent) = %d, %v", pos, err)
		}
		mid := make([]byte, 50)
		if _, err := io.ReadFull(f, mid); err != nil || !bytes.Equal(mid, data[1050:1100]) {
			t.Fatalf("bytes 1050-1100: %v", err)
		}
	})

	t.Run("PutIsIdempotent", func(t *testing.T) {
		data, key := testFile(t, 500, ".jpg")
		put(t, st, key, data)
		put(t, st, key, data)
		// A key names its bytes, so a second Put is skipped, whatever it
		// carries.
		put(t, st, key, []byte("other bytes"))
		if got := readAll(t, st, key); !bytes.Equal(got, data) {
			t.Errorf("after three puts: %d bytes, want the first %d", len(got), len(data))
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		data, key := testFile(t, 200_000, ".webp")
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				errs <- st.Put(t.Context(), key, "image/webp", bytes.NewReader(data), int64(len(data)))
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent Put: %v", err)
			}
		}
		if got := readAll(t, st, key); !bytes.Equal(got, data) {
			t.Errorf("after concurrent puts: %d bytes, want %d", len(got), len(data))
		}
	})

	t.Run("ShortReaderStoresNothing", func(t *testing.T) {
		readers := []struct {
			name string
			r    func([]byte) io.Reader
		}{
			{"seekable", func(b []byte) io.Reader { return bytes.NewReader(b) }},
			{"stream", func(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }},
		}
		for _, tt := range readers {
			data, key := testFile(t, 1000, ".jpg")
			start := time.Now()
			err := st.Put(t.Context(), key, "image/jpeg", tt.r(data[:600]), int64(len(data)))
			if err == nil {
				t.Fatalf("%s: Put of 600 bytes claimed as 1000 succeeded", tt.name)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("%s: failing took %v: retried?", tt.name, d)
			}
			if _, err := st.Open(t.Context(), key); !errors.Is(err, ErrNotExist) {
				t.Errorf("%s: Open after a failed put = %v, want ErrNotExist", tt.name, err)
			}
		}
	})

	t.Run("Delete", func(t *testing.T) {
		data, key := testFile(t, 100, ".gif")
		put(t, st, key, data)
		if err := st.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := st.Open(t.Context(), key); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open after Delete = %v, want ErrNotExist", err)
		}
		if err := st.Delete(t.Context(), key); err != nil {
			t.Errorf("second Delete: %v", err)
		}
		// Deleted, it can be put again.
		put(t, st, key, data)
		if got := readAll(t, st, key); !bytes.Equal(got, data) {
			t.Error("put after delete did not store the bytes")
		}
	})

	t.Run("OpenMissing", func(t *testing.T) {
		_, key := testFile(t, 10, ".png")
		if _, err := st.Open(t.Context(), key); !errors.Is(err, ErrNotExist) {
			t.Errorf("Open(missing) = %v, want ErrNotExist", err)
		}
		if err := st.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(missing) = %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		keys := []string{
			"", "../x.jpg", "ab/../../x.jpg", "ab/../x.jpg", "/ab/x.jpg", "ab//x.jpg", "ab/./x.jpg", "ab/",
			"ab/.tmp-123", "ab/.x.jpg", "AB/x.jpg", "ab/x.JPG", "ab x.jpg", "ab\\x.jpg", "ab/x.jpg\x00",
			"ab/x%2e.jpg", "ab/x.html", "ab/x.svg", "ab/x", "ab/x.jpg/", "ab/x.jpeg", strings.Repeat("a", 600) + ".jpg",
		}
		for _, key := range keys {
			err := st.Put(t.Context(), key, "", strings.NewReader("x"), 1)
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
			}
			if _, err := st.Open(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
			}
			if err := st.Delete(t.Context(), key); !errors.Is(err, ErrInvalidKey) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
		// The originals' prefix is a valid storage key; only Handler
		// refuses to serve it.
		data, key := testFile(t, 10, ".jpg")
		put(t, st, "orig/"+key, data)
	})

	t.Run("BadPut", func(t *testing.T) {
		tests := []struct {
			name, key, contentType string
			size                   int64
		}{
			{"type does not match extension", "ab/cd.png", "image/jpeg", 1},
			{"type not an image", "ab/cd.jpg", "text/html", 1},
			{"unknown size", "ab/cd.jpg", "image/jpeg", -1},
		}
		for _, tt := range tests {
			if err := st.Put(t.Context(), tt.key, tt.contentType, strings.NewReader("x"), tt.size); err == nil {
				t.Errorf("%s: Put(%q, %q, size %d) succeeded", tt.name, tt.key, tt.contentType, tt.size)
			}
		}
	})

	t.Run("URL", func(t *testing.T) {
		for _, key := range []string{"ab/cdef.jpg", "orig/ab/cdef.png", "x.gif"} {
			if got, want := st.URL(key), urlPrefix+key; got != want {
				t.Errorf("URL(%q) = %q, want %q", key, got, want)
			}
		}
	})
}

func TestDiskStorageLayout(t *testing.T) {
	dir := t.TempDir()
	st, err := NewDiskStorage(dir, testPublicBase)
	if err != nil {
		t.Fatal(err)
	}
	data, key := testFile(t, 1000, ".jpg")
	put(t, st, key, data)
	// Short puts must not leave their temporary file behind.
	_ = st.Put(t.Context(), key[:3]+"ff.jpg", "image/jpeg", bytes.NewReader(data[:10]), 1000)

	got, err := os.ReadFile(filepath.Join(dir, "media", filepath.FromSlash(key)))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("file at dir/media/<key>: %v", err)
	}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		if d.Type().IsRegular() {
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o644 {
				t.Errorf("%s has mode %v, want 0644", p, fi.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNewDiskStorageErrors(t *testing.T) {
	tests := []struct{ name, dir, base string }{
		{"no dir", "", testPublicBase},
		{"relative base", t.TempDir(), "/media"},
		{"no scheme", t.TempDir(), "aistagram.test"},
	}
	for _, tt := range tests {
		if _, err := NewDiskStorage(tt.dir, tt.base); err == nil {
			t.Errorf("%s: NewDiskStorage(%q, %q) succeeded", tt.name, tt.dir, tt.base)
		}
	}
}

func TestNewS3StorageErrors(t *testing.T) {
	cfg := s3TestEnv(t)
	tests := []struct {
		name    string
		change  func(*S3Config)
		wantMsg []string
	}{
		{"missing bucket", func(c *S3Config) { c.Bucket = "aistagram-test-does-not-exist" },
			[]string{"aistagram-test-does-not-exist", cfg.Endpoint, "does not exist"}},
		{"no bucket", func(c *S3Config) { c.Bucket = "" }, []string{"bucket"}},
		{"endpoint without scheme", func(c *S3Config) { c.Endpoint = "127.0.0.1:9000" }, []string{"127.0.0.1:9000"}},
		{"endpoint with path", func(c *S3Config) { c.Endpoint += "/bucket" }, []string{"without a path"}},
		{"no credentials", func(c *S3Config) { c.SecretAccessKey = "" }, []string{"secret access key"}},
		{"wrong credentials", func(c *S3Config) { c.SecretAccessKey = "wrong-secret" },
			[]string{"aistagram-test-creds", cfg.Endpoint}},
		{"relative public URL", func(c *S3Config) { c.PublicURL = "/cdn" }, []string{"/cdn"}},
	}
	for _, tt := range tests {
		c := cfg
		c.Bucket = "aistagram-test-creds"
		tt.change(&c)
		_, err := NewS3Storage(t.Context(), c, testPublicBase)
		if err == nil {
			t.Errorf("%s: NewS3Storage succeeded", tt.name)
			continue
		}
		for _, m := range tt.wantMsg {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%s: error %q does not mention %q", tt.name, err, m)
			}
		}
	}
}

// TestS3StorageObjectHeaders checks what the bucket itself returns, which
// is what a CDN in front of a public bucket serves.
func TestS3StorageObjectHeaders(t *testing.T) {
	st := openTestS3(t, "").(*S3Storage)
	data, key := testFile(t, 100, ".png")
	put(t, st, key, data)
	info, err := st.client.StatObject(t.Context(), st.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("StatObject: %v", err)
	}
	if info.ContentType != "image/png" {
		t.Errorf("Content-Type = %q", info.ContentType)
	}
	if got := info.Metadata.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", got)
	}
}
