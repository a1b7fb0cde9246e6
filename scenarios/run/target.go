package run

import (
	"fmt"
	"net"
	"strings"
)

// checkDial enforces the safety rule: attackers reach only servers this run
// started, or hosts the user named with --allow-target.
func (r *runner) checkDial(addr string) error {
	if r.target.Serves(addr) || r.opts.AllowTargets[addr] {
		return nil
	}
	return fmt.Errorf("refusing to connect to %s: this run did not start it; name it with --allow-target %s to attack it deliberately", addr, addr)
}

// AllowList parses --allow-target values (host:port).
func AllowList(vals []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range vals {
		host, port, err := net.SplitHostPort(v)
		if err != nil || host == "" || port == "" || strings.ContainsAny(host, "*") {
			return nil, fmt.Errorf("--allow-target %q: want host:port (no wildcards)", v)
		}
		out[v] = true
	}
	return out, nil
}
