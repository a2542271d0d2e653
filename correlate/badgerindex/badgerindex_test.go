package badgerindex

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/indextest"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string, opts Options) *Index {
	t.Helper()
	x, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func qids(t *testing.T, x *Index) string {
	t.Helper()
	return indextest.QueueIDs(t, x, correlate.Query{})
}

func commit(t *testing.T, x *Index, cp *correlate.Checkpoint, msgs ...*correlate.Message) {
	t.Helper()
	ctx := context.Background()
	if err := x.Append(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, cp); err != nil {
		t.Fatal(err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, Options{})
	openMsg := indextest.Msg("mail", "postfix", "OPEN1", t0, "s@x.test", "r@y.test")
	openMsg.Fate = correlate.FateQueued
	commit(t, x, &correlate.Checkpoint{
		Open:    []*correlate.Message{openMsg},
		Sources: []correlate.Source{{Fingerprint: "fp", Name: "mail.log", Offset: 42, Lines: 3}},
		State:   []byte("state"),
	}, indextest.Msg("mail", "postfix", "DONE1", t0, "s@x.test", "r@y.test"))
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = open(t, dir, Options{})
	defer x.Close()
	if got := qids(t, x); got != "DONE1,OPEN1" {
		t.Errorf("after reopening: %s", got)
	}
	s, err := x.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Open) != 1 || string(s.State) != "state" || len(s.Sources) != 1 || s.Sources[0].Offset != 42 {
		t.Errorf("snapshot after reopening: %d open, state %q, sources %+v", len(s.Open), s.State, s.Sources)
	}
}

// TestCrashBeforeCommitPoint: every key of a checkpoint is written, the
// process dies before the commit point; reopening shows the previous
// checkpoint exactly, and removes the orphans.
func TestCrashBeforeCommitPoint(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, Options{})
	a := indextest.Msg("mail", "postfix", "OPEN1", t0, "s@x.test", "r@y.test")
	a.Fate = correlate.FateQueued
	h := correlate.NewHour(t0)
	h.Traffic[correlate.HostKey{Host: "mail", Instance: "postfix"}] = &correlate.Traffic{Sent: 1}
	commit(t, x, &correlate.Checkpoint{Open: []*correlate.Message{a}, Hours: []*correlate.Hour{h},
		Sources: []correlate.Source{{Fingerprint: "fp", Offset: 100}}}, indextest.Msg("mail", "postfix", "DONE1", t0, "s@x.test", "r@y.test"))

	// The next checkpoint: OPEN1 finishes, OPEN2 appears, more traffic.
	if _, err := x.Sources(context.Background()); err != nil { // waits for the commit in flight
		t.Fatal(err)
	}
	x.beforeCommitPoint = func() error { return errors.New("SIGKILL") }
	fin := indextest.Msg("mail", "postfix", "OPEN1", t0, "s@x.test", "r@y.test")
	b := indextest.Msg("mail", "postfix", "OPEN2", t0.Add(time.Minute), "s@x.test", "q@y.test")
	b.Fate = correlate.FateQueued
	ctx := context.Background()
	if err := x.Append(ctx, []*correlate.Message{fin, indextest.Msg("mail", "postfix", "DONE2", t0, "s@x.test", "r@y.test")}); err != nil {
		t.Fatal(err)
	}
	// Commit hands the work to the writer goroutine: the failure shows at
	// the next call.
	x.Commit(ctx, &correlate.Checkpoint{Open: []*correlate.Message{b}, Closed: []correlate.Ref{a.Ref},
		Hours: []*correlate.Hour{h}, Sources: []correlate.Source{{Fingerprint: "fp", Offset: 200}}})
	if err := x.Commit(ctx, &correlate.Checkpoint{}); err == nil || !strings.Contains(err.Error(), "SIGKILL") {
		t.Errorf("after a failed commit: %v", err)
	}
	if _, err := x.Sources(ctx); err == nil {
		t.Error("a failed index answered a read")
	}
	if err := x.Close(); err == nil {
		t.Error("Close did not report the failed commit")
	}

	x = open(t, dir, Options{})
	defer x.Close()
	if got := qids(t, x); got != "DONE1,OPEN1" {
		t.Errorf("after the crash: %s, want the last checkpoint's DONE1,OPEN1", got)
	}
	s, err := x.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Open) != 1 || s.Open[0].QueueID != "OPEN1" || s.Sources[0].Offset != 100 {
		t.Errorf("snapshot after the crash: %d open, sources %+v", len(s.Open), s.Sources)
	}
	var sent int64
	x.Hours(ctx, time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		sent += h.TotalTraffic().Sent
		return nil
	})
	if sent != 1 {
		t.Errorf("hours after the crash: sent %d, want 1", sent)
	}
	// The re-run's checkpoint lands cleanly.
	commit(t, x, &correlate.Checkpoint{Open: []*correlate.Message{b}, Closed: []correlate.Ref{a.Ref}}, fin)
	if got := qids(t, x); got != "DONE1,OPEN1,OPEN2" {
		t.Errorf("after the re-run: %s", got)
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	x := open(t, dir, Options{})
	defer x.Close()
	for _, ro := range []bool{false, true} {
		_, err := Open(dir, Options{ReadOnly: ro})
		var le *LockedError
		if !errors.As(err, &le) {
			t.Fatalf("second open (read-only %v): %v", ro, err)
		}
		if le.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by another pfdiag process (pid ") {
			t.Errorf("error %q", err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{ReadOnly: true}); !errors.Is(err, ErrNoIndex) {
		t.Errorf("read-only open of an empty directory: %v", err)
	}
	dir := t.TempDir()
	x := open(t, dir, Options{})
	commit(t, x, nil, indextest.Msg("mail", "postfix", "DONE1", t0, "s@x.test", "r@y.test"))
	x.Close()
	r1 := open(t, dir, Options{ReadOnly: true})
	defer r1.Close()
	r2 := open(t, dir, Options{ReadOnly: true}) // readers share
	defer r2.Close()
	if got := qids(t, r2); got != "DONE1" {
		t.Errorf("read-only: %s", got)
	}
	if err := r1.Append(context.Background(), nil); !errors.Is(err, correlate.ErrReadOnly) {
		t.Errorf("Append read-only: %v", err)
	}
	if err := r1.Commit(context.Background(), &correlate.Checkpoint{}); !errors.Is(err, correlate.ErrReadOnly) {
		t.Errorf("Commit read-only: %v", err)
	}
}

func TestRetain(t *testing.T) {
	dir := t.TempDir()
	// Written "two hours ago" with one hour of retention: already gone.
	x := open(t, dir, Options{Retain: time.Hour, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }})
	h := correlate.NewHour(t0)
	h.Traffic[correlate.HostKey{Host: "mail", Instance: "postfix"}] = &correlate.Traffic{Sent: 1}
	commit(t, x, &correlate.Checkpoint{Hours: []*correlate.Hour{h}}, indextest.Msg("mail", "postfix", "OLD1", t0, "s@x.test", "r@y.test"))
	x.Close()
	x = open(t, dir, Options{Retain: 30 * 24 * time.Hour})
	defer x.Close()
	commit(t, x, nil, indextest.Msg("mail", "postfix", "NEW1", t0, "s@x.test", "r@y.test"))
	if got := qids(t, x); got != "NEW1" {
		t.Errorf("after retention: %s, want NEW1", got)
	}
	n := 0
	x.Hours(context.Background(), time.Time{}, time.Time{}, func(*correlate.Hour) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d expired hours still visible", n)
	}
}

// postingHashV1 is the hash as first written (FNV-1a, byte by byte): the
// postings on disk depend on it never changing.
func postingHashV1(f correlate.Field, v string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	h = (h ^ uint64(f)) * prime
	if f == correlate.ByQueueID {
		for i := 0; i < len(v); i++ {
			h = (h ^ uint64(v[i])) * prime
		}
		return h
	}
	for i := 0; i < len(v); i++ {
		if v[i] >= 0x80 {
			v = strings.ToLower(v)
			for i := 0; i < len(v); i++ {
				h = (h ^ uint64(v[i])) * prime
			}
			return h
		}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * prime
	}
	return h
}

func TestPostingHashUnchanged(t *testing.T) {
	vals := []string{"", "a", "A", "1E708258AAE", "akira1453@fjord-pixel.ch", "Akira1453@Fjord-Pixel.CH",
		"<924a485e-39f5-cfc2-c4c8-63776777ee82@smtp-relay.example.org>", "ÄÖÜ@bücher.de", "x@BÜCHER.de",
		"12345678", "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`@", "exactly8", "\x7f\x80\xff", "nul\x00byte", "Ünïcödé mixed CASE 12345678"}
	for _, v := range vals {
		for f := correlate.ByQueueID; f <= correlate.BySender; f++ {
			if got, want := postingHash(f, v), postingHashV1(f, v); got != want {
				t.Errorf("postingHash(%d, %q) = %x, want %x", f, v, got, want)
			}
		}
	}
}
