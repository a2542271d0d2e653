package follow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// Stream reads lines from an io.Reader that cannot be reopened or
// resumed: standard input, a pipe, journalctl's output. Its positions have
// no fingerprint. Next returns io.EOF after the last line (delivered even
// without a newline).
type Stream struct {
	r    io.Reader
	pos  Position
	data chan []byte
	ack  chan struct{}
	done chan struct{}
	errc chan error

	started bool
	pend    []byte // bytes received, not delivered yet
	long    longLine
	eof     bool
	err     error
}

// NewStream returns a Stream over r; name is its Position.Name ("-").
func NewStream(r io.Reader, name string) *Stream {
	return &Stream{
		r:    r,
		pos:  Position{Name: name, File: name},
		data: make(chan []byte),
		ack:  make(chan struct{}),
		done: make(chan struct{}),
		errc: make(chan error, 1),
	}
}

// start runs the reading goroutine: a Read may block for ever (a quiet
// pipe), and Next must still return when ctx is done.
func (s *Stream) start() {
	s.started = true
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := s.r.Read(buf)
			if n > 0 {
				select {
				case s.data <- buf[:n]:
				case <-s.done:
					return
				}
				select {
				case <-s.ack:
				case <-s.done:
					return
				}
			}
			if err != nil {
				s.errc <- err
				return
			}
		}
	}()
}

// Next returns the next complete lines. See Source.
func (s *Stream) Next(ctx context.Context, dst []byte) (Chunk, error) {
	if len(dst) < MinBuffer {
		return Chunk{}, fmt.Errorf("follow: buffer of %d bytes, want at least %d", len(dst), MinBuffer)
	}
	if !s.started {
		s.start()
	}
	for {
		if c, ok := s.take(dst); ok {
			return c, nil
		}
		if s.eof {
			if s.err != nil && !errors.Is(s.err, io.EOF) {
				return Chunk{}, fmt.Errorf("read %s after line %d: %w", s.pos.Name, s.pos.Lines, s.err)
			}
			return Chunk{}, io.EOF
		}
		select {
		case <-ctx.Done():
			return Chunk{}, ctx.Err()
		case b := <-s.data:
			s.pend = append(s.pend, b...)
			s.ack <- struct{}{}
		case err := <-s.errc:
			s.eof, s.err = true, err
		}
	}
}

// take moves complete lines from pend into dst.
func (s *Stream) take(dst []byte) (Chunk, bool) {
	if s.long.head != nil {
		i := bytes.IndexByte(s.pend, '\n')
		if i < 0 && !s.eof {
			s.long.skip += int64(len(s.pend))
			s.pend = s.pend[:0]
			return Chunk{}, false
		}
		end := len(s.pend)
		if i >= 0 {
			end = i + 1
		}
		s.long.skip += int64(end)
		s.consume(end)
		c := Chunk{Pos: s.pos, Data: dst[:copy(dst, s.long.head)], Skip: s.long.skip}
		s.pos.Offset += int64(len(c.Data)) + s.long.skip
		s.pos.Lines++
		s.long = longLine{}
		return c, true
	}
	if len(s.pend) == 0 {
		return Chunk{}, false
	}
	m := min(len(s.pend), len(dst))
	k := lastNewline(s.pend[:m])
	if k == 0 {
		switch {
		case len(s.pend) >= len(dst):
			s.long.head = append(s.long.head[:0], s.pend[:len(dst)]...)
			s.consume(len(dst))
			return s.take(dst)
		case s.eof:
			k = len(s.pend) // the stream ended: its last line needs no newline
		default:
			return Chunk{}, false
		}
	}
	c := Chunk{Pos: s.pos, Data: dst[:copy(dst, s.pend[:k])]}
	s.consume(k)
	s.pos.Offset += int64(k)
	s.pos.Lines += countLines(c.Data)
	return c, true
}

func (s *Stream) consume(n int) {
	m := copy(s.pend, s.pend[n:])
	s.pend = s.pend[:m]
}

// Close stops the reading goroutine (a Read already blocked returns when
// its input does).
func (s *Stream) Close() error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	return nil
}
