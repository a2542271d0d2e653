package correlate

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
)

// IngestOptions configure an Ingester.
type IngestOptions struct {
	Correlator Options
	// Parse holds the parser options every file starts from (Year, Loc,
	// MaxLineLen); Ref, Offset, FirstLine and HoldPartial are set per file.
	Parse parser.Options
	// CheckpointLines: a checkpoint is committed whenever a source's line
	// number reaches a multiple of it, and at the end of each source.
	// Positions depend only on the input, so a run interrupted and
	// resumed checkpoints where an uninterrupted run does. 0 means 250000.
	CheckpointLines int64
	// Now is the wall clock (Source.Updated, Ref for standard input);
	// nil means time.Now.
	Now func() time.Time
	// ConcurrentClassify says Correlator.Classify is safe for concurrent
	// use: Read then classifies failed deliveries on the parser's
	// goroutines, beside the parsing, instead of on the correlator's.
	ConcurrentClassify bool
}

// FileResult says what Read did with one input.
type FileResult struct {
	Name        string
	Fingerprint string
	// Known: the index had read this content before (same first line,
	// whatever the name or compression); reading resumed at Resumed.
	Known   bool
	Resumed int64
	Lines   int64 // lines read now
	Bytes   int64 // decompressed bytes read now
	// Shorter: the content is shorter than what the index read under the
	// same fingerprint (a truncated copy); nothing was read.
	Shorter bool
}

// Ingester reads logs into an index through a Correlator, committing a
// checkpoint (finished messages, open messages, aggregates, source
// offsets) every CheckpointLines lines and at the end of each input.
type Ingester struct {
	idx     Index
	opts    IngestOptions
	c       *Correlator
	sources map[string]Source
	pre     *preClassifier // nil unless ConcurrentClassify
}

// NewIngester loads the index's committed state and returns an Ingester
// resuming from it.
func NewIngester(ctx context.Context, idx Index, opts IngestOptions) (*Ingester, error) {
	if opts.CheckpointLines <= 0 {
		opts.CheckpointLines = 250000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	snap, err := idx.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	c := New(opts.Correlator)
	if err := c.Restore(snap); err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	in := &Ingester{idx: idx, opts: opts, c: c, sources: map[string]Source{}}
	if opts.ConcurrentClassify && opts.Correlator.Classify != nil {
		in.pre = newPreClassifier(opts.Correlator.Classify)
	}
	for _, s := range snap.Sources {
		in.sources[s.Fingerprint] = s
	}
	return in, nil
}

// Correlator returns the correlator (for its Stats and Open count).
func (in *Ingester) Correlator() *Correlator { return in.c }

// Read reads one opened input from where the index stopped reading the
// same content, and commits. On a cancelled ctx it commits what it read
// and returns ctx.Err().
func (in *Ingester) Read(ctx context.Context, f *input.File) (FileResult, error) {
	res := FileResult{Name: f.Name}
	fp := f.Fingerprint()
	res.Fingerprint = fp
	src := Source{Fingerprint: fp}
	if old, ok := in.sources[fp]; ok && fp != "" {
		src = old
		res.Known, res.Resumed = true, old.Offset
		if old.Offset > 0 {
			if err := f.Skip(old.Offset); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					res.Shorter = true
					return res, nil
				}
				return res, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
	}
	src.Name, src.Dev, src.Ino, src.Compression = f.Name, f.Dev, f.Ino, f.Compression
	src.Size, src.ModTime = f.Size, f.ModTime

	po := in.opts.Parse
	po.Ref = f.ModTime
	if f.Name == "-" || po.Ref.IsZero() {
		po.Ref = in.opts.Now()
	}
	po.Offset, po.FirstLine = src.Offset, src.Lines
	// A plain file may be being written: its last line without a newline
	// is left for the next run. Streams and compressed files are complete.
	po.HoldPartial = f.Name != "-" && f.Compression == ""
	if in.pre != nil {
		po.Prepare = in.pre.prepare
	}
	br := parser.NewBatchReader(f, po)
	defer br.Close()
	// The hour aggregates are added beside the correlator while the file
	// is read; the last checkpoint has waited for them when Read returns.
	in.c.startAggregator()
	defer in.c.stopAggregator()

	start := src.Offset
	every := in.opts.CheckpointLines
	// Lines in (lo, hi) are not multiples of every: no division per line.
	lo, hi := int64(0), int64(0)
	for {
		evs, err := br.Next(ctx)
		var cats []string
		if p, ok := br.Prepared().(*preCats); ok {
			cats = p.cat
		}
		for i := range evs {
			ev := &evs[i]
			if cats != nil {
				in.c.pre = cats[i]
			}
			in.c.Process(ev)
			if ev.Line > lo && ev.Line < hi {
				continue
			}
			lo = ev.Line - ev.Line%every
			hi = lo + every
			if ev.Line == lo && fp != "" {
				src.Offset, src.Lines = ev.End, ev.Line
				if err := in.checkpoint(ctx, &src); err != nil {
					return res, err
				}
			}
		}
		in.c.pre = ""
		if len(evs) > 0 {
			last := &evs[len(evs)-1]
			src.Offset, src.Lines = last.End, last.Line
		}
		// Finished messages go to the index a few hundred at a time (the
		// checkpoint takes the rest): each Append may wake the index's
		// writer, and a wake-up costs the pipeline more than the
		// messages' encoding when there are only a few dozen.
		if len(in.c.done) >= appendBatch {
			if err := in.idx.Append(ctx, in.c.TakeDone()); err != nil {
				return res, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		if err != nil {
			res.Lines = src.Lines - po.FirstLine
			res.Bytes = src.Offset - start
			var cerr error
			if fp != "" || res.Lines > 0 {
				cerr = in.checkpoint(context.WithoutCancel(ctx), &src)
			}
			switch {
			case errors.Is(err, io.EOF):
				return res, cerr
			case ctx.Err() != nil:
				return res, errors.Join(ctx.Err(), cerr)
			}
			return res, errors.Join(fmt.Errorf("%s: line %d: %w", f.Name, src.Lines+1, err), cerr)
		}
	}
}

// appendBatch is how many finished messages Read hands the index at once.
const appendBatch = 256

// checkpoint commits the correlator's state with the source position.
func (in *Ingester) checkpoint(ctx context.Context, src *Source) error {
	var err error
	if src != nil && src.Fingerprint != "" {
		src.Updated = in.opts.Now()
		_, err = in.Commit(ctx, *src)
	} else {
		_, err = in.Commit(ctx)
	}
	return err
}

// Process feeds one event, for a caller that reads logs itself (pfdiag
// tail follows a file across rotation): events in log order, then
// Commit with the positions they were read up to.
func (in *Ingester) Process(ev *parser.Event) { in.c.Process(ev) }

// Commit writes a checkpoint: the messages finished so far, the state of
// the others and the hour aggregates, atomically with the read positions
// given (each replaces the stored Source with the same Fingerprint). It
// returns the checkpoint committed (its Hours are what the index added;
// they and its messages must not be changed).
func (in *Ingester) Commit(ctx context.Context, srcs ...Source) (*Checkpoint, error) {
	cp := in.c.Checkpoint()
	if err := in.idx.Append(ctx, in.c.TakeDone()); err != nil {
		return nil, err
	}
	for _, s := range srcs {
		if s.Fingerprint == "" {
			continue
		}
		cp.Sources = append(cp.Sources, s)
		in.sources[s.Fingerprint] = s
	}
	if err := in.idx.Commit(ctx, cp); err != nil {
		return nil, fmt.Errorf("commit checkpoint: %w", err)
	}
	return cp, nil
}

// Release hands back finished messages the index has written and nobody
// keeps any more, so that the correlator reuses their memory: an Index
// whose writer calls it must not use the messages afterwards, and neither
// may anything else the messages were given to. It is safe for concurrent
// use (the index writer's goroutine calls it).
func (in *Ingester) Release(msgs []*Message) { in.c.pool.put(msgs) }

// Sources returns the read positions the index had when the Ingester was
// made, updated by its commits.
func (in *Ingester) Sources() []Source {
	out := make([]Source, 0, len(in.sources))
	for _, s := range in.sources {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Source) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	return out
}

// preClassifier classifies failed deliveries on the parser's goroutines
// (parser.Options.Prepare), with the inputs the correlator would give the
// Classifier, so that the correlator finds their category made.
type preClassifier struct {
	classify Classifier
	seed     maphash.Seed
	mu       sync.Mutex
	cache    map[catKey]string // as Correlator.classify's, shared by the goroutines
}

// preCats are a block's categories: "" where the correlator classifies
// (or nothing is to classify). tok interns the daemons and DSNs given to
// the classifier (a block is prepared by one goroutine at a time).
type preCats struct {
	cat []string
	tok tokens
}

func newPreClassifier(cl Classifier) *preClassifier {
	return &preClassifier{classify: cl, seed: maphash.MakeSeed(), cache: map[catKey]string{}}
}

func (p *preClassifier) prepare(evs []parser.Event, reuse any) any {
	pc, _ := reuse.(*preCats)
	if pc == nil {
		pc = &preCats{}
	}
	if cap(pc.cat) < len(evs) {
		pc.cat = make([]string, len(evs))
	} else {
		pc.cat = pc.cat[:len(evs)]
		clear(pc.cat)
	}
	var dom []byte
	for i := range evs {
		ev := &evs[i]
		// The lines Correlator.delivery classifies.
		if ev.Kind != parser.KindDelivery || !validQID(ev.QueueID) || !parseStatus(ev.Status).Failed() {
			continue
		}
		dom = lowerInto(dom[:0], domainBytes(ev.To))
		pc.cat[i] = p.category(ev, dom, &pc.tok)
	}
	return pc
}

// category is Correlator.classify for ev's failed delivery (domain lower
// case): the same inputs, so the same category.
func (p *preClassifier) category(ev *parser.Event, domain []byte, tok *tokens) string {
	var h maphash.Hash
	h.SetSeed(p.seed)
	n := len(ev.Status)
	h.Write(ev.Status)
	for _, f := range [...][]byte{ev.DSN, ev.Daemon, domain, ev.Relay, ev.Reason} {
		h.WriteByte(0)
		h.Write(f)
		n += 1 + len(f)
	}
	key := catKey{h.Sum64(), n}
	p.mu.Lock()
	cat, ok := p.cache[key]
	p.mu.Unlock()
	if ok {
		return cat
	}
	cat = p.classify(string(ev.Reason), tok.get(ev.Daemon), statusWord(ev.Status), tok.get(ev.DSN), string(ev.Relay), string(domain))
	if cat == "" {
		cat = Unclassified
	}
	p.mu.Lock()
	if len(p.cache) >= 1<<14 {
		clear(p.cache)
	}
	p.cache[key] = cat
	p.mu.Unlock()
	return cat
}

// statusWord is string(b) without an allocation for the failed statuses.
func statusWord(b []byte) string {
	switch string(b) {
	case "deferred":
		return "deferred"
	case "bounced":
		return "bounced"
	}
	return string(b)
}

// lowerInto appends b lower-cased (ASCII) to dst.
func lowerInto(dst, b []byte) []byte {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
