package rules

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/parser"
)

// defaultBenchLog is the 1M-line sample PERF notes use when
// $PFDIAG_BENCH_LOG is not set.
const defaultBenchLog = "/tmp/bench/gen1m.log"

// failureInputs returns the inputs pfdiag ingest gives Engine.Category for
// the status=deferred/bounced/expired lines of a log, as
// cmd/pfdiag's classifier builds them from the correlator's arguments
// (recipient domain lower-cased), each distinct input once, in log order:
// the correlator remembers its answers for exact inputs, so these are the
// calls that reach the engine. ok is false when there is no log.
func failureInputs(tb testing.TB) ([]Input, bool) {
	tb.Helper()
	path := os.Getenv("PFDIAG_BENCH_LOG")
	if path == "" {
		path = defaultBenchLog
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	seen := map[Input]bool{}
	var ins []Input
	var ev parser.Event
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte("status=deferred")) && !bytes.Contains(line, []byte("status=bounced")) &&
			!bytes.Contains(line, []byte("status=expired")) {
			continue
		}
		if parser.ParseInto(line, &ev); ev.Kind != parser.KindDelivery {
			continue
		}
		in := Input{Reason: string(ev.Reason), Daemon: string(ev.Daemon), Status: string(ev.Status),
			DSN: string(ev.DSN), Relay: string(ev.Relay)}
		if i := bytes.LastIndexByte(ev.To, '@'); i >= 0 {
			in.Domain = string(bytes.ToLower(ev.To[i+1:]))
		}
		if !seen[in] {
			seen[in] = true
			ins = append(ins, in)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	// The scan's garbage is collected now, not during the timing.
	runtime.GC()
	return ins, len(ins) > 0
}

// BenchmarkCategoryIngest replays what ingest asks of the engine: every
// distinct failure input of the log through Category, on a fresh engine
// (built outside the timing) each op. It reports the cost per call and
// per distinct normalised text (a miss: the matcher runs).
func BenchmarkCategoryIngest(b *testing.B) {
	ins, ok := failureInputs(b)
	if !ok {
		b.Skip("no log: set PFDIAG_BENCH_LOG or generate " + defaultBenchLog)
	}
	b.SetBytes(reasonBytes(ins))
	b.ReportAllocs()
	misses := 0
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := mustDefault(b)
		b.StartTimer()
		c := cpuTime()
		for _, in := range ins {
			e.Category(in)
		}
		cpu += cpuTime() - c
		misses = e.cached()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(len(ins)), "cpu-ns/call")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ins)), "ns/call")
	b.ReportMetric(float64(misses), "misses")
	b.ReportMetric(float64(len(ins)), "calls")
}

// BenchmarkCategoryMiss is the cost of one miss alone: the matcher on
// each distinct normalised text of the log's failures, as Category runs it
// (no fix rendered), without the caches.
func BenchmarkCategoryMiss(b *testing.B) {
	ins, ok := failureInputs(b)
	if !ok {
		b.Skip("no log: set PFDIAG_BENCH_LOG or generate " + defaultBenchLog)
	}
	e := mustDefault(b)
	distinct := distinctKeys(e, ins)
	benchMisses(b, e, distinct, false)
	b.ReportMetric(float64(len(distinct)), "distinct")
}

// BenchmarkCategoryNormalise is the key (normalise and context) of every
// failure input of the log.
func BenchmarkCategoryNormalise(b *testing.B) {
	ins, ok := failureInputs(b)
	if !ok {
		b.Skip("no log: set PFDIAG_BENCH_LOG or generate " + defaultBenchLog)
	}
	benchKeys(b, mustDefault(b), ins)
}

// BenchmarkDefault is loading the default rules, as every pfdiag command
// does before reading a line.
func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
