package parser

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks run on genlog output, generated at bench time (never
// committed): python3 ../../shared/bench/genlog.py --lines 1000000 --seed 1.
// PFDIAG_BENCH_LOG names an existing file instead; PFDIAG_BENCH_LINES
// changes the size.

var benchLog struct {
	once sync.Once
	data []byte
	err  error
}

func benchData(b *testing.B) []byte {
	b.Helper()
	benchLog.once.Do(func() {
		if p := os.Getenv("PFDIAG_BENCH_LOG"); p != "" {
			benchLog.data, benchLog.err = os.ReadFile(p)
			return
		}
		gen := filepath.Join("..", "..", "shared", "bench", "genlog.py")
		if _, err := os.Stat(gen); err != nil {
			benchLog.err = err
			return
		}
		lines := os.Getenv("PFDIAG_BENCH_LINES")
		if lines == "" {
			lines = "1000000"
		}
		out, err := exec.Command("python3", gen, "--lines", lines, "--seed", "1").Output()
		benchLog.data, benchLog.err = out, err
	})
	if benchLog.err != nil {
		b.Skipf("no benchmark log (need ../shared/bench/genlog.py and python3, or PFDIAG_BENCH_LOG): %v", benchLog.err)
	}
	return benchLog.data
}

// cpuTime returns the process's user+system CPU time in nanoseconds: the
// machine is shared, and CPU time per line does not depend on what else
// runs on it (wall time does).
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// reportCPU adds the cpu-ns/line metric for lines parsed since c0.
func reportCPU(b *testing.B, c0 int64, lines int) {
	b.ReportMetric(float64(cpuTime()-c0)/float64(lines), "cpu-ns/line")
}

func splitLines(data []byte) [][]byte {
	lines := bytes.Split(data, []byte{'\n'})
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// BenchmarkParse is the single-core line parser on the whole genlog mix.
func BenchmarkParse(b *testing.B) {
	data := benchData(b)
	lines := splitLines(data)
	var ev Event
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for _, l := range lines {
			ParseInto(l, &ev)
		}
	}
	reportCPU(b, c0, len(lines)*b.N)
	b.ReportMetric(float64(len(lines))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkParseDelivery is the parser on delivery status lines only: the
// acceptance bound is at most one allocation per line.
func BenchmarkParseDelivery(b *testing.B) {
	data := benchData(b)
	var lines [][]byte
	for _, l := range splitLines(data) {
		if bytes.Contains(l, []byte(", status=")) && bytes.Contains(l, []byte(": to=<")) {
			lines = append(lines, l)
		}
	}
	var ev Event
	var clock Clock
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		ParseInto(l, &ev)
		ev.Time = clock.Resolve(&ev.Stamp)
	}
	reportCPU(b, c0, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkReader is the sequential Reader (one goroutine, with year
// inference) over the whole file.
func BenchmarkReader(b *testing.B) {
	data := benchData(b)
	n := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		r := NewReader(bytes.NewReader(data), Options{})
		for r.Scan() {
		}
	}
	reportCPU(b, c0, n*b.N)
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkBatchReader is the parallel reader (all cores) over the whole file.
func BenchmarkBatchReader(b *testing.B) {
	data := benchData(b)
	n := bytes.Count(data, []byte{'\n'})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		br := NewBatchReader(bytes.NewReader(data), Options{})
		for {
			_, err := br.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		br.Close()
	}
	reportCPU(b, c0, n*b.N)
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkResolve is the consumer's share of a BatchReader: placing the
// stamps of the whole file in time, in order (year inference included).
func BenchmarkResolve(b *testing.B) {
	data := benchData(b)
	var stamps []Stamp
	var ev Event
	for _, l := range splitLines(data) {
		ParseInto(l, &ev)
		if ev.Kind != KindMalformed {
			stamps = append(stamps, ev.Stamp)
		}
	}
	ref := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		c := Clock{Ref: ref}
		for j := range stamps {
			c.Resolve(&stamps[j])
		}
	}
	reportCPU(b, c0, len(stamps)*b.N)
	b.ReportMetric(float64(len(stamps))*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// BenchmarkBatchParse is a BatchReader's parse goroutine work on one
// core: blocks of the file split into lines and parsed into the events
// of four batches in turn (their events reused as Next hands them back),
// without the goroutines, the reading and the time resolution.
func BenchmarkBatchParse(b *testing.B) {
	data := benchData(b)
	var blocks [][]byte
	for rest := data; len(rest) > 0; {
		n := min(blockSize, len(rest))
		if i := bytes.LastIndexByte(rest[:n], '\n'); i >= 0 && n < len(rest) {
			n = i + 1
		}
		blocks = append(blocks, rest[:n])
		rest = rest[n:]
	}
	lines := bytes.Count(data, []byte{'\n'})
	batches := make([]Batch, 4)
	for i := range batches {
		batches[i].maxLine = defaultMaxLine
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		for j, blk := range blocks {
			bt := &batches[j%len(batches)]
			bt.data = blk
			bt.parse()
		}
	}
	reportCPU(b, c0, lines*b.N)
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
