package badgerindex

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pfdiag/pfdiag/correlate"
)

// Chunk files hold the records of finished messages; Badger holds, under
// each chunk's key, where they are (a chunk "pointer", chunkPtrVersion).
//
// Why not Badger's value log: records are written once and never
// updated, and Badger's way of writing a large value costs several times
// what the bytes do: it copies each value into a growing buffer
// (checksumming it), then into its memory-mapped log file, faulting every
// page of a sparse file in (each fault zeroes a page and reserves its
// block: 4-5 µs), msyncs the file when it rotates, and the index writer
// had to unmap the pages again to keep the resident set bounded. A plain
// write(2) is one copy into the page cache, with none of that, and keeps
// nothing mapped. The pointer is written with the chunk's span and
// postings in one Badger transaction after the records are in the file,
// so a checkpoint commits chunk files exactly as it commits keys: a crash
// leaves at most records no committed key points to, which the next Open
// cuts off (or deletes with their file).
//
// A chunk's postings are written right after its records, in the same
// write (so in the same file), with their own pointer under the 'q' key.
// Hour records (each hour's aggregates, hundreds of KB) are written to
// the same files for the same reasons, after the chunks of their
// checkpoint; the hour's key holds the pointer (hourValue).
//
// Files are named NNNNNN.chunks and written one after the other; a file is
// deleted once no committed chunk, postings or hour record points into it
// (Retain's TTL expired all of them). Like the value log, a file is fsynced when it is full and
// when the writer closes it.
const (
	chunkFileExt  = ".chunks"
	chunkFileSize = 64 << 20 // a new file beyond this

	// writebackBytes: the writeback of a chunk file's pages is started
	// (startWriteback) each time this much more has been written to it.
	writebackBytes = 2 << 20

	// chunkPtrVersion marks a chunk key whose value is a pointer into a
	// chunk file (chunkVersion: the records themselves, as first written).
	// A reader that knows neither rejects the chunk as corrupt.
	chunkPtrVersion = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// chunkPtr is where a chunk's records are: the value a chunk key held
// before chunk files, byte for byte, with its CRC-32C.
type chunkPtr struct {
	fid uint32
	off int64
	n   int
	crc uint32
}

func (p chunkPtr) end() int64 { return p.off + int64(p.n) }

func appendChunkPtr(b []byte, p chunkPtr) []byte {
	b = append(b, chunkPtrVersion)
	b = binary.AppendUvarint(b, uint64(p.fid))
	b = binary.AppendUvarint(b, uint64(p.off))
	b = binary.AppendUvarint(b, uint64(p.n))
	return binary.LittleEndian.AppendUint32(b, p.crc)
}

// decodeChunkPtr decodes a pointer value (version byte included).
func decodeChunkPtr(v []byte) (chunkPtr, error) {
	var p chunkPtr
	if len(v) < 1 || v[0] != chunkPtrVersion {
		return p, correlate.ErrCorrupt
	}
	v = v[1:]
	var f [3]uint64
	for i := range f {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return p, correlate.ErrCorrupt
		}
		f[i] = x
		v = v[n:]
	}
	if len(v) != 4 || f[0] > 1<<31 || f[1] > 1<<62 || f[2] > 1<<31 {
		return p, correlate.ErrCorrupt
	}
	return chunkPtr{fid: uint32(f[0]), off: int64(f[1]), n: int(f[2]), crc: binary.LittleEndian.Uint32(v)}, nil
}

func chunkFileName(dir string, fid uint32) string {
	return filepath.Join(dir, fmt.Sprintf("%06d%s", fid, chunkFileExt))
}

// chunkFiles lists the chunk files in dir by number.
func chunkFiles(dir string) (map[uint32]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint32]string{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), chunkFileExt)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		out[uint32(n)] = filepath.Join(dir, e.Name())
	}
	return out, nil
}

// chunkFileWriter appends chunks to the current chunk file (writer
// goroutine only).
type chunkFileWriter struct {
	dir string
	f   *os.File
	fid uint32
	off int64
	wb  int64 // offset up to which writeback was started
}

// write appends b to the current file (a new one when it is full) and
// returns where it is.
func (w *chunkFileWriter) write(b []byte) (chunkPtr, error) {
	fid, off, err := w.put(b)
	if err != nil {
		return chunkPtr{}, err
	}
	return chunkPtr{fid: fid, off: off, n: len(b), crc: crc32.Checksum(b, crcTable)}, nil
}

// writeParts writes b as write does and returns the pointers to b[:cut]
// and to b[cut:] (each with its own CRC): two records in one write, so in
// one file.
func (w *chunkFileWriter) writeParts(b []byte, cut int) (chunkPtr, chunkPtr, error) {
	fid, off, err := w.put(b)
	if err != nil {
		return chunkPtr{}, chunkPtr{}, err
	}
	a := chunkPtr{fid: fid, off: off, n: cut, crc: crc32.Checksum(b[:cut], crcTable)}
	z := chunkPtr{fid: fid, off: off + int64(cut), n: len(b) - cut, crc: crc32.Checksum(b[cut:], crcTable)}
	return a, z, nil
}

// put appends b to the current file (a new one when it is full) and
// returns the file and offset it went to.
func (w *chunkFileWriter) put(b []byte) (uint32, int64, error) {
	if w.f != nil && w.off >= chunkFileSize {
		if err := w.close(); err != nil {
			return 0, 0, err
		}
		w.fid, w.off = w.fid+1, 0
	}
	if w.f == nil {
		f, err := os.OpenFile(chunkFileName(w.dir, w.fid), os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			return 0, 0, err
		}
		w.f, w.wb = f, w.off
	}
	if _, err := w.f.WriteAt(b, w.off); err != nil {
		return 0, 0, err
	}
	fid, off := w.fid, w.off
	w.off += int64(len(b))
	if w.off-w.wb >= writebackBytes {
		// The pages go to disk while logs are still being read, not
		// all at once in the fsync at close (~50 ms per 40 MB).
		startWriteback(w.f, w.wb, w.off-w.wb)
		w.wb = w.off
	}
	return fid, off, nil
}

// close syncs and closes the current file.
func (w *chunkFileWriter) close() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.f = nil
	return err
}

// recoverChunkFiles deletes the chunk files no committed chunk points
// into, cuts the last one after its last committed chunk, and returns the
// writer that appends after it.
func recoverChunkFiles(dir string, live []chunkPtr) (*chunkFileWriter, error) {
	files, err := chunkFiles(dir)
	if err != nil {
		return nil, err
	}
	ends := map[uint32]int64{}
	var last uint32
	haveLast := false
	for _, p := range live {
		ends[p.fid] = max(ends[p.fid], p.end())
		if !haveLast || p.fid > last {
			last, haveLast = p.fid, true
		}
	}
	next := uint32(0)
	for fid, path := range files {
		next = max(next, fid+1)
		if _, ok := ends[fid]; ok {
			continue
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	w := &chunkFileWriter{dir: dir, fid: next}
	if !haveLast {
		return w, nil
	}
	// Records after the last committed chunk are a crash's (files with
	// nothing else were deleted above): cut them off.
	path, ok := files[last]
	if !ok {
		return nil, fmt.Errorf("%w: chunk file %s is missing", correlate.ErrCorrupt, chunkFileName(dir, last))
	}
	if err := os.Truncate(path, ends[last]); err != nil {
		return nil, err
	}
	if ends[last] < chunkFileSize {
		w.fid, w.off = last, ends[last]
	}
	return w, nil
}

// chunkReader reads chunks from their files, which it keeps open (any
// goroutine).
type chunkReader struct {
	dir   string
	mu    sync.Mutex
	files map[uint32]*os.File
}

func (r *chunkReader) file(fid uint32) (*os.File, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.files[fid]; f != nil {
		return f, nil
	}
	f, err := os.Open(chunkFileName(r.dir, fid))
	if err != nil {
		return nil, err
	}
	if r.files == nil {
		r.files = map[uint32]*os.File{}
	}
	r.files[fid] = f
	return f, nil
}

// read returns the chunk p points to, in buf (grown as needed), after
// checking its CRC.
func (r *chunkReader) read(p chunkPtr, buf []byte) ([]byte, error) {
	f, err := r.file(p.fid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return buf, fmt.Errorf("%w: chunk file %s is missing", correlate.ErrCorrupt, chunkFileName(r.dir, p.fid))
		}
		return buf, err
	}
	if cap(buf) < p.n {
		buf = make([]byte, p.n)
	}
	buf = buf[:p.n]
	if _, err := f.ReadAt(buf, p.off); err != nil {
		if errors.Is(err, io.EOF) {
			return buf, fmt.Errorf("%w: chunk file %s is cut short", correlate.ErrCorrupt, f.Name())
		}
		return buf, err
	}
	if crc32.Checksum(buf, crcTable) != p.crc {
		return buf, fmt.Errorf("%w: chunk in %s at %d: checksum mismatch", correlate.ErrCorrupt, f.Name(), p.off)
	}
	return buf, nil
}

func (r *chunkReader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.files {
		f.Close()
	}
	r.files = nil
}
