package reports

import (
	"hash/maphash"
	"slices"
)

// addrTable counts per address (or domain): a map[string]addrAcc with
// the counters stored in the table and each key's hash kept beside it.
// The report looks up every delivery's recipient and every message's
// sender in tables of up to maxAddrs keys; with Go's map each lookup
// touched four cache lines (control word, slot, key, counter), here
// usually two (slot, key).
type addrTable struct {
	seed  maphash.Seed
	slots []addrSlot // open addressing, linear probing; len is a power of two
	n     int
}

type addrSlot struct {
	h   uint64 // the key's hash with the low bit set; 0: empty
	key string
	acc addrAcc
}

func newAddrTable() *addrTable {
	return &addrTable{seed: maphash.MakeSeed(), slots: make([]addrSlot, 256)}
}

func (t *addrTable) len() int { return t.n }

func (t *addrTable) hash(key string) uint64 { return maphash.String(t.seed, key) | 1 }

// get returns the counter of key, nil when absent.
func (t *addrTable) get(key string) *addrAcc {
	h := t.hash(key)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && s.key == key {
			return &s.acc
		}
	}
}

// add inserts key (absent) and returns its zero counter.
func (t *addrTable) add(key string) *addrAcc {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.rehash(2 * len(t.slots))
	}
	t.n++
	return &t.insert(t.hash(key), key).acc
}

func (t *addrTable) insert(h uint64, key string) *addrSlot {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	s := &t.slots[i]
	s.h, s.key = h, key
	return s
}

func (t *addrTable) rehash(size int) {
	old := t.slots
	t.slots = make([]addrSlot, size)
	for i := range old {
		if s := &old[i]; s.h != 0 {
			t.insert(s.h, s.key).acc = s.acc
		}
	}
}

// each calls fn for every key, in no particular order.
func (t *addrTable) each(fn func(key string, a *addrAcc)) {
	for i := range t.slots {
		if s := &t.slots[i]; s.h != 0 {
			fn(s.key, &s.acc)
		}
	}
}

// prune keeps the busier half, as prune does for maps: everything with a
// count not above the median goes.
func (t *addrTable) prune() {
	ws := make([]int64, 0, t.n)
	t.each(func(_ string, a *addrAcc) { ws = append(ws, a.count) })
	slices.Sort(ws)
	cut := ws[len(ws)/2]
	old := t.slots
	t.slots = make([]addrSlot, len(old))
	t.n = 0
	for i := range old {
		if s := &old[i]; s.h != 0 && s.acc.count > cut {
			t.insert(s.h, s.key).acc = s.acc
			t.n++
		}
	}
}
