package reports

import (
	"context"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser/input"
	"github.com/pfdiag/pfdiag/rules"
)

// testNow is the fixed "now" of the golden reports.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func engine(t testing.TB) *rules.Engine {
	t.Helper()
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func classifier(eng *rules.Engine) correlate.Classifier {
	return func(reason, daemon, status, dsn, relay, domain string) string {
		if status == "reject" {
			status = ""
		}
		return eng.Classify(rules.Input{Reason: reason, Daemon: daemon, Status: status, DSN: dsn, Relay: relay, Domain: domain}).Category
	}
}

// ingest reads log files into a fresh in-memory index, as pfdiag ingest
// does (year from the file's modification time unless year is set).
func ingest(t testing.TB, eng *rules.Engine, year int, paths ...string) *memindex.Index {
	t.Helper()
	ctx := context.Background()
	idx := memindex.New()
	opts := correlate.IngestOptions{Correlator: correlate.Options{Classify: classifier(eng)}, Now: func() time.Time { return testNow }}
	opts.Parse.Year = year
	opts.Parse.Loc = time.UTC
	in, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		f, err := input.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return idx
}

// fromIndex builds a report the way pfdiag report does.
func fromIndex(t testing.TB, idx correlate.Index, opts Options) *Report {
	t.Helper()
	r, err := FromIndex(context.Background(), idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
