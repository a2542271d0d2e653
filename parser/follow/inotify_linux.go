package follow

import "syscall"

// canNotify reports whether an inotify instance can be had now (the
// per-user limit, fs.inotify.max_user_instances, may be reached).
func canNotify() error {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		return err
	}
	return syscall.Close(fd)
}
