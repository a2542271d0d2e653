package follow

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestStream(t *testing.T) {
	tests := []struct {
		name  string
		in    io.Reader
		want  []string
		bytes int64
	}{
		{"lines", strings.NewReader("a\nb\nc\n"), []string{"a", "b", "c"}, 6},
		{"no final newline", strings.NewReader("a\nb"), []string{"a", "b"}, 3},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader("first\nsecond\n")), []string{"first", "second"}, 13},
		{"empty", strings.NewReader(""), nil, 0},
		{"empty lines", strings.NewReader("\n\nx\n"), []string{"", "", "x"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReader(t, NewStream(tt.in, "-"), MinBuffer)
			r.drain(wait)
			if !errors.Is(r.err, io.EOF) {
				t.Errorf("ended with %v, want io.EOF", r.err)
			}
			diffLines(t, r.lines, tt.want)
			if len(r.ends) > 0 && r.ends[len(r.ends)-1] != tt.bytes {
				t.Errorf("last end %d, want %d", r.ends[len(r.ends)-1], tt.bytes)
			}
		})
	}
}

func TestStreamError(t *testing.T) {
	r := newReader(t, NewStream(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(errors.New("disk on fire"))), "-"), MinBuffer)
	for r.step(wait) {
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "disk on fire") {
		t.Errorf("got %v", r.err)
	}
	diffLines(t, r.lines, []string{"a"})
}

// A quiet pipe must not keep Next from returning when ctx is done.
func TestStreamCancel(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	s := NewStream(pr, "-")
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Next(ctx, make([]byte, MinBuffer)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v", err)
	}
}

func TestJournalCursor(t *testing.T) {
	tests := []struct{ line, want string }{
		{`{"__CURSOR":"s=ab;i=1;b=cd","MESSAGE":"x"}`, "s=ab;i=1;b=cd"},
		{`{ "__CURSOR" : "s=1" }`, "s=1"},
		{`{"MESSAGE":"x"}`, ""},
		{`{"__CURSOR":5}`, ""},
		{`{"__CURSOR":"s=\u0031"}`, ""},
		{`{"__CURSOR":"`, ""},
	}
	for _, tt := range tests {
		if got := JournalCursor([]byte(tt.line)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.line, got, tt.want)
		}
	}
}

// fakeJournalctl writes a journalctl stand-in: it records its arguments,
// prints two entries (after a cursor: one), and with --follow one more
// before blocking like the real one.
func fakeJournalctl(t *testing.T, exitCode int) (cmd, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	script := `#!/bin/sh
printf '%s\n' "$*" >> '` + argsFile + `'
if [ ` + itoa(exitCode) + ` -ne 0 ]; then echo "Failed to add match 'x': Invalid argument" >&2; exit ` + itoa(exitCode) + `; fi
entry() { printf '{"__CURSOR":"%s","__REALTIME_TIMESTAMP":"1796024035123456","_HOSTNAME":"mail","SYSLOG_IDENTIFIER":"postfix/qmgr","_PID":"7","MESSAGE":"%s"}\n' "$1" "$2"; }
case "$*" in
*--follow*) entry c3 "third"; exec sleep 30 ;;
*--after-cursor=c1*) entry c2 "second" ;;
*) entry c1 "first"; entry c2 "second" ;;
esac
`
	cmd = filepath.Join(dir, "journalctl")
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, argsFile
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestJournal(t *testing.T) {
	cmd, argsFile := fakeJournalctl(t, 0)
	j := NewJournal(JournalOptions{Command: cmd, Units: []string{"postfix*", "postfix@-.service"}, Known: Position{Offset: 1000, Lines: 10}})
	r := newReader(t, j, 1<<16)
	r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
	if len(r.lines) != 2 {
		t.Fatalf("got %d lines before catching up", len(r.lines))
	}
	r.lineCount(3, wait)
	if got := JournalCursor([]byte(r.lines[2])); got != "c3" {
		t.Errorf("cursor %q", got)
	}
	if r.nums[2] != 13 || r.fps[0] != "journal:postfix*,postfix@-.service" {
		t.Errorf("line %d, fingerprint %q", r.nums[2], r.fps[0])
	}
	b, _ := os.ReadFile(argsFile)
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(calls) != 2 {
		t.Fatalf("journalctl ran %d times: %q", len(calls), calls)
	}
	for _, want := range []string{"--output=json", "--unit=postfix*", "--unit=postfix@-.service"} {
		if !strings.Contains(calls[0], want) || !strings.Contains(calls[1], want) {
			t.Errorf("%s missing in %q", want, calls)
		}
	}
	if strings.Contains(calls[0], "--follow") || strings.Contains(calls[0], "--after-cursor") {
		t.Errorf("first call %q", calls[0])
	}
	if !strings.Contains(calls[1], "--follow") || !strings.Contains(calls[1], "--after-cursor=c2") {
		t.Errorf("second call %q", calls[1])
	}
}

func TestJournalAfterCursor(t *testing.T) {
	cmd, argsFile := fakeJournalctl(t, 0)
	r := newReader(t, NewJournal(JournalOptions{Command: cmd, Units: []string{"postfix*"}, After: "c1"}), 1<<16)
	r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
	diffLines(t, r.lines[:1], []string{`{"__CURSOR":"c2","__REALTIME_TIMESTAMP":"1796024035123456","_HOSTNAME":"mail","SYSLOG_IDENTIFIER":"postfix/qmgr","_PID":"7","MESSAGE":"second"}`})
	b, _ := os.ReadFile(argsFile)
	if !strings.Contains(string(b), "--after-cursor=c1") {
		t.Errorf("args %q", b)
	}
}

func TestJournalFails(t *testing.T) {
	cmd, _ := fakeJournalctl(t, 1)
	j := NewJournal(JournalOptions{Command: cmd, Units: []string{"x"}})
	defer j.Close()
	_, err := j.Next(context.Background(), make([]byte, MinBuffer))
	if err == nil || !strings.Contains(err.Error(), "Invalid argument") {
		t.Errorf("got %v", err)
	}
	j2 := NewJournal(JournalOptions{Command: filepath.Join(t.TempDir(), "none")})
	if _, err := j2.Next(context.Background(), make([]byte, MinBuffer)); err == nil {
		t.Error("missing journalctl: no error")
	}
}
