package queue

import (
	"strings"
	"unicode/utf8"
)

// Terminal returns s with everything that could act on a terminal or fake a
// line made visible: C0 controls (newline, ESC, BEL, …), DEL, C1 controls
// (U+0080–U+009F, which some terminals honour as CSI/OSC), the Unicode line
// and paragraph separators, bidirectional overrides and isolates (U+202A–
// U+202E, U+2066–U+2069; "Trojan Source") and bytes that are not UTF-8. Each
// is written as a Go-style escape (\n, \x1b, \u202e, \xff), and a backslash
// as \\ so that the escaped form cannot be confused with the original text.
// Text that needs no escaping is returned as is, without allocating.
func Terminal(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f || c == '\\' {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				b.WriteString(`\\`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				writeHex(&b, `\x`, uint32(c), 2)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHex(&b, `\x`, uint32(c), 2)
		case needsEscape(r, size):
			writeHex(&b, `\u`, uint32(r), 4)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size == 1: // invalid UTF-8
		return true
	case r >= 0x80 && r <= 0x9f: // C1
		return true
	case r == 0x2028 || r == 0x2029: // line / paragraph separator
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // LRM, RLM, ALM
		return true
	}
	return false
}

func writeHex(b *strings.Builder, prefix string, v uint32, width int) {
	const digits = "0123456789abcdef"
	b.WriteString(prefix)
	var tmp [8]byte
	n := 0
	for v > 0 || n < width {
		tmp[n] = digits[v&0xf]
		v >>= 4
		n++
	}
	for n > 0 {
		n--
		b.WriteByte(tmp[n])
	}
}

// Markdown returns s made safe for a Markdown table cell or list item:
// escaped as by Terminal, then every ASCII punctuation character that
// CommonMark or GitHub Flavored Markdown gives a meaning inside a line
// (emphasis, code spans, links, raw HTML, entities, table pipes,
// strikethrough) is backslash-escaped, so queue data can neither inject
// HTML nor break the table.
func Markdown(s string) string {
	s = Terminal(s)
	if !strings.ContainsAny(s, "\\`*_[]<>|&~") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '`', '*', '_', '[', ']', '<', '>', '|', '&', '~':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
