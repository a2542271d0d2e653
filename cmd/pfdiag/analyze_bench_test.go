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
	path := benchLog(b)
	lines := countLines(b, path)
	var elapsed time.Duration
	var cpu int64
	// The setup above (reading or generating the input) is not timed.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		runBench(b, "analyze", "--index", dir, "-f", "json", path)
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
	// CPU time per line does not depend on what else runs on the machine.
	b.ReportMetric(float64(cpu)/float64(lines*int64(b.N)), "cpu-ns/line")
}

// BenchmarkReportCommand runs `pfdiag report -f json` over an on-disk
// index holding $PFDIAG_BENCH_LOG (ingested once, before the timer): the
// index read back and the report made from it.
func BenchmarkReportCommand(b *testing.B) {
	path := benchLog(b)
	lines := countLines(b, path)
	dir := b.TempDir()
	runBench(b, "ingest", "--index", dir, path)
	b.ResetTimer()
	var elapsed time.Duration
	var cpu int64
	for i := 0; i < b.N; i++ {
		t0, c0 := time.Now(), cpuTime()
		runBench(b, "report", "--index", dir, "-f", "json")
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(cpu)/float64(lines*int64(b.N)), "cpu-ns/line")
}

// benchLog returns $PFDIAG_BENCH_LOG and sets the benchmark's bytes per
// operation to its size.
func benchLog(b *testing.B) string {
	b.Helper()
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		b.Skip("set PFDIAG_BENCH_LOG to a genlog file (genlog.py --lines 1000000 --seed 1)")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	return path
}

// runBench runs one pfdiag command in process, failing the benchmark
// unless it exits 0.
func runBench(b *testing.B, args ...string) {
	b.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: nil, stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
	if code := run(context.Background(), args, e); code != 0 {
		b.Fatalf("%s: exit %d: %s", args[0], code, errb.String())
	}
}
