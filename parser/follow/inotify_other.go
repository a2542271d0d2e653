//go:build !linux

package follow

// canNotify: fsnotify uses kqueue here, whose limits are per process and
// generous; there is nothing to probe.
func canNotify() error { return nil }
