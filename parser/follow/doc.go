// Package follow reads a log while it is being written: a file followed by
// name across rotation, the journal through `journalctl -f -o json`, or a
// stream such as standard input.
//
// In: a path (or a journalctl unit pattern, or an io.Reader) and the
// positions a previous run committed (Options.Known, Options.Resume).
//
// Out: Chunks of complete lines, each tagged with the content it came from
// (a Position: the fingerprint of the file's first line, as parser/input
// computes it, device and inode, and the byte offset and line number where
// the chunk starts), so the caller can checkpoint exactly where its
// processing stands; and Notes that say what happened to the file
// (rotated, truncated, resumed, caught up, bytes that could not be read).
//
// Exactness is the point. A chunk is only ever complete lines. A file
// renamed away by logrotate stays open and is drained, because syslog
// daemons keep writing to it until they are told to reopen (rsyslog's
// postrotate HUP); its lines come before the new file's. A file truncated
// in place (copytruncate), even one refilled before pfdiag looked, is
// noticed by its first line changing, and the part not yet read is taken
// from the copy, found among the rotated files by fingerprint. At start,
// the content a previous run was reading is looked for among the rotated
// files (mail.log.1, mail.log.1.gz, mail.log-20261130…) and its rest is read
// first, then every newer file, so lines written while pfdiag was down are
// not lost, and none is read twice.
//
// Change notification is github.com/nxadm/tail's watch layer: a
// FileWatcher (watch.NewInotifyFileWatcher, or watch.NewPollingFileWatcher
// with Options.Poll, for NFS and other filesystems where inotify says
// nothing) armed on the path, ChangeEvents while a file is there and
// BlockUntilExists while none is, so an idle follower uses no CPU. What
// the events mean is decided here, by stat and by the first line, not by
// their kind: a Truncated event is not needed to see a copytruncate, and
// Deleted only says that the watcher has ended and the next must be armed.
// The watcher follows the path, not the renamed file: while a rotated file
// is drained (at most Options.Drain after its last write) or a truncated
// file's copy is looked for (CopyWait), they are looked at every 100ms.
//
// nxadm/tail's Tail type is not used: with ReOpen it reopens a renamed
// file at once without reading what the writer still appends to it until
// it reopens (those lines are lost: TestTailFileLosesRenamedLines shows
// it), its lines do not say which file they came from (no exact resume),
// and it misses a copytruncate when the file grows back before its stat.
//
// Two properties of the watch layer are designed around. Its inotify
// tracker is shared by the process and keyed by path, and its goroutine
// removes a watch on its own after the tomb dies: a watcher is stopped,
// and the tracker's hold on the path released, before the next is armed
// (so one Follower per path per process). And its goroutines call
// util.Fatal, which exits the process, when stat fails with an error
// other than "does not exist" (permission taken away from the directory,
// an NFS stale handle), as does the tracker if it cannot create its
// inotify instance. A watcher is therefore only armed on a path that stat
// has just found, inotify is tried before the tracker first uses it (else
// polling), and a stat error keeps the follower looking every second
// instead of arming. The exit that remains possible loses nothing: the
// caller commits positions with the state they produced, and the next run
// resumes there (the systemd unit restarts on failure).
//
// It does not parse lines (package parser does) nor store positions (the
// caller commits them with the state they produced, in correlate's index).
//
// A real line it delivers:
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
package follow
