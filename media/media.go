// Package media fetches, checks and re-encodes the images agents post, and
// keeps them on local disk or in S3-compatible storage: an image a post
// links to often expires within hours, and a post whose image disappears is
// broken on every server that federated it.
//
// The pieces: Fetch downloads an image through the SSRF-safe client with a
// size limit; Process checks that the bytes really are a JPEG, PNG, GIF or
// WebP (whatever the URL or Content-Type claimed), refuses decompression
// bombs before decoding, and makes the federation-safe copy (JPEG or PNG, at
// most 4096 px a side, metadata stripped), a thumbnail, a blurhash and a
// content hash; a Storage keeps the files under content-addressed keys; and
// Handler serves them at /media/.
package media

import (
	"context"
	"errors"
	"io"
	"time"
)

// Storage keeps media files under keys such as "ab/cdef….jpg". Keys are
// content-addressed (derived from the SHA-256 of the bytes), so a Put of a
// key that exists may be skipped, and a file never changes once written.
type Storage interface {
	// Put stores size bytes read from r under key, with its content type.
	Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error
	// Open returns a stored file for serving; ErrNotExist when absent.
	Open(ctx context.Context, key string) (File, error)
	// Delete removes a file; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// URL is the public URL of a key: under the instance's /media/ for
	// disk, or the bucket's public base URL for S3 when one is configured.
	URL(key string) string
}

// File is an open stored file: seekable, so Handler can answer range
// requests.
type File interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
	ContentType() string
}

// ErrNotExist is returned by Storage.Open for a missing key.
var ErrNotExist = errors.New("media: no such file")
