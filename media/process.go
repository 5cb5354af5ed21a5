package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"github.com/buckket/go-blurhash"
	"golang.org/x/image/webp"
)

// Limits bound what Process accepts and produces. Zero fields mean
// DefaultLimits' values.
type Limits struct {
	// MaxPixels is the most pixels an image may have; it bounds the memory
	// one decode takes, checked from the header before decoding. Images
	// whose decoder needs more than 4 bytes a pixel (16-bit or interlaced
	// PNG, progressive JPEG, WebP with alpha) are held to 4 bytes ×
	// MaxPixels of decoder memory, so they may have fewer pixels.
	MaxPixels int
	// MaxSide is the longest side of the federation-safe copy; larger
	// images are scaled down.
	MaxSide int
	// ThumbSide is the longest side of the thumbnail.
	ThumbSide int
}

// DefaultLimits are:
//
//   - MaxPixels 40,000,000: 8K UHD (33 MP), 8192×4096 panoramas and the
//     full-resolution photos of most cameras fit; decoded at 4 bytes a pixel
//     that is 160 MB, the memory this server is willing to spend on one
//     image (the worker bounds how many it decodes at once).
//   - MaxSide 4096: AI-generated images (1024 to 2048 px, 4K renders) pass
//     at full size, while no server that fetches our copy has to decode
//     more than 16.7 MP.
//   - ThumbSide 640: what timelines show; Mastodon's small version is
//     about 640×360 worth of pixels, and a longest side is simpler to
//     reason about than a pixel count.
func DefaultLimits() Limits {
	return Limits{MaxPixels: 40_000_000, MaxSide: 4096, ThumbSide: 640}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxSide <= 0 {
		l.MaxSide = d.MaxSide
	}
	if l.ThumbSide <= 0 {
		l.ThumbSide = d.ThumbSide
	}
	return l
}

// Rendition is one re-encoded version of an image.
type Rendition struct {
	Data          []byte
	Mime          string // "image/jpeg" or "image/png"
	Width, Height int
}

// Image is a checked image and its renditions.
type Image struct {
	// SHA256 is the lower-case hex SHA-256 of the original bytes, the
	// base of every storage key.
	SHA256 string
	// Mime is the original's real type, sniffed from its bytes.
	Mime string
	// Width and Height are the original's, after its EXIF orientation.
	Width, Height int
	// Safe is what other servers and clients are given: JPEG, or PNG when
	// the image has transparency or is a palette image (drawings, where
	// JPEG smears edges); at most MaxSide a side; no metadata.
	Safe Rendition
	// Thumb is at most ThumbSide a side: JPEG, or PNG when transparent.
	Thumb Rendition
	// Blurhash is a ~28-character placeholder clients paint while the
	// image loads (https://blurha.sh).
	Blurhash string
}

// RejectError says why some bytes are not an acceptable image, in a
// sentence for the agent that posted them.
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "media: " + e.Reason }

func reject(format string, args ...any) *RejectError {
	return &RejectError{Reason: fmt.Sprintf(format, args...)}
}

const (
	// maxDecodeSide caps each side whatever MaxPixels says: JPEG cannot
	// go beyond it, and a 1×40,000,000 "image" is an attack, not a picture.
	maxDecodeSide = 1<<16 - 1
	// safeQuality keeps re-encoding artefacts invisible on photos and
	// renders at about half the bytes of quality 95; thumbQuality can be
	// lower, a thumbnail is seen small.
	safeQuality  = 88
	thumbQuality = 82
	// blurhashSide: a 4×3-component blurhash only holds the lowest
	// frequencies, so a 32-pixel image gives the same hash as the full
	// one at a tiny fraction of the work.
	blurhashSide = 32
)

// Process checks that data is a JPEG, PNG, GIF or WebP image (sniffed from
// the bytes: the URL or the Content-Type it came with prove nothing), that
// it is not too large to decode, and makes its renditions. Its EXIF
// orientation (JPEG only) is applied; everything else in the metadata
// (EXIF, GPS, XMP, ICC profiles, text chunks) is dropped by re-encoding.
// An animated GIF keeps its first frame.
//
// A *RejectError says why the bytes are refused; other errors are
// internal. Peak memory is the decoded image plus its scaled copies: the
// scaler keeps only a window of rows.
func Process(data []byte, lim Limits) (*Image, error) {
	lim = lim.withDefaults()
	f, ok := sniff(data)
	if !ok {
		return nil, reject("not a JPEG, PNG, GIF or WebP image")
	}
	cfg, err := f.config(bytes.NewReader(data))
	if err != nil {
		return nil, reject("the %s image is truncated or corrupt", f.name)
	}
	var jinfo jpegInfo
	if f.mime == "image/jpeg" {
		jinfo = scanJPEG(data)
	}
	if err := checkSize(cfg, decodeBytes(f, cfg, data, jinfo), lim); err != nil {
		return nil, err
	}

	src, err := decode(f, data)
	if err != nil {
		return nil, reject("the %s image could not be decoded: it is truncated, corrupt "+
			"or uses a feature this server does not support", f.name)
	}
	sum := sha256.Sum256(data)
	img := &Image{SHA256: hex.EncodeToString(sum[:]), Mime: f.mime}
	orientation := max(jinfo.orientation, 1)
	img.Width, img.Height = src.Bounds().Dx(), src.Bounds().Dy()
	if orientation >= 5 {
		img.Width, img.Height = img.Height, img.Width
	}

	opaque := isOpaque(src)
	_, paletted := src.(*image.Paletted)
	safeMime := "image/jpeg"
	if !opaque || paletted {
		safeMime = "image/png"
	}
	// When the safe copy is made, src is dead (Go's GC knows from the
	// liveness of variables): peak memory is the decoded image plus one
	// scaled copy, then the copy plus the small ones.
	safe := src
	sw, sh := fit(img.Width, img.Height, lim.MaxSide)
	if sw != img.Width || sh != img.Height || orientation != 1 || !encodesFast(src, safeMime) {
		safe = resample(src, sw, sh, orientation)
	}
	if img.Safe, err = encode(safe, safeMime, safeQuality, sizeHint(safeMime, len(data), img.Width*img.Height, sw*sh)); err != nil {
		return nil, err
	}

	thumbMime := "image/jpeg"
	if !opaque {
		thumbMime = "image/png"
	}
	thumb := safe
	tw, th := fit(sw, sh, lim.ThumbSide)
	if tw != sw || th != sh || !encodesFast(safe, thumbMime) {
		thumb = resample(safe, tw, th, 1)
	}
	if img.Thumb, err = encode(thumb, thumbMime, thumbQuality, sizeHint(thumbMime, len(data), img.Width*img.Height, tw*th)); err != nil {
		return nil, err
	}

	bw, bh := fit(tw, th, blurhashSide)
	xc, yc := 4, 3 // more components along the longer side
	if bh > bw {
		xc, yc = 3, 4
	}
	if img.Blurhash, err = blurhash.Encode(xc, yc, resample(thumb, bw, bh, 1)); err != nil {
		return nil, fmt.Errorf("blurhash: %w", err)
	}
	return img, nil
}

// format is an image format Process accepts.
type format struct {
	name, mime string
	config     func(io.Reader) (image.Config, error)
	decode     func(io.Reader) (image.Image, error)
}

// sniff recognises the four formats by their signatures, as browsers do
// (WHATWG MIME Sniffing, "image type pattern matching").
func sniff(data []byte) (format, bool) {
	switch {
	case bytes.HasPrefix(data, []byte("\xff\xd8\xff")):
		return format{"JPEG", "image/jpeg", jpeg.DecodeConfig, jpeg.Decode}, true
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return format{"PNG", "image/png", png.DecodeConfig, png.Decode}, true
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		// gif.Decode returns the first frame only.
		return format{"GIF", "image/gif", gif.DecodeConfig, gif.Decode}, true
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return format{"WebP", "image/webp", webp.DecodeConfig, webp.Decode}, true
	}
	return format{}, false
}

// decode runs the format's decoder, turning a panic into an error: the
// bytes come from anyone, and one bad image must not take the worker down.
func decode(f format, data []byte) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s decoder panicked: %v", f.name, r)
		}
	}()
	return f.decode(bytes.NewReader(data))
}

// checkSize refuses, from the header alone, images whose decoding would
// take too much memory: a 100 kB PNG can declare 100,000×100,000 pixels.
func checkSize(cfg image.Config, decodeBytes int64, lim Limits) error {
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return reject("the image has no pixels")
	}
	if w > maxDecodeSide || h > maxDecodeSide || int64(w)*int64(h) > int64(lim.MaxPixels) ||
		decodeBytes > 4*int64(lim.MaxPixels) {
		return reject("the image is %dx%d pixels, more than this server accepts: at most %d pixels a side "+
			"and %.1f megapixels, fewer for images that take more memory to decode "+
			"(16-bit or interlaced PNGs, progressive JPEGs, WebP with transparency)",
			w, h, maxDecodeSide, float64(lim.MaxPixels)/1e6)
	}
	return nil
}

// decodeBytes estimates, from the header, the memory the decoder
// allocates: the image, and what it holds besides while decoding.
func decodeBytes(f format, cfg image.Config, data []byte, j jpegInfo) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var n int64
	switch cfg.ColorModel {
	case color.RGBA64Model, color.NRGBA64Model:
		n = 8 * px
	case color.Gray16Model:
		n = 2 * px
	case color.GrayModel, color.AlphaModel:
		n = px
	case color.NYCbCrAModel:
		// x/image/webp decodes the alpha plane as a lossless image, 4
		// bytes a pixel, besides the YCbCr planes and the alpha.
		return 7 * px
	default:
		n = 4 * px
		if _, ok := cfg.ColorModel.(color.Palette); ok {
			n = px
		}
	}
	if f.mime == "image/png" && len(data) > 28 && data[28] == 1 {
		// Adam7: each pass is decoded into an image of its own before
		// being merged; the last one is half the image.
		return n * 3 / 2
	}
	if f.mime != "image/jpeg" || len(j.sampling) == 0 {
		return n
	}
	// image/jpeg keeps one byte a sample in each component's plane, and,
	// for a progressive JPEG, all its DCT coefficients too: a [64]int32
	// per 8×8 block, 4 bytes a sample. CMYK is converted into a second
	// image.
	var hmax, vmax int64 = 1, 1
	for _, s := range j.sampling {
		hmax, vmax = max(hmax, int64(s[0])), max(vmax, int64(s[1]))
	}
	n = 0
	for _, s := range j.sampling {
		n += px * int64(s[0]) * int64(s[1]) / (hmax * vmax)
	}
	if j.progressive {
		n *= 5
	}
	if len(j.sampling) == 4 {
		n += 4 * px
	}
	return n
}

// isOpaque reports whether every pixel is fully opaque. The standard
// image types know it cheaply (a palette image checks its palette, an
// NRGBA scans its alpha bytes); anything else is assumed transparent,
// which only costs a PNG where a JPEG would do.
func isOpaque(m image.Image) bool {
	o, ok := m.(interface{ Opaque() bool })
	return ok && o.Opaque()
}

// encodesFast reports whether the encoder for mime reads m's pixels
// directly. Any other type goes through At, an allocation a pixel, so
// resample converts it to RGBA first.
func encodesFast(m image.Image, mime string) bool {
	switch m.(type) {
	case *image.RGBA, *image.Gray:
		return true
	case *image.YCbCr:
		return mime == "image/jpeg"
	case *image.NRGBA, *image.Paletted:
		return mime == "image/png"
	}
	return false
}

// encode writes m as a JPEG or PNG into a buffer of about hint bytes, so
// that a 5 MB output is not built by doubling from 64 bytes (which
// allocates 10 MB more).
func encode(m image.Image, mime string, quality, hint int) (Rendition, error) {
	var buf bytes.Buffer
	buf.Grow(hint)
	var err error
	if mime == "image/png" {
		err = png.Encode(&buf, m)
	} else {
		err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: quality})
	}
	if err != nil {
		return Rendition{}, fmt.Errorf("encode %s: %w", mime, err)
	}
	b := m.Bounds()
	return Rendition{Data: buf.Bytes(), Mime: mime, Width: b.Dx(), Height: b.Dy()}, nil
}

// sizeHint guesses the size of a rendition of px pixels from the
// original's: proportional to the pixels, and for a JPEG at most half a
// byte a pixel (a PNG original is much larger than its JPEG). It is only
// a first allocation; the buffer still grows when the guess is short.
func sizeHint(mime string, origBytes, origPx, px int) int {
	n := int64(origBytes) * int64(px) / int64(max(origPx, 1))
	if mime == "image/jpeg" {
		n = min(n, int64(px)/2)
	}
	return int(n) + 4<<10
}

// fit scales w×h down, keeping its aspect ratio, so that the longest side
// is at most side; never up, and never to a zero side.
func fit(w, h, side int) (int, int) {
	if w <= side && h <= side {
		return w, h
	}
	if w >= h {
		return side, max(1, int((int64(h)*int64(side)+int64(w)/2)/int64(w)))
	}
	return max(1, int((int64(w)*int64(side)+int64(h)/2)/int64(h))), side
}
