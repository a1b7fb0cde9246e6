package scenarios

import (
	"errors"
	"fmt"
	"io"

	"github.com/maildrill/maildrill/detectors/sigma"
)

// CheckFiles loads each scenario named (a file or a library name) and
// resolves it against rules and the organisation of seed (0: each
// scenario's own), as a run would. It writes a line on w for each valid
// one and returns every problem of the others, joined.
func CheckFiles(w io.Writer, names []string, rules []*sigma.Rule, seed int64) error {
	var errs []error
	for _, a := range names {
		sc, err := Load(a)
		if err == nil {
			err = ResolveAll(sc, rules, seed)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "%s: ok (%s, %d actors, %d expectations)\n", a, sc.ID, len(sc.Actors), len(sc.Expect))
	}
	return errors.Join(errs...)
}
