package report

import (
	"bytes"
	"io"
	"os"
)

// Files are the files a report is written to, one per format ("": not
// written; "-": standard output).
type Files struct {
	JSON, JUnit, HTML, Navigator string
}

// ToStdout says whether a report goes to standard output: the verdict
// tables then belong on standard error.
func (f Files) ToStdout() bool {
	return f.JSON == "-" || f.JUnit == "-" || f.HTML == "-" || f.Navigator == "-"
}

// FileError is a report file that could not be written; Format is json,
// junit, html or navigator.
type FileError struct {
	Format string
	Err    error
}

func (e *FileError) Error() string { return e.Format + " report: " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// Write renders rep in every format f names. A file is written whole or
// not at all; one that cannot be written is a *FileError.
func (f Files) Write(rep *Report, stdout io.Writer) error {
	for _, o := range []struct {
		path, format string
		write        func(io.Writer, *Report) error
	}{
		{f.JSON, "json", WriteJSON},
		{f.JUnit, "junit", WriteJUnit},
		{f.HTML, "html", WriteHTML},
		{f.Navigator, "navigator", WriteNavigator},
	} {
		if o.path == "" {
			continue
		}
		if o.path == "-" {
			if err := o.write(stdout, rep); err != nil {
				return err
			}
			continue
		}
		var buf bytes.Buffer
		if err := o.write(&buf, rep); err != nil {
			return err
		}
		if err := os.WriteFile(o.path, buf.Bytes(), 0o644); err != nil {
			return &FileError{Format: o.format, Err: err}
		}
	}
	return nil
}
