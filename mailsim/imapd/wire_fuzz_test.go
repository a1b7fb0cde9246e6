package imapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
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

// FuzzShimFraming checks, differentially, that the wire shim and the go-imap
// server behind it agree on where commands start: arbitrary client bytes
// (after a login and SELECT, unless they start with "!") go to a real server
// over TCP, and every tagged response must answer, in order, the command
// the shim read at that position (same tag). A connection answers every
// command the shim read or ends; it never hangs.
func FuzzShimFraming(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n",
		"b FOO {5}\r\nc NOOP\r\n",
		"d FOO {15+}\r\ne LOGOUT\r\nxxxxx\r\nf NOOP\r\n",
		"g NOOP x\rh IDLE\r\nDONE\r\n",
		"i IDLE\r\nDONE\r\nj NOOP\r\n",
		"k APPEND INBOX {5+}\r\nhello\r\nl NOOP\r\n",
		"m APPEND INBOX {5+}\r\nhello {3+}\r\nabc\r\nn NOOP\r\n",
		"o APPEND INBOX {2}\r\nhi ) x\r\np NOOP\r\n",
		"q LIST \"\" {1}\r\n*\r\nr NOOP\r\n",
		"s LOGIN {3} \r\nabc {3}\r\ndef\r\nt NOOP\r\n",
		"+ NOOP\r\nu NOOP\r\n",
		"!v AUTHENTICATE PLAIN\r\n*\r\nw NOOP\r\n",
		"!x AUTHENTICATE PLAIN\r\n" + strings.Repeat("A", 4100) + "\r\ny NOOP\r\n",
		"!z LOGIN {9999999}\r\nA NOOP\r\n",
		"B ID (\"name\" {3+}\r\nabc)\r\nC NOOP\r\n",
		"D FETCH 1:* (BODY.PEEK[] FLAGS)\r\nE UID SEARCH ALL\r\nF UID COPY 99 Sent\r\n",
		"G SEARCH RETURN (SAVE) ALL\r\nH FETCH $ FLAGS\r\n",
		"I SELECT {5}\r\nINBOX\r\nJ NOOP\r\n",
		"K NOOP\nL NOOP\n",
		"M APPEND {5}\r\nINBOX {5}\r\nhello\r\nN NOOP\r\n",
		"!O LOGIN {20+}\r\nagent@interieur.test {12+}\r\nsecret-agent\r\nQ NOOP\r\n",
		"R APPEND INBOX UTF8 (~{5}\r\nhello)\r\nS NOOP\r\n",
		"T STATUS {5+}\r\nINBOX (MESSAGES)\r\nU NOOP\r\n",
		"V SORT (REVERSE DATE) UTF-8 SUBJECT {3+}\r\nabc\r\nW UID THREAD REFERENCES UTF-8 ALL\r\n",
		"X SORT (DATE) {5+}\r\nUTF-8 ALL\r\nY SORT RETURN (MIN) (SIZE) UTF-8 ALL\r\n",
		"Z1 APPEND INBOX (\\Seen) {5+}\r\nhello (\\Flagged) \" 5-Dec-2025 10:00:00 +0000\" {3+}\r\nabc {2+}\r\nhi\r\nZ2 NOOP\r\n",
		"Z3 APPEND INBOX {5+}\r\nhello bogus {3+}\r\nabc\r\nZ4 NOOP\r\n",
		"Z5 FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 1)\r\nZ6 STORE 1 (UNCHANGEDSINCE 1) +FLAGS (x)\r\nZ7 SEARCH MODSEQ \"/flags/x\" all 1\r\nZ8 SELECT INBOX (CONDSTORE)\r\n",
		"C1 APPEND INBOX (\\Seen) CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {5+}\r\nhello URL \";UID=2\")\r\nC2 APPEND INBOX CATENATE (TEXT {3}\r\nabc) {2+}\r\nhi\r\nC3 APPEND INBOX CATENATE (URL \"imap://x@y/INBOX/;UID=1\")\r\nC4 APPEND INBOX CATENATE (TEXT x)\r\n",
		"X1 SEARCH RETURN (UPDATE PARTIAL 1:2) ALL\r\nX2 UID SEARCH RETURN (UPDATE) SUBJECT {3+}\r\nabc\r\nX3 CANCELUPDATE \"X1\" \"X9\"\r\nX4 CANCELUPDATE {2+}\r\nX2\r\nX5 STORE 1 +FLAGS (\\Deleted)\r\nX6 EXPUNGE\r\nX7 SEARCH RETURN (PARTIAL 0:1) SUBJECT {1+}\r\na\r\nX8 NOOP\r\n",
		"Q1 SELECT INBOX (QRESYNC (1 1))\r\nQ2 ENABLE QRESYNC\r\nQ3 SELECT INBOX (QRESYNC (1 1 1:* (1:2 1:2)))\r\nQ4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\nQ5 STORE 1 +FLAGS (\\Deleted)\r\nQ6 EXPUNGE\r\n",
	} {
		f.Add([]byte(s))
	}
	ts := startServer(f, serverOpts{insecure: true, inbox: 5})
	// Drain the audit trail: the bus holds publishers back when a
	// subscriber lags.
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	go func() {
		for {
			if _, err := ts.sub.NextBatch(ctx, 0); err != nil {
				return
			}
		}
	}()
	var mu sync.Mutex
	recorded := map[int][]string{} // by client port
	commandHook = func(info *ConnInfo, tag, name string) {
		if tag == "" {
			// A line with no tag ("{7000}"): the server can only answer
			// it untagged (* BAD), so no tagged response is owed.
			return
		}
		mu.Lock()
		recorded[info.SourcePort] = append(recorded[info.SourcePort], tag)
		mu.Unlock()
	}
	f.Cleanup(func() { commandHook = nil })

	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(3 * time.Second))
		port := nc.LocalAddr().(*net.TCPAddr).Port
		mu.Lock()
		delete(recorded, port) // an earlier connection on the same port
		mu.Unlock()
		var in []byte
		if len(data) > 0 && data[0] == '!' {
			in = data[1:]
		} else {
			in = append([]byte("P1 LOGIN agent@interieur.test secret-agent\r\nP2 SELECT INBOX\r\n"), data...)
		}
		go func() {
			nc.Write(in)
			nc.(*net.TCPConn).CloseWrite()
		}()
		tags, err := responseTags(bufio.NewReader(nc))
		if err != nil {
			t.Fatalf("reading responses: %v (a hang?)", err)
		}
		mu.Lock()
		cmds := recorded[port]
		delete(recorded, port)
		mu.Unlock()
		if len(tags) > len(cmds) {
			t.Fatalf("%d tagged responses %q for %d commands %q", len(tags), tags, len(cmds), cmds)
		}
		for i := range tags {
			if tags[i] != cmds[i] {
				t.Fatalf("response %d has tag %q, the shim's command %d is %q (responses %q, commands %q)", i, tags[i], i, cmds[i], tags, cmds)
			}
		}
	})
}

// responseTags reads server output to EOF and returns the tags of the
// tagged responses, skipping literals.
func responseTags(r *bufio.Reader) ([]string, error) {
	var tags []string
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return tags, nil
			}
			return tags, err
		}
		if bytes.HasPrefix(line, []byte("* BYE [CLIENTBUG] Command not understood")) || bytes.HasPrefix(line, []byte("* BYE [SERVERBUG]")) {
			// The shim's safety net: it and the server still agree, but
			// its model of go-imap missed something.
			return tags, fmt.Errorf("the shim detected a desync: %q", line)
		}
		if n, _, ok := literalSize(line); ok {
			if _, err := io.CopyN(io.Discard, r, n); err != nil {
				return tags, nil
			}
			// The response goes on after the literal; its tag was read.
		}
		if line[0] == '*' || line[0] == '+' || !startsResponse(line) {
			continue
		}
		tags = append(tags, string(line[:bytes.IndexByte(line, ' ')]))
	}
}

func startsResponse(line []byte) bool {
	return bytes.IndexByte(line, ' ') > 0
}
