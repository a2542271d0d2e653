package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runCmd runs pfdiag with args and stdin, at a fixed time.
func runCmd(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := newEnv(strings.NewReader(stdin), &out, &errb)
	e.now = func() time.Time { return time.Unix(1796024700, 0) }
	code = run(context.Background(), args, e)
	return code, out.String(), errb.String()
}

// realQueue returns the path of a real postqueue -j listing.
func realQueue(t *testing.T, name string) string {
	t.Helper()
	for _, d := range []string{filepath.Join("..", "..", "testdata", "corpus", name), filepath.Join("/work/shared/corpus", name)} {
		p := filepath.Join(d, "postqueue.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skipf("corpus %s not present", name)
	return ""
}

const hostileQueue = "../../reports/queue/testdata/hostile.jsonl"

func TestQueueJSONInterface(t *testing.T) {
	code, out, errs := runCmd(t, "", "queue", "--format", "json", realQueue(t, "real-postfix"))
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var doc struct {
		SchemaVersion int `json:"schema_version"`
		Queues        map[string]struct {
			Messages *int   `json:"messages"`
			Bytes    *int64 `json:"bytes"`
		} `json:"queues"`
		Categories map[string]int `json:"categories"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SchemaVersion != 1 {
		t.Errorf("schema_version = %d", doc.SchemaVersion)
	}
	for _, q := range []string{"active", "deferred", "hold", "incoming", "maildrop"} {
		c, ok := doc.Queues[q]
		if !ok || c.Messages == nil || c.Bytes == nil {
			t.Errorf("queues.%s missing or without messages/bytes: %s", q, out[:200])
		}
	}
	if *doc.Queues["deferred"].Messages != 12 || *doc.Queues["hold"].Messages != 2 {
		t.Errorf("deferred %d hold %d, want 12 and 2", *doc.Queues["deferred"].Messages, *doc.Queues["hold"].Messages)
	}
	if doc.Categories["greylisted"] != 3 || doc.Categories["connection_refused"] != 2 {
		t.Errorf("categories = %v", doc.Categories)
	}
}

func TestQueueIDs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{"recipient domain", []string{"--recipient-domain", "victim.example"},
			"9DAF6C2176\n0ED90C2221\n4jdG4m2MZbz5yXn\nCCCCCC2\n", 0, "4 of them selected and not printed"},
		{"queue and category", []string{"--queue", "deferred", "--category", "connection_refused"},
			"", 0, "3 of them selected"}, // all three refused messages have invalid IDs
		{"null sender", []string{"--sender", "<>"}, "4jdG4m2MZbz5yXn\n", 0, ""},
		{"sender domain subdomains", []string{"--sender-domain", ".example"}, "", 0, ""},
		{"reason contains, case-insensitive", []string{"--reason-contains", "GREYLISTED"}, "0ED90C2221\n", 0, ""},
		{"older than a day", []string{"--older-than", "1d", "--now", "1796030000"}, "9DAF6C2176\n", 0, ""},
		{"all", []string{"--all"}, "9DAF6C2176\n0ED90C2221\n4jdG4m2MZbz5yXn\nABCDEF12\nBBBBBB1\nCCCCCC2\n", 0, ""},
		{"no selection", nil, "", 2, "--ids needs a selection"},
		{"unknown category", []string{"--category", "greylist"}, "", 2, `--category "greylist" is not a delivery category`},
		{"unknown queue", []string{"--queue", "corrupt"}, "", 2, `unknown queue "corrupt"`},
		{"with format", []string{"--all", "--format", "json"}, "", 2, "cannot be combined with --format"},
		{"control character in a value", []string{"--reason-contains", "a\nb"}, "", 2, "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"queue", "--ids"}, tt.args...), hostileQueue)
			code, out, errs := runCmd(t, "", args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, errs)
			}
			if tt.name == "sender domain subdomains" {
				tt.wantOut = "9DAF6C2176\n0ED90C2221\nABCDEF12\nBBBBBB1\nCCCCCC2\n"
			}
			if out != tt.wantOut {
				t.Errorf("stdout %q, want %q", out, tt.wantOut)
			}
			if !strings.Contains(errs, tt.wantErr) {
				t.Errorf("stderr %q lacks %q", errs, tt.wantErr)
			}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				for _, c := range line {
					if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
						t.Fatalf("--ids printed %q", line)
					}
				}
			}
		})
	}
}

func TestQueueHostileReport(t *testing.T) {
	code, _, errs := runCmd(t, "", "queue", "--all", hostileQueue)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		hostileQueue + ": 3 malformed lines skipped",
		hostileQueue + ":6: not a JSON object",
		hostileQueue + ":8: invalid JSON: unexpected end of object",
		hostileQueue + ":12: invalid JSON: string cannot contain control char 0x1B",
		"4 messages with an invalid queue ID",
		"(lines 2, 3, 4, 10)",
		`1 message in queue "corrupt"`,
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	for _, format := range []string{"text", "markdown"} {
		_, out, errs := runCmd(t, "", "queue", "--format", format, "--recipient-domain", "victim.example", hostileQueue)
		for _, s := range []string{out, errs} {
			for i, r := range s {
				if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r >= 0x202a && r <= 0x202e) {
					t.Fatalf("%s output holds %U at %d", format, r, i)
				}
			}
		}
		if !strings.Contains(out, `x1b`) || !strings.Contains(out, "RED") {
			t.Errorf("%s output does not show the escaped ESC", format)
		}
	}
}

func TestPostsuperCommands(t *testing.T) {
	dir := t.TempDir()
	snap := filepath.Join(dir, "it's a snapshot.json")
	b, err := os.ReadFile(realQueue(t, "real-postfix"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, _ := runCmd(t, "", "queue", "--queue", "deferred", "--reason-contains", "Connection refused", "--sender", "<>", "-c", "/etc/postfix-out", "--sender", "mailtest@mail.test.local", snap)
	for _, want := range []string{
		"pfdiag queue --queue deferred --sender '<>' --sender mailtest@mail.test.local --reason-contains 'Connection refused' --ids '" + dir + "/it'\\''s a snapshot.json' | postsuper -c /etc/postfix-out -d - deferred",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Nothing selected: nothing to act on, no command.
	_, out, _ = runCmd(t, "", "queue", "--sender", "<>", snap)
	if !strings.Contains(out, "Selected 0 messages of 14") || strings.Contains(out, "To act on") {
		t.Errorf("empty selection:\n%s", out)
	}
	_, out, _ = runCmd(t, "", "queue", "--queue", "deferred", "--category", "connection_refused", snap)
	for _, want := range []string{
		"delete:  pfdiag queue --queue deferred --category connection_refused --ids " + shellQuote(snap) + " | postsuper -d - deferred",
		"release: pfdiag queue --queue deferred --category connection_refused --ids " + shellQuote(snap) + " | postsuper -H - deferred",
		"Selected 2 messages of 14",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A file name that looks like an option stays a file name.
	t.Chdir(dir)
	if err := os.WriteFile("-d ALL.json", b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, _ = runCmd(t, "", "queue", "--queue", "hold", "--", "-d ALL.json")
	if want := "pfdiag queue --queue hold --ids './-d ALL.json' | postsuper -d - hold"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	_, out, _ = runCmd(t, string(b), "queue", "--older-than", "5m", "-")
	if want := "postqueue -j | pfdiag queue --older-than 5m --ids - | postsuper -d -"; !strings.Contains(out, want) {
		t.Errorf("stdin: output lacks %q:\n%s", want, out)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"example.com", "example.com"},
		{"", "''"},
		{"<>", "'<>'"},
		{"a b", "'a b'"},
		{"$(reboot)", "'$(reboot)'"},
		{"it's", `'it'\''s'`},
		{"`id`;|&", "'`id`;|&'"},
		{"-d", "-d"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"3d", 72 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"0", 0, true},
		{"-1h", 0, false},
		{"d", 0, false},
		{"3 days", 0, false},
		{"99999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseAge(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// fakePostqueue writes an executable that records its arguments and plays
// a listing (or fails like postqueue does when the mail system is down).
func fakePostqueue(t *testing.T, listing string, fail bool) (path, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	data := filepath.Join(dir, "listing.json")
	if err := os.WriteFile(data, []byte(listing), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" + argsFile + "'\n"
	if fail {
		script += "echo 'postqueue: fatal: Queue report unavailable - mail system is down' >&2\nexit 69\n"
	} else {
		script += "echo 'postqueue: warning: \x1b[31mcolour\x1b[0m' >&2\ncat '" + data + "'\n"
	}
	path = filepath.Join(dir, "postqueue")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, argsFile
}

func TestQueueRunsPostqueue(t *testing.T) {
	b, err := os.ReadFile(realQueue(t, "real-postfix"))
	if err != nil {
		t.Fatal(err)
	}
	pq, argsFile := fakePostqueue(t, string(b), false)
	dir := t.TempDir()
	evil := "/etc/postfix-$(touch " + dir + "/pwned);`touch " + dir + "/pwned2`"
	code, out, errs := runCmd(t, "", "queue", "--postqueue", pq, "-c", evil, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	args, _ := os.ReadFile(argsFile)
	if got, want := string(args), "-c\n"+evil+"\n-j\n"; got != want {
		t.Errorf("postqueue got arguments %q, want %q", got, want)
	}
	for _, f := range []string{"pwned", "pwned2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("a shell ran the configuration directory: %s exists", f)
		}
	}
	if !strings.Contains(out, `"messages": 12`) {
		t.Errorf("listing from postqueue not summarised:\n%.300s", out)
	}
	if !strings.Contains(errs, `said: postqueue: warning: \x1b[31mcolour\x1b[0m`) || strings.Contains(errs, "\x1b") {
		t.Errorf("postqueue's warning not passed on escaped: %q", errs)
	}
	// The suggested commands repeat -c, quoted for the shell.
	_, out, _ = runCmd(t, "", "queue", "--postqueue", pq, "-c", "/etc/postfix out", "--queue", "hold")
	if want := "pfdiag queue --postqueue " + pq + " -c '/etc/postfix out' --queue hold --ids | postsuper -c '/etc/postfix out' -d - hold"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}

	pq, _ = fakePostqueue(t, "", true)
	code, _, errs = runCmd(t, "", "queue", "--postqueue", pq)
	if code != 1 || !strings.Contains(errs, "exit status 69: postqueue: fatal: Queue report unavailable - mail system is down") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCmd(t, "", "queue", "--postqueue", filepath.Join(dir, "nonexistent"))
	if code != 1 || !strings.Contains(errs, "--postqueue") {
		t.Errorf("missing postqueue: exit %d, stderr %q", code, errs)
	}
}
