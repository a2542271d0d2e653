package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/rules"
)

// ingestSummary is what `pfdiag ingest --json` prints: this run's counts,
// and the whole index's, read back from its hour aggregates.
type ingestSummary struct {
	Files      []ingestFile     `json:"files"`
	Lines      int64            `json:"lines"`
	Bytes      int64            `json:"bytes"`
	Messages   int64            `json:"messages"`
	Deliveries map[string]int64 `json:"deliveries"`
	Unparsed   int64            `json:"unparsed"`
	Open       int              `json:"open"`
	Seconds    float64          `json:"seconds"`
	Index      indexTotals      `json:"index"`
}

type ingestFile struct {
	Name    string `json:"name"`
	Known   bool   `json:"known"`
	Resumed int64  `json:"resumed_at"`
	Lines   int64  `json:"lines"`
	Shorter bool   `json:"shorter,omitempty"`
}

type indexTotals struct {
	Lines      int64            `json:"lines"`
	Received   int64            `json:"received"`
	Deliveries map[string]int64 `json:"deliveries"`
	Unparsed   int64            `json:"unparsed"`
	Rejects    int64            `json:"noqueue_rejects"`
}

// engineResult is a rules engine built on another goroutine.
type engineResult struct {
	eng *rules.Engine
	err error
}

// cmdIngest implements `pfdiag ingest [FILE...|-]`.
func cmdIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "ingest", "[flags] [FILE...|-]")
	idxFlags := addIndexFlags(fs, true)
	year := fs.Int("year", 0, "year of the first line of logs without one (default: from each file's modification time)")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object (with the index's totals)")
	every := fs.Int64("checkpoint-lines", 250000, "commit a checkpoint every `N` lines of a file (and at its end); an interrupted run resumes from the last one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *every < 1 {
		return usagef("--checkpoint-lines must be at least 1")
	}
	// From the start: building the rules engine and creating the index
	// allocate enough to trigger a collection at the default setting
	// (measured: one cycle with 13 ms of assists before the first line).
	defer tuneGC()()
	// The rules engine (YAML, compiled patterns: ~20 ms of CPU) is built
	// while the inputs and the index open (file creation, fsyncs: mostly
	// waiting), instead of before them. A bad rule file is still the
	// error reported, whatever else failed, as when it was built first.
	engc := make(chan engineResult, 1)
	go func() {
		eng, err := rules.New(*ruleFiles...)
		engc <- engineResult{eng, err}
	}()
	inputs, err := openInputs(e, fs.Args(), *year)
	if err != nil {
		if r := <-engc; r.err != nil {
			return r.err
		}
		return err
	}
	defer closeInputs(inputs)
	idx, created, _, err := idxFlags.openWriter(e)
	r := <-engc
	if r.err != nil {
		if err == nil {
			idx.Close()
			if created != "" {
				// Nothing is left behind of an index that was not there.
				os.RemoveAll(created)
			}
		}
		return r.err
	}
	if err != nil {
		return err
	}
	eng := r.eng
	start := time.Now()
	sum, runErr := ingestEvery(ctx, e, idx, eng, inputs, *year, *every, true)
	sum.Seconds = time.Since(start).Seconds()
	if *asJSON && (runErr == nil || errors.Is(runErr, context.Canceled)) {
		tot, err := totals(context.WithoutCancel(ctx), idx)
		if err != nil && runErr == nil {
			runErr = err
		}
		sum.Index = tot
	}
	if cerr := idx.Close(); cerr != nil && runErr == nil {
		runErr = cerr
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetEscapeHTML(false)
		enc.Encode(sum)
	} else {
		writeIngestSummary(e.stdout, &sum)
	}
	if errors.Is(runErr, context.Canceled) {
		return fmt.Errorf("interrupted after %d lines; the index holds everything read up to there", sum.Lines)
	}
	return runErr
}

// ingest reads the inputs into idx and returns this run's counts
// (analyze uses it too).
func ingest(ctx context.Context, e *env, idx correlate.Index, eng *rules.Engine, inputs []*logInput, year int) (ingestSummary, error) {
	return ingestEvery(ctx, e, idx, eng, inputs, year, 0, false)
}

// ingestEvery is ingest with a checkpoint every `every` lines (0: the
// default). With recycle, an on-disk index hands the finished messages
// back to the correlator once it has written them, for their memory to
// be reused: only when nothing else (analyze's report builder) gets them.
func ingestEvery(ctx context.Context, e *env, idx correlate.Index, eng *rules.Engine, inputs []*logInput, year int, every int64, recycle bool) (ingestSummary, error) {
	sum := ingestSummary{Deliveries: map[string]int64{}}
	opts := correlate.IngestOptions{
		Correlator:      correlate.Options{Classify: classifier(eng)},
		Now:             e.now,
		CheckpointLines: every,
		// rules.Engine is safe for concurrent use: failed deliveries are
		// classified on the parser's goroutines.
		ConcurrentClassify: true,
	}
	opts.Parse.Year = year
	opts.Parse.Loc = time.Local
	in, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		return sum, err
	}
	if r, ok := idx.(interface {
		SetRelease(func([]*correlate.Message))
	}); ok && recycle {
		r.SetRelease(in.Release)
	}
	var runErr error
	for _, f := range inputs {
		res, err := in.Read(ctx, f.File)
		sum.Files = append(sum.Files, ingestFile{Name: res.Name, Known: res.Known, Resumed: res.Resumed, Lines: res.Lines, Shorter: res.Shorter})
		sum.Lines += res.Lines
		sum.Bytes += res.Bytes
		if err != nil {
			runErr = err
			break
		}
	}
	st := in.Correlator().Stats()
	sum.Messages = st.Messages
	sum.Unparsed = st.Unparsed
	sum.Open = in.Correlator().Open()
	for _, s := range []correlate.Status{correlate.StatusSent, correlate.StatusDeferred, correlate.StatusBounced, correlate.StatusExpired} {
		sum.Deliveries[s.String()] = st.Deliveries[s]
	}
	return sum, runErr
}

// tuneGC trades a little memory for CPU while logs are read: the live
// heap is small (open messages, one checkpoint's aggregates, parser
// blocks), so collecting at every doubling wastes a core on a 2-core
// machine. The soft memory limit keeps the heap bounded whatever happens.
// It is what sets the pace in practice (the live heap is 35-40 MB, so
// GOGC=400 alone would allow ~190 MB): 108 MB keeps an ingest's peak RSS
// at 115-125 MB (1M-5M lines; chunk records no longer mapped by Badger
// left the room), with a third fewer GC cycles' work than 96 MB.
// It returns the function restoring the previous settings.
func tuneGC() func() {
	gc := debug.SetGCPercent(400)
	limit := debug.SetMemoryLimit(108 << 20)
	return func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	}
}

// totals sums the index's hour aggregates.
func totals(ctx context.Context, idx correlate.Index) (indexTotals, error) {
	var hours []*correlate.Hour
	err := idx.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		hours = append(hours, h)
		return nil
	})
	t := correlate.Totals(hours)
	tr := t.TotalTraffic()
	return indexTotals{
		Lines:    t.AllLines(),
		Received: tr.Received,
		Deliveries: map[string]int64{
			"sent": tr.Sent, "deferred": tr.Deferred, "bounced": tr.Bounced, "expired": tr.Expired,
		},
		Unparsed: t.Unparsed(),
		Rejects:  tr.NoQueue,
	}, err
}

func writeIngestSummary(w io.Writer, s *ingestSummary) {
	known := 0
	for _, f := range s.Files {
		if f.Known {
			known++
		}
	}
	files := fmt.Sprintf("%d file", len(s.Files))
	if len(s.Files) != 1 {
		files += "s"
	}
	if known > 0 {
		files += fmt.Sprintf(", %d read before", known)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ingested %d lines (%s): %d messages, %d sent, %d deferred, %d bounced, %d expired, %d unparsed; %d still queued\n",
		s.Lines, files, s.Messages, s.Deliveries["sent"], s.Deliveries["deferred"], s.Deliveries["bounced"],
		s.Deliveries["expired"], s.Unparsed, s.Open)
	io.WriteString(w, b.String())
}
