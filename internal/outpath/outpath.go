// Package outpath refuses a command line that would write a file over one
// it reads, or two outputs into one file: `maildrill ingest --file
// mail.log --events mail.log` truncated the log it was told to follow, and
// `replay --json` naming the recording overwrote the recording.
package outpath

import (
	"fmt"
	"os"
	"path/filepath"
)

// A File is a path a command reads or writes, and the flag (or argument)
// that named it, for the message.
type File struct {
	Flag, Path string
}

// Check returns an error naming both flags when an output is the same
// file as an input or as another output, or when two outputs are "-"
// (standard output). Empty paths, and "-" among the inputs (standard
// input), are left out. Existing files are compared by identity
// (a link or another spelling of the path is the same file), others by
// their absolute, cleaned path.
func Check(inputs, outputs []File) error {
	type seen struct {
		File
		abs  string
		info os.FileInfo
	}
	resolve := func(f File) (seen, bool) {
		if f.Path == "" || f.Path == "-" {
			return seen{}, false
		}
		abs, err := filepath.Abs(f.Path)
		if err != nil {
			abs = filepath.Clean(f.Path)
		}
		info, _ := os.Stat(f.Path)
		return seen{File: f, abs: abs, info: info}, true
	}
	same := func(a, b seen) bool {
		if a.info != nil && b.info != nil {
			return os.SameFile(a.info, b.info)
		}
		return a.abs == b.abs
	}
	var ins, outs []seen
	for _, f := range inputs {
		if s, ok := resolve(f); ok {
			ins = append(ins, s)
		}
	}
	stdout := ""
	for _, f := range outputs {
		if f.Path == "-" {
			if stdout != "" {
				return fmt.Errorf("%s - and %s - both write to standard output, where neither could be read back: give one of them a file", stdout, f.Flag)
			}
			stdout = f.Flag
			continue
		}
		s, ok := resolve(f)
		if !ok {
			continue
		}
		if s.info != nil && s.info.IsDir() {
			continue // the command says what it thinks of a directory
		}
		for _, in := range ins {
			if same(in, s) {
				return fmt.Errorf("%s %s would overwrite %s %s, which this command reads", s.Flag, s.Path, in.Flag, in.Path)
			}
		}
		for _, o := range outs {
			if same(o, s) {
				return fmt.Errorf("%s and %s name the same file (%s): each needs its own", o.Flag, s.Flag, s.Path)
			}
		}
		outs = append(outs, s)
	}
	return nil
}
