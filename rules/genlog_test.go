package rules

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pfdiag/pfdiag/parser"
)

// genlogScript is the shared synthetic log generator, beside the repository.
const genlogScript = "../../shared/bench/genlog.py"

// TestGenlogTruth classifies every failure line of a generated log and
// compares it with the generator's ground truth: agreement must be total.
// PFDIAG_GENLOG=log:truth checks an existing pair instead (e.g. the 1M-line
// sample in /tmp/bench).
func TestGenlogTruth(t *testing.T) {
	logPath, truthPath := "", ""
	if v := os.Getenv("PFDIAG_GENLOG"); v != "" {
		logPath, truthPath, _ = strings.Cut(v, ":")
	} else {
		if testing.Short() {
			t.Skip("-short: not generating a synthetic log")
		}
		py, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("python3 not installed: cannot run genlog.py")
		}
		if _, err := os.Stat(genlogScript); err != nil {
			t.Skipf("%s not found (shared/ is not beside the repository)", genlogScript)
		}
		dir := t.TempDir()
		logPath, truthPath = filepath.Join(dir, "gen.log"), filepath.Join(dir, "truth.tsv")
		out, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd := exec.Command(py, genlogScript, "--lines", "300000", "--seed", "7", "--truth", truthPath)
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("genlog.py: %v\n%s", err, stderr.String())
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	want := map[int]string{} // log line number -> category
	for i, row := range readLines(t, truthPath) {
		if i == 0 {
			continue
		}
		col := strings.Split(row, "\t")
		if len(col) < 7 || col[3] == "-" {
			continue
		}
		n, err := strconv.Atoi(col[6])
		if err != nil {
			t.Fatalf("%s:%d: line column %q", truthPath, i+1, col[6])
		}
		want[n] = col[3]
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := mustDefault(t)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n, checked, bad := 0, 0, 0
	for sc.Scan() {
		n++
		cat, ok := want[n]
		if !ok {
			continue
		}
		ev, err := parser.Parse(sc.Bytes())
		if err != nil {
			t.Fatalf("%s:%d: %v", logPath, n, err)
		}
		in, ok := InputFromEvent(&ev)
		if !ok {
			t.Errorf("%s:%d: not taken as a failure: %s", logPath, n, sc.Text())
			continue
		}
		checked++
		if d := e.Classify(in); d.Category != cat {
			bad++
			if bad <= 20 {
				t.Errorf("%s:%d: got %s (rule %q), want %s\n\t%s", logPath, n, d.Category, d.Rule, cat, in.Reason)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked != len(want) {
		t.Errorf("checked %d of %d truth rows", checked, len(want))
	}
	t.Logf("%d failure lines checked, %d disagree", checked, bad)
}
