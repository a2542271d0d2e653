package follow

import (
	"bytes"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nxadm/tail"
)

// TestTailFileLosesRenamedLines is why this package drains rotated files
// itself instead of using nxadm/tail's Tail: logrotate renames the log
// and creates a new one, and syslog keeps writing to the renamed file
// until postrotate's HUP makes it reopen. tail.TailFile with ReOpen
// reopens the path as soon as it sees the rename, without reading the
// rest of the renamed file: the lines written there meanwhile are lost.
// The follower delivers every line, in the order written.
//
// Both readers are given the same worst (and usual) timing: the lines go
// to the renamed file once the reader has noticed the rename. (Without
// waiting, nxadm/tail loses them as well: the kernel queues the rename
// event before the writes, and the watcher ends at the rename.)
//
// Should nxadm/tail start draining renamed files, this test fails and says
// so: the reason in doc.go would no longer hold.
func TestTailFileLosesRenamedLines(t *testing.T) {
	before := lines("r", 0, 5)  // written before the rotation
	renamed := lines("r", 5, 9) // written to the renamed file, before the HUP
	after := lines("r", 9, 12)  // written to the new file after the HUP
	all := append(append(append([]string{}, before...), renamed...), after...)

	// rotate writes before, renames and creates the log as logrotate's
	// create does, waits for noticed, writes renamed to the old file,
	// then reopens it (the HUP) and writes after.
	rotate := func(t *testing.T, log string, started, noticed func()) {
		t.Helper()
		w, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.Close() }()
		w.WriteString(text(before))
		started()
		if err := os.Rename(log, log+".1"); err != nil {
			t.Fatal(err)
		}
		writeFile(t, log, "")
		noticed()
		w.WriteString(text(renamed))
		time.Sleep(50 * time.Millisecond) // syslog writes for a moment before the HUP
		w.Close()
		w, err = os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		w.WriteString(text(after))
	}

	t.Run("nxadm/tail", func(t *testing.T) {
		log := tempLog(t)
		writeFile(t, log, "")
		reopened := make(chan struct{}, 1)
		tl, err := tail.TailFile(log, tail.Config{Follow: true, ReOpen: true,
			Logger: logWatcher(t, "Successfully reopened", reopened)})
		if err != nil {
			t.Fatal(err)
		}
		defer tl.Stop()
		var mu sync.Mutex
		var got []string
		go func() {
			for l := range tl.Lines {
				if l.Err != nil {
					t.Errorf("nxadm/tail: %v", l.Err)
					continue
				}
				mu.Lock()
				got = append(got, l.Text)
				mu.Unlock()
			}
		}()
		count := func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(got)
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(wait); !cond(); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("nxadm/tail: timed out waiting for %s; got %q", what, got)
				}
			}
		}
		rotate(t, log, func() {
			waitFor("the first lines", func() bool { return count() == len(before) })
			// At the end of the file: its watcher is armed.
			time.Sleep(100 * time.Millisecond)
		}, func() {
			select {
			case <-reopened:
			case <-time.After(wait):
				t.Fatal("nxadm/tail did not reopen the renamed log")
			}
		})
		waitFor("the lines written after the HUP", func() bool { return count() >= len(before)+len(after) })
		time.Sleep(200 * time.Millisecond) // anything still coming
		tl.Stop()
		mu.Lock()
		defer mu.Unlock()
		have := map[string]bool{}
		for _, l := range got {
			have[l] = true
		}
		var lost []string
		for _, l := range renamed {
			if !have[l] {
				lost = append(lost, l)
			}
		}
		if len(lost) == 0 {
			t.Fatalf("nxadm/tail delivered the %d lines written to the renamed file (%q): it no longer loses them, and doc.go's reason for draining rotated files in package follow must be revisited", len(renamed), got)
		}
		want := append(append([]string{}, before...), after...)
		diffLines(t, got, want)
		t.Logf("nxadm/tail lost the %d lines written to the renamed file before the HUP: %q", len(lost), lost)
	})

	for _, m := range modes {
		t.Run("follow/"+m.name, func(t *testing.T) {
			log := tempLog(t)
			writeFile(t, log, "")
			r := newReader(t, openFollower(t, log, Options{Poll: m.poll, Drain: 300 * time.Millisecond}), 1<<16)
			rotate(t, log, func() {
				r.lineCount(len(before), wait)
			}, func() {
				r.until("the rotation", wait, func() bool { return r.hasNote(NoteRotated) })
			})
			r.lineCount(len(all), wait)
			diffLines(t, r.lines, all)
			r.until("the renamed file closed", wait, func() bool { return r.hasNote(NoteDone) })
		})
	}
}

// logWatcher is a logger for nxadm/tail that signals on c when it logs a
// line containing what (the tests' only view of when it has reopened).
func logWatcher(t *testing.T, what string, c chan struct{}) *log.Logger {
	return log.New(writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(what)) {
			select {
			case c <- struct{}{}:
			default:
			}
		}
		t.Logf("nxadm/tail: %s", bytes.TrimSpace(p))
		return len(p), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
