package media

import (
	"image"
	"image/color"
)

// resample draws src scaled to w×h (never up) and turned by an EXIF
// orientation into a new RGBA, with a Catmull-Rom filter widened by the
// scale factor, so shrinking averages every source pixel instead of
// skipping most (the aliasing of bilinear sampling).
//
// x/image/draw's kernel scalers do the same, but keep the whole
// horizontally-scaled image in float64 while they work: 32 bytes ×
// output width × source height, 1 GiB for 8192² to 4096². This one is
// separable too, but keeps only the window of horizontally-scaled rows the
// vertical filter needs (a few hundred kB), and works in float32.
func resample(src image.Image, w, h, orientation int) *image.RGBA {
	sb := src.Bounds()
	uw, uh := w, h // the output's sides before turning
	if orientation >= 5 {
		uw, uh = h, w
	}
	cols, rows := newTaps(sb.Dx(), uw), newTaps(sb.Dy(), uh)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	read := rowReader(src)
	line := make([]float32, sb.Dx()*4)
	window := make([][]float32, rows.n) // source row r is window[r%rows.n]
	for i := range window {
		window[i] = make([]float32, uw*4)
	}
	out := make([]float32, uw*4)
	next := 0 // the next source row to scale horizontally
	for y := range uh {
		first := rows.start[y]
		for ; next < first+rows.n; next++ {
			read(line, sb.Min.Y+next)
			cols.apply(window[next%rows.n], line)
		}
		clear(out)
		for k, wt := range rows.w[y*rows.n : (y+1)*rows.n] {
			if wt == 0 {
				continue
			}
			for i, v := range window[(first+k)%rows.n] {
				out[i] += wt * v
			}
		}
		storeRow(dst, out, y, uw, uh, orientation)
	}
	return dst
}

// taps are a filter's weights for each output pixel of one axis: n
// consecutive source pixels from start[i], weighted by w[i*n:(i+1)*n].
type taps struct {
	n     int
	start []int
	w     []float32
}

func newTaps(in, out int) taps {
	if in == out {
		t := taps{n: 1, start: make([]int, out), w: make([]float32, out)}
		for i := range out {
			t.start[i], t.w[i] = i, 1
		}
		return t
	}
	scale := float64(in) / float64(out)
	support := 2 * max(scale, 1) // Catmull-Rom's support is 2
	n := min(int(support*2)+2, in)
	t := taps{n: n, start: make([]int, out), w: make([]float32, out*n)}
	wf := make([]float64, n)
	for i := range out {
		center := (float64(i) + 0.5) * scale
		start := min(max(int(center-support), 0), in-n)
		t.start[i] = start
		ws := t.w[i*n : (i+1)*n]
		var sum float64
		for k := range n {
			// Pixel centers are at x+0.5.
			wf[k] = catmullRom((float64(start+k) + 0.5 - center) / max(scale, 1))
			sum += wf[k]
		}
		for k := range n {
			ws[k] = float32(wf[k] / sum)
		}
	}
	return t
}

func catmullRom(x float64) float64 {
	if x < 0 {
		x = -x
	}
	switch {
	case x < 1:
		return (1.5*x-2.5)*x*x + 1
	case x < 2:
		return ((-0.5*x+2.5)*x-4)*x + 2
	}
	return 0
}

// apply filters one row of RGBA samples (4 a pixel) into dst.
func (t *taps) apply(dst, src []float32) {
	n := t.n
	for i, s := range t.start {
		px := src[s*4 : (s+n)*4]
		var r, g, b, a float32
		for k, wt := range t.w[i*n : (i+1)*n] {
			p := (*[4]float32)(px[k*4:])
			r += wt * p[0]
			g += wt * p[1]
			b += wt * p[2]
			a += wt * p[3]
		}
		d := (*[4]float32)(dst[i*4:])
		d[0], d[1], d[2], d[3] = r, g, b, a
	}
}

// rowReader returns a function filling dst with row y of m as
// alpha-premultiplied RGBA samples from 0 to 255. The common types are
// read straight from their pixel slices.
func rowReader(m image.Image) func(dst []float32, y int) {
	b := m.Bounds()
	switch m := m.(type) {
	case *image.RGBA:
		return func(dst []float32, y int) {
			for i, v := range m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()*4] {
				dst[i] = float32(v)
			}
		}
	case *image.NRGBA:
		return func(dst []float32, y int) {
			pix := m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()*4]
			for i := 0; i < len(pix); i += 4 {
				a := float32(pix[i+3])
				d := (*[4]float32)(dst[i:])
				d[0], d[1], d[2], d[3] = float32(pix[i])*a/255, float32(pix[i+1])*a/255, float32(pix[i+2])*a/255, a
			}
		}
	case *image.YCbCr:
		hs := 1 // how many luma samples share one chroma sample across
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			hs = 2
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			hs = 4
		}
		return func(dst []float32, y int) {
			// Offsets per row rather than YOffset/COffset per pixel:
			// those are not inlined, and cost a third of the scaling.
			luma := m.Y[m.YOffset(b.Min.X, y):][:b.Dx()]
			c0 := m.COffset(b.Min.X, y) - b.Min.X/hs
			for i, l := range luma {
				ci := c0 + (b.Min.X+i)/hs
				r, g, bl := color.YCbCrToRGB(l, m.Cb[ci], m.Cr[ci])
				d := (*[4]float32)(dst[i*4:])
				d[0], d[1], d[2], d[3] = float32(r), float32(g), float32(bl), 255
			}
		}
	case *image.Gray:
		return func(dst []float32, y int) {
			for i, v := range m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()] {
				g := float32(v)
				d := (*[4]float32)(dst[i*4:])
				d[0], d[1], d[2], d[3] = g, g, g, 255
			}
		}
	case *image.Paletted:
		// An index past the palette's end reads as transparent black.
		var pal [256][4]float32
		for i, c := range m.Palette {
			r, g, bl, a := c.RGBA()
			pal[i] = [4]float32{float32(r) / 257, float32(g) / 257, float32(bl) / 257, float32(a) / 257}
		}
		return func(dst []float32, y int) {
			for i, v := range m.Pix[m.PixOffset(b.Min.X, y):][:b.Dx()] {
				*(*[4]float32)(dst[i*4:]) = pal[v]
			}
		}
	case image.RGBA64Image: // every other standard type: no allocation
		return func(dst []float32, y int) {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := m.RGBA64At(x, y)
				d := (*[4]float32)(dst[(x-b.Min.X)*4:])
				d[0], d[1], d[2], d[3] = float32(c.R)/257, float32(c.G)/257, float32(c.B)/257, float32(c.A)/257
			}
		}
	}
	return func(dst []float32, y int) {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := m.At(x, y).RGBA()
			d := (*[4]float32)(dst[(x-b.Min.X)*4:])
			d[0], d[1], d[2], d[3] = float32(r)/257, float32(g)/257, float32(bl)/257, float32(a)/257
		}
	}
}

// storeRow writes row y of the unturned uw×uh output into dst, where
// the EXIF orientation puts it: pixel x of the row lands at byte
// base + x*step of dst.Pix.
func storeRow(dst *image.RGBA, row []float32, y, uw, uh, orientation int) {
	s := dst.Stride
	var base, step int
	switch orientation {
	default: // 1: as stored
		base, step = y*s, 4
	case 2: // mirrored left to right
		base, step = y*s+(uw-1)*4, -4
	case 3: // turned 180°
		base, step = (uh-1-y)*s+(uw-1)*4, -4
	case 4: // mirrored top to bottom
		base, step = (uh-1-y)*s, 4
	case 5: // transposed: row y becomes column y
		base, step = y*4, s
	case 6: // turned 90° clockwise
		base, step = (uh-1-y)*4, s
	case 7: // transversed
		base, step = (uw-1)*s+(uh-1-y)*4, -s
	case 8: // turned 90° counter-clockwise
		base, step = (uw-1)*s+y*4, -s
	}
	for x := range uw {
		v := (*[4]float32)(row[x*4:])
		p := (*[4]uint8)(dst.Pix[base+x*step:])
		// Catmull-Rom overshoots near edges; premultiplied colour may
		// not exceed alpha.
		a := to8(v[3], 255)
		p[0], p[1], p[2], p[3] = to8(v[0], float32(a)), to8(v[1], float32(a)), to8(v[2], float32(a)), a
	}
}

// to8 rounds v to the nearest integer in [0, hi].
func to8(v, hi float32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= hi {
		return uint8(hi)
	}
	return uint8(v + 0.5)
}
