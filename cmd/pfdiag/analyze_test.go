package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
)

const realPostfixLog = "../../testdata/corpus/real-postfix/mail.log"

// runAt runs pfdiag with a fixed clock and returns stdout, stderr and the
// exit status.
func runAt(t *testing.T, now time.Time, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := newEnv(strings.NewReader(""), &stdout, &stderr)
	e.now = func() time.Time { return now }
	code := run(context.Background(), args, e)
	return stdout.String(), stderr.String(), code
}

// TestAnalyzeTee: analyze into an empty on-disk index builds the report
// from the records as they are written; a second analyze of the same file
// (nothing new to read) and pfdiag report read them back from the index.
// All three must give the same bytes, for every format and filter.
func TestAnalyzeTee(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	t.Setenv("TZ", "UTC")
	filters := [][]string{
		nil,
		{"--category", "greylisted"},
		{"--recipient-domain", "strict.test"},
		{"--sender", "mailtest@mail.test.local"},
		{"--sender", "<>"},
		{"--since", "2026-11-30T07:34:00Z", "--until", "2026-11-30T07:34:30Z"},
		{"--instance", "postfix-out"},
		{"--host", "mail", "--top", "3"},
	}
	// Every filter in JSON (which holds everything), every format unfiltered.
	type tc struct {
		format string
		filter []string
	}
	var cases []tc
	for _, f := range filters {
		cases = append(cases, tc{"json", f})
	}
	for _, format := range []string{"text", "markdown", "html"} {
		cases = append(cases, tc{format, nil})
	}
	for _, c := range cases {
		format, f := c.format, c.filter
		{
			name := format + "/" + strings.Join(f, " ")
			t.Run(name, func(t *testing.T) {
				idx := filepath.Join(t.TempDir(), "idx")
				args := append([]string{"analyze", "--index", idx, "--year", "2026", "-f", format}, f...)
				first, stderr, code := runAt(t, now, append(args, realPostfixLog)...)
				if code != 0 {
					t.Fatalf("analyze: exit %d: %s", code, stderr)
				}
				second, stderr, code := runAt(t, now, append(args, realPostfixLog)...)
				if code != 0 {
					t.Fatalf("second analyze: exit %d: %s", code, stderr)
				}
				rep, stderr, code := runAt(t, now, append([]string{"report", "--index", idx, "-f", format}, f...)...)
				if code != 0 {
					t.Fatalf("report: exit %d: %s", code, stderr)
				}
				if first != second || first != rep {
					t.Errorf("tee'd and read-back reports differ:\n%s", lineDiff(first, rep))
				}
				if len(first) < 500 {
					t.Errorf("report too short: %q", first)
				}
			})
		}
	}
}

// lineDiff shows the first differing line.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return "first:  " + al[i] + "\nsecond: " + bl[i]
		}
	}
	return "lengths differ"
}

func TestIndexEmpty(t *testing.T) {
	ctx := context.Background()
	idx := memindex.New()
	if empty, err := indexEmpty(ctx, idx, nil); err != nil || !empty {
		t.Fatalf("new index: empty=%v err=%v", empty, err)
	}
	h := correlate.NewHour(time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC))
	h.Traffic[correlate.HostKey{Host: "mail"}] = &correlate.Traffic{NoQueue: 1}
	if err := idx.Commit(ctx, &correlate.Checkpoint{Hours: []*correlate.Hour{h}}); err != nil {
		t.Fatal(err)
	}
	if empty, err := indexEmpty(ctx, idx, nil); err != nil || empty {
		t.Fatalf("index with an hour: empty=%v err=%v", empty, err)
	}
	if empty, _ := indexEmpty(ctx, memindex.New(), []correlate.Source{{Fingerprint: "x"}}); empty {
		t.Error("an index with sources is not empty")
	}
}

func TestProgressLine(t *testing.T) {
	tests := []struct {
		done, total, lines int64
		elapsed            time.Duration
		want               string
	}{
		{0, 154_399_984, 0, 0, "[........................]   0%  0.0/154.4 MB  ETA --:--"},
		{77_200_000, 154_400_000, 500_000, time.Second, "[############............]  50%  77.2/154.4 MB  500.0k lines/s  ETA 0:01"},
		{154_400_000, 154_400_000, 1_000_000, 2 * time.Second, "[########################] 100%  154.4/154.4 MB  500.0k lines/s  ETA 0:00"},
		{10_000_000, 100_000_000, 3_000_000, 2 * time.Second, "[##......................]  10%  10.0/100.0 MB  1.50M lines/s  ETA 0:18"},
		{5_000_000, -1, 1000, 4 * time.Second, "reading: 5.0 MB  250 lines/s"},
	}
	for _, tc := range tests {
		if got := progressLine(tc.done, tc.total, tc.lines, tc.elapsed); got != tc.want {
			t.Errorf("progressLine(%d, %d, %d, %v)\n got %q\nwant %q", tc.done, tc.total, tc.lines, tc.elapsed, got, tc.want)
		}
	}
}

func TestProgressState(t *testing.T) {
	var p progressState
	p.resume([]correlate.Source{{Fingerprint: "old", Lines: 1000, Offset: 100_000}})
	p.committed(correlate.Source{Fingerprint: "old", Lines: 1500, Offset: 150_000}) // resumed: 500 new lines
	p.committed(correlate.Source{Fingerprint: "new", Lines: 200, Offset: 20_000})
	p.committed(correlate.Source{Fingerprint: "new", Lines: 300, Offset: 30_000})
	if l, b := p.lines.Load(), p.bytes.Load(); l != 800 || b != 80_000 {
		t.Errorf("lines %d bytes %d, want 800 and 80000", l, b)
	}
	if v, ok := fdPos("pos:\t12345\nflags:\t0100000\n"); !ok || v != 12345 {
		t.Errorf("fdPos = %d %v", v, ok)
	}
}

// TestProgressBarDraws runs the bar against a plain file as its input:
// it draws on the writer while running and erases itself when stopped.
func TestProgressBarDraws(t *testing.T) {
	var out syncBuffer
	e := newEnv(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	inputs, err := openInputs(e, []string{realPostfixLog}, 2026)
	if err != nil {
		t.Fatal(err)
	}
	defer closeInputs(inputs)
	var st progressState
	bar := startProgress(&out, inputs, &st)
	st.committed(correlate.Source{Fingerprint: "f", Lines: 396, Offset: 1000})
	time.Sleep(600 * time.Millisecond)
	bar.stop()
	s := out.String()
	if !strings.Contains(s, "\r[") || !strings.Contains(s, "MB") || !strings.HasSuffix(s, "\r\x1b[K") {
		t.Errorf("progress output %q", s)
	}
	var nilBar *progressBar
	nilBar.stop() // --quiet or not a terminal: no bar, stop is a no-op
}

// syncBuffer is a bytes.Buffer safe for the bar's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUseColor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		name string
		env  map[string]string
		w    io.Writer
	}{
		{"a buffer", nil, &bytes.Buffer{}},
		{"a regular file", nil, f},
		{"NO_COLOR", map[string]string{"NO_COLOR": "1"}, os.Stdout},
		{"TERM=dumb", map[string]string{"TERM": "dumb"}, os.Stdout},
	} {
		e := newEnv(nil, c.w, c.w)
		e.getenv = func(k string) string { return c.env[k] }
		if useColor(e, c.w) {
			t.Errorf("%s: colour on", c.name)
		}
	}
}
