package main

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIngestCommand runs `pfdiag ingest` on $PFDIAG_BENCH_LOG (e.g.
// /tmp/bench/gen1m.log: genlog --lines 1000000 --seed 1) into a fresh
// on-disk index: everything the command does, the rules engine included.
func BenchmarkIngestCommand(b *testing.B) {
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
	var cpu int64
	// The setup above (reading or generating the input) is not timed.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		var out, errb bytes.Buffer
		e := &env{stdin: nil, stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, now: time.Now}
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		if code := run(context.Background(), []string{"ingest", "--index", dir, path}, e); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
	// CPU time per line does not depend on what else runs on the machine.
	b.ReportMetric(float64(cpu)/float64(lines*int64(b.N)), "cpu-ns/line")
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func countLines(b *testing.B, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return int64(bytes.Count(data, []byte("\n")))
}
