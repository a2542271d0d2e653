package correlate

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Index stores what the correlator produces and what it needs to resume.
// Two implementations exist: correlate/badgerindex (on disk, the only
// importer of Badger) and correlate/memindex (in memory, for
// --index :memory: and tests); correlate/indextest checks both the same way.
//
// Writing goes in checkpoints. Append stages finished messages; Commit
// makes them visible together with the rest of the checkpoint (open
// messages, hour aggregates, source offsets, correlator state), as one
// atomic step. If the process dies between two Commits, the staged
// messages are dropped when the index is opened again, and the log is
// re-read from the committed offsets: nothing is lost or counted twice.
//
// Reading (Messages, Hours, Sources) sees the last committed checkpoint.
// An implementation may be used by one goroutine at a time.
type Index interface {
	// Load returns the committed state a writer resumes from.
	Load(ctx context.Context) (*Snapshot, error)
	// Append stages messages that left the queue (with their hops).
	Append(ctx context.Context, msgs []*Message) error
	// Commit atomically publishes the staged messages and the checkpoint.
	Commit(ctx context.Context, c *Checkpoint) error

	// Messages calls fn for each stored message (finished or still open)
	// that matches q, in no particular order. fn may keep the message.
	// Returning an error from fn stops the scan with that error.
	Messages(ctx context.Context, q Query, fn func(*Message) error) error
	// Hours calls fn for each stored hour that overlaps [since, until)
	// (zero times are open ends), in time order.
	Hours(ctx context.Context, since, until time.Time, fn func(*Hour) error) error
	// Sources returns what the index remembers about the logs it read.
	Sources(ctx context.Context) ([]Source, error)

	Close() error
}

// ErrReadOnly is returned by the write methods of an index opened read-only.
var ErrReadOnly = errors.New("index opened read-only")

// Source is what the index remembers about one log stream: where reading
// stopped. The fingerprint (a hash of the first line, see parser/input)
// identifies the content whatever the file is called now, so mail.log,
// its rotated copy mail.log.1 and mail.log.1.gz are one Source.
type Source struct {
	Fingerprint string
	Name        string // the name it was last read under
	Dev, Ino    uint64 // identity of the file it was last read from
	Compression string
	Offset      int64 // decompressed bytes read and committed
	Lines       int64 // lines read and committed
	Size        int64 // on-disk size when last read
	ModTime     time.Time
	Updated     time.Time // wall clock of the checkpoint
	// Cursor is where reading stopped in a stream that is not a file
	// (a journald cursor); Offset and Lines then count what was read.
	Cursor string
}

// Checkpoint is one atomic update of the index.
type Checkpoint struct {
	// Open are messages still in a queue that changed since the last
	// checkpoint; each replaces the stored open message with the same Ref.
	Open []*Message
	// Closed are open messages stored earlier that have left the queue
	// (they are in the staged messages) or were dropped: removed.
	Closed []Ref
	// Hours are added to the stored hours (Hour.Merge).
	Hours []*Hour
	// Sources replace the stored source with the same fingerprint.
	Sources []Source
	// State is the correlator's other state (smtpd sessions, expected
	// re-injections); it replaces the stored one when not nil.
	State []byte
}

// Snapshot is the committed state a writer resumes from.
type Snapshot struct {
	Open    []*Message
	Sources []Source
	State   []byte
}

// Field is what a Query looks a message up by.
type Field uint8

// Fields.
const (
	ByAny       Field = iota // every message in the window
	ByQueueID                // queue ID of any hop (case-sensitive)
	ByMessageID              // Message-ID header, with or without <>, case-insensitive
	ByRecipient              // recipient address or orig_to, case-insensitive
	BySender                 // envelope sender, case-insensitive; "" or "<>" is the null sender
)

// Query selects messages.
type Query struct {
	// Since and Until select messages whose lines (over all hops) overlap
	// [Since, Until); a zero time is an open end.
	Since, Until time.Time
	By           Field
	Value        string
}

// LookupValue normalises a lookup value the way the index stores it.
func LookupValue(f Field, v string) string {
	switch f {
	case ByMessageID:
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "<")
		v = strings.TrimSuffix(v, ">")
		return strings.ToLower(v)
	case ByRecipient:
		return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">"))
	case BySender:
		v = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">"))
		return v
	}
	return v
}

// LookupKeys calls fn with every (field, normalised value) m can be found
// by: the queue IDs, message-ids, recipients and senders of m and its hops.
// Values may repeat.
func LookupKeys(m *Message, fn func(Field, string)) {
	m.Walk(func(h *Message) {
		fn(ByQueueID, h.QueueID)
		if h.MessageID != "" {
			fn(ByMessageID, LookupValue(ByMessageID, h.MessageID))
		}
		if h.HasSender {
			fn(BySender, LookupValue(BySender, h.Sender))
		}
		for i := range h.Recipients {
			r := &h.Recipients[i]
			fn(ByRecipient, LookupValue(ByRecipient, r.Address))
			if r.OrigTo != "" {
				fn(ByRecipient, LookupValue(ByRecipient, r.OrigTo))
			}
		}
	})
}

// InWindow reports whether m's span overlaps [q.Since, q.Until).
func (q *Query) InWindow(m *Message) bool {
	first, last := m.Span()
	return q.Overlaps(first, last)
}

// Overlaps reports whether [first, last] overlaps [q.Since, q.Until).
func (q *Query) Overlaps(first, last time.Time) bool {
	if !q.Since.IsZero() && last.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !first.Before(q.Until) {
		return false
	}
	return true
}

// Match reports whether m matches q (window and lookup).
func (q *Query) Match(m *Message) bool {
	if !q.InWindow(m) {
		return false
	}
	if q.By == ByAny {
		return true
	}
	want := LookupValue(q.By, q.Value)
	found := false
	LookupKeys(m, func(f Field, v string) {
		if f == q.By && v == want {
			found = true
		}
	})
	return found
}
