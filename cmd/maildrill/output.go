package main

import "fmt"

// rulesError names --rules in an error loading a rule pack.
func rulesError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("--rules %w", err)
}
