package parser

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"time"
)

// BatchReader reads and parses on several goroutines and hands events back
// in input order, a block at a time. It exists because parsing is the hot
// path of multi-GB archives: one goroutine reads (and, through the
// io.Reader, decompresses), GOMAXPROCS goroutines parse, and the caller's
// goroutine resolves timestamps (which needs line order) and consumes.
//
//	br := parser.NewBatchReader(f, parser.Options{Ref: mtime})
//	defer br.Close()
//	for {
//		evs, err := br.Next(ctx)
//		if err != nil { … }        // io.EOF at the end
//		for i := range evs { use(&evs[i]) }
//	}
//
// Events (and their byte slices) are valid until the next call to Next.
// It yields exactly the events a Reader with the same Options yields.
type BatchReader struct {
	opts    Options
	src     io.Reader
	workers int
	block   int

	once    sync.Once
	quit    chan struct{}
	work    chan *Batch
	ordered chan *Batch
	free    chan *Batch

	clock Clock
	// The last stamp resolved and its time: most lines of a busy log
	// share their second with the line before, and Resolve gives an equal
	// stamp the same time (it changes no state for it).
	lastStamp Stamp
	lastTime  time.Time
	haveLast  bool
	cur       *Batch
	prep      any // Options.Prepare's result for cur
	line      int64
	off       int64
	err       error
}

// Batch is one block of input and its parsed events.
type Batch struct {
	events   []Event
	n        int
	buf      []byte // block bytes
	data     []byte // complete lines within buf
	extra    int    // bytes of an overlong line discarded after data
	long     bool   // data is the head of a line longer than the block
	partial  bool   // data's last line has no newline (end of input)
	done     chan struct{}
	err      error // read error after this block
	maxLine  int
	consumed int // input bytes this block accounts for
	prep     any // Options.Prepare's result for events
}

// blockSize balances pipelining against the memory held by in-flight
// events (an Event is about 1 KiB).
const blockSize = 64 << 10

// NewBatchReader returns a BatchReader over r. Goroutines start on the
// first call to Next; Close stops them.
func NewBatchReader(r io.Reader, opts Options) *BatchReader {
	w := runtime.GOMAXPROCS(0)
	if w > 8 {
		w = 8
	}
	block := blockSize
	if m := opts.maxLine(); block < m+m/2 {
		block = m + m/2
	}
	return &BatchReader{
		opts: opts, src: r, workers: w, block: block,
		clock: opts.clock(), line: opts.FirstLine, off: opts.Offset,
	}
}

func (br *BatchReader) start() {
	// One block per worker, one being read and one being consumed:
	// more only hold more events in memory (about 1 KiB each, scanned by
	// every garbage collection) when the consumer is the slower side.
	n := br.workers + 2
	br.quit = make(chan struct{})
	br.work = make(chan *Batch, n)
	br.ordered = make(chan *Batch, n)
	br.free = make(chan *Batch, n)
	for i := 0; i < n; i++ {
		br.free <- &Batch{buf: make([]byte, 0, br.block), maxLine: br.opts.maxLine()}
	}
	go br.readLoop()
	for i := 0; i < br.workers; i++ {
		go br.parseLoop()
	}
}

// Next returns the next events in input order, or io.EOF after the last.
// A read error of the underlying reader is returned after the events read
// before it.
func (br *BatchReader) Next(ctx context.Context) ([]Event, error) {
	br.once.Do(br.start)
	if br.cur != nil {
		br.free <- br.cur
		br.cur, br.prep = nil, nil
	}
	if br.err != nil {
		return nil, br.err
	}
	var b *Batch
	var ok bool
	select {
	case b, ok = <-br.ordered:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !ok {
		br.err = io.EOF
		return nil, io.EOF
	}
	if err := br.await(ctx, b); err != nil {
		return nil, err
	}
	evs := b.events[:b.n]
	base := br.off
	for i := range evs {
		ev := &evs[i]
		br.line++
		ev.Line = br.line
		ev.End += base
		if ev.Kind != KindMalformed {
			if br.haveLast && ev.Stamp == br.lastStamp {
				ev.Time = br.lastTime
			} else {
				ev.Time = br.clock.Resolve(&ev.Stamp)
				br.lastStamp, br.lastTime, br.haveLast = ev.Stamp, ev.Time, true
			}
		}
	}
	br.off += int64(b.consumed)
	br.cur, br.prep = b, b.prep
	if b.err != nil {
		br.err = b.err
	}
	return evs, nil
}

// Prepared returns what Options.Prepare returned for the events the last
// Next returned (nil without Prepare). It is valid until the next Next.
func (br *BatchReader) Prepared() any { return br.prep }

// Line returns the number of lines returned so far (plus Options.FirstLine).
func (br *BatchReader) Line() int64 { return br.line }

// Offset returns the stream offset just past the last line returned.
func (br *BatchReader) Offset() int64 { return br.off }

// Close stops the goroutines. It does not close the underlying reader; a
// goroutine blocked in its Read returns when that Read does.
func (br *BatchReader) Close() {
	br.once.Do(func() {}) // never started: nothing to stop
	if br.quit == nil {
		return
	}
	select {
	case <-br.quit:
	default:
		close(br.quit)
	}
}

func (br *BatchReader) readLoop() {
	defer close(br.work)
	defer close(br.ordered)
	var carry []byte
	scratch := make([]byte, 32<<10)
	eof := false
	for !eof {
		var b *Batch
		select {
		case b = <-br.free:
		case <-br.quit:
			return
		}
		b.buf = append(b.buf[:0], carry...)
		b.extra, b.long, b.partial, b.err = 0, false, false, nil
		carry = carry[:0]
		// Fill the block.
		for len(b.buf) < cap(b.buf) {
			n, err := br.src.Read(b.buf[len(b.buf):cap(b.buf)])
			b.buf = b.buf[:len(b.buf)+n]
			if err != nil {
				eof = true
				if !errors.Is(err, io.EOF) {
					b.err = err
				}
				break
			}
		}
		nl := bytes.LastIndexByte(b.buf, '\n')
		switch {
		case nl >= 0:
			b.data = b.buf[:nl+1]
			carry = append(carry, b.buf[nl+1:]...)
			if eof && len(carry) > 0 && !br.opts.HoldPartial {
				// The input ends without a newline: the last line goes in
				// the next block, alone.
				eof = false
			}
		case !eof:
			// No newline in a whole block: a line longer than the block.
			// Keep its head, discard the rest up to the newline.
			b.data, b.long = b.buf, true
			for {
				n, err := br.src.Read(scratch)
				chunk := scratch[:n]
				if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
					b.extra += i + 1
					carry = append(carry, chunk[i+1:]...)
					if err != nil {
						eof = true
						if !errors.Is(err, io.EOF) {
							b.err = err
						}
					}
					break
				}
				b.extra += n
				if err != nil {
					eof = true
					if !errors.Is(err, io.EOF) {
						b.err = err
					}
					break
				}
			}
		default: // eof without newline
			if br.opts.HoldPartial {
				b.data = b.buf[:0]
			} else {
				b.data = b.buf
				b.partial = len(b.buf) > 0
			}
		}
		if len(carry) > 0 && eof && br.opts.HoldPartial {
			carry = carry[:0]
		}
		b.consumed = len(b.data) + b.extra
		b.done = make(chan struct{})
		select {
		case br.work <- b:
		case <-br.quit:
			return
		}
		select {
		case br.ordered <- b:
		case <-br.quit:
			return
		}
	}
}

func (br *BatchReader) parseLoop() {
	for b := range br.work {
		br.parse(b)
	}
}

// parse parses b and runs Options.Prepare on its events.
func (br *BatchReader) parse(b *Batch) {
	b.parse()
	if br.opts.Prepare != nil {
		b.prep = br.opts.Prepare(b.events[:b.n], b.prep)
	}
	close(b.done)
}

// await returns when b is parsed. While it is not, the caller parses the
// blocks no worker has taken yet (b itself, or those after it) instead of
// waiting: the consumer is the pipeline's one serial stage, and a worker
// woken to parse a block must first get a CPU (hundreds of µs when the
// other one is busy, and a wake-up of an idle one costs tens of µs in a
// virtual machine), while the consumer is on one already.
func (br *BatchReader) await(ctx context.Context, b *Batch) error {
	for {
		select {
		case <-b.done:
			return nil
		default:
		}
		select {
		case w, ok := <-br.work:
			if ok {
				br.parse(w)
				continue
			}
		default:
		}
		select {
		case <-b.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parse splits the block into lines and parses each. End offsets are
// relative to the block; Next makes them absolute.
func (b *Batch) parse() {
	b.n = 0
	if b.long {
		ev := b.next()
		head := b.data
		if len(head) > b.maxLine {
			head = head[:b.maxLine]
		}
		emitBatch(head, true, ev, nil)
		ev.End = int64(len(b.data) + b.extra)
		return
	}
	data := b.data
	pos := 0
	var hint stampHint
	for pos < len(data) {
		i := bytes.IndexByte(data[pos:], '\n')
		end := len(data)
		lineEnd := end
		if i >= 0 {
			lineEnd = pos + i
			end = lineEnd + 1
		}
		line := data[pos:lineEnd]
		if b.n == len(b.events) {
			b.grow(data[pos:])
		}
		ev := &b.events[b.n]
		b.n++
		if len(line) > b.maxLine {
			emitBatch(line[:b.maxLine], true, ev, nil)
		} else {
			emitBatch(line, false, ev, &hint)
		}
		ev.End = int64(end)
		pos = end
	}
}

var newline = []byte{'\n'}

// grow makes room for the lines of rest, the part of the block not parsed
// yet. Counting them only when the events run out, not for every block,
// spares a pass over the block (the events are reused from block to
// block, so they rarely run out); sizing to the count, not doubling,
// keeps the memory at what a block holds (an Event is about 1 KiB).
func (b *Batch) grow(rest []byte) {
	n := b.n + bytes.Count(rest, newline) + 1
	n += n / 8
	evs := make([]Event, n)
	// Written once now, though make returned them zeroed: the memory is
	// fresh from the kernel and reset reads an event before it writes
	// it. A first read of a page maps the shared zero page, and the
	// write after it must replace that mapping: a second fault and a
	// TLB flush on every CPU (tens of µs in a virtual machine), for
	// each of the megabytes a batch's events take.
	clear(evs[b.n:])
	copy(evs, b.events[:b.n])
	b.events = evs
}

func (b *Batch) next() *Event {
	if b.n == len(b.events) {
		b.events = append(b.events, Event{})
	}
	ev := &b.events[b.n]
	b.n++
	return ev
}

// emitNoTime is emit without time resolution (done in order by Next).
func emitNoTime(line []byte, tooLong bool, ev *Event) {
	if tooLong {
		ev.reset()
		ev.Kind = KindMalformed
		ev.Raw = line
		ev.TooLong = true
		return
	}
	ParseInto(line, ev)
}

// emitBatch is emitNoTime for a batch's lines, with hint, the block's
// last classic timestamp (see stampHint).
func emitBatch(line []byte, tooLong bool, ev *Event, hint *stampHint) {
	ev.reset()
	if tooLong {
		ev.Kind = KindMalformed
		ev.Raw = line
		ev.TooLong = true
		return
	}
	parseLine(line, ev, hint)
}
