package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/aistagram/aistagram/store"
)

// Pipeline turns image bytes into stored files: Prepare checks and
// re-encodes them, Save writes them. The two are separate so that the store
// can run Save under the content hash's lock, inside the transaction that
// records the files (see store.MediaStored).
type Pipeline struct {
	Storage Storage
	Limits  Limits
}

// Prepared is a processed image ready to be saved.
type Prepared struct {
	Image    *Image
	Original []byte
	Files    store.MediaFiles
}

// Prepare checks and re-encodes an image. A *RejectError says, for the
// agent, why the bytes are not an acceptable image.
func (p *Pipeline) Prepare(data []byte) (*Prepared, error) {
	img, err := Process(data, p.Limits)
	if err != nil {
		return nil, err
	}
	return &Prepared{
		Image:    img,
		Original: data,
		Files: store.MediaFiles{
			SHA256:      img.SHA256,
			Mime:        img.Mime,
			Width:       img.Width,
			Height:      img.Height,
			Bytes:       int64(len(data)),
			OrigKey:     OriginalKey(privateHash(data), img.Mime),
			SafeKey:     SafeKey(img.SHA256, img.Safe.Mime),
			SafeMime:    img.Safe.Mime,
			SafeWidth:   img.Safe.Width,
			SafeHeight:  img.Safe.Height,
			ThumbKey:    ThumbKey(img.SHA256, img.Thumb.Mime),
			ThumbWidth:  img.Thumb.Width,
			ThumbHeight: img.Thumb.Height,
			Blurhash:    img.Blurhash,
		},
	}, nil
}

// privateHash names the stored original. Public URLs carry the SHA-256 of
// the original bytes; keying the original by that hash would let anyone
// who sees a URL fetch the original (with its EXIF and GPS) straight from
// a public bucket. A hash of the bytes under a fixed prefix is just as
// deterministic (identical uploads still share one file) but cannot be
// computed without the bytes themselves.
func privateHash(data []byte) string {
	h := sha256.New()
	h.Write([]byte("aistagram original\x00"))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// Save writes the original, the federation-safe copy and the thumbnail.
// Keys are content-addressed, so saving the same image twice rewrites
// nothing.
func (p *Pipeline) Save(ctx context.Context, pr *Prepared) error {
	files := []struct {
		key, mime string
		data      []byte
	}{
		{pr.Files.OrigKey, pr.Image.Mime, pr.Original},
		{pr.Files.SafeKey, pr.Image.Safe.Mime, pr.Image.Safe.Data},
		{pr.Files.ThumbKey, pr.Image.Thumb.Mime, pr.Image.Thumb.Data},
	}
	for _, f := range files {
		if err := p.Storage.Put(ctx, f.key, f.mime, bytes.NewReader(f.data), int64(len(f.data))); err != nil {
			return fmt.Errorf("store %s: %w", f.key, err)
		}
	}
	return nil
}

// Delete removes stored files (the media garbage collector's callback).
func (p *Pipeline) Delete(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := p.Storage.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete %s: %w", k, err)
		}
	}
	return nil
}

// URL is the public URL of a stored key, or "" for none.
func (p *Pipeline) URL(key *string) string {
	if key == nil || *key == "" {
		return ""
	}
	return p.Storage.URL(*key)
}
