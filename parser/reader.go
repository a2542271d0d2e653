package parser

import (
	"bufio"
	"errors"
	"io"
	"time"
)

// Options configure a Reader.
type Options struct {
	// Year is the year of the first year-less (classic syslog) line; 0 means
	// infer it from Ref.
	Year int
	// Ref is a time no line is later than: the file's modification time,
	// or now for a stream. Zero means now.
	Ref time.Time
	// Loc is the zone of timestamps without one; nil means time.Local.
	Loc *time.Location
	// MaxLineLen bounds a line; longer lines become KindMalformed events
	// (with TooLong set and Raw cut to this length). 0 means 64 KiB.
	MaxLineLen int
	// HoldPartial makes the reader stop before a last line that has no
	// newline yet (a file being written): the next reader started at End
	// gets it whole. Without it such a line is returned like any other.
	HoldPartial bool
	// Offset is the byte offset of the input's first byte in its stream,
	// and FirstLine the number of the line before it (resuming at a
	// checkpoint); they only shift Event.End and Event.Line.
	Offset    int64
	FirstLine int64
	// Prepare, when set, is called by a BatchReader on its parsing
	// goroutines with each block's events, in line order within the
	// block but concurrently across blocks, before their times are
	// resolved: per-line work that needs no state can run there, beside
	// the parsing, instead of on the consumer's goroutine. What it
	// returns is handed back by Prepared with those events; reuse is
	// what it returned for an earlier block (nil at first), to be
	// recycled. It must not keep or change the events. Reader ignores it.
	Prepare func(evs []Event, reuse any) any
}

const defaultMaxLine = 64 << 10

func (o *Options) maxLine() int {
	if o.MaxLineLen > 0 {
		return o.MaxLineLen
	}
	return defaultMaxLine
}

func (o *Options) clock() Clock {
	return Clock{Year: o.Year, Ref: o.Ref, Loc: o.Loc}
}

// Reader reads events one line at a time, in the manner of bufio.Scanner:
//
//	r := parser.NewReader(f, parser.Options{Ref: mtime})
//	for r.Scan() {
//		ev := r.Event()
//	}
//	if err := r.Err(); err != nil { … }
//
// Err reports only read errors of the underlying reader: lines that cannot
// be parsed are events of kind Malformed, Unknown or Foreign.
type Reader struct {
	br      *bufio.Reader
	opts    Options
	clock   Clock
	ev      Event
	line    int64
	off     int64
	err     error
	long    []byte
	maxLine int
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader, opts Options) *Reader {
	max := opts.maxLine()
	return &Reader{
		br:      bufio.NewReaderSize(r, max+1),
		opts:    opts,
		clock:   opts.clock(),
		line:    opts.FirstLine,
		off:     opts.Offset,
		maxLine: max,
	}
}

// Scan advances to the next line. It returns false at the end of the
// input or on a read error (see Err).
func (r *Reader) Scan() bool {
	if r.err != nil {
		return false
	}
	line, n, tooLong, err := r.readLine()
	if n == 0 {
		if err != nil && err != io.EOF {
			r.err = err
		} else {
			r.err = io.EOF
		}
		return false
	}
	if err != nil && err != io.EOF {
		r.err = err // deliver this line; Scan stops next time
	}
	r.line++
	r.off += int64(n)
	emit(line, tooLong, &r.ev, &r.clock)
	r.ev.Line, r.ev.End = r.line, r.off
	return true
}

// readLine returns one line (without the terminator), the number of input
// bytes it took, and whether it was cut at MaxLineLen.
func (r *Reader) readLine() (line []byte, n int, tooLong bool, err error) {
	b, err := r.br.ReadSlice('\n')
	n = len(b)
	if err == bufio.ErrBufferFull {
		// Keep the head as a sample; discard the rest of the line.
		r.long = append(r.long[:0], b[:r.maxLine]...)
		for err == bufio.ErrBufferFull {
			b, err = r.br.ReadSlice('\n')
			n += len(b)
		}
		if err != nil && err != io.EOF {
			return r.long, n, true, err
		}
		return r.long, n, true, nil
	}
	if err == io.EOF && n > 0 && r.opts.HoldPartial {
		return nil, 0, false, io.EOF
	}
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > r.maxLine {
		return b[:r.maxLine], n, true, err
	}
	return b, n, false, err
}

// Event returns the current event. It is overwritten by the next Scan.
func (r *Reader) Event() *Event { return &r.ev }

// Err returns the first read error, or nil at a clean end of input.
func (r *Reader) Err() error {
	if errors.Is(r.err, io.EOF) {
		return nil
	}
	return r.err
}

// Line returns the number of lines read so far (plus Options.FirstLine).
func (r *Reader) Line() int64 { return r.line }

// Offset returns the stream offset just past the last line returned.
func (r *Reader) Offset() int64 { return r.off }

// emit parses one line into ev and resolves its time.
func emit(line []byte, tooLong bool, ev *Event, clock *Clock) {
	emitNoTime(line, tooLong, ev)
	if ev.Kind != KindMalformed {
		ev.Time = clock.Resolve(&ev.Stamp)
	}
}
