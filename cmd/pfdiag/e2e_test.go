package main

// TestRealPostfix proves pfdiag against a real Postfix (issue 8): the
// harness in testdata/e2e runs Debian's Postfix on loopback in its own
// network namespace, breaks its deliveries in the ways
// testdata/e2e/scenarios.tsv lists and writes what Postfix logged. This test
// runs it once, checks its self-check, then asks the real pfdiag binary about
// every scenario and prints a table of what pfdiag gave.
//
// It needs root, network/mount namespaces (unshare), and postfix +
// python3 or apt-get to install them. Elsewhere it skips with one line; with
// CI=true a missing prerequisite fails. -short skips it outside CI (a run
// takes about a minute).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"
)

const (
	// e2eLiveLog is where the harness's Postfix writes (maillog_file); a
	// command started during the scenarios (pfdiag tail) follows it.
	e2eLiveLog = "/var/log/pfdiag-e2e/mail.log"
	// e2eMetricsAddr is where pfdiag tail listens, inside the harness's
	// network namespace (the harness fetches the metrics itself).
	e2eMetricsAddr = "127.0.0.1:9154"
)

// e2eRow is one scenario: what the harness expected and saw in the log, and
// what pfdiag said about it.
type e2eRow struct {
	Scenario, Recipient, WantStatus, WantCategory string
	LogStatus, LogResult, Evidence                string // from observed.tsv

	Parse   string // final status as derived from `pfdiag parse` events
	line    int    // 1-based line of that final event in mail.log (0: none)
	Explain string // category `pfdiag explain` gives that line
	Class   string // its class (temporary/permanent)
	Trace   string // status/category from `pfdiag trace --json`
}

// e2eRun is one harness run.
type e2eRun struct {
	dir     string
	rows    []*e2eRow
	log     []string // mail.log, log[0] is line 1
	output  []byte   // the harness's stdout+stderr
	exitErr error
	tail    bool // pfdiag tail ran during the scenarios
}

func (r *e2eRun) path(name string) string { return filepath.Join(r.dir, name) }

func TestRealPostfix(t *testing.T) {
	if testing.Short() && !e2eCI() {
		t.Skip("real-Postfix suite skipped: -short (a run takes about a minute)")
	}
	if missing := e2eMissing(); missing != "" {
		if e2eCI() {
			t.Fatalf("CI=true, but the real-Postfix suite cannot run: %s", missing)
		}
		t.Skip("real-Postfix suite skipped: " + missing)
	}
	bin := e2eBuild(t)
	cmds := e2eCommands(t, bin)
	run := e2eRunHarness(t, bin, cmds)

	t.Run("selfcheck", func(t *testing.T) { e2eCheckSelf(t, run) })
	t.Run("parse", func(t *testing.T) {
		e2eNeed(t, cmds, "parse")
		e2eCheckParse(t, bin, run)
	})
	t.Run("explain", func(t *testing.T) {
		e2eNeed(t, cmds, "parse", "explain")
		e2eCheckExplain(t, bin, run)
	})
	t.Run("queue", func(t *testing.T) {
		e2eNeed(t, cmds, "queue")
		e2eCheckQueue(t, bin, run)
	})
	t.Run("analyze", func(t *testing.T) {
		e2eNeed(t, cmds, "analyze")
		e2eCheckAnalyze(t, bin, run)
	})
	t.Run("trace", func(t *testing.T) {
		e2eNeed(t, cmds, "ingest", "trace")
		e2eCheckTrace(t, bin, run)
	})
	t.Run("tail", func(t *testing.T) {
		e2eNeed(t, cmds, "tail")
		e2eCheckTail(t, run)
	})
	e2eLogTable(t, run)
}

// e2eMissing names the first missing prerequisite, or returns "".
func e2eMissing() string {
	if os.Geteuid() != 0 {
		return "not root (the harness installs and configures Postfix)"
	}
	for _, c := range []string{"bash", "unshare"} {
		if _, err := exec.LookPath(c); err != nil {
			return "no " + c + " in PATH"
		}
	}
	if out, err := exec.Command("unshare", "--net", "--mount", "--propagation", "private", "--fork", "true").CombinedOutput(); err != nil {
		return fmt.Sprintf("no network/mount namespaces (unshare --net --mount: %v: %s)", err, bytes.TrimSpace(out))
	}
	_, aptErr := exec.LookPath("apt-get")
	if _, err := os.Stat("/usr/sbin/postconf"); err != nil && aptErr != nil {
		return "no postfix, and no apt-get to install it"
	}
	if _, err := os.Stat("/usr/bin/python3"); err != nil && aptErr != nil {
		return "no /usr/bin/python3, and no apt-get to install it"
	}
	if mc, err := os.ReadFile("/etc/postfix/main.cf"); err == nil && !bytes.Contains(mc, []byte("\n# pfdiag-e2e:")) &&
		!bytes.HasPrefix(mc, []byte("# pfdiag-e2e:")) && os.Getenv("PFDIAG_E2E_TAKEOVER") != "1" && !e2eCI() {
		return "/etc/postfix holds a Postfix the harness did not set up (PFDIAG_E2E_TAKEOVER=1 lets it take over a throwaway machine's)"
	}
	return ""
}

// e2eRunHarness runs testdata/e2e/run.sh once. With pfdiag tail in the
// binary, tail follows the live log during the scenarios.
func e2eRunHarness(t *testing.T, bin string, cmds map[string]bool) *e2eRun {
	t.Helper()
	harness, err := filepath.Abs("../../testdata/e2e/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := &e2eRun{dir: t.TempDir()}
	args := []string{harness}
	if cmds["tail"] {
		run.tail = true
		args = append(args, "--during-metrics", "http://"+e2eMetricsAddr+"/metrics", run.dir, "--",
			bin, "tail", "--index", t.TempDir(), "--listen", e2eMetricsAddr, "--json", "--each", e2eLiveLog)
	} else {
		args = append(args, run.dir)
	}
	deadline := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	// On timeout the harness gets SIGTERM, so that it stops Postfix and its
	// helpers, instead of SIGKILL.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	run.exitErr = cmd.Run()
	run.output = out.Bytes()
	t.Logf("harness: %s, %v (exit: %v)", strings.Join(cmd.Args, " "), time.Since(start).Round(time.Second), run.exitErr)

	logText, err := os.ReadFile(run.path("mail.log"))
	if err != nil {
		t.Fatalf("the harness wrote no mail.log (%v); its output:\n%s", err, e2eTailLines(run.output, 60))
	}
	run.log = strings.Split(strings.TrimSuffix(string(logText), "\n"), "\n")
	obs, err := os.ReadFile(run.path("observed.tsv"))
	if err != nil {
		t.Fatalf("the harness wrote no observed.tsv (%v); its output:\n%s", err, e2eTailLines(run.output, 60))
	}
	for i, line := range strings.Split(strings.TrimSuffix(string(obs), "\n"), "\n")[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 7 {
			t.Fatalf("observed.tsv:%d: %d columns, want 7", i+2, len(f))
		}
		run.rows = append(run.rows, &e2eRow{Scenario: f[0], Recipient: f[1], WantStatus: f[2], WantCategory: f[3],
			LogStatus: f[4], LogResult: f[5], Evidence: f[6]})
	}
	if len(run.rows) == 0 {
		t.Fatal("observed.tsv has no scenarios")
	}
	return run
}

func e2eTailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// e2eCheckSelf: the harness's own comparison of every scenario with the log.
func e2eCheckSelf(t *testing.T, run *e2eRun) {
	if run.exitErr != nil {
		t.Errorf("harness failed: %v; its output ends with:\n%s", run.exitErr, e2eTailLines(run.output, 40))
	}
	sc, err := os.ReadFile(run.path("selfcheck.txt"))
	if err != nil {
		t.Fatal(err)
	}
	last := e2eTailLines(sc, 1)
	if !regexp.MustCompile(`^\d+ passed, 0 failed$`).MatchString(last) {
		t.Errorf("self-check: %q, want \"N passed, 0 failed\"", last)
	}
	for _, r := range run.rows {
		if r.LogResult != "pass" {
			t.Errorf("%s: the log shows %s (%s), want %s", r.Scenario, r.LogStatus, r.Evidence, r.WantStatus)
		}
	}
	// expected.tsv has the format of the shared real-postfix corpus.
	exp, err := os.ReadFile(run.path("expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(exp), "\n"), "\n")
	if got, want := lines[0], "scenario\trecipient\texpected_status\treason_category"; got != want {
		t.Errorf("expected.tsv header %q, want %q", got, want)
	}
	if len(lines)-1 != len(run.rows) {
		t.Errorf("expected.tsv has %d rows, observed.tsv %d", len(lines)-1, len(run.rows))
	}
	for _, f := range []string{"postqueue.json", "postqueue.txt"} {
		if st, err := os.Stat(run.path(f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", f, err)
		}
	}
}

// e2eEvent is the part of `pfdiag parse` JSON the assertions use.
type e2eEvent struct {
	Kind     string `json:"kind"`
	Line     int    `json:"line"`
	Instance string `json:"instance"`
	Daemon   string `json:"daemon"`
	QueueID  string `json:"queue_id"`
	To       string `json:"to"`
	Status   string `json:"status"`
	DSN      string `json:"dsn"`
	Action   string `json:"action"`
	Severity string `json:"severity"`
	Raw      string `json:"raw"`
}

var (
	e2eLogLine  = regexp.MustCompile(`^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ ([^\s\[]+)\[\d+\]: (.*)$`)
	e2eDelivery = regexp.MustCompile(`^([0-9A-Za-z]+): to=<([^>]*)>,.* dsn=([0-9.]+), status=(\S+)`)
	e2eExpired  = regexp.MustCompile(`^[0-9A-Za-z]+: from=<[^>]*>, status=(expired|force-expired), returned to sender`)
)

// e2eLogCounts counts, from the log text itself, the delivery status lines
// per status and the qmgr expiry lines ("expired").
func e2eLogCounts(log []string) map[string]int {
	n := map[string]int{}
	for _, line := range log {
		m := e2eLogLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		daemon := m[1][strings.LastIndex(m[1], "/")+1:]
		if d := e2eDelivery.FindStringSubmatch(m[2]); d != nil && daemon != "cleanup" && daemon != "smtpd" {
			n[d[4]]++
		} else if e2eExpired.MatchString(m[2]) && daemon == "qmgr" {
			n["expired"]++
		}
	}
	return n
}

// e2eCheckParse: every line is one event, every status line a delivery with
// the status the log says, nothing important unknown, and the final state of
// each scenario's recipient as the events tell it.
func e2eCheckParse(t *testing.T, bin string, run *e2eRun) {
	res := e2eExec(t, 2*time.Minute, nil, bin, "parse", "--raw", run.path("mail.log"))
	if res.code != 0 || res.crashed() {
		t.Fatalf("pfdiag parse: exit %d: %s", res.code, e2eFirstLines(res.stderr, 5))
	}
	var evs []e2eEvent
	dec := json.NewDecoder(bytes.NewReader(res.stdout))
	for dec.More() {
		var ev e2eEvent
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("pfdiag parse output, object %d: %v", len(evs)+1, err)
		}
		evs = append(evs, ev)
	}
	if len(evs) != len(run.log) {
		t.Fatalf("pfdiag parse: %d events for %d lines", len(evs), len(run.log))
	}
	unknownByDaemon := map[string]int{}
	important := map[string]bool{"smtp": true, "lmtp": true, "local": true, "virtual": true, "pipe": true, "error": true,
		"retry": true, "discard": true, "qmgr": true, "cleanup": true, "bounce": true}
	for i, ev := range evs {
		line := run.log[i]
		if ev.Line != i+1 {
			t.Fatalf("event %d has line %d", i+1, ev.Line)
		}
		if ev.Raw != line {
			t.Errorf("line %d: raw %q, want %q", i+1, ev.Raw, line)
		}
		m := e2eLogLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		daemon := m[1][strings.LastIndex(m[1], "/")+1:]
		if d := e2eDelivery.FindStringSubmatch(m[2]); d != nil && daemon != "cleanup" && daemon != "smtpd" {
			if ev.Kind != "delivery" || ev.To != d[2] || ev.Status != d[4] || ev.DSN != d[3] || ev.QueueID != d[1] {
				t.Errorf("line %d: kind %q to %q status %q dsn %q queue_id %q, want delivery %q %q %q %q\n\t%s",
					i+1, ev.Kind, ev.To, ev.Status, ev.DSN, ev.QueueID, d[2], d[4], d[3], d[1], line)
			}
		}
		if ev.Kind == "unknown" || ev.Kind == "malformed" {
			unknownByDaemon[daemon]++
			if important[daemon] || strings.Contains(m[2], "client=") || strings.Contains(m[2], ": reject: ") {
				t.Errorf("line %d: kind %q for a %s line: %s", i+1, ev.Kind, daemon, line)
			}
		}
	}
	if len(unknownByDaemon) > 0 {
		t.Logf("unknown/malformed lines by daemon: %v", unknownByDaemon)
	}

	// The final state of each recipient, from the events alone.
	type at struct {
		line           int
		inst, qid, val string
	}
	key := func(inst, qid string) string { return inst + "/" + qid }
	deliveries := map[string][]at{}
	expired, holds := map[string]at{}, map[string]at{}
	headerHolds, noqueue := map[string]at{}, map[string]at{}
	for _, ev := range evs {
		to := strings.ToLower(ev.To)
		switch {
		case ev.Kind == "delivery":
			deliveries[to] = append(deliveries[to], at{ev.Line, ev.Instance, ev.QueueID, ev.Status})
		case ev.Kind == "expired":
			expired[key(ev.Instance, ev.QueueID)] = at{line: ev.Line}
		case ev.Kind == "postsuper" && ev.Action == "placed on hold" && ev.QueueID != "":
			holds[key(ev.Instance, ev.QueueID)] = at{line: ev.Line}
		case ev.Kind == "reject" && ev.Action == "hold" && to != "":
			headerHolds[to] = at{line: ev.Line}
		case ev.Kind == "reject" && ev.QueueID == "NOQUEUE" && to != "":
			noqueue[to] = at{line: ev.Line}
		}
	}
	for _, r := range run.rows {
		rcpt := strings.ToLower(r.Recipient)
		if ds := deliveries[rcpt]; len(ds) > 0 {
			last := ds[len(ds)-1]
			r.Parse, r.line = last.val, last.line
			if e, ok := expired[key(last.inst, last.qid)]; ok && e.line > r.line {
				r.Parse, r.line = "expired", e.line
			}
			if h, ok := holds[key(last.inst, last.qid)]; ok && h.line > r.line {
				r.Parse, r.line = "held", h.line
			}
		} else if h, ok := headerHolds[rcpt]; ok {
			r.Parse, r.line = "held", h.line
		} else if n, ok := noqueue[rcpt]; ok {
			r.Parse, r.line = "rejected", n.line
		} else if r.WantStatus == "rejected" {
			// Refused for its size: Postfix logs no recipient. The harness's
			// evidence is the line; pfdiag must see a reject or a warning.
			for i, line := range run.log {
				if strings.HasSuffix(line, ": "+r.Evidence) {
					r.line = i + 1
					switch evs[i].Kind {
					case "reject", "warning":
						r.Parse = "rejected"
					default:
						r.Parse = "kind " + evs[i].Kind
					}
					break
				}
			}
		}
		if r.Parse == "" {
			r.Parse = "missing"
		}
		if r.Parse != r.WantStatus {
			t.Errorf("%s: pfdiag parse events give %s for %s, want %s", r.Scenario, r.Parse, r.Recipient, r.WantStatus)
		}
	}
}

// e2eCheckExplain: the rules engine's category (and class) for the line
// that decided each scenario, as `pfdiag explain` gives it.
func e2eCheckExplain(t *testing.T, bin string, run *e2eRun) {
	var in bytes.Buffer
	var asked []*e2eRow
	for _, r := range run.rows {
		if r.line == 0 {
			r.Explain = "(no line)"
			continue
		}
		in.WriteString(run.log[r.line-1])
		in.WriteByte('\n')
		asked = append(asked, r)
	}
	if len(asked) == 0 {
		t.Fatal("no scenario has a final line (did the parse assertions run?)")
	}
	res := e2eExec(t, time.Minute, in.Bytes(), bin, "explain", "--json", "-")
	if res.code != 0 || res.crashed() {
		t.Fatalf("pfdiag explain: exit %d: %s", res.code, e2eFirstLines(res.stderr, 5))
	}
	dec := json.NewDecoder(bytes.NewReader(res.stdout))
	for _, r := range asked {
		var x struct{ Kind, Category, Class string }
		if err := dec.Decode(&x); err != nil {
			t.Fatalf("pfdiag explain output for %s: %v", r.Scenario, err)
		}
		r.Explain, r.Class = x.Category, x.Class
		if x.Kind == "none" {
			r.Explain = "(not a failure)"
		}
		switch r.WantCategory {
		case "delivered":
			if x.Kind != "none" {
				t.Errorf("%s: a delivered recipient's line is diagnosed as %s (%s)", r.Scenario, x.Category, x.Kind)
			}
			continue
		case "held":
			continue // not a taxonomy category: held messages are shown, not checked
		}
		if x.Category != r.WantCategory {
			t.Errorf("%s: category %s, want %s\n\t%s", r.Scenario, x.Category, r.WantCategory, run.log[r.line-1])
		}
		want := map[string]string{"deferred": "temporary", "bounced": "permanent", "expired": "permanent"}[r.WantStatus]
		if want != "" && x.Class != want {
			t.Errorf("%s: class %q, want %q (Postfix logged it %s)", r.Scenario, x.Class, want, r.WantStatus)
		}
	}
}

// e2ePostqueueP reads postqueue -p output: messages and bytes per queue,
// and the total of its last line.
func e2ePostqueueP(t *testing.T, text string) (map[string][2]int, int) {
	t.Helper()
	line := regexp.MustCompile(`^([0-9A-Za-z]+)([*!]?)\s+(\d+)\s+\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d\s`)
	total := regexp.MustCompile(`^-- \d+ Kbytes in (\d+) Requests?\.$`)
	per := map[string][2]int{}
	requests := -1
	for _, l := range strings.Split(text, "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			q := map[string]string{"*": "active", "!": "hold", "": "deferred"}[m[2]]
			size, _ := strconv.Atoi(m[3])
			c := per[q]
			per[q] = [2]int{c[0] + 1, c[1] + size}
		} else if m := total.FindStringSubmatch(l); m != nil {
			requests, _ = strconv.Atoi(m[1])
		} else if strings.TrimSpace(l) == "Mail queue is empty" {
			requests = 0
		}
	}
	if requests < 0 {
		t.Fatalf("postqueue.txt has no \"-- N Kbytes in M Requests.\" line")
	}
	return per, requests
}

// e2eCheckQueue: `pfdiag queue --format json` of postqueue -j agrees with
// postqueue -p of the same moment, and classifies the deferred recipients.
func e2eCheckQueue(t *testing.T, bin string, run *e2eRun) {
	txt, err := os.ReadFile(run.path("postqueue.txt"))
	if err != nil {
		t.Fatal(err)
	}
	per, requests := e2ePostqueueP(t, string(txt))
	res := e2eExec(t, time.Minute, nil, bin, "queue", "--format", "json", run.path("postqueue.json"))
	if res.code != 0 || res.crashed() {
		t.Fatalf("pfdiag queue: exit %d: %s", res.code, e2eFirstLines(res.stderr, 5))
	}
	var q struct {
		Queues map[string]struct {
			Messages int `json:"messages"`
			Bytes    int `json:"bytes"`
		} `json:"queues"`
		Categories map[string]int `json:"categories"`
	}
	if err := json.Unmarshal(res.stdout, &q); err != nil {
		t.Fatalf("pfdiag queue JSON: %v", err)
	}
	sum := 0
	for _, name := range []string{"active", "deferred", "hold", "incoming", "maildrop"} {
		got, want := q.Queues[name], per[name]
		if got.Messages != want[0] || got.Bytes != want[1] {
			t.Errorf("queue %s: pfdiag %d messages %d bytes, postqueue -p %d messages %d bytes",
				name, got.Messages, got.Bytes, want[0], want[1])
		}
		sum += got.Messages
	}
	if sum != requests {
		t.Errorf("pfdiag queue counts %d messages, postqueue -p says %d requests", sum, requests)
	}
	// Every deferred scenario still queued has its category among the
	// queue's diagnoses of delay_reason.
	js, err := os.ReadFile(run.path("postqueue.json"))
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(js)), "\n") {
		var rec struct {
			Recipients []struct {
				Address     string `json:"address"`
				DelayReason string `json:"delay_reason"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("postqueue.json: %v", err)
		}
		for _, r := range rec.Recipients {
			if r.DelayReason != "" {
				queued[strings.ToLower(r.Address)] = true
			}
		}
	}
	want := map[string]int{}
	for _, r := range run.rows {
		if r.WantStatus == "deferred" && queued[strings.ToLower(r.Recipient)] {
			want[r.WantCategory]++
		}
	}
	for cat, n := range want {
		if q.Categories[cat] < n {
			t.Errorf("pfdiag queue: %d recipients in %s, want at least %d", q.Categories[cat], cat, n)
		}
	}
}

// e2eCheckAnalyze: the JSON report's delivery counts equal the status lines
// of the log, and every expected failure category is diagnosed with a fix
// (issue 5's stable interface).
func e2eCheckAnalyze(t *testing.T, bin string, run *e2eRun) {
	res := e2eExec(t, 2*time.Minute, nil, bin, "analyze", "--index", t.TempDir(), "--format", "json", run.path("mail.log"))
	if res.code != 0 || res.crashed() {
		t.Fatalf("pfdiag analyze: exit %d: %s", res.code, e2eFirstLines(res.stderr, 5))
	}
	var rep struct {
		SchemaVersion *int `json:"schema_version"`
		Summary       struct {
			Deliveries map[string]int `json:"deliveries"`
		} `json:"summary"`
		Diagnoses []struct {
			Category   string          `json:"category"`
			Deliveries int             `json:"deliveries"`
			Messages   int             `json:"messages"`
			Domains    json.RawMessage `json:"domains"`
			Fix        string          `json:"fix"`
		} `json:"diagnoses"`
	}
	if err := json.Unmarshal(res.stdout, &rep); err != nil {
		t.Fatalf("pfdiag analyze JSON: %v", err)
	}
	if rep.SchemaVersion == nil {
		t.Error("no schema_version")
	}
	counts := e2eLogCounts(run.log)
	for _, st := range []string{"sent", "deferred", "bounced", "expired"} {
		if got := rep.Summary.Deliveries[st]; got != counts[st] {
			t.Errorf("summary.deliveries.%s = %d, the log has %d such lines", st, got, counts[st])
		}
	}
	want := map[string]int{}
	for _, r := range run.rows {
		if r.WantStatus == "deferred" || r.WantStatus == "bounced" || r.WantStatus == "expired" {
			want[r.WantCategory]++
		}
	}
	got := map[string]int{}
	for _, d := range rep.Diagnoses {
		got[d.Category] += d.Deliveries
		if d.Fix == "" {
			t.Errorf("diagnosis %s has no fix", d.Category)
		}
		if len(d.Domains) == 0 || string(d.Domains) == "null" {
			t.Errorf("diagnosis %s names no domains", d.Category)
		}
	}
	for cat, n := range want {
		if got[cat] < n {
			t.Errorf("diagnoses: %s has %d deliveries, want at least %d (one per scenario)", cat, got[cat], n)
		}
	}
}

// e2eCheckTrace: per scenario, the final status and category of the
// recipient in `pfdiag trace --json --recipient` (issue 3's stable
// interface), after `pfdiag ingest` of the log.
func e2eCheckTrace(t *testing.T, bin string, run *e2eRun) {
	idx := t.TempDir()
	res := e2eExec(t, 2*time.Minute, nil, bin, "ingest", "--index", idx, run.path("mail.log"))
	if res.code != 0 || res.crashed() {
		t.Fatalf("pfdiag ingest: exit %d: %s", res.code, e2eFirstLines(res.stderr, 5))
	}
	for _, r := range run.rows {
		if r.WantStatus == "rejected" {
			r.Trace = "(never queued)"
			continue
		}
		res := e2eExec(t, time.Minute, nil, bin, "trace", "--index", idx, "--json", "--recipient", r.Recipient)
		if res.code != 0 || res.crashed() {
			t.Errorf("%s: pfdiag trace --recipient %s: exit %d: %s", r.Scenario, r.Recipient, res.code, e2eFirstLines(res.stderr, 3))
			r.Trace = "(error)"
			continue
		}
		// One object per message; the recipient's final state is in the
		// message that arrived last (an expired relay's second queue).
		type msg struct {
			Arrival    string `json:"arrival"`
			Fate       string `json:"fate"`
			Recipients []struct {
				Address  string `json:"address"`
				Status   string `json:"status"`
				Category string `json:"category"`
			} `json:"recipients"`
		}
		var last *msg
		var lastT time.Time
		dec := json.NewDecoder(bytes.NewReader(res.stdout))
		for dec.More() {
			var m msg
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s: trace JSON: %v", r.Scenario, err)
			}
			at, _ := time.Parse(time.RFC3339Nano, m.Arrival)
			if last == nil || !at.Before(lastT) {
				mm := m
				last, lastT = &mm, at
			}
		}
		if last == nil {
			r.Trace = "(no message)"
			t.Errorf("%s: pfdiag trace finds no message for %s", r.Scenario, r.Recipient)
			continue
		}
		var status, category string
		for _, rc := range last.Recipients {
			if strings.EqualFold(rc.Address, r.Recipient) {
				status, category = rc.Status, rc.Category
			}
		}
		r.Trace = status + "/" + category
		if status != r.WantStatus {
			t.Errorf("%s: trace status %q, want %q", r.Scenario, status, r.WantStatus)
		}
		if r.WantCategory != "delivered" && r.WantCategory != "held" && category != r.WantCategory {
			t.Errorf("%s: trace category %q, want %q", r.Scenario, category, r.WantCategory)
		}
	}
}

// e2eSample is one sample of the Prometheus text format.
type e2eSample struct {
	name   string
	labels map[string]string
	value  float64
}

// e2eMetrics reads the Prometheus text exposition format (enough of it for
// the counters compared here: no escaped quotes or commas in label values).
// TODO(tail lands): parse with prometheus/common/expfmt once
// client_golang brings prometheus/client_model into go.mod.
func e2eMetrics(text string) []e2eSample {
	var out []e2eSample
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		sm := e2eSample{name: line[:i], labels: map[string]string{}, value: v}
		if j := strings.IndexByte(sm.name, '{'); j >= 0 {
			for _, kv := range strings.Split(strings.TrimSuffix(sm.name[j+1:], "}"), ",") {
				if k, val, ok := strings.Cut(kv, "="); ok {
					sm.labels[strings.TrimSpace(k)] = strings.Trim(val, `"`)
				}
			}
			sm.name = sm.name[:j]
		}
		out = append(out, sm)
	}
	return out
}

// e2eSum adds the samples of a metric whose labels include match.
func e2eSum(samples []e2eSample, name string, match map[string]string) float64 {
	total := 0.0
	for _, sm := range samples {
		if sm.name != name {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && sm.labels[k] == v
		}
		if ok {
			total += sm.value
		}
	}
	return total
}

// e2eCheckTail: pfdiag tail followed the live log during the scenarios; its
// metrics agree with the log and it printed every bounce (issue 6).
func e2eCheckTail(t *testing.T, run *e2eRun) {
	if !run.tail {
		t.Fatal("pfdiag tail was not started during the scenarios")
	}
	st, err := os.ReadFile(run.path("during.status"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(st)); got != "stopped by SIGTERM, exit status 0" {
		t.Errorf("pfdiag tail: %s, want it to exit 0 on SIGTERM; stderr:\n%s", got, e2eReadHead(run.path("during.stderr")))
	}
	body, err := os.ReadFile(run.path("during.metrics"))
	if err != nil || len(body) == 0 {
		t.Fatalf("no metrics were fetched from pfdiag tail (%v)", err)
	}
	m := e2eMetrics(string(body))
	if got := e2eSum(m, "pfdiag_lines_total", nil); int(got) != len(run.log) {
		t.Errorf("pfdiag_lines_total = %v, mail.log has %d lines", got, len(run.log))
	}
	counts := e2eLogCounts(run.log)
	for _, s := range []string{"sent", "deferred", "bounced"} {
		if got := e2eSum(m, "pfdiag_deliveries_total", map[string]string{"status": s}); int(got) != counts[s] {
			t.Errorf(`pfdiag_deliveries_total{status=%q} = %v, the log has %d`, s, got, counts[s])
		}
	}
	for _, r := range run.rows {
		if r.WantStatus != "deferred" && r.WantStatus != "bounced" && r.WantStatus != "expired" {
			continue
		}
		if e2eSum(m, "pfdiag_diagnoses_total", map[string]string{"category": r.WantCategory}) == 0 {
			t.Errorf("%s: pfdiag_diagnoses_total{category=%q} is 0", r.Scenario, r.WantCategory)
		}
	}
	events, err := os.ReadFile(run.path("during.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range run.rows {
		if r.WantStatus == "bounced" && !bytes.Contains(events, []byte(r.Recipient)) {
			t.Errorf("%s: pfdiag tail --each printed nothing about the bounce of %s", r.Scenario, r.Recipient)
		}
	}
}

func e2eReadHead(path string) string {
	b, _ := os.ReadFile(path)
	return e2eFirstLines(b, 10)
}

// e2eLogTable prints the scenario table the closing note of issue 8 needs:
// what was expected, what the log shows, and what each pfdiag command gave.
func e2eLogTable(t *testing.T, run *e2eRun) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nscenario\texpected status/category\tlog shows\tparse\texplain (class)\ttrace status/category")
	for _, r := range run.rows {
		ex := r.Explain
		if r.Class != "" {
			ex += " (" + r.Class + ")"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.WantStatus, r.WantCategory,
			r.LogStatus, e2eDash(r.Parse), e2eDash(ex), e2eDash(r.Trace))
	}
	tw.Flush()
	t.Log(b.String())
}

func e2eDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
