package parser

import (
	"bytes"
	"encoding/binary"
	"math/bits"
)

// parseHeader splits the syslog header off a line: timestamp, host, tag and
// pid, in whichever of the supported formats the line uses. It returns the
// message (the text after "tag[pid]: "), what it did with the tag (see
// tagUnsplit) and false when the line has no recognisable header. The
// format is detected per line because real files mix them (rsyslog
// switching templates, journald exports appended to a classic file).
//
// prev, when not nil, carries the classic timestamp of the line before
// (see stampHint) and is updated for the next.
func parseHeader(line []byte, ev *Event, prev *stampHint) (msg []byte, tag int, ok bool) {
	if len(line) == 0 {
		return nil, tagUnsplit, false
	}
	var rest []byte
	switch c := line[0]; {
	case c >= 'A' && c <= 'Z':
		if prev != nil {
			rest, ok = prev.parse(line, &ev.Stamp)
		} else {
			rest, ok = parseClassicTime(line, &ev.Stamp)
		}
	case c >= '0' && c <= '9':
		rest, ok = parseISOTime(line, &ev.Stamp)
	case c == '<':
		msg, ok = parseRFC5424(line, ev)
		return msg, tagUnsplit, ok
	case c == '{':
		msg, ok = parseJournal(line, ev)
		return msg, tagUnsplit, ok
	}
	if !ok {
		return nil, tagUnsplit, false
	}
	// host: a few bytes, which a loop finds sooner than IndexByte's call.
	sp := 0
	for sp < len(rest) && rest[sp] != ' ' {
		sp++
	}
	if sp == 0 || sp == len(rest) {
		return nil, tagUnsplit, false
	}
	ev.Host = rest[:sp]
	rest = rest[sp+1:]
	return parseTag(rest, ev)
}

// What parseHeader did with the tag: the syslog formats find the tag's
// slashes while they look for its end, and split it there rather than in
// a second pass (splitProgram) over the same bytes.
const (
	tagUnsplit = iota // Program is set, not split: splitProgram's job
	tagSplit          // Instance, Service and Daemon are set
	tagNoSlash        // the tag has no '/': not a Postfix program
)

// parseTag reads "tag[pid]: msg" or "tag: msg". On success it also splits
// a tag with a '/' as splitProgram does.
func parseTag(rest []byte, ev *Event) ([]byte, int, bool) {
	i, first, last := scanTag(rest)
	if i == 0 && (len(rest) == 0 || rest[0] != '/') || i >= len(rest) {
		return nil, tagUnsplit, false
	}
	p := rest[:i]
	ev.Program = p
	switch rest[i] {
	case '[':
		pid, n := pidDigits(rest[i+1:])
		j := i + 1 + n
		if j == i+1 || j+1 >= len(rest) || rest[j] != ']' || rest[j+1] != ':' {
			return nil, tagUnsplit, false
		}
		ev.PID = pid
		i = j + 2
	case ':':
		i++
	default:
		return nil, tagUnsplit, false
	}
	if i < len(rest) && rest[i] == ' ' {
		i++
	}
	if first < 0 {
		return rest[i:], tagNoSlash, true
	}
	setTagParts(ev, p, first, last)
	return rest[i:], tagSplit, true
}

// scanTag returns the length of the tag at the start of b (up to the first
// '[', ':' or ' ', or all of b) and the positions of the first and last
// '/' within it (-1 if none). It looks at eight bytes at a time: the tag
// is scanned on every line, and a loop per byte was a tenth of the parse.
func scanTag(b []byte) (n, first, last int) {
	first, last = -1, -1
	if len(b) >= 8 && binary.LittleEndian.Uint64(b) == postfixSlash {
		// Most tags start so: its eight bytes hold one slash and no
		// stop byte, which one comparison tells.
		n, first, last = 8, 7, 7
	}
	for ; n+8 <= len(b); n += 8 {
		v := binary.LittleEndian.Uint64(b[n:])
		stop := zeroBytes(v^('['*ones)) | zeroBytes(v^(':'*ones)) | zeroBytes(v^(' '*ones))
		slash := zeroBytes(v ^ ('/' * ones))
		if stop != 0 {
			k := bits.TrailingZeros64(stop) // 8*index+7 of the first stop byte
			slash &= 1<<k - 1               // the slashes before it
			if slash != 0 {
				if first < 0 {
					first = n + bits.TrailingZeros64(slash)/8
				}
				last = n + (63-bits.LeadingZeros64(slash))/8
			}
			return n + k/8, first, last
		}
		if slash != 0 {
			if first < 0 {
				first = n + bits.TrailingZeros64(slash)/8
			}
			last = n + (63-bits.LeadingZeros64(slash))/8
		}
	}
	for ; n < len(b); n++ {
		switch b[n] {
		case '[', ':', ' ':
			return n, first, last
		case '/':
			if first < 0 {
				first = n
			}
			last = n
		}
	}
	return n, first, last
}

// postfixSlash is "postfix/" read as a little-endian word.
const postfixSlash = 'p' | 'o'<<8 | 's'<<16 | 't'<<24 | 'f'<<32 | 'i'<<40 | 'x'<<48 | '/'<<56

// pidDigits reads the decimal digits at the start of b, as a loop adding
// digits while the value is below 1<<30 would: the value and how many
// digits there are. Up to seven digits, it converts eight bytes at a time
// without a branch per digit (the number of digits varies from line to
// line, and the loop's exit was mispredicted).
func pidDigits(b []byte) (pid, n int) {
	if len(b) >= 8 {
		v := binary.LittleEndian.Uint64(b)
		n = bits.TrailingZeros64(nonDigits(v)) / 8
		if n < 8 {
			// The digits, moved to the top bytes: the 8-digit number
			// with leading zeros, which three multiplications add up.
			x := (v - '0'*ones) << (64 - 8*n)
			if n == 0 {
				x = 0
			}
			x = (x*10 + x>>8) & 0x00ff00ff00ff00ff
			x = (x*100 + x>>16) & 0x0000ffff0000ffff
			x = (x*10000 + x>>32) & 0xffffffff
			return int(x), n
		}
		n = 0
	}
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		if pid < 1<<30 {
			pid = pid*10 + int(b[n]-'0')
		}
		n++
	}
	return pid, n
}

// nonDigits returns v with the high bit of each byte set where that byte
// is not an ASCII digit, and every other bit clear.
func nonDigits(v uint64) uint64 {
	const low7, high = 0x7f7f7f7f7f7f7f7f, 0x8080808080808080
	t := v & low7
	geZero := t + (0x80-'0')*ones // high bit: low 7 bits >= '0'
	gtNine := t + (0x7f-'9')*ones // high bit: low 7 bits > '9'
	return (^geZero | gtNine | v) & high
}

// ones has 1 in every byte: c*ones repeats the byte c eight times.
const ones = 0x0101010101010101

// zeroBytes returns v with the high bit of each byte set where that byte
// of v is zero, and every other bit clear. Unlike the shorter
// (v-ones)&^v&0x80…, it has no false positives after the first zero byte,
// which finding the last '/' needs.
func zeroBytes(v uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((v&low7 + low7) | v | low7)
}

// tagStop marks the bytes that end a syslog tag: a table lookup per byte
// instead of three comparisons (the tag is scanned on every line).
var tagStop = [256]bool{'[': true, ':': true, ' ': true}

// lookupMonth maps a month's three letters to 1-12 (0: not a month). The
// switch on the packed letters is a few predictable comparisons; a loop
// over twelve names was a visible share of every classic line's cost.
func lookupMonth(b []byte) int {
	switch uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) {
	case 'J'<<16 | 'a'<<8 | 'n':
		return 1
	case 'F'<<16 | 'e'<<8 | 'b':
		return 2
	case 'M'<<16 | 'a'<<8 | 'r':
		return 3
	case 'A'<<16 | 'p'<<8 | 'r':
		return 4
	case 'M'<<16 | 'a'<<8 | 'y':
		return 5
	case 'J'<<16 | 'u'<<8 | 'n':
		return 6
	case 'J'<<16 | 'u'<<8 | 'l':
		return 7
	case 'A'<<16 | 'u'<<8 | 'g':
		return 8
	case 'S'<<16 | 'e'<<8 | 'p':
		return 9
	case 'O'<<16 | 'c'<<8 | 't':
		return 10
	case 'N'<<16 | 'o'<<8 | 'v':
		return 11
	case 'D'<<16 | 'e'<<8 | 'c':
		return 12
	}
	return 0
}

// stampHint is the classic timestamp of the previous line of a block,
// when it took exactly its first 16 bytes ("Nov 30 07:10:02 "): most
// lines of a log have the timestamp of the line before, and comparing
// 16 bytes costs a tenth of parsing them. parseClassicTime reads no byte
// past the 16th for such a timestamp, so a line with the same 16 bytes
// gets the same Stamp from it.
type stampHint struct {
	ok     bool
	w0, w1 uint64 // the 16 bytes
	month  int
	day    int
	hour   int
	min    int
	sec    int
}

// parse is parseClassicTime with the hint: a line that starts with the
// hint's 16 bytes takes its stamp without parsing them; any other sets
// the hint for the next line.
func (h *stampHint) parse(b []byte, s *Stamp) ([]byte, bool) {
	if len(b) >= 16 {
		w0, w1 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if h.ok && w0 == h.w0 && w1 == h.w1 {
			s.Month, s.Day, s.Hour, s.Min, s.Sec = h.month, h.day, h.hour, h.min, h.sec
			return b[16:], true
		}
		rest, ok := parseClassicTime(b, s)
		h.ok = ok && len(b)-len(rest) == 16
		if h.ok {
			h.w0, h.w1 = w0, w1
			h.month, h.day, h.hour, h.min, h.sec = s.Month, s.Day, s.Hour, s.Min, s.Sec
		}
		return rest, ok
	}
	return parseClassicTime(b, s)
}

// parseClassicTime reads "Nov 30 07:10:02 ", "Jun  4 …", "Jun 04 …", "Mar 7 …"
// and journalctl -o short-precise's "Nov 30 07:10:02.123456 ".
func parseClassicTime(b []byte, s *Stamp) ([]byte, bool) {
	if len(b) < 15 || b[3] != ' ' {
		return nil, false
	}
	m := lookupMonth(b)
	if m == 0 {
		return nil, false
	}
	i := 4
	if b[i] == ' ' { // "Jun  4"
		i++
	}
	d, n := atoiN(b[i:], 2)
	if n == 0 || d < 1 || d > 31 {
		return nil, false
	}
	i += n
	if i >= len(b) || b[i] != ' ' {
		return nil, false
	}
	i++
	rest, ok := parseClock(b[i:], s)
	if !ok {
		return nil, false
	}
	s.Month, s.Day = m, d
	if len(rest) == 0 || rest[0] != ' ' {
		return nil, false
	}
	return rest[1:], true
}

// parseClock reads "hh:mm:ss" with an optional ".fraction". The eight
// bytes are checked in one word (digits and colons where they belong)
// rather than byte by byte.
func parseClock(b []byte, s *Stamp) ([]byte, bool) {
	if len(b) < 8 {
		return nil, false
	}
	v := binary.LittleEndian.Uint64(b)
	const colons, colonBytes = 0x0000ff0000ff0000, ':'<<40 | ':'<<16
	const digitBytes = 0x8080008080008080 // high bits of bytes 0, 1, 3, 4, 6 and 7
	if v&colons != colonBytes || nonDigits(v)&digitBytes != 0 {
		return nil, false
	}
	d := v - '0'*(ones&^colons) // digit values; no byte borrows, each is >= '0'
	h := int(d&0xff)*10 + int(d>>8&0xff)
	mi := int(d>>24&0xff)*10 + int(d>>32&0xff)
	se := int(d>>48&0xff)*10 + int(d>>56&0xff)
	if h > 23 || mi > 59 || se > 60 {
		return nil, false
	}
	s.Hour, s.Min, s.Sec = h, mi, se
	b = b[8:]
	if len(b) > 0 && (b[0] == '.' || b[0] == ',') {
		j := 1
		ns, scale := 0, 100000000
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			ns += int(b[j]-'0') * scale
			scale /= 10
			j++
		}
		if j == 1 {
			return nil, false
		}
		s.Nsec = ns
		b = b[j:]
	}
	return b, true
}

// parseISOTime reads RFC 3339 ("2026-11-30T07:10:02.123456+01:00"),
// journalctl -o short-iso ("2026-11-30T07:10:02+0100") and a space instead
// of the T. A missing zone means local time.
func parseISOTime(b []byte, s *Stamp) ([]byte, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != ' ') {
		return nil, false
	}
	y, n1 := atoiN(b[0:4], 4)
	mo, n2 := atoiN(b[5:7], 2)
	d, n3 := atoiN(b[8:10], 2)
	if n1 != 4 || n2 != 2 || n3 != 2 || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return nil, false
	}
	rest, ok := parseClock(b[11:], s)
	if !ok {
		return nil, false
	}
	s.Year, s.Month, s.Day = y, mo, d
	rest, ok = parseZone(rest, s)
	if !ok || len(rest) == 0 || rest[0] != ' ' {
		return nil, false
	}
	return rest[1:], true
}

func parseZone(b []byte, s *Stamp) ([]byte, bool) {
	if len(b) == 0 {
		return b, true
	}
	switch b[0] {
	case 'Z', 'z':
		s.HasZone = true
		return b[1:], true
	case '+', '-':
		sign := 1
		if b[0] == '-' {
			sign = -1
		}
		if len(b) < 5 {
			return nil, false
		}
		h, n := atoiN(b[1:3], 2)
		if n != 2 {
			return nil, false
		}
		i := 3
		if b[i] == ':' {
			i++
		}
		if len(b) < i+2 {
			return nil, false
		}
		m, n := atoiN(b[i:i+2], 2)
		if n != 2 || h > 23 || m > 59 {
			return nil, false
		}
		s.HasZone = true
		s.Offset = sign * (h*3600 + m*60)
		return b[i+2:], true
	}
	return b, true
}

// parseRFC5424 reads "<22>1 2026-11-30T07:10:02Z host app procid msgid SD msg".
func parseRFC5424(line []byte, ev *Event) ([]byte, bool) {
	i := 1
	for i < len(line) && i < 5 && line[i] >= '0' && line[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(line) || line[i] != '>' {
		return nil, false
	}
	i++
	if i+2 > len(line) || line[i] != '1' || line[i+1] != ' ' {
		return nil, false
	}
	rest := line[i+2:]
	if len(rest) > 1 && rest[0] == '-' && rest[1] == ' ' {
		rest = rest[2:] // NILVALUE timestamp
	} else {
		var ok bool
		rest, ok = parseISOTime(rest, &ev.Stamp)
		if !ok {
			return nil, false
		}
	}
	fields := [4][]byte{}
	for f := range fields {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return nil, false
		}
		fields[f] = rest[:sp]
		rest = rest[sp+1:]
	}
	ev.Host, ev.Program = nilDash(fields[0]), nilDash(fields[1])
	if p, n := atoiN(fields[2], 9); n == len(fields[2]) && n > 0 {
		ev.PID = p
	}
	// STRUCTURED-DATA: "-" or one or more [id k="v"] elements.
	if len(rest) > 0 && rest[0] == '-' {
		rest = rest[1:]
	} else {
		for len(rest) > 0 && rest[0] == '[' {
			j := 1
			for j < len(rest) && rest[j] != ']' {
				if rest[j] == '\\' {
					j++
				} else if rest[j] == '"' {
					j++
					for j < len(rest) && rest[j] != '"' {
						if rest[j] == '\\' {
							j++
						}
						j++
					}
				}
				j++
			}
			if j >= len(rest) {
				return nil, false
			}
			rest = rest[j+1:]
		}
	}
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	rest = bytes.TrimPrefix(rest, []byte("\xef\xbb\xbf")) // BOM
	if len(ev.Program) == 0 {
		return nil, false
	}
	return rest, true
}

func nilDash(b []byte) []byte {
	if len(b) == 1 && b[0] == '-' {
		return nil
	}
	return b
}

// atoiN parses up to max leading decimal digits of b.
func atoiN(b []byte, max int) (v, n int) {
	for n < len(b) && n < max && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int(b[n]-'0')
		n++
	}
	return v, n
}
