package scenarios

import (
	"fmt"
	"time"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// AuditEvent adapts an audit event to the detection engine.
func AuditEvent(e *audit.Event) detectors.Event { return ruleEvent{e} }

// ruleEvent adapts an audit event to the detection engine.
type ruleEvent struct{ e *audit.Event }

func (r ruleEvent) Field(name string) (any, bool) { return r.e.Field(name) }
func (r ruleEvent) Time() time.Time               { return r.e.Timestamp }
func (r ruleEvent) ID() string                    { return r.e.ID }

// RulesOrPack returns rules, or the built-in pack's when nil.
func RulesOrPack(rules []*sigma.Rule) ([]*sigma.Rule, error) {
	if rules != nil {
		return rules, nil
	}
	p, err := rulepack.Load("")
	if err != nil {
		return nil, fmt.Errorf("loading the built-in rule pack: %w", err)
	}
	return p.Rules, nil
}
