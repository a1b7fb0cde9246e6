package corpus

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"sync"

	"github.com/maildrill/maildrill/internal/nozero"
)

// Scanned annex pages are grey baseline JPEGs: paper grain, a letterhead
// block and lines of word-like strokes. Grain makes the bytes nearly
// incompressible, as real scans are, which lets the generators reach a
// target size with few pages.
//
// Encoding every page with image/jpeg cost about 2 MB/s of output. Pages
// are instead assembled from pre-encoded tiles: the JPEG declares a
// restart interval of tileBlocks 8×8 blocks, and after each restart marker
// the decoder starts afresh (DC prediction reset, byte-aligned data), so an
// interval's entropy-coded bytes do not depend on what came before. A tile
// is such an interval: the encoded bytes of tileBlocks blocks of grain, each
// either paper or ink. A page is laid out at block resolution (which block
// is ink) and written as a sequence of tiles of the right pattern, drawn
// from thousands of variants, separated by RST0…RST7 markers. Every page is
// different, any size is possible, and it costs a memory copy. The tiles are
// made once per process with image/jpeg (about 0.1 s) from a fixed key.

const (
	scanW, scanH = 1240, 1754 // A4 at 150 dpi
	scanQuality  = 80
	tileBlocks   = 4 // 8×8 blocks (MCUs) per restart interval
)

var sqrt = math.Sqrt

type scanTiles struct {
	header  []byte // SOI, DQT, SOF0, DHT, DRI, SOS
	sofDims int    // offset in header of the SOF0 height, then width (2 bytes each)
	// tiles[p]: encoded intervals whose block j is ink when bit j of p is set.
	tiles    [1 << tileBlocks][][]byte
	fullPage int // bytes of a full A4 page, measured
}

var (
	scanTilesOnce sync.Once
	scanTileSet   *scanTiles
)

func tiles() *scanTiles {
	scanTilesOnce.Do(func() { scanTileSet = buildScanTiles(seedKey(0).str("scan-tiles")) })
	return scanTileSet
}

// tileVariants is how many tiles each pattern has: many of plain paper,
// the bulk of a page, so that a page's bytes do not repeat within deflate's
// 32 KB window.
func tileVariants(p int) int {
	switch p {
	case 0:
		return 4096
	case 1<<tileBlocks - 1:
		return 512
	}
	return 48
}

func buildScanTiles(k key) *scanTiles {
	t := &scanTiles{}
	img := image.NewGray(image.Rect(0, 0, 8*tileBlocks, 8))
	var buf bytes.Buffer
	var arena []byte
	type span struct{ p, off, n int }
	var spans []span
	for p := range 1 << tileBlocks {
		r := k.num(uint64(p)).rng()
		for range tileVariants(p) {
			grain(img.Pix, r.next()|1)
			for j := range tileBlocks {
				if p>>j&1 == 1 {
					glyphs(img, 8*j, &r)
				}
			}
			buf.Reset()
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: scanQuality}); err != nil {
				panic(err) // encoding to memory cannot fail
			}
			hdr, data, sof, sos := splitJPEG(buf.Bytes())
			if t.header == nil {
				// DRI goes just before SOS.
				t.header = append(append(append([]byte(nil), hdr[:sos]...),
					0xFF, 0xDD, 0, 4, 0, tileBlocks), hdr[sos:]...)
				t.sofDims = sof
			}
			spans = append(spans, span{p, len(arena), len(data)})
			arena = append(arena, data...)
		}
	}
	for _, s := range spans {
		t.tiles[s.p] = append(t.tiles[s.p], arena[s.off:s.off+s.n:s.off+s.n])
	}
	t.fullPage = len(t.compose(k.str("reference"), scanW, scanH, 0))
	return t
}

// splitJPEG splits an image/jpeg output into its headers up to the end of
// SOS and its entropy-coded data (without EOI), and returns the offset of
// the SOF0 dimensions and of the SOS marker.
func splitJPEG(b []byte) (hdr, data []byte, sof, sos int) {
	for i := 2; i+4 <= len(b) && b[i] == 0xFF; {
		marker := b[i+1]
		end := i + 2 + (int(b[i+2])<<8 | int(b[i+3]))
		if marker == 0xC0 {
			sof = i + 5
		}
		if marker == 0xDA {
			return b[:end], b[end : len(b)-2], sof, i
		}
		i = end
	}
	panic("corpus: unexpected JPEG layout")
}

// grain fills pix with paper: 214..245, from an xorshift stream.
func grain(pix []byte, s uint64) {
	for i := 0; i+8 <= len(pix); i += 8 {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		v := s
		for j := 0; j < 8; j++ {
			pix[i+j] = 214 + byte(v&31)
			v >>= 8
		}
	}
}

// glyphs inks an 8×8 block at x0 with letter-like strokes: stems, bars and
// the odd blank column between letters.
func glyphs(img *image.Gray, x0 int, r *rng) {
	dark := func(x, y int) {
		p := &img.Pix[y*img.Stride+x0+x]
		*p = *p/4 + 20
	}
	for x := 0; x < 8; x++ {
		switch r.intn(8) {
		case 0, 1: // gap
		case 2, 3, 4: // stem
			for y := r.intn(2); y < 8-r.intn(2); y++ {
				dark(x, y)
			}
		default: // bowl or bar
			dark(x, 1+r.intn(2))
			dark(x, 5+r.intn(2))
			dark(x, r.intn(8))
		}
	}
}

// scanPage returns a scanned page of w×h pixels drawn from k.
func scanPage(k key, w, h int) []byte { return tiles().compose(k, w, h, 0) }

// compose lays out a w×h page and assembles it from tiles. With
// maxBytes > 0 the page is cut short (its height reduced, by 32 pixels at a
// time) once it reaches maxBytes.
func (t *scanTiles) compose(k key, w, h, maxBytes int) []byte {
	cols, rows := (w+7)/8, (h+7)/8
	rows = (rows + 3) / 4 * 4 // cols*rows is then a multiple of tileBlocks
	ink := make([]bool, cols*rows)
	r := k.rng()
	fill := func(x0, y0, x1, y1 int) {
		for y := y0; y < y1 && y < rows; y++ {
			for x := x0; x < x1 && x < cols; x++ {
				ink[y*cols+x] = true
			}
		}
	}
	margin := max(cols/10, 1)
	lineH := max(rows/100, 1)                               // 16 px: 10 pt text at 150 dpi
	fill(margin, margin/2, margin+cols/4, margin/2+lineH*3) // letterhead
	for y := margin + lineH*4; y < rows-margin; y += lineH * 2 {
		if r.chance(0.12) {
			continue // paragraph break
		}
		x := margin
		end := cols - margin - r.intn(cols/5+1)
		for x < end {
			word := max((cols/60)*(1+r.intn(4))+r.intn(cols/60+1), 1)
			fill(x, y, min(x+word, end), y+lineH)
			x += word + cols/90 + 1
		}
	}

	size := len(t.header) + 2 + cols*rows/tileBlocks*(2+t.avgTile())
	if maxBytes > 0 {
		size = min(size, maxBytes+cols*4*(2+t.avgTile()))
	}
	out := nozero.Bytes(size + size/8)[:0] // written whole by the appends below
	out = append(out, t.header...)
	group := cols * 4 / tileBlocks // intervals per 4 block rows
	n := cols * rows / tileBlocks
	for s := 0; s < n; s++ {
		if s > 0 {
			if maxBytes > 0 && s%group == 0 && len(out) >= maxBytes {
				rows = s / group * 4
				break
			}
			out = append(out, 0xFF, 0xD0+byte((s-1)&7))
		}
		p := 0
		for j, b := range ink[s*tileBlocks : (s+1)*tileBlocks] {
			if b {
				p |= 1 << j
			}
		}
		v := t.tiles[p]
		out = append(out, v[r.intn(len(v))]...)
	}
	out = append(out, 0xFF, 0xD9)
	// A height whose block rows are exactly rows (the last ones cropped).
	h = min(max(h, 8*rows-7), 8*rows)
	out[t.sofDims], out[t.sofDims+1] = byte(h>>8), byte(h)
	out[t.sofDims+2], out[t.sofDims+3] = byte(w>>8), byte(w)
	return out
}

func (t *scanTiles) avgTile() int {
	if t.fullPage == 0 {
		return 64
	}
	return t.fullPage * tileBlocks / (((scanW + 7) / 8) * ((scanH + 7) / 8))
}

// scanPages returns JPEG pages adding up to about n bytes, all of distinct
// widths: fpdf embeds identical images once and orders images by width
// (ties in map order).
func scanPages(k key, n int) [][]byte {
	t := tiles()
	var out [][]byte
	for n > 0 {
		if n >= t.fullPage*9/10 {
			p := t.compose(k.num(uint64(len(out))), scanW-len(out), scanH, 0)
			out = append(out, p)
			n -= len(p)
			continue
		}
		if n < 12<<10 {
			break
		}
		// A smaller page (a receipt, an ID card copy) for the remainder,
		// cut to size.
		scale := float64(n) / float64(t.fullPage)
		w := int(float64(scanW) * sqrt(scale) * 0.85)
		h := int(float64(scanH) * sqrt(scale) * 1.35)
		if h > scanH {
			w, h = min(w*h/scanH, scanW-100), scanH
		}
		out = append(out, t.compose(k.num(999), max(w, 64), max(h, 64), n))
		break
	}
	return out
}
