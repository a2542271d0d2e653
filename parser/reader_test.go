package parser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// impls are the reader implementations that must agree: the sequential
// Reader, the BatchReader, and the BatchReader with its caller parsing
// every block.
var impls = []string{"Reader", "BatchReader", "BatchReader/consumer"}

// readAll reads input with the named reader implementation and returns
// cloned events.
func readAll(t testing.TB, impl, input string, opts Options) []Event {
	t.Helper()
	evs, err := readAllFrom(impl, strings.NewReader(input), opts)
	if err != nil {
		t.Fatalf("%s: %v", impl, err)
	}
	return evs
}

func readAllFrom(impl string, r io.Reader, opts Options) ([]Event, error) {
	var out []Event
	switch impl {
	case "Reader":
		rd := NewReader(r, opts)
		for rd.Scan() {
			out = append(out, rd.Event().Clone())
		}
		return out, rd.Err()
	default:
		br := NewBatchReader(r, opts)
		if impl == "BatchReader/consumer" {
			// No parsing goroutine: every block is parsed by Next's
			// caller, as it does whenever it gets to a block no worker
			// has taken yet.
			br.workers = 0
		}
		defer br.Close()
		for {
			evs, err := br.Next(context.Background())
			for i := range evs {
				out = append(out, evs[i].Clone())
			}
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
		}
	}
}

// sameEvents compares what matters of two event lists.
func sameEvents(t testing.TB, a, b []Event) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d events vs %d", len(a), len(b))
	}
	for i := range a {
		x, y := &a[i], &b[i]
		// Every field, zones included: the BatchReader clears its
		// events by zones and takes repeated timestamps from the line
		// before, the Reader does neither.
		if d := sameParse(x, y); d != "" {
			t.Fatalf("event %d (%q) differs: %s", i, x.Raw, d)
		}
		if x.Kind != y.Kind || !bytes.Equal(x.Raw, y.Raw) || x.Line != y.Line || x.End != y.End ||
			!x.Time.Equal(y.Time) || x.TooLong != y.TooLong || !bytes.Equal(x.Reason, y.Reason) {
			t.Fatalf("event %d differs:\n%s %q line=%d end=%d time=%v long=%v\n%s %q line=%d end=%d time=%v long=%v",
				i, x.Kind, x.Raw, x.Line, x.End, x.Time, x.TooLong, y.Kind, y.Raw, y.Line, y.End, y.Time, y.TooLong)
		}
	}
}

func TestReaderEdgeCases(t *testing.T) {
	good := "Nov 30 07:33:55 mail postfix/qmgr[16870]: 91A94C2173: removed"
	tests := []struct {
		name       string
		input      string
		opts       Options
		kinds      []Kind
		lastEnd    int64
		wantTooLng int
	}{
		{"empty", "", Options{}, nil, 0, 0},
		{"no final newline", good + "\n" + good, Options{}, []Kind{KindRemoved, KindRemoved}, int64(2*len(good) + 1), 0},
		{"no final newline held", good + "\n" + good, Options{HoldPartial: true}, []Kind{KindRemoved}, int64(len(good) + 1), 0},
		{"CRLF", good + "\r\n" + good + "\r\n", Options{}, []Kind{KindRemoved, KindRemoved}, int64(2*len(good) + 4), 0},
		{"blank lines", "\n\n" + good + "\n", Options{}, []Kind{KindMalformed, KindMalformed, KindRemoved}, int64(len(good) + 3), 0},
		{"NUL bytes", "\x00\x00\x00\n" + good + "\n", Options{}, []Kind{KindMalformed, KindRemoved}, int64(len(good) + 5), 0},
		{"long line cut", strings.Repeat("x", 100) + "\n" + good + "\n", Options{MaxLineLen: 80}, []Kind{KindMalformed, KindRemoved}, int64(len(good) + 102), 1},
		{"1 MB line", good + strings.Repeat("y", 1<<20) + "\n" + good + "\n", Options{}, []Kind{KindMalformed, KindRemoved}, int64(2*len(good) + 2 + 1<<20), 1},
		{"1 MB line at the end without newline", good + "\n" + strings.Repeat("y", 1<<20), Options{}, []Kind{KindRemoved, KindMalformed}, int64(len(good) + 1 + 1<<20), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var results [][]Event
			for _, impl := range impls {
				evs := readAll(t, impl, tt.input, tt.opts)
				if len(evs) != len(tt.kinds) {
					t.Fatalf("%s: %d events, want %d", impl, len(evs), len(tt.kinds))
				}
				long := 0
				for i, ev := range evs {
					if ev.Kind != tt.kinds[i] {
						t.Errorf("%s event %d: kind %s, want %s", impl, i, ev.Kind, tt.kinds[i])
					}
					if ev.Line != int64(i+1) {
						t.Errorf("%s event %d: line %d", impl, i, ev.Line)
					}
					if ev.TooLong {
						long++
						if len(ev.Raw) > 64<<10 {
							t.Errorf("%s: sample of a long line is %d bytes", impl, len(ev.Raw))
						}
					}
				}
				if long != tt.wantTooLng {
					t.Errorf("%s: %d too-long events, want %d", impl, long, tt.wantTooLng)
				}
				if n := len(evs); n > 0 && evs[n-1].End != tt.lastEnd {
					t.Errorf("%s: last End %d, want %d", impl, evs[n-1].End, tt.lastEnd)
				}
				results = append(results, evs)
			}
			sameEvents(t, results[0], results[1])
		})
	}
}

// TestReadersAgree runs both readers over every committed corpus file,
// with the input delivered in awkward chunk sizes.
func TestReadersAgree(t *testing.T) {
	files := corpusFiles(t, "../testdata/corpus")
	for _, f := range files {
		data := f.data
		ref := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		a, err := readAllFrom("Reader", bytes.NewReader(data), Options{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		b, err := readAllFrom("BatchReader", iotest.OneByteReader(bytes.NewReader(data)), Options{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		c, err := readAllFrom("BatchReader", iotest.HalfReader(bytes.NewReader(data)), Options{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		sameEvents(t, a, b)
		sameEvents(t, a, c)
	}
}

func TestReadErrorAfterLines(t *testing.T) {
	good := "Nov 30 07:33:55 mail postfix/qmgr[16870]: 91A94C2173: removed\n"
	boom := errors.New("disk on fire")
	for _, impl := range impls {
		r := io.MultiReader(strings.NewReader(good+good), iotest.ErrReader(boom))
		evs, err := readAllFrom(impl, r, Options{})
		if !errors.Is(err, boom) {
			t.Errorf("%s: err %v, want %v", impl, err, boom)
		}
		if len(evs) != 2 {
			t.Errorf("%s: %d events before the error, want 2", impl, len(evs))
		}
	}
}

func TestBatchReaderCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	br := NewBatchReader(strings.NewReader("x\n"), Options{})
	defer br.Close()
	if _, err := br.Next(ctx); !errors.Is(err, context.Canceled) {
		// The batch may already be done; a second call must then see EOF or cancel.
		if _, err2 := br.Next(ctx); err2 == nil {
			t.Errorf("Next after cancel: %v, %v", err, err2)
		}
	}
}

// TestBatchReaderPrepare: Prepare sees every event once, in blocks, and
// Prepared hands its result back with the same events; results are
// offered back for reuse. Twice: with two parsing goroutines, and with
// none (Next's caller parses every block).
func TestBatchReaderPrepare(t *testing.T) {
	var lines strings.Builder
	for i := 0; i < 50000; i++ {
		fmt.Fprintf(&lines, "Nov 30 07:33:55 mail postfix/qmgr[%d]: 91A94C2173: removed\n", i)
	}
	type prep struct{ pids []int }
	var reused atomic.Int64
	opts := Options{Prepare: func(evs []Event, reuse any) any {
		p, _ := reuse.(*prep)
		if p == nil {
			p = &prep{}
		} else {
			reused.Add(1)
		}
		p.pids = p.pids[:0]
		for i := range evs {
			p.pids = append(p.pids, evs[i].PID)
		}
		return p
	}}
	for _, workers := range []int{2, 0} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) {
			br := NewBatchReader(strings.NewReader(lines.String()), opts)
			br.workers = workers
			defer br.Close()
			n := 0
			for {
				evs, err := br.Next(context.Background())
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				p := br.Prepared().(*prep)
				if len(p.pids) != len(evs) {
					t.Fatalf("%d prepared for %d events", len(p.pids), len(evs))
				}
				for i := range evs {
					if p.pids[i] != evs[i].PID || evs[i].PID != n {
						t.Fatalf("event %d: pid %d, prepared %d", n, evs[i].PID, p.pids[i])
					}
					n++
				}
			}
			if n != 50000 {
				t.Errorf("%d events", n)
			}
			if br.Prepared() != nil {
				t.Errorf("Prepared after the end: %v", br.Prepared())
			}
		})
	}
	if reused.Load() == 0 {
		t.Errorf("no result was offered back for reuse")
	}
}
