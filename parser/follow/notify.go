package follow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/nxadm/tail/watch"
	"gopkg.in/tomb.v1"
)

// retryInterval is how often the path is looked at while no watcher can be
// armed on it (a stat error other than "does not exist", such as a
// directory that became unreadable).
const retryInterval = time.Second

// releaseWait bounds the wait for nxadm/tail's inotify goroutine to let go
// of the path after its tomb was killed (it takes microseconds).
const releaseWait = 2 * time.Second

// notifier wakes the Follower when the file at its path may have changed,
// through nxadm/tail's change-notification layer (package watch): one
// FileWatcher is armed at a time, ChangeEvents on the file while one is at
// the path, BlockUntilExists while none is. inotify by default; the
// polling watcher with Options.Poll, or once inotify fails.
//
// The watch package's inotify tracker is shared by the whole process and
// keys its watches by path, so at most one watcher of a path may be armed
// at a time: a watcher is stopped, and its key released, before the next
// is armed. Its goroutines exit the process (util.Fatal) when stat fails
// with another error than "does not exist"; a watcher is therefore only
// armed on a path stat has just found (see the package documentation).
type notifier struct {
	name string // absolute and clean: the tracker's key
	poll bool   // the polling watcher (else inotify)
	note func(text string)

	t        *tomb.Tomb
	changes  *watch.FileChanges // ChangeEvents armed on the file dev/ino
	dev, ino uint64
	exists   chan error // the result of BlockUntilExists, while it runs
	tracked  bool       // the armed watcher is inotify's: its tracker holds name
	retry    bool       // nothing could be armed: look again after retryInterval
	noted    string     // the last error noted (not repeated)
}

func newNotifier(name string, poll bool, note func(string)) *notifier {
	n := &notifier{name: name, poll: poll, note: note}
	if !poll {
		// The tracker's goroutine exits the process if it cannot create
		// its inotify instance (the per-user limit reached): make sure
		// one can be had before it is first used.
		if err := canNotify(); err != nil {
			n.toPolling(err)
		}
	}
	return n
}

func (n *notifier) watcher() watch.FileWatcher {
	if n.poll {
		return watch.NewPollingFileWatcher(n.name)
	}
	return watch.NewInotifyFileWatcher(n.name)
}

// toPolling switches to the polling watcher for good, saying why.
func (n *notifier) toPolling(err error) {
	if n.poll {
		return
	}
	n.poll = true
	n.note(fmt.Sprintf("inotify unavailable for %s (%v): polling it every %v", n.name, err, watch.POLL_DURATION))
}

func (n *notifier) fail(err error) {
	n.retry = true
	if msg := err.Error(); msg != n.noted {
		n.noted = msg
		n.note(fmt.Sprintf("cannot watch %s (%v): looking again every %v", n.name, err, retryInterval))
	}
}

// arm makes sure a watcher covers the file now at the path. It reports
// whether it armed a new one: what changed before it was armed may not
// be notified, so the caller looks once more before waiting.
func (n *notifier) arm() bool {
	n.retry = false
	st, err := os.Stat(n.name)
	if n.changes != nil {
		if err == nil && sameID(st, n.dev, n.ino) {
			return false
		}
		// The file it watches left the path (renamed, or deleted and
		// created again before the watcher looked): watch the new one.
		n.stop()
	}
	if n.exists != nil {
		return false // it says when the file is there
	}
	switch {
	case err == nil:
		return n.armChanges(st)
	case errors.Is(err, fs.ErrNotExist):
		n.armExists()
		return true
	default:
		n.fail(err)
		return false
	}
}

func (n *notifier) armChanges(st os.FileInfo) bool {
	t := new(tomb.Tomb)
	changes, err := n.watcher().ChangeEvents(t, st.Size())
	if err != nil {
		t.Kill(nil)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return true // gone meanwhile: look again
		case !n.poll:
			// inotify refused (watch limit, a file we may not read):
			// stat still works.
			n.toPolling(err)
			return n.armChanges(st)
		}
		n.fail(err)
		return false
	}
	n.t, n.changes, n.tracked = t, changes, !n.poll
	n.dev, n.ino = statID(st)
	n.noted = ""
	return true
}

func (n *notifier) armExists() {
	t := new(tomb.Tomb)
	done := make(chan error, 1)
	w := n.watcher()
	go func() { done <- w.BlockUntilExists(t) }()
	n.t, n.exists, n.tracked = t, done, !n.poll
}

// existed takes BlockUntilExists' result.
func (n *notifier) existed(err error) {
	n.t, n.exists = nil, nil
	switch {
	case err == nil:
		n.noted = ""
	case !n.poll:
		// The directory cannot be watched (gone, unreadable, watch
		// limit): stat can still see the file appear.
		n.toPolling(err)
	default:
		n.fail(err)
	}
}

// deleted takes the Deleted event: ChangeEvents' goroutine has ended,
// after removing its watch.
func (n *notifier) deleted() {
	n.t.Kill(nil)
	n.t, n.changes = nil, nil
}

// stop ends the armed watcher and waits until the tracker has let go of
// the path, so that the next watcher of the path is not tied to it.
func (n *notifier) stop() {
	if n.t == nil {
		return
	}
	n.t.Kill(nil)
	switch {
	case n.exists != nil:
		if n.tracked {
			<-n.exists // it removes its watch before it returns
		}
	case n.changes != nil && n.tracked:
		// ChangeEvents' goroutine removes its watch by itself once it
		// sees the tomb dying, and the tracker drops the path's channel
		// as it does. A watch of the path armed before that would share
		// that channel, and be closed with it.
		deadline := time.Now().Add(releaseWait)
		for watch.Events(n.name) != nil {
			if time.Now().After(deadline) {
				n.toPolling(errors.New("the inotify watch of the previous file was not released"))
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	n.t, n.changes, n.exists = nil, nil, nil
}
