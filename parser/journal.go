package parser

import (
	"unicode/utf8"
)

// parseJournal reads one object of `journalctl -o json`:
//
//	{"__REALTIME_TIMESTAMP":"1796024035123456","_HOSTNAME":"mail",
//	 "SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"6462","MESSAGE":"8FFDEC2174: to=<…>"}
//
// MESSAGE is a JSON array of byte values when the text is not valid UTF-8
// (journald's rule), so it is decoded here rather than with encoding/json
// into a string. Host, tag and message are copied into ev.scratch, which the
// Event keeps between lines so steady-state parsing does not allocate.
func parseJournal(line []byte, ev *Event) ([]byte, bool) {
	sc := jsonScanner{b: line}
	if !sc.consume('{') {
		return nil, false
	}
	// Offsets into scratch; slices are taken after all appends.
	type span struct {
		start, end int
		set        bool
	}
	var host, ident, msg, pid, spid span
	var realtime int64
	buf := ev.scratch[:0]
	for {
		sc.skipSpace()
		if sc.consume('}') {
			break
		}
		key, ok := sc.rawString()
		if !ok || !sc.consume(':') {
			return nil, false
		}
		var target *span
		switch string(key) {
		case "MESSAGE":
			target = &msg
		case "_HOSTNAME":
			target = &host
		case "SYSLOG_IDENTIFIER":
			target = &ident
		case "_PID":
			target = &pid
		case "SYSLOG_PID":
			target = &spid
		case "__REALTIME_TIMESTAMP":
			start := len(buf)
			var ok bool
			buf, ok = sc.appendValue(buf)
			if !ok {
				return nil, false
			}
			v, n := atoi64(buf[start:])
			if n > 0 {
				realtime = v
			}
			buf = buf[:start]
		default:
			if !sc.skipValue() {
				return nil, false
			}
		}
		if target != nil {
			start := len(buf)
			var ok bool
			buf, ok = sc.appendValue(buf)
			if !ok {
				return nil, false
			}
			*target = span{start, len(buf), true}
		}
		sc.skipSpace()
		if sc.consume(',') {
			continue
		}
		if sc.consume('}') {
			break
		}
		return nil, false
	}
	ev.scratch = buf
	if !msg.set || !ident.set || ident.end == ident.start {
		return nil, false
	}
	ev.Program = buf[ident.start:ident.end]
	if host.set {
		ev.Host = buf[host.start:host.end]
	}
	p := spid
	if !p.set {
		p = pid
	}
	if p.set {
		if v, n := atoiN(buf[p.start:p.end], 9); n > 0 {
			ev.PID = v
		}
	}
	if realtime > 0 {
		ev.Stamp.Unix = realtime
		ev.Stamp.fromEpoch = true
		ev.Stamp.fromJournal = true
	}
	m := buf[msg.start:msg.end]
	// journald keeps a trailing newline some programs send.
	for len(m) > 0 && (m[len(m)-1] == '\n' || m[len(m)-1] == '\r') {
		m = m[:len(m)-1]
	}
	return m, true
}

func atoi64(b []byte) (v int64, n int) {
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		v = v*10 + int64(b[n]-'0')
		n++
	}
	return v, n
}

// jsonScanner is a minimal JSON tokenizer for flat journald objects: it
// decodes strings and byte arrays into a caller's buffer and skips
// everything else. It never allocates and never panics on bad input.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScanner) consume(c byte) bool {
	s.skipSpace()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// rawString returns the bytes of a string without unescaping (for keys,
// which journald keeps to [A-Z0-9_]).
func (s *jsonScanner) rawString() ([]byte, bool) {
	s.skipSpace()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '\\':
			j++
		case '"':
			s.i = j + 1
			return s.b[start:j], true
		}
	}
	return nil, false
}

// appendValue decodes a string, a number, null, or an array of byte values
// and appends its bytes to dst.
func (s *jsonScanner) appendValue(dst []byte) ([]byte, bool) {
	s.skipSpace()
	if s.i >= len(s.b) {
		return dst, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.appendString(dst)
	case c == '[':
		s.i++
		for {
			s.skipSpace()
			if s.consume(']') {
				return dst, true
			}
			v, n := atoiN(s.b[s.i:], 3)
			if n == 0 || v > 255 {
				return dst, false
			}
			s.i += n
			dst = append(dst, byte(v))
			s.skipSpace()
			if s.consume(',') {
				continue
			}
			if s.consume(']') {
				return dst, true
			}
			return dst, false
		}
	case c == 'n':
		return dst, s.skipValue()
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.i
		if !s.skipValue() {
			return dst, false
		}
		return append(dst, s.b[start:s.i]...), true
	}
	return dst, false
}

func (s *jsonScanner) appendString(dst []byte) ([]byte, bool) {
	s.i++ // opening quote
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return dst, true
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return dst, false
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				dst = append(dst, e)
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return dst, false
				}
				if r >= 0xD800 && r < 0xDC00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					r2, ok := s.hex4()
					if !ok {
						return dst, false
					}
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				}
				dst = utf8.AppendRune(dst, rune(r))
			default:
				return dst, false
			}
		default:
			dst = append(dst, c)
			s.i++
		}
	}
	return dst, false
}

func (s *jsonScanner) hex4() (int, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	v := 0
	for k := 0; k < 4; k++ {
		c := s.b[s.i+k]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return v, true
}

// skipValue skips any JSON value, nesting bounded by the input length.
func (s *jsonScanner) skipValue() bool {
	s.skipSpace()
	depth := 0
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			if _, ok := s.rawString(); !ok {
				return false
			}
		case c == '{' || c == '[':
			depth++
			s.i++
		case c == '}' || c == ']':
			if depth == 0 {
				return true
			}
			depth--
			s.i++
		case c == ',' || c == ':':
			if depth == 0 {
				return true
			}
			s.i++
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if depth == 0 {
				return true
			}
			s.i++
		default:
			s.i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return true
		}
	}
	return depth == 0
}
