package queue

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTerminal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text, 450 4.2.0 <a@b.test>", "plain text, 450 4.2.0 <a@b.test>"},
		{"Grüße 日本", "Grüße 日本"},
		{"a\nb\r\tc", `a\nb\r\tc`},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]0;owned\x07", `\x1b]0;owned\x07`},
		{"bell\x07del\x7f", `bell\x07del\x7f`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"nul\x00", `nul\x00`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"rtl \u202eevil\u202c", `rtl \u202eevil\u202c`},
		{"isolate \u2066x\u2069", `isolate \u2066x\u2069`},
		{"ls \u2028 ps \u2029", `ls \u2028 ps \u2029`},
		{`back\slash`, `back\\slash`},
		{"$(rm -rf /) `id` ; | &", "$(rm -rf /) `id` ; | &"}, // harmless on a terminal
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := Terminal(tt.in)
			if got != tt.want {
				t.Errorf("Terminal(%q) = %q, want %q", tt.in, got, tt.want)
			}
			assertInert(t, got)
		})
	}
}

// assertInert fails if s contains anything a terminal would act on.
func assertInert(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			t.Errorf("%q still contains %U", s, r)
		}
	}
}

func TestTerminalNoAlloc(t *testing.T) {
	s := "host 127.0.0.1[127.0.0.1] said: 450 4.2.0 Greylisted (in reply to RCPT TO command)"
	if n := testing.AllocsPerRun(100, func() { _ = Terminal(s) }); n != 0 {
		t.Errorf("Terminal allocates %v times on clean text", n)
	}
}

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user@example.test", "user@example.test"},
		{"<script>alert(1)</script>", `\<script\>alert(1)\</script\>`},
		{"a|b", `a\|b`},
		{"*bold* _it_ `code` [l](u) ~~s~~ &amp;", "\\*bold\\* \\_it\\_ \\`code\\` \\[l\\](u) \\~\\~s\\~\\~ \\&amp;"},
		{"line\nbreak", `line\\nbreak`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := Markdown(tt.in)
			if got != tt.want {
				t.Errorf("Markdown(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.ContainsAny(strings.NewReplacer(`\<`, "", `\|`, "").Replace(got), "<|") {
				t.Errorf("%q keeps an unescaped < or |", got)
			}
		})
	}
}

func FuzzTerminal(f *testing.F) {
	f.Add("\x1b[2J\u202e\n\xff")
	f.Fuzz(func(t *testing.T, s string) {
		assertInert(t, Terminal(s))
		assertInert(t, Markdown(s))
	})
}
