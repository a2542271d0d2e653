package main

import (
	"fmt"
	"time"

	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
)

// logInput is one input of a log-reading command, opened and ready.
type logInput struct {
	*input.File
	opts parser.Options
}

// openInputs expands globs, orders rotated sets oldest first and opens
// every input up front, so that a missing or unreadable file is reported
// (one line, exit 1) before any work is done. No arguments means stdin.
// year is --year (0: infer from each file's modification time).
func openInputs(e *env, args []string, year int) ([]*logInput, error) {
	if len(args) == 0 {
		args = []string{"-"}
	}
	names, err := input.Expand(args)
	if err != nil {
		return nil, err
	}
	names = input.Order(names)
	var out []*logInput
	for _, n := range names {
		f, err := input.Open(n, e.stdin)
		if err != nil {
			closeInputs(out)
			return nil, err
		}
		ref := f.ModTime
		if ref.IsZero() {
			ref = e.now()
		}
		out = append(out, &logInput{File: f, opts: parser.Options{Year: year, Ref: ref, Loc: time.Local}})
	}
	return out, nil
}

func closeInputs(in []*logInput) {
	for _, f := range in {
		f.Close()
	}
}

// readError describes an input that could not be read to its end (a gzip
// file cut in the middle, an I/O error): the lines before it were used.
func readError(name string, line int64, err error) error {
	return fmt.Errorf("%s: read error after line %d: %w", name, line, err)
}
