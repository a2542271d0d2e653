package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Options configure a Follower. The zero value follows with inotify from
// the start of the file.
type Options struct {
	// Poll checks the file with stat (nxadm/tail's polling watcher,
	// every 250ms) instead of waiting for inotify events.
	Poll bool
	// Known returns the committed position of a content, by fingerprint
	// (the index's sources); nil knows nothing.
	Known func(fingerprint string) (Position, bool)
	// Resume are the positions that were open when the last checkpoint
	// of this path was taken (the live file, and a rotated file still
	// being drained). If the live file is no longer one of them, the
	// oldest of them found among the rotated files is read from its
	// position, then every newer rotated file (from its known position,
	// else from the start), then the live file.
	Resume []Position
	// Since is when that checkpoint was taken: if none of Resume is
	// found, the rotated files modified since then are read.
	Since time.Time
	// FromEnd starts at the end of the live file when there is nothing to
	// resume (its lines so far are skipped).
	FromEnd bool
	// Drain is how long a renamed or deleted file is kept open after its
	// last write, for a writer that has not reopened yet. Default 10s.
	Drain time.Duration
	// CopyWait is how long to look for the copy of a truncated file
	// before its unread part is given up. Default 10s.
	CopyWait time.Duration
	// Now is the clock for Drain and CopyWait; nil means time.Now.
	Now func() time.Time
}

// checkInterval is how often renamed files and missing copies are looked
// at while there are any: the watcher follows the path, and nothing
// notifies writes to a deleted file. It lasts Options.Drain after the
// last write at most (CopyWait for a copy).
const checkInterval = 100 * time.Millisecond

// Follower follows one log file by name. See the package documentation.
type Follower struct {
	path string // as given, for opening
	name string // absolute, cleaned: Position.Name
	opts Options

	notes  []Chunk
	queue  []*restReader // rotated content to read before the live file
	old    []*plain      // renamed or deleted files still drained
	cur    *plain        // the file at path
	copy   *copyWait     // a truncated file's copy not found yet
	opened bool          // cur was opened once (the start position is decided)

	caughtUp bool
	waiting  bool // a NoteWaiting was given for the missing file
	denied   bool // a NoteError was given for an unreadable file

	n     *notifier
	timer *time.Timer
	wakes int // times wait was entered: how often an idle follower wakes (tests)
}

// plain is a plain file read with pread: the live file, or a renamed one
// being drained.
type plain struct {
	f         *os.File
	pos       Position
	head      []byte // first line once complete (to notice a truncation)
	long      longLine
	hb        []byte // scratch for sameHead
	seen      int64  // end of the bytes the last read saw (a partial line included)
	lastData  time.Time
	rotatedAt time.Time
}

type copyWait struct {
	pos      Position // fingerprint, offset and lines of the truncated content
	deadline time.Time
}

// Open starts following path. The directory must exist; the file may not
// (yet). It decides what to read first from opts.Known and opts.Resume.
// Only one Follower of a path may be open at a time in a process:
// nxadm/tail's inotify tracker keys its watches by path.
func Open(path string, opts Options) (*Follower, error) {
	if opts.Drain <= 0 {
		opts.Drain = 10 * time.Second
	}
	if opts.CopyWait <= 0 {
		opts.CopyWait = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Known == nil {
		opts.Known = func(string) (Position, bool) { return Position{}, false }
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	f := &Follower{path: path, name: abs, opts: opts}
	dir := filepath.Dir(abs)
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	f.timer = time.NewTimer(time.Hour)
	f.timer.Stop()
	f.n = newNotifier(abs, opts.Poll, func(text string) {
		f.note(Position{Name: f.name, File: f.path}, NoteError, text, 0)
	})
	if err := f.openCur(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.plan(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Close stops following and closes every file. It returns once the
// watcher has let go of the path, so that it can be followed again at
// once. Not to be called while Next runs.
func (f *Follower) Close() error {
	f.n.stop()
	f.timer.Stop()
	for _, q := range f.queue {
		q.o.f.Close()
	}
	f.queue = nil
	for _, o := range f.old {
		o.f.Close()
	}
	f.old = nil
	if f.cur != nil {
		f.cur.f.Close()
		f.cur = nil
	}
	return nil
}

func (f *Follower) note(pos Position, kind NoteKind, text string, n int64) {
	f.notes = append(f.notes, noteChunk(pos, kind, text, n))
}

// Next returns the next lines, or a note. See Source.
func (f *Follower) Next(ctx context.Context, dst []byte) (Chunk, error) {
	if len(dst) < MinBuffer {
		return Chunk{}, fmt.Errorf("follow: buffer of %d bytes, want at least %d", len(dst), MinBuffer)
	}
	for {
		if err := ctx.Err(); err != nil {
			return Chunk{}, err
		}
		if len(f.notes) > 0 {
			c := f.notes[0]
			f.notes = f.notes[1:]
			return c, nil
		}
		c, ok, err := f.read(dst)
		if err != nil {
			return Chunk{}, err
		}
		if ok {
			return c, nil
		}
		if len(f.notes) > 0 {
			continue
		}
		if !f.caughtUp && f.copy == nil && len(f.queue) == 0 {
			f.caughtUp = true
			pos := Position{Name: f.name, File: f.path}
			if f.cur != nil {
				pos = f.cur.pos
			}
			return noteChunk(pos, NoteCaughtUp, "caught up with "+f.path, 0), nil
		}
		if err := f.wait(ctx); err != nil {
			return Chunk{}, err
		}
	}
}

// wait blocks until something may have changed.
func (f *Follower) wait(ctx context.Context) error {
	f.wakes++
	n := f.n
	if n.arm() || len(f.notes) > 0 {
		return nil
	}
	var d time.Duration
	if len(f.old) > 0 || f.copy != nil {
		d = checkInterval
	}
	if n.retry && (d == 0 || retryInterval < d) {
		d = retryInterval
	}
	var timer <-chan time.Time
	if d > 0 {
		f.timer.Reset(d)
		timer = f.timer.C
		defer f.timer.Stop()
	}
	var modified, truncated, deleted <-chan bool
	if n.changes != nil {
		modified, truncated, deleted = n.changes.Modified, n.changes.Truncated, n.changes.Deleted
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-modified:
	case <-truncated: // told by the first line changing (check), not by size alone
	case <-deleted:
		n.deleted()
	case err := <-n.exists: // nil while the file exists
		n.existed(err)
	case <-timer:
	}
	return nil
}

// read returns the next chunk if there is one now, queueing notes.
func (f *Follower) read(dst []byte) (Chunk, bool, error) {
	now := f.opts.Now()
	for {
		if len(f.notes) > 0 {
			return Chunk{}, false, nil // what happened is told before the lines after it
		}
		// 1. Rotated content that comes before everything else.
		if len(f.queue) > 0 {
			q := f.queue[0]
			c, ok, err := q.read(dst)
			if ok {
				return c, true, nil
			}
			q.o.f.Close()
			f.queue = f.queue[1:]
			if err != nil {
				f.note(q.o.pos, NoteError, fmt.Sprintf("%s: read error after byte %d: %v", q.o.pos.File, q.o.pos.Offset, err), 0)
			}
			f.note(q.o.pos, NoteDone, fmt.Sprintf("finished %s at byte %d (line %d)", q.o.pos.File, q.o.pos.Offset, q.o.pos.Lines), 0)
			return Chunk{}, false, nil
		}
		// 2. A truncated file's unread part, from its copy.
		if f.copy != nil {
			if f.findCopy(now) {
				continue
			}
			return Chunk{}, false, nil
		}
		// 3. Renamed or deleted files: what their writer still adds.
		for i := 0; i < len(f.old); i++ {
			o := f.old[i]
			// Closed once quiet for Drain and the new file exists (the
			// writer has moved on), or quiet for much longer anyway.
			last := maxTime(o.lastData, o.rotatedAt)
			final := quietFor(last, now, f.opts.Drain) && (f.cur != nil || quietFor(last, now, 6*f.opts.Drain))
			c, ok, err := o.read(dst, final, now)
			if err != nil {
				return Chunk{}, false, fmt.Errorf("%s: %w", o.pos.File, err)
			}
			if ok {
				return c, true, nil
			}
			if final {
				o.f.Close()
				f.old = append(f.old[:i], f.old[i+1:]...)
				f.note(o.pos, NoteDone, fmt.Sprintf("closed the rotated %s at byte %d (line %d)", f.path, o.pos.Offset, o.pos.Lines), 0)
				return Chunk{}, false, nil
			}
		}
		// 4. The live file.
		if f.cur == nil {
			if err := f.openCur(); err != nil {
				return Chunk{}, false, err
			}
			if f.cur == nil {
				return Chunk{}, false, nil
			}
		}
		if f.check(now) {
			continue
		}
		saved := *f.cur
		c, ok, err := f.cur.read(dst, false, now)
		if err != nil {
			return Chunk{}, false, fmt.Errorf("%s: %w", f.path, err)
		}
		if ok && f.oldGrew() {
			// The writer wrote to the old file after we drained it and
			// before the lines just read from the new one: those come
			// first. Read the new file again later.
			*f.cur = saved
			continue
		}
		return c, ok, nil
	}
}

// oldGrew reports whether a renamed file has bytes past what was last read
// of it. Lines are written in order, so after seeing a line in the new
// file, anything written to the old one before it is visible here.
func (f *Follower) oldGrew() bool {
	for _, o := range f.old {
		if st, err := o.f.Stat(); err == nil && st.Size() > o.seen {
			return true
		}
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// openCur opens the file at path if it exists. The first time, it decides
// where reading starts.
func (f *Follower) openCur() error {
	file, err := os.Open(f.path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !f.waiting {
				f.waiting = true
				f.note(Position{Name: f.name, File: f.path}, NoteWaiting, "waiting for "+f.path+" to appear", 0)
			}
			return nil
		case !f.opened:
			return err
		default:
			// Recreated with permissions we lack: say so once, keep trying.
			if !f.denied {
				f.denied = true
				f.note(Position{Name: f.name, File: f.path}, NoteError, err.Error(), 0)
			}
			return nil
		}
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return err
	}
	if st.IsDir() {
		file.Close()
		return fmt.Errorf("%s: is a directory", f.path)
	}
	f.waiting, f.denied = false, false
	p := &plain{f: file}
	p.pos = Position{Name: f.name, File: f.path}
	p.pos.Dev, p.pos.Ino = statID(st)
	p.readHeadSize()
	first := !f.opened
	f.opened = true
	f.cur = p
	if !first {
		return nil // a new file after rotation: from its start
	}
	if k, ok := f.opts.Known(p.pos.Fingerprint); ok && p.pos.Fingerprint != "" {
		if k.Offset <= p.pos.Size {
			p.pos.Offset, p.pos.Lines = k.Offset, k.Lines
			f.note(p.pos, NoteResume, fmt.Sprintf("resuming %s at byte %d (line %d)", f.path, k.Offset, k.Lines), 0)
			return nil
		}
		// Same first line, less content than was read: not the content
		// the position is about. Start after what is there.
		if err := p.seekEnd(); err != nil {
			return err
		}
		f.note(p.pos, NoteResume, fmt.Sprintf("%s is shorter (%d bytes) than when pfdiag read it (%d): starting at its end", f.path, p.pos.Size, k.Offset), 0)
		return nil
	}
	if f.opts.FromEnd && len(f.opts.Resume) == 0 {
		if err := p.seekEnd(); err != nil {
			return err
		}
		f.note(p.pos, NoteResume, fmt.Sprintf("starting at the end of %s (byte %d, line %d)", f.path, p.pos.Offset, p.pos.Lines), 0)
		return nil
	}
	f.note(p.pos, NoteResume, "reading "+f.path+" from the start", 0)
	return nil
}

// setHead records the first line (and the fingerprint) once it is complete.
func (p *plain) setHead(b []byte) {
	line, ok := firstLine(b)
	if !ok {
		return
	}
	p.head = append([]byte(nil), line...)
	p.pos.Fingerprint = fingerprint(b)
}

// seekEnd positions p after the last complete line, counting lines.
func (p *plain) seekEnd() error {
	buf := make([]byte, 256<<10)
	var off, lines, end int64
	for {
		n, err := p.f.ReadAt(buf, off)
		for i, c := range buf[:n] {
			if c == '\n' {
				lines++
				end = off + int64(i) + 1
			}
		}
		off += int64(n)
		if err == io.EOF || n == 0 {
			break
		}
		if err != nil {
			return err
		}
	}
	p.pos.Offset, p.pos.Lines = end, lines
	return nil
}

// plan decides, at start, which rotated content to read before the live
// file (see Options.Resume).
func (f *Follower) plan() error {
	resume := map[string]Position{}
	for _, p := range f.opts.Resume {
		if p.Fingerprint != "" {
			resume[p.Fingerprint] = p
		}
	}
	if len(resume) == 0 {
		return nil
	}
	if f.cur != nil && f.cur.pos.Fingerprint != "" && len(resume) == 1 {
		if _, ok := resume[f.cur.pos.Fingerprint]; ok {
			return nil // the usual restart: no rotation meanwhile
		}
	}
	set, err := rotatedSet(f.path)
	if err != nil {
		return err
	}
	var cands []*opened
	seen := map[string]bool{}
	if f.cur != nil && f.cur.pos.Fingerprint != "" {
		seen[f.cur.pos.Fingerprint] = true
	}
	for _, r := range set {
		o, err := openRotated(r.path, f.name)
		if err != nil {
			continue
		}
		fp := o.pos.Fingerprint
		if fp == "" || seen[fp] || (f.cur != nil && o.pos.Dev == f.cur.pos.Dev && o.pos.Ino == f.cur.pos.Ino) {
			o.f.Close()
			continue
		}
		seen[fp] = true
		cands = append(cands, o)
	}
	start := -1
	for i, o := range cands {
		if _, ok := resume[o.pos.Fingerprint]; ok {
			start = i
			break
		}
	}
	for fp, p := range resume {
		if seen[fp] {
			continue
		}
		f.note(p, NoteMissed, fmt.Sprintf("the content pfdiag was reading (%s, %d bytes read) is no longer %s nor among its rotated copies: what was written to it after pfdiag stopped is lost", p.File, p.Offset, f.path), -1)
	}
	if start < 0 {
		// What pfdiag was reading is gone: read what changed since.
		for i, o := range cands {
			if !o.pos.ModTime.Before(f.opts.Since) {
				start = i
				break
			}
		}
	}
	for i, o := range cands {
		if start < 0 || i < start {
			o.f.Close()
			continue
		}
		q := &restReader{o: o}
		if k, ok := f.opts.Known(o.pos.Fingerprint); ok {
			q.skipTo, q.lines = k.Offset, k.Lines
		}
		f.queue = append(f.queue, q)
		f.note(o.pos, NoteRest, fmt.Sprintf("reading %s (rotated while pfdiag was stopped) from byte %d", o.pos.File, q.skipTo), 0)
	}
	return nil
}

// read returns the next lines of a queued rotated file; false at its end.
func (q *restReader) read(dst []byte) (Chunk, bool, error) {
	if q.skipTo > 0 {
		n := q.skipTo
		q.skipTo = 0
		if err := q.o.f.Skip(n); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				// Shorter than what was read (a copy logrotate made
				// before the last lines were written): nothing new, and
				// the position stays where reading stood.
				q.o.pos.Offset, q.o.pos.Lines = n, q.lines
				return Chunk{}, false, nil
			}
			return Chunk{}, false, err
		}
		q.o.pos.Offset, q.o.pos.Lines = n, q.lines
	}
	return q.next(dst)
}

// check looks at the live file: renamed or deleted (it becomes an old
// file, drained), or truncated in place (the unread part is looked for in
// its copy). It reports whether the state changed.
func (f *Follower) check(now time.Time) bool {
	cur := f.cur
	st, err := os.Stat(f.path)
	if err != nil || !sameID(st, cur.pos.Dev, cur.pos.Ino) {
		cur.rotatedAt = now
		f.old = append(f.old, cur)
		f.cur = nil
		f.note(cur.pos, NoteRotated, fmt.Sprintf("%s was rotated (renamed or deleted) at byte %d (line %d); draining the old file", f.path, cur.pos.Offset, cur.pos.Lines), 0)
		return true
	}
	prevSize := cur.pos.Size
	if cur.head == nil && cur.pos.Offset == 0 {
		// Note the first line as soon as it is there, read or not: it
		// is how a truncation and its copy are recognised.
		cur.readHeadSize()
	}
	fst, err := cur.f.Stat()
	if err != nil {
		return false
	}
	cur.pos.Size, cur.pos.ModTime = fst.Size(), fst.ModTime()
	reading := cur.pos.Offset + int64(len(cur.long.head)) + cur.long.skip
	// A file only shrinks when truncated, even if not below what was read.
	truncated := fst.Size() < reading || fst.Size() < prevSize
	if !truncated && cur.head != nil {
		// Truncated and written again before this look: the first line
		// is not the same any more.
		truncated = !cur.sameHead()
	}
	if !truncated {
		return false
	}
	f.note(cur.pos, NoteTruncated, fmt.Sprintf("%s was truncated in place (copytruncate) after pfdiag read %d bytes (line %d)", f.path, cur.pos.Offset, cur.pos.Lines), 0)
	if cur.pos.Fingerprint != "" {
		f.copy = &copyWait{pos: cur.pos, deadline: now.Add(f.opts.CopyWait)}
	} else if prevSize > cur.pos.Offset {
		f.note(cur.pos, NoteMissed, fmt.Sprintf("%s was truncated before its first line was complete: %d bytes not read", f.path, prevSize-cur.pos.Offset), prevSize-cur.pos.Offset)
	}
	cur.pos = Position{Name: f.name, File: f.path, Dev: cur.pos.Dev, Ino: cur.pos.Ino}
	cur.head, cur.long = nil, longLine{}
	cur.readHeadSize()
	return true
}

// readHeadSize reads the first line, then the size. In this order the
// size is one the content with that first line had: a size taken before
// and a first line read after a copytruncate would make the next check
// see the new content shrink, take it for truncated too, and read it
// twice (from the file and, once logrotate copies it, from its copy).
func (p *plain) readHeadSize() {
	p.readHead()
	if st, err := p.f.Stat(); err == nil {
		p.pos.Size, p.pos.ModTime = st.Size(), st.ModTime()
	}
}

// readHead reads the first line from the file.
func (p *plain) readHead() {
	head := make([]byte, headLen)
	n, _ := p.f.ReadAt(head, 0)
	p.setHead(head[:n])
}

// sameHead reports whether the file still starts with the first line it
// had.
func (p *plain) sameHead() bool {
	want := len(p.head) + 1
	if len(p.head) == headLen {
		want = headLen // cut at headLen: no newline to compare
	}
	if cap(p.hb) < want {
		p.hb = make([]byte, want)
	}
	b := p.hb[:want]
	n, _ := p.f.ReadAt(b, 0)
	if n < want || !bytes.Equal(b[:len(p.head)], p.head) {
		return false
	}
	return want == headLen || b[len(p.head)] == '\n'
}

func sameID(st os.FileInfo, dev, ino uint64) bool {
	d, i := statID(st)
	return d == dev && i == ino
}

// findCopy looks for the copy of a truncated file; it reports whether the
// wait is over (found, or given up).
func (f *Follower) findCopy(now time.Time) bool {
	cw := f.copy
	var dev, ino uint64
	if f.cur != nil {
		dev, ino = f.cur.pos.Dev, f.cur.pos.Ino
	}
	o, _ := findCopy(f.path, f.name, cw.pos.Fingerprint, dev, ino)
	if o != nil {
		f.copy = nil
		f.queue = append(f.queue, &restReader{o: o, skipTo: cw.pos.Offset, lines: cw.pos.Lines})
		f.note(o.pos, NoteRest, fmt.Sprintf("reading the rest of the truncated %s from its copy %s, from byte %d", f.path, o.pos.File, cw.pos.Offset), 0)
		return true
	}
	if now.After(cw.deadline) {
		f.copy = nil
		f.note(cw.pos, NoteMissed, fmt.Sprintf("no copy of the truncated %s among its rotated files: lines written after byte %d before the truncation are lost", f.path, cw.pos.Offset), -1)
		return true
	}
	return false
}

// read returns the complete lines of a plain file from where it stands.
// final: the file will not grow any more (a rotated file being closed), so
// a last line without a newline is delivered too.
func (p *plain) read(dst []byte, final bool, now time.Time) (Chunk, bool, error) {
	for p.long.head != nil {
		at := p.pos.Offset + int64(len(p.long.head)) + p.long.skip
		n, err := p.f.ReadAt(dst, at)
		if err != nil && err != io.EOF {
			return Chunk{}, false, err
		}
		p.seen = at + int64(n)
		if i := bytes.IndexByte(dst[:n], '\n'); i >= 0 {
			p.long.skip += int64(i) + 1
		} else {
			p.long.skip += int64(n)
			if n == len(dst) {
				continue
			}
			if !final {
				return Chunk{}, false, nil
			}
		}
		if p.pos.Offset == 0 && p.head == nil {
			p.setHead(p.long.head)
		}
		c := Chunk{Pos: p.pos, Data: dst[:copy(dst, p.long.head)], Skip: p.long.skip}
		p.pos.Offset += int64(len(c.Data)) + p.long.skip
		p.pos.Lines++
		p.long = longLine{}
		p.lastData = now
		return c, true, nil
	}
	n, err := p.f.ReadAt(dst, p.pos.Offset)
	if err != nil && err != io.EOF {
		return Chunk{}, false, err
	}
	p.seen = p.pos.Offset + int64(n)
	if n == 0 {
		return Chunk{}, false, nil
	}
	k := lastNewline(dst[:n])
	if k == 0 {
		switch {
		case n == len(dst):
			p.long.head = append(p.long.head[:0], dst[:n]...)
			return p.read(dst, final, now)
		case !final:
			return Chunk{}, false, nil // a line being written
		}
	}
	if final && n < len(dst) {
		k = n
	}
	if p.pos.Offset == 0 && p.head == nil {
		p.setHead(dst[:n])
	}
	c := Chunk{Pos: p.pos, Data: dst[:k]}
	p.pos.Offset += int64(k)
	p.pos.Lines += countLines(dst[:k])
	p.lastData = now
	return c, true, nil
}
