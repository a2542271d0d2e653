package parser

import "bytes"

// Small byte-scanning helpers shared by the line parsers. None of them
// allocates.

// hasPrefix is inlined with p a constant: the first byte's comparison is
// then a compare with an immediate, and spares the call to memequal that
// the rest of the comparison makes on most lines, which differ at once.
func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && (len(p) == 0 || b[0] == p[0]) && string(b[:len(p)]) == p
}

func cutPrefix(b []byte, p string) ([]byte, bool) {
	if hasPrefix(b, p) {
		return b[len(p):], true
	}
	return b, false
}

func indexStr(b []byte, s string) int {
	// string(b) in a call to strings.Index would not allocate either, but
	// bytes.Index with a converted constant is what the compiler optimises.
	return bytes.Index(b, []byte(s))
}

// lastIndexStr is bytes.LastIndex for a short constant s. The texts it
// searches (a reject's trailing envelope) end near what it looks for, and
// a backward loop on s's first byte gets there in fewer instructions than
// bytes.LastIndex's rolling hash.
func lastIndexStr(b []byte, s string) int {
	if len(s) == 0 {
		return len(b)
	}
	c := s[0]
	for i := len(b) - len(s); i >= 0; i-- {
		if b[i] == c && string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// parseHostAddr splits "host[ip]" or "host[ip]:port" (also "[ip]:port",
// as postscreen writes it). It returns ok=false when there is no [...].
func parseHostAddr(b []byte) (host, ip []byte, port int, ok bool) {
	lb := bytes.IndexByte(b, '[')
	if lb < 0 {
		return nil, nil, 0, false
	}
	rb := bytes.IndexByte(b[lb:], ']')
	if rb < 0 {
		return nil, nil, 0, false
	}
	rb += lb
	host, ip = b[:lb], b[lb+1:rb]
	if rb+1 < len(b) && b[rb+1] == ':' {
		p, n := atoiN(b[rb+2:], 5)
		if n > 0 {
			port = p
		}
	}
	return host, ip, port, true
}

// hostAddrEnd returns the index just past "host[ip]" or "host[ip]:port" at
// the start of b, or -1.
func hostAddrEnd(b []byte) int {
	lb := bytes.IndexByte(b, '[')
	if lb < 0 {
		return -1
	}
	for i := 0; i < lb; i++ {
		if b[i] == ' ' {
			return -1
		}
	}
	rb := bytes.IndexByte(b[lb:], ']')
	if rb < 0 {
		return -1
	}
	end := lb + rb + 1
	if end < len(b) && b[end] == ':' {
		j := end + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j > end+1 {
			end = j
		}
	}
	return end
}

// setClient fills ClientHost/ClientIP/ClientPort from "host[ip]:port".
func (e *Event) setClient(b []byte) {
	if h, ip, port, ok := parseHostAddr(b); ok {
		e.ClientHost, e.ClientIP, e.ClientPort = h, ip, port
	}
}

// setClientAt is hostAddrEnd followed by setClient on what it found, in
// one pass: it returns the index just past "host[ip]" or "host[ip]:port"
// at the start of b, or -1 (and then sets nothing).
func (e *Event) setClientAt(b []byte) int {
	lb := bytes.IndexByte(b, '[')
	if lb < 0 {
		return -1
	}
	for i := 0; i < lb; i++ {
		if b[i] == ' ' {
			return -1
		}
	}
	rb := bytes.IndexByte(b[lb:], ']')
	if rb < 0 {
		return -1
	}
	rb += lb
	end := rb + 1
	port := 0
	if end < len(b) && b[end] == ':' {
		j := end + 1
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			if j < end+6 { // setClient reads at most five digits
				port = port*10 + int(b[j]-'0')
			}
			j++
		}
		if j > end+1 {
			end = j
		} else {
			port = 0
		}
	}
	e.ClientHost, e.ClientIP, e.ClientPort = b[:lb], b[lb+1:rb], port
	return end
}

// angleValue reads the address after "key=<" up to the matching ">". An
// address may itself contain '>' (hostile or broken senders), so the value
// ends at the last '>' that is followed by a separator or the end.
func angleValue(b []byte) (val, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '<' {
		return nil, b, false
	}
	for i := 1; i < len(b); i++ {
		// IndexByte skips an address's bytes faster than a loop.
		j := bytes.IndexByte(b[i:], '>')
		if j < 0 {
			break
		}
		i += j
		if i+1 == len(b) || b[i+1] == ',' || b[i+1] == ' ' || b[i+1] == ';' || b[i+1] == ':' {
			return b[1:i], b[i+1:], true
		}
	}
	return b[1:], nil, false
}

// parseFloat reads a non-negative decimal like "0.07", "229139" or "1e-3"
// is not used by Postfix; it never allocates.
//
// The result is always that of the plain algorithm (v = v*10 + digit,
// then v += digit*scale with scale divided by ten after each fraction
// digit), which decides the last bit of delays: only the cost changes.
// Up to 15 integer digits v*10 + digit is exact, so an integer gives the
// same value without a float multiply per digit; the scales come from a
// table computed by the same divisions, instead of a division per digit.
func parseFloat(b []byte) (float64, int) {
	i := 0
	var n uint64
	for i < len(b) && i < 15 && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	v := float64(n)
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		v = v*10 + float64(b[i]-'0')
		i++
	}
	if i < len(b) && b[i] == '.' {
		i++
		k := 0
		var scale float64
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if k < len(fracScales) {
				scale = fracScales[k]
			} else {
				scale /= 10
			}
			v += float64(b[i]-'0') * scale
			k++
			i++
		}
	}
	return v, i
}

// fracScales[k] is the scale of the k-th fraction digit: 0.1 divided by
// ten k times, as the plain algorithm computes it.
var fracScales = func() (t [24]float64) {
	scale := 0.1
	for k := range t {
		t[k] = scale
		scale /= 10
	}
	return t
}()

// parseCodes reads an SMTP reply code and enhanced status code at the start
// of a reply text: "550 5.1.1 <x>: …", "550-5.7.25 …", "4.7.1 …".
func parseCodes(b []byte) (code int, enhanced []byte) {
	if len(b) >= 4 && b[0] >= '2' && b[0] <= '5' && isDigit(b[1]) && isDigit(b[2]) && (b[3] == ' ' || b[3] == '-') {
		code = int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0')
		b = b[4:]
	}
	if n := enhancedLen(b); n > 0 {
		enhanced = b[:n]
	}
	return code, enhanced
}

// enhancedLen returns the length of an RFC 3463 code "c.sss.ddd" at the
// start of b, or 0.
func enhancedLen(b []byte) int {
	if len(b) < 5 || (b[0] != '2' && b[0] != '4' && b[0] != '5') || b[1] != '.' {
		return 0
	}
	i := 2
	n := 0
	for i < len(b) && isDigit(b[i]) && n < 3 {
		i++
		n++
	}
	if n == 0 || i >= len(b) || b[i] != '.' {
		return 0
	}
	i++
	n = 0
	for i < len(b) && isDigit(b[i]) && n < 3 {
		i++
		n++
	}
	if n == 0 || (i < len(b) && b[i] != ' ' && b[i] != ')' && b[i] != ';' && b[i] != ',') {
		return 0
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// IsQueueID reports whether b is a Postfix queue ID: a short ID (upper-case
// hex, as written with enable_long_queue_ids = no) or a long ID
// (enable_long_queue_ids = yes: a base-52 time part of 10 characters, the
// separator 'z', and a base-51 inode part; see Postfix's mail_queue.h). It does not accept
// "NOQUEUE". Anything that reaches postsuper must pass this check.
func IsQueueID(b []byte) bool {
	return isShortQueueID(b) || isLongQueueID(b)
}

// qidByte classifies bytes for splitQueueID: notAlnum for every byte but
// letters and digits (no kind of queue ID has any other), and the bit of
// notUpperHex for every byte that cannot be in a short queue ID.
var qidByte = func() (t [256]byte) {
	for i := range t {
		t[i] = notAlnum | notUpperHex[i]
	}
	for _, c := range []byte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
		t[c] &^= notAlnum
	}
	return t
}()

const notAlnum = 2

func isShortQueueID(b []byte) bool {
	if len(b) < 5 || len(b) > 20 {
		return false
	}
	// Branch-free: hex digits of a queue ID are random, and a test per
	// character mispredicted on most of them.
	var bad byte
	for _, c := range b {
		bad |= notUpperHex[c]
	}
	return bad == 0
}

// notUpperHex is 1 for every byte but 0-9 and A-F.
var notUpperHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 1
	}
	for _, c := range []byte("0123456789ABCDEF") {
		t[c] = 0
	}
	return t
}()

// Long queue IDs (mail_queue.h): 10 characters of time (seconds and
// microseconds) in base 52, the separator 'z', then the inode number in
// base 51. Base 52 is digits and consonants of both cases; base 51 is the
// same without 'z', which is what makes the separator unambiguous.
var base52 = func() (t [256]bool) {
	for _, c := range []byte("0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz") {
		t[c] = true
	}
	return t
}()

func isLongQueueID(b []byte) bool {
	if len(b) < 12 || len(b) > 24 || b[10] != 'z' {
		return false
	}
	for i, c := range b {
		if !base52[c] || (i > 10 && c == 'z') {
			return false
		}
	}
	return true
}

// isLenientQueueID accepts queue-ID-like tokens that real Postfix would not
// write but hand-made test logs do ("FGHIJ67890"): 6-24 letters and digits
// with at least one digit and one upper-case letter. Words Postfix puts
// before a colon ("statistics", "Deleted") have no digit. Used for parsing
// only; IsQueueID stays strict for anything that reaches postsuper.
func isLenientQueueID(b []byte) bool {
	if len(b) < 6 || len(b) > 24 {
		return false
	}
	digit, upper := false, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
		default:
			return false
		}
	}
	return digit && upper
}
