package alertsrc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"

	"github.com/maildrill/maildrill/detectors"
)

// File reads alerts from a JSON-lines file (or a JSON array) that a SIEM
// export writes; each poll reads it again, so alerts appended late count.
// A file that does not exist yet holds no alerts.
type File struct {
	Path    string
	Mapping Mapping
	RunID   string
}

var _ Source = File{}

// Alerts reads the file.
func (f File) Alerts(context.Context) ([]detectors.Alert, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("alert file: %w", err)
	}
	alerts, _, err := f.Mapping.Decode(data, f.RunID)
	if err != nil {
		return nil, fmt.Errorf("alert file %s: %w", f.Path, err)
	}
	return alerts, nil
}

// Command runs a program on each poll and reads alerts from its standard
// output (JSON lines, an object or an array): a SIEM's command-line client
// or an API query. The run id is in its environment as MAILDRILL_RUN_ID,
// and "{run_id}" in its arguments is replaced by it.
type Command struct {
	Args    []string
	Mapping Mapping
	RunID   string
}

var _ Source = Command{}

// Alerts runs the command.
func (c Command) Alerts(ctx context.Context) ([]detectors.Alert, error) {
	if len(c.Args) == 0 {
		return nil, errors.New("alert command: empty")
	}
	args := make([]string, len(c.Args))
	for i, a := range c.Args {
		args[i] = strings.ReplaceAll(a, "{run_id}", c.RunID)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "MAILDRILL_RUN_ID="+c.RunID)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("alert command %s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	alerts, _, err := c.Mapping.Decode(out, c.RunID)
	if err != nil {
		return nil, fmt.Errorf("alert command %s: %w", args[0], err)
	}
	return alerts, nil
}
