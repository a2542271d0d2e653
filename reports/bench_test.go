package reports

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser/input"
)

// BenchmarkBuild measures the report alone: the messages and hours of a
// genlog log (PFDIAG_BENCH_LOG, e.g. /tmp/bench/gen1m.log, else the
// 20,000-line test sample) are read into memory first, then each
// iteration builds the report and renders it as JSON. MB/s and lines/s are
// per byte and line of the log the records came from, to compare with the
// ingest's figures.
func BenchmarkBuild(b *testing.B) {
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		path, _ = genlog(b)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	eng := engine(b)
	idx := ingest(b, eng, 2024, path)
	ctx := context.Background()
	var hours []*correlate.Hour
	var msgs []*correlate.Message
	idx.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error { hours = append(hours, h); return nil })
	idx.Messages(ctx, correlate.Query{}, func(m *correlate.Message) error { msgs = append(msgs, m); return nil })
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		bl := NewBuilder(Options{Rules: eng, Now: testNow, Loc: time.UTC})
		for _, h := range hours {
			bl.AddHour(h)
		}
		for _, m := range msgs {
			bl.AddMessage(m)
		}
		if err := WriteJSON(&bytes.Buffer{}, bl.Report()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(len(msgs))*float64(b.N)/b.Elapsed().Seconds(), "messages/s")
}

// teeCapture keeps the records an ingest hands its index, as pfdiag
// analyze's tee does: finished messages at Append, hour deltas at Commit,
// and the messages still open at the last checkpoint.
type teeCapture struct {
	correlate.Index
	items []teeItem
	open  map[correlate.Ref]*correlate.Message
}

type teeItem struct {
	msgs  []*correlate.Message
	hours []*correlate.Hour
}

func (t *teeCapture) Append(ctx context.Context, msgs []*correlate.Message) error {
	t.items = append(t.items, teeItem{msgs: msgs})
	return t.Index.Append(ctx, msgs)
}

func (t *teeCapture) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	for _, r := range cp.Closed {
		delete(t.open, r)
	}
	for _, m := range cp.Open {
		t.open[m.Ref] = m
	}
	t.items = append(t.items, teeItem{hours: cp.Hours})
	return t.Index.Commit(ctx, cp)
}

// BenchmarkTee measures what pfdiag analyze adds to an ingest when it
// builds the report from the records as they are written: the records of
// a genlog log (PFDIAG_BENCH_LOG, else the 20,000-line test sample), as
// the correlator made them, are captured once; each iteration adds them
// to a Builder in the order the ingest handed them over ("add"), or also
// makes the report and renders it as JSON ("report").
func BenchmarkTee(b *testing.B) {
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		path, _ = genlog(b)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines, size := bytes.Count(data, []byte("\n")), int64(len(data))
	data = nil
	eng := engine(b)
	ctx := context.Background()
	tc := &teeCapture{Index: memindex.New(), open: map[correlate.Ref]*correlate.Message{}}
	opts := correlate.IngestOptions{Correlator: correlate.Options{Classify: classifier(eng)}, Now: func() time.Time { return testNow }}
	opts.Parse.Year = 2024
	opts.Parse.Loc = time.UTC
	in, err := correlate.NewIngester(ctx, tc, opts)
	if err != nil {
		b.Fatal(err)
	}
	f, err := input.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := in.Read(ctx, f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	tc.Index = nil // the records stay; the index's encoded copies go
	nmsg := len(tc.open)
	for _, it := range tc.items {
		nmsg += len(it.msgs)
	}
	build := func() *Builder {
		bl := NewBuilder(Options{Rules: eng, Now: testNow, Loc: time.UTC})
		for _, it := range tc.items {
			for _, m := range it.msgs {
				bl.AddMessage(m)
			}
			for _, h := range it.hours {
				bl.AddHour(h)
			}
		}
		for _, m := range tc.open {
			bl.AddMessage(m)
		}
		return bl
	}
	// cpu-ns/line counts the CPU time of every goroutine (the garbage
	// collector's too) per line of the log: on a shared machine it moves
	// less than the wall time, and it is what pfdiag analyze pays.
	var cpu0 int64
	start := func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 = cpuTime()
	}
	metrics := func(b *testing.B) {
		cpu := cpuTime() - cpu0
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(nmsg)/float64(b.N), "ns/message")
		b.ReportMetric(float64(cpu)/float64(lines)/float64(b.N), "cpu-ns/line")
	}
	b.Run("add", func(b *testing.B) {
		start(b)
		for i := 0; i < b.N; i++ {
			build()
		}
		metrics(b)
	})
	b.Run("report", func(b *testing.B) {
		start(b)
		for i := 0; i < b.N; i++ {
			if err := WriteJSON(&bytes.Buffer{}, build().Report()); err != nil {
				b.Fatal(err)
			}
		}
		metrics(b)
	})
	// render: only Report and the JSON encoding, of one built report
	// (Report does not change the Builder).
	b.Run("render", func(b *testing.B) {
		bl := build()
		start(b)
		for i := 0; i < b.N; i++ {
			if err := WriteJSON(&bytes.Buffer{}, bl.Report()); err != nil {
				b.Fatal(err)
			}
		}
		metrics(b)
	})
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
