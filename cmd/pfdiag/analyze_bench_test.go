package main

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkAnalyzeCommand runs `pfdiag analyze -f json` on
// $PFDIAG_BENCH_LOG (e.g. /tmp/bench/gen1m.log: genlog --lines 1000000
// --seed 1) into a fresh on-disk index: the ingest and the report.
// Compare with BenchmarkIngestCommand for the report's share.
func BenchmarkAnalyzeCommand(b *testing.B) {
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		b.Skip("set PFDIAG_BENCH_LOG to a genlog file (genlog.py --lines 1000000 --seed 1)")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := countLines(b, path)
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		var out, errb bytes.Buffer
		e := &env{stdin: nil, stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
		b.StartTimer()
		t0 := time.Now()
		if code := run(context.Background(), []string{"analyze", "--index", dir, "-f", "json", path}, e); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
		elapsed += time.Since(t0)
	}
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
}
