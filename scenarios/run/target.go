package run

import (
	"fmt"

	"github.com/maildrill/maildrill/mailsim/remote"
)

// checkDial enforces the safety rule: attackers reach only servers this run
// started, or hosts the user named with --allow-target.
func (r *runner) checkDial(addr string) error {
	if r.target.Serves(addr) || r.opts.AllowTargets.Dial(addr) {
		return nil
	}
	return fmt.Errorf("refusing to connect to %s: this run did not start it; name it with --allow-target %s to attack it deliberately", addr, addr)
}

// AllowList parses --allow-target values: a host name, an IP, a CIDR or
// host:port (remote.ParseAllow).
func AllowList(vals []string) (*remote.Allow, error) {
	return remote.ParseAllow(vals)
}
