package follow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pfdiag/pfdiag/parser/input"
)

// compressionExts are the suffixes logrotate's compresscmd options leave.
var compressionExts = []string{".gz", ".bz2", ".xz", ".zst", ".zstd"}

// rotatedName reports whether name (a base name in the followed file's
// directory) is a rotated copy of base, and its age rank: for "base.N"
// (logrotate's default) N, larger is older; for "base-DATE…" (dateext) the
// suffix, which sorts oldest first as a string.
func rotatedName(base, name string) (num int, date string, ok bool) {
	if len(name) <= len(base)+1 || !strings.HasPrefix(name, base) {
		return 0, "", false
	}
	rest := name[len(base):]
	for _, ext := range compressionExts {
		if strings.HasSuffix(rest, ext) {
			rest = rest[:len(rest)-len(ext)]
			break
		}
	}
	if len(rest) < 2 {
		return 0, "", false
	}
	switch rest[0] {
	case '.':
		n, err := strconv.Atoi(rest[1:])
		if err != nil || n < 0 || rest[1] == '+' || rest[1] == '-' {
			return 0, "", false
		}
		return n, "", true
	case '-', '_':
		s := rest[1:]
		digits := 0
		for i := 0; i < len(s); i++ {
			switch c := s[i]; {
			case c >= '0' && c <= '9':
				digits++
			case c == '-' || c == '_':
			default:
				return 0, "", false
			}
		}
		if digits < 6 {
			return 0, "", false
		}
		return 0, s, true
	}
	return 0, "", false
}

func isCompressionExt(ext string) bool {
	for _, e := range compressionExts {
		if e == ext {
			return true
		}
	}
	return false
}

// rotatedFile is one member of the rotated set.
type rotatedFile struct {
	path string
	num  int
	date string
}

// rotatedSet lists the rotated copies of path in its directory, oldest
// first: mail.log.3.gz, mail.log.2.gz, mail.log.1 (mail.log.1 and
// mail.log.1.gz, present together while logrotate compresses, give the
// plain one: it is complete), or by date for dateext names.
func rotatedSet(path string) ([]rotatedFile, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		n, d, ok := rotatedName(base, e.Name())
		if ok {
			out = append(out, rotatedFile{path: filepath.Join(dir, e.Name()), num: n, date: d})
		}
	}
	// While logrotate compresses, mail.log.1 and mail.log.1.gz are both
	// there and the compressed one is incomplete: keep the plain one.
	plain := map[string]bool{}
	for _, r := range out {
		plain[r.path] = true
	}
	kept := out[:0]
	for _, r := range out {
		if ext := filepath.Ext(r.path); isCompressionExt(ext) && plain[strings.TrimSuffix(r.path, ext)] {
			continue
		}
		kept = append(kept, r)
	}
	out = kept
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if (a.date == "") != (b.date == "") {
			return a.date != "" // dateext names before numbered ones: a mixed set is a changed config
		}
		if a.date != b.date {
			return a.date < b.date
		}
		if a.num != b.num {
			return a.num > b.num
		}
		return a.path < b.path
	})
	return out, nil
}

// opened is a rotated file opened for reading its rest.
type opened struct {
	f   *input.File
	pos Position
}

// openRotated opens a rotated copy and returns it with its identity; the
// caller closes it. A file whose first line is incomplete has no
// fingerprint.
func openRotated(path, name string) (*opened, error) {
	f, err := input.Open(path, nil)
	if err != nil {
		return nil, err
	}
	return &opened{f: f, pos: Position{
		Name: name, File: path, Fingerprint: f.Fingerprint(), Dev: f.Dev, Ino: f.Ino,
		Compression: f.Compression, Size: f.Size, ModTime: f.ModTime,
	}}, nil
}

// findCopy looks for the content with fingerprint fp among the rotated
// copies of path, newest first (a copy made by copytruncate is the newest
// one), skipping the inode skip (the live file itself).
func findCopy(path, name, fp string, skipDev, skipIno uint64) (*opened, error) {
	set, err := rotatedSet(path)
	if err != nil {
		return nil, err
	}
	for i := len(set) - 1; i >= 0; i-- {
		o, err := openRotated(set[i].path, name)
		if err != nil {
			continue // gone since the listing (compressed and removed)
		}
		if o.pos.Fingerprint == fp && !(o.pos.Dev == skipDev && o.pos.Ino == skipIno) {
			return o, nil
		}
		o.f.Close()
	}
	return nil, nil
}

// statID returns the device and inode of a FileInfo.
func statID(st os.FileInfo) (dev, ino uint64) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Dev), uint64(sys.Ino)
	}
	return 0, 0
}

// restReader reads a rotated file (or a truncated file's copy) to its end.
// The file is complete, so its last line is delivered even without a
// newline.
type restReader struct {
	o      *opened
	skipTo int64  // offset to skip to before the first read (a committed position)
	lines  int64  // its line number
	carry  []byte // the start of a line that did not fit in the last dst
	long   longLine
	eof    bool
}

// longLine holds the head of a line longer than dst while the rest of it
// is skipped.
type longLine struct {
	head []byte // nil when not skipping
	skip int64
}

func (r *restReader) next(dst []byte) (Chunk, bool, error) {
	for {
		if r.eof && len(r.carry) == 0 && r.long.head == nil {
			return Chunk{}, false, nil
		}
		n := copy(dst, r.carry)
		r.carry = r.carry[:0]
		if !r.eof {
			m, err := io.ReadFull(r.o.f, dst[n:])
			n += m
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					return Chunk{}, false, err
				}
				r.eof = true
			}
		}
		data := dst[:n]
		if r.long.head != nil {
			i := bytes.IndexByte(data, '\n')
			if i < 0 && !r.eof {
				r.long.skip += int64(n)
				continue
			}
			end := n
			if i >= 0 {
				end = i + 1
			}
			r.long.skip += int64(end)
			r.carry = append(r.carry, data[end:]...)
			return r.deliverLong(dst), true, nil
		}
		k := lastNewline(data)
		switch {
		case r.eof:
			k = n // complete file: the last line needs no newline
		case k == 0:
			// A line longer than dst (ReadFull filled it): keep its
			// head, skip to its end.
			r.long.head = append(r.long.head[:0], data...)
			continue
		}
		if k == 0 {
			continue
		}
		r.carry = append(r.carry, data[k:]...)
		c := Chunk{Pos: r.o.pos, Data: data[:k]}
		r.o.pos.Offset += int64(k)
		r.o.pos.Lines += countLines(data[:k])
		return c, true, nil
	}
}

// deliverLong returns the pending long line as a chunk in dst.
func (r *restReader) deliverLong(dst []byte) Chunk {
	c := Chunk{Pos: r.o.pos, Data: dst[:copy(dst, r.long.head)], Skip: r.long.skip}
	r.o.pos.Offset += int64(len(c.Data)) + r.long.skip
	r.o.pos.Lines++
	r.long = longLine{}
	return c
}

// countLines counts the lines of complete-line data (a last line without
// a newline counts).
func countLines(b []byte) int64 {
	if len(b) == 0 {
		return 0
	}
	n := int64(bytes.Count(b, []byte{'\n'}))
	if b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// quietFor reports whether t is set and at least d before now.
func quietFor(t, now time.Time, d time.Duration) bool {
	return !t.IsZero() && now.Sub(t) >= d
}
