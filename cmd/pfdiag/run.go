package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// env is everything a subcommand may touch outside its arguments. Tests
// build one with buffers; main builds one with the process's stdio.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	now    func() time.Time
}

func newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	return &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv, now: time.Now}
}

// command is one subcommand. run parses its own flags.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is built on each call: no package-level registry.
func commands() map[string]command {
	return map[string]command{
		"parse":   {"turn Postfix logs into JSON lines, or counts with --stats", cmdParse},
		"explain": {"diagnose reason texts or log lines: category, class, actor, fix", cmdExplain},
		"rules":   {"list the active rules, or check a TSV of reason texts against them", cmdRules},
		"queue":   {"summarise postqueue -j: queues, senders, domains, diagnoses, ages; select IDs for postsuper", cmdQueue},
		"check":   {"monitoring plugin (Nagios/Icinga): deferred queue and category thresholds, perfdata", cmdCheck},
		"tail":    {"follow the live log: problems as they start, escalate and clear; Prometheus metrics", cmdTail},
		"ingest":  {"read logs into the index (resumes where it stopped; rotated copies add nothing)", cmdIngest},
		"trace":   {"the story of a message from the index: by queue ID, message-id, recipient or sender", cmdTrace},
		"analyze": {"read logs into the index and write the postmortem report (text, json, markdown, html)", cmdAnalyze},
		"report":  {"the postmortem report from the index alone: diagnoses, domains, delays, tuning suggestions", cmdReport},
	}
}

// exitError carries a specific exit status (Nagios-style checks use 1-3).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// usageError marks bad flags or arguments: exit status 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// run is the whole program: it returns the exit status instead of exiting
// so tests can call it with buffers.
func run(ctx context.Context, args []string, e *env) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(e.stdout, "pfdiag", version)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "pfdiag: unknown command %q (see pfdiag --help)\n", args[0])
		return 2
	}
	err := c.run(ctx, e, args[1:])
	return exitCode(e, args[0], err)
}

func exitCode(e *env, name string, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(e.stderr, "pfdiag %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "pfdiag %s: %v\n", name, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

const version = "0.1.0-dev"

func printUsage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("pfdiag: why Postfix mail is not delivered, and what to change\n\nUsage: pfdiag COMMAND [flags] [args]\n\nCommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'pfdiag COMMAND --help' for a command's flags.\n")
	io.WriteString(w, b.String())
}

// newFlagSet returns a FlagSet that reports errors instead of exiting and
// prints its usage on e.stderr.
func newFlagSet(e *env, name, usage string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: pfdiag %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags wraps pflag errors as usage errors (exit 2, one line).
func parseFlags(fs *pflag.FlagSet, args []string) error {
	full := fs.Usage
	fs.Usage = func() {} // one clear line, not the whole usage, on a bad flag
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			full()
			return err
		}
		return &usageError{err}
	}
	return nil
}
