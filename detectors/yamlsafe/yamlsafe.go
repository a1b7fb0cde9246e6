// Package yamlsafe reads and parses YAML files within bounds, so that a
// hostile scenario, rule or configuration file cannot exhaust memory or
// time: the file's size is checked before it is read whole, its nesting
// depth and its empty values before goccy's parser (recursive, and
// quadratic in empty values) sees them, and its aliases before anything
// expands them. Tree then turns a parsed document into positioned Nodes.
// Both the Sigma rule loader and the scenario parser use it.
package yamlsafe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/maildrill/maildrill/internal/bom"
)

// Default limits: far above any real scenario or SigmaHQ rule (SigmaHQ rules
// are under 20 KB and nest under 10 levels), far below what exhausts memory.
// Parsing costs up to a few hundred bytes per input byte, so the file size
// bound is also the memory bound.
const (
	DefaultMaxBytes       = 1 << 20 // 1 MiB per file
	DefaultMaxDepth       = 64      // nested mappings and lists
	DefaultMaxAliases     = 1000    // *alias references per file
	DefaultMaxAliasNodes  = 100_000 // nodes the aliases stand for, once expanded
	DefaultMaxEmptyValues = 1000    // "key:" or "-" with no value
)

// Limits bounds one YAML file. A zero field means its default.
type Limits struct {
	MaxBytes       int64 // file size in bytes (DefaultMaxBytes)
	MaxDepth       int   // nesting depth of mappings and lists, aliases expanded (DefaultMaxDepth)
	MaxAliases     int   // number of alias references (DefaultMaxAliases)
	MaxAliasNodes  int   // nodes added by expanding every alias (DefaultMaxAliasNodes)
	MaxEmptyValues int   // keys and list entries without a value (DefaultMaxEmptyValues)
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxAliases <= 0 {
		l.MaxAliases = DefaultMaxAliases
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = DefaultMaxAliasNodes
	}
	if l.MaxEmptyValues <= 0 {
		l.MaxEmptyValues = DefaultMaxEmptyValues
	}
	return l
}

// Names of the limits, as Error.Limit.
const (
	LimitSize        = "limit_yaml_size"
	LimitDepth       = "limit_yaml_depth"
	LimitAliases     = "limit_yaml_aliases"
	LimitAliasNodes  = "limit_yaml_alias_nodes"
	LimitEmptyValues = "limit_yaml_empty_values"
	// Encoding is not a limit: the file is not UTF-8 text.
	Encoding = "yaml_encoding"
)

// Error is a refused file: which limit, where (Line 0 when the whole file is
// refused), and why.
type Error struct {
	Line, Col int
	Limit     string // LimitSize, LimitDepth, ...
	Msg       string // e.g. "nesting deeper than 64 levels"
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return e.Msg
}

// ErrLimit is matched by every *Error (errors.Is(err, ErrLimit)).
var ErrLimit = errors.New("yaml limit exceeded")

// Is reports whether target is ErrLimit.
func (e *Error) Is(target error) bool { return target == ErrLimit }

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func tooLarge(l Limits) *Error {
	return &Error{Limit: LimitSize, Msg: fmt.Sprintf("file larger than %s (the limit for a YAML file)", sizeText(l.MaxBytes))}
}

// Read reads r up to the size limit: it never reads more than MaxBytes+1
// bytes, and refuses the file if there were more.
func Read(r io.Reader, l Limits) ([]byte, error) {
	l = l.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, l.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.MaxBytes {
		return nil, tooLarge(l)
	}
	return data, nil
}

// ReadFile reads a file from disk within the size limit.
func ReadFile(name string, l Limits) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, l)
}

// ReadFS reads a file of fsys within the size limit.
func ReadFS(fsys fs.FS, name string, l Limits) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, l)
}

// Text is data as the YAML parser should see it: without the UTF-8 byte
// order mark some editors write first (YAML allows one; the parser would
// read it as part of the first key), and refused as an *Error (Limit
// Encoding) when it is UTF-16 or UTF-32, as some Windows tools save text,
// or holds a NUL byte, which no YAML text does.
func Text(data []byte) ([]byte, error) {
	data, p := bom.Text(data)
	if p != nil {
		return nil, &Error{Line: p.Line, Col: p.Col, Limit: Encoding, Msg: p.Msg}
	}
	return data, nil
}

// Parse parses YAML within the limits, after Text. Syntax errors are
// goccy/go-yaml's; exceeded limits and refused encodings are *Error.
func Parse(data []byte, l Limits) (*ast.File, error) {
	l = l.withDefaults()
	if int64(len(data)) > l.MaxBytes {
		return nil, tooLarge(l)
	}
	data, err := Text(data)
	if err != nil {
		return nil, err
	}
	if err := checkPrefix(data, l); err != nil {
		return nil, err
	}
	toks := lexer.Tokenize(string(data))
	if err := checkTokens(toks, l, false); err != nil {
		return nil, err
	}
	f, err := parser.Parse(toks, 0)
	if err != nil {
		return nil, err
	}
	if err := checkAliases(f, l); err != nil {
		return nil, err
	}
	return f, nil
}

// prefixBytes is how much of a large file checkPrefix tokenizes first.
const prefixBytes = 64 << 10

// checkPrefix finds a nesting bomb early in a large file from a prefix:
// the lexer costs some hundred bytes per token, so a file of brackets
// would cost hundreds of megabytes to tokenize whole before the depth check
// refuses it. Tokens that end before the cut are those of the whole file
// (the cut is at a space, or right after a bracket that opens a level too
// many), so a refusal of the prefix is one of the file.
func checkPrefix(data []byte, l Limits) error {
	if len(data) <= prefixBytes {
		return nil
	}
	head := data[:prefixBytes]
	var cuts []int
	if i := bytes.LastIndexAny(head, " \t\n"); i > 0 {
		cuts = append(cuts, i+1)
	}
	depth := 0
	for i, c := range head {
		if c == '[' || c == '{' {
			if depth++; depth > l.MaxDepth {
				cuts = append(cuts, i+1)
				break
			}
		} else if (c == ']' || c == '}') && depth > 0 {
			depth--
		}
	}
	for _, cut := range cuts {
		if err := checkTokens(lexer.Tokenize(string(data[:cut])), l, true); err != nil {
			return err
		}
	}
	return nil
}

func depthError(tk *token.Token, max int) *Error {
	e := &Error{Limit: LimitDepth, Msg: fmt.Sprintf("nesting deeper than %d levels", max)}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// checkTokens bounds the token stream before goccy's parser sees it:
//
//   - the nesting: flow collections by their brackets, block collections by
//     their indentation (a stack of the columns of the open collections);
//     the parser recurses and allocates per level;
//   - the empty values ("key:" or "-" with nothing after): the parser
//     inserts a null token for each into its token slice, moving every
//     token after it, so a file of "-\n" lines takes time quadratic in
//     its length (512 Ki of them: minutes).
//
// With partial, toks are a prefix of the file's: a value with nothing after
// it in the prefix may have something after it in the file, and is not
// counted.
func checkTokens(toks token.Tokens, l Limits, partial bool) error {
	type block struct {
		col int
		seq bool
	}
	var stack []block
	var flowMap []bool // open flow collections, true for a mapping
	empty := 0
	for i, tk := range toks {
		if tk == nil || tk.Position == nil || tk.Type == token.CommentType {
			continue
		}
		next := nextToken(toks, i)
		switch tk.Type {
		case token.DocumentHeaderType, token.DocumentEndType:
			stack, flowMap = stack[:0], flowMap[:0]
			continue
		case token.SequenceStartType, token.MappingStartType:
			flowMap = append(flowMap, tk.Type == token.MappingStartType)
			if len(stack)+len(flowMap) > l.MaxDepth {
				return depthError(tk, l.MaxDepth)
			}
			continue
		case token.SequenceEndType, token.MappingEndType:
			if len(flowMap) > 0 {
				flowMap = flowMap[:len(flowMap)-1]
			}
			continue
		}
		if len(flowMap) > 0 {
			// {a: , b} or {a, b}: keys without values
			if flowMap[len(flowMap)-1] && ((next == nil && !partial) || (next != nil && (next.Type == token.CollectEntryType || next.Type == token.MappingEndType))) {
				if tk.Type == token.MappingValueType || (tk.Prev != nil && (tk.Prev.Type == token.MappingStartType || tk.Prev.Type == token.CollectEntryType)) {
					if empty++; empty > l.MaxEmptyValues {
						return emptyError(tk, l.MaxEmptyValues)
					}
				}
			}
			continue
		}
		var col int
		var seq bool
		at := tk
		switch tk.Type {
		case token.SequenceEntryType:
			col, seq = tk.Position.Column, true
		case token.MappingKeyType:
			col = tk.Position.Column
		case token.MappingValueType:
			key := tk.Prev
			if key == nil || key.Position == nil || key.Position.Line != tk.Position.Line {
				continue
			}
			col, at = key.Position.Column, key
		default:
			continue
		}
		var isEmpty bool
		switch {
		case next == nil:
			isEmpty = !partial
		case next.Type == token.DocumentHeaderType, next.Type == token.DocumentEndType:
			isEmpty = true
		case next.Position != nil:
			isEmpty = next.Position.Line > tk.Position.Line && next.Position.Column <= col
		}
		if isEmpty {
			if empty++; empty > l.MaxEmptyValues {
				return emptyError(at, l.MaxEmptyValues)
			}
		}
		// A list may sit at its parent key's column ("a:\n- x"): it nests
		// in the mapping, and the next key at that column closes it.
		for len(stack) > 0 {
			top := stack[len(stack)-1]
			if top.col > col || (top.col == col && top.seq && !seq) {
				stack = stack[:len(stack)-1]
				continue
			}
			break
		}
		if len(stack) > 0 && stack[len(stack)-1].col == col && stack[len(stack)-1].seq == seq {
			continue
		}
		stack = append(stack, block{col, seq})
		if len(stack)+len(flowMap) > l.MaxDepth {
			return depthError(at, l.MaxDepth)
		}
	}
	return nil
}

// nextToken is the token after toks[i], comments skipped.
func nextToken(toks token.Tokens, i int) *token.Token {
	for _, tk := range toks[i+1:] {
		if tk != nil && tk.Type != token.CommentType {
			return tk
		}
	}
	return nil
}

func emptyError(tk *token.Token, max int) *Error {
	e := &Error{Limit: LimitEmptyValues, Msg: fmt.Sprintf("more than %d empty values (a key or list entry with nothing after it)", max)}
	if tk != nil && tk.Position != nil {
		e.Line, e.Col = tk.Position.Line, tk.Position.Column
	}
	return e
}

// anchorInfo is what an anchored value stands for once expanded.
type anchorInfo struct {
	nodes int // nodes, aliases inside expanded
	depth int // levels below the value, aliases inside expanded
}

type aliasChecker struct {
	l        Limits
	anchors  map[string]anchorInfo
	aliases  int
	expanded int
}

// checkAliases bounds what the aliases of f would expand to: their number,
// the nodes they add, and the depth they reach. Anchors are measured once
// (an alias of an alias is not walked again), so the check is linear in the
// file however much the aliases would expand.
func checkAliases(f *ast.File, l Limits) error {
	for _, d := range f.Docs {
		c := &aliasChecker{l: l, anchors: map[string]anchorInfo{}}
		if _, err := c.walk(d.Body, 0); err != nil {
			return err
		}
	}
	return nil
}

func aliasPos(n ast.Node) (int, int) {
	if n == nil || n.GetToken() == nil || n.GetToken().Position == nil {
		return 0, 0
	}
	p := n.GetToken().Position
	return p.Line, p.Column
}

// walk returns the expanded size of n, at depth level.
func (c *aliasChecker) walk(n ast.Node, level int) (anchorInfo, error) {
	if n == nil {
		return anchorInfo{}, nil
	}
	switch v := n.(type) {
	case *ast.AliasNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		c.aliases++
		line, col := aliasPos(v)
		name := ""
		if v.Value != nil {
			name = v.Value.GetToken().Value
		}
		if c.aliases > c.l.MaxAliases {
			return anchorInfo{}, &Error{Line: line, Col: col, Limit: LimitAliases, Msg: fmt.Sprintf("more than %d YAML aliases", c.l.MaxAliases)}
		}
		a := c.anchors[name]
		c.expanded += a.nodes
		if c.expanded > c.l.MaxAliasNodes {
			return anchorInfo{}, &Error{Line: line, Col: col, Limit: LimitAliasNodes, Msg: fmt.Sprintf("YAML aliases expand to more than %d nodes (alias *%s)", c.l.MaxAliasNodes, name)}
		}
		if level+a.depth > c.l.MaxDepth {
			return anchorInfo{}, &Error{Line: line, Col: col, Limit: LimitDepth, Msg: fmt.Sprintf("nesting deeper than %d levels once alias *%s is expanded", c.l.MaxDepth, name)}
		}
		return a, nil
	case *ast.AnchorNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		a, err := c.walk(v.Value, level)
		if err != nil {
			return a, err
		}
		if v.Name != nil {
			c.anchors[v.Name.GetToken().Value] = a
		}
		return a, nil
	case *ast.TagNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		return c.walk(v.Value, level)
	case *ast.DocumentNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		return c.walk(v.Body, level)
	case *ast.MappingKeyNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		return c.walk(v.Value, level)
	case *ast.MappingValueNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		return c.pairs([]*ast.MappingValueNode{v}, level)
	case *ast.MappingNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		return c.pairs(v.Values, level)
	case *ast.SequenceNode:
		if v == nil {
			return anchorInfo{}, nil
		}
		out := anchorInfo{nodes: 1}
		for _, it := range v.Values {
			a, err := c.walk(it, level+1)
			if err != nil {
				return out, err
			}
			out.nodes += a.nodes
			out.depth = max(out.depth, a.depth+1)
		}
		return out, nil
	}
	return anchorInfo{nodes: 1}, nil
}

func (c *aliasChecker) pairs(pairs []*ast.MappingValueNode, level int) (anchorInfo, error) {
	out := anchorInfo{nodes: 1}
	for _, mv := range pairs {
		if mv == nil {
			continue
		}
		for _, part := range []ast.Node{mv.Key, mv.Value} {
			if part == nil {
				continue
			}
			a, err := c.walk(part, level+1)
			if err != nil {
				return out, err
			}
			out.nodes += a.nodes
			out.depth = max(out.depth, a.depth+1)
		}
	}
	return out, nil
}
