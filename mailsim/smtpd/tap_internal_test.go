package smtpd

import (
	"fmt"
	"reflect"
	"testing"
)

// The input tracker follows go-smtp's parsing: only real BDAT commands
// start chunks; bodies, AUTH responses and text dropped at STARTTLS do not.
func TestInputTracker(t *testing.T) {
	type step struct {
		in    string // client input read by go-smtp
		reply string // then a reply code
	}
	tests := []struct {
		name  string
		steps []step
		short bool
	}{
		{"complete pipelined chunks", []step{
			{in: "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde"},
			{reply: "250"}, {reply: "250"}, {reply: "250"}, {reply: "250"}, {reply: "250"},
		}, false},
		{"short last chunk", []step{
			{in: "BDAT 3\r\nabcBDAT 20 LAST\r\nde"}, {reply: "250"},
		}, true},
		{"BDAT lines inside a DATA body", []step{
			{in: "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"},
			{reply: "250"}, {reply: "250"}, {reply: "354"},
			{in: "Subject: x\r\n\r\nBDAT 100 LAST\r\n..BDAT 100 LAST\r\n.\r\n"},
			{reply: "250"},
			{in: "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 1 LAST\r\nz"},
		}, false},
		{"refused DATA has no body", []step{
			{in: "DATA\r\nBDAT 50 LAST\r\n"}, {reply: "502"},
		}, true},
		{"AUTH responses are not commands", []step{
			{in: "AUTH LOGIN\r\n"}, {reply: "334"},
			{in: "DATA\r\n"}, {reply: "334"},
			{in: "BDAT\r\n"}, {reply: "535"},
			{in: "BDAT 1 LAST\r\nq"},
		}, false},
		{"plaintext after STARTTLS is dropped", []step{
			{in: "STARTTLS\r\nBDAT 50 LAST\r\n"}, {reply: "220"},
			{in: "EHLO x\r\nBDAT 2 LAST\r\nok"},
		}, false},
	}
	for _, tc := range tests {
		for _, split := range []int{0, 1, 2, 3, 5} {
			t.Run(tc.name, func(t *testing.T) {
				tap := &replyTap{}
				for _, s := range tc.steps {
					// The input as one read, or in reads of split bytes.
					for in := []byte(s.in); len(in) > 0; {
						n := len(in)
						if split > 0 {
							n = min(split, n)
						}
						tap.in.input(in[:n])
						in = in[n:]
					}
					if s.reply != "" {
						tap.in.reply([]byte(s.reply))
					}
				}
				if got := tap.lastChunkShort(); got != tc.short {
					t.Fatalf("split %d: short = %v, want %v (tracker %+v)", split, got, tc.short, tap.in)
				}
			})
		}
	}
}

// A chunk's bytes are counted as they come, not kept: the tracker holds
// nothing of a large BDAT chunk, and knows how much of it is still to come.
func TestInputTrackerKeepsNoChunk(t *testing.T) {
	const size, read, reads = 4_000_000, 2999, 1000
	var in inputTracker
	in.input([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4000000 LAST\r\nabc"))
	for range reads {
		in.input(make([]byte, read))
	}
	want := int64(size - 3 - reads*read)
	if in.state != stateChunk || in.left != want || in.lastLeft != want {
		t.Fatalf("tracker %+v, want %d left", in, want)
	}
	if len(in.buf) != 0 {
		t.Fatalf("the tracker kept %d bytes of the chunk", len(in.buf))
	}
	buf := make([]byte, read)
	if n := testing.AllocsPerRun(100, func() { in.input(buf) }); n != 0 {
		t.Fatalf("%v allocations per read of chunk bytes", n)
	}
	want -= 101 * read
	// The rest of the chunk and the next command in one read.
	in.input(append(make([]byte, want), "QUIT\r\n"...))
	if in.state != stateCommand || in.lastLeft != 0 || in.owed != 4 {
		t.Fatalf("tracker %+v", in)
	}
}

// A DATA body's bytes are scanned as they come, not kept.
func TestInputTrackerKeepsNoBody(t *testing.T) {
	var in inputTracker
	in.input([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n"))
	in.reply([]byte("250"))
	in.reply([]byte("250"))
	in.reply([]byte("354"))
	line := []byte("a line of the body, .. and dots\r\n")
	if n := testing.AllocsPerRun(100, func() { in.input(line) }); n != 0 {
		t.Fatalf("%v allocations per read of body bytes", n)
	}
	if in.state != stateBody || len(in.buf) != 0 {
		t.Fatalf("tracker %+v", in)
	}
	in.input([]byte(".\r\nBDAT 2 LAST\r\nx"))
	if in.state != stateChunk || in.left != 1 || in.lastLeft != 1 {
		t.Fatalf("tracker %+v", in)
	}
}

// FuzzInputTrackerReads feeds the same client input to two trackers, one
// read at a time and in reads of a few bytes, with the same replies in
// between: they must end in the same state.
func FuzzInputTrackerReads(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\nde"), []byte("22222"), uint8(3))
	f.Add([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: x\r\n\r\n..BDAT 1\r\n.\r\nBDAT 1 LAST\r\nz"), []byte("2232"), uint8(2))
	f.Add([]byte("AUTH LOGIN\r\nx\r\nSTARTTLS\r\nBDAT 50 LAST\r\n"), []byte("3s"), uint8(1))
	f.Fuzz(func(t *testing.T, input, replies []byte, split uint8) {
		codes := map[byte]string{'2': "250", '3': "354", '4': "334", '5': "535", 's': "220"}
		var whole, pieces inputTracker
		step := max(int(split%16), 1)
		// The input in as many parts as there are replies, a reply after
		// each part.
		parts := len(replies) + 1
		for i := range parts {
			from, to := len(input)*i/parts, len(input)*(i+1)/parts
			whole.input(input[from:to])
			for in := input[from:to]; len(in) > 0; in = in[min(step, len(in)):] {
				pieces.input(in[:min(step, len(in))])
			}
			if i < len(replies) {
				code, ok := codes[replies[i]]
				if !ok {
					code = "250"
				}
				whole.reply([]byte(code))
				pieces.reply([]byte(code))
			}
			if !reflect.DeepEqual(state(whole), state(pieces)) {
				t.Fatalf("after part %d: whole %+v, in reads of %d %+v", i, whole, step, pieces)
			}
		}
	})
}

// state is what a tracker knows, its held bytes as a string (the buffers
// differ in capacity).
func state(t inputTracker) string {
	buf := string(t.buf)
	t.buf = nil
	return fmt.Sprintf("%+v %q", t, buf)
}
