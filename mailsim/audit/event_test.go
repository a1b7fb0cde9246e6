package audit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// An event whose TLS state is unknown is written without tls.established,
// as Field reports it; a known false is still written. Read back, the
// unknown one gives the same Field answers.
func TestJSONUnknownTLS(t *testing.T) {
	unknown := Event{Action: SMTPAuth, ServiceType: "smtp", TLSUnknown: true}
	b, err := json.Marshal(unknown)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "tls.established")
	assert.Contains(t, string(b), `"tls.unknown":true`)
	var back Event
	require.NoError(t, json.Unmarshal(b, &back))
	_, ok := back.Field("tls.established")
	assert.False(t, ok)
	assert.Equal(t, unknown, back)

	clear := Event{Action: SMTPAuth, ServiceType: "smtp"}
	b, err = json.Marshal(&clear)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"tls.established":false`)
	assert.NotContains(t, string(b), "tls.unknown")
	b, err = json.Marshal(Event{TLS: true})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"tls.established":true`)
}

// Wire encodes as MarshalJSON does.
func TestWireSameAsMarshal(t *testing.T) {
	yes := true
	for _, e := range []Event{
		{Action: SMTPAuth, ServiceType: "smtp", TLSUnknown: true, AuthMechanism: "LOGIN", UserName: "a@b.test"},
		{Action: IMAPLogin, ServiceType: "imap", TLS: true, AuthCleartext: &yes, SourceIP: "10.0.0.1", SourcePort: 3},
		{Action: IMAPLogin},
	} {
		want, err := json.Marshal(e)
		require.NoError(t, err)
		got, err := json.Marshal(Wire(&e))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
		assert.Equal(t, string(want), string(got))
	}
}
