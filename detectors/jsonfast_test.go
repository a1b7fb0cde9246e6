package detectors

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeObject(t *testing.T) {
	cases := []string{
		`{}`, ` { "a" : 1 } `, `{"a":"x","b":[1,"y",null,true,false,{"c":-1.5e3}],"d":{"e":{}}}`,
		`{"s":"\u00e9\n\t\"\\\/\ud83d\ude00"}`, `{"bad surrogate":"\ud83d x"}`, `{"dup":1,"dup":2}`,
		`{"n":0,"m":-0.0,"big":1e308,"small":123456789012345678901234567890}`, `{"utf8":"données é"}`,
		`{"@timestamp":"2025-12-11T23:40:00.123+01:00","event":{"action":"imap.login"},"x":[]}`,
	}
	for _, c := range cases {
		t.Run(c, func(t *testing.T) {
			got, err := decodeObject([]byte(c))
			require.NoError(t, err)
			var want map[string]any
			require.NoError(t, json.Unmarshal([]byte(c), &want))
			assert.Equal(t, want, got)
		})
	}
	for _, bad := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`, `{"a":"x}`, `{"a":"\q"}`, "{\"a\":\"\x01\"}", `{"a":1} x`, `{"a":1e999}`, `{a:1}`} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := decodeObject([]byte(bad))
			assert.Error(t, err)
		})
	}
}

// FuzzDecodeObject checks the fast decoder against encoding/json: whenever it
// accepts an input, encoding/json accepts it too and decodes the same values.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"s":"\u00e9\ud83d\ude00","l":[1,{"x":null}]}`, `{"e":"\xff"}`, `{"n":-1.5E+3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeObject(b)
		if err != nil {
			return
		}
		var want map[string]any
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast decoder accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !assert.ObjectsAreEqual(want, got) {
			t.Fatalf("mismatch for %q:\n got %#v\nwant %#v", b, got, want)
		}
	})
}
