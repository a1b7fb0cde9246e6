package yamlsafe

import (
	"fmt"
	"math"
	"strconv"

	"github.com/goccy/go-yaml/ast"
)

// Pos is a position in a YAML file, 1-based; the zero Pos is "unknown".
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Kind is the kind of a Node.
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

// Node is a YAML value with its position, in a form independent of the
// YAML library. Maps keep the order of their keys.
type Node struct {
	Kind  Kind
	Str   string // string value, or the canonical text of a scalar ("true", "+Inf")
	Text  string // a scalar as written in the file ("True", ".inf"), quotes and block markers removed
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

// TreeOptions choose how Tree treats the constructs readers differ on.
type TreeOptions struct {
	// MaxDepth bounds the nesting Tree follows (0: only the Limits of Parse).
	MaxDepth int
	// AliasRefusal, when set, refuses every *alias with this message
	// instead of resolving it; MergeRefusal does the same for << merge keys.
	AliasRefusal string
	MergeRefusal string
	// AsWritten keeps the file as written where YAML would retype it: a
	// map key is its token's text at its token's place (not converted, so
	// never refused), duplicates are compared as written and reported as
	// "(first at line N)", tags are ignored, and a "<<" that is a value is
	// a string. Scalars keep their kind; read their Text.
	AsWritten bool
}

// TreeError is a construct Tree cannot or will not turn into a Node.
type TreeError struct {
	Pos Pos
	Msg string
}

func (e *TreeError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg) }

func treeErr(pos Pos, format string, args ...any) *TreeError {
	return &TreeError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Tree turns one parsed document body (an element of (*ast.File).Docs, or
// its Body) into a Node. Anchors are resolved within the call. A failure
// is a *TreeError.
func Tree(n ast.Node, opt TreeOptions) (*Node, error) {
	c := converter{opt: opt, anchors: map[string]*Node{}}
	return c.convert(n, 0)
}

type converter struct {
	opt     TreeOptions
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
	if c.opt.MaxDepth > 0 && depth > c.opt.MaxDepth {
		return nil, treeErr(posOf(n), "YAML nested deeper than %d levels", c.opt.MaxDepth)
	}
	if n == nil {
		return &Node{Kind: KindNull}, nil
	}
	pos := posOf(n)
	text := ""
	if t := n.GetToken(); t != nil {
		text = t.Value
	}
	switch v := n.(type) {
	case *ast.NullNode:
		return &Node{Kind: KindNull, Text: text, Pos: pos}, nil
	case *ast.StringNode:
		return &Node{Kind: KindString, Str: v.Value, Text: v.Value, Pos: pos}, nil
	case *ast.LiteralNode:
		s := ""
		if v.Value != nil {
			s = v.Value.Value
		}
		return &Node{Kind: KindString, Str: s, Text: s, Pos: pos}, nil
	case *ast.IntegerNode:
		switch iv := v.Value.(type) {
		case int64:
			return &Node{Kind: KindInt, Int: iv, Float: float64(iv), Str: text, Text: text, Pos: pos}, nil
		case uint64:
			if iv > math.MaxInt64 {
				return &Node{Kind: KindFloat, Float: float64(iv), Str: text, Text: text, Pos: pos}, nil
			}
			return &Node{Kind: KindInt, Int: int64(iv), Float: float64(iv), Str: text, Text: text, Pos: pos}, nil
		}
		return &Node{Kind: KindString, Str: text, Text: text, Pos: pos}, nil
	case *ast.FloatNode:
		return &Node{Kind: KindFloat, Float: v.Value, Str: text, Text: text, Pos: pos}, nil
	case *ast.InfinityNode:
		return &Node{Kind: KindFloat, Float: v.Value, Str: strconv.FormatFloat(v.Value, 'g', -1, 64), Text: text, Pos: pos}, nil
	case *ast.NanNode:
		return &Node{Kind: KindFloat, Float: math.NaN(), Str: "NaN", Text: text, Pos: pos}, nil
	case *ast.BoolNode:
		return &Node{Kind: KindBool, Bool: v.Value, Str: strconv.FormatBool(v.Value), Text: text, Pos: pos}, nil
	case *ast.TagNode:
		inner, err := c.convert(v.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if !c.opt.AsWritten && v.Start != nil && (v.Start.Value == "!!str" || v.Start.Value == "!str") && inner.Kind != KindMap && inner.Kind != KindSeq {
			inner = &Node{Kind: KindString, Str: inner.Str, Text: inner.Text, Pos: inner.Pos}
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
		if c.opt.AliasRefusal != "" {
			return nil, treeErr(pos, "%s", c.opt.AliasRefusal)
		}
		name := ""
		if v.Value != nil {
			name = v.Value.String()
		}
		a, ok := c.anchors[name]
		if !ok {
			return nil, treeErr(pos, "unknown YAML alias *%s", name)
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
		if !c.opt.AsWritten {
			return c.convert(v.Value, depth+1)
		}
	case *ast.CommentGroupNode:
		return &Node{Kind: KindNull, Pos: pos}, nil
	case *ast.CommentNode:
		if !c.opt.AsWritten {
			return &Node{Kind: KindNull, Pos: pos}, nil
		}
	case *ast.DocumentNode:
		return c.convert(v.Body, depth+1)
	case *ast.MergeKeyNode:
		if c.opt.AsWritten {
			return &Node{Kind: KindString, Str: text, Text: text, Pos: pos}, nil
		}
	}
	return nil, treeErr(pos, "unsupported YAML construct %s", n.Type())
}

func (c *converter) addPair(out *Node, mv *ast.MappingValueNode, depth int) error {
	if mv == nil {
		return nil
	}
	if _, ok := mv.Key.(*ast.MergeKeyNode); ok {
		if c.opt.MergeRefusal != "" {
			return treeErr(posOf(mv.Key), "%s", c.opt.MergeRefusal)
		}
		val, err := c.convert(mv.Value, depth+1)
		if err != nil {
			return err
		}
		merge := func(m *Node) error {
			if m.Kind != KindMap {
				return treeErr(m.Pos, "YAML merge key << needs a map")
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
	if c.opt.AsWritten {
		return c.addRawPair(out, mv, depth)
	}
	key, err := c.convert(mv.Key, depth+1)
	if err != nil {
		return err
	}
	if key.Kind == KindMap || key.Kind == KindSeq {
		return treeErr(key.Pos, "map keys must be scalars")
	}
	ks := key.Str
	if key.Kind == KindNull {
		ks = ""
	}
	for _, kv := range out.Map {
		if kv.Key == ks {
			return treeErr(key.Pos, "duplicate key %q (first at %s)", ks, kv.KeyPos)
		}
	}
	val, err := c.convert(mv.Value, depth+1)
	if err != nil {
		return err
	}
	out.Map = append(out.Map, KV{Key: ks, KeyPos: key.Pos, Value: val})
	return nil
}

// addRawPair is addPair for AsWritten: the key as written.
func (c *converter) addRawPair(out *Node, mv *ast.MappingValueNode, depth int) error {
	key := ""
	if mv.Key == nil {
		// nothing: an empty key
	} else if t := mv.Key.GetToken(); t != nil {
		key = t.Value
	}
	kpos := posOf(mv.Key)
	for _, kv := range out.Map {
		if kv.Key == key {
			return treeErr(kpos, "duplicate key %q (first at line %d)", key, kv.KeyPos.Line)
		}
	}
	val, err := c.convert(mv.Value, depth+1)
	if err != nil {
		return err
	}
	out.Map = append(out.Map, KV{Key: key, KeyPos: kpos, Value: val})
	return nil
}
