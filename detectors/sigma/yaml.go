package sigma

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"

	"github.com/maildrill/maildrill/detectors/yamlsafe"
)

// Pos is a position in a rule file, 1-based.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Kind is the kind of a YAML node.
type Kind int

// Node kinds.
const (
	KindNull Kind = iota
	KindString
	KindInt
	KindFloat
	KindBool
	KindMap
	KindSeq
)

func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindString:
		return "string"
	case KindInt:
		return "integer"
	case KindFloat:
		return "number"
	case KindBool:
		return "boolean"
	case KindMap:
		return "map"
	case KindSeq:
		return "list"
	}
	return "unknown"
}

// Node is a YAML value with its position, in a form independent of the YAML library.
// Maps keep the order of their keys.
type Node struct {
	Kind  Kind
	Str   string // string value, or the literal text of a scalar
	Int   int64
	Float float64
	Bool  bool
	Map   []KV
	Seq   []*Node
	Pos   Pos
}

// KV is one entry of a YAML map.
type KV struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of key in a map node.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != KindMap {
		return nil
	}
	for _, kv := range n.Map {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// Interface converts the node to plain Go values (map[string]any, []any, string,
// int64, float64, bool, nil), e.g. for JSON schema validation.
func (n *Node) Interface() any {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case KindString:
		return n.Str
	case KindInt:
		return n.Int
	case KindFloat:
		return n.Float
	case KindBool:
		return n.Bool
	case KindMap:
		m := make(map[string]any, len(n.Map))
		for _, kv := range n.Map {
			m[kv.Key] = kv.Value.Interface()
		}
		return m
	case KindSeq:
		s := make([]any, len(n.Seq))
		for i, c := range n.Seq {
			s[i] = c.Interface()
		}
		return s
	}
	return nil
}

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
		c := converter{file: file, anchors: map[string]*Node{}}
		n, err := c.convert(d.Body, 0)
		if err != nil {
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
	return &Error{File: file, Pos: Pos{le.Line, le.Col}, Msg: le.Msg}, true
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
		pos = Pos{tok.Position.Line, tok.Position.Column}
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

type converter struct {
	file    string
	anchors map[string]*Node
}

func posOf(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{t.Position.Line, t.Position.Column}
}

func (c *converter) convert(n ast.Node, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, errAt(c.file, posOf(n), "YAML nested deeper than %d levels", maxDepth)
	}
	if n == nil {
		return &Node{Kind: KindNull}, nil
	}
	pos := posOf(n)
	switch v := n.(type) {
	case *ast.NullNode:
		return &Node{Kind: KindNull, Pos: pos}, nil
	case *ast.StringNode:
		return &Node{Kind: KindString, Str: v.Value, Pos: pos}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &Node{Kind: KindString, Str: s, Pos: pos}, nil
	case *ast.IntegerNode:
		text := ""
		if v.Token != nil {
			text = v.Token.Value
		}
		switch iv := v.Value.(type) {
		case int64:
			return &Node{Kind: KindInt, Int: iv, Float: float64(iv), Str: text, Pos: pos}, nil
		case uint64:
			if iv > math.MaxInt64 {
				return &Node{Kind: KindFloat, Float: float64(iv), Str: text, Pos: pos}, nil
			}
			return &Node{Kind: KindInt, Int: int64(iv), Float: float64(iv), Str: text, Pos: pos}, nil
		}
		return &Node{Kind: KindString, Str: text, Pos: pos}, nil
	case *ast.FloatNode:
		text := ""
		if v.Token != nil {
			text = v.Token.Value
		}
		return &Node{Kind: KindFloat, Float: v.Value, Str: text, Pos: pos}, nil
	case *ast.InfinityNode:
		return &Node{Kind: KindFloat, Float: v.Value, Str: strconv.FormatFloat(v.Value, 'g', -1, 64), Pos: pos}, nil
	case *ast.NanNode:
		return &Node{Kind: KindFloat, Float: math.NaN(), Str: "NaN", Pos: pos}, nil
	case *ast.BoolNode:
		text := strconv.FormatBool(v.Value)
		return &Node{Kind: KindBool, Bool: v.Value, Str: text, Pos: pos}, nil
	case *ast.TagNode:
		inner, err := c.convert(v.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if v.Start != nil && (v.Start.Value == "!!str" || v.Start.Value == "!str") && inner.Kind != KindMap && inner.Kind != KindSeq {
			inner = &Node{Kind: KindString, Str: inner.Str, Pos: inner.Pos}
		}
		return inner, nil
	case *ast.AnchorNode:
		inner, err := c.convert(v.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if v.Name != nil {
			c.anchors[v.Name.String()] = inner
		}
		return inner, nil
	case *ast.AliasNode:
		name := ""
		if v.Value != nil {
			name = v.Value.String()
		}
		a, ok := c.anchors[name]
		if !ok {
			return nil, errAt(c.file, pos, "unknown YAML alias *%s", name)
		}
		return a, nil
	case *ast.MappingNode:
		if len(v.Values) > 0 && v.Values[0].Key != nil {
			pos = posOf(v.Values[0].Key) // a map starts at its first key
		}
		out := &Node{Kind: KindMap, Pos: pos}
		for _, mv := range v.Values {
			if err := c.addPair(out, mv, depth); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *ast.MappingValueNode:
		if v.Key != nil {
			pos = posOf(v.Key)
		}
		out := &Node{Kind: KindMap, Pos: pos}
		if err := c.addPair(out, v, depth); err != nil {
			return nil, err
		}
		return out, nil
	case *ast.SequenceNode:
		out := &Node{Kind: KindSeq, Pos: pos}
		for _, e := range v.Values {
			cn, err := c.convert(e, depth+1)
			if err != nil {
				return nil, err
			}
			out.Seq = append(out.Seq, cn)
		}
		return out, nil
	case *ast.MappingKeyNode:
		return c.convert(v.Value, depth+1)
	case *ast.CommentGroupNode, *ast.CommentNode:
		return &Node{Kind: KindNull, Pos: pos}, nil
	case *ast.DocumentNode:
		return c.convert(v.Body, depth+1)
	}
	return nil, errAt(c.file, pos, "unsupported YAML construct %s", n.Type())
}

func (c *converter) addPair(out *Node, mv *ast.MappingValueNode, depth int) error {
	if mv == nil {
		return nil
	}
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		val, err := c.convert(mv.Value, depth+1)
		if err != nil {
			return err
		}
		merge := func(m *Node) error {
			if m.Kind != KindMap {
				return errAt(c.file, m.Pos, "YAML merge key << needs a map")
			}
			for _, kv := range m.Map {
				if out.Get(kv.Key) == nil {
					out.Map = append(out.Map, kv)
				}
			}
			return nil
		}
		if val.Kind == KindSeq {
			for _, m := range val.Seq {
				if err := merge(m); err != nil {
					return err
				}
			}
			return nil
		}
		return merge(val)
	}
	key, err := c.convert(mv.Key, depth+1)
	if err != nil {
		return err
	}
	if key.Kind == KindMap || key.Kind == KindSeq {
		return errAt(c.file, key.Pos, "map keys must be scalars")
	}
	ks := key.Str
	if key.Kind == KindNull {
		ks = ""
	}
	for _, kv := range out.Map {
		if kv.Key == ks {
			return errAt(c.file, key.Pos, "duplicate key %q (first at %s)", ks, kv.KeyPos)
		}
	}
	val, err := c.convert(mv.Value, depth+1)
	if err != nil {
		return err
	}
	out.Map = append(out.Map, KV{Key: ks, KeyPos: key.Pos, Value: val})
	return nil
}
