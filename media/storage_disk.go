package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrInvalidKey is returned by every Storage method for a key that could
// escape the storage root or that names a type we do not serve.
var ErrInvalidKey = errors.New("media: invalid key")

// maxKeyLen bounds keys well below every filesystem's and S3's limits.
const maxKeyLen = 512

// keyTypes maps the extensions a key may have to the content type the file
// is stored and served with. The type follows from the name, never from
// the caller or the bytes, so a file cannot be served as something that
// browsers would execute.
var keyTypes = map[string]string{
	".jpg":  "image/jpeg",
	".png":  "image/png",
	".gif":  "image/gif",
	".webp": "image/webp",
}

// keyContentType checks a key and returns the content type its extension
// stands for. Keys are a path of segments of [a-z0-9_.-], none empty and
// none starting with a dot: that refuses "..", absolute paths, hidden files
// (DiskStorage's temporary files start with a dot) and anything a
// filesystem or an S3 server might interpret.
func keyContentType(key string) (string, error) {
	if key == "" || len(key) > maxKeyLen {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for _, c := range []byte(key) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '/' || c == '_' || c == '.' || c == '-') {
			return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg[0] == '.' {
			return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	ct, ok := keyTypes[path.Ext(key)]
	if !ok {
		return "", fmt.Errorf("%w: %q has no image extension (.jpg, .png, .gif, .webp)", ErrInvalidKey, key)
	}
	return ct, nil
}

// putContentType checks a Put's key and content type: the caller's type, if
// given, must agree with the extension, since a mismatch means a bug
// upstream that would otherwise be served to every reader.
func putContentType(key, contentType string, size int64) (string, error) {
	ct, err := keyContentType(key)
	if err != nil {
		return "", err
	}
	if contentType != "" && contentType != ct {
		return "", fmt.Errorf("media: content type %q does not match key %q (%s)", contentType, key, ct)
	}
	if size < 0 {
		return "", fmt.Errorf("media: put %q: size %d: the size must be known", key, size)
	}
	return ct, nil
}

// mediaURL joins a public base URL and a key under /media/, where Handler
// serves it.
func mediaURL(publicBase, key string) string {
	return publicBase + "/media/" + key
}

// checkBaseURL makes sure a configured base URL is absolute, so that URL
// never returns a relative link that would break on other servers, and
// returns it without a trailing slash.
func checkBaseURL(name, base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("media: %s %q is not an absolute http(s) URL", name, base)
	}
	return strings.TrimRight(base, "/"), nil
}

// DiskStorage keeps files under <dir>/media/<key> on the local filesystem.
type DiskStorage struct {
	root       string // <dir>/media
	publicBase string // without trailing slash
}

var _ Storage = (*DiskStorage)(nil)

// NewDiskStorage creates <dir>/media if needed. publicBase is the
// instance's public URL (https://example.com); files are served by Handler
// under publicBase/media/.
func NewDiskStorage(dir string, publicBase string) (*DiskStorage, error) {
	if dir == "" {
		return nil, errors.New("media: disk storage needs a directory")
	}
	base, err := checkBaseURL("public base URL", publicBase)
	if err != nil {
		return nil, err
	}
	root, err := filepath.Abs(filepath.Join(dir, "media"))
	if err != nil {
		return nil, fmt.Errorf("media: disk storage: %w", err)
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("media: disk storage: %w", err)
	}
	return &DiskStorage{root: root, publicBase: base}, nil
}

// path is the file of a key that keyContentType accepted: no segment can
// be "..", so it stays under root.
func (d *DiskStorage) path(key string) string {
	return filepath.Join(d.root, filepath.FromSlash(key))
}

// Put writes the file atomically: into a temporary file in the target's
// directory, synced, then renamed over the name, so a reader or a crash
// never sees half a file. A key that exists already holds these bytes
// (keys are content hashes), so it is left alone.
func (d *DiskStorage) Put(ctx context.Context, key, contentType string, r io.Reader, size int64) error {
	if _, err := putContentType(key, contentType, size); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	dst := d.path(key)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if n, err := io.CopyN(tmp, r, size); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("media: put %q: got %d of %d bytes: %w", key, n, size, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	// CreateTemp makes 0600 files; media is public, and a front proxy
	// serving the directory directly must be able to read it.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// Concurrent puts of one key rename identical bytes over each other,
	// which is harmless.
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	done = true
	// The rename is durable only once the directory entry is on disk.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("media: put %q: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open opens a stored file; ErrNotExist when there is none.
func (d *DiskStorage) Open(ctx context.Context, key string) (File, error) {
	ct, err := keyContentType(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(d.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %q", ErrNotExist, key)
	}
	if err != nil {
		return nil, fmt.Errorf("media: open %q: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("media: open %q: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrNotExist, key)
	}
	return &diskFile{File: f, size: fi.Size(), modTime: fi.ModTime(), contentType: ct}, nil
}

// Delete removes a file; a missing one is not an error. Emptied directories
// are left: they are few (one per hash prefix) and reused.
func (d *DiskStorage) Delete(ctx context.Context, key string) error {
	if _, err := keyContentType(key); err != nil {
		return err
	}
	if err := os.Remove(d.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("media: delete %q: %w", key, err)
	}
	return nil
}

// URL is publicBase/media/<key>, served by Handler.
func (d *DiskStorage) URL(key string) string {
	return mediaURL(d.publicBase, key)
}

// diskFile is an open file with the metadata Handler needs.
type diskFile struct {
	*os.File
	size        int64
	modTime     time.Time
	contentType string
}

func (f *diskFile) Size() int64         { return f.size }
func (f *diskFile) ModTime() time.Time  { return f.modTime }
func (f *diskFile) ContentType() string { return f.contentType }
