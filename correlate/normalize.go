package correlate

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
)

// normalizeText masks what varies between otherwise identical warnings
// and reject texts, so they aggregate into one row: the insides of <…>
// and […], runs of digits, and queue-ID-like tokens. The raw text is
// kept as a sample beside the row.
//
//	"hostname 1-2-3-4.example.net does not resolve to address 1.2.3.4"
//	→ "hostname #-#-#-#.example.net does not resolve to address #.#.#.#"
func normalizeText(dst []byte, s []byte) []byte {
	if len(s) > maxSampleLen {
		s = s[:maxSampleLen]
	}
	for i := 0; i < len(s); i++ {
		// Copy the run of bytes kept as they are in one append (a
		// reject's text is mostly words).
		if !normSpecial[s[i]] {
			j := i + 1
			for j < len(s) && !normSpecial[s[j]] {
				j++
			}
			dst = append(dst, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		switch {
		case c == '<' || c == '[':
			close := byte('>')
			if c == '[' {
				close = ']'
			}
			j := bytes.IndexByte(s[i+1:], close)
			if j < 0 || j > 256 {
				dst = append(dst, c)
				continue
			}
			dst = append(dst, c, '*', close)
			i += j + 1
		case c >= '0' && c <= '9':
			dst = append(dst, '#')
			for i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
				i++
			}
		case c < ' ' || c == 0x7f:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// normSpecial marks the bytes normalizeText does not copy as they are:
// digits, the openers of masked <…> and […], control bytes and DEL.
var normSpecial = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c == '<' || c == '[' || c >= '0' && c <= '9' || c < ' ' || c == 0x7f
	}
	return t
}()

// sample cuts a raw text to maxSampleLen and drops NUL bytes so samples
// stay printable; it does not otherwise change hostile text (reports escape).
func sample(b []byte) string {
	if len(b) > maxSampleLen {
		b = b[:maxSampleLen]
	}
	if bytes.IndexByte(b, 0) >= 0 {
		b = bytes.ReplaceAll(b, []byte{0}, nil)
	}
	return string(b)
}

// appendSample appends sample(b) to dst.
func appendSample(dst, b []byte) []byte {
	if len(b) > maxSampleLen {
		b = b[:maxSampleLen]
	}
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:i]...)
		b = b[i+1:]
	}
}

// queuedAs returns X from a reply "… queued as X" (Postfix smtpd's "250
// 2.0.0 Ok: queued as X", amavis' "250 2.0.0 from MTA(…): 250 2.0.0 Ok:
// queued as X"), or nil.
func queuedAs(reason []byte) []byte {
	i := lastQueuedAs(reason)
	if i < 0 {
		return nil
	}
	r := reason[i+len("queued as "):]
	n := 0
	for n < len(r) && isQueueIDChar(r[n]) {
		n++
	}
	if n < 5 || n > 24 {
		return nil
	}
	return r[:n]
}

// lastQueuedAs is bytes.LastIndex(b, "queued as ") without its
// Rabin-Karp hashing of every byte: bytes.Index finds the first
// occurrence (with vector instructions), and then any later one. Every
// delivery to a local relay (LMTP to dovecot, a content filter) is
// searched, and most replies have none.
func lastQueuedAs(b []byte) int {
	const p = "queued as "
	i := bytes.Index(b, []byte(p))
	if i < 0 {
		return -1
	}
	for {
		j := bytes.Index(b[i+1:], []byte(p))
		if j < 0 {
			return i
		}
		i += 1 + j
	}
}

func isQueueIDChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// localRelay reports whether a relay= value names this host or its LAN:
// a loopback or private address, or a UNIX socket. Only a hand-off to such
// a relay can be a re-injection into a queue we also see (a content filter
// on 127.0.0.1:10024, another Postfix instance on 127.0.0.1:10025);
// "queued as" replies of remote servers are theirs, not ours.
func localRelay(relay []byte) bool {
	i := bytes.IndexByte(relay, '[')
	if i < 0 {
		return false
	}
	j := bytes.IndexByte(relay[i:], ']')
	if j < 0 {
		return false
	}
	addr := relay[i+1 : i+j]
	// A private/amavis or other UNIX socket (a byte loop: the addresses
	// are short, and strings.Contains was 4% of Process).
	for _, c := range addr {
		if c == '/' {
			return true
		}
	}
	switch {
	// (Prefixes compared as constant strings: the compiler makes them
	// word comparisons, not calls.)
	case len(addr) >= 4 && string(addr[:4]) == "127.", string(addr) == "::1", len(addr) >= 3 && string(addr[:3]) == "10.",
		len(addr) >= 8 && string(addr[:8]) == "192.168.":
		return true
	case len(addr) >= 4 && string(addr[:4]) == "172.":
		rest := addr[4:]
		if k := bytes.IndexByte(rest, '.'); k > 0 {
			n := 0
			for _, c := range rest[:k] {
				if c < '0' || c > '9' {
					return false
				}
				n = n*10 + int(c-'0')
			}
			return n >= 16 && n <= 31
		}
	case len(addr) > 2 && (addr[0] == 'f' || addr[0] == 'F') && (addr[1] == 'c' || addr[1] == 'd' || addr[1] == 'C' || addr[1] == 'D'):
		return bytes.IndexByte(addr, ':') >= 0 // fc00::/7
	}
	return false
}

// interner returns one string per distinct byte sequence so repeated
// values (hosts, relays, daemons, common reasons) are allocated once. It
// forgets everything when full, which bounds its memory.
//
// A small direct-mapped table in front of the map answers the values
// that come back line after line (a relay, a domain, a deferral reason)
// from memory that stays in cache: a lookup in the large map mostly
// missed the CPU caches and cost several times the hashing.
type interner struct {
	m     map[string]string
	max   int
	key   uint64   // random, mixed into frontHash
	front []string // len is a power of two
}

func newInterner(max, front int) *interner {
	// The key comes from a seeded hash, so that two runs (and two
	// interners) place the same strings differently.
	key := maphash.String(maphash.MakeSeed(), "interner")
	return &interner{m: make(map[string]string, 64), max: max, key: key, front: make([]string, front)}
}

// frontHash places b in the front table: the length and three 8-byte
// words (the first, the middle and the last), mixed with key. It reads at
// most 24 bytes where maphash read them all (relays, domains and
// reasons are tens to hundreds of bytes), and it need not resist
// collisions: a slot holds one string and is checked in full, so two
// strings that share a slot cost a lookup in the map, as a miss does.
func frontHash(b []byte, key uint64) uint64 {
	n := len(b)
	x := uint64(n) ^ key
	if n >= 8 {
		x ^= binary.LittleEndian.Uint64(b)
		x = (x ^ x>>29) * 0xbf58476d1ce4e5b9
		x ^= binary.LittleEndian.Uint64(b[(n-8)/2:])
		x = (x ^ x>>29) * 0x94d049bb133111eb
		x ^= binary.LittleEndian.Uint64(b[n-8:])
	} else {
		for _, c := range b {
			x = x<<8 ^ x>>56 ^ uint64(c)
		}
	}
	x = (x ^ x>>31) * 0x9e3779b97f4a7c15
	return x ^ x>>29
}

func (in *interner) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	slot := &in.front[frontHash(b, in.key)&uint64(len(in.front)-1)]
	if s := *slot; len(s) == len(b) && s == string(b) {
		return s
	}
	s, ok := in.m[string(b)]
	if !ok {
		s = string(b)
		if len(in.m) >= in.max {
			clear(in.m)
		}
		in.m[s] = s
	}
	*slot = s
	return s
}

// hasUpper reports whether b holds an ASCII upper-case letter, eight
// bytes at a time: every recipient domain is looked at, and most have
// none.
func hasUpper(b []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		// A byte below 0x80 plus 0x3f reaches 0x80 from 'A' on, plus
		// 0x25 from 'Z'+1 on, without a carry into the next byte; a
		// word with a byte from 0x80 on is looked at byte by byte.
		if w&highs != 0 {
			break
		}
		if (w+0x3f*ones)&^(w+0x25*ones)&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			return true
		}
	}
	return false
}

// tokens interns the few distinct short words a field takes (daemon,
// instance, dsn, action, stage…): a direct-mapped table indexed by a
// hash of the length and three bytes, so a hit costs one comparison;
// a collision replaces the slot's word.
type tokens struct {
	vals [256]string
}

func (t *tokens) get(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	h := uint(n)*0x9e3779b1 ^ uint(b[0])*0x85ebca6b ^ uint(b[n-1])*0xc2b2ae35 ^ uint(b[n/2])*0x27d4eb2f
	slot := &t.vals[(h>>16)&uint(len(t.vals)-1)]
	if s := *slot; len(s) == n && s == string(b) {
		return s
	}
	s := string(b)
	*slot = s
	return s
}

// lower returns the interned lower-case form of b.
func (in *interner) lower(b []byte, scratch *[]byte) string {
	if !hasUpper(b) {
		return in.get(b)
	}
	s := (*scratch)[:0]
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		s = append(s, c)
	}
	*scratch = s
	return in.get(s)
}
