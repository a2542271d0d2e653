package main

// Tests of `pfdiag tail` as it runs in production: the real binary (built
// with go build), real files, real signals, the metrics endpoint scraped
// and parsed with expfmt, the index read back afterwards.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
	"github.com/pfdiag/pfdiag/rules"
)

var (
	tailBinOnce sync.Once
	tailBinPath string
	tailBinErr  error
)

// tailBinary builds pfdiag once for the tail tests.
func tailBinary(t *testing.T) string {
	t.Helper()
	tailBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pfdiag-tail-bin")
		if err != nil {
			tailBinErr = err
			return
		}
		tailBinPath = filepath.Join(dir, "pfdiag")
		out, err := exec.Command("go", "build", "-o", tailBinPath, ".").CombinedOutput()
		if err != nil {
			tailBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if tailBinErr != nil {
		t.Fatal(tailBinErr)
	}
	return tailBinPath
}

// tailGenlog writes a deterministic synthetic log (RFC 3339 stamps: no
// year to infer) and returns its lines and the truth's counts by status.
func tailGenlog(t *testing.T, lines, seed int) ([]string, map[string]int) {
	t.Helper()
	out, counts, err := genlogLines(lines, seed)
	if errors.Is(err, errNoGenlog) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out, counts
}

var errNoGenlog = errors.New("genlog.py not found: ../shared is not beside the repository")

func genlogLines(lines, seed int) ([]string, map[string]int, error) {
	script, _ := filepath.Abs("../../../shared/bench/genlog.py")
	if _, err := os.Stat(script); err != nil {
		return nil, nil, errNoGenlog
	}
	dir, err := os.MkdirTemp("", "genlog")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	truth := filepath.Join(dir, "truth.tsv")
	out, err := exec.Command("python3", script, "--lines", strconv.Itoa(lines), "--seed", strconv.Itoa(seed),
		"--format", "rfc3339", "--truth", truth).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("genlog: %w", err)
	}
	tb, err := os.ReadFile(truth)
	if err != nil {
		return nil, nil, err
	}
	counts := map[string]int{}
	for i, l := range strings.Split(strings.TrimSpace(string(tb)), "\n") {
		if f := strings.Split(l, "\t"); i > 0 && len(f) > 2 {
			counts[f[2]]++
		}
	}
	return strings.SplitAfter(strings.TrimSuffix(string(out), "\n")+"\n", "\n")[:lines], counts, nil
}

// tailLockedBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type tailLockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *tailLockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *tailLockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tailProc is a running `pfdiag tail`.
type tailProc struct {
	cmd            *exec.Cmd
	stdout, stderr *tailLockedBuffer
	url            string
	done           chan error
}

var tailMetricsURL = regexp.MustCompile(`metrics on (http://\S+)/metrics`)

// startTail runs pfdiag tail with --listen 127.0.0.1:0 and waits for the
// metrics address.
func startTail(t *testing.T, args ...string) *tailProc {
	t.Helper()
	p := &tailProc{stdout: &tailLockedBuffer{}, stderr: &tailLockedBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(tailBinary(t), append([]string{"tail", "--listen", "127.0.0.1:0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := tailMetricsURL.FindStringSubmatch(p.stderr.String()); m != nil {
			p.url = m[1]
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("pfdiag tail exited: %v\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no metrics address from pfdiag tail:\n%s", p.stderr)
	return nil
}

// stop sends SIGTERM and waits: pfdiag tail must checkpoint and exit 0.
func (p *tailProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("pfdiag tail after SIGTERM: %v\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("pfdiag tail does not stop after SIGTERM:\n%s", p.stderr)
	}
}

func (p *tailProc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	<-p.done
}

func scrapeTail(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// tailSample returns the value of name's tailSample with the given labels (a
// histogram's tailSample count); ok false if there is none.
func tailSample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// tailSum adds every tailSample of name whose label key has value (all if key is
// empty).
func tailSum(fams map[string]*dto.MetricFamily, name, key, value string) float64 {
	var s float64
	f := fams[name]
	if f == nil {
		return 0
	}
	for _, m := range f.Metric {
		ok := key == ""
		for _, l := range m.Label {
			if l.GetName() == key && l.GetValue() == value {
				ok = true
			}
		}
		if ok && m.Counter != nil {
			s += m.Counter.GetValue()
		}
	}
	return s
}

// waitLines waits until the metrics count n lines (they are updated at
// each checkpoint).
func (p *tailProc) waitLines(t *testing.T, n int, timeout time.Duration) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got float64
	for time.Now().Before(deadline) {
		fams := scrapeTail(t, p.url)
		got, _ = tailSample(fams, "pfdiag_lines_total")
		if got == float64(n) {
			return fams
		}
		if got > float64(n) {
			t.Fatalf("pfdiag_lines_total %v > %d lines written: lines counted twice", got, n)
		}
		select {
		case err := <-p.done:
			t.Fatalf("pfdiag tail exited: %v\n%s", err, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("pfdiag_lines_total %v after %v, want %d\n%s", got, timeout, n, p.stderr)
	return nil
}

func tailWriteLines(t *testing.T, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// The metrics endpoint, scraped and parsed, says what the input holds:
// tailGenlog's truth for deliveries, the line count, every failure diagnosed.
func TestTailMetrics(t *testing.T) {
	lines, truth := tailGenlog(t, 20000, 7)
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	tailWriteLines(t, log, lines)
	p := startTail(t, "--index", filepath.Join(dir, "index"), "--checkpoint-interval", "100ms", log)
	fams := p.waitLines(t, len(lines), 60*time.Second)
	for _, st := range []string{"sent", "deferred", "bounced", "expired"} {
		got, ok := tailSample(fams, "pfdiag_deliveries_total", "status", st)
		if !ok || got != float64(truth[st]) {
			t.Errorf("pfdiag_deliveries_total{status=%q} = %v, truth %d", st, got, truth[st])
		}
		if got := tailSum(fams, "pfdiag_destination_deliveries_total", "status", st); got != float64(truth[st]) {
			t.Errorf("tailSum of pfdiag_destination_deliveries_total{status=%q} = %v, truth %d", st, got, truth[st])
		}
	}
	failures := truth["deferred"] + truth["bounced"] + truth["expired"]
	if got := tailSum(fams, "pfdiag_diagnoses_total", "", ""); got != float64(failures) {
		t.Errorf("tailSum of pfdiag_diagnoses_total %v, want %d failures", got, failures)
	}
	if got, _ := tailSample(fams, "pfdiag_delivery_delay_seconds", "status", "sent"); got != float64(truth["sent"]) {
		t.Errorf("delay histogram of sent: %v samples, want %d", got, truth["sent"])
	}
	if n := len(fams["pfdiag_destination_deliveries_total"].GetMetric()); n > 21*4 {
		t.Errorf("%d destination series: labels not bounded", n)
	}
	unparsed, _ := tailSample(fams, "pfdiag_unparsed_lines_total")
	if unparsed <= 0 || unparsed > float64(len(lines))/10 {
		t.Errorf("pfdiag_unparsed_lines_total %v", unparsed)
	}
	resp, err := http.Get(p.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		OK     bool
		Status string
		Lines  int
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || !h.OK || h.Lines != len(lines) || h.Status != "caught up" {
		t.Errorf("healthz %d %+v", resp.StatusCode, h)
	}
	p.stop(t)

	// Restarted, the counters continue from the index.
	p = startTail(t, "--index", filepath.Join(dir, "index"), log)
	fams = p.waitLines(t, len(lines), 30*time.Second)
	if got, _ := tailSample(fams, "pfdiag_deliveries_total", "status", "sent"); got != float64(truth["sent"]) {
		t.Errorf("after a restart: sent %v, want %d", got, truth["sent"])
	}
	if !strings.Contains(p.stderr.String(), "resuming "+log) {
		t.Errorf("no resume:\n%s", p.stderr)
	}
	p.stop(t)
}

// tailTotals are the counts compared between runs: everything that depends
// only on the lines (message-level counts can depend on where checkpoints
// fell: a checkpoint writes out a finished message still waiting for a
// late re-injection link).
type tailTotals struct {
	Lines      map[string]int64 // by parser kind
	Deliveries map[string]int64 // status/category
	Rejects    int64
	Warnings   int64
	Sent       int64
	Deferred   int64
	Bounced    int64
	Expired    int64
}

func tailTotalsOf(t *testing.T, idx correlate.Index) tailTotals {
	t.Helper()
	tot := tailTotals{Lines: map[string]int64{}, Deliveries: map[string]int64{}}
	err := idx.Hours(context.Background(), time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		for k, n := range h.Lines {
			tot.Lines[k.Kind.String()] += n
		}
		for k, d := range h.Deliveries {
			tot.Deliveries[k.Status.String()+"/"+k.Category] += d.Count
		}
		for _, r := range h.Rejects {
			tot.Rejects += r.Count
		}
		for _, w := range h.Warnings {
			tot.Warnings += w.Count
		}
		tr := h.TotalTraffic()
		tot.Sent += tr.Sent
		tot.Deferred += tr.Deferred
		tot.Bounced += tr.Bounced
		tot.Expired += tr.Expired
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tot
}

func tailIndexTotals(t *testing.T, dir string) tailTotals {
	t.Helper()
	idx, err := badgerindex.Open(dir, badgerindex.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	return tailTotalsOf(t, idx)
}

// tailOnceTotals reads text once, as `pfdiag ingest` would, into a memory
// index.
func tailOnceTotals(t *testing.T, text string) tailTotals {
	t.Helper()
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	idx := memindex.New()
	in, err := correlate.NewIngester(context.Background(), idx, correlate.IngestOptions{
		Correlator: correlate.Options{Classify: classifier(eng)}, Parse: parser.Options{Loc: time.Local}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := input.Open("-", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Read(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	return tailTotalsOf(t, idx)
}

func tailSameTotals(t *testing.T, what string, got, want tailTotals) {
	t.Helper()
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	if !bytes.Equal(g, w) {
		t.Errorf("%s: got\n%s\nwant\n%s", what, g, w)
	}
}

// A SIGKILL in the middle of a stream, then a restart: the same counts as
// an uninterrupted run, and as reading the log once.
func TestTailSIGKILL(t *testing.T) {
	lines, _ := tailGenlog(t, 60000, 11)
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	tailWriteLines(t, log, lines[:10000])
	args := []string{"--index", filepath.Join(dir, "killed"), "--checkpoint-lines", "4000", "--checkpoint-interval", "2s", log}
	p := startTail(t, args...)
	n := 10000
	killAt := 35000
	for n < len(lines) {
		next := min(n+1000, len(lines))
		tailWriteLines(t, log, lines[n:next])
		n = next
		if n == killAt {
			// Let it read some of what is there, then kill it.
			time.Sleep(30 * time.Millisecond)
			p.kill(t)
			p = startTail(t, args...)
			resumedAt := tailResumedLine(t, p)
			t.Logf("killed after %d lines were written; the restart resumed at line %d", killAt, resumedAt)
			if resumedAt <= 0 || resumedAt > int64(killAt) {
				t.Errorf("resumed at line %d", resumedAt)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.waitLines(t, len(lines), 60*time.Second)
	p.stop(t)
	killed := tailIndexTotals(t, filepath.Join(dir, "killed"))

	q := startTail(t, "--index", filepath.Join(dir, "clean"), log)
	q.waitLines(t, len(lines), 60*time.Second)
	q.stop(t)
	tailSameTotals(t, "killed and restarted vs uninterrupted", killed, tailIndexTotals(t, filepath.Join(dir, "clean")))
	tailSameTotals(t, "killed and restarted vs read once", killed, tailOnceTotals(t, strings.Join(lines, "")))
	if killed.Lines["delivery"] == 0 || killed.Sent == 0 {
		t.Errorf("nothing counted: %+v", killed)
	}
}

var tailResumeRE = regexp.MustCompile(`resuming \S+ at byte \d+ \(line (\d+)\)`)

// tailResumedLine waits for the resume note of a restarted tail.
func tailResumedLine(t *testing.T, p *tailProc) int64 {
	t.Helper()
	for range 500 {
		if m := tailResumeRE.FindStringSubmatch(p.stderr.String()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no resume note:\n%s", p.stderr)
	return 0
}

// An idle tail with inotify uses (almost) no CPU: no busy polling.
func TestTailIdleCPU(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "mail.log")
	tailWriteLines(t, log, []string{"2026-11-30T12:00:00+00:00 mail postfix/qmgr[1]: 1A2B3C4D5E: removed\n"})
	p := startTail(t, "--index", filepath.Join(dir, "index"), log)
	p.waitLines(t, 1, 20*time.Second)
	time.Sleep(500 * time.Millisecond) // let start-up work settle
	before := tailCPUTime(t, p.cmd.Process.Pid)
	const idle = 3 * time.Second
	time.Sleep(idle)
	used := tailCPUTime(t, p.cmd.Process.Pid) - before
	t.Logf("idle pfdiag tail: %v CPU in %v (%.2f%%)", used, idle, 100*used.Seconds()/idle.Seconds())
	if used > 150*time.Millisecond {
		t.Errorf("idle pfdiag tail used %v of CPU in %v: busy waiting", used, idle)
	}
	p.stop(t)
}

// tailCPUTime reads utime+stime of a process from /proc (clock ticks of
// 1/100 s, the USER_HZ Linux exports).
func tailCPUTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// tailConcatenation reads a log's rotated files (oldest first) and the live
// file, decompressed.
func tailConcatenation(t *testing.T, log string) string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Dir(log))
	type rf struct {
		path string
		n    int
	}
	var rot []rf
	base := filepath.Base(log)
	for _, e := range ents {
		name := strings.TrimSuffix(e.Name(), ".gz")
		if n, err := strconv.Atoi(strings.TrimPrefix(name, base+".")); err == nil && strings.HasPrefix(name, base+".") {
			rot = append(rot, rf{filepath.Join(filepath.Dir(log), e.Name()), n})
		}
	}
	var b strings.Builder
	for i := len(rot); i > 0; i-- { // .N … .1
		for _, r := range rot {
			if r.n == i {
				b.WriteString(tailReadAll(t, r.path))
			}
		}
	}
	b.WriteString(tailReadAll(t, log))
	return b.String()
}

func tailReadAll(t *testing.T, path string) string {
	t.Helper()
	f, err := input.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pfdiag tail follows a log that the real logrotate rotates while a
// writer appends to it: the index ends up with the counts of reading the
// rotated files and the live one, concatenated, once.
func TestTailLogrotate(t *testing.T) {
	lr := ""
	for _, p := range []string{"logrotate", "/usr/sbin/logrotate", "/sbin/logrotate"} {
		if path, err := exec.LookPath(p); err == nil {
			lr = path
			break
		}
	}
	if lr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("logrotate is not installed (CI installs it)")
		}
		t.Skip("logrotate not installed (apt-get install logrotate)")
	}
	lines, _ := tailGenlog(t, 30000, 5)
	for _, c := range []struct {
		name  string
		conf  string
		pause bool // hold the writer while logrotate runs: copytruncate copies the size it saw first
		poll  bool
	}{
		{"create-delaycompress", "create\ncompress\ndelaycompress\npostrotate\n  touch %DIR%/reopen\nendscript", false, false},
		{"create-delaycompress-poll", "create\ncompress\ndelaycompress\npostrotate\n  touch %DIR%/reopen\nendscript", false, true},
		{"copytruncate", "copytruncate\ncompress", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "mail.log")
			tailWriteLines(t, log, lines[:1000])
			args := []string{"--index", filepath.Join(dir, "index"), "--checkpoint-interval", "100ms"}
			if c.poll {
				args = append(args, "--poll", "--poll-interval", "50ms")
			}
			p := startTail(t, append(args, log)...)
			conf := filepath.Join(dir, "logrotate.conf")
			body := strings.ReplaceAll(c.conf, "%DIR%", dir)
			if err := os.WriteFile(conf, []byte(log+" {\n  rotate 1000\n  nomail\n  missingok\n"+body+"\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}

			// The writer holds the file open like syslog and reopens it
			// when postrotate says so.
			var hold sync.Mutex
			done := make(chan error, 1)
			go func() {
				f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					done <- err
					return
				}
				for i := 1000; i < len(lines); i += 10 {
					hold.Lock()
					if _, err := os.Stat(filepath.Join(dir, "reopen")); err == nil {
						os.Remove(filepath.Join(dir, "reopen"))
						f.Close()
						if f, err = os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err != nil {
							hold.Unlock()
							done <- err
							return
						}
					}
					_, err := f.WriteString(strings.Join(lines[i:min(i+10, len(lines))], ""))
					hold.Unlock()
					if err != nil {
						done <- err
						return
					}
					time.Sleep(time.Millisecond)
				}
				done <- f.Close()
			}()
			rotations := 0
			for writing := true; writing; {
				time.Sleep(200 * time.Millisecond)
				if c.pause {
					hold.Lock()
				}
				out, err := exec.Command(lr, "-f", "-s", filepath.Join(dir, "state"), conf).CombinedOutput()
				if c.pause {
					hold.Unlock()
				}
				if err != nil {
					t.Fatalf("logrotate: %v\n%s", err, out)
				}
				rotations++
				select {
				case err := <-done:
					if err != nil {
						t.Fatal(err)
					}
					writing = false
				default:
				}
			}
			p.waitLines(t, len(lines), 60*time.Second)
			p.stop(t)
			text := tailConcatenation(t, log)
			if got := strings.Count(text, "\n"); got != len(lines) {
				t.Fatalf("the files hold %d lines, %d were written", got, len(lines))
			}
			tailSameTotals(t, "followed through rotation vs read once", tailIndexTotals(t, filepath.Join(dir, "index")), tailOnceTotals(t, text))
			t.Logf("%d rotations", rotations)
			if rotations < 3 {
				t.Errorf("only %d rotations", rotations)
			}
		})
	}
}

// Lines written while pfdiag was down, also those that went into the file
// rotated meanwhile (renamed and compressed, or copied and truncated), are
// read on restart, and nothing twice.
func TestTailRotatedWhileDown(t *testing.T) {
	lr := ""
	for _, p := range []string{"logrotate", "/usr/sbin/logrotate", "/sbin/logrotate"} {
		if path, err := exec.LookPath(p); err == nil {
			lr = path
			break
		}
	}
	if lr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("logrotate is not installed (CI installs it)")
		}
		t.Skip("logrotate not installed (apt-get install logrotate)")
	}
	lines, _ := tailGenlog(t, 24000, 9)
	for _, mode := range []string{"create\ncompress", "copytruncate\ncompress\ndelaycompress"} {
		t.Run(strings.ReplaceAll(mode, "\n", "+"), func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "mail.log")
			conf := filepath.Join(dir, "logrotate.conf")
			os.WriteFile(conf, []byte(log+" {\n  rotate 10\n  nomail\n"+mode+"\n}\n"), 0o644)
			rotate := func() {
				if out, err := exec.Command(lr, "-f", "-s", filepath.Join(dir, "state"), conf).CombinedOutput(); err != nil {
					t.Fatalf("logrotate: %v\n%s", err, out)
				}
			}
			args := []string{"--index", filepath.Join(dir, "index"), log}
			tailWriteLines(t, log, lines[:8000])
			p := startTail(t, args...)
			p.waitLines(t, 8000, 30*time.Second)
			p.kill(t)
			tailWriteLines(t, log, lines[8000:12000]) // into the file about to be rotated
			rotate()
			tailWriteLines(t, log, lines[12000:16000])
			rotate() // twice: the first rotated file moves on to .2
			tailWriteLines(t, log, lines[16000:])
			p = startTail(t, args...)
			p.waitLines(t, len(lines), 30*time.Second)
			p.stop(t)
			tailSameTotals(t, "restarted after rotations vs read once", tailIndexTotals(t, filepath.Join(dir, "index")), tailOnceTotals(t, strings.Join(lines, "")))
			if !strings.Contains(p.stderr.String(), "rotated while pfdiag was stopped") {
				t.Errorf("no rest read:\n%s", p.stderr)
			}
		})
	}
}
