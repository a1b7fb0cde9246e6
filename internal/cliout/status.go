package cliout

import (
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// StatusInterval is how often a status line is redrawn: 4 times a second.
const StatusInterval = 250 * time.Millisecond

// statusWidth bounds a status line, so that it never wraps on a common
// terminal (a wrapped line cannot be erased with a carriage return).
const statusWidth = 79

// Status is a line of progress at the bottom of a terminal: redrawn every
// StatusInterval from render while it runs, erased before anything else
// is printed (Print) and at the end (Stop). It is nil — and writes
// nothing, ever — when w is not a terminal: pipes and CI logs get only
// the ordinary output. A nil *Status's methods are valid.
type Status struct {
	w      io.Writer
	render func() string
	mu     sync.Mutex
	shown  bool
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// StartStatus starts a status line on w when w is a terminal, else it
// returns nil.
func StartStatus(w io.Writer, render func() string) *Status {
	if !IsTerminal(w) {
		return nil
	}
	return startStatus(w, render, StatusInterval)
}

func startStatus(w io.Writer, render func() string, every time.Duration) *Status {
	s := &Status{w: w, render: render, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.draw()
			}
		}
	}()
	return s
}

func (s *Status) draw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := s.render()
	if utf8.RuneCountInString(line) > statusWidth {
		r := []rune(line)
		line = string(r[:statusWidth-1]) + "…"
	}
	fmt.Fprintf(s.w, "\r%s\x1b[K", line)
	s.shown = true
}

// erase clears the line; s.mu is held.
func (s *Status) erase() {
	if s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.shown = false
	}
}

// Print runs f, which prints ordinary output to the same terminal, with
// the status line out of its way; it is redrawn at the next tick.
func (s *Status) Print(f func()) {
	if s == nil {
		f()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erase()
	f()
}

// Stop stops the redraws and erases the line.
func (s *Status) Stop() {
	if s == nil {
		return
	}
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.mu.Lock()
	s.erase()
	s.mu.Unlock()
}
