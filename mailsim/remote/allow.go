package remote

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Allow is what --allow-target values permit: hosts (names or IPs),
// networks (CIDR) and, as before, exact host:port.
type Allow struct {
	hostPorts map[string]bool
	names     []string
	nets      []netip.Prefix
}

// ParseAllow reads --allow-target values: HOST (a name), an IP, a CIDR
// or HOST:PORT.
func ParseAllow(vals []string) (*Allow, error) {
	a := &Allow{hostPorts: map[string]bool{}}
	for _, v := range vals {
		v = strings.TrimSpace(v)
		bad := func(why string) error {
			return fmt.Errorf("--allow-target %q: %s; want a host name, an IP, a CIDR (10.0.0.0/24) or host:port", v, why)
		}
		switch {
		case v == "":
			return nil, bad("empty")
		case strings.ContainsAny(v, "* "):
			return nil, bad("no wildcards")
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			if p.Bits() == 0 {
				return nil, bad("a /0 network allows everything: name your staging network")
			}
			a.nets = append(a.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(v); err == nil {
			a.nets = append(a.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if strings.Contains(v, "/") {
			return nil, bad("not a CIDR")
		}
		if host, port, err := net.SplitHostPort(v); err == nil {
			if host == "" || port == "" {
				return nil, bad("host or port missing")
			}
			a.hostPorts[v] = true
			continue
		}
		if strings.Contains(v, ":") {
			return nil, bad("not an IP nor host:port")
		}
		a.names = append(a.names, strings.ToLower(strings.TrimSuffix(v, ".")))
	}
	return a, nil
}

// Empty tells whether nothing is allowed.
func (a *Allow) Empty() bool {
	return a == nil || len(a.hostPorts) == 0 && len(a.names) == 0 && len(a.nets) == 0
}

// Dial tells whether a connection to addr (host:port, as the runner
// dials it) is allowed: the exact host:port, its host by name, or its
// IP in an allowed network. Names in addr are not resolved here: the
// remote target dials the addresses Check resolved.
func (a *Allow) Dial(addr string) bool {
	if a == nil {
		return false
	}
	if a.hostPorts[addr] {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if slices.Contains(a.names, strings.ToLower(strings.TrimSuffix(host, "."))) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && a.coversIP(ip)
}

func (a *Allow) coversIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Resolver looks up a host's addresses (net.DefaultResolver.LookupNetIP
// with "ip").
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// DefaultResolver is the system's.
func DefaultResolver(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// Resolved is an endpoint with the addresses its host resolved to, all
// of them allowed: the ones the run dials.
type Resolved struct {
	NamedEndpoint
	Addrs []netip.Addr
}

// Dial is the address to dial: the first resolved address and the port.
func (r Resolved) Dial() string {
	return netip.AddrPortFrom(r.Addrs[0], mustPort(r.Port())).String()
}

func mustPort(s string) uint16 {
	var n uint16
	fmt.Sscan(s, &n)
	return n
}

// UncoveredError names every endpoint no --allow-target covers.
type UncoveredError struct {
	File    string
	Missing []string // one line each: what, where, and the flag that would allow it
}

func (e *UncoveredError) Error() string {
	return fmt.Sprintf("%s: refusing to run: %d endpoint(s) not covered by --allow-target (nothing was sent to any of them):\n  %s",
		e.File, len(e.Missing), strings.Join(e.Missing, "\n  "))
}

// Check resolves every endpoint of f and checks that each is covered: by
// its exact host:port, by its host name, or — every address the name
// resolves to — by an allowed IP or network. It sends nothing to the
// endpoints (a name lookup goes to the resolver only). An uncovered or
// unresolvable endpoint makes an *UncoveredError naming each.
func (a *Allow) Check(ctx context.Context, f *File, resolve Resolver) ([]Resolved, error) {
	if resolve == nil {
		resolve = DefaultResolver
	}
	var out []Resolved
	var missing []string
	for _, e := range f.Endpoints() {
		where := fmt.Sprintf("%s:%d", f.Path, e.Line)
		if f.Path == "" {
			where = fmt.Sprintf("line %d", e.Line)
		}
		host := e.Host()
		var addrs []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			addrs = []netip.Addr{ip.Unmap()}
		} else {
			got, err := resolve(ctx, host)
			if err != nil || len(got) == 0 {
				missing = append(missing, fmt.Sprintf("%s %s (%s): cannot resolve %s: %v", e.Key, e.Address, where, host, err))
				continue
			}
			for _, g := range got {
				addrs = append(addrs, g.Unmap())
			}
		}
		byName := a.hostPorts[e.Address] || slices.Contains(a.names, strings.ToLower(strings.TrimSuffix(host, ".")))
		var bad []string
		for _, ip := range addrs {
			if !byName && !a.coversIP(ip) && !a.hostPorts[netip.AddrPortFrom(ip, mustPort(e.Port())).String()] {
				bad = append(bad, ip.String())
			}
		}
		if len(bad) > 0 {
			msg := fmt.Sprintf("%s %s (%s)", e.Key, e.Address, where)
			if host != bad[0] || len(bad) > 1 {
				msg += fmt.Sprintf(": %s resolves to %s", host, strings.Join(bad, ", "))
			}
			flags := make([]string, len(bad))
			for i, b := range bad {
				flags[i] = "--allow-target " + b
			}
			msg += "; allow it with " + strings.Join(flags, " ")
			if host != bad[0] {
				msg += " (or --allow-target " + host + ")"
			}
			missing = append(missing, msg)
			continue
		}
		out = append(out, Resolved{NamedEndpoint: e, Addrs: addrs})
	}
	if len(missing) > 0 {
		return nil, &UncoveredError{File: f.Path, Missing: missing}
	}
	return out, nil
}
