package badgerindex_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/parser/input"
)

var (
	benchOnce sync.Once
	benchLog  string
	benchErr  string
)

// benchInput is $PFDIAG_BENCH_LOG (e.g. /tmp/bench/gen1m.log), else a
// 200,000-line genlog sample generated once per run (genlog --seed 1, the
// team's reference input).
func benchInput(b *testing.B) string {
	if p := os.Getenv("PFDIAG_BENCH_LOG"); p != "" {
		return p
	}
	benchOnce.Do(func() {
		script := filepath.Join("..", "..", "..", "shared", "bench", "genlog.py")
		if _, err := os.Stat(script); err != nil {
			benchErr = "genlog.py not found and PFDIAG_BENCH_LOG not set"
			return
		}
		dir, err := os.MkdirTemp("", "pfdiag-bench")
		if err != nil {
			benchErr = err.Error()
			return
		}
		benchLog = filepath.Join(dir, "gen200k.log")
		out, err := os.Create(benchLog)
		if err != nil {
			benchErr = err.Error()
			return
		}
		cmd := exec.Command("python3", script, "--lines", "200000", "--seed", "1")
		cmd.Stdout = out
		if err := cmd.Run(); err != nil {
			benchErr = "genlog: " + err.Error()
		}
		out.Close()
	})
	if benchErr != "" {
		b.Skip(benchErr)
	}
	return benchLog
}

// BenchmarkIngest reads a genlog sample into a fresh on-disk index:
// parsing, correlation, classification (a stand-in classifier) and
// Badger writes, as `pfdiag ingest` does.
func BenchmarkIngest(b *testing.B) {
	path := benchInput(b)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var lines int64
	var elapsed time.Duration
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		t0 := time.Now()
		idx, err := badgerindex.Open(dir, badgerindex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		in, err := correlate.NewIngester(context.Background(), idx, correlate.IngestOptions{
			Correlator: correlate.Options{Classify: func(reason, daemon, status, dsn, relay, domain string) string { return "unclassified" }},
		})
		if err != nil {
			b.Fatal(err)
		}
		f, err := input.Open(path, nil)
		if err != nil {
			b.Fatal(err)
		}
		res, err := in.Read(context.Background(), f)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		if err := idx.Close(); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		lines += res.Lines
	}
	b.ReportMetric(float64(lines)/elapsed.Seconds(), "lines/s")
	// CPU time per line does not depend on what else runs on the machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(lines), "cpu-ns/line")
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
