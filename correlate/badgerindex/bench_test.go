package badgerindex_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/memindex"
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
	// The setup above (reading or generating the input) is not timed.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		t0 := time.Now()
		idx, err := badgerindex.Open(dir, badgerindex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res := ingestFile(b, idx, path)
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

// ingestFile reads the file at path into idx with a stand-in classifier.
func ingestFile(b *testing.B, idx correlate.Index, path string) correlate.FileResult {
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
	defer f.Close()
	res, err := in.Read(context.Background(), f)
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// cpuTime returns the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// recorder is a correlate.Index that keeps what an ingest writes (the
// batches of finished messages and the checkpoints, in order) on top of
// an in-memory index, for BenchmarkIndexWrite to replay.
type recorder struct {
	correlate.Index
	ops []recordedOp
}

type recordedOp struct {
	msgs []*correlate.Message
	cp   *correlate.Checkpoint
}

func (r *recorder) Append(ctx context.Context, msgs []*correlate.Message) error {
	r.ops = append(r.ops, recordedOp{msgs: slices.Clone(msgs)})
	return r.Index.Append(ctx, msgs)
}

func (r *recorder) Commit(ctx context.Context, cp *correlate.Checkpoint) error {
	c := *cp
	c.Open, c.Closed, c.Hours, c.Sources, c.State = slices.Clone(c.Open), slices.Clone(c.Closed), slices.Clone(c.Hours), slices.Clone(c.Sources), slices.Clone(c.State)
	r.ops = append(r.ops, recordedOp{cp: &c})
	return r.Index.Commit(ctx, cp)
}

// BenchmarkIndexWrite replays what ingesting a genlog sample writes into
// the index (recorded once, beforehand) into a fresh on-disk index: the
// index's own work alone (encoding, chunk files, Badger, close), without
// parsing or correlation. cpu-ns/line is per line of the sample.
func BenchmarkIndexWrite(b *testing.B) {
	path := benchInput(b)
	rec := &recorder{Index: memindex.New()}
	res := ingestFile(b, rec, path)
	rec.Index = nil // only the recording is needed now
	runtime.GC()
	b.ReportAllocs()
	var elapsed time.Duration
	var cpu int64
	// The setup above (reading or generating the input) is not timed.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime()
		ctx := context.Background()
		idx, err := badgerindex.Open(dir, badgerindex.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, op := range rec.ops {
			if op.cp != nil {
				err = idx.Commit(ctx, op.cp)
			} else {
				err = idx.Append(ctx, op.msgs)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := idx.Close(); err != nil {
			b.Fatal(err)
		}
		elapsed += time.Since(t0)
		cpu += cpuTime() - c0
	}
	b.ReportMetric(float64(res.Lines)*float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(cpu)/float64(res.Lines*int64(b.N)), "cpu-ns/line")
}
