package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseExample(t *testing.T) {
	f, err := Load("testdata/staging.yaml")
	require.NoError(t, err)
	assert.Equal(t, "staging.example.test", f.Domain)
	assert.Equal(t, "192.0.2.10:993", f.IMAP.Address)
	assert.Equal(t, TLSImplicit, f.IMAP.TLS)
	assert.Equal(t, 3, f.IMAP.Line)
	assert.Equal(t, TLSStartTLS, f.Submission.TLS)
	require.NotNil(t, f.MX)
	assert.Equal(t, "mx.staging.example.test", f.MX.Host())
	assert.True(t, f.Insecure)
	require.Len(t, f.Accounts, 3)
	assert.Equal(t, "person", f.Accounts[0].Kind)
	assert.Equal(t, "shared", f.Accounts[2].Kind)
	assert.Equal(t, 10, f.Accounts[2].Line)
	assert.Equal(t, "tcp://127.0.0.1:5514", f.Logs.Syslog)
	assert.Equal(t, "stock", f.Logs.Profile)
	a, ok := f.Find("director")
	require.True(t, ok)
	assert.Equal(t, "director@staging.example.test", a.Address)
	_, ok = f.Find("cabinet")
	assert.True(t, ok)
	_, ok = f.Find("nobody")
	assert.False(t, ok)
	assert.Len(t, f.Endpoints(), 3)
}

const okBase = `domain: example.test
imap: {address: 127.0.0.1:143, tls: none}
submission: {address: 127.0.0.1:587, tls: starttls}
accounts:
  - {address: a@example.test, password: p, role: director}
`

// broken files: each is refused by the parser with file:line and a
// message, and by the JSON Schema.
var broken = []struct {
	name, src, line, msg string
}{
	{"unknown top key", okBase + "logz: {file: /x}\n", ":6:", "unknown field"},
	{"bad logs profile", okBase + "logs: {file: /x, profile: verbose}\n", ":6:", "want stock or enhanced"},
	{"unknown endpoint key", strings.Replace(okBase, "tls: none}", "tls: none, port: 3}", 1), ":2:", "unknown field"},
	{"unknown account key", strings.Replace(okBase, "role: director}", "role: director, pasword: x}", 1), ":5:", "unknown field"},
	{"bad tls", strings.Replace(okBase, "tls: none", "tls: yes", 1), ":2:", `tls "yes"`},
	{"no tls", strings.Replace(okBase, ", tls: none", "", 1), ":2:", "tls missing"},
	{"no port", strings.Replace(okBase, "127.0.0.1:143", "127.0.0.1", 1), ":2:", "want HOST:PORT"},
	{"wildcard host", strings.Replace(okBase, "127.0.0.1:143", "\"*:143\"", 1), ":2:", "no wildcard"},
	{"no imap", strings.Replace(okBase, "imap: {address: 127.0.0.1:143, tls: none}\n", "", 1), ":1:", "imap: missing"},
	{"no submission", strings.Replace(okBase, "submission: {address: 127.0.0.1:587, tls: starttls}\n", "", 1), ":1:", "submission: missing"},
	{"no domain", strings.Replace(okBase, "domain: example.test\n", "", 1), ":", "domain: missing"},
	{"bad domain", strings.Replace(okBase, "domain: example.test", "domain: example", 1), ":1:", "want a domain"},
	{"no accounts", strings.Split(okBase, "accounts:")[0], ":", "accounts: missing"},
	{"no password", strings.Replace(okBase, ", password: p", "", 1), ":5:", "password missing"},
	{"bad address", strings.Replace(okBase, "a@example.test", "a@other.test", 1), ":5:", "the file's domain"},
	{"bad role", strings.Replace(okBase, "role: director", "role: Big Boss", 1), ":5:", "role"},
	{"bad kind", strings.Replace(okBase, "role: director", "kind: robot", 1), ":5:", "kind"},
	{"ca and insecure", okBase + "ca: ca.pem\ninsecure: true\n", ":7:", "not both"},
	{"two logs", okBase + "logs: {syslog: '127.0.0.1:5514', file: /var/log/mail.log}\n", ":6:", "give one"},
	{"empty logs", okBase + "logs: {}\n", ":6:", "logs: give"},
	{"bad syslog", okBase + "logs: {syslog: 'http://x:1'}\n", ":6:", "scheme"},
	{"not a mapping", "- a\n- b\n", ":1:", "mapping"},
	{"bad yaml", "domain: [\n", ":", ""},
}

func TestParseErrors(t *testing.T) {
	for _, c := range broken {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("remote.yaml", []byte(c.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "remote.yaml"+c.line)
			assert.Contains(t, err.Error(), c.msg)
		})
	}
	_, err := Parse("remote.yaml", []byte(okBase))
	require.NoError(t, err)
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.yaml")
	require.NoError(t, os.WriteFile(p, []byte(okBase+"ca: missing.pem\n"), 0o644))
	_, err := Load(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+":6:")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "missing.pem"), []byte("not pem"), 0o644))
	_, err = Load(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no PEM certificate")
	_, err = Load(filepath.Join(dir, "none.yaml"))
	require.Error(t, err)
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("remote.schema.json", doc))
	s, err := c.Compile("remote.schema.json")
	require.NoError(t, err)
	return s
}

func schemaValid(t *testing.T, s *jsonschema.Schema, src string) error {
	var v any
	if err := yaml.Unmarshal([]byte(src), &v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestSchemaAgrees: the published schema accepts what the parser accepts
// and refuses what it refuses (CA files aside: the schema cannot read
// them).
func TestSchemaAgrees(t *testing.T) {
	s := compileSchema(t)
	good, err := os.ReadFile("testdata/staging.yaml")
	require.NoError(t, err)
	for _, src := range []string{string(good), okBase, okBase + "logs: {file: /var/log/mail.log}\n", okBase + "ca: ca.pem\n", okBase + "insecure: false\nca: x.pem\n"} {
		_, perr := Parse("r.yaml", []byte(src))
		require.NoError(t, perr, src)
		require.NoError(t, schemaValid(t, s, src), src)
	}
	for _, c := range broken {
		if c.name == "bad address" || c.name == "bad domain" {
			continue // the domain relation is the parser's alone (below)
		}
		assert.Error(t, schemaValid(t, s, c.src), "the schema accepts %q", c.name)
	}
	// What the schema cannot say, the parser still refuses.
	_, err = Parse("r.yaml", []byte(strings.Replace(okBase, "a@example.test", "a@other.test", 1)))
	assert.Error(t, err)
}

func TestFuzzCorpusAgrees(t *testing.T) {
	s := compileSchema(t)
	entries, err := os.ReadDir("testdata/fuzz/FuzzParse")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzParse", e.Name()))
		require.NoError(t, err)
		src := fuzzValue(t, b)
		if _, err := Parse("f.yaml", []byte(src)); err == nil {
			assert.NoError(t, schemaValid(t, s, src), e.Name())
		}
	}
}

// fuzzValue reads a go test fuzz v1 file holding one []byte.
func fuzzValue(t *testing.T, b []byte) string {
	lines := strings.SplitN(string(b), "\n", 2)
	require.Equal(t, "go test fuzz v1", lines[0])
	v := strings.TrimSpace(lines[1])
	v = strings.TrimSuffix(strings.TrimPrefix(v, "[]byte("), ")")
	var s string
	_, err := fmt.Sscanf(v, "%q", &s)
	require.NoError(t, err)
	return s
}

func FuzzParse(f *testing.F) {
	good, _ := os.ReadFile("testdata/staging.yaml")
	f.Add(good)
	f.Add([]byte(okBase))
	for _, c := range broken {
		f.Add([]byte(c.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("f.yaml", src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error is not *Error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if file.IMAP == nil || file.Submission == nil || len(file.Accounts) == 0 {
			t.Fatalf("accepted without imap, submission or accounts: %q", src)
		}
	})
}

func TestAllowParse(t *testing.T) {
	a, err := ParseAllow([]string{"mail.example.org:993", "staging.example.org", "10.0.0.0/24", "192.0.2.7", "2001:db8::/64"})
	require.NoError(t, err)
	assert.True(t, a.Dial("mail.example.org:993"))
	assert.False(t, a.Dial("mail.example.org:143"))
	assert.True(t, a.Dial("staging.example.org:143"))
	assert.True(t, a.Dial("STAGING.example.org.:25"))
	assert.True(t, a.Dial("10.0.0.200:993"))
	assert.False(t, a.Dial("10.0.1.1:993"))
	assert.True(t, a.Dial("192.0.2.7:1"))
	assert.False(t, a.Dial("192.0.2.8:1"))
	assert.True(t, a.Dial("[2001:db8::5]:993"))
	assert.False(t, a.Dial("8.8.8.8:25"))
	for _, bad := range []string{"*:993", ":993", "0.0.0.0/0", "::/0", "10.0.0.0/33", "a b", "", "host:"} {
		_, err := ParseAllow([]string{bad})
		assert.Error(t, err, bad)
	}
	var none *Allow
	assert.False(t, none.Dial("127.0.0.1:1"))
	assert.True(t, none.Empty())
}

func TestAllowCheck(t *testing.T) {
	f, err := Load("testdata/staging.yaml")
	require.NoError(t, err)
	lookups := map[string][]netip.Addr{"mx.staging.example.test": {netip.MustParseAddr("192.0.2.25"), netip.MustParseAddr("198.51.100.25")}}
	resolve := func(_ context.Context, h string) ([]netip.Addr, error) {
		if a, ok := lookups[h]; ok {
			return a, nil
		}
		return nil, fmt.Errorf("no such host %s", h)
	}
	// Everything covered: by a CIDR, and the MX by name.
	a, _ := ParseAllow([]string{"192.0.2.0/24", "mx.staging.example.test"})
	got, err := a.Check(context.Background(), f, resolve)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "192.0.2.10:993", got[0].Dial())
	// The MX resolves to two addresses, one outside the network: refused,
	// naming it, its line and the flag.
	a, _ = ParseAllow([]string{"192.0.2.0/24"})
	_, err = a.Check(context.Background(), f, resolve)
	var ue *UncoveredError
	require.ErrorAs(t, err, &ue)
	require.Len(t, ue.Missing, 1)
	assert.Contains(t, ue.Missing[0], "mx mx.staging.example.test:25 (testdata/staging.yaml:5)")
	assert.Contains(t, ue.Missing[0], "--allow-target 198.51.100.25")
	assert.NotContains(t, ue.Missing[0], "192.0.2.25,")
	// Nothing allowed: every endpoint named.
	_, err = (&Allow{}).Check(context.Background(), f, resolve)
	require.ErrorAs(t, err, &ue)
	assert.Len(t, ue.Missing, 3)
	assert.Contains(t, err.Error(), "imap 192.0.2.10:993")
	assert.Contains(t, err.Error(), "--allow-target 192.0.2.10")
	// The old host:port form covers exactly that endpoint.
	a, _ = ParseAllow([]string{"192.0.2.10:993", "192.0.2.10:587", "mx.staging.example.test:25"})
	_, err = a.Check(context.Background(), f, resolve)
	require.NoError(t, err)
	// An unresolvable name is not covered.
	lookups = nil
	a, _ = ParseAllow([]string{"192.0.2.0/24"})
	_, err = a.Check(context.Background(), f, resolve)
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "cannot resolve mx.staging.example.test")
}

// A remote file saved with a UTF-8 byte order mark reads as without one;
// UTF-16 is refused, naming the file.
func TestParseEncodings(t *testing.T) {
	_, err := Parse("remote.yaml", append([]byte("\xEF\xBB\xBF"), okBase...))
	require.NoError(t, err)
	_, err = Parse("remote.yaml", []byte("\xFF\xFEd\x00o\x00"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remote.yaml: the file is UTF-16 text")
	_, err = Parse("remote.yaml", []byte("domain: example.test\nimap: {address: 127.0.0.1:143\x00}\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remote.yaml:2:30: a NUL byte")
}
