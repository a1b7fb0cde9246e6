package nozero

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestBytes(t *testing.T) {
	if Bytes(0) != nil || Bytes(-1) != nil {
		t.Fatal("Bytes(0), Bytes(-1): want nil")
	}
	for _, n := range []int{1, 100, 40000, 1 << 20} {
		b := Bytes(n)
		if len(b) != n || cap(b) < n {
			t.Fatalf("Bytes(%d): len %d cap %d", n, len(b), cap(b))
		}
		for i := range b {
			b[i] = byte(i)
		}
		if b[n-1] != byte(n-1) {
			t.Fatal("not writable")
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{0, 1, 4095, 300000} {
		want := bytes.Repeat([]byte("0123456789abcdefg"), n/17+1)[:n]
		p := filepath.Join(dir, "f")
		if err := os.WriteFile(p, want, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %d bytes, %v", n, len(got), err)
		}
		// Into a buffer given, whatever it held.
		var given []byte
		got, err = ReadFileWith(p, func(k int) []byte {
			given = bytes.Repeat([]byte{'Z'}, k)
			return given
		})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%d bytes into a buffer given: got %d bytes, %v", n, len(got), err)
		}
		if n > 0 && &got[0] != &given[0] {
			t.Fatalf("%d bytes: not read into the buffer given", n)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestBytesCap(t *testing.T) {
	for _, tc := range []struct{ n, c, len, cap int }{{0, 0, 0, 0}, {0, 10, 0, 10}, {5, 3, 5, 5}, {100, 1 << 20, 100, 1 << 20}} {
		b := BytesCap(tc.n, tc.c)
		if len(b) != tc.len || cap(b) != tc.cap {
			t.Fatalf("BytesCap(%d, %d): len %d cap %d", tc.n, tc.c, len(b), cap(b))
		}
	}
}

func TestPrefaultKeepsContents(t *testing.T) {
	for _, n := range []int{0, 1, prefaultMin - 1, prefaultMin, prefaultMin + 4097, 3 << 20} {
		for _, off := range []int{0, 1, 4095} {
			b := lazy(n + off)[off:]
			for i := range b {
				b[i] = byte(i*7 + off)
			}
			mapAhead(b)
			for i := range b {
				if b[i] != byte(i*7+off) {
					t.Fatalf("n %d off %d: byte %d changed", n, off, i)
				}
			}
		}
	}
}
