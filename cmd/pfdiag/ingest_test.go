package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/rules"
)

// genlogFile writes `genlog.py args` into dir, or skips the test when the
// generator or python3 is missing.
func genlogFile(t *testing.T, dir string, args ...string) string {
	t.Helper()
	script := filepath.Join("..", "..", "..", "shared", "bench", "genlog.py")
	if _, err := os.Stat(script); err != nil {
		t.Skip("genlog.py not found in ../shared/bench")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	path := filepath.Join(dir, "gen.log")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(py, append([]string{script}, args...)...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("genlog: %v\n%s", err, stderr.String())
	}
	return path
}

// indexContent is everything an index holds, comparable: every message
// record (encoded, sorted) and the sums of its hour aggregates.
func indexContent(t *testing.T, dir string) (msgs []string, totals string) {
	t.Helper()
	idx, err := badgerindex.Open(dir, badgerindex.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	ctx := context.Background()
	if err := idx.Messages(ctx, correlate.Query{}, func(m *correlate.Message) error {
		msgs = append(msgs, string(correlate.AppendMessage(nil, m)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(msgs)
	var hs []*correlate.Hour
	if err := idx.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		hs = append(hs, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tot := correlate.Totals(hs)
	var rows []string
	for k, v := range tot.Deliveries {
		rows = append(rows, fmt.Sprintf("%v=%d", k, v.Count))
	}
	for k, v := range tot.Rejects {
		rows = append(rows, fmt.Sprintf("%v=%d", k, v.Count))
	}
	for k, v := range tot.Lines {
		rows = append(rows, fmt.Sprintf("%v=%d", k, v))
	}
	slices.Sort(rows)
	return msgs, fmt.Sprintf("%+v\n%s", tot.TotalTraffic(), strings.Join(rows, "\n"))
}

// bytesRead returns how much a process has read (rchar of /proc/PID/io),
// -1 when the kernel does not say.
func bytesRead(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			var n int64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return -1
}

// TestIngestKilledAndResumed kills the real binary with SIGKILL in the
// middle of an ingest, runs it again, and compares the index with one
// built by an uninterrupted run: the same messages, the same counts.
func TestIngestKilledAndResumed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and generates 200,000 lines")
	}
	dir := t.TempDir()
	log := genlogFile(t, dir, "--lines", "200000", "--seed", "4")
	bin := e2eBuild(t)
	args := func(idx string) []string {
		return []string{"ingest", "--index", idx, "--year", "2024", "--checkpoint-lines", "15000", "--json", log}
	}

	clean := filepath.Join(dir, "clean")
	if out, err := exec.Command(bin, args(clean)...).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	st, err := os.Stat(log)
	if err != nil {
		t.Fatal(err)
	}

	killed := filepath.Join(dir, "killed")
	cmd := exec.Command(bin, args(killed)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill once about 40% of the log is read: several checkpoints are
	// committed, the current one is not.
	if bytesRead(cmd.Process.Pid) < 0 {
		cmd.Process.Kill()
		<-done
		t.Skip("no /proc/PID/io to follow the ingest")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for bytesRead(cmd.Process.Pid) < st.Size()*2/5 && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("the ingest ended before it could be killed: %v", err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("ingest was not killed: %v", err)
	}

	out, err := exec.Command(bin, args(killed)...).Output()
	if err != nil {
		t.Fatalf("run after the kill: %v\n%s", err, out)
	}
	var sum ingestSummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if f := sum.Files[0]; !f.Known || f.Resumed <= 0 || f.Resumed >= st.Size() || f.Lines <= 0 || f.Lines >= 200000 {
		t.Errorf("the second run did not resume mid-file: %+v", f)
	}
	t.Logf("killed after %d checkpointed bytes; the second run read %d lines", sum.Files[0].Resumed, sum.Files[0].Lines)

	gm, gt := indexContent(t, killed)
	wm, wt := indexContent(t, clean)
	if gt != wt {
		t.Errorf("counts differ after kill and resume:\n got %.600s\nwant %.600s", gt, wt)
	}
	if len(gm) != len(wm) {
		t.Fatalf("%d messages after kill and resume, %d after a clean run", len(gm), len(wm))
	}
	diff := 0
	for i := range gm {
		if gm[i] != wm[i] {
			diff++
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d message records differ", diff, len(gm))
	}

	// Reading the same file again adds nothing.
	out, err = exec.Command(bin, args(clean)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Lines != 0 || sum.Messages != 0 {
		t.Errorf("second read of the same file: %d lines, %d messages", sum.Lines, sum.Messages)
	}
	if gm2, gt2 := indexContent(t, clean); gt2 != wt || len(gm2) != len(wm) {
		t.Errorf("reading the same file twice changed the index")
	}
}

// TestRealPostfixWithRules ingests the real-postfix runs through the
// command's own wiring (the rules engine classifies) and checks every
// row of expected.tsv: the recipient's final status, and its category.
func TestRealPostfixWithRules(t *testing.T) {
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"real-postfix", "real-postfix-longids"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join("..", "..", "testdata", "corpus", name)
			if _, err := os.Stat(filepath.Join(dir, "mail.log")); err != nil {
				t.Skipf("%s not in testdata/corpus", name)
			}
			e := newEnv(nil, nil, nil)
			inputs, err := openInputs(e, []string{filepath.Join(dir, "mail.log")}, 2026)
			if err != nil {
				t.Fatal(err)
			}
			defer closeInputs(inputs)
			idx := memindex.New()
			if _, err := ingest(context.Background(), e, idx, eng, inputs, 2026); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(dir, "expected.tsv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sc := bufio.NewScanner(f)
			sc.Scan() // header
			for sc.Scan() {
				row := strings.Split(sc.Text(), "\t")
				if len(row) < 4 || row[2] == "rejected" {
					continue // never queued: checked on the aggregates in package correlate
				}
				scenario, rcpt, status, category := row[0], row[1], row[2], row[3]
				t.Run(scenario, func(t *testing.T) {
					var got []correlate.Outcome
					idx.Messages(context.Background(), correlate.Query{By: correlate.ByRecipient, Value: rcpt}, func(m *correlate.Message) error {
						for _, o := range m.Outcomes() {
							if strings.EqualFold(o.Address, rcpt) {
								got = append(got, o)
							}
						}
						return nil
					})
					if len(got) != 1 {
						t.Fatalf("%d outcomes for %s", len(got), rcpt)
					}
					o := got[0]
					if o.Status.String() != status {
						t.Errorf("status %s, want %s", o.Status, status)
					}
					switch category {
					case "delivered", "held":
						return // no failure category
					}
					// The final status of a deferred or held recipient keeps
					// the category of its last failure; an expiry's is
					// queue_expired.
					if o.Category != category {
						t.Errorf("category %q, want %q (last reason: %q)", o.Category, category, o.Attempts[len(o.Attempts)-1].Reason)
					}
				})
			}
		})
	}
}
