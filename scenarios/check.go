package scenarios

import (
	"errors"
	"fmt"
	"io"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/mailsim/target"
)

// CheckFiles loads each scenario named (a file or a library name) and
// resolves it against rules and the organisation of seed (0: each
// scenario's own), as a run would. It writes a line on w for each valid
// one and returns every problem of the others, joined.
func CheckFiles(w io.Writer, names []string, rules []*sigma.Rule, seed int64) error {
	return CheckFilesOn(w, names, rules, seed, nil)
}

// CheckFilesOn is CheckFiles with the names resolved against org when it
// is not nil (a remote file's test accounts: validate --remote).
func CheckFilesOn(w io.Writer, names []string, rules []*sigma.Rule, seed int64, org *target.Org) error {
	var errs []error
	for _, a := range names {
		sc, err := Load(a)
		if err == nil {
			err = ResolveAllOn(sc, rules, seed, org)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "%s: ok (%s, %d actors, %d expectations)\n", a, sc.ID, len(sc.Actors), len(sc.Expect))
	}
	return errors.Join(errs...)
}
