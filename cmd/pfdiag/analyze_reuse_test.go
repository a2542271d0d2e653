package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/reports"
	"github.com/pfdiag/pfdiag/rules"
)

// TestAnalyzeTeeReuse: with a report builder on the tee, written
// messages are reused only once both the index writer and the builder
// are done with them (teeIndex.SetRelease). A genlog log read with a
// checkpoint every 2,000 lines (many open messages replaced, closed and
// reused) must give the report the index gives when read back; under
// -race this also checks that no reused message is read.
func TestAnalyzeTeeReuse(t *testing.T) {
	dir := t.TempDir()
	log := genlogFile(t, dir, "--lines", "60000", "--seed", "7", "--hosts", "2")
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	opts := reports.Options{Rules: eng, Now: now, Loc: time.UTC}
	var stderr bytes.Buffer
	e := &env{stdout: &bytes.Buffer{}, stderr: &stderr, getenv: func(string) string { return "" }, now: func() time.Time { return now }}
	ctx := context.Background()
	idx, err := badgerindex.Open(filepath.Join(dir, "idx"), badgerindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	inputs, err := openInputs(e, []string{log}, 2024)
	if err != nil {
		t.Fatal(err)
	}
	defer closeInputs(inputs)
	tee := newTee(idx, reports.NewBuilder(opts))
	defer tee.stop()
	if _, err := ingestEvery(ctx, e, tee, eng, inputs, 2024, 2000, true); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr.String())
	}
	if tee.release == nil {
		t.Fatal("the on-disk index's messages are not reused")
	}
	var got, want bytes.Buffer
	if err := reports.WriteJSON(&got, tee.report()); err != nil {
		t.Fatal(err)
	}
	if n := len(tee.holders); n != 0 {
		t.Errorf("%d batches appended but never handed back", n)
	}
	back, err := reports.FromIndex(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteJSON(&want, back); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("tee'd report and read-back report differ:\n%s", lineDiff(got.String(), want.String()))
	}
	if got.Len() < 10000 {
		t.Errorf("report too short: %d bytes", got.Len())
	}
}
