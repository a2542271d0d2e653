package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTail runs `pfdiag tail` in this process (for -race) until ctx ends.
func runTail(ctx context.Context, args ...string) (stdout, stderr *tailLockedBuffer, code chan int) {
	return runTailAt(ctx, time.Now, args...)
}

// runTailAt is runTail with the wall clock now.
func runTailAt(ctx context.Context, now func() time.Time, args ...string) (stdout, stderr *tailLockedBuffer, code chan int) {
	stdout, stderr = &tailLockedBuffer{}, &tailLockedBuffer{}
	e := newEnv(strings.NewReader(""), stdout, stderr)
	e.now = now
	code = make(chan int, 1)
	go func() { code <- run(ctx, append([]string{"tail"}, args...), e) }()
	return stdout, stderr, code
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// healthLines reads the lines count of /healthz.
func healthLines(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Lines int }
	json.NewDecoder(resp.Body).Decode(&h)
	return h.Lines
}

const gmailDeferral = "2026-11-30T12:%s+00:00 mail postfix/smtp[4242]: 4A1B2C3D%s: to=<u@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.27.26]:25, delay=1.2, delays=0.1/0/0.6/0.5, dsn=4.7.28, status=deferred (host gmail-smtp-in.l.google.com[142.250.27.26] said: 421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. (in reply to end of DATA command))\n"

// The whole tail path in one process, under -race: the follower's
// goroutine, the processing loop, the metrics server, a hostile bounce on
// the terminal, SIGTERM-like cancellation (exit 0, checkpoint).
func TestTailInProcess(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	os.WriteFile(log, []byte("2026-11-30T11:00:00+00:00 mail postfix/qmgr[1]: 1A2B3C4D5E: removed\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The problem window is in log time, anchored to the wall clock when
	// tail catches up: the clock starts at the appended lines' hour, so
	// the test does not depend on the time of day it runs at (with the
	// real clock it failed every day after 12:00 UTC: the lines were then
	// an hour old, outside the window).
	base, start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), time.Now()
	clock := func() time.Time { return base.Add(time.Since(start)) }
	stdout, stderr, code := runTailAt(ctx, clock, "--index", filepath.Join(dir, "index"), "--each", "--listen", "127.0.0.1:0", "--checkpoint-interval", "20ms", log)
	var url string
	waitFor(t, "metrics address", func() bool {
		m := tailMetricsURL.FindStringSubmatch(stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil && strings.Contains(stderr.String(), "caught up")
	})
	var b strings.Builder
	for i := range 12 {
		b.WriteString(fmt.Sprintf(gmailDeferral, fmt.Sprintf("00:%02d", i*5), fmt.Sprintf("%02X", i)))
	}
	b.WriteString("2026-11-30T12:03:05+00:00 mail postfix/smtp[4243]: 4A1B2C3DFE: to=<x@evil.example>, relay=mx.evil.example[192.0.2.66]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.7.1, status=bounced (host mx.evil.example[192.0.2.66] said: 554 5.7.1 \x1b[2J\x1b]0;pwned\x07 \u202eevil\r2026-11-30 12:00:00 problem   fake.example: forged)\n")
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(b.String())
	f.Close()
	waitFor(t, "lines", func() bool { return healthLines(t, url) == 14 })
	waitFor(t, "events", func() bool { return strings.Count(stdout.String(), "\n") >= 2 })
	scrapeTail(t, url)
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d\n%s", c, stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tail does not stop when its context ends")
	}
	out := stdout.String()
	if !strings.Contains(out, "problem   gmail.com: rate_limited, 10 deferrals") {
		t.Errorf("no problem event:\n%s", out)
	}
	if strings.Count(out, "\n") != 2 || strings.ContainsAny(out, "\x1b\x07\u202e\r") || strings.Contains(out, "\nproblem") {
		t.Errorf("hostile bounce not neutralised:\n%q", out)
	}
	if !strings.Contains(out, `\x1b[2J\x1b]0;pwned\x07 \u202eevil\r2026-11-30 12:00:00 problem`) {
		t.Errorf("escaped text missing:\n%s", out)
	}
	// The checkpoint on the way out: a restart resumes after line 14.
	stdout, stderr, code = runTailAt(ctx2(t), clock, "--index", filepath.Join(dir, "index"), log)
	waitFor(t, "resume", func() bool { return strings.Contains(stderr.String(), "(line 14)") })
}

// ctx2 is a context cancelled at the end of the test.
func ctx2(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); time.Sleep(100 * time.Millisecond) })
	return ctx
}

// --journal runs journalctl (here a stand-in) for the unit patterns and
// resumes after the cursor of the last entry it committed.
func TestTailJournal(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	entry := `{"__CURSOR":"s=%s","__REALTIME_TIMESTAMP":"1796040000000000","_HOSTNAME":"mail","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"7","MESSAGE":"4A1B2C3D%s: to=<u@example.org>, relay=mx.example.org[192.0.2.9]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT TO command))"}`
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + argsFile + "\n" +
		"case \"$*\" in\n" +
		"*--follow*) exec sleep 30 ;;\n" +
		"*--after-cursor=s=c2*) printf '%s\\n' '" + strings.ReplaceAll(strings.ReplaceAll(entry, "s=%s", "s=c3"), "D%s", "DC3") + "' ;;\n" +
		"*) printf '%s\\n' '" + strings.ReplaceAll(strings.ReplaceAll(entry, "s=%s", "s=c1"), "D%s", "DC1") + "' '" + strings.ReplaceAll(strings.ReplaceAll(entry, "s=%s", "s=c2"), "D%s", "DC2") + "' ;;\n" +
		"esac\n"
	fake := filepath.Join(dir, "journalctl")
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for round, want := range []string{"C1", "C3"} {
		ctx, cancel := context.WithCancel(context.Background())
		stdout, stderr, code := runTail(ctx, "--journal", "--journalctl", fake, "--unit", "postfix*", "--unit", "postfix@-.service",
			"--each", "--backlog-events", "--index", filepath.Join(dir, "index"))
		waitFor(t, "caught up", func() bool { return strings.Contains(stderr.String(), "caught up with the journal") })
		cancel()
		if c := <-code; c != 0 {
			t.Fatalf("exit %d: %s", c, stderr)
		}
		if !strings.Contains(stdout.String(), "4A1B2C3D"+want+" <u@example.org> bounced 5.1.1 user_unknown") {
			t.Errorf("round %d: %q", round, stdout)
		}
		if round == 1 && strings.Contains(stdout.String(), "DC1 ") {
			t.Errorf("entries read twice: %q", stdout)
		}
	}
	b, _ := os.ReadFile(argsFile)
	calls := strings.Split(strings.TrimSpace(string(b)), "\n")
	// Round 1 catches up after the cursor round 0 committed (the --follow
	// runs may or may not have started before each round was stopped).
	resumed := false
	for _, c := range calls[1:] {
		if !strings.Contains(c, "--follow") && strings.Contains(c, "--after-cursor=s=c2") {
			resumed = true
		}
	}
	if !strings.Contains(calls[0], "--unit=postfix* --unit=postfix@-.service") || strings.Contains(calls[0], "--after-cursor") || !resumed {
		t.Errorf("journalctl calls:\n%s", b)
	}
}
