// Package badgerindex is the on-disk correlate.Index, in a Badger
// key-value store. It is the only package of pfdiag that imports Badger.
//
// In: finished messages (Append) and checkpoints (Commit) from
// correlate.Ingester; out: messages by time window or by queue ID,
// message-id, recipient or sender, hour aggregates, and the read
// positions of the logs ingested.
//
// # Layout
//
// Keys start with one byte naming what they hold; seq is the checkpoint
// number that wrote the key (8 bytes, big-endian), n a counter within it.
//
//	m seq                       last committed checkpoint (the commit point)
//	x                           correlator state (smtpd sessions, pending links)
//	s FINGERPRINT               read position of one log stream
//	c seq n                     chunk: where its records (up to 4096 finished messages, encoded) are in a chunk file
//	d seq n                     the chunk's message count and time span
//	p seq n                     the chunk's postings: sorted (hash(field, value), index)
//	o HOST 0 INST 0 QID 0 FIRST seq   open message (empty value: closed)
//	h HOUR seq                  hour aggregates: a delta, or a full value that replaces older ones
//
// Finished messages are written once, packed into chunks (a few keys per
// thousand messages instead of several per message: ingest is bounded
// by Badger's per-key cost otherwise). The chunks' records are appended
// to chunk files (NNNNNN.chunks, see chunkfile.go) with plain writes,
// outside Badger; an index written before those holds them in the chunk
// key itself, and is read as before. Lookups scan the small postings
// of the chunks whose time span overlaps the window, then decode only
// the matching records; a report over a window decodes its chunks.
//
// # Checkpoints
//
// Every key a checkpoint writes carries its seq and is written through a
// WriteBatch (which Badger may split into several transactions); readers
// ignore keys whose seq is above the committed one. The checkpoint becomes
// visible when one small transaction writes m (seq), x and the sources.
// Versions a checkpoint supersedes are deleted after that, and Open (for
// writing) removes whatever a crash left: keys above the committed seq and
// superseded versions. A crash therefore loses exactly the work since the
// last commit, which the next run re-reads from the committed offsets.
//
// # Memory
//
// Badger's defaults reserve hundreds of MB (64 MB memtables ×5, a 256 MB
// block cache, 1 GB value-log files mapped in memory). Message records,
// postings and hour records go to chunk files (chunkfile.go); values above
// 1 KB (open messages) go to the value log, so the LSM tree
// holds little more than keys: 4 MB memtables (×2) last for millions of
// lines, compactions stay cheap, and no block or index cache is needed
// (tables are read through their memory map, uncompressed). The value log
// is written through mmap, but what each checkpoint wrote is dropped from
// the resident set at its commit (releaseMapped) and its writeback started
// then: so the files can be 32 MB, which a 1M-line ingest (6.5 MB of
// values) does not fill, instead of rotating (and msyncing the full file
// on Badger's write goroutine) in the middle of the run.
package badgerindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/pfdiag/pfdiag/correlate"
)

// Options configure Open.
type Options struct {
	// ReadOnly opens the index for reading (reports): several readers may
	// share it, but not with a writer.
	ReadOnly bool
	// Retain is how long what is written stays in the index (Badger TTL,
	// counted from the write); 0 keeps everything.
	Retain time.Duration
	// Now is the wall clock for TTLs; nil means time.Now.
	Now func() time.Time
}

// Index is a correlate.Index stored with Badger.
type Index struct {
	db        *badger.DB
	dir       string
	opts      Options
	committed uint64

	// Writer state.
	w          *chunkWriter
	openSeq    map[string]uint64   // open message key (without seq) → live version
	hourVers   map[uint64][]uint64 // hour key → live versions
	tombstones [][]byte            // closed-message markers to delete at the next commit
	failed     error               // a commit failed half-way: no more writes
	pending    chan error          // result of the commit in flight
	openBuf    []byte              // the open records of the last Commit (reused once it is written)
	hourBuf    []byte              // an hour merged by the writer goroutine, encoded
	hourEnc    [2][]byte           // the hour records Commit encoded for the job in flight
	chunkFile  *chunkFileWriter    // where the writer appends chunks (set up by recover)

	chunks chunkReader // chunk files, for reading

	// beforeCommitPoint, when set (tests), runs after a checkpoint's keys
	// are written and before its commit point: an error there is a crash.
	beforeCommitPoint func() error
}

var _ correlate.Index = (*Index)(nil)

const (
	pMeta    = 'm'
	pState   = 'x'
	pSource  = 's'
	pChunk   = 'c'
	pDir     = 'd'
	pPost    = 'p' // a chunk's postings, in the value (before postings went to chunk files)
	pPostPtr = 'q' // a chunk's postings: a pointer into a chunk file
	pOpen    = 'o'
	pHour    = 'h'

	chunkMessages = 4096
	chunkBytes    = 128 << 10
	chunkVersion  = 1
	hourCompact   = 8 // merge an hour's versions into one beyond this many
)

// The first byte of an hour key's value: whether the record is the whole
// hour or what one checkpoint added to it, and where it is. Indexes
// written before hours went to chunk files hold the record in the value.
const (
	hourDelta    = 0 // the record follows
	hourFull     = 1 // the record follows
	hourDeltaPtr = 2 // a chunk pointer (chunkPtrVersion…) follows
	hourFullPtr  = 3
)

var metaKey = []byte{pMeta}

// LockedError is returned by Open when another process has the index open
// for writing (or, for a writer, for reading).
type LockedError struct {
	Dir string
	PID int // 0 when unknown
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("index %s is in use by another pfdiag process (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("index %s is in use by another pfdiag process", e.Dir)
}

// spaceReserve is kept free on the index's filesystem. Badger writes its
// value log, memtable logs and tables through memory maps, and a write to
// a mapped page the filesystem has no room for is not an error but a
// SIGBUS that kills the process: so pfdiag checks the free space before
// each write and stops with ENOSPC while Badger still has room to flush
// a memtable and close cleanly.
const spaceReserve = 4 << 20

// checkSpace returns ENOSPC (wrapped, naming the directory) when writing
// n more bytes would eat into spaceReserve.
func (x *Index) checkSpace(n int64) error {
	free := freeSpace(x.dir)
	if free < 0 || free >= n+spaceReserve {
		return nil
	}
	return fmt.Errorf("index %s: %w (%d KB free, %d KB needed to write safely)", x.dir, syscall.ENOSPC, free>>10, (n+spaceReserve)>>10)
}

// ErrNoIndex is returned by a read-only Open of a directory holding no index.
var ErrNoIndex = errors.New("no index here yet (run pfdiag ingest first)")

// Open opens (creating when writable) the index in dir.
func Open(dir string, opts Options) (*Index, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadOnly {
		if _, err := os.Stat(filepath.Join(dir, "MANIFEST")); err != nil {
			return nil, fmt.Errorf("open index %s: %w", dir, ErrNoIndex)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	bo := badger.DefaultOptions(dir).
		WithLogger(nil).
		WithReadOnly(opts.ReadOnly).
		WithMetricsEnabled(false).
		WithDetectConflicts(false).
		WithNumGoroutines(2).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(4 << 20).
		WithBaseLevelSize(16 << 20).
		WithNumCompactors(2).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueLogFileSize(32 << 20).
		WithValueThreshold(1 << 10).
		WithCompression(options.None)
	db, err := badger.Open(bo)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, &LockedError{Dir: dir, PID: lockPID(dir)}
		}
		return nil, fmt.Errorf("open index %s: %w", dir, err)
	}
	x := &Index{db: db, dir: dir, opts: opts, chunks: chunkReader{dir: dir}}
	if err := x.readMeta(); err != nil {
		db.Close()
		return nil, err
	}
	if !opts.ReadOnly {
		if err := x.recover(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open index %s: %w", dir, err)
		}
		x.w = newChunkWriter(x)
	}
	return x, nil
}

// lockPID reads the pid Badger writes in its LOCK file.
func lockPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "LOCK"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Dir returns the directory of the index.
func (x *Index) Dir() string { return x.dir }

func (x *Index) readMeta() error {
	return x.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(metaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("index %s: %w: commit point", x.dir, correlate.ErrCorrupt)
			}
			x.committed = binary.BigEndian.Uint64(v)
			return nil
		})
	})
}

func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func seqKey(p byte, seq uint64, n uint32) []byte {
	k := make([]byte, 0, 13)
	k = append(k, p)
	k = be64(k, seq)
	return binary.BigEndian.AppendUint32(k, n)
}

// openBase is the key of an open message without its version.
func openBase(r correlate.Ref) []byte {
	k := make([]byte, 0, 1+len(r.Host)+len(r.Instance)+len(r.QueueID)+3+8)
	k = append(k, pOpen)
	k = append(k, r.Host...)
	k = append(k, 0)
	k = append(k, r.Instance...)
	k = append(k, 0)
	k = append(k, r.QueueID...)
	k = append(k, 0)
	return be64(k, uint64(r.First.UnixMicro())^1<<63)
}

func hourIdx(t time.Time) uint64 {
	u := t.Unix()
	if u < 0 {
		u -= 3599
	}
	return uint64(u/3600) ^ 1<<63
}

func hourKey(idx, seq uint64) []byte {
	k := make([]byte, 0, 17)
	k = append(k, pHour)
	k = be64(k, idx)
	return be64(k, seq)
}

func (x *Index) entry(k, v []byte) *badger.Entry {
	e := badger.NewEntry(k, v)
	if x.opts.Retain > 0 {
		e.ExpiresAt = uint64(x.opts.Now().Add(x.opts.Retain).Unix())
	}
	return e
}

// recover removes what a crash left (keys above the commit point,
// superseded versions) and loads the writer's view of live versions.
func (x *Index) recover() error {
	x.openSeq = map[string]uint64{}
	x.hourVers = map[uint64][]uint64{}
	var del [][]byte
	var live []chunkPtr // committed chunks in chunk files
	err := x.db.View(func(txn *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.PrefetchValues = false
		it := txn.NewIterator(io)
		defer it.Close()
		for _, p := range []byte{pChunk, pDir, pPost, pPostPtr} {
			start := seqKey(p, x.committed+1, 0)
			for it.Seek(start); it.ValidForPrefix([]byte{p}); it.Next() {
				del = append(del, it.Item().KeyCopy(nil))
			}
		}
		// Committed records and postings in chunk files.
		for _, pre := range []byte{pChunk, pPostPtr} {
			for it.Seek([]byte{pre}); it.ValidForPrefix([]byte{pre}); it.Next() {
				k := it.Item().Key()
				if len(k) != 13 || binary.BigEndian.Uint64(k[1:9]) > x.committed {
					continue
				}
				err := it.Item().Value(func(v []byte) error {
					if len(v) > 0 && v[0] == chunkPtrVersion {
						p, err := decodeChunkPtr(v)
						if err != nil {
							return fmt.Errorf("chunk %c%x: %w", pre, k[1:], err)
						}
						live = append(live, p)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		// Open messages: keep the newest committed version unless it is
		// a closed marker.
		var group [][]byte
		flush := func() {
			live := -1
			for i := len(group) - 1; i >= 0; i-- {
				k := group[i]
				if binary.BigEndian.Uint64(k[len(k)-8:]) <= x.committed {
					live = i
					break
				}
			}
			for i, k := range group {
				if i == live {
					continue
				}
				del = append(del, k)
			}
			if live >= 0 {
				k := group[live]
				base := string(k[:len(k)-8])
				// An empty value is a closed marker.
				if it2, err := txn.Get(k); err == nil && it2.ValueSize() > 0 {
					x.openSeq[base] = binary.BigEndian.Uint64(k[len(k)-8:])
				} else {
					del = append(del, k)
				}
			}
			group = group[:0]
		}
		var base []byte
		for it.Seek([]byte{pOpen}); it.ValidForPrefix([]byte{pOpen}); it.Next() {
			k := it.Item().KeyCopy(nil)
			if len(k) < 9 {
				del = append(del, k)
				continue
			}
			if base != nil && !bytes.Equal(k[:len(k)-8], base) {
				flush()
			}
			base = k[:len(k)-8]
			group = append(group, k)
		}
		flush()
		// Hours: keep the versions from the newest committed full one.
		var hgroup [][]byte
		var hfull []bool
		var hptr []*chunkPtr // where the record is, for the versions in chunk files
		hflush := func() {
			start := 0
			for i := range hgroup {
				k := hgroup[i]
				if binary.BigEndian.Uint64(k[9:]) <= x.committed && hfull[i] {
					start = i
				}
			}
			for i, k := range hgroup {
				seq := binary.BigEndian.Uint64(k[9:])
				if i < start || seq > x.committed {
					del = append(del, k)
					continue
				}
				idx := binary.BigEndian.Uint64(k[1:9])
				x.hourVers[idx] = append(x.hourVers[idx], seq)
				if hptr[i] != nil {
					live = append(live, *hptr[i])
				}
			}
			hgroup, hfull, hptr = hgroup[:0], hfull[:0], hptr[:0]
		}
		var hidx []byte
		for it.Seek([]byte{pHour}); it.ValidForPrefix([]byte{pHour}); it.Next() {
			item := it.Item()
			k := item.KeyCopy(nil)
			if len(k) != 17 {
				del = append(del, k)
				continue
			}
			if hidx != nil && !bytes.Equal(k[1:9], hidx) {
				hflush()
			}
			hidx = k[1:9]
			full := false
			var ptr *chunkPtr
			if err := item.Value(func(v []byte) error {
				if len(v) == 0 {
					return nil
				}
				full = v[0] == hourFull || v[0] == hourFullPtr
				if v[0] == hourDeltaPtr || v[0] == hourFullPtr {
					p, err := decodeChunkPtr(v[1:])
					if err != nil {
						return fmt.Errorf("hour %x: %w", k[1:], err)
					}
					ptr = &p
				}
				return nil
			}); err != nil {
				return err
			}
			hgroup = append(hgroup, k)
			hfull = append(hfull, full)
			hptr = append(hptr, ptr)
		}
		hflush()
		return nil
	})
	if err != nil {
		return err
	}
	if err := x.deleteKeys(del); err != nil {
		return err
	}
	x.chunkFile, err = recoverChunkFiles(x.dir, live)
	return err
}

func (x *Index) deleteKeys(keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	wb := x.db.NewWriteBatch()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			wb.Cancel()
			return err
		}
	}
	return wb.Flush()
}

// Load returns the committed open messages, sources and state.
func (x *Index) Load(ctx context.Context) (*correlate.Snapshot, error) {
	if x.opts.ReadOnly {
		return nil, correlate.ErrReadOnly
	}
	x.sync()
	if x.failed != nil {
		return nil, x.failed
	}
	s := &correlate.Snapshot{}
	bases := make([]string, 0, len(x.openSeq))
	for b := range x.openSeq {
		bases = append(bases, b)
	}
	sort.Strings(bases)
	err := x.db.View(func(txn *badger.Txn) error {
		for i, b := range bases {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			k := be64([]byte(b), x.openSeq[b])
			m, err := getMessage(txn, k)
			if err != nil {
				return err
			}
			if m != nil {
				s.Open = append(s.Open, m)
			}
		}
		it, err := txn.Get([]byte{pState})
		if err == nil {
			s.State, err = it.ValueCopy(nil)
		}
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", x.dir, err)
	}
	s.Sources, err = x.Sources(ctx)
	return s, err
}

func getMessage(txn *badger.Txn, k []byte) (*correlate.Message, error) {
	it, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m *correlate.Message
	err = it.Value(func(v []byte) error {
		if len(v) == 0 {
			return nil
		}
		var err error
		m, err = correlate.DecodeMessage(v)
		return err
	})
	return m, err
}

// Append hands finished messages to the chunk writer, which encodes
// them into chunks and writes each as it fills (with the next
// checkpoint's seq) on its own goroutine. The messages must not change
// afterwards.
func (x *Index) Append(ctx context.Context, msgs []*correlate.Message) error {
	if x.opts.ReadOnly {
		return correlate.ErrReadOnly
	}
	if len(msgs) == 0 {
		return ctx.Err()
	}
	// The messages are encoded later, on the writer goroutine: copy the
	// slice, which the caller may reuse (the messages themselves must not
	// change).
	return x.w.append(ctx, slices.Clone(msgs))
}

// SetRelease makes the writer call fn with each batch of appended
// messages once it has encoded them (on its own goroutine): the index
// keeps nothing of them then, and the caller may reuse their memory
// (correlate.Ingester.Release) if nothing else holds them. Call it
// before the first Append.
func (x *Index) SetRelease(fn func([]*correlate.Message)) {
	if x.w != nil {
		x.w.release = fn
	}
}

// postingHash hashes a lookup value as correlate.LookupValue normalises
// it (FNV-1a over the field and the value, ASCII letters folded; values
// with other bytes go through strings.ToLower as the query side does).
func postingHash(f correlate.Field, v string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(f)) * prime
	if f == correlate.ByQueueID {
		for i := 0; i < len(v); i++ {
			h = (h ^ uint64(v[i])) * prime
		}
		return h
	}
	if !isASCII(v) {
		v = strings.ToLower(v)
		for i := 0; i < len(v); i++ {
			h = (h ^ uint64(v[i])) * prime
		}
		return h
	}
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(lowerASCII[v[i]])) * prime
	}
	return h
}

// isASCII reports whether s has no byte >= 0x80, eight bytes at a time.
func isASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if binary.LittleEndian.Uint64([]byte(s[i:i+8]))&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowerASCII maps A-Z to a-z and every other byte to itself (a lookup
// instead of a branch per byte of every posting).
var lowerASCII = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

func trimLookup(f correlate.Field, v string) string {
	switch f {
	case correlate.ByMessageID:
		v = strings.TrimSpace(v)
		v = strings.TrimPrefix(v, "<")
		return strings.TrimSuffix(v, ">")
	case correlate.ByRecipient, correlate.BySender:
		return strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	}
	return v
}

func (c *chunkBuf) addPostings(m *correlate.Message, idx uint64) {
	add := func(f correlate.Field, v string) {
		h := postingHash(f, trimLookup(f, v))
		c.posts = append(c.posts, h&^0xffff|idx)
	}
	m.Walk(func(h *correlate.Message) {
		add(correlate.ByQueueID, h.QueueID)
		if h.MessageID != "" {
			add(correlate.ByMessageID, h.MessageID)
		}
		if h.HasSender {
			add(correlate.BySender, h.Sender)
		}
		for i := range h.Recipients {
			r := &h.Recipients[i]
			add(correlate.ByRecipient, r.Address)
			if r.OrigTo != "" {
				add(correlate.ByRecipient, r.OrigTo)
			}
		}
	})
}

// Commit publishes the staged messages and the checkpoint: everything is
// written with seq = committed+1, then the commit point.
//
// The open messages are encoded before Commit returns; the rest of the
// work (chunks still buffered, hours, Badger's writes and the commit
// point) runs on the writer goroutine while the caller goes on reading
// logs. Every other method waits for it first, so a caller sees the
// checkpoint committed as if Commit had waited; an error in that work is
// returned by the next call (and by Close). The Hours of cp must not be
// changed afterwards (the correlator makes new ones for each checkpoint).
func (x *Index) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	if x.opts.ReadOnly {
		return correlate.ErrReadOnly
	}
	x.sync()
	if x.failed != nil {
		return x.failed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if cp == nil {
		cp = &correlate.Checkpoint{}
	}
	job := &commitJob{
		seq:     x.committed + 1,
		closed:  slices.Clone(cp.Closed),
		hours:   slices.Clone(cp.Hours),
		sources: slices.Clone(cp.Sources),
		state:   slices.Clone(cp.State),
		done:    make(chan error, 1),
	}
	// One buffer for all the open records (thousands of small ones
	// otherwise, each grown from nothing): the last commit's, written by
	// now (sync above). See keepBuffer.
	buf := x.openBuf[:0]
	if cap(buf) == 0 {
		// A record is a few hundred bytes: the first buffer is not grown
		// (and copied) a dozen times.
		buf = make([]byte, 0, 1024*len(cp.Open))
	}
	ends := make([]int, len(cp.Open))
	for i, m := range cp.Open {
		buf = correlate.AppendMessage(buf, m)
		ends[i] = len(buf)
	}
	job.open = make([]openRec, len(cp.Open))
	start := 0
	for i, m := range cp.Open {
		job.open[i] = openRec{base: openBase(m.Ref), val: buf[start:ends[i]:ends[i]]}
		start = ends[i]
	}
	x.openBuf = keepBuffer(buf)
	x.encodeHours(job)
	x.pending = job.done
	x.w.submit(job)
	return nil
}

// encodeHours starts encoding the delta records of job's hours
// (job.hourRec) on two goroutines, each into its own reused buffer; the
// writer waits for them (job.encoded) before it writes the hours.
//
// Why not on the caller's goroutine, nor on the writer: the caller is the
// correlator, the pipeline's one serial stage, which goes on with the
// next lines meanwhile; and at the end of the input the writer still has
// the last messages to encode while every other goroutine is done. A
// checkpoint's hours are megabytes (hundreds of KB each): split in two,
// the records are ready in half the time on whichever cores are free. An
// hour due to be merged with its stored versions (hourCompact) is left
// to the writer, which reads them. hourVers is the writer's, but stable
// here: Commit's sync waited for the last commit, and the next cannot
// start before this one's job. So are hourEnc's buffers: the next Commit
// reuses them after its sync, which the writer answers only after
// job.encoded.
func (x *Index) encodeHours(job *commitJob) {
	job.hourRec = make([][]byte, len(job.hours))
	var todo []int
	total := 0
	for i, h := range job.hours {
		if len(x.hourVers[hourIdx(h.Start)]) < hourCompact-1 {
			todo = append(todo, i)
			total += correlate.HourSizeHint(h)
		}
	}
	// The first hours (about half the bytes) go to one goroutine, the
	// rest to the other.
	split, size := 0, 0
	for split < len(todo) && 2*size < total && len(todo) > 1 {
		size += correlate.HourSizeHint(job.hours[todo[split]])
		split++
	}
	halves := [2][]int{todo[:split], todo[split:]}
	for k, idxs := range halves {
		if len(idxs) == 0 {
			continue
		}
		job.encoded.Add(1)
		go func() {
			defer job.encoded.Done()
			x.hourEnc[k] = encodeHourRecs(x.hourEnc[k], job, idxs)
		}()
	}
}

// encodeHourRecs encodes the hours of job at idxs into buf (emptied
// first) and returns it for reuse (see keepBuffer); job.hourRec points
// into it.
func encodeHourRecs(buf []byte, job *commitJob, idxs []int) []byte {
	hb := buf[:0]
	for _, i := range idxs {
		h := job.hours[i]
		start := len(hb)
		if need := correlate.HourSizeHint(h); cap(hb)-start < need {
			// Double: growing by each hour's size would copy the
			// earlier hours again every time.
			hb = append(make([]byte, 0, max(2*cap(hb), start+need)), hb...)
		}
		hb = correlate.AppendHour(hb, h)
		job.hourRec[i] = hb[start:len(hb):len(hb)]
	}
	return keepBuffer(hb)
}

// sync waits for the commit in flight, if any.
func (x *Index) sync() {
	if x.pending == nil {
		return
	}
	err := <-x.pending
	x.pending = nil
	if err != nil && x.failed == nil {
		// Chunks may be half-written under this seq: stop here; the next
		// Open removes them.
		x.failed = fmt.Errorf("index %s: %w", x.dir, err)
	}
}

// commitJob is a checkpoint handed to the writer goroutine.
type commitJob struct {
	seq     uint64
	open    []openRec
	closed  []correlate.Ref
	hours   []*correlate.Hour
	hourRec [][]byte       // hours[i]'s delta record, encoded by Commit; nil: the writer merges and encodes it
	encoded sync.WaitGroup // done when hourRec is
	sources []correlate.Source
	state   []byte
	done    chan error
}

type openRec struct{ base, val []byte }

// commit writes a checkpoint's keys, then its commit point. It runs on
// the writer goroutine, after the checkpoint's chunks are written.
func (x *Index) commit(job *commitJob) error {
	seq := job.seq
	need := int64(len(job.state)) + 64<<10
	for _, o := range job.open {
		need += int64(len(o.val) + len(o.base))
	}
	for _, h := range job.hours {
		need += int64(200 * (len(h.Deliveries) + len(h.Rejects) + len(h.Senders) + len(h.Warnings) + len(h.Lines)))
	}
	if err := x.checkSpace(need); err != nil {
		return err
	}
	wb := x.db.NewWriteBatch()
	defer wb.Cancel()
	var del [][]byte
	del = append(del, x.tombstones...)
	var tomb [][]byte
	newOpen := map[string]uint64{}
	for _, r := range job.closed {
		base := openBase(r)
		old, ok := x.openSeq[string(base)]
		if !ok {
			continue
		}
		k := be64(base, seq)
		if err := wb.SetEntry(x.entry(k, nil)); err != nil {
			return err
		}
		tomb = append(tomb, k)
		del = append(del, be64(slices.Clone(base), old))
		newOpen[string(base)] = 0
	}
	for _, o := range job.open {
		if err := wb.SetEntry(x.entry(be64(slices.Clone(o.base), seq), o.val)); err != nil {
			return err
		}
		if old, ok := x.openSeq[string(o.base)]; ok {
			del = append(del, be64(slices.Clone(o.base), old))
		}
		newOpen[string(o.base)] = seq
	}
	newHours := map[uint64][]uint64{}
	job.encoded.Wait()
	// Each hour is encoded into one reused buffer and written to the
	// chunk file at once; its key holds where. See keepBuffer.
	defer func() { x.hourBuf = keepBuffer(x.hourBuf) }()
	for i, h := range job.hours {
		idx := hourIdx(h.Start)
		vers := x.hourVers[idx]
		if job.hourRec[i] == nil {
			full, err := x.readHour(idx)
			if err != nil {
				return err
			}
			if full == nil {
				full = h
			} else {
				full.Merge(h)
			}
			v, err := x.hourValue(hourFullPtr, full)
			if err != nil {
				return err
			}
			if err := wb.SetEntry(x.entry(hourKey(idx, seq), v)); err != nil {
				return err
			}
			for _, s := range vers {
				del = append(del, hourKey(idx, s))
			}
			newHours[idx] = []uint64{seq}
			continue
		}
		v, err := x.hourPointer(hourDeltaPtr, job.hourRec[i], h.Start)
		if err != nil {
			return err
		}
		if err := wb.SetEntry(x.entry(hourKey(idx, seq), v)); err != nil {
			return err
		}
		newHours[idx] = append(slices.Clone(vers), seq)
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if x.beforeCommitPoint != nil {
		if err := x.beforeCommitPoint(); err != nil {
			return err
		}
	}
	// The commit point.
	err := x.db.Update(func(txn *badger.Txn) error {
		for _, s := range job.sources {
			if err := txn.Set(append([]byte{pSource}, s.Fingerprint...), correlate.AppendSource(nil, &s)); err != nil {
				return err
			}
		}
		if job.state != nil {
			if err := txn.Set([]byte{pState}, job.state); err != nil {
				return err
			}
		}
		return txn.Set(metaKey, be64(nil, seq))
	})
	if err != nil {
		return err
	}
	x.committed = seq
	for b, s := range newOpen {
		if s == 0 {
			delete(x.openSeq, b)
		} else {
			x.openSeq[b] = s
		}
	}
	for idx, v := range newHours {
		x.hourVers[idx] = v
	}
	// Superseded versions; closed markers go at the next commit, after
	// the versions they hide are surely gone.
	x.tombstones = tomb
	err = x.deleteKeys(del)
	// Every write of this checkpoint has completed and no other goroutine
	// writes (the writer is this one): releaseMapped relies on it.
	releaseMapped(x.dir)
	return err
}

// keepBuffer returns b emptied to be reused by the next commit, or nil
// when it is too large to hold on to between commits. A fresh buffer of
// megabytes at every commit costs more than the bytes written into it:
// its pages were returned to the kernel since the last one, and each
// faults in again (4-5 µs a page). Byte slices are not scanned by the
// garbage collector; they only count toward the heap's size.
func keepBuffer(b []byte) []byte {
	if cap(b) > keepBufferMax {
		return nil
	}
	return b[:0]
}

const keepBufferMax = 16 << 20

// hourValue writes an hour record to the chunk file and returns the value
// of its key: kind (hourFullPtr or hourDeltaPtr) and where the record is.
//
// Why the chunk file and not Badger's value log: an hour's record is
// hundreds of KB (its deliveries, senders and rejects), written once per
// checkpoint and read only by reports; through Badger each is copied
// into a growing buffer, then into the memory-mapped log, faulting its
// pages in (see chunkfile.go). Written with the chunks, before the
// checkpoint's keys, it is committed and cut off after a crash exactly
// as they are.
func (x *Index) hourValue(kind byte, h *correlate.Hour) ([]byte, error) {
	if need := correlate.HourSizeHint(h); cap(x.hourBuf) < need {
		// Sized once: growing by doubling copies the record again and
		// again (hundreds of KB).
		x.hourBuf = make([]byte, 0, need+need/4)
	}
	x.hourBuf = correlate.AppendHour(x.hourBuf[:0], h)
	return x.hourPointer(kind, x.hourBuf, h.Start)
}

// hourPointer writes an encoded hour record to the chunk file and returns
// the value of its key.
func (x *Index) hourPointer(kind byte, rec []byte, start time.Time) ([]byte, error) {
	p, err := x.chunkFile.write(rec)
	if err != nil {
		return nil, fmt.Errorf("index %s: write hour %s: %w", x.dir, start.Format(time.RFC3339), err)
	}
	return appendChunkPtr(append(make([]byte, 0, 24), kind), p), nil
}

// readHour merges the committed versions of one hour (nil when none).
func (x *Index) readHour(idx uint64) (*correlate.Hour, error) {
	var out *correlate.Hour
	err := x.db.View(func(txn *badger.Txn) error {
		var err error
		out, err = x.hourIn(txn, idx)
		return err
	})
	return out, err
}

func (x *Index) hourIn(txn *badger.Txn, idx uint64) (*correlate.Hour, error) {
	var out *correlate.Hour
	prefix := be64([]byte{pHour}, idx)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if len(k) != 17 || binary.BigEndian.Uint64(k[9:]) > x.committed {
			continue
		}
		err := item.Value(func(v []byte) error {
			if len(v) < 1 {
				return correlate.ErrCorrupt
			}
			rec := v[1:]
			if v[0] == hourDeltaPtr || v[0] == hourFullPtr {
				p, err := decodeChunkPtr(rec)
				if err != nil {
					return err
				}
				if rec, err = x.chunks.read(p, nil); err != nil {
					return err
				}
			}
			h, err := correlate.DecodeHour(rec)
			if err != nil {
				return err
			}
			if v[0] == hourFull || v[0] == hourFullPtr || out == nil {
				out = h
			} else {
				out.Merge(h)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// chunkRef names one chunk and the messages wanted from it (nil: all).
type chunkRef struct {
	seq  uint64
	n    uint32
	want []int
}

// Messages calls fn for the committed messages matching q: finished ones
// chunk by chunk, then open ones.
func (x *Index) Messages(ctx context.Context, q correlate.Query, fn func(*correlate.Message) error) error {
	x.sync()
	if x.failed != nil {
		return x.failed
	}
	err := x.db.View(func(txn *badger.Txn) error {
		var refs []chunkRef
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pDir}, PrefetchValues: false})
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(k) != 13 {
				continue
			}
			seq := binary.BigEndian.Uint64(k[1:9])
			if seq > x.committed {
				continue
			}
			var lo, hi int64
			err := item.Value(func(v []byte) error {
				_, n := binary.Uvarint(v)
				if n <= 0 {
					return correlate.ErrCorrupt
				}
				var m int
				lo, m = binary.Varint(v[n:])
				if m <= 0 {
					return correlate.ErrCorrupt
				}
				hi, m = binary.Varint(v[n+m:])
				if m <= 0 {
					return correlate.ErrCorrupt
				}
				return nil
			})
			if err != nil {
				it.Close()
				return err
			}
			if q.Overlaps(time.UnixMicro(lo), time.UnixMicro(hi)) {
				refs = append(refs, chunkRef{seq: seq, n: binary.BigEndian.Uint32(k[9:])})
			}
		}
		it.Close()
		var hash uint64
		if q.By != correlate.ByAny {
			hash = postingHash(q.By, correlate.LookupValue(q.By, q.Value)) &^ 0xffff
		}
		var buf []byte  // a chunk read from its file
		var pbuf []byte // a chunk's postings
		for i := range refs {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := &refs[i]
			if q.By != correlate.ByAny {
				want, err := x.lookupPostings(txn, r, hash, &pbuf)
				if err != nil {
					return err
				}
				if len(want) == 0 {
					continue
				}
				r.want = want
			}
			if err := x.scanChunk(txn, r, &q, fn, &buf); err != nil {
				return err
			}
		}
		return x.scanOpen(ctx, txn, &q, fn)
	})
	if err != nil {
		var stop *fnError
		if errors.As(err, &stop) {
			return stop.err
		}
		return fmt.Errorf("index %s: %w", x.dir, err)
	}
	return nil
}

// fnError carries the callback's error through Badger unchanged.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }

// lookupPostings returns the indexes of the messages of chunk r whose
// postings include hash.
func (x *Index) lookupPostings(txn *badger.Txn, r *chunkRef, hash uint64, buf *[]byte) ([]int, error) {
	var v []byte
	item, err := txn.Get(seqKey(pPostPtr, r.seq, r.n))
	switch {
	case err == nil:
		err = item.Value(func(pv []byte) error {
			p, err := decodeChunkPtr(pv)
			if err != nil {
				return err
			}
			*buf, err = x.chunks.read(p, *buf)
			v = *buf
			return err
		})
	case errors.Is(err, badger.ErrKeyNotFound):
		// Written before postings went to chunk files: in the value.
		item, err = txn.Get(seqKey(pPost, r.seq, r.n))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, nil
		}
		if err == nil {
			v, err = item.ValueCopy((*buf)[:0])
			*buf = v
		}
	}
	if err != nil {
		return nil, err
	}
	var want []int
	n := len(v) / 8
	i := sort.Search(n, func(i int) bool { return binary.BigEndian.Uint64(v[8*i:]) >= hash })
	for ; i < n; i++ {
		e := binary.BigEndian.Uint64(v[8*i:])
		if e&^0xffff != hash {
			break
		}
		want = append(want, int(e&0xffff))
	}
	return want, nil
}

func (x *Index) scanChunk(txn *badger.Txn, r *chunkRef, q *correlate.Query, fn func(*correlate.Message) error, buf *[]byte) error {
	item, err := txn.Get(seqKey(pChunk, r.seq, r.n))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil // expired
	}
	if err != nil {
		return err
	}
	return item.Value(func(v []byte) error {
		if len(v) > 0 && v[0] == chunkPtrVersion {
			p, err := decodeChunkPtr(v)
			if err != nil {
				return fmt.Errorf("%w: chunk %d/%d", err, r.seq, r.n)
			}
			if *buf, err = x.chunks.read(p, *buf); err != nil {
				return fmt.Errorf("chunk %d/%d: %w", r.seq, r.n, err)
			}
			v = *buf
		}
		if len(v) < 1 || v[0] != chunkVersion {
			return fmt.Errorf("%w: chunk %d/%d", correlate.ErrCorrupt, r.seq, r.n)
		}
		v = v[1:]
		cnt, n := binary.Uvarint(v)
		if n <= 0 || cnt > uint64(len(v)) {
			return correlate.ErrCorrupt
		}
		v = v[n:]
		offs := make([]int, cnt+1)
		for i := uint64(0); i < cnt; i++ {
			l, n := binary.Uvarint(v)
			if n <= 0 {
				return correlate.ErrCorrupt
			}
			v = v[n:]
			offs[i+1] = offs[i] + int(l)
		}
		if offs[cnt] > len(v) {
			return correlate.ErrCorrupt
		}
		visit := func(i int) error {
			if i < 0 || i >= int(cnt) {
				return nil
			}
			m, err := correlate.DecodeMessage(v[offs[i]:offs[i+1]])
			if err != nil {
				return fmt.Errorf("chunk %d/%d message %d: %w", r.seq, r.n, i, err)
			}
			if q.Match(m) {
				if err := fn(m); err != nil {
					return &fnError{err}
				}
			}
			return nil
		}
		if r.want != nil {
			for _, i := range r.want {
				if err := visit(i); err != nil {
					return err
				}
			}
			return nil
		}
		for i := 0; i < int(cnt); i++ {
			if err := visit(i); err != nil {
				return err
			}
		}
		return nil
	})
}

func (x *Index) scanOpen(ctx context.Context, txn *badger.Txn, q *correlate.Query, fn func(*correlate.Message) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pOpen}, PrefetchValues: false})
	defer it.Close()
	var liveKey []byte
	var liveBase []byte
	emit := func() error {
		if liveKey == nil {
			return nil
		}
		m, err := getMessage(txn, liveKey)
		liveKey = nil
		if err != nil || m == nil {
			return err
		}
		if q.Match(m) {
			if err := fn(m); err != nil {
				return &fnError{err}
			}
		}
		return nil
	}
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := it.Item().Key()
		if len(k) < 9 {
			continue
		}
		base := k[:len(k)-8]
		if liveBase != nil && !bytes.Equal(base, liveBase) {
			if err := emit(); err != nil {
				return err
			}
		}
		liveBase = append(liveBase[:0], base...)
		if binary.BigEndian.Uint64(k[len(k)-8:]) <= x.committed {
			liveKey = it.Item().KeyCopy(liveKey)
		}
	}
	return emit()
}

// Hours calls fn for each stored hour overlapping [since, until), in time order.
func (x *Index) Hours(ctx context.Context, since, until time.Time, fn func(*correlate.Hour) error) error {
	x.sync()
	if x.failed != nil {
		return x.failed
	}
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pHour}, PrefetchValues: false})
		var idxs []uint64
		start := []byte{pHour}
		if !since.IsZero() {
			start = be64(start, hourIdx(since))
		}
		for it.Seek(start); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 17 {
				continue
			}
			idx := binary.BigEndian.Uint64(k[1:9])
			if !until.IsZero() && int64(idx^1<<63)*3600 >= until.Unix() {
				break
			}
			if len(idxs) == 0 || idxs[len(idxs)-1] != idx {
				idxs = append(idxs, idx)
			}
		}
		it.Close()
		for _, idx := range idxs {
			if err := ctx.Err(); err != nil {
				return err
			}
			h, err := x.hourIn(txn, idx)
			if err != nil {
				return err
			}
			if h == nil {
				continue
			}
			if err := fn(h); err != nil {
				return &fnError{err}
			}
		}
		return nil
	})
	if err != nil {
		var stop *fnError
		if errors.As(err, &stop) {
			return stop.err
		}
		return fmt.Errorf("index %s: %w", x.dir, err)
	}
	return nil
}

// Sources returns the read positions stored, ordered by name.
func (x *Index) Sources(ctx context.Context) ([]correlate.Source, error) {
	x.sync()
	if x.failed != nil {
		return nil, x.failed
	}
	var out []correlate.Source
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pSource}, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				s, err := correlate.DecodeSource(v)
				if err != nil {
					return err
				}
				out = append(out, s)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", x.dir, err)
	}
	slices.SortFunc(out, func(a, b correlate.Source) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Fingerprint, b.Fingerprint)
	})
	return out, nil
}

// Close drops what was staged since the last commit and closes the
// store. A writer first reclaims value-log space of expired or
// superseded records.
func (x *Index) Close() error {
	if x.db == nil {
		return nil
	}
	x.sync()
	if x.w != nil {
		if err := x.w.stop(); err != nil && x.failed == nil {
			x.failed = err
		}
		x.w = nil
		if len(x.tombstones) > 0 {
			x.deleteKeys(x.tombstones)
			x.tombstones = nil
		}
		// Value-log GC rewrites live records before it frees a file: only
		// with room to spare.
		for i := 0; i < 4 && x.failed == nil && x.checkSpace(64<<20) == nil; i++ {
			if x.db.RunValueLogGC(0.5) != nil {
				break
			}
		}
	}
	err := x.db.Close()
	x.db = nil
	x.chunks.close()
	if err != nil {
		return fmt.Errorf("close index %s: %w", x.dir, err)
	}
	return x.failed
}
