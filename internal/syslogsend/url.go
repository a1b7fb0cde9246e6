// Package syslogsend streams syslog messages to a network receiver (a
// SIEM, rsyslog, syslog-ng) as RFC 5424 over UDP, TCP or TLS (RFC 6587
// octet-counting framing on streams), without ever making its caller wait:
// messages wait in a bounded buffer while the receiver is slow or away, the
// connection is re-established with back-off, and every message is counted
// as delivered or lost, with the reasons of the losses.
package syslogsend

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Endpoint is a parsed destination: udp://, tcp:// or tls://HOST:PORT.
type Endpoint struct {
	Scheme string // udp, tcp or tls
	Host   string
	Port   int
}

// Addr is host:port.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// String is the endpoint as a URL.
func (e Endpoint) String() string { return e.Scheme + "://" + e.Addr() }

// ParseURL reads a destination URL: udp://, tcp:// or tls:// then HOST:PORT,
// nothing else (no user, path, query or fragment). Its errors say what is
// wrong and what is expected.
func ParseURL(s string) (Endpoint, error) {
	if s == "" {
		return Endpoint{}, errors.New("empty destination: want udp://, tcp:// or tls://HOST:PORT")
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Endpoint{}, fmt.Errorf("%q has no scheme: want udp://, tcp:// or tls://HOST:PORT", s)
	}
	switch scheme {
	case "udp", "tcp", "tls":
	default:
		return Endpoint{}, fmt.Errorf("scheme %q: want udp, tcp or tls", scheme)
	}
	if strings.ContainsAny(rest, "/?#@") {
		return Endpoint{}, fmt.Errorf("%q: want only HOST:PORT after %s:// (no user, path or query)", s, scheme)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return Endpoint{}, fmt.Errorf("%q has no port: want %s://HOST:PORT (syslog: 514 over UDP and TCP, 6514 over TLS)", s, scheme)
		}
		return Endpoint{}, fmt.Errorf("%q: want %s://HOST:PORT, an IPv6 address in brackets: %w", s, scheme, err)
	}
	if host == "" {
		return Endpoint{}, fmt.Errorf("%q has no host: want %s://HOST:PORT", s, scheme)
	}
	if strings.Contains(host, ":") {
		if ip := net.ParseIP(host); ip == nil {
			return Endpoint{}, fmt.Errorf("%q: %q is not an IPv6 address", s, host)
		}
	} else if strings.IndexFunc(host, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_')
	}) >= 0 {
		return Endpoint{}, fmt.Errorf("%q: %q is not a host name or address", s, host)
	}
	if port == "" {
		return Endpoint{}, fmt.Errorf("%q has no port: want %s://HOST:PORT (syslog: 514 over UDP and TCP, 6514 over TLS)", s, scheme)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return Endpoint{}, fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	return Endpoint{Scheme: scheme, Host: host, Port: n}, nil
}
