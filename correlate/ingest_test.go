package correlate_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
)

func ingestOpts(every int64) correlate.IngestOptions {
	return correlate.IngestOptions{
		Correlator:      correlate.Options{Classify: fakeClassify},
		Parse:           parser.Options{Year: 2026, Loc: time.UTC},
		CheckpointLines: every,
	}
}

// readFile ingests one file with a fresh Ingester (one run).
func readFile(t *testing.T, idx correlate.Index, opts correlate.IngestOptions, path string) correlate.FileResult {
	t.Helper()
	ctx := context.Background()
	in, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := input.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := in.Read(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// snapshot is everything an index answers, in a comparable form.
func snapshot(t *testing.T, idx correlate.Index) (msgs []string, hours string) {
	t.Helper()
	for _, m := range allMessages(t, idx, correlate.Query{}) {
		msgs = append(msgs, string(correlate.AppendMessage(nil, m)))
	}
	slices.Sort(msgs)
	tot := totals(t, idx)
	tr := tot.TotalTraffic()
	var b strings.Builder
	fmt.Fprintf(&b, "lines=%d unparsed=%d traffic=%+v rejects=%d warnings=%d deliveries=%d senders=%d",
		tot.AllLines(), tot.Unparsed(), tr, len(tot.Rejects), len(tot.Warnings), len(tot.Deliveries), len(tot.Senders))
	var dk []string
	for k, v := range tot.Deliveries {
		dk = append(dk, fmt.Sprintf("%v=%d", k, v.Count))
	}
	slices.Sort(dk)
	b.WriteString(strings.Join(dk, ";"))
	return msgs, b.String()
}

func sameIndex(t *testing.T, got, want correlate.Index) {
	t.Helper()
	gm, gh := snapshot(t, got)
	wm, wh := snapshot(t, want)
	if gh != wh {
		t.Errorf("aggregates differ:\n got %.400s\nwant %.400s", gh, wh)
	}
	if len(gm) != len(wm) {
		t.Errorf("%d messages, want %d", len(gm), len(wm))
		return
	}
	diff := 0
	for i := range gm {
		if gm[i] != wm[i] {
			diff++
		}
	}
	if diff > 0 {
		t.Errorf("%d of %d messages differ", diff, len(gm))
	}
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func splitLog(t *testing.T, path string) []string {
	t.Helper()
	return readLines(t, path)
}

func TestMessageSpanningFilesInSeparateRuns(t *testing.T) {
	dir := t.TempDir()
	older := []string{
		"Nov 30 10:00:00 mail postfix/pickup[1]: 9DAF6C2176: uid=0 from=<a@x.test>",
		"Nov 30 10:00:00 mail postfix/cleanup[2]: 9DAF6C2176: message-id=<m1@x.test>",
		"Nov 30 10:00:00 mail postfix/qmgr[3]: 9DAF6C2176: from=<a@x.test>, size=370, nrcpt=1 (queue active)",
		"Nov 30 10:00:01 mail postfix/smtp[4]: 9DAF6C2176: to=<quota@remote.test>, relay=mx.remote.test[192.0.2.26]:25, delay=1, delays=0/0/0.5/0.5, dsn=4.2.2, status=deferred (host mx.remote.test[192.0.2.26] said: 452 4.2.2 Mailbox full)",
	}
	newer := []string{
		"Dec  1 10:00:01 mail postfix/qmgr[3]: 9DAF6C2176: from=<a@x.test>, size=370, nrcpt=1 (queue active)",
		"Dec  1 10:00:02 mail postfix/smtp[4]: 9DAF6C2176: to=<quota@remote.test>, relay=mx.remote.test[192.0.2.26]:25, delay=86402, delays=86400/0/1/1, dsn=5.2.2, status=bounced (host mx.remote.test[192.0.2.26] said: 552 5.2.2 Mailbox full)",
		"Dec  1 10:00:02 mail postfix/qmgr[3]: 9DAF6C2176: removed",
	}
	p4 := filepath.Join(dir, "mail.log.4")
	p1 := filepath.Join(dir, "mail.log.1")
	writeLines(t, p4, older)
	writeLines(t, p1, newer)

	separate := memindex.New()
	readFile(t, separate, ingestOpts(0), p4)
	m := one(t, separate, "9DAF6C2176")
	if m.Fate != correlate.FateQueued || statuses(m) != "quota@remote.test=deferred" {
		t.Fatalf("after the first file: fate %v, %s", m.Fate, statuses(m))
	}
	readFile(t, separate, ingestOpts(0), p1)
	m = one(t, separate, "9DAF6C2176")
	if m.Fate != correlate.FateBounced || statuses(m) != "quota@remote.test=bounced" || len(m.Recipients[0].Attempts) != 2 || m.MessageID != "<m1@x.test>" {
		t.Errorf("after the second file: fate %v, %s, %d attempts", m.Fate, statuses(m), len(m.Recipients[0].Attempts))
	}

	together := memindex.New()
	in, err := correlate.NewIngester(context.Background(), together, ingestOpts(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range input.Order([]string{p1, p4}) {
		f, err := input.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Read(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	sameIndex(t, separate, together)
}

func TestSameFileTwiceAndRotatedCopies(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "20000", "--seed", "13")
	dir := t.TempDir()
	lines := splitLog(t, logPath)
	live := filepath.Join(dir, "mail.log")
	writeLines(t, live, lines[:12000])

	idx := memindex.New()
	res := readFile(t, idx, ingestOpts(5000), live)
	if res.Known || res.Lines != 12000 {
		t.Fatalf("first read: %+v", res)
	}
	_, before := snapshot(t, idx)

	t.Run("same file again", func(t *testing.T) {
		res := readFile(t, idx, ingestOpts(5000), live)
		if !res.Known || res.Lines != 0 {
			t.Errorf("second read: %+v", res)
		}
		if _, after := snapshot(t, idx); after != before {
			t.Errorf("reading the same file twice changed the index")
		}
	})
	t.Run("rotated and compressed copies", func(t *testing.T) {
		data, err := os.ReadFile(live)
		if err != nil {
			t.Fatal(err)
		}
		rot := filepath.Join(dir, "mail.log.1")
		if err := os.Rename(live, rot); err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(data)
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, "mail.log.2.gz"), gz.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{rot, filepath.Join(dir, "mail.log.2.gz")} {
			res := readFile(t, idx, ingestOpts(5000), p)
			if !res.Known || res.Lines != 0 {
				t.Errorf("%s: %+v", filepath.Base(p), res)
			}
		}
		if _, after := snapshot(t, idx); after != before {
			t.Errorf("rotated copies changed the index")
		}
		os.Rename(rot, live)
	})
	t.Run("grown file resumes", func(t *testing.T) {
		writeLines(t, live, lines)
		res := readFile(t, idx, ingestOpts(5000), live)
		if !res.Known || res.Lines != int64(len(lines)-12000) {
			t.Errorf("grown file: %+v", res)
		}
		whole := memindex.New()
		readFile(t, whole, ingestOpts(5000), logPath)
		sameIndex(t, idx, whole)
	})
}

// crashIndex stands for a process killed between checkpoints: appends
// are held until Commit, and the commit numbered failAt never happens.
type crashIndex struct {
	correlate.Index
	commits, failAt int
	staged          []*correlate.Message
}

var errKilled = errors.New("killed")

func (c *crashIndex) Append(ctx context.Context, msgs []*correlate.Message) error {
	if c.commits >= c.failAt {
		return errKilled
	}
	c.staged = append(c.staged, msgs...)
	return nil
}

func (c *crashIndex) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	c.commits++
	if c.commits >= c.failAt {
		c.staged = nil
		return errKilled
	}
	if err := c.Index.Append(ctx, c.staged); err != nil {
		return err
	}
	c.staged = nil
	return c.Index.Commit(ctx, cp)
}

// TestResumeAfterCrash: a run that dies after some checkpoints, followed
// by a run over the same file, leaves what one clean run leaves.
func TestResumeAfterCrash(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "40000", "--seed", "21")
	clean := memindex.New()
	readFile(t, clean, ingestOpts(3000), logPath)
	for _, failAt := range []int{1, 4, 9} {
		t.Run(fmt.Sprintf("killed at checkpoint %d", failAt), func(t *testing.T) {
			idx := memindex.New()
			ctx := context.Background()
			crash := &crashIndex{Index: idx, failAt: failAt}
			in, err := correlate.NewIngester(ctx, crash, ingestOpts(3000))
			if err != nil {
				t.Fatal(err)
			}
			f, err := input.Open(logPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := in.Read(ctx, f); !errors.Is(err, errKilled) {
				t.Fatalf("first run: %v", err)
			}
			f.Close()
			res := readFile(t, idx, ingestOpts(3000), logPath)
			if !res.Known && failAt > 1 {
				t.Errorf("second run did not resume: %+v", res)
			}
			sameIndex(t, idx, clean)
		})
	}
}

// TestFeedAndCommit drives an Ingester the way pfdiag tail does: events
// from its own reader, commits with its own positions, and a callback
// per attempt.
func TestFeedAndCommit(t *testing.T) {
	idx := memindex.New()
	ctx := context.Background()
	var seen []string
	opts := ingestOpts(0)
	opts.Correlator.OnAttempt = func(m *correlate.Message, r *correlate.Recipient, a *correlate.Attempt) {
		seen = append(seen, m.QueueID+" "+r.Address+" "+a.Status.String()+" "+a.Category)
	}
	in, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(contentFilter("child first"), "\n") + "\n"
	r := parser.NewReader(strings.NewReader(text), parser.Options{Year: 2026, Loc: time.UTC})
	var last *parser.Event
	for r.Scan() {
		in.Process(r.Event())
		last = r.Event()
	}
	src := correlate.Source{Fingerprint: "fp-live", Name: "mail.log", Offset: last.End, Lines: last.Line}
	cp, err := in.Commit(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Hours) == 0 || len(cp.Sources) != 1 {
		t.Errorf("checkpoint returned: %d hours, %d sources", len(cp.Hours), len(cp.Sources))
	}
	want := []string{
		"1E708258AAE r@example.com sent ",
		"3F2A1258B01 r@example.com deferred fake_deferred",
		"3F2A1258B01 r@example.com bounced fake_bounced",
	}
	if !slices.Equal(seen, want) {
		t.Errorf("attempts seen %q, want %q", seen, want)
	}
	if got := one(t, idx, "1E708258AAE"); statuses(got) != "r@example.com=bounced" {
		t.Errorf("after Commit: %s", statuses(got))
	}
	again, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if srcs := again.Sources(); len(srcs) != 1 || srcs[0].Offset != int64(len(text)) || srcs[0].Lines != int64(len(contentFilter("child first"))) {
		t.Errorf("positions after Commit: %+v", srcs)
	}
}

// TestCheckpointPositionsChangeNothing: where checkpoints fall (every 997
// lines, or only at the end) does not change a single record or count.
func TestCheckpointPositionsChangeNothing(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "30000", "--seed", "17", "--hosts", "2")
	often := memindex.New()
	readFile(t, often, ingestOpts(997), logPath)
	once := memindex.New()
	readFile(t, once, ingestOpts(0), logPath)
	sameIndex(t, often, once)
}

// TestConcurrentClassifyChangesNothing: classifying failed deliveries
// while blocks are parsed gives the index a sequential run gives, with a
// classifier whose answer depends on every input, and the correlator then
// classifies no delivery itself (only rejects).
func TestConcurrentClassifyChangesNothing(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "40000", "--seed", "23", "--hosts", "2")
	var mu sync.Mutex
	onWorker, onCaller := 0, 0
	classify := func(reason, daemon, status, dsn, relay, domain string) string {
		buf := make([]byte, 8192)
		buf = buf[:runtime.Stack(buf, false)]
		if status != "reject" {
			mu.Lock()
			// Through parser.Options.Prepare: on a parsing goroutine,
			// or on the caller's when it parses a block no worker took.
			if bytes.Contains(buf, []byte("correlate.(*preClassifier).prepare")) {
				onWorker++
			} else {
				onCaller++
			}
			mu.Unlock()
		}
		h := fnv.New32a()
		for _, s := range []string{reason, daemon, status, dsn, relay, domain} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		return fmt.Sprintf("c%08x", h.Sum32())
	}
	opts := ingestOpts(5000)
	opts.Correlator.Classify = classify
	seq := memindex.New()
	readFile(t, seq, opts, logPath)
	if onWorker != 0 || onCaller == 0 {
		t.Fatalf("sequential run: %d calls while parsing, %d by the correlator", onWorker, onCaller)
	}
	onCaller = 0
	opts.ConcurrentClassify = true
	conc := memindex.New()
	readFile(t, conc, opts, logPath)
	sameIndex(t, conc, seq)
	if onWorker == 0 || onCaller != 0 {
		t.Errorf("concurrent run: %d deliveries classified while parsing, %d by the correlator", onWorker, onCaller)
	}
}

// TestAggregatorOnItsOwnGoroutine: Read adds the hour aggregates on a
// goroutine of their own; feeding the same lines with Process and
// committing at the same lines (aggregates added inline) gives the same
// index, hours and messages.
func TestAggregatorOnItsOwnGoroutine(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "40000", "--seed", "29", "--hosts", "2")
	const every = 7919
	read := memindex.New()
	readFile(t, read, ingestOpts(every), logPath)

	ctx := context.Background()
	fed := memindex.New()
	in, err := correlate.NewIngester(ctx, fed, ingestOpts(every))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := parser.NewReader(f, parser.Options{Year: 2026, Loc: time.UTC})
	for r.Scan() {
		ev := r.Event()
		in.Process(ev)
		if ev.Line%every == 0 {
			if _, err := in.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := in.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sameIndex(t, fed, read)
}

// releasingIndex stores a decoded copy of every appended message (as an
// on-disk index writes its encoding) and hands the originals back to the
// Ingester on another goroutine, as badgerindex's writer does.
type releasingIndex struct {
	correlate.Index
	in       *correlate.Ingester
	feed     chan []*correlate.Message
	done     chan struct{}
	released int
}

func newReleasingIndex(idx correlate.Index) *releasingIndex {
	x := &releasingIndex{Index: idx, feed: make(chan []*correlate.Message, 8), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		for msgs := range x.feed {
			x.in.Release(msgs)
			x.released += len(msgs)
		}
	}()
	return x
}

func (x *releasingIndex) Append(ctx context.Context, msgs []*correlate.Message) error {
	copies := make([]*correlate.Message, len(msgs))
	for i, m := range msgs {
		c, err := correlate.DecodeMessage(correlate.AppendMessage(nil, m))
		if err != nil {
			return err
		}
		copies[i] = c
	}
	if err := x.Index.Append(ctx, copies); err != nil {
		return err
	}
	x.feed <- slices.Clone(msgs)
	return nil
}

func (x *releasingIndex) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	// The open messages stay the correlator's: store copies, as an
	// encoding index does.
	cp2 := *cp
	cp2.Open = make([]*correlate.Message, len(cp.Open))
	for i, m := range cp.Open {
		c, err := correlate.DecodeMessage(correlate.AppendMessage(nil, m))
		if err != nil {
			return err
		}
		cp2.Open[i] = c
	}
	return x.Index.Commit(ctx, &cp2)
}

// readReleasing reads path into a fresh in-memory index whose writer
// releases the messages it has written back to the Ingester (as the Badger
// index does), and waits for the writer to finish.
func readReleasing(t *testing.T, opts correlate.IngestOptions, path string) (*releasingIndex, *correlate.Ingester) {
	t.Helper()
	ctx := context.Background()
	rel := newReleasingIndex(memindex.New())
	in, err := correlate.NewIngester(ctx, rel, opts)
	if err != nil {
		t.Fatal(err)
	}
	rel.in = in
	f, err := input.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := in.Read(ctx, f); err != nil {
		t.Fatal(err)
	}
	close(rel.feed)
	<-rel.done
	return rel, in
}

// TestReleaseChangesNothing: reusing the memory of messages the index
// has written (Ingester.Release, from another goroutine) gives the index
// a run without reuse gives, over queue-ID reuse, two hosts, notifications
// and re-injections; and blocks are reused.
func TestReleaseChangesNothing(t *testing.T) {
	logPath, _ := genlog(t, t.TempDir(), "--lines", "40000", "--seed", "31", "--hosts", "2")
	const every = 6007
	plain := memindex.New()
	readFile(t, plain, ingestOpts(every), logPath)
	rel, in := readReleasing(t, ingestOpts(every), logPath)
	sameIndex(t, rel.Index, plain)
	if rel.released == 0 || correlate.PooledBlocks(in) == 0 {
		t.Errorf("%d messages released, %d blocks pooled: nothing reused", rel.released, correlate.PooledBlocks(in))
	}
}

// TestReleaseWithStaleLinks: messages the correlator still points to
// after writing them (an expected re-injection whose copy comes late, a
// message back in the grace queue after out-of-order lines) are never
// reused: a copy that shows up minutes later, after thousands of other
// messages have reused memory, is linked exactly as without reuse.
func TestReleaseWithStaleLinks(t *testing.T) {
	var lines []string
	qid := func(prefix string, i int) string { return fmt.Sprintf("%s%07X", prefix, i) }
	ts := func(sec int) string {
		return time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second).Format("15:04:05")
	}
	for i := 0; i < 200; i++ {
		p, c := qid("A", i), qid("B", i)
		at := ts(i * 20)
		// "sent first" and the copy never shows up in time: an expectation
		// left pointing to a written message.
		lines = append(lines,
			"Nov 30 "+at+" mail postfix/pickup[1]: "+p+": uid=0 from=<s@x.test>",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+p+": from=<s@x.test>, size=100, nrcpt=1 (queue active)",
			"Nov 30 "+at+" mail postfix/smtp[3]: "+p+": to=<r@y.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "+c+")",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+p+": removed")
		// Out of order: removed before the reply that links the copy.
		p2, c2 := qid("C", i), qid("D", i)
		lines = append(lines,
			"Nov 30 "+at+" mail postfix/smtpd[4]: "+c2+": client=localhost[127.0.0.1]",
			"Nov 30 "+at+" mail postfix/pickup[1]: "+p2+": uid=0 from=<s@x.test>",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+p2+": from=<s@x.test>, size=100, nrcpt=1 (queue active)",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+p2+": removed",
			"Nov 30 "+at+" mail postfix/smtp[3]: "+p2+": to=<r@y.test>, relay=127.0.0.1[127.0.0.1]:10024, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "+c2+")",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+c2+": from=<s@x.test>, size=100, nrcpt=1 (queue active)",
			"Nov 30 "+at+" mail postfix/local[5]: "+c2+": to=<r@y.test>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
			"Nov 30 "+at+" mail postfix/qmgr[2]: "+c2+": removed")
		// Other traffic, whose messages reuse the memory of written ones.
		for j := 0; j < 20; j++ {
			lines = append(lines, delivered(ts(i*20+1+j/2), "mail", "postfix", qid("E", i*20+j), "a@x.test", "b@y.test")...)
		}
		// The late copy of an earlier "sent first" message, within the
		// link window but long after its parent was written.
		if i >= 15 {
			c := qid("B", i-15)
			lines = append(lines,
				"Nov 30 "+ts(i*20+19)+" mail postfix/smtpd[4]: "+c+": client=localhost[127.0.0.1]",
				"Nov 30 "+ts(i*20+19)+" mail postfix/qmgr[2]: "+c+": from=<s@x.test>, size=100, nrcpt=1 (queue active)",
				"Nov 30 "+ts(i*20+19)+" mail postfix/local[5]: "+c+": to=<r@y.test>, relay=local, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
				"Nov 30 "+ts(i*20+19)+" mail postfix/qmgr[2]: "+c+": removed")
		}
	}
	path := filepath.Join(t.TempDir(), "mail.log")
	writeLines(t, path, lines)
	plain := memindex.New()
	readFile(t, plain, ingestOpts(1009), path)
	rel, _ := readReleasing(t, ingestOpts(1009), path)
	sameIndex(t, rel.Index, plain)
}
