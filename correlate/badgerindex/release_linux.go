package badgerindex

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseMapped asks the kernel to take back the pages of the index's
// files that are mapped into this process. Badger maps its value log,
// tables and memtable logs and keeps what it wrote (or read) resident: a
// process ingesting a 5-million-line archive would otherwise carry the
// whole archive's records in its resident set, although the kernel could
// read them back from disk at any time. MADV_PAGEOUT writes dirty pages
// back and unmaps them; nothing is lost, a later access faults them in.
//
// The address ranges come from /proc/self/maps. A range that Badger
// unmaps meanwhile (and the runtime reuses) is harmless: PAGEOUT never
// discards anonymous memory, it can only swap it, and there is no swap
// for it to use without changing its contents.
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
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, '/')
		if i < 0 || !bytes.HasPrefix(line[i:], prefix) {
			continue
		}
		name := line[i:]
		if !bytes.HasSuffix(name, []byte(".vlog")) && !bytes.HasSuffix(name, []byte(".sst")) && !bytes.HasSuffix(name, []byte(".mem")) {
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
		unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT)
	}
}
