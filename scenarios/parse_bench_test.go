package scenarios

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseLibrary parses every scenario of the library once per op.
func BenchmarkParseLibrary(b *testing.B) {
	files, _ := filepath.Glob("library/*.yaml")
	if len(files) == 0 {
		b.Fatal("no library scenarios")
	}
	data := make([][]byte, len(files))
	size := 0
	for i, f := range files {
		var err error
		if data[i], err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
		size += len(data[i])
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for i, d := range data {
			if _, err := Parse(files[i], d); err != nil {
				b.Fatal(err)
			}
		}
	}
}
