package badgerindex

import "golang.org/x/sys/unix"

// freeSpace returns the bytes available to us on the filesystem of dir,
// or -1 when it cannot tell.
func freeSpace(dir string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
