package main

import (
	"errors"
	"sort"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/scenarios"
)

// resolveSuite compiles the rules once (nil: the built-in pack) and
// resolves every scenario's expectations against them, before anything
// runs: a broken rule is reported once, with its position, and an
// expectation naming no loaded rule (or a group: key the rule does not
// group by) with the scenario's file:line:col. Both are bad input (exit
// 2). So is a name of the organisation (account, role, folder, file type,
// recipient at its domain) that the organisation seed generates does not
// have: seed is the --seed override, 0 for each scenario's own. It returns
// the rules checked, to run with.
func resolveSuite(list []*scenarios.Scenario, rules []*sigma.Rule, seed int64) ([]*sigma.Rule, error) {
	rules, err := scenarios.CheckRules(rules)
	if err != nil {
		return nil, usageError{err}
	}
	var bad []error
	for _, sc := range list {
		if err := resolveScenario(sc, rules, seed); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return nil, usageError{errors.Join(bad...)}
	}
	return rules, nil
}

// resolveScenario resolves sc's expectations against rules (nil: none,
// outside alerts) and its names against the organisation of seed (0: the
// scenario's own), both errors together.
func resolveScenario(sc *scenarios.Scenario, rules []*sigma.Rule, seed int64) error {
	var errs scenarios.Errors
	add := func(err error) error {
		var es scenarios.Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
			return nil
		}
		return err
	}
	if len(rules) > 0 {
		if err := add(scenarios.Resolve(sc, rules)); err != nil {
			return err
		}
	}
	if seed == 0 {
		seed = sc.Env.Seed
	}
	if err := add(scenarios.ResolveOrg(sc, seed)); err != nil {
		return err
	}
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Line != errs[j].Line {
			return errs[i].Line < errs[j].Line
		}
		return errs[i].Col < errs[j].Col
	})
	return errs
}
