package main

// TestMalformedInput runs the real pfdiag binary on the malformed-input
// corpus (testdata/malformed, see its README.md for the documented exit
// statuses): never a crash, the damage counted and reported, and the good
// lines around the damage — and the other inputs of the same run — still
// counted.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// relSpan is an inclusive [min, max] count.
type relSpan [2]int

func (s relSpan) has(n int) bool { return n >= s[0] && n <= s[1] }

// relCase is one input and what pfdiag must make of it.
type relCase struct {
	name  string
	files []string                              // under testdata/malformed
	gen   func(t *testing.T, dir string) string // or a generated file
	code  int                                   // documented exit status
	// Delivery lines per status, and damaged (malformed + unknown) lines.
	sent, bounced, deferred, damaged relSpan
	onlyJunk                         bool // no event may be a Postfix line pfdiag understood
	readErrors                       int  // inputs that cannot be read to their end
	// unterminated is the status of a last delivery line without a newline:
	// parse counts it; ingest and analyze may hold it back until its newline
	// arrives (it may be a line Postfix is still writing).
	unterminated string
}

// relGoodBlock is testdata/malformed/good.log: one sent, one bounced, one
// deferred delivery line (make.py's good block).
func relGoodBlock(t *testing.T) []byte {
	b, err := os.ReadFile("../../testdata/malformed/good.log")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func relCases() []relCase {
	one := relSpan{1, 1}
	none := relSpan{0, 0}
	return []relCase{
		{name: "good", files: []string{"good.log"}, sent: one, bounced: one, deferred: one, damaged: none},
		{name: "empty", files: []string{"empty.log"}, sent: none, bounced: none, deferred: none, damaged: none},
		// The NUL-prefixed sent line and the NUL inside a reason may or may
		// not be recovered; the all-NUL line is damage.
		{name: "nul-bytes", files: []string{"nul-bytes.log"}, sent: relSpan{2, 3}, bounced: relSpan{2, 3},
			deferred: relSpan{2, 2}, damaged: relSpan{1, 3}},
		// Bytes are bytes: delivery lines with invalid UTF-8 still count; the
		// header-less high bytes and the unknown Postfix line are damage.
		{name: "invalid-utf8", files: []string{"invalid-utf8.log"}, sent: relSpan{3, 3}, bounced: relSpan{3, 3},
			deferred: relSpan{2, 2}, damaged: relSpan{2, 2}},
		// The last line has no newline and still counts.
		{name: "truncated", files: []string{"truncated.log"}, sent: relSpan{3, 3}, bounced: relSpan{2, 3},
			deferred: relSpan{2, 2}, damaged: relSpan{3, 6}, unterminated: "sent"},
		{name: "crlf", files: []string{"crlf.log"}, sent: relSpan{2, 2}, bounced: relSpan{2, 2},
			deferred: relSpan{2, 2}, damaged: none},
		{name: "control-chars", files: []string{"control-chars.log"}, sent: relSpan{2, 2}, bounced: relSpan{2, 2},
			deferred: relSpan{2, 2}, damaged: relSpan{2, 2}},
		{name: "not-a-log", files: []string{"not-a-log.txt"}, sent: none, bounced: none, deferred: none,
			damaged: relSpan{0, 7}, onlyJunk: true},
		{name: "binary", files: []string{"binary.bin"}, sent: none, bounced: none, deferred: none,
			damaged: relSpan{0, 1 << 20}, onlyJunk: true},
		// 1 MiB lines (one that starts like a delivery line, one without a
		// header, one at the end without a newline) between good blocks.
		{name: "long-lines", gen: relLongLines, sent: relSpan{3, 3}, bounced: relSpan{3, 3},
			deferred: relSpan{3, 3}, damaged: relSpan{3, 3}},
		// A gzip file cut in the middle: what could be decompressed is
		// counted (checked below against the standard library), then one
		// error line and exit status 1.
		{name: "cut-gzip", files: []string{"cut.log.gz"}, code: 1, readErrors: 1,
			sent: relSpan{1, 100}, bounced: relSpan{1, 100}, deferred: relSpan{1, 100}, damaged: none},
		// …and the input after it is still read in full.
		{name: "cut-gzip-then-good", files: []string{"cut.log.gz", "good.log"}, code: 1, readErrors: 1,
			sent: relSpan{2, 101}, bounced: relSpan{2, 101}, deferred: relSpan{2, 101}, damaged: none},
	}
}

// relLongLines writes a file with three 1 MiB lines between good blocks.
func relLongLines(t *testing.T, dir string) string {
	good := relGoodBlock(t)
	mib := 1 << 20
	var b bytes.Buffer
	b.Write(good)
	b.WriteString("Nov 30 07:33:55 mail postfix/smtp[16961]: 8FFDEC2174: to=<")
	b.Write(bytes.Repeat([]byte("a"), mib))
	b.WriteString("@accept.test>, relay=none, delay=0, delays=0/0/0/0, dsn=2.0.0, status=sent (250 2.0.0 Ok)\n")
	b.Write(good)
	b.Write(bytes.Repeat([]byte("x"), mib))
	b.WriteByte('\n')
	b.Write(good)
	b.Write(bytes.Repeat([]byte("Nov 30 07:33:55 "), mib/16))
	path := filepath.Join(dir, "long-lines.log")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// relLines counts the lines of an uncompressed input: a last line without
// a newline is a line.
func relLines(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

// relGunzipLines counts the complete lines the standard library can
// decompress from a damaged gzip file.
func relGunzipLines(t *testing.T, path string) int {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%s: want a truncated gzip file, got read error %v", path, err)
	}
	return bytes.Count(data, []byte("\n"))
}

func TestMalformedInput(t *testing.T) {
	bin := e2eBuild(t)
	cmds := e2eCommands(t, bin)
	dir := t.TempDir()
	for _, c := range relCases() {
		t.Run(c.name, func(t *testing.T) {
			var paths []string
			for _, f := range c.files {
				paths = append(paths, filepath.Join("..", "..", "testdata", "malformed", f))
			}
			if c.gen != nil {
				paths = append(paths, c.gen(t, dir))
			}
			t.Run("parse", func(t *testing.T) {
				e2eNeed(t, cmds, "parse")
				relCheckParse(t, bin, c, paths)
			})
			t.Run("ingest", func(t *testing.T) {
				e2eNeed(t, cmds, "ingest")
				res := e2eExec(t, 2*time.Minute, nil, bin, append([]string{"ingest", "--index", t.TempDir()}, paths...)...)
				relCheckExit(t, "ingest", c, paths, res)
			})
			t.Run("analyze", func(t *testing.T) {
				e2eNeed(t, cmds, "analyze")
				relCheckAnalyze(t, bin, c, paths)
			})
		})
	}
}

// relCheckExit: no crash, the documented exit status, and one stderr line
// per input that could not be read to its end, naming it.
func relCheckExit(t *testing.T, cmd string, c relCase, paths []string, res *e2eResult) {
	t.Helper()
	if res.crashed() {
		t.Fatalf("pfdiag %s crashed (exit %d %s): %s", cmd, res.code, res.signal, e2eFirstLines(res.stderr, 20))
	}
	if res.code != c.code {
		t.Errorf("pfdiag %s: exit status %d, want %d; stderr: %s", cmd, res.code, c.code, e2eFirstLines(res.stderr, 5))
	}
	errLines := strings.Split(strings.TrimRight(string(res.stderr), "\n"), "\n")
	if len(res.stderr) == 0 {
		errLines = nil
	}
	if len(errLines) != c.readErrors {
		t.Errorf("pfdiag %s: %d stderr lines, want %d (one per damaged input): %q", cmd, len(errLines), c.readErrors, errLines)
	}
	for _, l := range errLines {
		named := false
		for _, p := range paths {
			named = named || strings.Contains(l, filepath.Base(p))
		}
		if !strings.HasPrefix(l, "pfdiag "+cmd+": ") || !named {
			t.Errorf("pfdiag %s: error line %q does not start with %q or name the input", cmd, l, "pfdiag "+cmd+": ")
		}
	}
}

// relCounts is what the JSON lines of `pfdiag parse` say about an input.
type relCounts struct {
	events, damaged int
	byStatus        map[string]int
	kinds           map[string]int
}

func relCheckParse(t *testing.T, bin string, c relCase, paths []string) {
	// JSON lines: one valid object per input line.
	res := e2eExec(t, 2*time.Minute, nil, bin, append([]string{"parse"}, paths...)...)
	relCheckExit(t, "parse", c, paths, res)
	got := relCounts{byStatus: map[string]int{}, kinds: map[string]int{}}
	for i, line := range bytes.Split(bytes.TrimSuffix(res.stdout, []byte("\n")), []byte("\n")) {
		if len(line) == 0 && len(res.stdout) == 0 {
			break
		}
		if !json.Valid(line) {
			t.Fatalf("output line %d is not valid JSON: %.200q", i+1, line)
		}
		var ev struct{ Kind, Status, Reason, To, Relay string }
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("output line %d: %v", i+1, err)
		}
		got.events++
		got.kinds[ev.Kind]++
		switch ev.Kind {
		case "delivery":
			got.byStatus[ev.Status]++
		case "malformed", "unknown":
			got.damaged++
		}
		if c.onlyJunk && ev.Kind != "malformed" && ev.Kind != "unknown" && ev.Kind != "foreign" {
			t.Errorf("output line %d: kind %q from an input that is not a Postfix log: %.200s", i+1, ev.Kind, line)
		}
		if strings.ContainsAny(ev.Status+ev.Reason+ev.To+ev.Relay, "\r") {
			t.Errorf("output line %d: a CR stayed in a field: %.200s", i+1, line)
		}
	}
	for status, span := range map[string]relSpan{"sent": c.sent, "bounced": c.bounced, "deferred": c.deferred} {
		if !span.has(got.byStatus[status]) {
			t.Errorf("%d delivery lines with status=%s, want %d..%d", got.byStatus[status], status, span[0], span[1])
		}
	}
	if !c.damaged.has(got.damaged) {
		t.Errorf("%d malformed/unknown lines, want %d..%d (kinds: %v)", got.damaged, c.damaged[0], c.damaged[1], got.kinds)
	}
	// One event per line: for plain inputs the line count is known; for a
	// cut gzip file, at least nine tenths of what the standard library can
	// still decompress.
	want := 0
	for _, p := range paths {
		if strings.HasSuffix(p, ".gz") {
			n := relGunzipLines(t, p)
			want += n
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want += relLines(data)
	}
	if c.readErrors == 0 && got.events != want {
		t.Errorf("%d events for %d input lines", got.events, want)
	}
	if c.readErrors > 0 && (got.events < want*9/10 || got.events > want+1) {
		t.Errorf("%d events; the readable part of the input has %d complete lines", got.events, want)
	}

	// --stats --format json counts the same, and reports the damage.
	res = e2eExec(t, 2*time.Minute, nil, bin, append([]string{"parse", "--stats", "--format", "json"}, paths...)...)
	relCheckExit(t, "parse", c, paths, res)
	var st struct {
		Lines      int            `json:"lines"`
		Kinds      map[string]int `json:"kinds"`
		Samples    map[string][]string
		ReadErrors []string `json:"read_errors"`
	}
	if err := json.Unmarshal(res.stdout, &st); err != nil {
		t.Fatalf("parse --stats --format json: %v\n%s", err, e2eFirstLines(res.stdout, 10))
	}
	if st.Lines != got.events {
		t.Errorf("--stats: lines %d, but parse printed %d events", st.Lines, got.events)
	}
	if n := st.Kinds["malformed"] + st.Kinds["unknown"]; n != got.damaged {
		t.Errorf("--stats: %d malformed+unknown, parse printed %d", n, got.damaged)
	}
	if got.damaged > 0 && len(st.Samples) == 0 {
		t.Errorf("--stats: %d damaged lines but no samples", got.damaged)
	}
	if len(st.ReadErrors) != c.readErrors {
		t.Errorf("--stats: read_errors %q, want %d", st.ReadErrors, c.readErrors)
	}

	// The text report reaches a terminal: no control characters from the
	// input may pass through.
	res = e2eExec(t, 2*time.Minute, nil, bin, append([]string{"parse", "--stats"}, paths...)...)
	relCheckExit(t, "parse", c, paths, res)
	for i, r := range string(res.stdout) {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Errorf("parse --stats text output has control character %U at byte %d", r, i)
			break
		}
	}
}

// relCheckAnalyze: analyze of the same input exits as documented and, when
// it reads everything, counts the delivery lines parse counts (issue 5's
// JSON interface: summary.deliveries).
func relCheckAnalyze(t *testing.T, bin string, c relCase, paths []string) {
	args := append([]string{"analyze", "--index", t.TempDir(), "--format", "json"}, paths...)
	res := e2eExec(t, 2*time.Minute, nil, bin, args...)
	if res.crashed() {
		t.Fatalf("pfdiag analyze crashed (exit %d %s): %s", res.code, res.signal, e2eFirstLines(res.stderr, 20))
	}
	if res.code != c.code {
		t.Errorf("pfdiag analyze: exit status %d, want %d; stderr: %s", res.code, c.code, e2eFirstLines(res.stderr, 5))
	}
	if c.code != 0 {
		return
	}
	var rep struct {
		Summary struct {
			Deliveries map[string]int `json:"deliveries"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(res.stdout, &rep); err != nil {
		t.Fatalf("analyze JSON: %v", err)
	}
	for status, span := range map[string]relSpan{"sent": c.sent, "bounced": c.bounced, "deferred": c.deferred} {
		got := rep.Summary.Deliveries[status]
		if status == c.unterminated && got == span[0]-1 {
			t.Logf("analyze held back the unterminated last line (status=%s)", status)
			continue
		}
		if !span.has(got) {
			t.Errorf("analyze: summary.deliveries.%s = %d, want %d..%d", status, got, span[0], span[1])
		}
	}
}

// relTotals are the index totals `pfdiag ingest --json` prints.
type relTotals struct {
	Lines      int64            `json:"lines"`
	Received   int64            `json:"received"`
	Deliveries map[string]int64 `json:"deliveries"`
	Unparsed   int64            `json:"unparsed"`
	Rejects    int64            `json:"noqueue_rejects"`
}

// relIngest runs pfdiag ingest --json on the index with the inputs.
func relIngest(t *testing.T, bin, idx string, stdin []byte, inputs ...string) *e2eResult {
	t.Helper()
	return e2eExec(t, 2*time.Minute, stdin, bin, append([]string{"ingest", "--json", "--index", idx}, inputs...)...)
}

// relIndexTotals reads the totals of an index by ingesting an empty file,
// which adds nothing: it also proves the index still opens.
func relIndexTotals(t *testing.T, bin, idx string) relTotals {
	t.Helper()
	res := relIngest(t, bin, idx, nil, "../../testdata/malformed/empty.log")
	if res.code != 0 || res.crashed() {
		t.Fatalf("the index no longer opens: pfdiag ingest: exit %d: %s", res.code, e2eFirstLines(res.stderr, 8))
	}
	var sum struct {
		Index relTotals `json:"index"`
	}
	if err := json.Unmarshal(res.stdout, &sum); err != nil {
		t.Fatalf("ingest --json: %v: %s", err, res.stdout)
	}
	return sum.Index
}

// relOneError: the failed run did not crash, exited 1, and printed one
// error line matching want.
func relOneError(t *testing.T, res *e2eResult, want *regexp.Regexp) {
	t.Helper()
	if res.crashed() {
		t.Fatalf("pfdiag ingest crashed (exit %d %s):\n%s", res.code, res.signal, e2eFirstLines(res.stderr, 12))
	}
	var lines []string
	if len(res.stderr) > 0 {
		lines = strings.Split(strings.TrimRight(string(res.stderr), "\n"), "\n")
	}
	if res.code != 1 || len(lines) != 1 {
		t.Fatalf("pfdiag ingest: exit %d with %d stderr lines, want exit 1 and one error line:\n%s",
			res.code, len(lines), e2eFirstLines(res.stderr, 8))
	}
	if !strings.HasPrefix(lines[0], "pfdiag ingest: ") || !want.MatchString(lines[0]) {
		t.Errorf("error line %q does not say %v", lines[0], want)
	}
}

// relBigLog writes copies of the real-postfix log (54 KB each) with
// distinct queue IDs, so that they correlate into separate messages.
func relBigLog(t *testing.T, dir string, copies int) string {
	src, err := os.ReadFile("../../testdata/corpus/real-postfix/mail.log")
	if err != nil {
		t.Fatal(err)
	}
	qid := regexp.MustCompile(`\b[0-9A-F]{10}\b`)
	var b bytes.Buffer
	for i := 0; i < copies; i++ {
		prefix := []byte(strings.ToUpper(strconv.FormatInt(int64(0x100+i), 16)))
		b.Write(qid.ReplaceAllFunc(src, func(id []byte) []byte {
			return append(append([]byte(nil), prefix...), id[len(prefix):]...)
		}))
	}
	path := filepath.Join(dir, "big.log")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestIndexDirFailures: an index directory that is read-only, on a full
// filesystem, or locked by another pfdiag gives one clear error, and the
// index stays intact: it still opens with the same totals, and once the
// obstacle is gone the same ingest gives what one clean run gives.
func TestIndexDirFailures(t *testing.T) {
	bin := e2eBuild(t)
	e2eNeed(t, e2eCommands(t, bin), "ingest")
	good := "../../testdata/malformed/good.log"
	second := "../../testdata/corpus/real-postfix/mail.log"

	reference := func(t *testing.T, inputs ...string) relTotals {
		idx := t.TempDir()
		for _, in := range inputs {
			if res := relIngest(t, bin, idx, nil, in); res.code != 0 {
				t.Fatalf("reference ingest of %s: exit %d: %s", in, res.code, e2eFirstLines(res.stderr, 5))
			}
		}
		return relIndexTotals(t, bin, idx)
	}
	same := func(t *testing.T, what string, got, want relTotals) {
		t.Helper()
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if !bytes.Equal(g, w) {
			t.Errorf("%s: index totals %s, want %s", what, g, w)
		}
	}

	t.Run("read-only", func(t *testing.T) {
		idx := filepath.Join(t.TempDir(), "idx")
		if res := relIngest(t, bin, idx, nil, good); res.code != 0 {
			t.Fatalf("first ingest: exit %d: %s", res.code, res.stderr)
		}
		before := relIndexTotals(t, bin, idx)
		// Root ignores permission bits: make it read-only with a
		// read-only bind mount instead.
		if os.Geteuid() == 0 {
			if out, err := exec.Command("mount", "--bind", idx, idx).CombinedOutput(); err != nil {
				t.Skipf("cannot bind-mount the index read-only: %v %s", err, out)
			}
			t.Cleanup(func() { exec.Command("umount", idx).Run() })
			if out, err := exec.Command("mount", "-o", "remount,ro,bind", idx).CombinedOutput(); err != nil {
				t.Fatalf("remount read-only: %v %s", err, out)
			}
		} else {
			if err := os.Chmod(idx, 0o555); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(idx, 0o755) })
		}
		res := relIngest(t, bin, idx, nil, second)
		relOneError(t, res, regexp.MustCompile(`(?i)`+regexp.QuoteMeta(idx)+`.*(read-only|permission denied)`))
		if os.Geteuid() == 0 {
			if out, err := exec.Command("umount", idx).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v %s", err, out)
			}
		} else {
			os.Chmod(idx, 0o755)
		}
		same(t, "after the failed ingest", relIndexTotals(t, bin, idx), before)
		if res := relIngest(t, bin, idx, nil, second); res.code != 0 {
			t.Fatalf("ingest once writable again: exit %d: %s", res.code, res.stderr)
		}
		same(t, "after the retry", relIndexTotals(t, bin, idx), reference(t, good, second))
	})

	t.Run("locked", func(t *testing.T) {
		idx := filepath.Join(t.TempDir(), "idx")
		goodBytes, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		// The first writer reads standard input, which stays open: it holds
		// the index until its input ends.
		first := exec.Command(bin, "ingest", "--index", idx, "-")
		stdin, err := first.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var firstErr bytes.Buffer
		first.Stderr = &firstErr
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { first.Process.Kill(); first.Wait() })
		if _, err := stdin.Write(goodBytes); err != nil {
			t.Fatal(err)
		}
		for i := 0; ; i++ {
			if _, err := os.Stat(filepath.Join(idx, "LOCK")); err == nil {
				break
			}
			if i == 100 {
				t.Fatal("the first pfdiag ingest did not open the index within 10 s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		res := relIngest(t, bin, idx, nil, second)
		relOneError(t, res, regexp.MustCompile(`(?i)in use|locked`))
		stdin.Close()
		if err := first.Wait(); err != nil {
			t.Fatalf("the first pfdiag ingest: %v: %s", err, firstErr.String())
		}
		same(t, "after the refused second writer", relIndexTotals(t, bin, idx), reference(t, good))
		if res := relIngest(t, bin, idx, nil, second); res.code != 0 {
			t.Fatalf("ingest once the lock is free: exit %d: %s", res.code, res.stderr)
		}
		same(t, "after the retry", relIndexTotals(t, bin, idx), reference(t, good, second))
	})

	t.Run("full", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("not root: cannot mount a small tmpfs to fill")
		}
		dir := t.TempDir()
		mnt := filepath.Join(dir, "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "pfdiag-test", mnt).CombinedOutput(); err != nil {
			t.Skipf("cannot mount a tmpfs: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", mnt).Run() })
		idx := filepath.Join(mnt, "idx")
		if res := relIngest(t, bin, idx, nil, good); res.code != 0 {
			t.Fatalf("first ingest: exit %d: %s", res.code, e2eFirstLines(res.stderr, 8))
		}
		before := relIndexTotals(t, bin, idx)
		big := relBigLog(t, dir, 400) // 21 MB of log: far more index than 8 MB
		res := relIngest(t, bin, idx, nil, big)
		if res.code == 0 {
			t.Fatal("the ingest fitted in the 8 MB tmpfs: the test did not fill the filesystem")
		}
		relOneError(t, res, regexp.MustCompile(`(?i)no space left|disk full|not enough space`))
		got := relIndexTotals(t, bin, idx)
		if got.Lines < before.Lines {
			t.Errorf("after ENOSPC the index has %d lines, it had %d", got.Lines, before.Lines)
		}
		// Room again: the same ingest completes, with one clean run's totals.
		if out, err := exec.Command("mount", "-o", "remount,size=512m", mnt).CombinedOutput(); err != nil {
			t.Fatalf("remount: %v %s", err, out)
		}
		if res := relIngest(t, bin, idx, nil, big); res.code != 0 {
			t.Fatalf("ingest with room again: exit %d: %s", res.code, e2eFirstLines(res.stderr, 8))
		}
		same(t, "after the retry", relIndexTotals(t, bin, idx), reference(t, good, big))
	})
}
