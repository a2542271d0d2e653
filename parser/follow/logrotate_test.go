package follow

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/parser/input"
)

// TestMain lets the test binary act as the log writer of TestLogrotate (a
// separate process, so logrotate's scripts can signal it).
func TestMain(m *testing.M) {
	if os.Getenv("FOLLOW_TEST_WRITER") != "" {
		os.Exit(writerMain())
	}
	os.Exit(m.Run())
}

// writerMain appends FOLLOW_TEST_LINES numbered lines to
// FOLLOW_TEST_WRITER in small bursts, holding the file open like a syslog
// daemon and reopening it on SIGHUP.
func writerMain() int {
	path := os.Getenv("FOLLOW_TEST_WRITER")
	n, _ := strconv.Atoi(os.Getenv("FOLLOW_TEST_LINES"))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	open := func() *os.File {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return f
	}
	f := open()
	for i := 0; i < n; i++ {
		select {
		case <-hup:
			f.Close()
			f = open()
		default:
		}
		// One write per line, as rsyslog does.
		if _, err := fmt.Fprintf(f, "line %07d %s\n", i, strings.Repeat("x", i%97)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if i%10 == 9 {
			time.Sleep(time.Millisecond)
		}
	}
	f.Close()
	return 0
}

func logrotateBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"logrotate", "/usr/sbin/logrotate", "/sbin/logrotate"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("logrotate is not installed (CI installs it: apt-get install logrotate)")
	}
	t.Skip("logrotate not installed (apt-get install logrotate)")
	return ""
}

// TestLogrotate follows a file that the real logrotate rotates again and
// again while a writer appends to it: the follower must deliver exactly
// the lines written, in order, none twice, and they must equal the rotated
// files and the live file read one after the other.
func TestLogrotate(t *testing.T) {
	lr := logrotateBinary(t)
	if os.Geteuid() != 0 {
		// logrotate insists on owning its state and config as the user
		// it runs as; as another user it still works on a private dir.
		t.Log("not root: logrotate runs as the current user")
	}
	// logrotate's copytruncate copies the size it found when it started
	// (before prerotate), then truncates: lines written meanwhile are in
	// no file. With pause, the test stops the writer while logrotate runs
	// (SIGSTOP, waiting until it is stopped), so the rotated files and the
	// live one hold every line and the follower must deliver exactly
	// them. Without it, the follower must still deliver every line that is
	// in a file, in order and once; it may also have read some of those
	// logrotate dropped.
	configs := []struct {
		name  string
		conf  string // directives; %PID% is the writer's pid
		pause bool
		exact bool // else logrotate itself may drop lines (see checkSuperset)
	}{
		// Debian's rsyslog rotation: delaycompress, so the file the
		// writer may still write to is not compressed away yet.
		{"create-delaycompress", "create\ncompress\ndelaycompress\npostrotate\n  kill -HUP %PID% 2>/dev/null || true\nendscript", false, true},
		// Without delaycompress gzip can read the renamed file before
		// the writer has reopened: its last lines are in no file.
		{"create-compress", "create\ncompress\npostrotate\n  kill -HUP %PID% 2>/dev/null || true\nendscript", false, false},
		{"copytruncate", "copytruncate", true, true},
		{"copytruncate-compress", "copytruncate\ncompress", true, true},
		{"copytruncate-unpaused", "copytruncate\ncompress\ndelaycompress", false, false},
	}
	const total = 12000
	for _, c := range configs {
		for _, m := range modes {
			t.Run(c.name+"/"+m.name, func(t *testing.T) {
				dir := t.TempDir()
				log := filepath.Join(dir, "mail.log")
				writeFile(t, log, "")
				r := newReader(t, openFollower(t, log, Options{Poll: m.poll, Drain: time.Second}), 64<<10)

				w := exec.Command(os.Args[0], "-test.run=^$")
				w.Env = append(os.Environ(), "FOLLOW_TEST_WRITER="+log, "FOLLOW_TEST_LINES="+strconv.Itoa(total))
				w.Stderr = os.Stderr
				if err := w.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- w.Wait() }()

				conf := filepath.Join(dir, "logrotate.conf")
				body := strings.ReplaceAll(c.conf, "%PID%", strconv.Itoa(w.Process.Pid))
				writeFile(t, conf, log+" {\n  rotate 1000\n  missingok\n  nomail\n"+body+"\n}\n")
				os.Chmod(conf, 0o644)
				state := filepath.Join(dir, "state")

				// Rotate once the writer is writing (its SIGHUP handler is
				// set before its first line) and the follower reading.
				r.until("the writer's first lines", wait, func() bool { return len(r.lines) >= 100 })
				rotations := 0
				var writerErr error
			loop:
				for {
					// Read while logrotate runs: the follower competes
					// with it, as in production.
					if c.pause {
						stopWriter(t, w.Process.Pid)
					}
					rot := exec.Command(lr, "-f", "-s", state, conf)
					out := make(chan []byte, 1)
					var rerr error
					go func() {
						b, err := rot.CombinedOutput()
						rerr = err
						out <- b
					}()
					var b []byte
				reading:
					for {
						select {
						case b = <-out:
							break reading
						default:
							r.step(20 * time.Millisecond)
						}
					}
					if c.pause {
						syscall.Kill(w.Process.Pid, syscall.SIGCONT)
					}
					if rerr != nil {
						t.Fatalf("logrotate: %v\n%s", rerr, b)
					}
					rotations++
					deadline := time.Now().Add(150 * time.Millisecond)
					for time.Now().Before(deadline) {
						r.step(20 * time.Millisecond)
					}
					select {
					case writerErr = <-done:
						break loop
					default:
					}
				}
				if writerErr != nil {
					t.Fatalf("writer: %v", writerErr)
				}
				want := make([]string, total)
				for i := range want {
					want[i] = fmt.Sprintf("line %07d %s", i, strings.Repeat("x", i%97))
				}
				onDisk := concatenated(t, log)
				if !c.exact {
					r.until("every line on disk", 30*time.Second, func() bool {
						return len(r.lines) > 0 && r.lines[len(r.lines)-1] == want[total-1]
					})
					r.drain(200 * time.Millisecond)
					checkSuperset(t, r.lines, onDisk, want)
				} else {
					r.lineCount(total, 30*time.Second)
					diffLines(t, r.lines, want)
					if t.Failed() {
						for i := range r.lines {
							if r.lines[i] != want[i] {
								for j := max(0, i-3); j < min(len(r.lines), i+3); j++ {
									t.Logf("%d %.12s ino %d", j, r.lines[j], r.inos[j])
								}
								for k, n := range r.notes {
									if r.noteAt[k] > i-40 && r.noteAt[k] < i+40 {
										t.Logf("note at %d: %s", r.noteAt[k], n.Text)
									}
								}
								break
							}
						}
					}
					diffLines(t, onDisk, want)
					if len(onDisk) != total {
						dumpFiles(t, log)
					}
				}
				t.Logf("%d rotations, notes %v", rotations, summarize(r.noteKinds()))
				if rotations < 3 {
					t.Errorf("only %d rotations while writing", rotations)
				}
			})
		}
	}
}

// stopWriter stops the writer and waits until it is stopped (kill only
// queues the signal).
func stopWriter(t *testing.T, pid int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGSTOP)
	for i := 0; i < 1000; i++ {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// pid (comm) S …: the state follows the last ')'.
		if j := strings.LastIndexByte(string(b), ')'); j > 0 && j+2 < len(b) && (b[j+2] == 'T' || b[j+2] == 't') {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the writer does not stop")
}

// checkSuperset checks that got holds every line of onDisk, in order and
// once, and otherwise only lines that were written (and that logrotate
// dropped).
func checkSuperset(t *testing.T, got, onDisk, written []string) {
	t.Helper()
	index := map[string]int{}
	for i, l := range written {
		index[l] = i
	}
	last := -1
	for i, l := range got {
		n, ok := index[l]
		if !ok {
			t.Fatalf("line %d %q was never written", i+1, l)
		}
		if n <= last {
			t.Fatalf("line %d %q after writer line %d: out of order or twice", i+1, l, last)
		}
		last = n
	}
	have := map[string]bool{}
	for _, l := range got {
		have[l] = true
	}
	for _, l := range onDisk {
		if !have[l] {
			t.Fatalf("%q is in the files but was not delivered", l)
		}
	}
	t.Logf("%d lines written, %d in the files, %d delivered", len(written), len(onDisk), len(got))
}

// concatenated reads the rotated files, oldest first, then the live file.
func concatenated(t *testing.T, log string) []string {
	t.Helper()
	set, err := rotatedSet(log)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range append(pathsOf(set), log) {
		f, err := input.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(io.Reader(f))
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return out
}

func dumpFiles(t *testing.T, log string) {
	set, _ := rotatedSet(log)
	for _, p := range append(pathsOf(set), log) {
		f, err := input.Open(p, nil)
		if err != nil {
			t.Log(err)
			continue
		}
		b, _ := io.ReadAll(f)
		f.Close()
		ls := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		t.Logf("%s: %d lines, %.12s … %.12s", filepath.Base(p), len(ls), ls[0], ls[len(ls)-1])
	}
}

func pathsOf(set []rotatedFile) []string {
	var out []string
	for _, r := range set {
		out = append(out, r.path)
	}
	return out
}

func summarize(kinds []string) map[string]int {
	m := map[string]int{}
	for _, k := range kinds {
		m[k]++
	}
	return m
}
