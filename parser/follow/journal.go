package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
)

// JournalOptions configure a Journal.
type JournalOptions struct {
	// Command is the journalctl to run; "" means journalctl from PATH.
	Command string
	// Units are systemd unit patterns (journalctl -u, globs allowed:
	// "postfix*" matches postfix.service and postfix@-.service). None
	// means the whole journal.
	Units []string
	// Directory reads the journal files in a directory (journalctl
	// --directory): a container's or a copied /var/log/journal.
	Directory string
	// After is the cursor of the last entry already read (a committed
	// position); "" reads every entry the journal still has.
	After string
	// Known continues the byte and line counts of an earlier run.
	Known Position
}

// Journal follows the systemd journal through journalctl: first
// `journalctl -o json` up to the entries that exist (then NoteCaughtUp),
// then `journalctl -f -o json` after the last cursor read. journalctl is
// run directly, never through a shell; unit patterns are single
// arguments.
//
// Positions are checkpointed as cursors: JournalCursor returns a line's.
type Journal struct {
	opts   JournalOptions
	pos    Position
	cursor string
	follow bool // the -f phase
	cmd    *exec.Cmd
	stream *Stream
	stderr *limitedBuffer
}

// JournalName is the Position.Name (and fingerprint) of the journal read
// with these unit patterns.
func JournalName(units []string) string {
	return "journal:" + strings.Join(units, ",")
}

// NewJournal returns a Journal; journalctl starts at the first Next.
func NewJournal(opts JournalOptions) *Journal {
	if opts.Command == "" {
		opts.Command = "journalctl"
	}
	name := JournalName(opts.Units)
	pos := Position{Name: name, File: name, Fingerprint: name, Offset: opts.Known.Offset, Lines: opts.Known.Lines}
	return &Journal{opts: opts, pos: pos, cursor: opts.After}
}

// args returns journalctl's arguments for the current phase.
func (j *Journal) args() []string {
	a := []string{"--output=json", "--no-pager", "--quiet",
		// Only what the parser reads (journalctl adds __CURSOR and the
		// timestamps): entries are several times smaller.
		"--output-fields=MESSAGE,_HOSTNAME,SYSLOG_IDENTIFIER,_PID,SYSLOG_PID"}
	if j.opts.Directory != "" {
		a = append(a, "--directory="+j.opts.Directory)
	}
	for _, u := range j.opts.Units {
		a = append(a, "--unit="+u)
	}
	if j.cursor != "" {
		a = append(a, "--after-cursor="+j.cursor)
	}
	if j.follow {
		a = append(a, "--follow")
		if j.cursor == "" {
			a = append(a, "--no-tail") // everything: there was nothing before
		}
	}
	return a
}

func (j *Journal) start() error {
	cmd := exec.Command(j.opts.Command, j.args()...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	j.stderr = &limitedBuffer{max: 4096}
	cmd.Stderr = j.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", j.opts.Command, err)
	}
	j.cmd = cmd
	j.stream = NewStream(out, j.pos.Name)
	return nil
}

// stop ends the current journalctl and returns its failure, if any.
func (j *Journal) stop(kill bool) error {
	if j.cmd == nil {
		return nil
	}
	if kill {
		j.cmd.Process.Kill()
	}
	j.stream.Close()
	err := j.cmd.Wait()
	j.cmd, j.stream = nil, nil
	if kill {
		return nil
	}
	if err != nil {
		if msg := j.stderr.firstLine(); msg != "" {
			return fmt.Errorf("%s: %w: %s", j.opts.Command, err, msg)
		}
		return fmt.Errorf("%s: %w", j.opts.Command, err)
	}
	return nil
}

// Next returns the next entries (one JSON object per line). See Source.
func (j *Journal) Next(ctx context.Context, dst []byte) (Chunk, error) {
	for {
		if j.stream == nil {
			if err := j.start(); err != nil {
				return Chunk{}, err
			}
		}
		c, err := j.stream.Next(ctx, dst)
		if err == nil {
			c.Pos = j.pos
			j.pos.Offset = c.End()
			j.pos.Lines += countLines(c.Data)
			if cur := lastCursor(c.Data); cur != "" {
				j.cursor = cur
			}
			return c, nil
		}
		if !errors.Is(err, io.EOF) {
			return Chunk{}, err
		}
		if werr := j.stop(false); werr != nil {
			return Chunk{}, werr
		}
		if j.follow {
			return Chunk{}, fmt.Errorf("%s --follow ended", j.opts.Command)
		}
		j.follow = true
		return noteChunk(j.pos, NoteCaughtUp, "caught up with the journal", 0), nil
	}
}

// Close stops journalctl.
func (j *Journal) Close() error { return j.stop(true) }

// lastCursor returns the cursor of the last line of data.
func lastCursor(data []byte) string {
	data = bytes.TrimRight(data, "\n")
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[i+1:]
	}
	return JournalCursor(data)
}

// JournalCursor returns the __CURSOR of one `journalctl -o json` line, ""
// if it has none. Cursors are made of [a-z0-9=;] and need no unescaping.
func JournalCursor(line []byte) string {
	const key = `"__CURSOR"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return ""
	}
	b := bytes.TrimLeft(line[i+len(key):], " \t")
	if len(b) == 0 || b[0] != ':' {
		return ""
	}
	b = bytes.TrimLeft(b[1:], " \t")
	if len(b) == 0 || b[0] != '"' {
		return ""
	}
	b = b[1:]
	end := bytes.IndexByte(b, '"')
	if end <= 0 || bytes.IndexByte(b[:end], '\\') >= 0 {
		return ""
	}
	return string(b[:end])
}

// limitedBuffer keeps the first max bytes written to it (journalctl's
// stderr, for the error message).
type limitedBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.max - len(l.b); n > 0 {
		l.b = append(l.b, p[:min(n, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) firstLine() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := strings.TrimSpace(string(l.b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
