package detectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/maildrill/maildrill/detectors/sigma"
	"github.com/maildrill/maildrill/internal/jsonl"
)

// SampleResult is the outcome of one rule file's sample.
type SampleResult struct {
	RuleFile string   // e.g. imap_password_spray.yml
	Sample   string   // e.g. tests/imap_password_spray.tp.jsonl
	Positive bool     // true positive sample (the rule must fire)
	Rules    []string // the alerting rules of the file
	Fired    []string // the rules of the file that fired
	OK       bool
	Msg      string
}

// SampleLayout: the samples of rules/<name>.yml are rules/tests/<name>.tp.jsonl
// (events that must make each alerting rule of the file fire) and
// rules/tests/<name>.tn.jsonl (events that must not make any fire).
func samplePaths(ruleFile string) (tp, tn string) {
	dir, base := path.Split(ruleFile)
	name := strings.TrimSuffix(strings.TrimSuffix(base, ".yml"), ".yaml")
	return path.Join(dir, "tests", name+".tp.jsonl"), path.Join(dir, "tests", name+".tn.jsonl")
}

// RunSamples runs the true-positive and true-negative samples of every rule
// file under root in fsys. Each sample is replayed on a fresh engine holding
// every rule of fsys; only the alerts of the sample's own rule file count.
// A rule file without both samples fails.
func RunSamples(fsys fs.FS, root string, cfg Config) ([]SampleResult, error) {
	rules, errs := LoadFS(fsys, root)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	probe, err := NewEngine(rules, cfg)
	if err != nil {
		return nil, err
	}
	byFile := map[string][]string{}
	for _, rn := range probe.nodes {
		if rn.alerting && (rn.m != nil || rn.cdef != nil) {
			byFile[rn.rule.File] = append(byFile[rn.rule.File], rn.id)
		}
	}
	files := make([]string, 0, len(byFile))
	for f := range byFile {
		files = append(files, f)
	}
	sort.Strings(files)
	var out []SampleResult
	for _, f := range files {
		tp, tn := samplePaths(f)
		for _, s := range []struct {
			p   string
			pos bool
		}{{tp, true}, {tn, false}} {
			res := SampleResult{RuleFile: f, Sample: s.p, Positive: s.pos, Rules: byFile[f]}
			data, err := fs.ReadFile(fsys, s.p)
			if err != nil {
				res.Msg = fmt.Sprintf("missing sample %s: every rule needs a .tp.jsonl and a .tn.jsonl", s.p)
				out = append(out, res)
				continue
			}
			eng, err := NewEngine(rules, cfg)
			if err != nil {
				return nil, err
			}
			alerts, err := Replay(eng, bytes.NewReader(data), JSONOptions{TimestampField: cfg.TimestampField}, s.p)
			if err != nil {
				res.Msg = err.Error()
				out = append(out, res)
				continue
			}
			fired := map[string]bool{}
			for _, a := range alerts {
				fired[a.RuleID] = true
			}
			for _, id := range res.Rules {
				if fired[id] {
					res.Fired = append(res.Fired, id)
				}
			}
			if s.pos {
				res.OK = len(res.Fired) == len(res.Rules)
				if !res.OK {
					res.Msg = fmt.Sprintf("true positive sample did not fire: fired %v of %v", res.Fired, res.Rules)
				}
			} else {
				res.OK = len(res.Fired) == 0
				if !res.OK {
					res.Msg = fmt.Sprintf("true negative sample fired %v", res.Fired)
				}
			}
			out = append(out, res)
		}
	}
	orphans, err := orphanSamples(fsys, root, rules)
	if err != nil {
		return nil, err
	}
	return append(out, orphans...), nil
}

// orphanSamples are failures for the sample files under root that no
// rule file has (tests/my_rul.tp.jsonl beside my_rule.yml): a misspelt or
// renamed sample was skipped without a word, its rule then tested by
// nothing or by a stale copy.
func orphanSamples(fsys fs.FS, root string, rules []*sigma.Rule) ([]SampleResult, error) {
	known := map[string]bool{}
	for _, r := range rules {
		tp, tn := samplePaths(r.File)
		known[tp], known[tn] = true, true
	}
	var out []SampleResult
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Base(path.Dir(p)) != "tests" {
			return nil
		}
		name := d.Name()
		pos := strings.HasSuffix(name, ".tp.jsonl")
		if !pos && !strings.HasSuffix(name, ".tn.jsonl") {
			return nil
		}
		rel := p
		if root != "." && root != "" {
			rel = strings.TrimPrefix(p, strings.TrimSuffix(root, "/")+"/")
		}
		if known[rel] || known[p] {
			return nil
		}
		rule := strings.TrimSuffix(strings.TrimSuffix(name, ".tp.jsonl"), ".tn.jsonl") + ".yml"
		out = append(out, SampleResult{RuleFile: path.Join(path.Dir(path.Dir(rel)), rule), Sample: rel, Positive: pos,
			Msg: fmt.Sprintf("sample %s has no rule file %s beside tests/: renamed or misspelt?", rel, path.Join(path.Dir(path.Dir(rel)), rule))})
		return nil
	})
	return out, err
}

// Replay feeds JSON lines to the engine, then flushes it, and returns every
// alert (see Evaluate). name labels errors (file:line).
func Replay(eng *Engine, r io.Reader, o JSONOptions, name string) ([]Alert, error) {
	var alerts []Alert
	_, err := Evaluate(context.Background(), eng, r, o, name, func(as []Alert) error {
		alerts = append(alerts, as...)
		return nil
	})
	return alerts, err
}

// Evaluate feeds JSON lines (one event each) to the engine in order and
// hands each event's alerts to emit as they come; at the end of the
// stream it flushes the engine into emit. Blank lines and lines starting
// with # or // are skipped. A bad line is reported as name:line, and so is
// a read error (a damaged gzip stream). When ctx ends (looked at every
// 1024 lines) it stops without flushing, returning ctx's error: the rest
// of the stream is not evaluated. It returns the number of lines read.
func Evaluate(ctx context.Context, eng *Engine, r io.Reader, o JSONOptions, name string, emit func([]Alert) error) (int, error) {
	lr := jsonl.NewReader(r, name)
	for {
		b, ok := lr.Next()
		if !ok {
			break
		}
		if lr.Line()%1024 == 0 && ctx.Err() != nil {
			break
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 || b[0] == '#' || bytes.HasPrefix(b, []byte("//")) {
			continue
		}
		ev, err := ParseJSONEvent(b, o)
		if err != nil {
			return lr.Line(), lr.LineError(err)
		}
		if err := emit(eng.Process(ev)); err != nil {
			return lr.Line(), err
		}
	}
	if err := ctx.Err(); err != nil {
		return lr.Line(), err
	}
	if err := lr.Err(); err != nil {
		return lr.Line(), err
	}
	return lr.Line(), emit(eng.Flush())
}

// RuleInfo describes one alerting rule, for catalogues.
type RuleInfo struct {
	File   string
	ID     string
	Title  string
	Type   string // detection or the correlation type
	Level  string
	Attack []string
	// Description and Correlation (nil for a detection) describe the rule
	// further, for generated documentation.
	Description string             `json:"-"`
	Correlation *sigma.Correlation `json:"-"`
}

// Catalogue lists the alerting rules of the given rules (those not only used
// by a correlation), in file order.
func Catalogue(rules []*sigma.Rule, cfg Config) ([]RuleInfo, error) {
	eng, err := NewEngine(rules, cfg)
	if err != nil {
		return nil, err
	}
	var out []RuleInfo
	for _, rn := range eng.nodes {
		if !rn.alerting || (rn.m == nil && rn.cdef == nil) {
			continue
		}
		ri := RuleInfo{File: rn.rule.File, ID: rn.id, Title: rn.rule.Title, Type: "detection", Level: rn.rule.Level, Description: rn.rule.Description}
		if rn.cdef != nil {
			ri.Type, ri.Correlation = rn.cdef.Type, rn.cdef
		}
		for _, t := range rn.rule.Tags {
			if strings.HasPrefix(t, "attack.t") {
				ri.Attack = append(ri.Attack, strings.ToUpper(strings.TrimPrefix(t, "attack.")))
			}
		}
		out = append(out, ri)
	}
	return out, nil
}
