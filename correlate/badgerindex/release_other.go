//go:build !linux

package badgerindex

import "os"

// releaseMapped is Linux-only (madvise); elsewhere the kernel keeps
// Badger's mapped pages as it sees fit.
func releaseMapped(dir string) {}

// startWriteback is Linux-only (sync_file_range); elsewhere the fsync at
// close writes the whole chunk file back.
func startWriteback(f *os.File, off, n int64) {}
