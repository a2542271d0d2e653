package follow

import (
	"os"
	"testing"
	"time"
)

// After a rotation the watcher follows the new file: once the old one is
// closed (no more 100ms looks), lines appended to the new file must still
// wake the follower. Each way the file can leave the path is covered,
// a file replaced by a rename over it, which the watcher takes for a
// change of the old file (its watch stays on it and must be replaced).
// A writer that has not reopened yet keeps the old file open meanwhile,
// so the kernel does not end the old watch either.
func TestFollowWatchesNewFile(t *testing.T) {
	ways := []struct {
		name   string
		rotate func(t *testing.T, log string)
	}{
		{"rename-create", func(t *testing.T, log string) {
			if err := os.Rename(log, log+".1"); err != nil {
				t.Fatal(err)
			}
			writeFile(t, log, "")
		}},
		{"delete-create", func(t *testing.T, log string) {
			os.Remove(log)
			writeFile(t, log, "")
		}},
		{"replace", func(t *testing.T, log string) {
			writeFile(t, log+".new", "")
			if err := os.Rename(log+".new", log); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete-later-create", func(t *testing.T, log string) {
			os.Remove(log)
			time.Sleep(300 * time.Millisecond) // the follower waits for the file
			writeFile(t, log, "")
		}},
	}
	for _, way := range ways {
		for _, m := range modes {
			t.Run(way.name+"/"+m.name, func(t *testing.T) {
				log := tempLog(t)
				writeFile(t, log, text(lines("n", 0, 3)))
				r := newReader(t, openFollower(t, log, Options{Poll: m.poll, Drain: 50 * time.Millisecond}), 1<<16)
				r.lineCount(3, wait)
				for round := 0; round < 3; round++ {
					writer, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND, 0)
					if err != nil {
						t.Fatal(err)
					}
					way.rotate(t, log)
					appendFile(t, log, text(lines("n", 3+6*round, 6+6*round)))
					r.lineCount(6+6*round, wait)
					r.until("the old file closed", wait, func() bool { return countNotes(r, NoteDone) > round })
					// Written while Next waits: only the watcher can wake it.
					appendLater(t, log, text(lines("n", 6+6*round, 9+6*round)))
					wokenFor(r, 9+6*round)
					writer.Close()
				}
				diffLines(t, r.lines, lines("n", 0, 21))
			})
		}
	}
}

// A follower closed and another opened on the same path in the same
// process: nxadm/tail's inotify tracker is keyed by path, and the second
// watch must not be tied to the first one's removal.
func TestFollowReopenSamePath(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			writeFile(t, log, "")
			n := 0
			for round := 0; round < 5; round++ {
				f := openFollower(t, log, Options{Poll: m.poll, FromEnd: true})
				r := newReader(t, f, 1<<16)
				r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
				appendLater(t, log, text(lines("s", n, n+2)))
				n += 2
				wokenFor(r, 2)
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// Idle, a follower waits without waking: with inotify not at all, with
// the polling watcher once (its first stat reports a change; after that
// only real changes do), not every 250ms.
func TestFollowIdleWakes(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := tempLog(t)
			writeFile(t, log, text(lines("i", 0, 3)))
			f := openFollower(t, log, Options{Poll: m.poll})
			r := newReader(t, f, 1<<16)
			r.until("caught up", wait, func() bool { return r.hasNote(NoteCaughtUp) })
			r.step(50 * time.Millisecond) // the watcher armed
			before := f.wakes
			const idle = time.Second
			r.step(idle)
			wakes := f.wakes - before
			limit := 1 // the wait itself
			if m.poll {
				limit = 3
			}
			t.Logf("%d wakes in %v", wakes, idle)
			if wakes > limit {
				t.Errorf("%d wakes in %v idle, want at most %d", wakes, idle, limit)
			}
		})
	}
}

func countNotes(r *reader, k NoteKind) int {
	n := 0
	for _, x := range r.notes {
		if x.Kind == k {
			n++
		}
	}
	return n
}

// appendLater appends s to path in a moment, while the caller is in Next
// (Next reads what is there before it waits: appending first would not
// show whether the follower wakes).
func appendLater(t *testing.T, path, s string) {
	t.Helper()
	done := make(chan error, 1)
	t.Cleanup(func() { <-done })
	go func() {
		time.Sleep(100 * time.Millisecond)
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(s)
			f.Close()
		}
		if err != nil {
			t.Error(err)
		}
		done <- err
	}()
}

// wokenFor waits for n lines in all, each Next given the whole wait: the
// lines must come because the follower woke up, not because the test
// called Next again (it reads what is there before it waits).
func wokenFor(r *reader, n int) {
	r.t.Helper()
	for len(r.lines) < n {
		if !r.step(wait) {
			r.t.Fatalf("the follower did not wake for lines written while it waited (%d lines, want %d): %v", len(r.lines), n, r.err)
		}
	}
	r.lineCount(n, wait)
}
