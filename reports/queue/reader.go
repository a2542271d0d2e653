package queue

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/valyala/fastjson"
)

// Queue names as postqueue -j reports them (mail_queue.h MAIL_QUEUE_*), in
// the order a message normally travels.
var queueNames = [...]string{"maildrop", "incoming", "active", "deferred", "hold"}

// QueueNames returns the five queue names postqueue lists.
func QueueNames() []string { return append([]string(nil), queueNames[:]...) }

func knownQueue(name string) bool {
	for _, q := range queueNames {
		if q == name {
			return true
		}
	}
	return false
}

// Message is one queue file as listed by postqueue -j.
type Message struct {
	Queue        string      `json:"queue_name"`
	ID           string      `json:"queue_id"`
	Arrival      int64       `json:"arrival_time"` // Unix seconds
	Size         int64       `json:"message_size"` // bytes
	ForcedExpire bool        `json:"forced_expire"`
	Sender       string      `json:"sender"` // "" is the null sender (bounces)
	Recipients   []Recipient `json:"recipients"`

	Line int `json:"-"` // 1-based line number in the input
}

// Recipient is one recipient of a queued message. DelayReason is empty when
// no delivery has been attempted (or for a message put on hold before).
type Recipient struct {
	Address     string `json:"address"`
	DelayReason string `json:"delay_reason"`
}

// ParseError is a line that is not a postqueue -j object. Like
// encoding/csv's ParseError it carries the line number.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Errors a ParseError may wrap besides encoding/json's.
var (
	ErrLineTooLong = errors.New("line too long")
	ErrNoQueueID   = errors.New("no queue_id")
	ErrNoQueueName = errors.New("no queue_name")
	ErrNotObject   = errors.New("not a JSON object")
)

// Defaults for a Reader's limits.
const (
	// DefaultMaxLine bounds the memory one line may take. postqueue writes
	// one line per message with every recipient and delay reason in it; a
	// message with 10,000 recipients and 300-byte reasons is about 4 MB.
	DefaultMaxLine = 64 << 20
	// DefaultMaxSamples is how many malformed lines are kept with their
	// error; all of them are counted.
	DefaultMaxSamples = 100
)

// Reader reads postqueue -j output one message at a time, in the style of
// bufio.Scanner: Scan, Message, Err. A malformed line never stops it: it is
// counted, the first MaxSamples are kept, and Scan moves on.
type Reader struct {
	// MaxLine is the longest line accepted (bytes, without the newline);
	// longer lines are skipped without being buffered. 0 means DefaultMaxLine.
	MaxLine int
	// MaxSamples is how many malformed lines keep their error. 0 means
	// DefaultMaxSamples; negative keeps none.
	MaxSamples int

	br        *bufio.Reader
	p         fastjson.Parser // reused: its values live until the next line
	buf       []byte
	line      int
	msg       *Message
	err       error
	malformed int
	samples   []*ParseError
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Scan advances to the next well-formed message. It returns false at the end
// of the input or on a read error (see Err).
func (r *Reader) Scan() bool {
	r.msg = nil
	for r.err == nil {
		line, err := r.readLine()
		if err != nil {
			if err != io.EOF {
				r.err = fmt.Errorf("line %d: %w", r.line, err)
			} else {
				r.err = io.EOF
			}
			if line == nil {
				break
			}
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		m, perr := r.decode(line)
		if perr != nil {
			r.bad(perr)
			continue
		}
		m.Line = r.line
		r.msg = m
		return true
	}
	return false
}

// readLine returns the next line, with its newline. A line longer than
// MaxLine is consumed and counted as malformed, never buffered whole. At the
// end of the input it returns the last unterminated line (if any) together
// with io.EOF.
func (r *Reader) readLine() ([]byte, error) {
	max := r.MaxLine
	if max <= 0 {
		max = DefaultMaxLine
	}
	for {
		r.buf = r.buf[:0]
		tooLong := false
		var err error
		for {
			var chunk []byte
			chunk, err = r.br.ReadSlice('\n')
			if !tooLong {
				if len(r.buf)+len(chunk) > max+1 { // +1: the newline itself
					tooLong = true
					r.buf = r.buf[:0]
				} else {
					r.buf = append(r.buf, chunk...)
				}
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if err == io.EOF && len(r.buf) == 0 && !tooLong {
			return nil, io.EOF
		}
		r.line++
		if tooLong {
			r.bad(&ParseError{Line: r.line, Err: ErrLineTooLong})
			if err == io.EOF {
				return nil, io.EOF
			}
			continue
		}
		return r.buf, err
	}
}

func (r *Reader) bad(e *ParseError) {
	if e.Line == 0 {
		e.Line = r.line
	}
	r.malformed++
	max := r.MaxSamples
	if max == 0 {
		max = DefaultMaxSamples
	}
	if len(r.samples) < max {
		r.samples = append(r.samples, e)
	}
}

// decode parses one line. The line is first validated strictly (RFC 8259:
// no raw control characters in strings, valid escapes), because fastjson's
// parser is deliberately lenient; then the fields are taken by name with
// their JSON types checked: a queue_id that is a number, or an arrival_time
// that is not an integer, makes the line malformed, as with encoding/json.
// Unknown fields are ignored (later Postfix versions may add some). It
// allocates a fresh Message so that nothing can be inherited from the
// previous line.
func (r *Reader) decode(line []byte) (*Message, *ParseError) {
	if line[0] != '{' {
		return nil, &ParseError{Err: ErrNotObject}
	}
	if err := fastjson.ValidateBytes(line); err != nil {
		return nil, &ParseError{Err: jsonError(err)}
	}
	if err := rawControl(line); err != nil {
		return nil, &ParseError{Err: err}
	}
	v, err := r.p.ParseBytes(line)
	if err != nil {
		return nil, &ParseError{Err: jsonError(err)}
	}
	o, err := v.Object()
	if err != nil {
		return nil, &ParseError{Err: ErrNotObject}
	}
	m := new(Message)
	var ferr error
	field := func(name string, e error) {
		if e != nil && ferr == nil {
			ferr = fmt.Errorf("%s: %w", name, e)
		}
	}
	o.Visit(func(k []byte, v *fastjson.Value) {
		if ferr != nil {
			return
		}
		if v.Type() == fastjson.TypeNull {
			// As in encoding/json: null leaves a value as it is, and
			// makes the recipient list empty.
			if string(k) == "recipients" {
				m.Recipients = nil
			}
			return
		}
		switch string(k) {
		case "queue_name":
			m.Queue, err = str(v)
			field("queue_name", err)
		case "queue_id":
			m.ID, err = str(v)
			field("queue_id", err)
		case "arrival_time":
			m.Arrival, err = v.Int64()
			field("arrival_time", err)
		case "message_size":
			m.Size, err = v.Int64()
			field("message_size", err)
		case "forced_expire":
			m.ForcedExpire, err = v.Bool()
			field("forced_expire", err)
		case "sender":
			m.Sender, err = str(v)
			field("sender", err)
		case "recipients":
			field("recipients", recipients(v, m))
		}
	})
	if ferr != nil {
		return nil, &ParseError{Err: ferr}
	}
	if m.ID == "" {
		return nil, &ParseError{Err: ErrNoQueueID}
	}
	if m.Queue == "" {
		return nil, &ParseError{Err: ErrNoQueueName}
	}
	return m, nil
}

// ErrJSON is wrapped by every syntax error of a line.
var ErrJSON = errors.New("invalid JSON")

// rawControl reports a raw control character (below U+0020) inside a JSON
// string, which RFC 8259 forbids. fastjson's validator checks this only for
// strings without escapes: in a string with an escape it scans what follows
// the last escape, so "\x00\\b" passes (found by FuzzDecodeLikeEncodingJSON).
// Outside strings only tab, CR and LF may appear below U+0020, and
// ValidateBytes has already refused the rest; so a line with no byte below
// U+0020 at all, which is every line postqueue writes, needs one quick pass.
func rawControl(line []byte) error {
	i := 0
	for i < len(line) && line[i] >= 0x20 {
		i++
	}
	if i == len(line) {
		return nil
	}
	in := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			in = !in
		case c == '\\' && in:
			i++ // the escaped byte cannot open or close a string
		case c < 0x20 && in:
			return fmt.Errorf("%w: string cannot contain control char 0x%02X", ErrJSON, c)
		}
	}
	return nil
}

// jsonError shortens fastjson's error, a chain of "cannot parse object:
// cannot parse array: …; unparsed tail: …", to its innermost cause.
func jsonError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "; unparsed tail"); i >= 0 {
		msg = msg[:i]
	}
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return fmt.Errorf("%w: %s", ErrJSON, msg)
}

// str returns a JSON string.
func str(v *fastjson.Value) (string, error) {
	b, err := v.StringBytes()
	return string(b), err
}

func recipients(v *fastjson.Value, m *Message) error {
	a, err := v.Array()
	if err != nil {
		return err
	}
	m.Recipients = make([]Recipient, len(a))
	for i, rv := range a {
		if rv.Type() == fastjson.TypeNull {
			continue // an empty recipient, as encoding/json would decode it
		}
		o, err := rv.Object()
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
		rc := &m.Recipients[i]
		o.Visit(func(k []byte, v *fastjson.Value) {
			if err != nil || v.Type() == fastjson.TypeNull {
				return
			}
			switch string(k) {
			case "address":
				rc.Address, err = str(v)
			case "delay_reason":
				rc.DelayReason, err = str(v)
			}
		})
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
	}
	return nil
}

// Message returns the message found by the last successful Scan. It stays
// valid after the next Scan.
func (r *Reader) Message() *Message { return r.msg }

// Err returns the first read error, or nil at a clean end of input.
// Malformed lines are not errors: see Malformed and Samples.
func (r *Reader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// Lines returns the number of lines read so far.
func (r *Reader) Lines() int { return r.line }

// Malformed returns the number of lines that were not postqueue -j objects.
func (r *Reader) Malformed() int { return r.malformed }

// Samples returns the first malformed lines with their line numbers.
func (r *Reader) Samples() []*ParseError { return r.samples }
