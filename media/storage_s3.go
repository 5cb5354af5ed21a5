package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// immutableCache is the Cache-Control of every media file: names are
// content hashes, so a file never changes and may be cached for good.
const immutableCache = "public, max-age=31536000, immutable"

// S3Config says where an S3-compatible bucket is and how to reach it.
type S3Config struct {
	// Endpoint is the server's URL, such as https://s3.example.com or
	// http://127.0.0.1:9000; its scheme decides between TLS and plain HTTP.
	Endpoint string
	// Bucket must exist: NewS3Storage does not create it.
	Bucket          string
	Region          string // empty: asked from the server
	AccessKeyID     string
	SecretAccessKey string
	// PublicURL, when set, is where the bucket's objects are publicly
	// readable (a CDN or the bucket's website endpoint); URL then points
	// there. When empty, the instance serves them itself through Handler.
	PublicURL string
}

// S3Storage keeps files as objects in an S3-compatible bucket.
type S3Storage struct {
	client     *minio.Client
	bucket     string
	endpoint   string // for error messages
	publicURL  string // without trailing slash; may be empty
	publicBase string // without trailing slash
}

var _ Storage = (*S3Storage)(nil)

// NewS3Storage connects to the bucket and checks that it exists, so a
// misconfiguration shows at startup rather than on the first upload.
// publicBase is the instance's public URL, used by URL when cfg.PublicURL
// is empty.
func NewS3Storage(ctx context.Context, cfg S3Config, publicBase string) (*S3Storage, error) {
	ep, err := url.Parse(cfg.Endpoint)
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" ||
		strings.Trim(ep.Path, "/") != "" || ep.RawQuery != "" || ep.User != nil {
		return nil, fmt.Errorf("media: S3 endpoint %q must be a URL like https://s3.example.com, without a path", cfg.Endpoint)
	}
	if cfg.Bucket == "" {
		return nil, fmt.Errorf("media: S3 storage at %s needs a bucket name", cfg.Endpoint)
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, fmt.Errorf("media: S3 storage at %s needs an access key id and a secret access key", cfg.Endpoint)
	}
	base, err := checkBaseURL("public base URL", publicBase)
	if err != nil {
		return nil, err
	}
	var public string
	if cfg.PublicURL != "" {
		if public, err = checkBaseURL("S3 public URL", cfg.PublicURL); err != nil {
			return nil, err
		}
	}
	client, err := minio.New(ep.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure: ep.Scheme == "https",
		Region: cfg.Region,
		// Path-style (endpoint/bucket/key) works with every S3-compatible
		// server; virtual-host style needs wildcard DNS and certificates.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("media: S3 client for %s: %w", cfg.Endpoint, err)
	}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("media: check S3 bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("media: S3 bucket %q does not exist at %s; create it first", cfg.Bucket, cfg.Endpoint)
	}
	return &S3Storage{client: client, bucket: cfg.Bucket, endpoint: cfg.Endpoint, publicURL: public, publicBase: base}, nil
}

// Put uploads the object with its content type and an immutable
// Cache-Control, which S3 returns on every GET (a CDN in front keeps it).
// An object that exists already holds these bytes (keys are content
// hashes), so it is not uploaded again.
func (s *S3Storage) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error {
	ct, err := putContentType(key, contentType, size)
	if err != nil {
		return err
	}
	_, err = s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err == nil {
		return nil
	}
	if !isNoSuchKey(err) {
		return fmt.Errorf("media: put %q: stat in S3 bucket %q: %w", key, s.bucket, err)
	}
	if err := checkRemaining(r, size); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	// minio-go sends exactly size bytes and the server refuses fewer, so a
	// short reader never leaves a truncated object.
	_, err = s.client.PutObject(ctx, s.bucket, key, r, size, minio.PutObjectOptions{
		ContentType:  ct,
		CacheControl: immutableCache,
	})
	if err != nil {
		return fmt.Errorf("media: put %q in S3 bucket %q: %w", key, s.bucket, err)
	}
	return nil
}

// Open starts a GET of the object and stats it. The File reads lazily and
// seeks by issuing ranged GETs, so a range request for a few bytes of a
// large file does not download all of it.
func (s *S3Storage) Open(ctx context.Context, key string) (File, error) {
	ct, err := keyContentType(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("media: open %q in S3 bucket %q: %w", key, s.bucket, err)
	}
	// Stat before any read: minio-go reports the remaining size once
	// reading has started.
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		if isNoSuchKey(err) {
			return nil, fmt.Errorf("%w: %q", ErrNotExist, key)
		}
		return nil, fmt.Errorf("media: open %q in S3 bucket %q: %w", key, s.bucket, err)
	}
	// An object uploaded by other tools may lack a type.
	if info.ContentType != "" {
		ct = info.ContentType
	}
	return &s3File{obj: obj, size: info.Size, modTime: info.LastModified, contentType: ct}, nil
}

// Delete removes the object; S3 does not report missing keys, and any
// server that does is treated the same.
func (s *S3Storage) Delete(ctx context.Context, key string) error {
	if _, err := keyContentType(key); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if err != nil && !isNoSuchKey(err) {
		return fmt.Errorf("media: delete %q in S3 bucket %q: %w", key, s.bucket, err)
	}
	return nil
}

// URL points at the bucket's public URL when one is configured, else at
// the instance's /media/, which proxies from the bucket.
func (s *S3Storage) URL(key string) string {
	if s.publicURL != "" {
		return s.publicURL + "/" + key
	}
	return mediaURL(s.publicBase, key)
}

// String names the bucket and endpoint, for logs.
func (s *S3Storage) String() string {
	return fmt.Sprintf("S3 bucket %q at %s", s.bucket, s.endpoint)
}

// checkRemaining refuses a seekable reader holding fewer than size bytes
// before anything is sent: minio-go retries a failed upload of a seekable
// body with backoff, which turns a caller's bug into seconds of waiting.
// Other readers fail on the first attempt, as they cannot be rewound.
func checkRemaining(r io.Reader, size int64) error {
	s, ok := r.(io.Seeker)
	if !ok {
		return nil
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil // not really seekable; let the upload find out
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return err
	}
	if end-cur < size {
		return fmt.Errorf("reader holds %d of %d bytes: %w", end-cur, size, io.ErrUnexpectedEOF)
	}
	return nil
}

func isNoSuchKey(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.Code == minio.NoSuchKey
}

// s3File is an open object with the metadata Handler needs. Its methods
// forward to *minio.Object rather than embedding it, so that only the
// File interface is exposed (Object's Stat changes meaning after a read).
type s3File struct {
	obj         *minio.Object
	size        int64
	modTime     time.Time
	contentType string
}

func (f *s3File) Read(p []byte) (int, error) { return f.obj.Read(p) }
func (f *s3File) Seek(offset int64, whence int) (int64, error) {
	return f.obj.Seek(offset, whence)
}
func (f *s3File) Close() error        { return f.obj.Close() }
func (f *s3File) Size() int64         { return f.size }
func (f *s3File) ModTime() time.Time  { return f.modTime }
func (f *s3File) ContentType() string { return f.contentType }
