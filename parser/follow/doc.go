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
// Change notification is inotify on the file's directory (fsnotify), so an
// idle follower uses no CPU; Options.Poll checks with stat instead, for
// filesystems where inotify says nothing (NFS, some FUSE and container
// mounts). github.com/nxadm/tail, the usual choice, is not used: it reopens
// a renamed file without draining the old descriptor, cannot tell which
// file a line came from, misses a copytruncate when the file grows back
// before its stat, and its watcher exits the process on a stat error.
//
// It does not parse lines (package parser does) nor store positions (the
// caller commits them with the state they produced, in correlate's index).
//
// A real line it delivers:
//
//	Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
package follow
