package corpus

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewDefaults(t *testing.T) {
	o, err := New(Config{})
	require.NoError(t, err)
	c := o.Config()
	assert.Equal(t, "interieur.test", c.Domain)
	assert.Equal(t, 50, c.Users)
	assert.Equal(t, 200, c.MessagesPerUser)
	assert.True(t, c.End.Equal(time.Date(2025, 12, 10, 17, 0, 0, 0, time.UTC)), "end %s", c.End)
	assert.Len(t, o.Users(), 50+len(sharedMailboxes))
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"negative users", Config{Users: -1}, "at least 2"},
		{"one user", Config{Users: 1}, "at least 2"},
		{"absurd users", Config{Users: 10_000_000}, "not supported"},
		{"negative messages", Config{MessagesPerUser: -5}, "must be positive"},
		{"absurd messages", Config{MessagesPerUser: 1 << 30}, "not supported"},
		{"bad domain", Config{Domain: "not a domain"}, "not a valid DNS name"},
		{"domain without dot", Config{Domain: "localhost"}, "not a valid DNS name"},
		{"end year", Config{End: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, "year must be"},
		{"negative cache", Config{CacheBytes: -1}, "must not be negative"},
		{"tiny attachments", Config{MaxAttachmentSize: 10}, "at least 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := New(Config{Users: -1, MessagesPerUser: -1})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "users")
	assert.Contains(t, err.Error(), "messages per user", "every problem is reported at once")
}

func TestDirectory(t *testing.T) {
	o, err := New(Config{Seed: 7, Users: 2000})
	require.NoError(t, err)
	users := o.Users()
	require.Len(t, users, 2000+len(sharedMailboxes))

	dir, sec := users[0], users[1]
	assert.Equal(t, "director", dir.Role)
	assert.Equal(t, "secretariat", sec.Role)
	assert.Contains(t, dir.Delegates, sec.Address, "the secretariat has delegation on the director's mailbox")

	cab, ok := o.Lookup("CABINET@Interieur.Test")
	require.True(t, ok, "cabinet@ exists and lookup ignores case")
	assert.Equal(t, "shared", cab.Kind)
	assert.Equal(t, "Cabinet", cab.Name)
	assert.Contains(t, cab.Delegates, dir.Address)
	assert.Contains(t, cab.Delegates, sec.Address)
	assert.Greater(t, len(cab.Delegates), 2)
	_, ok = o.Lookup("courrier@interieur.test")
	assert.True(t, ok)
	_, ok = o.Lookup("nobody@interieur.test")
	assert.False(t, ok)

	seen := map[string]bool{}
	depts := map[string]int{}
	weak := 0
	addrRe := regexp.MustCompile(`^[a-z0-9.-]+@interieur\.test$`)
	for i, u := range users {
		assert.False(t, seen[u.Address], "duplicate address %s", u.Address)
		seen[u.Address] = true
		assert.Regexp(t, addrRe, u.Address)
		got, ok := o.Lookup(strings.ToUpper(u.Address))
		require.True(t, ok)
		assert.Equal(t, u.Address, got.Address)
		assert.NotEmpty(t, u.Name)
		assert.NotEmpty(t, u.Department)
		assert.NotEmpty(t, u.Title)
		assert.NotEmpty(t, u.Password)
		assert.NotEmpty(t, u.Phone)
		if i < 2000 {
			assert.Equal(t, "person", u.Kind)
			assert.NotEmpty(t, u.GivenName)
			assert.NotEmpty(t, u.Surname)
			depts[u.Department]++
		} else {
			assert.Equal(t, "shared", u.Kind)
			assert.NotEmpty(t, u.Delegates)
		}
		for _, d := range u.Delegates {
			_, ok := o.Lookup(d)
			assert.True(t, ok, "delegate %s of %s is in the directory", d, u.Address)
		}
		if isCommon(u.Password) {
			weak++
			assert.NotEqual(t, "director", u.Role, "the director never has a weak password")
		} else {
			assert.True(t, strongEnough(u.Password), "%s has a weak password %q", u.Address, u.Password)
		}
	}
	assert.GreaterOrEqual(t, len(depts), 12, "plenty of departments")
	for _, name := range []string{"Cabinet du ministre", "Secrétariat général", "Direction générale de la police nationale",
		"Direction des libertés publiques et des affaires juridiques", "Direction des ressources humaines", "Service des systèmes d'information"} {
		assert.Positive(t, depts[name], name)
	}
	assert.InDelta(t, 60, weak, 3, "about 3%% of 2000 users have a common password")

	// Small organisations still have their fixed members.
	small, err := New(Config{Users: 2})
	require.NoError(t, err)
	su := small.Users()
	assert.Equal(t, "director", su[0].Role)
	assert.Equal(t, "secretariat", su[1].Role)
	assert.Equal(t, []string{su[1].Address}, su[0].Delegates)
	assert.False(t, isCommon(su[0].Password))
}

func isCommon(p string) bool {
	for _, c := range CommonPasswords {
		if p == c {
			return true
		}
	}
	return false
}

func strongEnough(p string) bool {
	return len(p) >= 16 && strings.ContainsAny(p, pwLower) && strings.ContainsAny(p, pwUpper) &&
		strings.ContainsAny(p, pwDigit) && strings.ContainsAny(p, pwSym)
}

func TestDirectoryDeterminism(t *testing.T) {
	a, _ := New(Config{Seed: 3, Users: 300})
	b, _ := New(Config{Seed: 3, Users: 300})
	c, _ := New(Config{Seed: 4, Users: 300})
	assert.Equal(t, a.Users(), b.Users())
	assert.NotEqual(t, a.Users(), c.Users())
}

func TestUsersIsACopy(t *testing.T) {
	o, _ := New(Config{})
	us := o.Users()
	us[0].Name = "changed"
	us[0].Delegates[0] = "changed"
	assert.NotEqual(t, "changed", o.Users()[0].Name)
	assert.NotEqual(t, "changed", o.Users()[0].Delegates[0])
}

func TestFolders(t *testing.T) {
	o, err := New(Config{Seed: 1, Users: 200})
	require.NoError(t, err)
	assert.Nil(t, o.Folders("nobody@interieur.test"))
	end := o.Config().End
	for _, u := range o.Users() {
		fs := o.Folders(u.Address)
		require.NotEmpty(t, fs)
		assert.Equal(t, fs, o.Folders(strings.ToUpper(u.Address)), "deterministic and case-insensitive")
		names := map[string]Folder{}
		total := 0
		for _, f := range fs {
			names[f.Name] = f
			total += int(f.Count)
			assert.NotZero(t, f.UIDValidity)
		}
		assert.Contains(t, names, "INBOX")
		if u.Kind == "shared" {
			assert.Contains(t, names, "Dossiers")
			continue
		}
		for name, use := range map[string]string{"Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Archive": `\Archive`} {
			if assert.Contains(t, names, name) {
				assert.Equal(t, use, names[name].SpecialUse)
			}
		}
		years := 0
		for name := range names {
			if strings.HasPrefix(name, "Archive/") {
				years++
				y := strings.TrimPrefix(name, "Archive/")
				assert.Contains(t, []string{itoa(end.Year() - 1), itoa(end.Year())}, y)
			}
		}
		assert.Positive(t, years, "%s has yearly archives", u.Address)
		assert.InDelta(t, 200, total, 200*0.6, "%s: %d messages", u.Address, total)
	}
}

func TestMessageErrors(t *testing.T) {
	o, err := New(Config{Users: 5, MessagesPerUser: 20})
	require.NoError(t, err)
	u := o.Users()[0].Address
	inbox := o.Folders(u)[0]
	tests := []struct {
		name, addr, folder string
		uid                uint32
	}{
		{"unknown address", "nobody@interieur.test", "INBOX", 1},
		{"unknown folder", u, "Nope", 1},
		{"uid zero", u, "INBOX", 0},
		{"uid past the end", u, "INBOX", inbox.Count + 1},
		{"empty parent folder", u, "Archive", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := o.Message(tt.addr, tt.folder, tt.uid)
			assert.Error(t, err)
			assert.Nil(t, m)
		})
	}
	m, err := o.Message(strings.ToUpper(u), "inbox", inbox.Count)
	require.NoError(t, err, "address and INBOX are case-insensitive")
	assert.Equal(t, inbox.Count, m.UID)
}

func TestTinyOrganisation(t *testing.T) {
	for _, cfg := range []Config{
		{Users: 2, MessagesPerUser: 5},
		{Users: 3, MessagesPerUser: 1},
		{Users: 2, MessagesPerUser: 40, End: time.Date(2026, 6, 7, 12, 0, 0, 0, time.UTC)}, // a Sunday
	} {
		cfg.MaxAttachmentSize = 32 << 10
		o, err := New(cfg)
		require.NoError(t, err)
		for _, u := range o.Users() {
			for _, f := range o.Folders(u.Address) {
				for uid := uint32(1); uid <= f.Count; uid++ {
					m, err := o.Message(u.Address, f.Name, uid)
					require.NoError(t, err)
					assert.False(t, m.InternalDate.After(o.Config().End))
				}
			}
		}
	}
}
