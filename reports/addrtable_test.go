package reports

import (
	"fmt"
	"math/rand/v2"
	"slices"
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
			// Short keys (copied into the slot), keys about the copy's
			// length, and long ones that differ only at the end.
			n := int(r.ExpFloat64() * float64(limit))
			key := [...]string{"u%d@example.com", "u%d@example-domain.org", "a-long-local-part@example.com.%d"}[n%3]
			key = fmt.Sprintf(key, n)
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
					if got := tab.get(k); got != a {
						t.Fatalf("limit %d step %d: %q not found where it is (pruned in place)", limit, i, k)
					}
				})
			}
		}
	}
}

// TestAddrSlotIs compares keys the way the table does when hashes are
// equal: by the slot's copy for short keys, by the key for long ones.
func TestAddrSlotIs(t *testing.T) {
	keys := []string{"", "a", "u1@example.com", "u2@example.com", "u1@example.co", "x@abcdefghijklmnopqrstu",
		"y@abcdefghijklmnopqrstuv", "y@abcdefghijklmnopqrstuw", "y@abcdefghijklmnopqrstuvw", "y@abcdefghijklmnopqrstuvx",
		"a-long-local-part@example.com.1", "a-long-local-part@example.com.2"}
	for _, k := range keys {
		tab := newAddrTable()
		tab.add(k)
		s := &tab.slots[tab.hash(k)&uint64(len(tab.slots)-1)]
		for _, q := range keys {
			if got := s.is(q); got != (q == k) {
				t.Errorf("slot %q: is(%q) = %v", k, q, got)
			}
		}
	}
}

// TestAddrTablePruneInPlace prunes full tables (clusters that wrap
// around the end included) and checks every key left is found, with
// its counter, and every key gone is not.
func TestAddrTablePruneInPlace(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for round := range 300 {
		tab := newAddrTable()
		counts := map[string]int64{}
		for len(counts) < 3*len(tab.slots)/4-1 {
			k := fmt.Sprintf("r%d-%d@example.org", round, r.IntN(1<<30))
			if _, ok := counts[k]; ok {
				continue
			}
			n := int64(r.IntN(4))
			tab.add(k).count = n
			counts[k] = n
		}
		ws := make([]int64, 0, len(counts))
		for _, n := range counts {
			ws = append(ws, n)
		}
		slices.Sort(ws)
		cut := ws[len(ws)/2]
		tab.prune()
		left := 0
		for k, n := range counts {
			a := tab.get(k)
			switch {
			case n > cut && (a == nil || a.count != n):
				t.Fatalf("round %d: %q (count %d) lost: %v", round, k, n, a)
			case n <= cut && a != nil:
				t.Fatalf("round %d: %q (count %d, cut %d) kept", round, k, n, cut)
			}
			if n > cut {
				left++
			}
		}
		if tab.len() != left {
			t.Fatalf("round %d: len %d, want %d", round, tab.len(), left)
		}
	}
}
