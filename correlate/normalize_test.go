package correlate

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// normalizeTextPlain is normalizeText as first written, byte by byte: the
// reference the faster one must match.
func normalizeTextPlain(dst []byte, s []byte) []byte {
	if len(s) > maxSampleLen {
		s = s[:maxSampleLen]
	}
	for i := 0; i < len(s); i++ {
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

// localRelayPlain is localRelay as first written (strings.Contains).
func localRelayPlain(relay []byte) bool {
	i := bytes.IndexByte(relay, '[')
	if i < 0 {
		return false
	}
	j := bytes.IndexByte(relay[i:], ']')
	if j < 0 {
		return false
	}
	addr := string(relay[i+1 : i+j])
	switch {
	case strings.Contains(addr, "/"):
		return true
	case strings.HasPrefix(addr, "127."), addr == "::1", strings.HasPrefix(addr, "10."),
		strings.HasPrefix(addr, "192.168."):
		return true
	case strings.HasPrefix(addr, "172."):
		rest := addr[4:]
		if k := strings.IndexByte(rest, '.'); k > 0 {
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
		return strings.Contains(addr, ":")
	}
	return false
}

// textCases are real and hostile reply texts, and random ones built from
// the bytes the text functions treat specially.
func textCases() []string {
	cs := []string{
		"", "a", "0", "<", "[", "<>", "[]", "<<>>", "[x]y]", "\x00\x7f\x1f", strings.Repeat("9", 600),
		"hostname 1-2-3-4.example.net does not resolve to address 1.2.3.4",
		"<bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
		"Client host rejected: cannot find your hostname, [198.51.100.7]",
		"Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.9",
		"250 2.0.0 Ok: queued as 3F2A1258B01", "host mx[192.168.1.1]:25 said: 450 4.7.1 <a@b>: try later (in reply to RCPT TO command)",
		"<" + strings.Repeat("x", 300) + ">", "[" + strings.Repeat("y", 256) + "]", "[" + strings.Repeat("y", 255) + "]",
		strings.Repeat("ab<c>12[d] ", 100),
		"mx.example.com[private/dovecot-lmtp]", "relay[127.0.0.1]:10025", "x[172.16.0.1]", "x[172.32.0.1]", "x[172.x.0.1]",
		"x[fd00::1]", "x[FC00::1]", "x[fe80::1]", "x[fd00]", "x[10.1.2.3]", "x[192.168.0.1]", "x[::1]", "x[8.8.8.8]:25", "x[", "x]",
		"local", "none", "x[/]", "x[a/b", "[]]", "x[172.]", "x[172.1.]",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab .:/<>[]0123456789fFcCdD\x00\x1f\x7f\xff172")
	for n := 0; n < 5000; n++ {
		b := make([]byte, rng.IntN(80))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cs = append(cs, string(b))
	}
	return cs
}

func TestNormalizeTextIsThePlainOne(t *testing.T) {
	for _, s := range textCases() {
		got := string(normalizeText([]byte("pre:"), []byte(s)))
		want := string(normalizeTextPlain([]byte("pre:"), []byte(s)))
		if got != want {
			t.Errorf("normalizeText(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestLocalRelayIsThePlainOne(t *testing.T) {
	for _, s := range textCases() {
		if got, want := localRelay([]byte(s)), localRelayPlain([]byte(s)); got != want {
			t.Errorf("localRelay(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestAppendSampleIsSample(t *testing.T) {
	for _, s := range append(textCases(), strings.Repeat("a\x00", 600), "\x00", "\x00\x00x\x00") {
		if got, want := string(appendSample([]byte("pre"), []byte(s))), "pre"+sample([]byte(s)); got != want {
			t.Errorf("appendSample(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzNormalizeText(f *testing.F) {
	for _, s := range textCases()[:40] {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(normalizeText(nil, []byte(s))), string(normalizeTextPlain(nil, []byte(s))); got != want {
			t.Errorf("normalizeText(%q) = %q, want %q", s, got, want)
		}
		if got, want := localRelay([]byte(s)), localRelayPlain([]byte(s)); got != want {
			t.Errorf("localRelay(%q) = %v, want %v", s, got, want)
		}
		if got, want := string(appendSample(nil, []byte(s))), sample([]byte(s)); got != want {
			t.Errorf("appendSample(%q) = %q, want %q", s, got, want)
		}
		if got, want := lastQueuedAs([]byte(s)), strings.LastIndex(s, "queued as "); got != want {
			t.Errorf("lastQueuedAs(%q) = %d, want %d", s, got, want)
		}
	})
}
