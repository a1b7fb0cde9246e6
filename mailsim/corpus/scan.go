package corpus

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
)

var sqrt = math.Sqrt

// scanPage draws a grey "scanned page": paper grain, a letterhead block and
// lines of word-like strokes, and encodes it as JPEG. Grain makes the
// bytes incompressible, as real scans are, which lets the generators reach
// a target size with few pages. The cost is linear in w*h.
func scanPage(k key, w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	r := k.rng()
	s := r.next() | 1
	pix := img.Pix
	for i := 0; i+8 <= len(pix); i += 8 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v := s
		for j := 0; j < 8; j++ {
			pix[i+j] = 214 + byte(v&31) // paper: 214..245
			v >>= 8
		}
	}
	margin := w / 10
	lineH := h / 60
	if lineH < 4 {
		lineH = 4
	}
	ink := func(x0, y0, x1, y1 int) {
		for y := y0; y < y1 && y < h; y++ {
			row := pix[y*img.Stride:]
			for x := x0; x < x1 && x < w; x++ {
				row[x] = row[x]/4 + 20
			}
		}
	}
	ink(margin, margin/2, margin+w/4, margin/2+lineH*3) // letterhead
	for y := margin + lineH*4; y < h-margin; y += lineH * 2 {
		if r.chance(0.12) {
			continue // paragraph break
		}
		x := margin
		end := w - margin - r.intn(w/5+1)
		for x < end {
			word := (w/60)*(1+r.intn(4)) + r.intn(w/60+1)
			ink(x, y, min(x+word, end), y+lineH)
			x += word + w/90 + 1
		}
	}
	var buf bytes.Buffer
	buf.Grow(w * h / 2)
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return buf.Bytes()
}

const (
	scanW, scanH = 1240, 1754 // A4 at 150 dpi
	scanBPP      = 0.22       // JPEG bytes per pixel of scanPage, measured
)

// scanPages returns JPEG pages adding up to about n bytes, all of
// distinct widths. Few pages are drawn: each drawn page yields eight by
// patching its width in the frame header to w, w-1 ... w-7, which is still
// valid JPEG (the 8-pixel blocks per row are unchanged; decoders crop).
// Distinct widths and bytes matter: fpdf embeds identical images once and
// orders images by width.
func scanPages(k key, n int) [][]byte {
	var out [][]byte
	bpp := scanBPP
	full := int(bpp * scanW * scanH)
	var base []byte
	for n > 0 {
		if n >= full*9/10 {
			b, j := len(out)/8, len(out)%8
			if j == 0 {
				base = scanPage(k.num(uint64(b)), scanW-8*b, scanH)
			}
			p := base
			if j > 0 {
				p = setJPEGWidth(base, scanW-8*b-j)
			}
			out = append(out, p)
			n -= len(p)
			continue
		}
		if n < 12<<10 {
			break
		}
		// A smaller page (a receipt, an ID card copy) for the remainder.
		scale := float64(n) / (scanBPP * scanW * scanH)
		w := int(float64(scanW) * sqrt(scale) * 0.8)
		h := int(float64(scanH) * sqrt(scale) * 1.25)
		out = append(out, scanPage(k.num(999), max(w, 64), max(h, 64)))
		break
	}
	return out
}

// setJPEGWidth returns a copy of the JPEG b with the width of its baseline
// frame header set to w.
func setJPEGWidth(b []byte, w int) []byte {
	c := bytes.Clone(b)
	for i := 2; i+9 < len(c); {
		if c[i] != 0xFF {
			break
		}
		marker := c[i+1]
		size := int(c[i+2])<<8 | int(c[i+3])
		if marker == 0xC0 {
			c[i+7], c[i+8] = byte(w>>8), byte(w)
			return c
		}
		i += 2 + size
	}
	return c
}
