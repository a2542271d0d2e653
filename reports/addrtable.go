package reports

import (
	"hash/maphash"
	"slices"
)

// addrTable counts per address (or domain): a map[string]addrAcc with
// the counters stored in the table and each key's hash kept beside it.
// The report looks up every delivery's recipient and every message's
// sender in tables of up to maxAddrs keys. With Go's map each lookup
// touched four cache lines (control word, slot, key, counter); with a
// slot holding the hash, the counters and the key string, two (the
// slot, and the key's bytes, which lie in the memory of the message that
// first had it: cold, since that message is long gone). Here a slot is
// one 64-byte cache line that also holds a copy of keys of up to
// addrInline bytes (nearly every address), compared instead of the
// key's own bytes: a lookup of a key in the table touches one line of
// the table. Beside the slots, a byte per slot (0: empty, else 7 bits of
// the hash) is probed first: a 32 kB array that stays in the cache, so
// looking up a key that is not there (most senders and many recipients
// come once) touches no slot at all.
type addrTable struct {
	seed  maphash.Seed
	slots []addrSlot // open addressing, linear probing; len is a power of two
	tags  []uint8    // per slot: 0 empty, else tagOf(h)
	n     int
	ws    []int64 // prune's scratch
}

func tagOf(h uint64) uint8 { return uint8(h>>57) | 0x80 }

type addrSlot struct {
	h   uint64 // the key's hash with the low bit set; 0: empty
	acc addrAcc
	key string
	pre [addrInline]byte // key, when it is not longer
}

// addrInline is the longest key a slot holds a copy of (a slot is then
// 64 bytes, and slices of them are 64-byte aligned: the allocator
// aligns objects of these sizes to at least 64 bytes).
const addrInline = 24

// is reports whether the slot's key is key.
func (s *addrSlot) is(key string) bool {
	if len(s.key) != len(key) {
		return false
	}
	if len(key) <= addrInline {
		return string(s.pre[:len(key)]) == key
	}
	return s.key == key
}

func newAddrTable() *addrTable {
	return &addrTable{seed: maphash.MakeSeed(), slots: make([]addrSlot, 256), tags: make([]uint8, 256)}
}

func (t *addrTable) len() int { return t.n }

func (t *addrTable) hash(key string) uint64 { return maphash.String(t.seed, key) | 1 }

// get returns the counter of key, nil when absent.
func (t *addrTable) get(key string) *addrAcc {
	h := t.hash(key)
	tag := tagOf(h)
	mask := uint64(len(t.tags) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		switch t.tags[i] {
		case 0:
			return nil
		case tag:
			if s := &t.slots[i]; s.h == h && s.is(key) {
				return &s.acc
			}
		}
	}
}

// add inserts key (absent) and returns its zero counter.
func (t *addrTable) add(key string) *addrAcc {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.rehash(2 * len(t.slots))
	}
	t.n++
	h := t.hash(key)
	s := t.free(h)
	*s = addrSlot{h: h, key: key}
	copy(s.pre[:], key)
	return &s.acc
}

// free marks the first empty slot of hash h's probe sequence used and
// returns it.
func (t *addrTable) free(h uint64) *addrSlot {
	mask := uint64(len(t.tags) - 1)
	i := h & mask
	for t.tags[i] != 0 {
		i = (i + 1) & mask
	}
	t.tags[i] = tagOf(h)
	return &t.slots[i]
}

func (t *addrTable) rehash(size int) {
	old := t.slots
	t.slots, t.tags = make([]addrSlot, size), make([]uint8, size)
	// Written once now: lookups read slots and tags before anything is
	// written there, and a first read of a fresh page maps the kernel's
	// shared zero page, which the first store must then replace (a second
	// fault and a TLB flush on every CPU).
	clear(t.slots)
	clear(t.tags)
	for i := range old {
		if s := &old[i]; s.h != 0 {
			*t.free(s.h) = *s
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
// count not above the median goes. It works in place (a table of
// maxAddrs keys is 2 MB): the entries that go are emptied, then every
// entry left is placed again, in probe order from a slot that was
// already empty on, so that none sits beyond an empty slot of its probe
// sequence.
func (t *addrTable) prune() {
	ws := t.ws[:0]
	t.each(func(_ string, a *addrAcc) { ws = append(ws, a.count) })
	t.ws = ws
	slices.Sort(ws)
	cut := ws[len(ws)/2]
	// A slot empty before the pruning: no probe sequence runs across it
	// (a quarter of the slots at least are empty).
	start := slices.IndexFunc(t.slots, func(s addrSlot) bool { return s.h == 0 })
	for i := range t.slots {
		if s := &t.slots[i]; s.h != 0 && s.acc.count <= cut {
			*s = addrSlot{}
			t.tags[i] = 0
			t.n--
		}
	}
	mask := len(t.slots) - 1
	for j := 1; j < len(t.slots); j++ {
		i := (start + j) & mask
		s := t.slots[i]
		if s.h == 0 {
			continue
		}
		t.slots[i], t.tags[i] = addrSlot{}, 0
		*t.free(s.h) = s
	}
}
