package corpus

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestScanPages decodes assembled pages: valid baseline JPEG with restart
// markers, the requested size, paper and ink where expected, and the sizes
// adding up to the request.
func TestScanPages(t *testing.T) {
	for _, n := range []int{13 << 10, 150 << 10, 1 << 20, 4 << 20} {
		pages := scanPages(seedKey(1).num(uint64(n)), n)
		require.NotEmpty(t, pages)
		total := 0
		widths := map[int]bool{}
		for i, p := range pages {
			total += len(p)
			img, err := jpeg.Decode(bytes.NewReader(p))
			require.NoError(t, err, "page %d of %d", i, n)
			g, ok := img.(*image.Gray)
			require.True(t, ok, "grey scan")
			w, h := g.Bounds().Dx(), g.Bounds().Dy()
			assert.False(t, widths[w], "widths are distinct")
			widths[w] = true
			if i < len(pages)-1 {
				assert.Equal(t, scanW-i, w)
				assert.Equal(t, scanH, h)
			}
			var paper, ink int
			for _, v := range g.Pix {
				switch {
				case v >= 200:
					paper++
				case v < 120:
					ink++
				}
			}
			assert.Greater(t, paper, len(g.Pix)/2, "mostly paper")
			assert.Greater(t, ink, len(g.Pix)/100, "some ink")
			assert.Greater(t, bytes.Count(p, []byte{0xFF, 0xD0}), 0, "restart markers")
		}
		assert.InEpsilon(t, n, total, 0.12, "%d pages for %d bytes", len(pages), n)
	}
	a := scanPage(seedKey(1), 600, 800)
	b := scanPage(seedKey(2), 600, 800)
	assert.NotEqual(t, a, b)
	assert.Equal(t, a, scanPage(seedKey(1), 600, 800))
}

func BenchmarkScanPage(b *testing.B) {
	tiles()
	b.ResetTimer()
	var n int
	for i := 0; b.Loop(); i++ {
		n = len(scanPage(seedKey(int64(i)), scanW, scanH))
	}
	b.SetBytes(int64(n))
}
