package correlate

import (
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestHourBefore(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 500, time.UTC)
	for _, d := range []time.Duration{0, time.Hour - 1, time.Hour, time.Hour + 1, time.Hour + time.Second, -time.Hour, 3 * time.Hour, 200 * 365 * 24 * time.Hour} {
		for _, t0 := range []time.Time{now.Add(-d), now.Add(-d).Add(-499), now.Add(-d).Add(501)} {
			if got, want := hourBefore(t0, now), now.Sub(t0) > time.Hour; got != want {
				t.Errorf("hourBefore(now-%v) = %v, want %v", now.Sub(t0), got, want)
			}
		}
	}
}

// PooledBlocks returns the message blocks waiting in the Ingester's pool
// and in its correlator's hands (for TestReleaseChangesNothing).
func PooledBlocks(in *Ingester) int {
	in.c.pool.mu.Lock()
	defer in.c.pool.mu.Unlock()
	return len(in.c.pool.free) + len(in.c.spare)
}

func TestLastQueuedAs(t *testing.T) {
	for _, s := range []string{
		"", "q", "queued as", "queued as ", "250 2.0.0 Ok: queued as 3F2A1258B01",
		"250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F2A1258B01",
		"queued as A queued as B", "qqueued as X", "queued asqueued as Y", "no such thing", "250 2.0.0 <r@x> q1 Saved",
	} {
		if got, want := lastQueuedAs([]byte(s)), strings.LastIndex(s, "queued as "); got != want {
			t.Errorf("lastQueuedAs(%q) = %d, want %d", s, got, want)
		}
	}
}

// StartAggregator and StopAggregator run a Correlator's hour aggregates
// on their own goroutine, as an Ingester's Read does (for BenchmarkProcess).
func StartAggregator(c *Correlator) { c.startAggregator() }

// StopAggregator ends what StartAggregator started.
func StopAggregator(c *Correlator) { c.stopAggregator() }

func TestMovesIsAfterOrHourBefore(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 500, time.UTC)
	var ts []time.Time
	for _, d := range []time.Duration{0, 1, -1, 499, 501, time.Second, -time.Second, time.Hour - 1, time.Hour, time.Hour + 1,
		time.Hour + time.Second, -time.Hour, 3 * time.Hour, -3 * time.Hour, 200 * 365 * 24 * time.Hour} {
		ts = append(ts, now.Add(-d), now.Add(-d).Add(-499), now.Add(-d).Add(501), now.Add(-d).In(time.FixedZone("x", 3600)))
	}
	ts = append(ts, time.Time{}, time.Unix(0, 0), time.Unix(-1, 999999999), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC))
	for _, a := range ts {
		for _, b := range ts {
			if got, want := moves(a, b), a.After(b) || hourBefore(a, b); got != want {
				t.Errorf("moves(%v, %v) = %v, want %v", a, b, got, want)
			}
			if got, want := after(a, b), a.After(b); got != want {
				t.Errorf("after(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

func TestSameID(t *testing.T) {
	for _, c := range [][2]string{{"", ""}, {"A", ""}, {"", "A"}, {"4A5F6C200C", "4A5F6C200C"}, {"4A5F6C200C", "4A5F6C200D"},
		{"4A5F6C200C", "5A5F6C200C"}, {"4A5F6C200C", "4A5F6C200"}, {"4Y0flr2HlXzPjW8", "4Y0flr2HlXzPjW8"}} {
		if got, want := sameID(c[0], []byte(c[1])), c[0] == c[1]; got != want {
			t.Errorf("sameID(%q, %q) = %v", c[0], c[1], got)
		}
	}
}

func TestBucketOfIsSearchFloat64s(t *testing.T) {
	vals := []float64{0, -0.0, -1, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300, 229138, 0.005, 0.23}
	for _, b := range DelayBounds {
		vals = append(vals, b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1)), b/2, b*1.5)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		vals = append(vals, r.Float64()*r.Float64()*600000, r.ExpFloat64())
	}
	for _, v := range vals {
		if got, want := bucketOf(v), sort.SearchFloat64s(DelayBounds[:], v); got != want {
			t.Errorf("bucketOf(%v) = %d, want %d", v, got, want)
		}
	}
}

// The front table's hash only places strings: whatever it does (here a
// table of 4 slots, so most strings share one), get returns the bytes
// it was given, and the same string for the same bytes while it holds it.
func TestInternerFront(t *testing.T) {
	in := newInterner(1<<10, 4)
	r := rand.New(rand.NewPCG(3, 4))
	var words [][]byte
	for n := 0; n < 40; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = "ab\x00\xff"[r.IntN(4)]
		}
		words = append(words, b, append([]byte("x"), b...), append(b, 'y'))
	}
	first := map[string]string{}
	for i := 0; i < 20000; i++ {
		b := words[r.IntN(len(words))]
		got := in.get(b)
		if got != string(b) {
			t.Fatalf("get(%q) = %q", b, got)
		}
		if len(b) == 0 {
			continue
		}
		if f, ok := first[got]; ok && !sameStr(f, got) {
			t.Fatalf("get(%q) returned a second copy", b)
		} else if !ok {
			first[got] = got
		}
	}
	if frontHash([]byte("mail.example.com[192.0.2.1]:25"), 1) == frontHash([]byte("mail.example.com[192.0.2.2]:25"), 1) {
		t.Error("frontHash ignores the last bytes")
	}
}

func TestHasUpper(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var cases [][]byte
	for n := 0; n < 40; n++ {
		for k := 0; k < 200; k++ {
			b := make([]byte, n)
			for i := range b {
				switch r.IntN(4) {
				case 0:
					b[i] = byte(r.IntN(256))
				case 1:
					b[i] = "@Z[`az{\\x80\\xc1\\xdaAB"[r.IntN(13)]
				default:
					b[i] = byte('a' + r.IntN(26))
				}
			}
			cases = append(cases, b)
		}
	}
	for c := 0; c < 256; c++ {
		cases = append(cases, []byte(strings.Repeat("x", c%9)+string(rune(0))+strings.Repeat("y", 7)), []byte{byte(c)}, []byte(strings.Repeat("a", c%16)+string([]byte{byte(c)})+"aaaaaaaa"))
	}
	for _, b := range cases {
		want := false
		for _, c := range b {
			if c >= 'A' && c <= 'Z' {
				want = true
			}
		}
		if got := hasUpper(b); got != want {
			t.Fatalf("hasUpper(%q) = %v, want %v", b, got, want)
		}
	}
}
