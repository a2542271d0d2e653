package reports

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

// genlogScript is the shared synthetic log generator, beside the
// repository (CI clones it there).
const genlogScript = "../../shared/bench/genlog.py"

// The small genlog sample of the golden and truth tests: generated at
// test time (deterministic: same arguments, same bytes), never committed.
var genlogArgs = []string{"--lines", "20000", "--seed", "3"}

type genSample struct {
	log, truth string
	err        error
}

var (
	genOnce sync.Once
	gen     genSample
)

// genlog returns the paths of the generated sample and its truth file,
// skipping the test when the generator cannot run here.
//
// PFDIAG_GENLOG and PFDIAG_GENLOG_TRUTH name another generated log and its
// truth file (e.g. the 1M-line benchmark sample) for the truth test.
func genlog(t testing.TB) (log, truth string) {
	t.Helper()
	if l, tr := os.Getenv("PFDIAG_GENLOG"), os.Getenv("PFDIAG_GENLOG_TRUTH"); l != "" && tr != "" {
		return l, tr
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed: cannot run genlog.py")
	}
	if _, err := os.Stat(genlogScript); err != nil {
		t.Skipf("%s not found (shared/ is not beside the repository)", genlogScript)
	}
	genOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pfdiag-reports-genlog")
		if err != nil {
			gen.err = err
			return
		}
		gen.log, gen.truth = filepath.Join(dir, "gen.log"), filepath.Join(dir, "truth.tsv")
		out, err := os.Create(gen.log)
		if err != nil {
			gen.err = err
			return
		}
		defer out.Close()
		cmd := exec.Command("python3", append([]string{genlogScript, "--truth", gen.truth}, genlogArgs...)...)
		var stderr strings.Builder
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			gen.err = fmt.Errorf("genlog.py: %v %s", err, stderr.String())
		}
	})
	if gen.err != nil {
		t.Fatal(gen.err)
	}
	return gen.log, gen.truth
}

// readTruth counts the truth file's rows by status and by
// status/category.
func readTruth(t testing.TB, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]int64{}
	sc := bufio.NewScanner(f)
	for n := 0; sc.Scan(); n++ {
		if n == 0 {
			continue
		}
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 4 {
			t.Fatalf("%s:%d: %d columns", path, n+1, len(cols))
		}
		want[cols[2]]++
		if cols[3] != "-" {
			want[cols[2]+"/"+cols[3]]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestGenlogTruth checks the report's counts per status and per
// status/category against genlog's ground truth.
func TestGenlogTruth(t *testing.T) {
	log, truth := genlog(t)
	eng := engine(t)
	idx := ingest(t, eng, 2024, log)
	r := fromIndex(t, idx, Options{Rules: eng, Now: testNow})
	want := readTruth(t, truth)
	got := map[string]int64{}
	d := r.Summary.Deliveries
	for k, v := range map[string]int64{"sent": d.Sent, "deferred": d.Deferred, "bounced": d.Bounced, "expired": d.Expired} {
		if v != 0 {
			got[k] = v
		}
	}
	for _, dg := range r.Diagnoses {
		for st, v := range map[string]int64{"deferred": dg.Deferred, "bounced": dg.Bounced, "expired": dg.Expired} {
			if v != 0 {
				got[st+"/"+dg.Category] = v
			}
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: report %d, truth %d", k, got[k], w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: report %d, truth 0", k, g)
		}
	}
}

// TestCountsMatchIndexAggregates: the report counts messages and
// deliveries from the message records, the index also keeps per-hour
// totals; both must agree.
func TestCountsMatchIndexAggregates(t *testing.T) {
	eng := engine(t)
	cases := map[string]func(t *testing.T) (string, int){
		"real-postfix": func(*testing.T) (string, int) { return "../testdata/corpus/real-postfix/mail.log", 2025 },
		"genlog":       func(t *testing.T) (string, int) { l, _ := genlog(t); return l, 2024 },
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			path, year := src(t)
			idx := ingest(t, eng, year, path)
			r := fromIndex(t, idx, Options{Rules: eng, Now: testNow})
			var tr correlate.Traffic
			err := idx.Hours(context.Background(), time.Time{}, time.Time{}, func(h *correlate.Hour) error {
				t := h.TotalTraffic()
				tr.Received += t.Received
				tr.Sent += t.Sent
				tr.Deferred += t.Deferred
				tr.Bounced += t.Bounced
				tr.Expired += t.Expired
				tr.NoQueue += t.NoQueue
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			s := r.Summary
			got := [6]int64{s.Messages, s.Deliveries.Sent, s.Deliveries.Deferred, s.Deliveries.Bounced, s.Deliveries.Expired, s.NoQueueRejects}
			want := [6]int64{tr.Received, tr.Sent, tr.Deferred, tr.Bounced, tr.Expired, tr.NoQueue}
			if got != want {
				t.Errorf("report (received, sent, deferred, bounced, expired, noqueue) = %v, index hours say %v", got, want)
			}
		})
	}
}
