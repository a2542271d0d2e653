package tuning

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

// TestHourCountsIsTheMap checks the per-domain hour counters against the
// map they replace, for hours in order, slightly out of order and random.
func TestHourCountsIsTheMap(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(r *rand.Rand, i int) int32
	}{
		{"ordered", func(r *rand.Rand, i int) int32 { return int32(i / 7) }},
		{"retries", func(r *rand.Rand, i int) int32 { return int32(i/7 - r.IntN(30)) }},
		{"random", func(r *rand.Rand, i int) int32 { return int32(r.IntN(500)) - 250 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var got hourCounts
			want := map[int32]int32{}
			for i := range 5000 {
				h := tc.next(r, i)
				want[h]++
				if j, ok := got.find(h); ok {
					got[j].n++
				} else {
					got = append(got[:j], append(hourCounts{{h, 1}}, got[j:]...)...)
				}
			}
			if len(got) != len(want) {
				t.Fatalf("got %d hours, want %d", len(got), len(want))
			}
			for i, hc := range got {
				if i > 0 && got[i-1].h >= hc.h {
					t.Fatalf("hours not sorted at %d: %v", i, got[i-1:i+1])
				}
				if want[hc.h] != hc.n {
					t.Errorf("hour %d: got %d, want %d", hc.h, hc.n, want[hc.h])
				}
			}
		})
	}
}

// TestAttemptRefIsAttempt feeds the same attempts to Attempt and to
// AttemptRef with references a caller keeps per domain (and sometimes
// loses), over more domains and hours than the collector keeps, so that
// it prunes: both collectors must end up the same.
func TestAttemptRefIsAttempt(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds more than maxDomains domains")
	}
	r := rand.New(rand.NewPCG(3, 4))
	plain, withRef := NewCollector(), NewCollector()
	refs := map[string]*DomainRef{}
	cats := []string{"", catRate, catConnections, catDNS, catUnreachable}
	for i := range 4 * maxDomains {
		dom := fmt.Sprintf("d%d.example", r.IntN(2*maxDomains))
		if i%3 == 0 {
			dom = fmt.Sprintf("busy%d.example", r.IntN(3000))
		}
		a := correlate.Attempt{
			Time:      t0.Add(time.Duration(r.IntN(300*60)) * time.Minute),
			Relay:     fmt.Sprintf("mx%d.%s[192.0.2.%d]:25", r.IntN(3), dom, r.IntN(3)),
			Status:    correlate.StatusSent,
			HasDelays: r.IntN(4) > 0,
			Delay:     float64(r.IntN(200000)),
		}
		a.Delays[1] = float64(r.IntN(100))
		if c := cats[max(r.IntN(40)-35, 0)]; c != "" { // mostly sent: domains with evidence are never pruned
			a.Status, a.Category, a.Reason = correlate.StatusDeferred, c, "host "+a.Relay+" said: 421 try again later"
		}
		a.Synthetic = r.IntN(100) == 0
		null := r.IntN(10) == 0
		plain.Attempt(&a, dom, null)
		ref := refs[dom]
		if ref == nil || r.IntN(50) == 0 {
			ref = &DomainRef{}
			refs[dom] = ref
		}
		withRef.AttemptRef(&a, dom, ref, null)
	}
	if plain.gen == 0 {
		t.Fatal("the collector never pruned: the test does not cover stale references")
	}
	if plain.hourPairs < maxHourPairs*9/10 {
		t.Fatalf("only %d (domain, hour) pairs: the test does not reach the bound", plain.hourPairs)
	}
	if !reflect.DeepEqual(plain, withRef) {
		t.Errorf("AttemptRef's collector differs from Attempt's")
	}
}
