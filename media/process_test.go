package media

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/buckket/go-blurhash"
)

// Test images are made in code; only WebP, which Go cannot encode, comes
// from testdata (see testdata/README).

// noisyImage is a gradient with noise, like a photo: it does not compress
// to nothing, and scaling it exercises every filter tap.
func noisyImage(w, h int, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, seed))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			n := uint8(rng.IntN(48))
			i := m.PixOffset(x, y)
			m.Pix[i] = uint8(x*200/max(w, 1)) + n
			m.Pix[i+1] = uint8(y*200/max(h, 1)) + n
			m.Pix[i+2] = uint8((x+y)*100/max(w+h, 1)) + n
			m.Pix[i+3] = 0xff
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeGIF(t testing.TB, frames ...*image.Paletted) []byte {
	t.Helper()
	var b bytes.Buffer
	g := &gif.GIF{Image: frames, Delay: make([]int, len(frames))}
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func solidPaletted(w, h int, idx uint8) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	for i := range m.Pix {
		m.Pix[i] = idx
	}
	return m
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pngChunk is one PNG chunk with its CRC, for crafting headers.
func pngChunk(typ string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len(data)))
	b.WriteString(typ)
	b.Write(data)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	return b.Bytes()
}

// pngHeader is a PNG signature and IHDR declaring w×h, colour type ct at
// the given bit depth, and nothing else: DecodeConfig is satisfied, a
// decoder would try to allocate the whole image.
func pngHeader(w, h uint32, depth, ct byte) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, depth, ct, 0, 0, 0)
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

// jpegHeader is SOI, a start-of-frame segment (marker 0xc0 baseline, 0xc2
// progressive) for w×h with 3 components, luma sampled at hv, and a
// start-of-scan header with no scan data.
func jpegHeader(marker byte, w, h uint16, hv byte) []byte {
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3, 1, hv, 0, 2, 0x11, 1, 3, 0x11, 1}
	b := []byte{0xff, 0xd8, 0xff, marker, 0, byte(len(sof) + 2)}
	b = append(b, sof...)
	return append(b, 0xff, 0xda, 0, 12, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 0x3f, 0)
}

// withSegment inserts a JPEG marker segment right after SOI.
func withSegment(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xff, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// exifAPP1 is an EXIF APP1 payload, big-endian, whose first IFD holds an
// Orientation and a GPS IFD pointer, and whose GPS IFD holds a latitude
// reference and the marker text "SECRET-GPS" (which must never come out).
func exifAPP1(orientation uint16) []byte {
	var t bytes.Buffer
	t.WriteString("MM\x00\x2a")
	binary.Write(&t, binary.BigEndian, uint32(8)) // IFD0 right after the header
	binary.Write(&t, binary.BigEndian, uint16(2))
	// Orientation, SHORT, 1, value in the first two bytes.
	binary.Write(&t, binary.BigEndian, []uint16{0x0112, 3})
	binary.Write(&t, binary.BigEndian, uint32(1))
	binary.Write(&t, binary.BigEndian, []uint16{orientation, 0})
	// GPSInfo pointer, LONG, 1, offset of the GPS IFD.
	binary.Write(&t, binary.BigEndian, []uint16{0x8825, 4})
	binary.Write(&t, binary.BigEndian, uint32(1))
	binary.Write(&t, binary.BigEndian, uint32(8+2+2*12+4))
	binary.Write(&t, binary.BigEndian, uint32(0)) // no next IFD
	// GPS IFD: GPSLatitudeRef "N", and a user comment-ish ASCII blob.
	binary.Write(&t, binary.BigEndian, uint16(1))
	binary.Write(&t, binary.BigEndian, []uint16{0x0001, 2})
	binary.Write(&t, binary.BigEndian, uint32(2))
	t.WriteString("N\x00\x00\x00")
	binary.Write(&t, binary.BigEndian, uint32(0))
	t.WriteString("SECRET-GPS 48.8584N 2.2945E")
	return append([]byte("Exif\x00\x00"), t.Bytes()...)
}

// decodeRendition decodes a rendition, checking its bytes are what its
// Mime says and its size what it claims.
func decodeRendition(t *testing.T, what string, r Rendition) image.Image {
	t.Helper()
	f, ok := sniff(r.Data)
	if !ok || f.mime != r.Mime {
		t.Fatalf("%s: Mime %q but the bytes sniff as %q", what, r.Mime, f.mime)
	}
	m, err := f.decode(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if b := m.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height {
		t.Fatalf("%s: claims %dx%d, is %dx%d", what, r.Width, r.Height, b.Dx(), b.Dy())
	}
	return m
}

// checkImage checks what holds for every processed image.
func checkImage(t *testing.T, data []byte, img *Image, lim Limits) {
	t.Helper()
	sum := sha256.Sum256(data)
	if img.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 = %s, want the hash of the original bytes", img.SHA256)
	}
	decodeRendition(t, "safe", img.Safe)
	decodeRendition(t, "thumb", img.Thumb)
	if max(img.Safe.Width, img.Safe.Height) > lim.MaxSide || max(img.Thumb.Width, img.Thumb.Height) > lim.ThumbSide {
		t.Errorf("safe %dx%d, thumb %dx%d: over the limits %+v", img.Safe.Width, img.Safe.Height, img.Thumb.Width, img.Thumb.Height, lim)
	}
	if x, y, err := blurhash.Components(img.Blurhash); err != nil || x*y != 12 {
		t.Errorf("blurhash %q: %d×%d components, %v", img.Blurhash, x, y, err)
	}
	if _, err := blurhash.Decode(img.Blurhash, 16, 16, 1); err != nil {
		t.Errorf("blurhash %q does not decode: %v", img.Blurhash, err)
	}
}

func TestProcessFormats(t *testing.T) {
	photo := noisyImage(300, 200, 1)
	withAlpha := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range withAlpha.Pix {
		withAlpha.Pix[i] = 0xff
	}
	withAlpha.Pix[3] = 0x80 // one translucent pixel is enough
	opaqueNRGBA := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for i := range opaqueNRGBA.Pix {
		opaqueNRGBA.Pix[i] = 0xff
	}
	deep := image.NewRGBA64(image.Rect(0, 0, 50, 40))
	for y := range 40 {
		for x := range 50 {
			deep.SetRGBA64(x, y, color.RGBA64{uint16(x * 1300), uint16(y * 1600), 0x8000, 0xffff})
		}
	}
	transparentGIF := solidPaletted(40, 30, 3)
	transparentGIF.Palette = color.Palette{color.Transparent, color.Black, color.White, color.RGBA{255, 0, 0, 255}}
	transparentGIF.Pix[0] = 0
	// An animated GIF whose frames differ; the first one is kept.
	frame1, frame2 := solidPaletted(30, 20, 0), solidPaletted(30, 20, 0)
	frame1.Palette = color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	frame2.Palette = frame1.Palette
	for i := range frame2.Pix {
		frame2.Pix[i] = 1
	}

	tests := []struct {
		name          string
		data          []byte
		mime          string
		width, height int
		safe, thumb   string
	}{
		{"jpeg", encodeJPEG(t, photo), "image/jpeg", 300, 200, "image/jpeg", "image/jpeg"},
		{"png opaque", encodePNG(t, photo), "image/png", 300, 200, "image/jpeg", "image/jpeg"},
		{"png opaque nrgba", encodePNG(t, opaqueNRGBA), "image/png", 64, 48, "image/jpeg", "image/jpeg"},
		{"png alpha", encodePNG(t, withAlpha), "image/png", 64, 48, "image/png", "image/png"},
		{"png 16-bit", encodePNG(t, deep), "image/png", 50, 40, "image/jpeg", "image/jpeg"},
		{"png gray", encodePNG(t, image.NewGray(image.Rect(0, 0, 20, 10))), "image/png", 20, 10, "image/jpeg", "image/jpeg"},
		{"png palette", encodePNG(t, solidPaletted(33, 22, 7)), "image/png", 33, 22, "image/png", "image/jpeg"},
		{"gif", encodeGIF(t, solidPaletted(120, 80, 9)), "image/gif", 120, 80, "image/png", "image/jpeg"},
		{"gif transparent", encodeGIF(t, transparentGIF), "image/gif", 40, 30, "image/png", "image/png"},
		{"gif animated", encodeGIF(t, frame1, frame2), "image/gif", 30, 20, "image/png", "image/jpeg"},
		{"webp lossy", readTestdata(t, "blue-purple-pink.lossy.webp"), "image/webp", 150, 100, "image/jpeg", "image/jpeg"},
		{"webp lossy alpha", readTestdata(t, "yellow_rose.lossy-with-alpha.webp"), "image/webp", 400, 301, "image/png", "image/png"},
		{"webp lossless alpha", readTestdata(t, "gopher-doc.with-alpha.lossless.webp"), "image/webp", 75, 100, "image/png", "image/png"},
	}
	lim := DefaultLimits()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Process(tt.data, Limits{}) // zero Limits mean the defaults
			if err != nil {
				t.Fatal(err)
			}
			if img.Mime != tt.mime || img.Width != tt.width || img.Height != tt.height {
				t.Errorf("got %s %dx%d, want %s %dx%d", img.Mime, img.Width, img.Height, tt.mime, tt.width, tt.height)
			}
			if img.Safe.Mime != tt.safe || img.Thumb.Mime != tt.thumb {
				t.Errorf("safe %s, thumb %s; want %s, %s", img.Safe.Mime, img.Thumb.Mime, tt.safe, tt.thumb)
			}
			if img.Safe.Width != tt.width || img.Safe.Height != tt.height {
				t.Errorf("safe copy is %dx%d, want the original size", img.Safe.Width, img.Safe.Height)
			}
			checkImage(t, tt.data, img, lim)
		})
	}

	t.Run("gif animated keeps the first frame", func(t *testing.T) {
		img, err := Process(encodeGIF(t, frame1, frame2), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		m := decodeRendition(t, "safe", img.Safe)
		if r, g, b, _ := m.At(15, 10).RGBA(); r>>8 != 255 || g>>8 != 0 || b>>8 != 0 {
			t.Errorf("safe copy pixel = %d,%d,%d, want the first frame's red", r>>8, g>>8, b>>8)
		}
	})
}

func TestProcessRejects(t *testing.T) {
	photoJPEG := encodeJPEG(t, noisyImage(64, 64, 2))
	photoPNG := encodePNG(t, noisyImage(64, 64, 3))
	photoGIF := encodeGIF(t, solidPaletted(64, 64, 5))
	webpData := readTestdata(t, "blue-purple-pink.lossy.webp")
	var bmp bytes.Buffer // a valid BMP: a real image, but not one we accept
	bmp.WriteString("BM")
	bmp.Write(make([]byte, 60))

	const notImage = "not a JPEG, PNG, GIF or WebP image"
	tests := []struct {
		name, data, reason string
	}{
		{"empty", "", notImage},
		{"text", "just some text, honestly a picture", notImage},
		{"html", "<!DOCTYPE html><html><body><img src=x></body></html>", notImage},
		{"svg", `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>`, notImage},
		{"bmp", bmp.String(), notImage},
		{"jpeg magic only", "\xff\xd8\xff", "JPEG image is truncated or corrupt"},
		{"jpeg truncated", string(photoJPEG[:len(photoJPEG)/2]), "JPEG image could not be decoded"},
		{"png truncated header", string(photoPNG[:20]), "PNG image is truncated or corrupt"},
		{"png truncated", string(photoPNG[:len(photoPNG)/2]), "PNG image could not be decoded"},
		{"png header only", string(pngHeader(64, 64, 8, 6)), "PNG image could not be decoded"},
		{"png zero width", string(pngHeader(0, 10, 8, 6)), "PNG image is truncated or corrupt"},
		{"gif truncated", string(photoGIF[:len(photoGIF)-10]), "GIF image could not be decoded"},
		{"webp truncated", string(webpData[:len(webpData)/2]), "WebP image could not be decoded"},
		{"webp garbage", "RIFF\x10\x00\x00\x00WEBPVP8 garbage", "WebP image is truncated or corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Process([]byte(tt.data), Limits{})
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("Process = %v, %v; want a *RejectError", img, err)
			}
			if !strings.Contains(re.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to say %q", re.Reason, tt.reason)
			}
		})
	}
}

// TestProcessRefusesBombs: images whose header declares more pixels (or
// decoder memory) than allowed are refused from the header, without the
// decoder allocating anything.
func TestProcessRefusesBombs(t *testing.T) {
	gifBomb := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00;") // 65535×65535 logical screen
	tests := []struct {
		name string
		data []byte
	}{
		{"png 100000x100000", pngHeader(100000, 100000, 8, 6)},
		{"png 50000x1000 over MaxPixels", pngHeader(50000, 1000, 8, 2)},
		{"png 1x70000 over the side cap", pngHeader(1, 70000, 8, 0)},
		{"png 16-bit 5000x5000", pngHeader(5000, 5000, 16, 6)},
		{"jpeg 60000x60000", jpegHeader(0xc0, 60000, 60000, 0x22)},
		{"progressive jpeg 4:4:4 4000x4000", jpegHeader(0xc2, 4000, 4000, 0x11)},
		{"gif 65535x65535", gifBomb},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var re *RejectError
			if _, err := Process(tt.data, Limits{}); !errors.As(err, &re) || !strings.Contains(re.Reason, "more than this server accepts") {
				t.Fatalf("Process = %v, want a RejectError saying the image is too large", err)
			}
			// TotalAlloc counts every byte allocated, even if freed at
			// once: decoding any of these would allocate gigabytes.
			const runs = 20
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range runs {
				Process(tt.data, Limits{})
			}
			runtime.ReadMemStats(&after)
			if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 64<<10 {
				t.Errorf("refusing allocated %d bytes a call; the header alone should need a few kB", perRun)
			}
		})
	}

	// A progressive JPEG at 4:2:0, the usual, needs half the memory of
	// one at 4:4:4: the same 4000x4000 passes.
	cfg := image.Config{Width: 4000, Height: 4000, ColorModel: color.YCbCrModel}
	j := jpegInfo{progressive: true, sampling: [][2]int{{2, 2}, {1, 1}, {1, 1}}}
	if err := checkSize(cfg, decodeBytes(format{mime: "image/jpeg"}, cfg, nil, j), DefaultLimits()); err != nil {
		t.Errorf("progressive 4:2:0 16 MP: %v", err)
	}
	if got := scanJPEG(jpegHeader(0xc2, 4000, 4000, 0x22)); !got.progressive || len(got.sampling) != 3 || got.sampling[0] != [2]int{2, 2} {
		t.Errorf("scanJPEG = %+v, want progressive with 2x2 luma sampling", got)
	}
}

func TestProcessDecodeBytes(t *testing.T) {
	interlaced := pngHeader(1000, 1000, 8, 6)
	interlaced[28] = 1
	yuv420 := [][2]int{{2, 2}, {1, 1}, {1, 1}}
	tests := []struct {
		name  string
		mime  string
		model color.Model
		data  []byte
		jpeg  jpegInfo
		want  int64
	}{
		{"png rgba", "image/png", color.NRGBAModel, pngHeader(1000, 1000, 8, 6), jpegInfo{}, 4_000_000},
		{"png rgba interlaced", "image/png", color.NRGBAModel, interlaced, jpegInfo{}, 6_000_000},
		{"png 16-bit", "image/png", color.NRGBA64Model, nil, jpegInfo{}, 8_000_000},
		{"png gray", "image/png", color.GrayModel, nil, jpegInfo{}, 1_000_000},
		{"gif", "image/gif", color.Palette{color.Black}, nil, jpegInfo{}, 1_000_000},
		{"webp lossy", "image/webp", color.YCbCrModel, nil, jpegInfo{}, 4_000_000},
		{"webp lossy alpha", "image/webp", color.NYCbCrAModel, nil, jpegInfo{}, 7_000_000},
		{"jpeg 4:2:0", "image/jpeg", color.YCbCrModel, nil, jpegInfo{sampling: yuv420}, 1_500_000},
		{"jpeg 4:2:0 progressive", "image/jpeg", color.YCbCrModel, nil, jpegInfo{sampling: yuv420, progressive: true}, 7_500_000},
		{"jpeg gray", "image/jpeg", color.GrayModel, nil, jpegInfo{sampling: [][2]int{{1, 1}}}, 1_000_000},
		{"jpeg cmyk", "image/jpeg", color.CMYKModel, nil, jpegInfo{sampling: [][2]int{{1, 1}, {1, 1}, {1, 1}, {1, 1}}}, 8_000_000},
	}
	for _, tt := range tests {
		cfg := image.Config{Width: 1000, Height: 1000, ColorModel: tt.model}
		if got := decodeBytes(format{mime: tt.mime}, cfg, tt.data, tt.jpeg); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestProcessLimits(t *testing.T) {
	lim := Limits{MaxPixels: 100, MaxSide: 8, ThumbSide: 4}
	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"10x10 at 100 pixels", encodePNG(t, noisyImage(10, 10, 4)), true},
		{"11x10 over 100 pixels", encodePNG(t, noisyImage(11, 10, 4)), false},
		{"16-bit 7x7 within 4 bytes x 100", encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 7, 7))), true},
		{"16-bit 8x8 over 4 bytes x 100", encodePNG(t, image.NewNRGBA64(image.Rect(0, 0, 8, 8))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Process(tt.data, lim)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				checkImage(t, tt.data, img, lim)
				return
			}
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("Process = %v, want a RejectError", err)
			}
		})
	}
}

func TestProcessDownscales(t *testing.T) {
	small := Limits{MaxSide: 100, ThumbSide: 30}
	tests := []struct {
		name           string
		w, h           int
		lim            Limits
		safeW, safeH   int
		thumbW, thumbH int
	}{
		{"4200x1050 to 4096x1024", 4200, 1050, Limits{}, 4096, 1024, 640, 160},
		{"wide", 1000, 250, small, 100, 25, 30, 8},
		{"tall", 300, 1000, small, 30, 100, 9, 30},
		{"square", 500, 500, small, 100, 100, 30, 30},
		{"at the limit", 100, 60, small, 100, 60, 30, 18},
		{"a line", 1000, 1, small, 100, 1, 30, 1},
		{"smaller than the thumbnail", 20, 10, small, 20, 10, 20, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := encodeJPEG(t, noisyImage(tt.w, tt.h, 5))
			img, err := Process(data, tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			if img.Width != tt.w || img.Height != tt.h {
				t.Errorf("original %dx%d, want %dx%d", img.Width, img.Height, tt.w, tt.h)
			}
			if img.Safe.Width != tt.safeW || img.Safe.Height != tt.safeH {
				t.Errorf("safe %dx%d, want %dx%d", img.Safe.Width, img.Safe.Height, tt.safeW, tt.safeH)
			}
			if img.Thumb.Width != tt.thumbW || img.Thumb.Height != tt.thumbH {
				t.Errorf("thumb %dx%d, want %dx%d", img.Thumb.Width, img.Thumb.Height, tt.thumbW, tt.thumbH)
			}
			checkImage(t, data, img, tt.lim.withDefaults())
		})
	}
}

// TestProcessResampleKeepsColours: scaling a uniform image gives the same
// colour (the weights sum to one, edges included), and scaling a
// translucent one keeps its alpha.
func TestProcessResampleKeepsColours(t *testing.T) {
	for _, c := range []color.NRGBA{{200, 100, 50, 255}, {200, 100, 50, 128}, {0, 0, 0, 0}} {
		src := image.NewNRGBA(image.Rect(0, 0, 97, 61))
		for i := 0; i < len(src.Pix); i += 4 {
			src.Pix[i], src.Pix[i+1], src.Pix[i+2], src.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		want := color.RGBAModel.Convert(c).(color.RGBA)
		for _, size := range [][2]int{{97, 61}, {40, 25}, {7, 3}, {1, 1}} {
			dst := resample(src, size[0], size[1], 1)
			for y := range size[1] {
				for x := range size[0] {
					if got := dst.RGBAAt(x, y); !near(got, want, 1) {
						t.Fatalf("%v scaled to %v: pixel %d,%d = %v, want %v", c, size, x, y, got, want)
					}
				}
			}
		}
	}
}

// TestProcessRowReader: every fast path reads the same colours as At, to
// 8-bit rounding (YCbCr.At converts at 16 bits), on sub-images too (whose
// bounds do not start at 0,0).
func TestProcessRowReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fill := func(b []byte) {
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
	}
	r := image.Rect(0, 0, 37, 23)
	var imgs []image.Image
	for _, ratio := range []image.YCbCrSubsampleRatio{image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422,
		image.YCbCrSubsampleRatio420, image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410} {
		m := image.NewYCbCr(r, ratio)
		fill(m.Y)
		fill(m.Cb)
		fill(m.Cr)
		imgs = append(imgs, m)
	}
	rgba, nrgba, gray, cmyk, deep := image.NewRGBA(r), image.NewNRGBA(r), image.NewGray(r), image.NewCMYK(r), image.NewNRGBA64(r)
	fill(nrgba.Pix)
	fill(gray.Pix)
	fill(cmyk.Pix)
	fill(deep.Pix)
	for i := 0; i < len(rgba.Pix); i += 4 { // premultiplied: colour <= alpha
		a := byte(rng.UintN(256))
		rgba.Pix[i], rgba.Pix[i+1], rgba.Pix[i+2], rgba.Pix[i+3] = a/2, a/3, a, a
	}
	pal := image.NewPaletted(r, color.Palette{color.Black, color.NRGBA{10, 200, 30, 128}, color.Transparent})
	for i := range pal.Pix {
		pal.Pix[i] = byte(rng.UintN(4)) // 3 is past the palette: transparent black
	}
	imgs = append(imgs, rgba, nrgba, gray, cmyk, deep, pal)

	for _, m := range imgs {
		sub := m.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(3, 5, 30, 20))
		for _, m := range []image.Image{m, sub} {
			b := m.Bounds()
			read := rowReader(m)
			row := make([]float32, b.Dx()*4)
			for y := b.Min.Y; y < b.Max.Y; y++ {
				read(row, y)
				for x := b.Min.X; x < b.Max.X; x++ {
					var want [4]uint32
					if p, ok := m.(*image.Paletted); ok && int(p.ColorIndexAt(x, y)) >= len(p.Palette) {
						want = [4]uint32{} // At would panic
					} else {
						want[0], want[1], want[2], want[3] = m.At(x, y).RGBA()
					}
					for c := range 4 {
						if got := row[(x-b.Min.X)*4+c]; math.Abs(float64(got)-float64(want[c])/257) > 1 {
							t.Fatalf("%T %v: pixel %d,%d channel %d = %v, want %v", m, b, x, y, c, got, float64(want[c])/257)
						}
					}
				}
			}
		}
	}
}

func near(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) bool { return int(x)-int(y) <= tol && int(y)-int(x) <= tol }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B) && d(a.A, b.A)
}

func TestProcessTransparency(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 200, 100))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 0, 128, 255, 255
	}
	for y := range 100 { // a transparent left half
		for x := range 100 {
			m.SetNRGBA(x, y, color.NRGBA{})
		}
	}
	data := encodePNG(t, m)
	img, err := Process(data, Limits{MaxSide: 100, ThumbSide: 50})
	if err != nil {
		t.Fatal(err)
	}
	if img.Safe.Mime != "image/png" || img.Thumb.Mime != "image/png" {
		t.Fatalf("safe %s, thumb %s; a transparent image must stay PNG", img.Safe.Mime, img.Thumb.Mime)
	}
	for _, r := range []Rendition{img.Safe, img.Thumb} {
		out := decodeRendition(t, r.Mime, r)
		if _, _, _, a := out.At(2, 2).RGBA(); a != 0 {
			t.Errorf("%dx%d: the transparent half has alpha %d", r.Width, r.Height, a)
		}
		if c := color.NRGBAModel.Convert(out.At(r.Width-2, r.Height/2)).(color.NRGBA); c.A != 255 || c.G < 120 || c.G > 136 || c.B < 250 {
			t.Errorf("%dx%d: the opaque half is %v", r.Width, r.Height, c)
		}
	}
}

func TestProcessStripsMetadata(t *testing.T) {
	secrets := []string{"Exif", "SECRET", "ICC_PROFILE", "ns.adobe.com", "a comment", "Author"}
	jpg := encodeJPEG(t, noisyImage(120, 80, 6))
	jpg = withSegment(jpg, 0xe2, append([]byte("ICC_PROFILE\x00\x01\x01"), make([]byte, 64)...))
	jpg = withSegment(jpg, 0xe1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>SECRET</x:xmpmeta>"))
	jpg = withSegment(jpg, 0xfe, []byte("a comment"))
	jpg = withSegment(jpg, 0xe1, exifAPP1(1))

	p := encodePNG(t, noisyImage(120, 80, 7))
	var withText []byte
	withText = append(withText, p[:33]...) // signature and IHDR
	withText = append(withText, pngChunk("tEXt", []byte("Author\x00SECRET"))...)
	withText = append(withText, pngChunk("eXIf", exifAPP1(1)[6:])...)
	withText = append(withText, p[33:]...)

	for name, data := range map[string][]byte{"jpeg": jpg, "png": withText} {
		t.Run(name, func(t *testing.T) {
			if !bytes.Contains(data, []byte("SECRET-GPS")) {
				t.Fatal("the test image lacks its GPS data")
			}
			img, err := Process(data, Limits{ThumbSide: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []Rendition{img.Safe, img.Thumb} {
				for _, s := range secrets {
					if bytes.Contains(r.Data, []byte(s)) {
						t.Errorf("%s %dx%d still contains %q", r.Mime, r.Width, r.Height, s)
					}
				}
			}
			checkImage(t, data, img, Limits{ThumbSide: 50}.withDefaults())
		})
	}
}

// TestProcessOrientation: a JPEG with four coloured quadrants and each
// EXIF orientation comes out upright.
func TestProcessOrientation(t *testing.T) {
	red, green, blue, white := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.RGBA{255, 255, 255, 255}
	src := image.NewRGBA(image.Rect(0, 0, 80, 40))
	for y := range 40 {
		for x := range 80 {
			c := [2][2]color.RGBA{{red, green}, {blue, white}}[y/20][x/40]
			src.SetRGBA(x, y, c)
		}
	}
	plain := encodeJPEG(t, src)
	tests := []struct {
		orientation            uint16
		topLeft, topRight      color.RGBA
		bottomLeft, bottomRght color.RGBA
	}{
		{1, red, green, blue, white},
		{2, green, red, white, blue},
		{3, white, blue, green, red},
		{4, blue, white, red, green},
		{5, red, blue, green, white},
		{6, blue, red, white, green},
		{7, white, green, blue, red},
		{8, green, white, red, blue},
		{9, red, green, blue, white}, // out of range: ignored
	}
	for _, tt := range tests {
		data := withSegment(plain, 0xe1, exifAPP1(tt.orientation))
		for _, lim := range []Limits{{}, {MaxSide: 40}} { // as is, and scaled
			img, err := Process(data, lim)
			if err != nil {
				t.Fatal(err)
			}
			w, h := 80, 40
			if tt.orientation >= 5 && tt.orientation <= 8 {
				w, h = 40, 80
			}
			if img.Width != w || img.Height != h {
				t.Errorf("orientation %d: %dx%d, want %dx%d", tt.orientation, img.Width, img.Height, w, h)
				continue
			}
			out := decodeRendition(t, "safe", img.Safe)
			sw, sh := img.Safe.Width, img.Safe.Height
			for _, q := range []struct {
				x, y int
				want color.RGBA
			}{{sw / 4, sh / 4, tt.topLeft}, {sw * 3 / 4, sh / 4, tt.topRight}, {sw / 4, sh * 3 / 4, tt.bottomLeft}, {sw * 3 / 4, sh * 3 / 4, tt.bottomRght}} {
				if got := color.RGBAModel.Convert(out.At(q.x, q.y)).(color.RGBA); !near(got, q.want, 40) {
					t.Errorf("orientation %d, %dx%d: pixel %d,%d = %v, want %v", tt.orientation, sw, sh, q.x, q.y, got, q.want)
				}
			}
		}
	}
}

func TestProcessExifMalformed(t *testing.T) {
	good := exifAPP1(6)[6:]
	if got := exifOrientation(good); got != 6 {
		t.Fatalf("well-formed: %d, want 6", got)
	}
	le := []byte("II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x03\x00\x00\x00")
	if got := exifOrientation(le); got != 3 {
		t.Errorf("little-endian: %d, want 3", got)
	}
	for name, tiff := range map[string][]byte{
		"empty":           nil,
		"bad byte order":  []byte("XX\x00\x2a\x00\x00\x00\x08"),
		"bad magic":       []byte("MM\x00\x2b\x00\x00\x00\x08"),
		"ifd past end":    []byte("MM\x00\x2a\xff\xff\xff\xff"),
		"count past end":  []byte("MM\x00\x2a\x00\x00\x00\x08\xff\xff"),
		"truncated entry": good[:14],
		"wrong type":      []byte("MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x04\x00\x00\x00\x01\x00\x06\x00\x00"),
	} {
		if got := exifOrientation(tiff); got != 0 {
			t.Errorf("%s: %d, want 0", name, got)
		}
	}
}

func TestProcessBlurhash(t *testing.T) {
	m := image.NewRGBA(image.Rect(0, 0, 300, 600))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = 220, 30, 30, 255
	}
	img, err := Process(encodePNG(t, m), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if x, y, _ := blurhash.Components(img.Blurhash); x != 3 || y != 4 {
		t.Errorf("portrait image: %d×%d components, want 3×4", x, y)
	}
	out, err := blurhash.Decode(img.Blurhash, 8, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c := color.RGBAModel.Convert(out.At(4, 4)).(color.RGBA); !near(c, color.RGBA{220, 30, 30, 255}, 8) {
		t.Errorf("blurhash of a red image decodes to %v", c)
	}
}

// FuzzProcess: no input makes Process panic, and whatever it accepts
// comes out as valid renditions. Run it with
// go test -run '^$' -fuzz FuzzProcess ./media.
func FuzzProcess(f *testing.F) {
	f.Add(encodeJPEG(f, noisyImage(16, 8, 8)))
	f.Add(withSegment(encodeJPEG(f, noisyImage(8, 4, 9)), 0xe1, exifAPP1(6)))
	f.Add(encodePNG(f, noisyImage(8, 8, 10)))
	f.Add(encodeGIF(f, solidPaletted(8, 8, 1)))
	f.Add(readTestdata(f, "gopher-doc.with-alpha.lossless.webp"))
	f.Add(jpegHeader(0xc2, 100, 100, 0x22))
	lim := Limits{MaxPixels: 1 << 16, MaxSide: 64, ThumbSide: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Process(data, lim)
		if err != nil {
			var re *RejectError
			if !errors.As(err, &re) {
				t.Fatalf("not a RejectError: %v", err)
			}
			return
		}
		checkImage(t, data, img, lim)
	})
}

func TestKeys(t *testing.T) {
	sha := "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	tests := []struct{ got, want string }{
		{OriginalKey(sha, "image/webp"), "orig/ab/cd/" + sha + ".webp"},
		{OriginalKey(sha, "image/gif"), "orig/ab/cd/" + sha + ".gif"},
		{OriginalKey(sha, "text/html"), "orig/ab/cd/" + sha + ".bin"},
		{SafeKey(sha, "image/jpeg"), "ab/cd/" + sha + ".jpg"},
		{SafeKey(sha, "image/png"), "ab/cd/" + sha + ".png"},
		{ThumbKey(sha, "image/jpeg"), "ab/cd/" + sha + "_thumb.jpg"},
		{ThumbKey(sha, "image/png"), "ab/cd/" + sha + "_thumb.png"},
	}
	safe := regexp.MustCompile(`^[a-z0-9/_.]+$`)
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
		if !safe.MatchString(tt.got) {
			t.Errorf("%q has characters outside [a-z0-9/_.]", tt.got)
		}
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.ToUpper(sha), sha[:62] + "/x", sha + "0"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SafeKey(%q) did not panic", bad)
				}
			}()
			SafeKey(bad, "image/jpeg")
		}()
	}
}
