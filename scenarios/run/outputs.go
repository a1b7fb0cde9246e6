package run

import (
	"io"
	"os"
)

// Outputs are the files runs stream their audit events, ground truth and
// mail-log lines to, shared by every run of a command.
type Outputs struct {
	files []*os.File
	w     [3]io.Writer // events, truth, syslog; nil: not written
}

// OutputError is an output file that could not be created; Name is
// events, truth or syslog.
type OutputError struct {
	Name string
	Err  error
}

func (e *OutputError) Error() string { return e.Name + " output: " + e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// OpenOutputs creates the files named ("": not written; "-": stdout). A
// file that cannot be created is an *OutputError; those already created
// are closed.
func OpenOutputs(events, truth, syslog string, stdout io.Writer) (*Outputs, error) {
	o := &Outputs{}
	for i, p := range []string{events, truth, syslog} {
		switch p {
		case "":
		case "-":
			o.w[i] = stdout
		default:
			f, err := os.Create(p)
			if err != nil {
				o.Close()
				return nil, &OutputError{Name: [...]string{"events", "truth", "syslog"}[i], Err: err}
			}
			o.files = append(o.files, f)
			o.w[i] = f
		}
	}
	return o, nil
}

// Set makes a run write to the outputs.
func (o *Outputs) Set(opts *Options) {
	opts.Events, opts.Truth, opts.Syslog = o.w[0], o.w[1], o.w[2]
}

// Close closes the files.
func (o *Outputs) Close() {
	for _, f := range o.files {
		f.Close()
	}
}
