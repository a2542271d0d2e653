//go:build !linux

package badgerindex

// releaseMapped is Linux-only (madvise); elsewhere the kernel keeps
// Badger's mapped pages as it sees fit.
func releaseMapped(dir string) {}
