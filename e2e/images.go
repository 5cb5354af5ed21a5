package e2e

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
)

// shape is the size and format of a generated image. The list covers
// what the pages must lay out without distortion or overflow: square,
// the 4:5 portrait Instagram favours, wide, a very tall and a panorama,
// tiny ones that get scaled up, and a transparent PNG.
type shape struct {
	w, h  int
	mime  string // image/png or image/jpeg
	alpha bool   // PNG with transparent areas
}

var shapes = []shape{
	{1080, 1080, "image/png", false},
	{1080, 1350, "image/jpeg", false},
	{1920, 1080, "image/jpeg", false},
	{800, 2400, "image/png", false},  // tall
	{3000, 700, "image/jpeg", false}, // panorama
	{640, 640, "image/jpeg", false},
	{512, 768, "image/png", false},
	{1200, 900, "image/jpeg", false},
	{300, 300, "image/png", false},
	{96, 96, "image/png", false},
	{1024, 1024, "image/png", true},
	{1600, 1000, "image/jpeg", false},
}

// makeImage draws a deterministic picture for seed n: a two-colour
// gradient at an angle, soft discs and a few bars, so every post looks
// different in a screenshot and a mix-up between two posts is visible.
// It returns the encoded bytes.
func makeImage(n int, s shape) ([]byte, error) {
	r := rand.New(rand.NewPCG(uint64(n)+1, 0x5eed))
	img := image.NewNRGBA(image.Rect(0, 0, s.w, s.h))
	c1, c2 := randomColor(r), randomColor(r)
	angle := r.Float64() * 2 * math.Pi
	dx, dy := math.Cos(angle), math.Sin(angle)
	span := math.Abs(dx)*float64(s.w) + math.Abs(dy)*float64(s.h)
	type disc struct {
		x, y, rad float64
		c         color.NRGBA
	}
	discs := make([]disc, 3+r.IntN(5))
	short := float64(min(s.w, s.h))
	for i := range discs {
		discs[i] = disc{r.Float64() * float64(s.w), r.Float64() * float64(s.h),
			short * (0.08 + 0.3*r.Float64()), randomColor(r)}
	}
	barEvery := 8 + r.IntN(24)
	for y := 0; y < s.h; y++ {
		for x := 0; x < s.w; x++ {
			t := (float64(x)*dx + float64(y)*dy) / span
			t -= math.Floor(t)
			px := mix(c1, c2, t)
			for _, d := range discs {
				dist := math.Hypot(float64(x)-d.x, float64(y)-d.y)
				if dist < d.rad {
					px = mix(px, d.c, 0.75*(1-dist/d.rad*dist/d.rad))
				}
			}
			if (x*barEvery/max(s.w, 1)+y*barEvery/max(s.h, 1))%7 == 0 {
				px = mix(px, color.NRGBA{255, 255, 255, 255}, 0.15)
			}
			if s.alpha {
				// A transparent frame and a see-through hole in the middle.
				cx, cy := float64(x)/float64(s.w)-0.5, float64(y)/float64(s.h)-0.5
				if d := math.Hypot(cx, cy); d > 0.48 || d < 0.12 {
					px.A = 0
				}
			}
			img.SetNRGBA(x, y, px)
		}
	}
	var buf bytes.Buffer
	var err error
	if s.mime == "image/jpeg" {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	}
	return buf.Bytes(), err
}

func randomColor(r *rand.Rand) color.NRGBA {
	return color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
}

func mix(a, b color.NRGBA, t float64) color.NRGBA {
	l := func(x, y uint8) uint8 { return uint8(float64(x)*(1-t) + float64(y)*t + 0.5) }
	return color.NRGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}
