package reports

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
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
