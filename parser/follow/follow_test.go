package follow

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/parser/input"
)

const wait = 10 * time.Second

var modes = []struct {
	name string
	poll bool
}{{"inotify", false}, {"poll", true}}

func openFollower(t *testing.T, path string, opts Options) *Follower {
	t.Helper()
	f, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRotatedName(t *testing.T) {
	tests := []struct {
		name string
		num  int
		date string
		ok   bool
	}{
		{"mail.log.1", 1, "", true},
		{"mail.log.12.gz", 12, "", true},
		{"mail.log.3.bz2", 3, "", true},
		{"mail.log.2.zst", 2, "", true},
		{"mail.log-20261130", 0, "20261130", true},
		{"mail.log-20261130.gz", 0, "20261130", true},
		{"mail.log-20261130-1764480000.xz", 0, "20261130-1764480000", true},
		{"mail.log", 0, "", false},
		{"mail.log.", 0, "", false},
		{"mail.logx", 0, "", false},
		{"mail.log.old", 0, "", false},
		{"mail.log.-1", 0, "", false},
		{"mail.log.+1", 0, "", false},
		{"mail.log-abc", 0, "", false},
		{"mail.log-2026", 0, "", false},
		{"mail.log.1.tmp", 0, "", false},
		{"mail.err", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			num, date, ok := rotatedName("mail.log", tt.name)
			if num != tt.num || date != tt.date || ok != tt.ok {
				t.Errorf("got %d %q %v, want %d %q %v", num, date, ok, tt.num, tt.date, tt.ok)
			}
		})
	}
}

func TestRotatedSet(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"mail.log", "mail.log.1", "mail.log.1.gz", "mail.log.2.gz", "mail.log.10.gz", "mail.log.3", "mail.err.1", "mail.log.old"} {
		writeFile(t, filepath.Join(dir, n), "x\n")
	}
	set, err := rotatedSet(filepath.Join(dir, "mail.log"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range set {
		got = append(got, filepath.Base(r.path))
	}
	want := "mail.log.10.gz mail.log.3 mail.log.2.gz mail.log.1"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// TestFingerprintMatchesInput holds the fingerprint rule to parser/input's:
// the index stores input's fingerprints, the follower computes its own.
func TestFingerprintMatchesInput(t *testing.T) {
	tests := map[string]string{
		"normal":       "Nov 30 07:10:02 mail postfix/smtp[1]: A: to=<a@b>\nsecond\n",
		"no newline":   "Nov 30 07:10:02 mail postfix/smtp[1]: incomplete",
		"empty line":   "\nsecond\n",
		"long":         strings.Repeat("x", 5000) + "\n",
		"exact 4096":   strings.Repeat("y", 4096) + "\n",
		"4095+newline": strings.Repeat("z", 4095) + "\nnext\n",
		"crlf":         "line\r\nnext\n",
	}
	dir := t.TempDir()
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			writeFile(t, p, content)
			f, err := input.Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := f.Fingerprint()
			f.Close()
			b := []byte(content)
			if got := fingerprint(b[:min(len(b), headLen)]); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestFollowAppend(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			writeFile(t, log, text(lines("a", 0, 3)))
			r := newReader(t, openFollower(t, log, Options{Poll: m.poll}), 1<<16)
			r.lineCount(3, wait)
			r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
			appendFile(t, log, "a 00003\npartial")
			r.lineCount(4, wait)
			appendFile(t, log, " line\n")
			r.lineCount(5, wait)
			diffLines(t, r.lines, append(lines("a", 0, 4), "partial line"))
			if r.ends[4] != int64(len(text(lines("a", 0, 4)))+len("partial line\n")) {
				t.Errorf("end of the last line %d", r.ends[4])
			}
			if r.nums[4] != 5 {
				t.Errorf("line number %d, want 5", r.nums[4])
			}
			if r.fps[0] == "" || r.fps[0] != r.fps[4] {
				t.Errorf("fingerprints %q", r.fps)
			}
		})
	}
}

func TestFollowWaitsForFile(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			r := newReader(t, openFollower(t, log, Options{Poll: m.poll}), 1<<16)
			r.until("waiting note", wait, func() bool { return r.hasNote(NoteWaiting) })
			writeFile(t, log, text(lines("b", 0, 2)))
			r.lineCount(2, wait)
		})
	}
}

// A rename while the writer keeps writing to the old file (as syslog does
// until postrotate tells it to reopen): every line, in order.
func TestFollowRename(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			w, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			w.WriteString(text(lines("c", 0, 5)))
			r := newReader(t, openFollower(t, log, Options{Poll: m.poll, Drain: 200 * time.Millisecond}), 1<<16)
			r.lineCount(5, wait)
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			w.WriteString(text(lines("c", 5, 8))) // still into the old file
			r.lineCount(8, wait)
			writeFile(t, log, "") // logrotate's create
			w.WriteString("c 00008\n")
			w.Close()
			w, _ = os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0o644) // the HUP
			w.WriteString(text(lines("c", 9, 12)))
			r.lineCount(12, wait)
			diffLines(t, r.lines, lines("c", 0, 12))
			r.until("old file closed", wait, func() bool { return r.hasNote(NoteDone) })
			if !r.hasNote(NoteRotated) {
				t.Errorf("no rotated note: %v", r.noteKinds())
			}
			if r.fps[0] == r.fps[11] {
				t.Error("old and new file have the same fingerprint")
			}
			if r.nums[11] != 3 {
				t.Errorf("line number in the new file %d, want 3", r.nums[11])
			}
		})
	}
}

func TestFollowDeleteRecreate(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			writeFile(t, log, text(lines("d", 0, 3)))
			r := newReader(t, openFollower(t, log, Options{Poll: m.poll, Drain: 100 * time.Millisecond}), 1<<16)
			r.lineCount(3, wait)
			os.Remove(log)
			r.until("rotated note", wait, func() bool { return r.hasNote(NoteRotated) })
			writeFile(t, log, text(lines("d", 3, 6)))
			r.lineCount(6, wait)
			diffLines(t, r.lines, lines("d", 0, 6))
		})
	}
}

// copytruncate, and the file written again past the old offset before the
// follower looks: the truncation is seen from the first line, the unread
// part comes from the copy, found by fingerprint.
func TestFollowCopyTruncate(t *testing.T) {
	for _, compress := range []bool{false, true} {
		for _, m := range modes {
			name := m.name
			if compress {
				name += "/compressed-copy"
			}
			t.Run(name, func(t *testing.T) {
				log := tempLog(t)
				writeFile(t, log, text(lines("e", 0, 4)))
				f := openFollower(t, log, Options{Poll: m.poll})
				r := newReader(t, f, 1<<16)
				r.lineCount(4, wait)
				r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
				// Lines the follower has not seen, then the copy and the
				// truncation, then more lines than before.
				appendFile(t, log, text(lines("e", 4, 6)))
				b, _ := os.ReadFile(log)
				writeFile(t, log+".1", string(b))
				if compress {
					gzipFile(t, log+".1")
				}
				if err := os.Truncate(log, 0); err != nil {
					t.Fatal(err)
				}
				appendFile(t, log, text(lines("f", 0, 20)))
				r.lineCount(26, wait)
				want := append(lines("e", 0, 6), lines("f", 0, 20)...)
				diffLines(t, r.lines, want)
				if !r.hasNote(NoteTruncated) || !r.hasNote(NoteRest) {
					t.Errorf("notes %v", r.noteKinds())
				}
			})
		}
	}
}

func TestFollowCopyMissing(t *testing.T) {
	log := tempLog(t)
	writeFile(t, log, text(lines("g", 0, 2)))
	r := newReader(t, openFollower(t, log, Options{CopyWait: 50 * time.Millisecond}), 1<<16)
	r.lineCount(2, wait)
	if err := os.Truncate(log, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, log, text(lines("h", 0, 5)))
	r.lineCount(7, wait)
	diffLines(t, r.lines, append(lines("g", 0, 2), lines("h", 0, 5)...))
	if !r.hasNote(NoteMissed) {
		t.Errorf("no missed note: %v", r.noteKinds())
	}
}

// A line longer than the buffer is delivered cut, counted once, and the
// positions stay exact.
func TestFollowLongLine(t *testing.T) {
	long := strings.Repeat("L", 10000)
	content := "short 1\n" + long + "\nshort 2\n"
	t.Run("live", func(t *testing.T) {
		log := tempLog(t)
		writeFile(t, log, content)
		r := newReader(t, openFollower(t, log, Options{}), MinBuffer)
		r.lineCount(3, wait)
		if r.lines[1] != long[:MinBuffer] || r.lines[2] != "short 2" {
			t.Errorf("lines %q… %q", r.lines[1][:10], r.lines[2])
		}
		if r.ends[2] != int64(len(content)) || r.nums[2] != 3 {
			t.Errorf("end %d line %d, want %d 3", r.ends[2], r.nums[2], len(content))
		}
	})
	t.Run("stream", func(t *testing.T) {
		r := newReader(t, NewStream(strings.NewReader(content), "-"), MinBuffer)
		r.drain(wait)
		diffLines(t, r.lines, []string{"short 1", long[:MinBuffer], "short 2"})
		if r.ends[2] != int64(len(content)) {
			t.Errorf("end %d, want %d", r.ends[2], len(content))
		}
	})
	t.Run("rotated", func(t *testing.T) {
		log := tempLog(t)
		writeFile(t, log+".1", content)
		writeFile(t, log, "new\n")
		fp := fingerprint([]byte(content))
		r := newReader(t, openFollower(t, log, Options{Resume: []Position{{Fingerprint: fp, Offset: 0}}}), MinBuffer)
		r.lineCount(4, wait)
		diffLines(t, r.lines, []string{"short 1", long[:MinBuffer], "short 2", "new"})
		if r.ends[2] != int64(len(content)) {
			t.Errorf("end %d, want %d", r.ends[2], len(content))
		}
	})
}

func TestFollowCancel(t *testing.T) {
	log := tempLog(t)
	writeFile(t, log, "")
	f := openFollower(t, log, Options{})
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		buf := make([]byte, MinBuffer)
		for {
			c, err := f.Next(ctx, buf)
			if err != nil {
				done <- err
				return
			}
			_ = c
		}
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Next did not return after cancel")
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "nodir", "mail.log"), Options{}); err == nil {
		t.Error("missing directory: no error")
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("a directory: no error")
	}
	f, err := Open(filepath.Join(dir, "mail.log"), Options{})
	if err != nil {
		t.Fatalf("missing file: %v", err)
	}
	f.Close()
	if _, err := f.Next(context.Background(), make([]byte, 10)); err == nil {
		t.Error("small buffer: no error")
	}
}
