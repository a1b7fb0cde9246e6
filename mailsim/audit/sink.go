package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

// WriteJSONLines copies events from sub to w as JSON lines until the bus is
// closed and drained or ctx ends. It writes after each batch, so a reader
// of the file sees events promptly. It closes sub on return. On a write
// error it returns at once (the subscription is closed, so publishers are
// not held back); use a Sink to keep an exact count of what was lost.
func WriteJSONLines(ctx context.Context, sub *Subscription, w io.Writer) error {
	s := &Sink{W: w, StopOnError: true}
	return s.Run(ctx, sub)
}

// Sink writes events as JSON lines and accounts for every one of them:
// each event is either written whole or counted as lost, so a sink that
// fails (a full disk, a closed pipe) never claims more than it wrote.
type Sink struct {
	// W receives the JSON lines.
	W io.Writer
	// OnError, when set, is called once, at the first write error, from
	// the sink's goroutine: the caller can say so at once, loudly, and
	// decide whether to stop.
	OnError func(error)
	// StopOnError makes Run return at the first error. Otherwise Run keeps
	// reading the bus after a failure (publishers are never held back)
	// and counts every further event as lost, without writing again: a
	// retry after a partial write would leave a broken line mid-file.
	StopOnError bool

	mu      sync.Mutex
	written uint64
	lost    uint64
	err     error
}

// Stats returns how many events were written whole, how many were lost,
// and the first write error.
func (s *Sink) Stats() (written, lost uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.lost, s.err
}

// Run copies events from sub until the bus is closed and drained, or ctx
// ends, or (with StopOnError) a write fails. It closes sub on return and
// returns the first write error.
func (s *Sink) Run(ctx context.Context, sub *Subscription) error {
	defer sub.Close()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	ends := make([]int, 0, 512)
	for {
		evs, err := sub.NextBatch(ctx, 512)
		if err != nil {
			s.mu.Lock()
			werr := s.err
			s.mu.Unlock()
			if werr != nil {
				return werr
			}
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		s.mu.Lock()
		failed := s.err != nil
		if failed {
			s.lost += uint64(len(evs))
		}
		s.mu.Unlock()
		if failed {
			continue
		}
		buf.Reset()
		ends = ends[:0]
		var encErr error
		for _, e := range evs {
			if encErr = enc.Encode(Wire(e)); encErr != nil {
				break
			}
			ends = append(ends, buf.Len())
		}
		n, werr := s.W.Write(buf.Bytes())
		if werr == nil && n < buf.Len() {
			werr = io.ErrShortWrite
		}
		if werr == nil && encErr != nil {
			werr = encErr
		}
		if f, ok := s.W.(interface{ Flush() }); ok && werr == nil {
			f.Flush()
		}
		whole := 0
		for _, end := range ends {
			if end <= n {
				whole++
			}
		}
		if werr == nil {
			whole = len(ends)
		}
		s.mu.Lock()
		s.written += uint64(whole)
		if werr != nil {
			s.lost += uint64(len(evs) - whole)
			s.err = werr
		}
		s.mu.Unlock()
		if werr != nil {
			if s.OnError != nil {
				s.OnError(werr)
			}
			if s.StopOnError {
				return werr
			}
		}
	}
}
