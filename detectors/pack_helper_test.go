package detectors

import (
	"errors"
	"os"
	"time"
	_ "time/tzdata"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// The engine does not import the built-in pack (package rulepack): its
// tests and benchmarks read the pack's files from disk, with the
// configuration rules/pack.yml declares.
const testPackDir = "rulepack/rules"

func testPackRules() ([]*sigma.Rule, error) {
	rules, errs := LoadFS(os.DirFS(testPackDir), ".")
	return rules, errors.Join(errs...)
}

func testPackConfig() Config {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		panic(err)
	}
	return Config{
		Placeholders: map[string][]string{"office_networks": {"10.20.0.0/16"}, "internal_domains": {"interieur.test"}},
		Location:     paris,
	}
}
