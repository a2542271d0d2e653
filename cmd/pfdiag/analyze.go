package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/reports"
)

// cmdAnalyze implements `pfdiag analyze FILE...|-`: the same ingest as
// `pfdiag ingest` into the index (the default on-disk one unless --index
// says otherwise), then the postmortem report over what the index holds,
// narrowed by the filters.
//
// When the index was empty before the run, the report is built from the
// records as the ingest writes them (a tee on the index) instead of being
// read back: the same data, without decoding it again. TestAnalyzeTee
// checks both ways give the same report.
func cmdAnalyze(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "analyze", "[flags] FILE...|-\n\n"+
		"Reads Postfix logs (plain or compressed, rotated sets in any order, - for standard input)\n"+
		"into the index, then writes the postmortem report over what the index holds.")
	idxFlags := addIndexFlags(fs, true)
	year := fs.Int("year", 0, "year of the first line of logs without one (default: from each file's modification time)")
	rf := addReportFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no input: give log FILEs, or - for standard input (pfdiag report reads the index alone)")
	}
	// As pfdiag ingest (fewer collections, a bounded heap), from the
	// start: see cmdIngest.
	defer tuneGC()()
	eng, opts, err := rf.options(e)
	if err != nil {
		return err
	}
	inputs, err := openInputs(e, fs.Args(), *year)
	if err != nil {
		return err
	}
	defer closeInputs(inputs)
	idx, _, fresh, err := idxFlags.openWriter(e)
	if err != nil {
		return err
	}
	// An index made by this run is empty: no need to wait for it to say so.
	srcs, err := idx.Sources(ctx)
	if err == nil && !fresh {
		fresh, err = indexEmpty(ctx, idx, srcs)
	}
	if err != nil {
		idx.Close()
		return err
	}
	var b *reports.Builder
	if fresh {
		b = reports.NewBuilder(opts)
	}
	t := newTee(idx, b)
	defer t.stop()
	t.prog.resume(srcs)
	var bar *progressBar
	if !rf.quiet && isTerminal(e.stderr) {
		bar = startProgress(e.stderr, inputs, &t.prog)
	}
	if fresh {
		// The report's tables live beside the ingest's heap: without
		// their room the collector would run back to back near the
		// limit (measured: a quarter of the CPU).
		debug.SetMemoryLimit(debug.SetMemoryLimit(-1) + reportRoom)
	}
	// Messages are reused once written (and, with a tee, added to the
	// report): see teeIndex.SetRelease.
	_, runErr := ingestEvery(ctx, e, t, eng, inputs, *year, 0, true)
	bar.stop()
	if ctx.Err() != nil {
		idx.Close()
		return fmt.Errorf("interrupted; the index holds everything read up to there (pfdiag report shows it)")
	}
	if fresh {
		// The tee'd report no longer needs the index: it is finished and
		// rendered while the index closes (which syncs its files), not
		// after. It is written only once the index is closed, as below.
		out := make(chan *rendered, 1)
		go func() { out <- rf.render(e, t.report()) }()
		err := idx.Close()
		rd := <-out
		if err != nil {
			return errors.Join(runErr, err)
		}
		if err := rf.writeRendered(e, rd); err != nil {
			return errors.Join(runErr, err)
		}
		return runErr
	}
	r, err := reports.FromIndex(ctx, idx, opts)
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(runErr, err)
	}
	if err := rf.write(e, r); err != nil {
		return errors.Join(runErr, err)
	}
	// An input that could not be read to its end (a damaged archive) is
	// reported after the report, which covers what could be read.
	return runErr
}

// reportRoom is what analyze adds to pfdiag ingest's soft heap limit
// (tuneGC) while it ingests and builds the report: room for the report's
// tables (about 15 MB at a million lines, bounded). Measured on genlog's
// 1M-line sample with ingest's limit at 96 MB: 96 MB makes the collector
// run back to back near the limit (2.4 s), 112 MB does not (1.8 s). It
// follows ingest's limit, whatever that is tuned to.
const reportRoom = 16 << 20

// indexEmpty reports whether the index holds nothing yet.
func indexEmpty(ctx context.Context, idx correlate.Index, srcs []correlate.Source) (bool, error) {
	if len(srcs) > 0 {
		return false, nil
	}
	errFound := errors.New("found")
	err := idx.Hours(ctx, time.Time{}, time.Time{}, func(*correlate.Hour) error { return errFound })
	if errors.Is(err, errFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	err = idx.Messages(ctx, correlate.Query{}, func(*correlate.Message) error { return errFound })
	if errors.Is(err, errFound) {
		return false, nil
	}
	return err == nil, err
}

// refKey identifies a message incarnation in a map.
type refKey struct {
	host, instance, queueID string
	first                   int64
}

func keyOf(r correlate.Ref) refKey {
	return refKey{r.Host, r.Instance, r.QueueID, r.First.UnixMicro()}
}

// teeIndex passes everything to the index and, when the report is built
// during the ingest (a fresh index), hands the records to the report
// builder as they are committed: finished messages at Append, hour
// aggregates (checkpoint deltas) at Commit, the messages still open at
// the end. The builder runs in its own goroutine, beside the parser and
// the correlator: records are immutable once handed to the index. It
// also publishes the read position for the progress bar.
type teeIndex struct {
	correlate.Index
	b    *reports.Builder
	feed chan teeItem // nil without a builder
	done chan struct{}
	open map[refKey]*correlate.Message
	prog progressState

	// Reuse of written messages (SetRelease): the ingester's hook, and
	// per batch appended (by its first message) how many of the index
	// writer and the builder have not finished with it yet. openKey is
	// open's inverse: a message appended leaves open at once, not at the
	// next checkpoint (which a failed commit would never bring), since
	// its memory may be reused from then on.
	release func([]*correlate.Message)
	relMu   sync.Mutex
	holders map[*correlate.Message]int
	openKey map[*correlate.Message]refKey
}

type teeItem struct {
	msgs  []*correlate.Message
	hours []*correlate.Hour
}

func newTee(idx correlate.Index, b *reports.Builder) *teeIndex {
	t := &teeIndex{Index: idx, b: b, open: map[refKey]*correlate.Message{}}
	if b == nil {
		return t
	}
	// Room for a few thousand messages, as the index writer has.
	t.feed, t.done = make(chan teeItem, 64), make(chan struct{})
	go func() {
		defer close(t.done)
		for it := range t.feed {
			for _, m := range it.msgs {
				b.AddMessage(m)
			}
			t.finished(it.msgs)
			for _, h := range it.hours {
				b.AddHour(h)
			}
		}
	}()
	return t
}

// stop ends the builder goroutine (idempotent).
func (t *teeIndex) stop() {
	if t.feed != nil {
		close(t.feed)
		<-t.done
		t.feed = nil
	}
}

// SetRelease lets the ingester reuse the memory of the messages it
// appended (as pfdiag ingest does, through the on-disk index's hook) once
// nothing reads them any more: with a builder, once both the index writer
// has encoded a batch and the builder has added it. Without reuse every
// message of an analyze was garbage the collector had to find
// (measured: 70 MB more allocated per 1M genlog lines than ingest).
func (t *teeIndex) SetRelease(fn func([]*correlate.Message)) {
	r, ok := t.Index.(interface {
		SetRelease(func([]*correlate.Message))
	})
	if !ok {
		return
	}
	if t.feed == nil {
		r.SetRelease(fn)
		return
	}
	t.release, t.holders, t.openKey = fn, map[*correlate.Message]int{}, map[*correlate.Message]refKey{}
	r.SetRelease(t.finished)
}

// finished is called by the index writer and by the builder goroutine
// when they are done with a batch; the second call hands it back.
func (t *teeIndex) finished(msgs []*correlate.Message) {
	if t.release == nil || len(msgs) == 0 {
		return
	}
	t.relMu.Lock()
	n := t.holders[msgs[0]] - 1
	if n > 0 {
		t.holders[msgs[0]] = n
	} else {
		delete(t.holders, msgs[0])
	}
	t.relMu.Unlock()
	if n == 0 {
		t.release(msgs)
	}
}

func (t *teeIndex) Append(ctx context.Context, msgs []*correlate.Message) error {
	if t.release != nil && len(msgs) > 0 {
		for _, m := range msgs {
			if k, ok := t.openKey[m]; ok {
				delete(t.openKey, m)
				delete(t.open, k)
			}
		}
		// Before the index may have written them.
		t.relMu.Lock()
		t.holders[msgs[0]] = 2
		t.relMu.Unlock()
	}
	if err := t.Index.Append(ctx, msgs); err != nil {
		return err
	}
	if t.feed != nil && len(msgs) > 0 {
		t.feed <- teeItem{msgs: msgs}
	}
	return nil
}

func (t *teeIndex) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	if err := t.Index.Commit(ctx, cp); err != nil {
		return err
	}
	for _, s := range cp.Sources {
		t.prog.committed(s)
	}
	if t.feed == nil {
		return nil
	}
	for _, r := range cp.Closed {
		k := keyOf(r)
		if t.openKey != nil {
			delete(t.openKey, t.open[k])
		}
		delete(t.open, k)
	}
	for _, m := range cp.Open {
		k := keyOf(m.Ref)
		if t.openKey != nil {
			if old := t.open[k]; old != nil && old != m {
				delete(t.openKey, old)
			}
			t.openKey[m] = k
		}
		t.open[k] = m
	}
	if len(cp.Hours) > 0 {
		t.feed <- teeItem{hours: cp.Hours}
	}
	return nil
}

// report finishes the tee'd report with the messages still open at the
// last checkpoint (the ingest is over: they no longer change).
func (t *teeIndex) report() *reports.Report {
	t.stop()
	for _, m := range t.open {
		t.b.AddMessage(m)
	}
	return t.b.Report()
}

// progressState is what the ingest goroutine publishes for the bar.
type progressState struct {
	lines atomic.Int64 // lines committed, over every source
	bytes atomic.Int64 // decompressed bytes committed
	mu    sync.Mutex
	seen  map[string][2]int64 // fingerprint → lines, offset already counted
}

// resume starts the counts of sources the index read before at their
// stored position: only what this run reads is progress.
func (p *progressState) resume(srcs []correlate.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = map[string][2]int64{}
	for _, s := range srcs {
		p.seen[s.Fingerprint] = [2]int64{s.Lines, s.Offset}
	}
}

func (p *progressState) committed(s correlate.Source) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string][2]int64{}
	}
	old, ok := p.seen[s.Fingerprint]
	if !ok {
		old = [2]int64{}
	}
	p.lines.Add(s.Lines - old[0])
	p.bytes.Add(s.Offset - old[1])
	p.seen[s.Fingerprint] = [2]int64{s.Lines, s.Offset}
}

// progressBar draws "[#####.....] 45% 70.1/154.4 MB 1.52M lines/s ETA 0:03"
// on a terminal, a few times a second, and erases itself at the end.
type progressBar struct {
	w      io.Writer
	files  []*logInput
	st     *progressState
	start  time.Time
	total  int64
	done   chan struct{}
	wg     sync.WaitGroup
	drawn  bool
	proc   string // /proc/self (fd positions), "" when not available
	fdPath map[int]string
}

func startProgress(w io.Writer, files []*logInput, st *progressState) *progressBar {
	p := &progressBar{w: w, files: files, st: st, start: time.Now(), done: make(chan struct{}), proc: "/proc/self"}
	for _, f := range files {
		if f.Name == "-" {
			p.total = -1
			break
		}
		p.total += f.Size
	}
	if _, err := os.Stat(p.proc + "/fdinfo"); err != nil {
		p.proc = ""
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tk.C:
				p.draw(time.Since(p.start))
			}
		}
	}()
	return p
}

// stop erases the bar; nil-safe.
func (p *progressBar) stop() {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	if p.drawn {
		io.WriteString(p.w, "\r\x1b[K")
	}
}

// position returns the on-disk bytes read so far: the read offsets of the
// input files (as pv -d does, from /proc/self/fdinfo, which also works
// for compressed archives), else the decompressed bytes committed.
func (p *progressBar) position() int64 {
	if p.proc == "" || p.total < 0 {
		return p.st.bytes.Load()
	}
	if p.fdPath == nil {
		p.fdPath = map[int]string{}
		ents, _ := os.ReadDir(p.proc + "/fd")
		for _, e := range ents {
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if l, err := os.Readlink(filepath.Join(p.proc, "fd", e.Name())); err == nil {
				p.fdPath[fd] = l
			}
		}
	}
	var pos int64
	found := false
	for _, f := range p.files {
		abs, err := filepath.Abs(f.Name)
		if err != nil {
			continue
		}
		for fd, path := range p.fdPath {
			if path != abs {
				continue
			}
			b, err := os.ReadFile(filepath.Join(p.proc, "fdinfo", strconv.Itoa(fd)))
			if err != nil {
				continue
			}
			if v, ok := fdPos(string(b)); ok {
				pos += min(v, f.Size)
				found = true
			}
			break
		}
	}
	if !found {
		return p.st.bytes.Load()
	}
	return pos
}

// fdPos reads "pos:\t1234" from an fdinfo file.
func fdPos(s string) (int64, bool) {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "pos:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func (p *progressBar) draw(elapsed time.Duration) {
	io.WriteString(p.w, "\r"+progressLine(p.position(), p.total, p.st.lines.Load(), elapsed)+"\x1b[K")
	p.drawn = true
}

// progressLine formats the bar; total < 0 means unknown (standard input).
func progressLine(done, total, lines int64, elapsed time.Duration) string {
	const width = 24
	var b strings.Builder
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf("  %s lines/s", siCount(float64(lines)/s))
	}
	if total <= 0 {
		fmt.Fprintf(&b, "reading: %s MB%s", mb(done), rate)
		return b.String()
	}
	frac := min(float64(done)/float64(total), 1)
	n := int(frac * width)
	eta := "--:--"
	if frac > 0.01 {
		rem := time.Duration(float64(elapsed) * (1 - frac) / frac)
		eta = fmt.Sprintf("%d:%02d", int(rem.Minutes()), int(rem.Seconds())%60)
	}
	fmt.Fprintf(&b, "[%s%s] %3.0f%%  %s/%s MB%s  ETA %s", strings.Repeat("#", n), strings.Repeat(".", width-n),
		frac*100, mb(done), mb(total), rate, eta)
	return b.String()
}

func mb(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) }

// siCount formats 1520000 as 1.52M.
func siCount(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 2, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}
