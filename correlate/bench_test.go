package correlate_test

import (
	"os"
	"runtime"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/parser"
)

// BenchmarkCorrelate measures the correlator alone: a genlog sample
// (200,000 lines, or $PFDIAG_BENCH_LOG's first 200,000) is parsed once
// into memory, then fed to a fresh Correlator per iteration, with a
// checkpoint every 50,000 lines as the Ingester would.
func BenchmarkCorrelate(b *testing.B) {
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		dir := b.TempDir()
		p, _ := genlogB(b, dir, "--lines", "200000", "--seed", "1")
		path = p
	}
	evs, size := benchEvents(b, path)
	b.SetBytes(size)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := correlate.New(correlate.Options{Classify: fakeClassify})
		for j := range evs {
			c.Process(&evs[j])
			if j%4096 == 0 {
				c.TakeDone()
			}
			if j%50000 == 0 {
				c.Checkpoint()
				c.TakeDone()
			}
		}
		c.Checkpoint()
		c.TakeDone()
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	// CPU time is what counts on a shared 2-core machine, where wall time
	// depends on the neighbours.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(len(evs)*b.N), "cpu-ns/line")
}

// BenchmarkProcess measures Correlator.Process on the goroutine that
// calls it, as an ingest runs it: the same events as BenchmarkCorrelate,
// the hour aggregates on their own goroutine, and the CPU time of the
// calling thread alone (thread-cpu-ns/line: no garbage collector workers,
// no aggregator), which is the ingest's critical path.
func BenchmarkProcess(b *testing.B) {
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		b.Skip("set PFDIAG_BENCH_LOG to a genlog file (genlog.py --lines 1000000 --seed 1)")
	}
	evs, size := benchEvents(b, path)
	b.SetBytes(size)
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpu int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := correlate.New(correlate.Options{Classify: fakeClassify})
		correlate.StartAggregator(c)
		t0 := threadTime()
		for j := range evs {
			c.Process(&evs[j])
			if j%4096 == 0 {
				c.TakeDone()
			}
		}
		cpu += threadTime() - t0
		c.Checkpoint()
		c.TakeDone()
		correlate.StopAggregator(c)
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(cpu)/float64(len(evs)*b.N), "thread-cpu-ns/line")
}

// benchEvents parses the first 200,000 lines of path into memory.
func benchEvents(b *testing.B, path string) ([]parser.Event, int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r := parser.NewReader(f, parser.Options{Year: 2024})
	evs := make([]parser.Event, 0, 200000)
	var size int64
	for r.Scan() && len(evs) < 200000 {
		ev := r.Event()
		size = ev.End
		evs = append(evs, ev.Clone())
	}
	return evs, size
}

// threadTime returns the calling thread's CPU time in nanoseconds.
func threadTime() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
