package corpus

import (
	"testing"
	"time"
)

// FuzzNew: any configuration is either refused with an error or yields an
// organisation whose first mailbox can be listed.
func FuzzNew(f *testing.F) {
	f.Add(int64(1), "interieur.test", 50, 200, int64(0), int64(0), 0)
	f.Add(int64(-7), "", 2, 1, int64(1_700_000_000), int64(1<<20), 4096)
	f.Add(int64(0), "UPPER.Example", -3, -1, int64(-1), int64(-1), -1)
	f.Fuzz(func(t *testing.T, seed int64, domain string, users, msgs int, end, cache int64, maxAtt int) {
		if users > 5000 {
			users %= 5000 // keep each run quick; scale has its own test
		}
		cfg := Config{Seed: seed, Domain: domain, Users: users, MessagesPerUser: msgs, CacheBytes: cache, MaxAttachmentSize: maxAtt}
		if end != 0 {
			cfg.End = time.Unix(end, 0)
		}
		o, err := New(cfg)
		if err != nil {
			return
		}
		u := o.Users()[0]
		for _, fo := range o.Folders(u.Address) {
			if fo.Count > 0 {
				if _, err := o.Message(u.Address, fo.Name, fo.Count); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	})
}

// FuzzMessage: any (user, folder, uid) yields a message or an error, never
// a panic.
func FuzzMessage(f *testing.F) {
	o, err := New(Config{Seed: 1, Users: 20, MessagesPerUser: 100, MaxAttachmentSize: 16 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(0, "INBOX", uint32(1))
	f.Add(3, "inbox", uint32(12))
	f.Add(21, "Dossiers", uint32(5))
	f.Add(5, "Archive/2025", uint32(0))
	f.Add(5, "Archive", uint32(1))
	f.Add(-1, "", ^uint32(0))
	f.Fuzz(func(t *testing.T, user int, folder string, uid uint32) {
		users := o.Users()
		addr := "nobody@interieur.test"
		if user >= 0 && user < len(users) {
			addr = users[user].Address
		}
		m, err := o.Message(addr, folder, uid)
		if err == nil && (m == nil || len(m.Raw) == 0 || m.UID != uid) {
			t.Fatalf("bad message for %s %q %d", addr, folder, uid)
		}
	})
}
