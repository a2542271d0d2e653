package follow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Position says which content a chunk comes from and where in it.
type Position struct {
	// Name is the path that was followed (for every file of its rotated
	// set, so that a later run can tell the files it read), or
	// "journal:PATTERN", or "-".
	Name string
	// File is the name the content has now (mail.log.1.gz when the rest
	// of a rotated file is read); for messages.
	File string
	// Fingerprint identifies the content whatever its name: the hash of
	// its first line, as parser/input computes it. Empty while the first
	// line is incomplete, and for streams: such positions cannot be
	// resumed.
	Fingerprint string
	Dev, Ino    uint64
	Compression string
	// Offset and Lines are the decompressed bytes and the lines before
	// the chunk's first byte.
	Offset, Lines int64
	Size          int64 // on-disk size when last looked at
	ModTime       time.Time
}

// NoteKind says what a Note reports.
type NoteKind uint8

// Notes.
const (
	NoteResume    NoteKind = iota // reading starts at a committed position, or at the start or end of the file
	NoteRest                      // reading the rest of a rotated file (or of a truncated file's copy)
	NoteRotated                   // the file was renamed or deleted; the old one is drained
	NoteTruncated                 // the file was truncated in place (copytruncate)
	NoteDone                      // a rotated file was read to its end and closed; Pos is final
	NoteMissed                    // Bytes could not be read (the content is gone)
	NoteWaiting                   // the file does not exist (yet)
	NoteCaughtUp                  // everything written so far has been delivered (once)
	NoteError                     // a recoverable problem (inotify unavailable…); reading goes on
)

var noteNames = [...]string{"resume", "rest", "rotated", "truncated", "done", "missed", "waiting", "caught_up", "error"}

// String returns a short stable name ("rotated").
func (k NoteKind) String() string {
	if int(k) < len(noteNames) {
		return noteNames[k]
	}
	return "unknown"
}

// Note is something that happened to the followed log.
type Note struct {
	Kind  NoteKind
	Text  string // one line for the operator (names are the operator's own paths)
	Bytes int64  // NoteMissed: how many bytes are lost, when known
}

// Chunk is what Next returns: complete lines, or a note.
type Chunk struct {
	// Pos is the content Data comes from; Pos.Offset and Pos.Lines are
	// where Data starts. For NoteDone it is the final position.
	Pos Position
	// Data holds complete lines, each ending in '\n', except that the
	// last line of a finished file may lack it.
	Data []byte
	// Skip is the number of bytes of Data's last line that were not
	// delivered: a line longer than the buffer is cut (Data then ends
	// without '\n') and the rest of it, up to and including its newline,
	// skipped. The line ends at Pos.Offset+len(Data)+Skip.
	Skip int64
	// Note is set for notes; Data is then empty.
	Note *Note
}

// End returns the offset just past the chunk's last line.
func (c *Chunk) End() int64 { return c.Pos.Offset + int64(len(c.Data)) + c.Skip }

// Source is what the caller reads lines from: a Follower, a Journal or a
// Stream. Next fills dst (which must hold at least MinBuffer bytes) and
// returns a chunk that aliases it; it blocks until there is something to
// return, and returns ctx.Err() when ctx is done, io.EOF at the end of a
// stream. A Source is used by one goroutine.
type Source interface {
	Next(ctx context.Context, dst []byte) (Chunk, error)
	Close() error
}

// MinBuffer is the smallest dst Next accepts; lines longer than dst are cut
// (see Chunk.Skip).
const MinBuffer = 4096

// headLen bounds the fingerprint: the first line, at most this long. It is
// parser/input's rule; TestFingerprintMatchesInput holds them together.
const headLen = 4096

// fingerprint returns the fingerprint of content starting with head (its
// first bytes, at least headLen of them when there are that many), and
// whether the first line is complete.
func fingerprint(head []byte) string {
	line, ok := firstLine(head)
	if !ok || len(line) == 0 {
		return ""
	}
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:16])
}

// firstLine returns the first line of head (at most headLen bytes) and
// whether it is complete.
func firstLine(head []byte) ([]byte, bool) {
	if len(head) > headLen {
		head = head[:headLen]
	}
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		return head[:i], true
	}
	return head, len(head) == headLen
}

// lastNewline returns the length of b up to and including its last '\n',
// 0 if it has none.
func lastNewline(b []byte) int {
	return bytes.LastIndexByte(b, '\n') + 1
}

// noteChunk returns a chunk carrying a note about pos.
func noteChunk(pos Position, kind NoteKind, text string, n int64) Chunk {
	return Chunk{Pos: pos, Note: &Note{Kind: kind, Text: text, Bytes: n}}
}
