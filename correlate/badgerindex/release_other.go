//go:build !linux

package badgerindex

// releaseMapped is Linux-only (MADV_PAGEOUT); elsewhere the kernel keeps
// Badger's mapped pages as it sees fit.
func releaseMapped(dir string) {}
