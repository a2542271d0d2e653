package correlate

import "hash/maphash"

// sessionTable holds the open smtpd sessions by process ID: a hash table
// of chains through session.next, at most one session per (host,
// program, pid). A connection opens one and closes one, so a map of
// chains per pid cost a map store and a map delete per connection, about
// 4% of Process; this is a multiply and a short walk.
type sessionTable struct {
	heads []*session // a power of two long
	shift uint       // 64 - log2(len(heads))
	mul   uint64     // odd, from a random seed: crafted process IDs do not collide on purpose
	n     int
}

func newSessionTable(seed maphash.Seed) sessionTable {
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString("sessions")
	return sessionTable{heads: make([]*session, 256), shift: 64 - 8, mul: h.Sum64() | 1}
}

func (t *sessionTable) bucket(pid int) *(*session) {
	return &t.heads[(uint64(pid)*t.mul)>>t.shift]
}

// find returns the session and the one before it in its chain.
func (t *sessionTable) find(host, prog string, pid int) (*session, *session) {
	var prev *session
	for s := *t.bucket(pid); s != nil; prev, s = s, s.next {
		if s.pid == pid && s.host == host && s.prog == prog {
			return s, prev
		}
	}
	return nil, nil
}

// del removes s, found with prev before it.
func (t *sessionTable) del(s, prev *session) {
	if prev != nil {
		prev.next = s.next
	} else {
		*t.bucket(s.pid) = s.next
	}
	s.next = nil
	t.n--
}

// add adds s in place of the session of the same host, program and pid.
func (t *sessionTable) add(s *session) {
	if old, prev := t.find(s.host, s.prog, s.pid); old != nil {
		t.del(old, prev)
	}
	if t.n >= 2*len(t.heads) {
		t.grow()
	}
	b := t.bucket(s.pid)
	s.next = *b
	*b = s
	t.n++
}

func (t *sessionTable) grow() {
	old := t.heads
	t.heads = make([]*session, 2*len(old))
	t.shift--
	for _, s := range old {
		for s != nil {
			next := s.next
			b := t.bucket(s.pid)
			s.next = *b
			*b = s
			s = next
		}
	}
}

// all calls fn for every session (in no particular order).
func (t *sessionTable) all(fn func(*session)) {
	for _, s := range t.heads {
		for ; s != nil; s = s.next {
			fn(s)
		}
	}
}
