package smtpd

import "testing"

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
		t.Run(tc.name, func(t *testing.T) {
			tap := &replyTap{}
			for _, s := range tc.steps {
				if s.in != "" {
					tap.in.input([]byte(s.in))
				}
				if s.reply != "" {
					tap.in.reply([]byte(s.reply))
				}
			}
			if got := tap.lastChunkShort(); got != tc.short {
				t.Fatalf("short = %v, want %v (tracker %+v)", got, tc.short, tap.in)
			}
		})
	}
}
