package mailsim_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/maildrill/maildrill/mailsim"
	"github.com/maildrill/maildrill/mailsim/audit"
	"github.com/maildrill/maildrill/mailsim/mailsimtest"
	"github.com/maildrill/maildrill/mailsim/proxyproto"
)

// Each actor is seen at the address its PROXY header announces; a peer
// that sends no header is refused.
func TestProxyProtocolSourceAddresses(t *testing.T) {
	ms := mailsimtest.New(t, mailsim.Config{ProxyProtocol: true})
	acc := ms.Person("")
	dial := func(src string) *imapclient.Client {
		c, err := net.Dial("tcp", ms.IMAPSAddr)
		require.NoError(t, err)
		require.NoError(t, proxyproto.WriteV1(c, netip.MustParseAddrPort(src), netip.MustParseAddrPort(ms.IMAPSAddr)))
		tc := tls.Client(c, ms.Certs.ClientConfig("localhost"))
		ic := imapclient.New(tc, nil)
		t.Cleanup(func() { ic.Close() })
		return ic
	}
	attacker := dial("203.0.113.7:51544")
	require.Error(t, attacker.Login(acc.Address, "Hiver2025!").Wait())
	staff := dial("10.20.4.12:40000")
	require.NoError(t, staff.Login(acc.Address, acc.Password).Wait())

	raw, err := net.Dial("tcp", ms.IMAPAddr)
	require.NoError(t, err)
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	raw.Write([]byte("a1 LOGIN x y\r\n"))
	_, err = bufio.NewReader(raw).ReadString('\n')
	require.Error(t, err, "no greeting without a PROXY header")
	raw.Close()

	logins := ms.EventsFor(audit.IMAPLogin)
	require.Len(t, logins, 2)
	assert.Equal(t, "203.0.113.7", logins[0].SourceIP)
	assert.Equal(t, 51544, logins[0].SourcePort)
	assert.Equal(t, "10.20.4.12", logins[1].SourceIP)
	var refused int
	for _, e := range ms.EventsFor(audit.IMAPConnect) {
		if e.Outcome == audit.Failure {
			refused++
			assert.Equal(t, "proxy_header_refused", e.Reason)
			assert.True(t, strings.HasPrefix(e.SourceIP, "127."))
		}
	}
	assert.Equal(t, 1, refused)
}
