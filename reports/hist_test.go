package reports

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistKey(t *testing.T) {
	tests := []struct {
		v    float64
		want float64 // the value the bucket stands for
	}{
		{0, 0}, {-1, 0}, {math.NaN(), 0}, {0.004, 0},
		{0.01, 0.01}, {0.012, 0.012}, {0.05, 0.05}, {0.099, 0.099}, {0.0999, 0.1},
		{0.1, 0.1}, {0.42, 0.42}, {1, 1}, {1.2, 1.2}, {9.96, 10}, {12, 12}, {123, 120},
		{300, 300}, {86400, 86000}, {432000, 430000}, {9.99e7, 9.9e7},
	}
	for _, tc := range tests {
		if got := round2(histValue(histKey(tc.v))); got != tc.want {
			t.Errorf("histValue(histKey(%v)) = %v, want %v", tc.v, got, tc.want)
		}
	}
	if k := histKey(1e9); k != histSize-1 {
		t.Errorf("histKey(1e9) = %d, want the last bucket", k)
	}
	// Buckets are ordered like the values.
	prev := -1
	for v := 0.01; v < 1e7; v *= 1.07 {
		k := histKey(v)
		if k < prev {
			t.Fatalf("histKey(%v) = %d < %d", v, k, prev)
		}
		prev = k
	}
}

func TestQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 100; i++ {
		h.add(float64(i))
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 50}, {0.95, 95}, {0.99, 99}, {1, 100}} {
		if got := h.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	var empty hist
	if !math.IsNaN(empty.quantile(0.5)) {
		t.Error("empty histogram: want NaN")
	}
	s := sparseHist{}
	for _, v := range []float64{0.5, 3, 3, 40, 7200} {
		s.add(v)
	}
	if m := s.median(); m != 3 {
		t.Errorf("median = %v, want 3", m)
	}
	var empty2 sparseHist
	if m := empty2.median(); m != -1 {
		t.Errorf("empty median = %v", m)
	}
}

func TestTopOf(t *testing.T) {
	cmp := func(a, b *int) int { return *b - *a } // larger first
	for _, n := range []int{0, 1, 3, 10, 200} {
		top := newTop(n, cmp)
		var all []int
		for i := range 100 {
			v := (i * 37) % 101
			top.add(v)
			all = append(all, v)
		}
		got := top.sorted()
		slicesSortDesc(all)
		want := all[:min(n, len(all))]
		if len(got) != len(want) {
			t.Fatalf("n=%d: %v, want %v", n, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("n=%d: %v, want %v", n, got, want)
			}
		}
	}
}

func slicesSortDesc(s []int) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] > s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestBucket(t *testing.T) {
	h := func(i int) time.Time {
		return time.Date(2024, 11, 30, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	}
	rows := []HourRow{{Hour: h(0), Deferred: 1}, {Hour: h(1), Bounced: 2}, {Hour: h(5), Deferred: 3}, {Hour: h(9), Expired: 4}}
	got, k := bucket(rows, 4)
	if k != 4 || len(got) != 3 {
		t.Fatalf("k=%d, %d buckets: %+v", k, len(got), got)
	}
	want := []HourRow{{Hour: h(0), Deferred: 1, Bounced: 2}, {Hour: h(4), Deferred: 3}, {Hour: h(8), Expired: 4}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bucket %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, k := bucket(rows, 100); k != 1 || len(got) != 10 {
		t.Errorf("k=%d, %d buckets, want 1 and 10 (gaps filled)", k, len(got))
	}
	// A stray timestamp years away: still at most n buckets.
	far := append(rows, HourRow{Hour: h(24 * 365 * 30), Deferred: 1})
	if got, _ := bucket(far, 48); len(got) > 48 {
		t.Errorf("%d buckets for a 30-year span", len(got))
	}
}

// TestSparseHistIsTheMap: the sorted-slice histogram gives the median the
// map it replaced gave, over random populations.
func TestSparseHistIsTheMap(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n < 300; n++ {
		var s sparseHist
		ref := map[uint16]int64{}
		for i := 0; i < n; i++ {
			v := r.ExpFloat64() * float64(1+n%7) * 3
			if i%11 == 0 {
				v = float64(r.IntN(100000))
			}
			s.add(v)
			ref[uint16(histKey(v))]++
		}
		// The map version's median, as it was.
		want := -1.0
		var total int64
		keys := []int{}
		for k, c := range ref {
			total += c
			keys = append(keys, int(k))
		}
		slices.Sort(keys)
		var c int64
		for _, k := range keys {
			c += ref[uint16(k)]
			if c >= (total+1)/2 {
				want = round2(histValue(k))
				break
			}
		}
		if got := s.median(); got != want {
			t.Fatalf("n=%d: median %v, map gave %v", n, got, want)
		}
		if len(s.b) != len(ref) {
			t.Fatalf("n=%d: %d buckets, map has %d", n, len(s.b), len(ref))
		}
	}
}

// TestKeyCacheIsHistKey checks the bucket cache against histKey over
// values of every kind a log holds (two-digit delays, long fractions,
// zero, negative zero, NaN, huge values), many more than the cache has
// entries, so that entries are replaced.
func TestKeyCacheIsHistKey(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var c keyCache
	vals := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), -1, 0.004, 0.01, 0.0999, 9.96, 99.5, 1e9}
	for range 200000 {
		var v float64
		switch r.IntN(4) {
		case 0: // delays=a/b/c/d: hundredths
			v = float64(r.IntN(1000)) / 100
		case 1: // delay= of retries: whole seconds
			v = float64(r.IntN(500000))
		case 2:
			v = r.Float64() * math.Pow(10, float64(r.IntN(12)-3))
		default:
			v = vals[r.IntN(len(vals))]
		}
		if got, want := c.key(v), histKey(v); got != want {
			t.Fatalf("key(%v) = %d, want histKey %d", v, got, want)
		}
	}
}

// TestTopCountsIsTheSort: topCounts keeps the n largest in a heap when
// there are more; the result must be the full sort's first n, with many
// ties (broken by name).
func TestTopCountsIsTheSort(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for round := range 200 {
		m := map[string]int64{}
		for i := range r.IntN(60) {
			m[fmt.Sprintf("k%d", r.IntN(100)+i)] = int64(r.IntN(5))
		}
		for _, n := range []int{-1, 0, 1, 3, 10, 20, 100} {
			var want []Count
			for k, v := range m {
				want = append(want, Count{k, v})
			}
			sortCounts(want)
			if n >= 0 && len(want) > n {
				want = want[:n]
			}
			got := topCounts(m, n)
			if fmt.Sprint(got) != fmt.Sprint(want) || got == nil {
				t.Fatalf("round %d, n %d: got %v, want %v", round, n, got, want)
			}
		}
	}
}
