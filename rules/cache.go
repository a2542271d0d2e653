package rules

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// table is a bounded string-keyed cache tuned for "written once, read very
// often": readers look up an immutable map behind an atomic pointer, with no
// lock and no shared counter to contend on; writers add to a pending map
// under a mutex, which is published as a new snapshot once it holds half as
// many entries as the snapshot (copying stays amortised O(1) per entry) or
// once 64 lookups were answered from it (hot entries stop taking the lock).
// Past limit entries it starts over, so hostile input cannot grow it.
type table[V any] struct {
	snap    atomic.Pointer[map[string]V]
	mu      sync.Mutex
	pending map[string]V
	hits    int // lookups answered from pending since the last publication
	limit   int
}

func newTable[V any](limit int) *table[V] {
	return &table[V]{pending: map[string]V{}, limit: limit}
}

// get looks key up in the published snapshot, then in the pending map.
func (t *table[V]) get(key []byte) (V, bool) {
	if m := t.snap.Load(); m != nil {
		if v, ok := (*m)[string(key)]; ok {
			return v, true
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.pending[string(key)]
	if ok {
		if t.hits++; t.hits >= 64 {
			t.publish()
		}
	}
	return v, ok
}

// put adds key unless another goroutine did first; it returns the value
// that is in the table.
func (t *table[V]) put(key string, v V) V {
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
func (t *table[V]) publish() {
	var snap map[string]V
	if m := t.snap.Load(); m != nil {
		snap = *m
	}
	if len(snap)+len(t.pending) > t.limit {
		snap = nil
	}
	next := make(map[string]V, len(snap)+len(t.pending))
	for k, v := range snap {
		next[k] = v
	}
	for k, v := range t.pending {
		next[k] = v
	}
	t.snap.Store(&next)
	t.pending = make(map[string]V)
	t.hits = 0
}

// len reports the number of entries.
func (t *table[V]) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.pending)
	if m := t.snap.Load(); m != nil {
		n += len(*m)
	}
	return n
}

// seenFilter remembers hashes of recent exact texts in a direct-mapped
// array, so that a text enters the exact cache only when it comes back: a
// log full of one-off texts (every reply carrying its own message ID) then
// costs no allocation beyond the normalised cache.
type seenFilter struct {
	seed  maphash.Seed
	slots [1 << 16]atomic.Uint64
}

// again reports whether key was seen before, and records it.
func (s *seenFilter) again(key []byte) bool {
	h := maphash.Bytes(s.seed, key) | 1 // 0 marks an empty slot
	slot := &s.slots[h&(uint64(len(s.slots))-1)]
	if slot.Load() == h {
		return true
	}
	slot.Store(h)
	return false
}
