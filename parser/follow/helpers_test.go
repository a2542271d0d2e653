package follow

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reader drives a Source in a test and keeps what it returned, checking
// on every chunk that positions are contiguous: each content continues
// exactly where its previous chunk ended, so a line read twice or skipped
// fails the test.
type reader struct {
	t      *testing.T
	src    Source
	dst    []byte
	lines  []string
	fps    []string // fingerprint of each line's content
	ends   []int64  // offset just past each line
	nums   []int64  // line number of each line
	notes  []Note
	noteAt []int // len(lines) when each note came
	inos   []uint64
	last   map[string][2]int64 // fingerprint → end offset, lines
	err    error
}

func newReader(t *testing.T, src Source, bufSize int) *reader {
	t.Helper()
	t.Cleanup(func() { src.Close() })
	return &reader{t: t, src: src, dst: make([]byte, bufSize), last: map[string][2]int64{}}
}

// step calls Next once with a timeout; it reports false on timeout or error
// (kept in r.err).
func (r *reader) step(timeout time.Duration) bool {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := r.src.Next(ctx, r.dst)
	if err != nil {
		r.err = err
		return false
	}
	r.add(&c)
	return true
}

func (r *reader) add(c *Chunk) {
	r.t.Helper()
	if c.Note != nil {
		r.notes = append(r.notes, *c.Note)
		r.noteAt = append(r.noteAt, len(r.lines))
		if c.Note.Kind == NoteDone || c.Note.Kind == NoteRotated {
			if fp := c.Pos.Fingerprint; fp != "" {
				if l, ok := r.last[fp]; ok && (l[0] != c.Pos.Offset || l[1] != c.Pos.Lines) {
					r.t.Errorf("%s note for %s at %d/%d, lines were read up to %d/%d", c.Note.Kind, c.Pos.File, c.Pos.Offset, c.Pos.Lines, l[0], l[1])
				}
			}
		}
		return
	}
	if len(c.Data) == 0 {
		r.t.Fatalf("empty chunk without a note: %+v", c.Pos)
	}
	fp := c.Pos.Fingerprint
	if l, ok := r.last[fp]; ok && fp != "" && (l[0] != c.Pos.Offset || l[1] != c.Pos.Lines) {
		r.t.Errorf("chunk of %s starts at %d (line %d), the previous one ended at %d (line %d)",
			c.Pos.File, c.Pos.Offset, c.Pos.Lines, l[0], l[1])
	}
	off, num := c.Pos.Offset, c.Pos.Lines
	data := c.Data
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var line []byte
		if i < 0 {
			line, data = data, nil
			off += int64(len(line)) + c.Skip
		} else {
			line, data = data[:i], data[i+1:]
			off += int64(i) + 1
		}
		num++
		r.lines = append(r.lines, string(line))
		r.fps = append(r.fps, fp)
		r.inos = append(r.inos, c.Pos.Ino)
		r.ends = append(r.ends, off)
		r.nums = append(r.nums, num)
	}
	if off != c.End() {
		r.t.Errorf("lines of the chunk end at %d, End() says %d", off, c.End())
	}
	if fp != "" {
		r.last[fp] = [2]int64{off, num}
	}
}

// until steps until cond holds, failing after timeout.
func (r *reader) until(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			r.t.Fatalf("timed out waiting for %s: %d lines, notes %v, last error %v", what, len(r.lines), r.noteKinds(), r.err)
		}
		if !r.step(min(left, 500*time.Millisecond)) && !errors.Is(r.err, context.DeadlineExceeded) {
			r.t.Fatalf("waiting for %s: %v", what, r.err)
		}
	}
}

// lineCount waits for n lines.
func (r *reader) lineCount(n int, timeout time.Duration) {
	r.t.Helper()
	r.until(fmt.Sprintf("%d lines", n), timeout, func() bool { return len(r.lines) >= n })
	if len(r.lines) > n {
		r.t.Fatalf("got %d lines, want %d: extra %q", len(r.lines), n, r.lines[n:])
	}
}

// drain reads what is there until Next has nothing for quiet.
func (r *reader) drain(quiet time.Duration) {
	r.t.Helper()
	for r.step(quiet) {
	}
	if !errors.Is(r.err, context.DeadlineExceeded) && !errors.Is(r.err, io.EOF) {
		r.t.Fatalf("drain: %v", r.err)
	}
}

func (r *reader) noteKinds() []string {
	var out []string
	for _, n := range r.notes {
		out = append(out, n.Kind.String())
	}
	return out
}

func (r *reader) hasNote(k NoteKind) bool {
	for _, n := range r.notes {
		if n.Kind == k {
			return true
		}
	}
	return false
}

func lines(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %05d", prefix, i))
	}
	return out
}

func text(ls []string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	writeFile(t, path+".gz", buf.String())
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func diffLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d lines, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("line %d: got %q, want %q", i+1, got[i], want[i])
			return
		}
	}
}

func tempLog(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "mail.log")
}
