package run

import (
	"io"
	"os"
	"strings"

	"github.com/maildrill/maildrill/internal/syslogsend"
	"github.com/maildrill/maildrill/mailsim/audit"
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

// writeSyslog renders e as mail-log lines to the syslog file and the
// network syslog receiver. The caller holds r.mu.
func (r *runner) writeSyslog(e *audit.Event) {
	for _, rec := range audit.SyslogRecords(e, audit.SyslogOptions{Location: r.sc.Env.Location}) {
		if r.opts.Syslog != nil && r.writeErr == nil {
			if _, err := io.WriteString(r.opts.Syslog, rec.Line()+"\n"); err != nil {
				r.writeErr = err
			}
		}
		if r.opts.SyslogTo != nil {
			r.opts.SyslogTo.Send(SyslogMessage(rec))
		}
	}
}

// SyslogMessage is a mail-log line as a network syslog message: Postfix's
// warnings at severity warning, everything else informational, as the
// programs themselves log them.
func SyslogMessage(rec audit.SyslogRecord) syslogsend.Message {
	m := syslogsend.Message{Time: rec.Time, Host: rec.Host, App: rec.App, ProcID: rec.ProcID, Msg: rec.Msg}
	if strings.HasPrefix(rec.Msg, "warning: ") {
		m.Severity, m.HasSeverity = syslogsend.SeverityWarn, true
	}
	return m
}
