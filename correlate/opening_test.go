package correlate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/indextest"
	"github.com/pfdiag/pfdiag/correlate/memindex"
)

// TestOpeningConformance: an Opening over an index that takes a few
// milliseconds to open answers like the index itself (the suite's first
// appends land before the open has finished).
func TestOpeningConformance(t *testing.T) {
	indextest.Run(t, func() correlate.Index {
		return correlate.OpenNew(func() (correlate.Index, error) {
			time.Sleep(5 * time.Millisecond)
			return memindex.New(), nil
		})
	})
}

// releaser is a memindex that records SetRelease.
type releaser struct {
	*memindex.Index
	release func([]*correlate.Message)
}

func (r *releaser) SetRelease(fn func([]*correlate.Message)) { r.release = fn }

// TestOpeningPending: while the index opens, Load and Sources answer at
// once (a new index is empty) and Append keeps messages; once it is open
// they reach it in order before the checkpoint, with SetRelease applied
// first.
func TestOpeningPending(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	inner := &releaser{Index: memindex.New()}
	o := correlate.OpenNew(func() (correlate.Index, error) {
		<-gate
		return inner, nil
	})
	snap, err := o.Load(ctx)
	if err != nil || len(snap.Open) != 0 || len(snap.Sources) != 0 || snap.State != nil {
		t.Fatalf("Load while opening: %+v, %v", snap, err)
	}
	if src, err := o.Sources(ctx); err != nil || len(src) != 0 {
		t.Fatalf("Sources while opening: %v, %v", src, err)
	}
	released := false
	o.SetRelease(func([]*correlate.Message) { released = true })
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, q := range []string{"AAA1", "AAA2"} {
		if err := o.Append(ctx, []*correlate.Message{indextest.Msg("mail", "postfix", q, t0, "s@x.test", "r@y.test")}); err != nil {
			t.Fatal(err)
		}
	}
	if o.Ready() {
		t.Fatal("open finished before the gate")
	}
	// A checkpoint waits for the index (here: until the gate opens).
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	if err := o.Commit(cctx, &correlate.Checkpoint{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Commit before the open finished, with a deadline: %v", err)
	}
	cancel()
	close(gate)
	if err := o.Append(ctx, []*correlate.Message{indextest.Msg("mail", "postfix", "AAA3", t0, "s@x.test", "r@y.test")}); err != nil {
		t.Fatal(err)
	}
	if err := o.Commit(ctx, &correlate.Checkpoint{Sources: []correlate.Source{{Fingerprint: "fp", Offset: 10}}}); err != nil {
		t.Fatal(err)
	}
	if inner.release == nil {
		t.Error("SetRelease did not reach the index")
	} else if inner.release(nil); !released {
		t.Error("the index got another release function")
	}
	if got := indextest.QueueIDs(t, o, correlate.Query{}); got != "AAA1,AAA2,AAA3" {
		t.Errorf("committed through the opening index: %s", got)
	}
	if got := indextest.QueueIDs(t, inner, correlate.Query{}); got != "AAA1,AAA2,AAA3" {
		t.Errorf("in the index itself: %s", got)
	}
	if src, err := o.Sources(ctx); err != nil || len(src) != 1 || src[0].Offset != 10 {
		t.Errorf("Sources once open: %v, %v", src, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestOpeningFailed: an index that fails to open fails the calls that
// need it, and Close, with the open's error (even for a run that
// committed nothing).
func TestOpeningFailed(t *testing.T) {
	ctx := context.Background()
	bad := errors.New("index /x is in use by another pfdiag process")
	o := correlate.OpenNew(func() (correlate.Index, error) {
		time.Sleep(2 * time.Millisecond)
		return nil, bad
	})
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	o.Append(ctx, []*correlate.Message{indextest.Msg("mail", "postfix", "AAA1", t0, "s@x.test", "r@y.test")})
	if err := o.Commit(ctx, &correlate.Checkpoint{}); !errors.Is(err, bad) {
		t.Errorf("Commit: %v", err)
	}
	if err := o.Append(ctx, nil); !errors.Is(err, bad) {
		t.Errorf("Append after the failure: %v", err)
	}
	if err := o.Hours(ctx, time.Time{}, time.Time{}, func(*correlate.Hour) error { return nil }); !errors.Is(err, bad) {
		t.Errorf("Hours: %v", err)
	}
	if err := o.Close(); !errors.Is(err, bad) {
		t.Errorf("Close: %v", err)
	}
	o2 := correlate.OpenNew(func() (correlate.Index, error) { return nil, bad })
	if err := o2.Close(); !errors.Is(err, bad) {
		t.Errorf("Close of a run that did nothing: %v", err)
	}
}
