package sigma

import (
	"errors"
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/token"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// Pos is a position in a rule file, 1-based.
type Pos = yamlsafe.Pos

// Kind is the kind of a YAML node.
type Kind = yamlsafe.Kind

// Node kinds.
const (
	KindNull   = yamlsafe.KindNull
	KindString = yamlsafe.KindString
	KindInt    = yamlsafe.KindInt
	KindFloat  = yamlsafe.KindFloat
	KindBool   = yamlsafe.KindBool
	KindMap    = yamlsafe.KindMap
	KindSeq    = yamlsafe.KindSeq
)

// Node is a YAML value with its position (see yamlsafe.Node).
type Node = yamlsafe.Node

// KV is one entry of a YAML map.
type KV = yamlsafe.KV

// Document is one YAML document of a file.
type Document struct {
	Root *Node
	Pos  Pos // position of the document start
}

// Error is an error located in a rule file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Col)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func errAt(file string, pos Pos, format string, args ...any) *Error {
	return &Error{File: file, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

const maxDepth = 100

// ParseYAML parses a (possibly multi-document) YAML file into Documents,
// within the default yamlsafe limits.
func ParseYAML(file string, data []byte) ([]Document, error) {
	return ParseYAMLLimits(file, data, yamlsafe.Limits{})
}

// ParseYAMLLimits is ParseYAML within lim: a file too large, nested too
// deep, or whose aliases expand too far is refused with an *Error at the
// place it crosses the limit.
func ParseYAMLLimits(file string, data []byte, lim yamlsafe.Limits) (docs []Document, err error) {
	defer func() {
		if r := recover(); r != nil { // the YAML library must never take us down
			docs, err = nil, errAt(file, Pos{}, "invalid YAML: parser failure: %v", r)
		}
	}()
	f, err := yamlsafe.Parse(data, lim)
	if err != nil {
		return nil, yamlError(file, err)
	}
	for _, d := range f.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		n, err := yamlsafe.Tree(d.Body, yamlsafe.TreeOptions{MaxDepth: maxDepth})
		if err != nil {
			var te *yamlsafe.TreeError
			if errors.As(err, &te) {
				return nil, &Error{File: file, Pos: te.Pos, Msg: te.Msg}
			}
			return nil, err
		}
		if n == nil || (n.Kind == KindNull && n.Str == "") {
			continue
		}
		docs = append(docs, Document{Root: n, Pos: n.Pos})
	}
	return docs, nil
}

// LimitError turns a refusal of package yamlsafe into an *Error of file.
func LimitError(file string, err error) (*Error, bool) {
	var le *yamlsafe.Error
	if !errors.As(err, &le) {
		return nil, false
	}
	return &Error{File: file, Pos: Pos{Line: le.Line, Col: le.Col}, Msg: le.Msg}, true
}

func yamlError(file string, err error) error {
	if e, ok := LimitError(file, err); ok {
		return e
	}
	var tok *token.Token
	msg := err.Error()
	var se *yaml.SyntaxError
	var te *yaml.TypeError
	var de *yaml.DuplicateKeyError
	switch {
	case errors.As(err, &se):
		tok, msg = se.Token, se.Message
	case errors.As(err, &de):
		tok, msg = de.Token, de.Message
	case errors.As(err, &te):
		tok = te.Token
	}
	pos := Pos{}
	if tok != nil && tok.Position != nil {
		pos = Pos{Line: tok.Position.Line, Col: tok.Position.Column}
	}
	return &Error{File: file, Pos: pos, Msg: "invalid YAML: " + firstLine(msg)}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	// goccy prefixes "[l:c] "; we print the position ourselves.
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "] "); i > 0 {
			s = s[i+2:]
		}
	}
	return s
}
