package badgerindex

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/pfdiag/pfdiag/correlate"
)

// chunkWriter encodes finished messages into chunks and writes them on
// its own goroutine, so encoding and writing run beside the correlator
// instead of in its way. Each chunk is written as soon as it is full: its
// records to the chunk file, then its keys in a small transaction of
// their own (committed asynchronously; a checkpoint waits for them).
type chunkWriter struct {
	x    *Index
	reqs chan writeReq
	wg   sync.WaitGroup // the goroutine

	// Owned by the goroutine.
	chunk   chunkBuf
	seq     uint64 // seq the current chunks are written under
	n       uint32 // next chunk number within seq
	pending sync.WaitGroup
	mu      sync.Mutex
	err     error    // first write error; sticky
	hdr     []byte   // a chunk's header, before it is put in place
	sortTmp []uint64 // sortPostings' scratch
	release func([]*correlate.Message)
	file    *chunkFileWriter
}

type writeReq struct {
	msgs   []*correlate.Message
	commit *commitJob // non-nil: write the partial chunk, wait for its commit, write the checkpoint
}

// chunkBuf collects finished messages into one chunk.
type chunkBuf struct {
	body      []byte
	lens      []int
	posts     []uint64
	min, max  int64
	haveRange bool
}

func newChunkWriter(x *Index) *chunkWriter {
	// Room for a few hundred messages (an append is one 64 KB block's
	// finished messages): the writer pauses at each commit (its keys,
	// the hour records Commit encoded) and when Badger syncs a full
	// value-log file, and the correlator should not wait for that. Not
	// more: whatever is queued when the input ends is encoded by this
	// goroutine alone while the others are done (64 appends were 20-25 ms
	// of a 1M-line run's tail).
	w := &chunkWriter{x: x, reqs: make(chan writeReq, 16), seq: x.committed + 1, file: x.chunkFile}
	w.wg.Add(1)
	go w.loop()
	return w
}

func (w *chunkWriter) loop() {
	defer w.wg.Done()
	for r := range w.reqs {
		if job := r.commit; job != nil {
			// Every chunk of the checkpoint is written before its commit
			// point.
			err := w.flushChunk()
			w.pending.Wait()
			if err == nil {
				err = w.error()
			}
			if err == nil {
				err = w.x.commit(job)
			}
			if err != nil {
				w.setErr(err)
			}
			// The next chunks belong to the checkpoint after this one.
			w.seq, w.n = job.seq+1, 0
			// Answered only once the hour encoders are done, even on an
			// error before commit: the next Commit reuses their buffers.
			job.encoded.Wait()
			job.done <- err
			continue
		}
		ok := true
		for _, m := range r.msgs {
			if err := w.add(m); err != nil {
				w.setErr(err)
				ok = false
				break
			}
		}
		if ok && w.release != nil {
			// Encoded: the index keeps nothing of them.
			w.release(r.msgs)
		}
	}
	// The partial chunk would never be committed: it is dropped.
	w.pending.Wait()
}

func (w *chunkWriter) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *chunkWriter) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *chunkWriter) append(ctx context.Context, msgs []*correlate.Message) error {
	if err := w.error(); err != nil {
		return err
	}
	select {
	case w.reqs <- writeReq{msgs: msgs}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// submit queues a checkpoint after the messages appended before it.
func (w *chunkWriter) submit(job *commitJob) {
	w.reqs <- writeReq{commit: job}
}

// stop ends the goroutine and closes (syncs) the chunk file.
func (w *chunkWriter) stop() error {
	close(w.reqs)
	w.wg.Wait()
	if err := w.file.close(); err != nil {
		return fmt.Errorf("index %s: close chunk file: %w", w.x.dir, err)
	}
	return nil
}

// chunkHeaderMax is room for a chunk's header (version, count, record
// lengths) kept in front of its records, so that the value is written
// in place instead of copied behind the header (40 MB per 1M lines).
const chunkHeaderMax = 1 + binary.MaxVarintLen64 + binary.MaxVarintLen32*chunkMessages

func (w *chunkWriter) add(m *correlate.Message) error {
	c := &w.chunk
	n := len(c.lens)
	if n == 0 {
		if cap(c.body) < chunkHeaderMax {
			n := chunkHeaderMax + chunkBytes
			c.body = make([]byte, 0, n+n/4)
		}
		c.body = c.body[:chunkHeaderMax]
	}
	before := len(c.body)
	c.body = correlate.AppendMessage(c.body, m)
	c.lens = append(c.lens, len(c.body)-before)
	first, last := m.Span()
	if f, l := first.UnixMicro(), last.UnixMicro(); !c.haveRange {
		c.min, c.max, c.haveRange = f, l, true
	} else {
		c.min, c.max = min(c.min, f), max(c.max, l)
	}
	c.addPostings(m, uint64(n))
	if len(c.lens) >= chunkMessages || len(c.body)-chunkHeaderMax >= chunkBytes {
		return w.flushChunk()
	}
	return nil
}

// flushChunk commits the buffered chunk (its records, span and postings)
// in one transaction, asynchronously.
func (w *chunkWriter) flushChunk() error {
	c := &w.chunk
	if len(c.lens) == 0 {
		return nil
	}
	x := w.x
	n := w.n
	w.n++
	hdr := append(w.hdr[:0], chunkVersion)
	hdr = binary.AppendUvarint(hdr, uint64(len(c.lens)))
	for _, l := range c.lens {
		hdr = binary.AppendUvarint(hdr, uint64(l))
	}
	w.hdr = hdr
	// The header goes right before the records, in the room left for it.
	v := c.body[chunkHeaderMax-len(hdr):]
	copy(v, hdr)
	d := binary.AppendUvarint(nil, uint64(len(c.lens)))
	d = binary.AppendVarint(d, c.min)
	d = binary.AppendVarint(d, c.max)
	w.sortTmp = sortPostings(c.posts, w.sortTmp)
	c.posts = slices.Compact(c.posts)
	// The postings go right after the records, in the same write (so in
	// the same file): the body's room past the records is reused for them.
	recs := len(v)
	body := c.body
	for _, e := range c.posts {
		body = be64(body, e)
	}
	v = body[chunkHeaderMax-len(hdr):]
	c.lens, c.posts, c.haveRange = c.lens[:0], c.posts[:0], false

	if err := x.checkSpace(int64(len(v) + len(d) + 1024)); err != nil {
		return err
	}
	// Records and postings go to the chunk file (copied: the buffer is the
	// next chunk's); Badger gets the pointers to them with the span. See
	// chunkfile.go for why not Badger's value log (postings were most of
	// what was left in it: 3 MB per 1M lines).
	rptr, pptr, err := w.file.writeParts(v, recs)
	if err != nil {
		return fmt.Errorf("index %s: write chunk: %w", x.dir, err)
	}
	c.body = body[:0]
	txn := x.db.NewTransaction(true)
	for _, e := range []*badger.Entry{
		x.entry(seqKey(pChunk, w.seq, n), appendChunkPtr(make([]byte, 0, 24), rptr)),
		x.entry(seqKey(pDir, w.seq, n), d),
		x.entry(seqKey(pPostPtr, w.seq, n), appendChunkPtr(make([]byte, 0, 24), pptr)),
	} {
		if err := txn.SetEntry(e); err != nil {
			txn.Discard()
			return fmt.Errorf("index %s: write chunk: %w", x.dir, err)
		}
	}
	w.pending.Add(1)
	txn.CommitWith(func(err error) {
		if err != nil {
			w.setErr(fmt.Errorf("index %s: write chunk: %w", x.dir, err))
		}
		w.pending.Done()
	})
	return nil
}

// sortPostings sorts a chunk's postings as slices.Sort would (tmp is
// scratch, grown as needed and returned). A posting is a random hash over
// the message index, so one counting pass on its top byte spreads a
// chunk's ~1,300 values into buckets of about five, each then sorted by
// insertion: a comparison sort over the whole chunk mispredicts about
// every other branch, and it was a tenth of the index writer's time.
// A bucket that is not small (values that are not random) goes to
// slices.Sort.
func sortPostings(a, tmp []uint64) []uint64 {
	if len(a) < 64 {
		slices.Sort(a)
		return tmp
	}
	if cap(tmp) < len(a) {
		tmp = make([]uint64, len(a), len(a)+len(a)/4)
	}
	tmp = tmp[:len(a)]
	var start [257]int
	for _, v := range a {
		start[v>>56+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	next := start
	for _, v := range a {
		d := v >> 56
		tmp[next[d]] = v
		next[d]++
	}
	for d := 0; d < 256; d++ {
		b := tmp[start[d]:start[d+1]]
		if len(b) > 16 {
			slices.Sort(b)
			continue
		}
		for i := 1; i < len(b); i++ {
			v := b[i]
			j := i
			for ; j > 0 && b[j-1] > v; j-- {
				b[j] = b[j-1]
			}
			b[j] = v
		}
	}
	copy(a, tmp)
	return tmp
}
