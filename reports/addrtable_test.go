package reports

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestAddrTableIsTheMap: counting a stream of keys with addr (an
// addrTable, pruned when full) leaves exactly what the map and prune it
// replaced left, after every step.
func TestAddrTableIsTheMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, limit := range []int{1, 7, 100, 2000} {
		b := &Builder{}
		tab := newAddrTable()
		ref := map[string]*addrAcc{}
		for i := 0; i < 30000; i++ {
			// Skewed keys: some come back often, most rarely.
			key := fmt.Sprintf("u%d@example.com", int(r.ExpFloat64()*float64(limit)))
			a := addr(b, tab, key, limit)
			a.count++
			a.bytes += int64(i)
			// The map version, as it was.
			ra := ref[key]
			if ra == nil {
				if len(ref) >= limit {
					prune(ref, func(a *addrAcc) int64 { return a.count })
				}
				ra = &addrAcc{}
				ref[key] = ra
			}
			ra.count++
			ra.bytes += int64(i)
			if i%997 == 0 || i == 29999 {
				if tab.len() != len(ref) {
					t.Fatalf("limit %d step %d: %d keys, map has %d", limit, i, tab.len(), len(ref))
				}
				tab.each(func(k string, a *addrAcc) {
					if ra := ref[k]; ra == nil || *ra != *a {
						t.Fatalf("limit %d step %d: %q = %+v, map has %+v", limit, i, k, *a, ra)
					}
				})
			}
		}
	}
}
