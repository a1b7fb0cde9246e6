package alertsrc

// Intake is where a suite's outside alerts come from: a webhook that
// listens for the whole suite, a JSON-lines file and a shell command read
// again on each poll of each run.
type Intake struct {
	Mapping Mapping
	// File is a JSON-lines file of alerts ("": none).
	File string
	// Command is a shell command whose output holds the alerts ("":
	// none); $MAILDRILL_RUN_ID is the run id.
	Command string
	webhook *Webhook
}

// Listen starts a webhook receiver on addr (host:port); token, when set,
// is the bearer token it requires.
func (in *Intake) Listen(addr, token string) error {
	w := &Webhook{Mapping: in.Mapping, Token: token}
	if err := w.Listen(addr); err != nil {
		return err
	}
	in.webhook = w
	return nil
}

// URL is where the webhook receives alerts ("" without one).
func (in *Intake) URL() string {
	if in == nil || in.webhook == nil {
		return ""
	}
	return in.webhook.URL()
}

// Sources are the sources of the run's alerts.
func (in *Intake) Sources(runID string) []Source {
	var srcs []Source
	if in.webhook != nil {
		srcs = append(srcs, in.webhook.For(runID))
	}
	if in.File != "" {
		srcs = append(srcs, File{Path: in.File, Mapping: in.Mapping, RunID: runID})
	}
	if in.Command != "" {
		srcs = append(srcs, Command{Args: []string{"sh", "-c", in.Command}, Mapping: in.Mapping, RunID: runID})
	}
	return srcs
}

// Close stops the webhook. A nil Intake is none.
func (in *Intake) Close() {
	if in != nil && in.webhook != nil {
		in.webhook.Close()
	}
}

// IntakeConfig says where a suite's outside alerts come from; every field
// may be empty.
type IntakeConfig struct {
	// Webhook is the host:port a webhook listens on, Token the bearer
	// token it requires.
	Webhook, Token string
	// File and Command are read again on each poll (see Intake).
	File, Command string
	// Mapping is the text of the field mapping (ParseMapping).
	Mapping string
}

// IntakeError is a refused IntakeConfig field: "Mapping" or "Webhook".
type IntakeError struct {
	Field string
	Err   error
}

func (e *IntakeError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *IntakeError) Unwrap() error { return e.Err }

// Open parses c's mapping and starts its webhook; nil (and no error)
// when c names no source.
func Open(c IntakeConfig) (*Intake, error) {
	if c.Webhook == "" && c.File == "" && c.Command == "" {
		return nil, nil
	}
	m, err := ParseMapping(c.Mapping)
	if err != nil {
		return nil, &IntakeError{Field: "Mapping", Err: err}
	}
	in := &Intake{Mapping: m, File: c.File, Command: c.Command}
	if c.Webhook != "" {
		if err := in.Listen(c.Webhook, c.Token); err != nil {
			return nil, &IntakeError{Field: "Webhook", Err: err}
		}
	}
	return in, nil
}
