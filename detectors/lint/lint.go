// Package lint checks Sigma rule files against the Sigma v2 JSON schemas
// (embedded from SigmaHQ/sigma-specification) and against what maildrill's
// engine supports, reporting each problem as file:line:col: message.
package lint

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/maildrill/maildrill/detectors"
	"github.com/maildrill/maildrill/detectors/rulepack"
	"github.com/maildrill/maildrill/detectors/sigma"
)

//go:embed schema/*.json
var schemaFS embed.FS

// Problem is one finding.
type Problem struct {
	File string
	Pos  sigma.Pos
	Msg  string
}

func (p Problem) String() string {
	if p.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Pos.Line, p.Pos.Col, p.Msg)
}

// Schemas are the compiled Sigma JSON schemas.
type Schemas struct {
	Detection, Correlation *jsonschema.Schema
}

// LoadSchemas compiles the embedded schemas.
func LoadSchemas() (*Schemas, error) {
	c := jsonschema.NewCompiler()
	for _, name := range []string{"sigma-detection-rule-schema.json", "sigma-correlation-rules-schema.json"} {
		f, err := schemaFS.Open("schema/" + name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource("mem:///"+name, doc); err != nil {
			return nil, err
		}
	}
	var s Schemas
	var err error
	if s.Detection, err = c.Compile("mem:///sigma-detection-rule-schema.json"); err != nil {
		return nil, err
	}
	if s.Correlation, err = c.Compile("mem:///sigma-correlation-rules-schema.json"); err != nil {
		return nil, err
	}
	return &s, nil
}

// Document validates one YAML document against the schema for its kind.
func (s *Schemas) Document(file string, root *sigma.Node) []Problem {
	sch := s.Detection
	if root.Get("correlation") != nil {
		sch = s.Correlation
	}
	err := sch.Validate(root.Interface())
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out []Problem
	seen := map[string]bool{}
	for _, u := range ve.BasicOutput().Errors {
		if u.Error == nil {
			continue
		}
		msg := u.Error.String()
		if strings.HasPrefix(msg, "doesn't validate with") {
			continue // a summary of the nested errors, which follow
		}
		key := u.InstanceLocation + "\x00" + msg
		if seen[key] {
			continue
		}
		seen[key] = true
		loc := u.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		out = append(out, Problem{File: file, Pos: locate(root, u.InstanceLocation), Msg: fmt.Sprintf("schema: %s: %s", loc, msg)})
	}
	if len(out) == 0 {
		out = append(out, Problem{File: file, Pos: root.Pos, Msg: "schema: " + firstLine(err.Error())})
	}
	return collapseEnums(out)
}

// collapseEnums turns the per-alternative errors of a oneOf of consts into
// one "value must be one of" problem.
func collapseEnums(in []Problem) []Problem {
	var out []Problem
	for i := 0; i < len(in); i++ {
		p := in[i]
		loc, rest, ok := strings.Cut(strings.TrimPrefix(p.Msg, "schema: "), ": ")
		if ok && rest == "'oneOf' failed, none matched" {
			var vals []string
			j := i + 1
			for ; j < len(in); j++ {
				l2, r2, _ := strings.Cut(strings.TrimPrefix(in[j].Msg, "schema: "), ": ")
				if l2 != loc || !strings.HasPrefix(r2, "value must be '") {
					break
				}
				vals = append(vals, strings.TrimPrefix(r2, "value must be "))
			}
			if len(vals) > 0 {
				p.Msg = fmt.Sprintf("schema: %s: value must be one of %s", loc, strings.Join(vals, ", "))
				out = append(out, p)
				i = j - 1
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// locate finds the position of a JSON pointer inside a document.
func locate(n *sigma.Node, ptr string) sigma.Pos {
	pos := n.Pos
	if ptr == "" || ptr == "/" {
		return pos
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n.Kind {
		case sigma.KindMap:
			found := false
			for _, kv := range n.Map {
				if kv.Key == tok {
					pos, n, found = kv.KeyPos, kv.Value, true
					break
				}
			}
			if !found {
				return pos
			}
		case sigma.KindSeq:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(n.Seq) {
				return pos
			}
			n = n.Seq[i]
			pos = n.Pos
		default:
			return pos
		}
	}
	return pos
}

// FS lints every *.yml/*.yaml file under root (root/pack.yml, the pack's
// settings, is checked as such, not as a rule): YAML syntax, the Sigma JSON
// schemas, rule structure, and compilation by the engine configured by cfg
// (unsupported modifiers, bad regular expressions, unknown correlation
// references, unmapped logsources). It returns the problems sorted by file
// and position, and the number of files read.
func FS(fsys fs.FS, root string, cfg detectors.Config) ([]Problem, int, error) {
	schemas, err := LoadSchemas()
	if err != nil {
		return nil, 0, err
	}
	var files []string
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if ext := strings.ToLower(path.Ext(p)); ext == ".yml" || ext == ".yaml" {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(files)
	var probs []Problem
	var rules []*sigma.Rule
	for _, f := range files {
		data, err := detectors.Loader{YAML: cfg.YAML}.ReadFS(fsys, f)
		if errors.As(err, new(*sigma.Error)) { // too large: a problem of this file
			probs = append(probs, fromErr(f, err))
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if path.Clean(f) == path.Join(root, detectors.PackFile) { // the pack's settings, not a rule
			if _, err := rulepack.ParseSettings(data, cfg.YAML); err != nil {
				probs = append(probs, Problem{File: f, Msg: "pack settings: " + err.Error()})
			}
			continue
		}
		docs, err := sigma.ParseYAMLLimits(f, data, cfg.YAML)
		if err != nil {
			probs = append(probs, fromErr(f, err))
			continue
		}
		for _, d := range docs {
			probs = append(probs, schemas.Document(f, d.Root)...)
			r, err := sigma.ParseDocument(f, d.Root)
			if err != nil {
				probs = append(probs, fromErr(f, err))
				continue
			}
			rules = append(rules, r)
		}
	}
	cfg.Lenient = true
	eng, err := detectors.NewEngine(rules, cfg)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range eng.Refused() {
		probs = append(probs, fromErr("", e))
	}
	for _, r := range eng.Inactive() {
		probs = append(probs, Problem{File: r.File, Pos: r.Pos, Msg: fmt.Sprintf("logsource %s is not mapped to events: the rule never runs (map it in the engine configuration, or lint with --any-logsource)", describeLogsource(r.Logsource))})
	}
	sort.SliceStable(probs, func(i, j int) bool {
		a, b := probs[i], probs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		return a.Pos.Col < b.Pos.Col
	})
	return probs, len(files), nil
}

func fromErr(file string, err error) Problem {
	var se *sigma.Error
	if errors.As(err, &se) {
		msg := se.Msg
		if se.Err != nil {
			msg += ": " + se.Err.Error()
		}
		return Problem{File: se.File, Pos: se.Pos, Msg: msg}
	}
	return Problem{File: file, Msg: err.Error()}
}

func describeLogsource(l sigma.Logsource) string {
	var parts []string
	for _, kv := range [][2]string{{"product", l.Product}, {"category", l.Category}, {"service", l.Service}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Write writes each problem (its file under dir, when given), how the time
// modifiers read times (tm) and a summary line naming the pack by label.
func Write(w io.Writer, probs []Problem, files int, dir, label, tm string) {
	prefix := ""
	if dir != "" {
		prefix = strings.TrimSuffix(dir, "/") + "/"
	}
	for _, p := range probs {
		fmt.Fprintf(w, "%s%s\n", prefix, p)
	}
	fmt.Fprintf(w, "time modifiers: %s\n", tm)
	fmt.Fprintf(w, "%s: %d files, %d problems\n", label, files, len(probs))
}
