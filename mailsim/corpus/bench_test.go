package corpus

import (
	"testing"
)

// BenchmarkRenderPool renders every variant of every document type of one
// format (the whole pool of the default organisation, uncached) and
// reports the throughput in MB/s of encoded documents. Run it with
// -benchtime=1x: one iteration is the whole pool.
func BenchmarkRenderPool(b *testing.B) {
	o, err := New(Config{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, format := range []string{"pdf", "docx", "xlsx", "csv", "zip"} {
		b.Run(format, func(b *testing.B) {
			var metas []docMeta
			for ti, dt := range docTypes {
				if dt.format != format {
					continue
				}
				for v := 0; v < docVariants; v++ {
					metas = append(metas, o.docMeta(ti, v))
				}
			}
			var total int64
			for b.Loop() {
				total = 0
				for i := range metas {
					raw, err := o.renderDoc(&metas[i])
					if err != nil {
						b.Fatal(err)
					}
					total += int64(len(raw))
				}
			}
			b.SetBytes(total)
			b.ReportMetric(float64(total)/float64(len(metas))/1024, "KiB/doc")
		})
	}
}
