package rules

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// table is a bounded string-keyed cache tuned for "written once, read very
// often": readers look up an immutable map behind an atomic pointer, with no
// lock and no shared counter to contend on; writers add to a pending map
// under a mutex, which is published as a new snapshot once it holds half as
// many entries as the snapshot (copying stays amortised O(1) per entry) or
// once 64 lookups were answered from it (hot entries stop taking the lock).
// Past limit entries it starts over, so hostile input cannot grow it.
type table[K comparable, V any] struct {
	snap    atomic.Pointer[map[K]V]
	mu      sync.Mutex
	pending map[K]V
	hits    int // lookups answered from pending since the last publication
	limit   int
}

func newTable[K comparable, V any](limit int) *table[K, V] {
	return &table[K, V]{pending: map[K]V{}, limit: limit}
}

// get looks key up in the published snapshot, then in the pending map.
func (t *table[K, V]) get(key K) (V, bool) {
	if m := t.snap.Load(); m != nil {
		if v, ok := (*m)[key]; ok {
			return v, true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.pending[key]
	if ok {
		if t.hits++; t.hits >= 64 {
			t.publish()
		}
	}
	return v, ok
}

// put adds key unless another goroutine did first; it returns the value
// that is in the table.
func (t *table[K, V]) put(key K, v V) V {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.pending[key]; ok {
		return old
	}
	if m := t.snap.Load(); m != nil {
		if old, ok := (*m)[key]; ok {
			return old
		}
	}
	t.pending[key] = v
	n := 0
	if m := t.snap.Load(); m != nil {
		n = len(*m)
	}
	if len(t.pending) >= max(64, n/2) {
		t.publish()
	}
	return v
}

// publish merges pending into a new snapshot; the caller holds t.mu.
func (t *table[K, V]) publish() {
	var snap map[K]V
	if m := t.snap.Load(); m != nil {
		snap = *m
	}
	if len(snap)+len(t.pending) > t.limit {
		snap = nil
	}
	next := make(map[K]V, len(snap)+len(t.pending))
	for k, v := range snap {
		next[k] = v
	}
	for k, v := range t.pending {
		next[k] = v
	}
	t.snap.Store(&next)
	t.pending = make(map[K]V)
	t.hits = 0
}

// len reports the number of entries.
func (t *table[K, V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.pending)
	if m := t.snap.Load(); m != nil {
		n += len(*m)
	}
	return n
}

// seenFilter remembers hashes of recent exact texts in a 4-way
// set-associative array (64K entries, 512 KiB), so that a text enters the
// exact cache only when it comes back: a log full of one-off texts (every
// reply carrying its own message ID) then costs no allocation beyond the
// normalised cache, while a reply that Postfix logs again on every retry is
// recognised even with tens of thousands of other texts in between.
type seenFilter struct {
	slots [1 << 16]atomic.Uint64
}

// again reports whether the text with hash h was seen before, and records
// it.
func (s *seenFilter) again(h uint64) bool {
	h |= 1 // 0 marks an empty slot
	set := s.slots[(h&(uint64(len(s.slots))/4-1))*4:][:4]
	for i := range set {
		if set[i].Load() == h {
			// The caller keeps the text in the exact cache now: free
			// the slot for texts still waiting for their second sighting.
			set[i].CompareAndSwap(h, 0)
			return true
		}
	}
	// Take an empty slot, else evict one that varies with the set's
	// contents (a fixed victim per text would let two texts evict each
	// other forever).
	mix := h
	for i := range set {
		v := set[i].Load()
		if v == 0 {
			set[i].Store(h)
			return false
		}
		mix ^= v
	}
	set[(mix>>33)&3].Store(h)
	return false
}

// bytesView is b as a string without a copy, for map lookups only: the
// string must not outlive b or be kept.
func bytesView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
