package badgerindex

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseMapped asks the kernel to take back the pages of the index's
// files that are mapped into this process. Badger maps its value log,
// tables and memtable logs and keeps what it wrote (or read) resident: a
// process ingesting a 5-million-line archive would otherwise carry the
// whole archive's records in its resident set, although the kernel could
// read them back from disk at any time.
//
// The value log, nearly all of those pages, is unmapped with
// MADV_DONTNEED: for a shared file mapping that only drops this process's
// page-table entries; the pages stay in the page cache (dirty ones are
// written back by the kernel's flusher as usual), and a later access
// faults them back in without I/O. MADV_PAGEOUT, which it replaces there,
// wrote every dirty page back and evicted it synchronously, in this
// process (0.2 CPU-s per million lines, and the next write to a
// half-filled page read it from disk again).
//
// DONTNEED on anonymous memory would zero it, so it is only used where no
// other goroutine can unmap the range between reading /proc/self/maps and
// the call: a value-log file is unmapped or remapped only by Badger's
// write goroutine (when a write rotates or grows it) and by value-log GC,
// and releaseMapped runs on the index writer's goroutine after the
// checkpoint's writes have all completed, with nothing else writing (see
// Index.commit) and no GC running. Tables and memtable logs are unmapped
// by Badger's flush and compaction goroutines at any time: they keep
// MADV_PAGEOUT, which never discards anonymous memory (it could only swap
// it, and there is no swap for it to use without changing its contents).
//
// The address ranges come from /proc/self/maps.
func releaseMapped(dir string) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return
	}
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	prefix := []byte(abs + string(filepath.Separator))
	var vlogs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, '/')
		if i < 0 || !bytes.HasPrefix(line[i:], prefix) {
			continue
		}
		name := line[i:]
		advice := uintptr(unix.MADV_PAGEOUT)
		switch {
		case bytes.HasSuffix(name, []byte(".vlog")):
			// Only a shared mapping (the permissions field "rw-s")
			// keeps its pages in the file when dropped.
			if f := bytes.Fields(line); len(f) < 2 || len(f[1]) != 4 || f[1][3] != 's' {
				continue
			}
			advice = unix.MADV_DONTNEED
			if !slices.Contains(vlogs, string(name)) {
				vlogs = append(vlogs, string(name))
			}
		case bytes.HasSuffix(name, []byte(".sst")), bytes.HasSuffix(name, []byte(".mem")):
		default:
			continue
		}
		dash := bytes.IndexByte(line, '-')
		sp := bytes.IndexByte(line, ' ')
		if dash < 0 || sp < dash {
			continue
		}
		start, err1 := strconv.ParseUint(string(line[:dash]), 16, 64)
		end, err2 := strconv.ParseUint(string(line[dash+1:sp]), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), advice)
	}
	// The value log's dirty pages (still in the page cache) start going
	// to disk now, beside the reading of logs, instead of in the msync
	// of Badger's Close (or of a full file's rotation) that the command
	// waits for.
	for _, name := range vlogs {
		if f, err := os.Open(name); err == nil {
			startWriteback(f, 0, 0)
			f.Close()
		}
	}
}

// startWriteback asks the kernel to start writing [off, off+n) of f to
// disk now, without waiting for it (sync_file_range WRITE): the fsync
// that closes a chunk file then waits only for the last bytes instead of
// writing back tens of megabytes while the command is finishing. It is a
// hint: an error here is not one (the fsync reports write errors, and
// this call does not consume them).
//
// n == 0 means to the end of the file.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
