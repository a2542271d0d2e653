package main

// Helpers shared by the end-to-end (e2e_test.go) and reliability
// (reliability_test.go) tests: both run the real pfdiag binary, built by
// `go build`, never the in-process run().

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eCI reports whether the test runs in CI, where every prerequisite of
// the real-Postfix suite exists: a missing one is a failure, not a skip.
func e2eCI() bool { return os.Getenv("CI") == "true" }

// e2eBuild builds ./cmd/pfdiag into a temporary directory of t and returns
// the binary's path.
func e2eBuild(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("building pfdiag: no go command in PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "pfdiag")
	cmd := exec.Command(goCmd, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s ./cmd/pfdiag: %v\n%s", bin, err, out)
	}
	return bin
}

// e2eCommands returns the subcommands the binary lists in --help.
func e2eCommands(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, err := exec.Command(bin, "--help").Output()
	if err != nil {
		t.Fatalf("%s --help: %v", bin, err)
	}
	cmds := map[string]bool{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Commands:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			if f := strings.Fields(line); len(f) > 0 {
				cmds[f[0]] = true
			}
		case in && strings.TrimSpace(line) == "":
			in = false
		}
	}
	return cmds
}

// e2eNeed fails t when the binary lacks a subcommand the assertions use:
// every command is built, so a missing one is a regression, never a skip.
func e2eNeed(t *testing.T, cmds map[string]bool, names ...string) {
	t.Helper()
	for _, name := range names {
		if !cmds[name] {
			t.Fatalf("pfdiag %s is missing from the binary", name)
		}
	}
}

// e2eResult is one run of the binary.
type e2eResult struct {
	stdout, stderr []byte
	code           int    // exit status; -1 when killed by a signal
	signal         string // the signal that killed it, if any
}

// crashed reports a Go runtime crash (a panic or a fatal runtime error,
// which print "panic: " or "fatal error: " at the start of a line) or a
// death by signal: never acceptable, whatever the input.
func (r *e2eResult) crashed() bool {
	return r.signal != "" || e2eCrashText.Match(r.stderr)
}

var e2eCrashText = regexp.MustCompile(`(?m)^(panic: |fatal error: )`)

// e2eExec runs bin with args and stdin, with a timeout; it fails t only
// when the process cannot be started or times out.
func e2eExec(t *testing.T, timeout time.Duration, stdin []byte, bin string, args ...string) *e2eResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	r := &e2eResult{stdout: out.Bytes(), stderr: errb.Bytes()}
	if ctx.Err() != nil {
		t.Fatalf("pfdiag %s: still running after %v", strings.Join(args, " "), timeout)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.signal = ws.Signal().String()
		}
	default:
		t.Fatalf("pfdiag %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// e2eFirstLines shortens command output for failure messages.
func e2eFirstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	if len(lines) > n {
		lines[n] = "…"
	}
	return strings.Join(lines, "\n")
}
