package scenarios

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/mailsim/target"
)

// ExpandDirs replaces directories by the scenario files (*.yaml, *.yml)
// found under them, recursively, skipping testdata and hidden
// directories; other arguments (files, library names) stay as they are.
func ExpandDirs(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			out = append(out, a)
			continue
		}
		var files []string
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if p != a && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no scenario files (*.yaml) under this directory", a)
		}
		sort.Strings(files)
		out = append(out, files...)
	}
	return out, nil
}

// LoadAll loads the scenarios named by args (files, directories of
// *.yaml, library names), in order, reporting every problem. Two
// scenarios with one id are refused: a run's id comes from its
// scenario's, and two runs of one id in the same --events and --truth
// files could not be told apart (replay judged them as one).
func LoadAll(args []string) ([]*Scenario, error) {
	return loadUnique(args)
}

// LoadSuite loads the scenarios named by args (files, directories of
// *.yaml, library names; none: the whole library). Every problem is
// reported; two scenarios with one id are refused, as ids name reports
// and shards.
func LoadSuite(args []string) ([]*Scenario, error) {
	if len(args) == 0 {
		return Library()
	}
	return loadUnique(args)
}

func loadUnique(args []string) ([]*Scenario, error) {
	args, err := ExpandDirs(args)
	if err != nil {
		return nil, err
	}
	var list []*Scenario
	var bad []error
	ids := map[string]string{}
	for _, a := range args {
		sc, err := Load(a)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		if prev, ok := ids[sc.ID]; ok {
			bad = append(bad, fmt.Errorf("%s: scenario id %q is also the id of %s; ids name runs, reports and shards, make them unique", a, sc.ID, prev))
			continue
		}
		ids[sc.ID] = a
		list = append(list, sc)
	}
	return list, errors.Join(bad...)
}

// Shard deals the scenarios, sorted by id, round-robin over n shards and
// returns shard k (1-based): n CI runners share a suite, each scenario
// running on exactly one of them.
func Shard(list []*Scenario, k, n int) []*Scenario {
	sorted := append([]*Scenario(nil), list...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var out []*Scenario
	for i, sc := range sorted {
		if i%n == k-1 {
			out = append(out, sc)
		}
	}
	return out
}

// ResolveSuite compiles the rules once (nil: the built-in pack) and
// resolves every scenario's expectations against them, before anything
// runs: a broken rule is reported once, with its position, and an
// expectation naming no loaded rule (or a group: key the rule does not
// group by) with the scenario's file:line:col. So is a name of the
// organisation (account, role, folder, file type, recipient at its
// domain) that the organisation seed generates does not have: seed
// overrides each scenario's own (0: none). It returns the rules checked,
// to run with.
func ResolveSuite(list []*Scenario, rules []*sigma.Rule, seed int64) ([]*sigma.Rule, error) {
	return ResolveSuiteWith(list, rules, nil, seed)
}

// ResolveSuiteWith is ResolveSuite with the rules compiled under cfg
// (CheckRulesWith; nil: the built-in pack's configuration).
func ResolveSuiteWith(list []*Scenario, rules []*sigma.Rule, cfg *detectors.Config, seed int64) ([]*sigma.Rule, error) {
	return ResolveSuiteOn(list, rules, cfg, seed, nil)
}

// ResolveSuiteOn is ResolveSuiteWith with the names resolved against org
// when it is not nil (ResolveAllOn).
func ResolveSuiteOn(list []*Scenario, rules []*sigma.Rule, cfg *detectors.Config, seed int64, org *target.Org) ([]*sigma.Rule, error) {
	rules, err := CheckRulesWith(rules, cfg)
	if err != nil {
		return nil, err
	}
	var bad []error
	for _, sc := range list {
		if err := ResolveAllOn(sc, rules, seed, org); err != nil {
			bad = append(bad, err)
		}
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	return rules, nil
}

// ResolveAll resolves sc's expectations against rules (none: outside
// alerts, whose rules are the outside system's) and its names against the
// organisation of seed (0: the scenario's own), both problems together,
// in the file's order.
func ResolveAll(sc *Scenario, rules []*sigma.Rule, seed int64) error {
	return ResolveAllOn(sc, rules, seed, nil)
}

// ResolveAllOn is ResolveAll against org when it is not nil (the remote
// target's: target.RemoteOrg; ResolveRemote), else the generated one.
func ResolveAllOn(sc *Scenario, rules []*sigma.Rule, seed int64, org *target.Org) error {
	var errs Errors
	add := func(err error) error {
		var es Errors
		if errors.As(err, &es) {
			errs = append(errs, es...)
			return nil
		}
		return err
	}
	if len(rules) > 0 {
		if err := add(Resolve(sc, rules)); err != nil {
			return err
		}
	}
	if seed == 0 {
		seed = sc.Env.Seed
	}
	if org != nil {
		if err := add(ResolveRemote(sc, org)); err != nil {
			return err
		}
	} else if err := add(ResolveOrg(sc, seed)); err != nil {
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

// ParseShard reads a shard "k/n" (1 ≤ k ≤ n); "" is the whole suite, 1/1.
func ParseShard(s string) (k, n int, err error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	k, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return 0, 0, errors.New("want k/n with 1 ≤ k ≤ n, e.g. 2/3")
	}
	return k, n, nil
}
