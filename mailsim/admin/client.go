package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maildrill/maildrill/internal/jsonl"
	"github.com/maildrill/maildrill/mailsim/audit"
)

// ReadEvents reads an event stream as GET /api/events serves it (one
// audit event per line) and calls fn for each event, in order, until the
// stream ends or fn fails. name labels a bad line (name:line); a read
// error is returned as it is, for the caller to judge (a stream cut by a
// stop is no fault).
func ReadEvents(r io.Reader, name string, fn func(audit.Event) error) error {
	lr := jsonl.NewReader(r, name)
	for {
		b, ok := lr.Next()
		if !ok {
			return lr.ReadErr()
		}
		var e audit.Event
		if err := json.Unmarshal(b, &e); err != nil {
			return lr.LineError(err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Follow reads the event stream at url (an admin API's /api/events) from
// sequence 1 on and calls fn for each event, reconnecting after the last
// sequence seen whenever the stream ends or cannot be reached (the mail
// system starting or restarting), retry apart, until ctx ends. It says
// on log what it follows and why it reconnects. token, when set, is sent
// as the bearer token.
//
// An error from fn is not the stream's: Follow stops and returns it (a
// detector whose alerts cannot be written must not go on reading events
// whose alerts would be lost), and the event fn failed on is not counted
// as seen. Follow returns nil when ctx ends.
func Follow(ctx context.Context, url, token string, retry time.Duration, log io.Writer, fn func(audit.Event) error) error {
	var next uint64 = 1
	var fnErr error
	for ctx.Err() == nil {
		u := url
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "from=" + strconv.FormatUint(next, 10)
		err := func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
			}
			fmt.Fprintf(log, "detect: following %s\n", u)
			return ReadEvents(resp.Body, u, func(e audit.Event) error {
				if err := fn(e); err != nil {
					fnErr = err
					return err
				}
				next = e.Sequence + 1
				return nil
			})
		}()
		if fnErr != nil {
			return fnErr
		}
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			fmt.Fprintf(log, "detect: %v; retrying in %s\n", err, retry)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
	return nil
}
