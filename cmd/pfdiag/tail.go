package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/follow"
	"github.com/pfdiag/pfdiag/reports/live"
	"github.com/pfdiag/pfdiag/reports/metrics"
	"github.com/pfdiag/pfdiag/reports/queue"
	"github.com/pfdiag/pfdiag/rules"
)

// defaultMailLog is what `pfdiag tail` follows without an argument.
const defaultMailLog = "/var/log/mail.log"

// tailBuffer is the size of each read buffer; lines longer than this are
// cut (and counted once, as malformed).
const tailBuffer = 256 << 10

// maxLine is parser.Reader's default line bound: a longer line is one
// malformed event, as in `pfdiag ingest`.
const maxLine = 64 << 10

// journalCursorSep separates the unit patterns from the cursor in the
// index's Source.Name of a journal (correlate.Source has no cursor field
// yet; see the request in the report).
const journalCursorSep = " cursor="

// cmdTail implements `pfdiag tail [FILE|-]`.
func cmdTail(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "tail", "[flags] [FILE|-]")
	idxFlags := addIndexFlags(fs, true)
	poll := fs.Bool("poll", false, "check the file with stat every 250ms instead of inotify (NFS and other filesystems without inotify)")
	// --poll is nxadm/tail's polling watcher, whose interval is fixed.
	fs.Duration("poll-interval", 250*time.Millisecond, "ignored")
	fs.MarkDeprecated("poll-interval", "--poll checks every 250ms (nxadm/tail's polling watcher); the value is ignored")
	journal := fs.Bool("journal", false, "follow the systemd journal (journalctl -f -o json) instead of a file")
	units := fs.StringArray("unit", []string{"postfix*"}, "with --journal: systemd unit `PATTERN` (journalctl -u); repeatable")
	journalctl := fs.String("journalctl", "journalctl", "with --journal: the journalctl `PATH` to run")
	journalDir := fs.String("journal-directory", "", "with --journal: read the journal files in `DIR` (journalctl --directory)")
	asJSON := fs.Bool("json", false, "print events as JSON lines")
	each := fs.Bool("each", false, "also print every bounce and expiry")
	listen := fs.String("listen", "", "serve Prometheus /metrics and /healthz on `ADDR` (e.g. 127.0.0.1:9154; a bare :9154 listens on every interface)")
	window := fs.Duration("window", 5*time.Minute, "problems: count failures over this `DURATION`")
	threshold := fs.Int("threshold", 10, "problems: failures of one category for one destination within --window that make a problem")
	findingThreshold := fs.Int("finding-threshold", 1, "problems: warnings of one operational finding per host within --window (-1: none)")
	clearAfter := fs.Duration("clear-after", 0, "problems: clear after this long without a failure (default --window)")
	by := fs.String("by", "auto", "problems: destination is the recipient domain (domain), the relay host (relay), or auto (relay for relay_auth_failure, auth_required, relay_denied)")
	ignore := fs.StringSlice("ignore", live.DefaultIgnore(), "problems: never raise these `CATEGORIES`")
	topDomains := fs.Int("top-domains", 20, "metrics: recipient domains with a label of their own (the rest: other)")
	topHosts := fs.Int("top-hosts", 50, "metrics: syslog hosts with a label of their own (the rest: other)")
	cpInterval := fs.Duration("checkpoint-interval", 5*time.Second, "commit the read position and state at least this often while lines come")
	cpLines := fs.Int64("checkpoint-lines", 100000, "also commit every `N` lines of a file")
	fromEnd := fs.Bool("from-end", false, "on the first run for FILE, skip what it holds (later runs always resume)")
	backlogEvents := fs.Bool("backlog-events", false, "also print events found in lines written before pfdiag started")
	year := fs.Int("year", 0, "year of the first line without one (default: now)")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("one FILE at most (or - for standard input)")
	}
	path := defaultMailLog
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	if *journal && fs.NArg() == 1 {
		return usagef("--journal reads the journal: no FILE")
	}
	scope, err := live.ParseScope(*by)
	if err != nil {
		return usagef("--by: %v", err)
	}
	switch {
	case *threshold < 1:
		return usagef("--threshold must be at least 1")
	case *window <= 0:
		return usagef("--window must be positive")
	case *cpInterval <= 0 || *cpLines < 1:
		return usagef("--checkpoint-interval and --checkpoint-lines must be positive")
	}
	eng, err := rules.New(*ruleFiles...)
	if err != nil {
		return err
	}

	// SIGINT and SIGTERM end the loop; what was read is committed.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	idx, err := idxFlags.open(e, false)
	if err != nil {
		return err
	}
	t := &tailer{
		e: e, idx: idx, eng: eng, json: *asJSON, cpLines: *cpLines, cpInterval: *cpInterval,
		backlog: !*backlogEvents, open: map[string]*openSource{}, deferred: map[string]bool{},
		det: live.New(live.Options{Window: *window, Threshold: *threshold, FindingThreshold: *findingThreshold,
			ClearAfter: *clearAfter, By: scope, Ignore: *ignore, Each: *each}),
		clock: parser.Clock{Year: *year, Loc: time.Local},
		out:   bufio.NewWriterSize(e.stdout, 64<<10),
	}
	t.setHealth(true, "starting")
	runErr := t.run(ctx, tailSetup{
		path: path, journal: *journal, units: *units, journalctl: *journalctl, journalDir: *journalDir,
		poll: *poll, fromEnd: *fromEnd, listen: *listen,
		topDomains: *topDomains, topHosts: *topHosts,
	})
	if err := idx.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close index: %w", err)
	}
	return runErr
}

// tailSetup is what run needs from the flags.
type tailSetup struct {
	path, journalctl, journalDir, listen string
	units                                []string
	journal, poll, fromEnd               bool
	topDomains, topHosts                 int
}

// openSource is a content being read: its position goes into every
// checkpoint until it is finished.
type openSource struct {
	pos    follow.Position
	cursor string // journal
	done   bool   // finished: in the next checkpoint, then dropped
}

// tailer is the live pipeline: lines → parser → correlator (→ index at
// checkpoints, → metrics) and → rules → problem detector (→ events).
type tailer struct {
	e          *env
	idx        correlate.Index
	c          *correlate.Correlator
	eng        *rules.Engine
	det        *live.Detector
	met        *metrics.Metrics
	out        *bufio.Writer
	json       bool
	backlog    bool // events are not printed yet (lines written before the start)
	journal    bool
	cpLines    int64
	cpInterval time.Duration
	clock      parser.Clock
	ev         parser.Event
	open       map[string]*openSource
	deferred   map[string]bool
	dirty      bool      // lines processed since the last checkpoint
	lastLog    time.Time // log time of the newest line
	lastWall   time.Time // wall clock when it was processed
	evs        []live.Event
	buf        []byte
	lines      atomic.Int64

	hmu    sync.Mutex
	health metrics.Health
}

func (t *tailer) setHealth(ok bool, status string) {
	t.hmu.Lock()
	t.health.OK, t.health.Status = ok, status
	t.hmu.Unlock()
}

func (t *tailer) getHealth() metrics.Health {
	t.hmu.Lock()
	h := t.health
	t.hmu.Unlock()
	h.Lines = t.lines.Load()
	return h
}

func (t *tailer) run(ctx context.Context, s tailSetup) error {
	snap, err := t.idx.Load(ctx)
	if err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	t.c = correlate.New(correlate.Options{Classify: classifier(t.eng)})
	if err := t.c.Restore(snap); err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	for _, m := range snap.Open {
		t.trackDeferred(m)
	}
	sources, err := t.idx.Sources(ctx)
	if err != nil {
		return fmt.Errorf("load index: %w", err)
	}
	src, name, err := t.openSource(s, sources)
	if err != nil {
		return err
	}
	t.health.Source = name
	if s.listen != "" {
		stopServer, err := t.serve(ctx, s)
		if err != nil {
			src.Close()
			return err
		}
		defer stopServer()
	}

	// Reading runs in its own goroutine (read+wait there, parse and
	// correlate here), with a few buffers going round.
	rctx, cancel := context.WithCancel(ctx)
	type result struct {
		c   follow.Chunk
		buf []byte
		err error
	}
	results := make(chan result, 2)
	free := make(chan []byte, 3)
	for range cap(free) {
		free <- make([]byte, tailBuffer)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-rctx.Done():
				return
			}
			c, err := src.Next(rctx, buf)
			select {
			case results <- result{c, buf, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		src.Close()
	}()

	cpTimer := time.NewTimer(time.Hour)
	cpTimer.Stop()
	cpArmed := false
	detTimer := time.NewTimer(time.Hour)
	detTimer.Stop()
	t.setHealth(true, "reading")
	for {
		select {
		case r := <-results:
			if r.err != nil {
				switch {
				case errors.Is(r.err, io.EOF):
					t.setHealth(false, "input ended")
					return t.finish(ctx)
				case ctx.Err() != nil:
					return t.finish(ctx)
				}
				t.setHealth(false, r.err.Error())
				return errors.Join(fmt.Errorf("%s: %w", name, r.err), t.finish(ctx))
			}
			err := t.chunk(ctx, &r.c)
			free <- r.buf
			if err != nil {
				t.setHealth(false, err.Error())
				return err
			}
			if t.dirty && !cpArmed {
				cpTimer.Reset(t.cpInterval)
				cpArmed = true
			}
			t.armDetector(detTimer)
		case <-cpTimer.C:
			cpArmed = false
			if !t.dirty {
				break
			}
			if err := t.checkpoint(ctx); err != nil {
				t.setHealth(false, err.Error())
				return err
			}
		case <-detTimer.C:
			t.advance(t.detectorNow())
			t.armDetector(detTimer)
		case <-ctx.Done():
			return t.finish(ctx)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
}

// finish commits what was read and flushes the output.
func (t *tailer) finish(ctx context.Context) error {
	err := t.checkpoint(context.WithoutCancel(ctx))
	return errors.Join(err, t.flush())
}

func (t *tailer) flush() error {
	if t.out.Buffered() == 0 {
		return nil
	}
	if err := t.out.Flush(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

// openSource opens what to follow, with the positions the index has.
func (t *tailer) openSource(s tailSetup, sources []correlate.Source) (follow.Source, string, error) {
	known := map[string]correlate.Source{}
	for _, src := range sources {
		known[src.Fingerprint] = src
	}
	switch {
	case s.journal:
		t.journal = true
		name := follow.JournalName(s.units)
		opts := follow.JournalOptions{Command: s.journalctl, Units: s.units, Directory: s.journalDir}
		if k, ok := known[name]; ok {
			opts.Known = follow.Position{Offset: k.Offset, Lines: k.Lines}
			if _, cur, ok := strings.Cut(k.Name, journalCursorSep); ok {
				opts.After = cur
			}
		}
		return follow.NewJournal(opts), name, nil
	case s.path == "-":
		t.backlog = false // a stream is live from its first line
		return follow.NewStream(t.e.stdin, "-"), "standard input", nil
	}
	abs, err := filepath.Abs(s.path)
	if err != nil {
		return nil, "", err
	}
	// What this path's last checkpoint was reading (the live file, and a
	// rotated one still being drained): same Name, latest Updated.
	var resume []follow.Position
	var since time.Time
	for _, src := range sources {
		if src.Name == abs && src.Updated.After(since) {
			since = src.Updated
		}
	}
	for _, src := range sources {
		if src.Name == abs && src.Updated.Equal(since) {
			resume = append(resume, positionOf(src))
		}
	}
	f, err := follow.Open(s.path, follow.Options{
		Poll: s.poll, FromEnd: s.fromEnd, Resume: resume, Since: since,
		Known: func(fp string) (follow.Position, bool) {
			src, ok := known[fp]
			return positionOf(src), ok
		},
	})
	if err != nil {
		return nil, "", err
	}
	return f, s.path, nil
}

func positionOf(s correlate.Source) follow.Position {
	return follow.Position{Name: s.Name, File: s.Name, Fingerprint: s.Fingerprint, Dev: s.Dev, Ino: s.Ino,
		Compression: s.Compression, Offset: s.Offset, Lines: s.Lines, Size: s.Size, ModTime: s.ModTime}
}

// serve starts the metrics server; the returned func stops it.
func (t *tailer) serve(ctx context.Context, s tailSetup) (func(), error) {
	var cats []string
	for _, c := range t.eng.Categories() {
		if !c.Finding {
			cats = append(cats, c.ID)
		}
	}
	eng := t.eng
	t.met = metrics.New(metrics.Options{TopDomains: s.topDomains, TopHosts: s.topHosts, Categories: cats,
		Finding: func(k correlate.WarningKey) string {
			return eng.Finding(k.Severity, k.Daemon, k.Text).Category
		}})
	// Counters continue from everything the index holds.
	var hours []*correlate.Hour
	if err := t.idx.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		hours = append(hours, h)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	t.met.Seed(hours)
	t.met.SetDeferred(len(t.deferred))
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           metrics.Handler(metrics.Registry(t.met), t.getHealth),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	go srv.Serve(ln)
	fmt.Fprintf(t.e.stderr, "pfdiag tail: metrics on http://%s/metrics\n", ln.Addr())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

// chunk processes one chunk from the source.
func (t *tailer) chunk(ctx context.Context, c *follow.Chunk) error {
	if c.Note != nil {
		return t.note(ctx, c)
	}
	var src *openSource
	if fp := c.Pos.Fingerprint; fp != "" {
		src = t.open[fp]
		if src == nil {
			src = &openSource{}
			t.open[fp] = src
		}
		src.pos = c.Pos
		src.done = false
	}
	now := t.e.now()
	t.clock.Ref = now // classic syslog lines: never later than now
	data := c.Data
	off, line := c.Pos.Offset, c.Pos.Lines
	var l []byte
	for len(data) > 0 {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
			off += int64(i) + 1
		} else {
			l, data = data, nil
			off += int64(len(l)) + c.Skip
		}
		line++
		if len(l) > maxLine || (data == nil && c.Skip > 0) {
			t.ev = parser.Event{Kind: parser.KindMalformed, Raw: l[:min(len(l), maxLine)], TooLong: true}
		} else {
			parser.ParseInto(l, &t.ev)
			if t.ev.Kind != parser.KindMalformed {
				t.ev.Time = t.clock.Resolve(&t.ev.Stamp)
			}
		}
		t.ev.Line, t.ev.End = line, off
		t.c.Process(&t.ev)
		t.observe(&t.ev)
		if src != nil && line%t.cpLines == 0 {
			src.pos.Offset, src.pos.Lines = off, line
			if t.journal {
				src.cursor = follow.JournalCursor(l)
			}
			if err := t.checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	if src != nil {
		src.pos.Offset, src.pos.Lines = off, line
		if t.journal {
			if cur := follow.JournalCursor(l); cur != "" {
				src.cursor = cur
			}
		}
	}
	t.lines.Add(line - c.Pos.Lines)
	t.dirty = true
	t.lastWall = now
	if t.ev.Time.After(t.lastLog) {
		t.lastLog = t.ev.Time
	}
	return nil
}

// note handles what the follower reports.
func (t *tailer) note(ctx context.Context, c *follow.Chunk) error {
	n := c.Note
	if t.met != nil {
		t.met.FollowEvent(n.Kind.String(), n.Bytes)
	}
	switch n.Kind {
	case follow.NoteDone:
		// The final position goes into the next checkpoint, then the
		// content is no longer open.
		if s := t.open[c.Pos.Fingerprint]; s != nil {
			s.pos, s.done = c.Pos, true
		}
		t.dirty = true
	case follow.NoteCaughtUp:
		fmt.Fprintf(t.e.stderr, "pfdiag tail: %s (%d lines read); following\n", queue.Terminal(n.Text), t.lines.Load())
		t.setHealth(true, "caught up")
		if t.backlog {
			// What was found in the backlog is history unless it is
			// still going on now.
			t.evs = t.det.Advance(t.e.now(), t.evs[:0])
			t.lastWall = t.e.now()
			t.backlog = false
			t.print(t.det.Ongoing(t.evs[:0]))
			if t.met != nil {
				t.met.SetProblems(t.det.Active())
			}
		}
		return t.checkpoint(ctx)
	}
	if n.Kind == follow.NoteWaiting {
		t.setHealth(true, n.Text)
	}
	fmt.Fprintf(t.e.stderr, "pfdiag tail: %s\n", queue.Terminal(n.Text))
	return nil
}

// observe feeds the problem detector.
func (t *tailer) observe(ev *parser.Event) {
	switch ev.Kind {
	case parser.KindDelivery:
		if string(ev.Status) == "sent" {
			if t.det.HasProblems() {
				t.det.Delivered(ev.Time, strings.ToLower(string(domainOf(ev.To))), string(ev.Relay))
			}
			return
		}
		fallthrough
	case parser.KindExpired:
		in, ok := rules.InputFromEvent(ev)
		if !ok {
			return
		}
		d := t.eng.Classify(in)
		f := live.Failure{Time: ev.Time, Host: string(ev.Host), QueueID: string(ev.QueueID),
			Recipient: string(ev.To), Domain: strings.ToLower(in.Domain), Relay: in.Relay, Status: string(ev.Status),
			DSN: in.DSN, Reason: in.Reason, Category: d.Category, Permanent: d.Class == rules.Permanent, Fix: d.Fix}
		t.events(t.det.Failure(&f, t.evs[:0]))
	case parser.KindWarning:
		d, kind := t.eng.Event(ev)
		if kind != rules.Operational || d.Category == "" || d.Category == "other_warning" || d.Category == "client_abuse" {
			return
		}
		f := live.Failure{Time: ev.Time, Host: string(ev.Host), Category: d.Category, Finding: true,
			Status: string(ev.Severity), Reason: string(ev.Reason), Fix: d.Fix}
		t.events(t.det.Failure(&f, t.evs[:0]))
	}
}

func domainOf(addr []byte) []byte {
	if i := bytes.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return nil
}

// events prints what the detector reported (not during the backlog) and
// updates the problem gauges.
func (t *tailer) events(evs []live.Event) {
	t.evs = evs
	if len(evs) == 0 {
		return
	}
	if !t.backlog {
		t.print(evs)
	}
	if t.met != nil {
		for i := range evs {
			if evs[i].Kind != live.KindBounce {
				t.met.SetProblems(t.det.Active())
				break
			}
		}
	}
}

func (t *tailer) print(evs []live.Event) {
	for i := range evs {
		if t.json {
			t.buf = live.AppendJSON(t.buf[:0], &evs[i])
		} else {
			t.buf = live.AppendText(t.buf[:0], &evs[i])
		}
		t.out.Write(t.buf)
	}
}

// detectorNow is the log time now: the newest line's time plus the wall
// time since it was read (the log may be quiet).
func (t *tailer) detectorNow() time.Time {
	if t.lastWall.IsZero() {
		return t.det.Now()
	}
	return t.lastLog.Add(t.e.now().Sub(t.lastWall))
}

func (t *tailer) advance(now time.Time) {
	t.events(t.det.Advance(now, t.evs[:0]))
}

// armDetector sets the timer for the next problem that could clear.
func (t *tailer) armDetector(tm *time.Timer) {
	tm.Stop()
	dl := t.det.Deadline()
	if dl.IsZero() || t.lastWall.IsZero() {
		return
	}
	wait := dl.Sub(t.lastLog) - t.e.now().Sub(t.lastWall)
	tm.Reset(max(wait, 0) + 10*time.Millisecond)
}

// checkpoint commits the correlator's state with the position of every
// open content, atomically, then updates the metrics from what it
// committed.
func (t *tailer) checkpoint(ctx context.Context) error {
	t.dirty = false
	cp := t.c.Checkpoint()
	if err := t.idx.Append(ctx, t.c.TakeDone()); err != nil {
		return fmt.Errorf("index: %w", err)
	}
	now := t.e.now()
	fps := make([]string, 0, len(t.open))
	for fp := range t.open {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	for _, fp := range fps {
		s := t.open[fp]
		src := correlate.Source{Fingerprint: fp, Name: s.pos.Name, Dev: s.pos.Dev, Ino: s.pos.Ino,
			Compression: s.pos.Compression, Offset: s.pos.Offset, Lines: s.pos.Lines, Size: s.pos.Size,
			ModTime: s.pos.ModTime, Updated: now}
		if t.journal && s.cursor != "" {
			src.Name += journalCursorSep + s.cursor
		}
		cp.Sources = append(cp.Sources, src)
	}
	if err := t.idx.Commit(ctx, cp); err != nil {
		return fmt.Errorf("commit checkpoint: %w", err)
	}
	for fp, s := range t.open {
		if s.done {
			delete(t.open, fp)
		}
	}
	for _, r := range cp.Closed {
		delete(t.deferred, deferredKey(r))
	}
	for _, m := range cp.Open {
		t.trackDeferred(m)
	}
	if t.met != nil {
		t.met.Add(cp.Hours...)
		t.met.SetDeferred(len(t.deferred))
		t.met.Checkpointed(now, t.lastLog)
	}
	t.hmu.Lock()
	t.health.LastCheckpoint = now.Format(time.RFC3339)
	t.hmu.Unlock()
	return nil
}

func deferredKey(r correlate.Ref) string {
	return r.Host + "\x00" + r.Instance + "\x00" + r.QueueID + "\x00" + strconv.FormatInt(r.First.UnixMicro(), 10)
}

// trackDeferred notes whether an open message has a deferred recipient.
func (t *tailer) trackDeferred(m *correlate.Message) {
	deferred := false
	m.Walk(func(h *correlate.Message) {
		for i := range h.Recipients {
			if h.Recipients[i].Status == correlate.StatusDeferred {
				deferred = true
			}
		}
	})
	if deferred {
		t.deferred[deferredKey(m.Ref)] = true
	} else {
		delete(t.deferred, deferredKey(m.Ref))
	}
}
