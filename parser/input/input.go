// Package input opens Postfix log files for the parser: plain, gzip, bzip2,
// xz and zstd (detected by their magic bytes, not their names, because
// logrotate's delaycompress and hand-copied archives lie), standard input,
// globs, and rotated sets put back into time order.
//
// It also tells files apart for idempotent ingest: a File carries its
// device and inode, and a fingerprint of its first line, which survives
// rotation and compression (mail.log.1 and mail.log.1.gz have the same).
//
// It reads bytes; it does not parse them (package parser does).
package input

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// File is an opened log: Read returns decompressed bytes.
type File struct {
	Name        string // as given; "-" for standard input
	Compression string // "", "gzip", "bzip2", "xz" or "zstd"
	Dev, Ino    uint64 // zero for standard input
	Size        int64  // on-disk (compressed) size
	ModTime     time.Time

	r      *bufio.Reader
	src    io.Reader // what r reads from: the file, or the decompressor
	closer []io.Closer

	// The first line, taken once: a damaged archive's decompressor may
	// fail on one read and return bytes on the next, and the fingerprint
	// must not depend on when it is asked for.
	head         []byte
	headComplete bool
	headTaken    bool
}

// headLen bounds the fingerprint: the first line, at most this long.
const headLen = 4096

// Open opens a file (or "-" for stdin) and sets up decompression.
func Open(name string, stdin io.Reader) (*File, error) {
	if name == "-" {
		return newFile(name, stdin, nil, nil)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: is a directory", name)
	}
	file, err := newFile(name, f, f, st)
	if err != nil {
		f.Close()
		return nil, err
	}
	return file, nil
}

func newFile(name string, r io.Reader, c io.Closer, st os.FileInfo) (*File, error) {
	f := &File{Name: name}
	if c != nil {
		f.closer = append(f.closer, c)
	}
	if st != nil {
		f.Size, f.ModTime = st.Size(), st.ModTime()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			f.Dev, f.Ino = uint64(sys.Dev), uint64(sys.Ino)
		}
	}
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(6)
	var dec io.Reader
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open %s: gzip: %w", name, err)
		}
		f.Compression, dec = "gzip", zr
		f.closer = append(f.closer, zr)
	case bytes.HasPrefix(magic, []byte("BZh")):
		f.Compression, dec = "bzip2", bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("open %s: xz: %w", name, err)
		}
		f.Compression, dec = "xz", xr
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("open %s: zstd: %w", name, err)
		}
		f.Compression, dec = "zstd", zr
		f.closer = append(f.closer, closerFunc(func() error { zr.Close(); return nil }))
	default:
		f.r, f.src = br, r
		return f, nil
	}
	f.r, f.src = bufio.NewReaderSize(dec, 256<<10), dec
	return f, nil
}

type closerFunc func() error

func (c closerFunc) Close() error { return c() }

// Read reads decompressed bytes. Large reads go around the buffer once it
// is drained (it is there for Head): parser.BatchReader reads blocks of
// about 100 KiB, and copying every byte through the buffer first was one
// more pass over the whole input.
func (f *File) Read(p []byte) (int, error) {
	if len(p) >= 32<<10 && f.src != nil && f.r.Buffered() == 0 {
		return f.src.Read(p)
	}
	return f.r.Read(p)
}

// Close closes the decompressor and the file.
func (f *File) Close() error {
	var first error
	for i := len(f.closer) - 1; i >= 0; i-- {
		if err := f.closer[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	f.closer = nil
	return first
}

// Head returns the first line of the decompressed content (without the
// newline, at most 4 KiB) without consuming it, and whether that line is
// complete. A file still being written may have no complete line yet.
func (f *File) Head() (line []byte, complete bool) {
	if !f.headTaken {
		b, _ := f.r.Peek(headLen)
		complete = len(b) == headLen
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b, complete = b[:i], true
		}
		f.head, f.headComplete, f.headTaken = bytes.Clone(b), complete, true
	}
	return f.head, f.headComplete
}

// Fingerprint identifies the content independently of the file's name,
// inode and compression: a hash of its first line. It is empty while the
// file has no complete first line (then nothing should be checkpointed
// against it).
func (f *File) Fingerprint() string {
	head, complete := f.Head()
	if !complete || len(head) == 0 {
		return ""
	}
	sum := sha256.Sum256(head)
	return hex.EncodeToString(sum[:16])
}

// Skip discards n decompressed bytes (resuming at a checkpoint). It
// returns io.ErrUnexpectedEOF when the content is shorter: the file is not
// the one the checkpoint was taken on (truncated by copytruncate).
func (f *File) Skip(n int64) error {
	got, err := io.CopyN(io.Discard, f.r, n)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// Expand expands glob patterns (names without glob characters are kept as
// they are, so a missing file is reported by Open with its name). A
// pattern that matches nothing is an error naming the pattern.
func Expand(patterns []string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		if p == "-" || !strings.ContainsAny(p, "*?[") {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", p, err)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no files match", p)
		}
		out = append(out, m...)
	}
	return out, nil
}

// Order sorts a list of log names so that each rotated set is read oldest
// first: mail.log.3.gz, mail.log.2.gz, mail.log.1, mail.log (numeric
// suffixes, largest first), and mail.log-20261128.gz before
// mail.log-20261129 before mail.log (dateext). Sets keep the order of their
// first appearance; "-" stays where it is relative to the sets. Duplicate
// names are dropped.
func Order(names []string) []string {
	type item struct {
		name  string
		base  string
		rank  int64 // larger = older
		first int   // set's first appearance
	}
	seen := map[string]bool{}
	firstSeen := map[string]int{}
	var items []item
	for i, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		base, rank := rotation(n)
		if _, ok := firstSeen[base]; !ok {
			firstSeen[base] = i
		}
		items = append(items, item{n, base, rank, 0})
	}
	for i := range items {
		items[i].first = firstSeen[items[i].base]
	}
	sort.SliceStable(items, func(a, b int) bool {
		if items[a].first != items[b].first {
			return items[a].first < items[b].first
		}
		return items[a].rank > items[b].rank
	})
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.name
	}
	return out
}

// rotation returns the set a name belongs to and its age rank: 0 for the
// live file, N for ".N", and for dateext suffixes a rank that puts older
// dates first.
func rotation(name string) (base string, rank int64) {
	n := name
	for _, ext := range []string{".gz", ".bz2", ".xz", ".zst", ".zstd"} {
		n = strings.TrimSuffix(n, ext)
	}
	if i := strings.LastIndexByte(n, '.'); i > 0 {
		if v, err := strconv.Atoi(n[i+1:]); err == nil && v >= 0 && v < 100000 {
			return n[:i], int64(v)
		}
	}
	if i := strings.LastIndexByte(n, '-'); i > 0 {
		s := n[i+1:]
		if len(s) >= 8 && len(s) <= 14 && allDigits(s) {
			v, _ := strconv.ParseInt(s, 10, 64)
			// Older dates must rank higher: invert.
			return n[:i], 1<<62 - v
		}
	}
	return n, 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
