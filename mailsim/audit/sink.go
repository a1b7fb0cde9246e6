package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
)

// WriteJSONLines copies events from sub to w as JSON lines until the bus is
// closed and drained or ctx ends. It flushes after each batch, so a reader
// of the file sees events promptly. It closes sub on return.
func WriteJSONLines(ctx context.Context, sub *Subscription, w io.Writer) error {
	defer sub.Close()
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for {
		evs, err := sub.NextBatch(ctx, 512)
		if err != nil {
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
			if errors.Is(err, ErrClosed) {
				return nil
			}
			return err
		}
		for _, e := range evs {
			if err := enc.Encode(Wire(e)); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
}
