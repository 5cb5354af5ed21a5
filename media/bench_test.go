package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"testing"
	"time"

	"golang.org/x/image/draw"
)

// Run with: go test -run '^$' -bench . -benchtime 5x ./media
//
// Each benchmark reports images/s and peak-MB: how far the Go heap
// (live objects plus garbage not yet swept, runtime/metrics
// "/memory/classes/heap/objects:bytes") rose above its level after a
// forced GC, sampled every 100 µs by a goroutine while one image is
// processed; the largest rise over the iterations. It is the memory the
// process really needs for one image at the default GOGC, which is what
// sizes a worker; B/op (ReportAllocs) is the total allocated, freed or not.

// photoLike is a smooth picture with some texture: gradients, a few
// low-frequency waves and mild noise, so that it compresses like a photo
// or a render (a 4096² JPEG of it is a few MB), not like pure noise.
func photoLike(w, h int) *image.RGBA {
	rng := rand.New(rand.NewPCG(1, 2))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		fy := float64(y) / float64(h)
		for x := range w {
			fx := float64(x) / float64(w)
			wave := 40 * math.Sin(fx*9+fy*4) * math.Cos(fy*7-fx*3)
			n := float64(rng.IntN(17) - 8)
			i := m.PixOffset(x, y)
			m.Pix[i] = clamp8(60 + 140*fx + wave + n)
			m.Pix[i+1] = clamp8(80 + 100*fy - wave + n)
			m.Pix[i+2] = clamp8(200 - 120*fx*fy + wave/2 + n)
			m.Pix[i+3] = 0xff
		}
	}
	return m
}

func clamp8(v float64) uint8 { return uint8(max(0, min(255, v))) }

// peakHeap starts sampling the heap; the returned function stops and
// returns the largest rise above the level at the start, in bytes.
func peakHeap() func() uint64 {
	const name = "/memory/classes/heap/objects:bytes"
	runtime.GC()
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	stop, result := make(chan struct{}), make(chan uint64)
	go func() {
		peak := base
		tick := time.NewTicker(100 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-stop:
				metrics.Read(s)
				result <- max(peak, s[0].Value.Uint64()) - base
				return
			}
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
		}
	}()
	return func() uint64 { close(stop); return <-result }
}

// measure runs one image per iteration, timing only op, and reports
// images/s and peak-MB.
func measure(b *testing.B, op func() error) {
	b.ReportAllocs()
	var peak uint64
	var busy time.Duration
	for range b.N {
		b.StopTimer()
		stop := peakHeap()
		start := time.Now()
		b.StartTimer()
		err := op()
		b.StopTimer()
		busy += time.Since(start)
		peak = max(peak, stop())
		b.StartTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/busy.Seconds(), "images/s")
	b.ReportMetric(float64(peak)/1e6, "peak-MB")
}

func BenchmarkProcess(b *testing.B) {
	png1024 := encodePNG(b, photoLike(1024, 1024))
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, photoLike(4096, 4096), &jpeg.Options{Quality: 92}); err != nil {
		b.Fatal(err)
	}
	jpeg4096 := jb.Bytes()
	// A camera-sized photo, for the path that scales the safe copy down.
	var jb2 bytes.Buffer
	if err := jpeg.Encode(&jb2, photoLike(6000, 4000), &jpeg.Options{Quality: 92}); err != nil {
		b.Fatal(err)
	}
	jpeg6000 := jb2.Bytes()
	b.Logf("inputs: 1024² PNG %.1f MB, 4096² JPEG %.1f MB, 6000×4000 JPEG %.1f MB",
		float64(len(png1024))/1e6, float64(len(jpeg4096))/1e6, float64(len(jpeg6000))/1e6)

	b.Run("png-1024", func(b *testing.B) {
		measure(b, func() error { _, err := Process(png1024, Limits{}); return err })
	})
	b.Run("jpeg-4096", func(b *testing.B) {
		measure(b, func() error { _, err := Process(jpeg4096, Limits{}); return err })
	})
	b.Run("jpeg-6000x4000", func(b *testing.B) {
		measure(b, func() error { _, err := Process(jpeg6000, Limits{}); return err })
	})
	b.Run("fetch+process-jpeg-4096", func(b *testing.B) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// As image hosts and CDNs do; without it net/http would send
			// the 4.6 MB chunked.
			w.Header().Set("Content-Type", "image/jpeg")
			w.Header().Set("Content-Length", strconv.Itoa(len(jpeg4096)))
			w.Write(jpeg4096)
		}))
		defer srv.Close()
		client := loopbackClient()
		measure(b, func() error {
			data, err := Fetch(b.Context(), client, "", srv.URL+"/render.jpg", 16<<20)
			if err != nil {
				return err
			}
			_, err = Process(data, Limits{})
			return err
		})
	})
}

// BenchmarkDownscale compares resample with x/image/draw's scalers on a
// decoded JPEG (*image.YCbCr, the common case), for the thumbnail of a
// 4096² image and the safe copy of a 6000×4000 photo. It is the evidence
// for writing resample: same filter as draw.CatmullRom, a fraction of
// its memory.
func BenchmarkDownscale(b *testing.B) {
	decoded := func(w, h int) image.Image {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, photoLike(w, h), &jpeg.Options{Quality: 92}); err != nil {
			b.Fatal(err)
		}
		m, err := jpeg.Decode(&buf)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name string
		src  image.Image
		w, h int
	}{
		{"4096-to-640", decoded(4096, 4096), 640, 640},
		{"6000x4000-to-4096", decoded(6000, 4000), 4096, 2731},
	}
	xdraw := func(s draw.Scaler) func(image.Image, int, int) image.Image {
		return func(src image.Image, w, h int) image.Image {
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			s.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
			return dst
		}
	}
	scalers := []struct {
		name  string
		scale func(image.Image, int, int) image.Image
	}{
		{"resample", func(src image.Image, w, h int) image.Image { return resample(src, w, h, 1) }},
		{"xdraw-CatmullRom", xdraw(draw.CatmullRom)},
		{"xdraw-BiLinear", xdraw(draw.BiLinear)},
		{"xdraw-ApproxBiLinear", xdraw(draw.ApproxBiLinear)},
	}
	for _, c := range cases {
		for _, s := range scalers {
			b.Run(c.name+"/"+s.name, func(b *testing.B) {
				measure(b, func() error { s.scale(c.src, c.w, c.h); return nil })
			})
		}
	}
}
