package correlate

import "hash/maphash"

// qidTable holds the queue-ID slots: a hash table of chains through
// qidSlot.next, keyed by the queue ID's seeded hash. Every message's
// slot is added when its first line comes and removed when it is
// written; with a Go map those two were ~450 instructions a message,
// here they are a hash and a few pointer writes.
type qidTable struct {
	heads []*qidSlot // a power of two long
	seed  maphash.Seed
	n     int
}

func newQidTable(seed maphash.Seed) qidTable {
	return qidTable{heads: make([]*qidSlot, 1024), seed: seed}
}

func (t *qidTable) head(h uint64) *(*qidSlot) { return &t.heads[h&uint64(len(t.heads)-1)] }

// get returns the slot of qid, or nil.
//
// The slots' hashes are compared first: a slot of another queue ID in the
// chain is then passed without reading its queue ID's bytes (another
// allocation, mostly out of cache by the time the message's next line
// comes).
func (t *qidTable) get(qid []byte) *qidSlot {
	h := maphash.Bytes(t.seed, qid)
	for s := *t.head(h); s != nil; s = s.next {
		if s.hash == h && s.qid == string(qid) {
			return s
		}
	}
	return nil
}

// getString is get for a string.
func (t *qidTable) getString(qid string) *qidSlot {
	h := maphash.String(t.seed, qid)
	for s := *t.head(h); s != nil; s = s.next {
		if s.hash == h && s.qid == qid {
			return s
		}
	}
	return nil
}

// add adds s, whose qid is set and not in the table.
func (t *qidTable) add(s *qidSlot) {
	if t.n >= 2*len(t.heads) {
		t.grow()
	}
	s.hash = maphash.String(t.seed, s.qid)
	h := t.head(s.hash)
	s.next = *h
	*h = s
	t.n++
}

// remove takes s out of the table.
func (t *qidTable) remove(s *qidSlot) {
	for p := t.head(s.hash); *p != nil; p = &(*p).next {
		if *p == s {
			*p = s.next
			s.next = nil
			t.n--
			return
		}
	}
}

func (t *qidTable) grow() {
	old := t.heads
	t.heads = make([]*qidSlot, 2*len(old))
	for _, s := range old {
		for s != nil {
			next := s.next
			h := t.head(s.hash)
			s.next = *h
			*h = s
			s = next
		}
	}
}

// all calls fn for every slot (in no particular order).
func (t *qidTable) all(fn func(*qidSlot)) {
	for _, s := range t.heads {
		for ; s != nil; s = s.next {
			fn(s)
		}
	}
}
