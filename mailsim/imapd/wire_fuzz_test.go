package imapd

import (
	"bufio"
	"bytes"
	"testing"
)

func FuzzParseIDParams(f *testing.F) {
	for _, s := range []string{`NIL`, `("name" "Thunderbird" "version" "128.5.0")`, `("a" NIL)`, `("x" "y\"z")`, `(`, `("k")`, `()`, `(atom value)`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseIDParams(b)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
		if len(m) > 30 {
			t.Fatalf("%d pairs accepted", len(m))
		}
	})
}

func FuzzCommandFraming(f *testing.F) {
	for _, s := range []string{"a1 LOGIN u p\r\n", "a2 APPEND INBOX {5}\r\n", "a3 APPEND INBOX {5+}\r\n", "a4 APPEND INBOX ~{3}\r\n", "x {99999999999999999999}\r\n", "DONE\r\n", "{}\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		n, _, ok := literalSize(line)
		if ok && n < 0 {
			t.Fatalf("negative literal %d", n)
		}
		tag, name, _, ok := splitCommand(line)
		if ok && (tag == "" || bytes.ContainsAny([]byte(tag), " ")) {
			t.Fatalf("bad tag %q (name %q)", tag, name)
		}
		r := bufio.NewReaderSize(bytes.NewReader(line), 16)
		for {
			l, err := readLine(r, DefaultMaxLineBytes)
			if err != nil {
				break
			}
			if len(l) > DefaultMaxLineBytes {
				t.Fatal("line over limit accepted")
			}
		}
	})
}
