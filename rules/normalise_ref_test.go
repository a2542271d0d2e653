package rules

import (
	"strings"
	"testing"
)

// normaliseRef is normalise as it was before its fast path copied and
// lower-cased a run in one pass (a scan, an append, then a lower-casing
// loop): the plain form the fast one must agree with, byte for byte and
// fact for fact (TestNormaliseAgreesWithRef, FuzzClassify).
func normaliseRef(dst []byte, s string, f *facts) []byte {
	start := len(dst)
	f.replyAt = replyStart(s)
	codeStr := ""
	if f.replyAt >= 0 {
		f.code = replyCode(s[f.replyAt:])
		codeStr = s[f.replyAt : f.replyAt+3]
		if k := f.replyAt + 4; k < len(s) {
			f.enhanced = enhancedAt(s[k:])
		}
	}
	if f.enhanced == "" {
		// qmail and its descendants put the code at the end: "(#5.1.1)".
		if k := strings.Index(s, "(#"); k >= 0 {
			if e := enhancedAt(s[k+2:]); e != "" && strings.HasPrefix(s[k+2+len(e):], ")") {
				f.enhanced = e
			}
		}
	}
	i := 0
	for i < len(s) {
		c := s[i]
		if refPlainByte[c] && (c != ' ' || (len(dst) > start && dst[len(dst)-1] != ' ')) {
			// Fast path: a run of letters, punctuation and single spaces
			// is copied and lower-cased in one go (most of any text).
			j := i + 1
			for j < len(s) && refPlainByte[s[j]] {
				if s[j] == ' ' && s[j-1] == ' ' {
					break // white space to collapse
				}
				j++
			}
			k := j
			if j < len(s) && isDigit(s[j]) {
				// A word running into digits ("TSS04", "fe80::1") is a
				// token: leave it to token().
				for k > i && isAlpha(s[k-1]) {
					k--
				}
			}
			at := len(dst)
			dst = append(dst, s[i:k]...)
			b := dst[at:]
			for n, c := range b {
				b[n] = refLowerByte[c]
			}
			i = k
			if k < j {
				i, dst = token(dst, s, i, f, codeStr, start)
			}
			continue
		}
		if '0' <= c && c <= '9' {
			i, dst = token(dst, s, i, f, codeStr, start)
			continue
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(dst) > start && dst[len(dst)-1] != ' ' {
				dst = append(dst, ' ')
			}
			i++
		case c == '<':
			j := addrEnd(s, i+1)
			if j < 0 {
				dst = append(dst, '<')
				i++
				continue
			}
			if at := strings.LastIndexByte(s[i+1:j], '@'); at >= 0 && f.domain == "" {
				f.domain = s[i+2+at : j]
			}
			dst = append(dst, "<>"...)
			i = j + 1
		case c == '[':
			j := bracketEnd(s, i+1)
			if j < 0 {
				dst = append(dst, '[')
				i++
				continue
			}
			inner := s[i+1 : j]
			// The host name right before "[ip]" is Postfix's framing of the
			// peer ("host mx.example.com[192.0.2.1] said:").
			h := len(dst)
			for h > start && (hostChar(dst[h-1]) || dst[h-1] == '#') {
				h--
			}
			k := i
			for k > 0 && hostChar(s[k-1]) {
				k--
			}
			if k < i && !peerName(s[k:i]) {
				k, h = i, len(dst) // "banned sender[192.0.2.7]": a word, not a peer
			}
			// "connect to private/dovecot-lmtp[private/dovecot-lmtp]": a
			// local socket names the hop even without a dotted peer name.
			if k == i && f.relayIP == "" && localSocket(inner) {
				f.relayIP, f.relay = inner, inner
			}
			if k < i {
				if f.relayHost == "" && f.relayIP == "" {
					f.relayHost = s[k:i]
					f.relayIP = inner
					f.relay = s[k : j+1]
					if j+1 < len(s) && s[j+1] == ':' {
						p := j + 2
						for p < len(s) && isDigit(s[p]) {
							p++
						}
						f.relayPort = s[j+2 : p]
					}
				} else if f.ip == "" && looksIP(inner) && inner != f.relayIP {
					f.ip = inner
				}
				dst = dst[:h]
			} else if f.ip == "" && looksIP(inner) && inner != f.relayIP {
				f.ip = inner
			}
			dst = append(dst, "[]"...)
			i = j + 1
		case c == '@':
			// A bare address: drop what was already copied of it.
			h := len(dst)
			for h > start && localChar(dst[h-1]) {
				h--
			}
			j := i + 1
			for j < len(s) && addrChar(s[j]) && s[j] != '@' {
				j++
			}
			for j > i+1 && s[j-1] == '.' {
				j--
			}
			if f.domain == "" && j > i+1 {
				f.domain = s[i+1 : j]
			}
			dst = append(dst[:h], "#@"...)
			i = j
		case c == '=' && i >= 4 && strings.EqualFold(s[i-4:i], "name"):
			// Postfix's "Name service error for name=example.com type=MX".
			j := i + 1
			for j < len(s) && s[j] != ' ' && s[j] != ',' && s[j] != ')' {
				j++
			}
			if f.domain == "" && j > i+1 {
				f.domain = strings.TrimSuffix(s[i+1:j], ".")
			}
			dst = append(dst, "=#"...)
			i = j
		default:
			if c < 0x20 || c == 0x7f {
				// control bytes are hostile input, not meaning
				if len(dst) > start && dst[len(dst)-1] != ' ' {
					dst = append(dst, ' ')
				}
			} else {
				dst = append(dst, lower(c))
			}
			i++
		}
	}
	for len(dst) > start && dst[len(dst)-1] == ' ' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

// refPlainByte and refLowerByte are normaliseRef's tables.
var refPlainByte, refLowerByte = func() (p [256]bool, l [256]byte) {
	for c := 0; c < 256; c++ {
		l[c] = byte(c)
		if 'A' <= c && c <= 'Z' {
			l[c] = byte(c + 'a' - 'A')
		}
		switch {
		case c < 0x20 || c == 0x7f, '0' <= c && c <= '9':
		case c == '\t', c == '\n', c == '\r', c == '<', c == '[', c == '@', c == '=':
		default:
			p[c] = true
		}
	}
	return
}()

// TestNormaliseAgreesWithRef compares normalise with normaliseRef on
// every case text, every failure text of the benchmark log when there is
// one, and on texts that overflow the stack buffer.
func TestNormaliseAgreesWithRef(t *testing.T) {
	var texts []string
	for _, name := range caseFiles {
		for _, c := range readCaseFile(t, name) {
			texts = append(texts, c.Input.Reason)
		}
	}
	if ins, ok := failureInputs(t); ok {
		for _, in := range ins {
			texts = append(texts, in.Reason)
		}
	}
	long := strings.Repeat("Mailbox FULL  for <a@b.example> at [192.0.2.1]: TSS04 ", 40)
	texts = append(texts, long, long[:700], long[:770], "A  B\tC\x00D", "  x  ")
	for _, s := range texts {
		checkNormalise(t, s)
	}
}

func checkNormalise(t *testing.T, s string) {
	t.Helper()
	var f1, f2 facts
	var b1, b2 [keyBuf]byte
	got := string(normalise(b1[:0], s, &f1))
	want := string(normaliseRef(b2[:0], s, &f2))
	if got != want || f1 != f2 {
		t.Fatalf("normalise(%q):\n got %q %+v\nwant %q %+v", s, got, f1, want, f2)
	}
}
