package main

import (
	"errors"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/scenarios"
)

// resolveSuite compiles the rules once (nil: the built-in pack) and
// resolves every scenario's expectations against them, before anything
// runs: a broken rule is reported once, with its position, and an
// expectation naming no loaded rule (or a group: key the rule does not
// group by) with the scenario's file:line:col. Both are bad input (exit
// 2). It returns the rules checked, to run with.
func resolveSuite(list []*scenarios.Scenario, rules []*sigma.Rule) ([]*sigma.Rule, error) {
	rules, err := scenarios.CheckRules(rules)
	if err != nil {
		return nil, usageError{err}
	}
	var bad []error
	for _, sc := range list {
		if err := scenarios.Resolve(sc, rules); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return nil, usageError{errors.Join(bad...)}
	}
	return rules, nil
}
