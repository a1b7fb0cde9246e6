package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// ErrFrame marks a TCP stream that is not syslog framing: ReadFrame's
// errors other than io.EOF wrap it.
var ErrFrame = errors.New("bad syslog framing")

// ErrTooLong is ReadFrame's error for a message longer than MaxMessage,
// which was stepped over: the stream is still in step.
var ErrTooLong = fmt.Errorf("%w: message longer than %d bytes", ErrFrame, MaxMessage)

// ReadFrame reads one syslog message from a TCP stream, telling the two
// framings of RFC 6587 apart by the first byte: a digit starts an
// octet-counted frame ("LEN SP MSG"), anything else a message ended by LF
// (newline framing; a last message without LF ends at EOF). Empty lines
// are skipped. A message longer than MaxMessage is read past and returned
// as an error wrapping ErrFrame with the stream still in step; a length
// that is not a number cannot be stepped over, and the stream must be
// dropped.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return nil, err
		}
		switch c := b[0]; {
		case c == '\n' || c == '\r' || c == 0:
			r.ReadByte()
			continue
		case c >= '0' && c <= '9':
			return readCounted(r)
		}
		return readLine(r)
	}
}

func readCounted(r *bufio.Reader) ([]byte, error) {
	n := 0
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("%w: stream ends inside a frame length", ErrFrame)
			}
			return nil, err
		}
		if c == ' ' && i > 0 {
			break
		}
		if c < '0' || c > '9' || i >= 9 || i == 0 && c == '0' { // MSG-LEN = NONZERO-DIGIT *DIGIT
			return nil, fmt.Errorf("%w: frame length is not a number followed by a space", ErrFrame)
		}
		n = n*10 + int(c-'0')
	}
	if n > MaxMessage {
		if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return nil, fmt.Errorf("%w: stream ends inside a %d-byte frame", ErrFrame, n)
		}
		return nil, fmt.Errorf("%w (a %d-byte frame)", ErrTooLong, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("%w: stream ends inside a %d-byte frame", ErrFrame, n)
	}
	return buf, nil
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > MaxMessage+1 {
			// Too long: skip to the end of the line.
			for err == bufio.ErrBufferFull {
				_, err = r.ReadSlice('\n')
			}
			return nil, fmt.Errorf("%w (a line)", ErrTooLong)
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line, nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

func (in *Ingester) acceptLoop() {
	defer in.readers.Done()
	src := "tcp"
	if in.tlsOn {
		src = "tls"
	}
	defer in.tcp.Close()
	delay := 5 * time.Millisecond
	for {
		c, err := in.tcp.Accept()
		if err != nil {
			if in.isClosing() {
				return // drained: the listener stayed quiet for drainIdle
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and the like: back off, as net/http does.
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond
		if in.isClosing() {
			in.rawTCP.SetDeadline(time.Now().Add(drainIdle))
		}
		in.mu.Lock()
		in.conns[c] = struct{}{}
		in.stats.Connections++
		in.mu.Unlock()
		in.readers.Add(1)
		go in.readConn(src, c)
	}
}

// drainConn re-arms the read deadline while the Ingester closes, so that
// what the socket holds is read and a silent peer does not hold Close.
type drainConn struct {
	net.Conn
	in *Ingester
}

func (d drainConn) Read(p []byte) (int, error) {
	if d.in.isClosing() {
		d.Conn.SetReadDeadline(time.Now().Add(drainIdle))
	}
	return d.Conn.Read(p)
}

func (in *Ingester) readConn(src string, c net.Conn) {
	defer in.readers.Done()
	defer func() {
		in.mu.Lock()
		delete(in.conns, c)
		in.mu.Unlock()
		c.Close()
	}()
	peer := src + " " + c.RemoteAddr().String()
	r := bufio.NewReaderSize(drainConn{c, in}, 16<<10)
	for {
		msg, err := ReadFrame(r)
		if err != nil {
			if errors.Is(err, ErrTooLong) {
				// Counted as a line that could not be used, and shown.
				in.send(item{src: src, bad: err.Error()})
				continue
			}
			if errors.Is(err, ErrFrame) {
				in.connError(peer, err)
				return
			}
			if err != io.EOF && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, net.ErrClosed) {
				in.connError(peer, err) // a failed TLS handshake, a reset
			}
			return
		}
		in.send(item{src: src, text: string(msg)})
	}
}

func (in *Ingester) readUDP() {
	defer in.readers.Done()
	buf := make([]byte, 65536)
	for {
		if in.isClosing() {
			in.udp.SetReadDeadline(time.Now().Add(drainIdle))
		}
		n, _, err := in.udp.ReadFrom(buf)
		if n > 0 {
			in.send(item{src: "udp", text: string(buf[:n])})
		}
		if err != nil {
			if in.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			in.connError("udp", err)
			time.Sleep(10 * time.Millisecond)
		}
	}
}
