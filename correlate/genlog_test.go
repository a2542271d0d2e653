package correlate_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
)

// genlog runs the team's log generator into dir and returns the log and
// truth paths. It skips the test when python3 or genlog.py is missing.
func genlog(t *testing.T, dir string, args ...string) (logPath, truthPath string) {
	t.Helper()
	return genlogB(t, dir, args...)
}

func genlogB(t testing.TB, dir string, args ...string) (logPath, truthPath string) {
	t.Helper()
	script := ""
	for _, p := range []string{
		filepath.Join("..", "..", "shared", "bench", "genlog.py"),
		filepath.Join("..", "testdata", "bench", "genlog.py"),
	} {
		if _, err := os.Stat(p); err == nil {
			script = p
			break
		}
	}
	if script == "" {
		t.Skip("genlog.py not found in ../shared/bench or testdata/bench")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	logPath = filepath.Join(dir, "gen.log")
	truthPath = filepath.Join(dir, "truth.tsv")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(py, append([]string{script, "--truth", truthPath}, args...)...)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("genlog %v: %v\n%s", args, err, stderr.String())
	}
	return logPath, truthPath
}

type truthRow struct {
	qid, rcpt, status, category, dsn, host string
	line                                   int64
}

func readTruth(t *testing.T, path string) []truthRow {
	t.Helper()
	var rows []truthRow
	for i, l := range readLines(t, path) {
		if i == 0 || l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 7 {
			t.Fatalf("%s:%d: %d fields", path, i+1, len(f))
		}
		n, err := strconv.ParseInt(f[6], 10, 64)
		if err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		rows = append(rows, truthRow{f[0], f[1], f[2], f[3], f[4], f[5], n})
	}
	return rows
}

// TestGenlogTruth checks every delivery outcome of a generated log
// against genlog's ground truth: same queue ID, recipient, status and dsn
// at the same line, expiries per still-pending recipient, nothing extra.
func TestGenlogTruth(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"short-ids", []string{"--lines", "50000", "--seed", "7"}},
		{"three-hosts", []string{"--lines", "30000", "--seed", "11", "--hosts", "3"}},
		{"long-ids-rfc3339", []string{"--lines", "30000", "--seed", "3", "--long-ids", "--format", "rfc3339"}},
		{"short-lifetime", []string{"--lines", "30000", "--seed", "5", "--queue-lifetime", "2h"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logPath, truthPath := genlog(t, t.TempDir(), tc.args...)
			truth := readTruth(t, truthPath)
			idx := memindex.New()
			ingestPaths(t, idx, correlate.IngestOptions{CheckpointLines: 7000}, logPath)

			type key struct {
				host string
				line int64
				rcpt string
			}
			type got struct {
				qid    string
				status correlate.Status
				cat    string
				dsn    string
			}
			attempts := map[key]got{}
			for _, m := range allMessages(t, idx, correlate.Query{}) {
				m.Deliveries(func(h *correlate.Message, r *correlate.Recipient, a *correlate.Attempt) {
					k := key{h.Host, a.Line, strings.ToLower(r.Address)}
					if _, dup := attempts[k]; dup {
						t.Errorf("two attempts for %v", k)
					}
					attempts[k] = got{h.QueueID, a.Status, a.Category, a.DSN}
				})
			}
			if len(attempts) != len(truth) {
				t.Errorf("index has %d delivery outcomes, truth %d", len(attempts), len(truth))
			}
			bad := 0
			for _, row := range truth {
				k := key{row.host, row.line, strings.ToLower(row.rcpt)}
				g, ok := attempts[k]
				var problem string
				switch {
				case !ok:
					problem = "missing"
				case g.qid != row.qid:
					problem = fmt.Sprintf("queue ID %s", g.qid)
				case g.status.String() != row.status:
					problem = fmt.Sprintf("status %s", g.status)
				case g.dsn != row.dsn:
					problem = fmt.Sprintf("dsn %s", g.dsn)
				case row.status == "expired" && g.cat != correlate.QueueExpired:
					problem = fmt.Sprintf("category %s", g.cat)
				}
				if problem != "" {
					bad++
					if bad <= 20 {
						t.Errorf("truth %s %s %s %s line %d: %s", row.host, row.qid, row.rcpt, row.status, row.line, problem)
					}
				}
			}
			if bad > 20 {
				t.Errorf("... %d rows differ in all", bad)
			}
		})
	}
}
