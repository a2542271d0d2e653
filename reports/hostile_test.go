package reports

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/parser"
)

// Hostile text as it can reach a log: Postfix quotes what clients send,
// and a log file may have been tampered with.
const (
	xssScript = `<script>alert(1)</script>`
	xssAttr   = `"><img src=x onerror=alert(1)>`
	xssSVG    = `<svg/onload=alert(2)>`
	ctrl      = "\x1b[2J\x1b]0;owned\x07\r\x00\u202e\u009b31m\u2028"
)

var (
	hostileSender    = xssAttr + "@evil.test" + ctrl
	hostileRecipient = xssScript + "@victim.test"
	hostileDomainRcp = "user@" + xssSVG + ".test"
	hostileReason    = "550 5.1.1 " + xssScript + " | `code` | " + xssAttr + ctrl + "\nfake: line [link](http://evil.test/) *bold*"
)

// hostileReport builds a report whose every log-derived field carries
// hostile text: sender, recipients, reason, relay, queue ID, unparsed
// samples, warnings and rejects.
func hostileReport(t *testing.T) *Report {
	t.Helper()
	at := time.Date(2024, 11, 30, 7, 10, 0, 0, time.UTC)
	m := &correlate.Message{
		Ref:       correlate.Ref{Host: "mail" + xssScript, Instance: "postfix", QueueID: "4BCD1<b>23", First: at},
		LastSeen:  at.Add(time.Minute),
		Arrival:   at,
		Origin:    correlate.OriginSMTP,
		Client:    correlate.Client{Host: "unknown", IP: "192.0.2.1", SASLUser: xssAttr + ctrl},
		Sender:    hostileSender,
		HasSender: true,
		Size:      1234,
		Fate:      correlate.FateBounced,
	}
	for i, rcpt := range []string{hostileRecipient, hostileDomainRcp} {
		for j := range 12 { // enough distinct bounced recipients for the sender signal
			addr := rcpt
			if j > 0 {
				addr = strings.Replace(rcpt, "@", "+"+string(rune('a'+j))+"@", 1)
			}
			m.Recipients = append(m.Recipients, correlate.Recipient{Address: addr, Status: correlate.StatusBounced, Category: "user_unknown",
				Attempts: []correlate.Attempt{{Time: at.Add(time.Duration(i*12+j) * time.Second), Daemon: "smtp", Transport: "smtp",
					Relay: "mx." + xssSVG + "[192.0.2.2]:25", DSN: "5.1.1" + ctrl, Status: correlate.StatusBounced, Reason: hostileReason,
					Category: "user_unknown", HasDelays: true, Delays: [4]float64{0.1, 0, 0.2, 0.3}}}})
		}
	}
	h := correlate.NewHour(at)
	h.Lines[correlate.LineKey{Host: "mail", Kind: parser.KindDelivery}] = 24
	h.Lines[correlate.LineKey{Host: "mail", Kind: parser.KindMalformed}] = 1
	h.Samples = append(h.Samples, correlate.Sample{Host: "mail" + ctrl, Kind: parser.KindMalformed, Time: at, Line: 7, Text: hostileReason})
	h.Warnings[correlate.WarningKey{Host: "mail", Severity: "warning", Daemon: "smtpd" + xssScript, Text: hostileReason}] =
		&correlate.WarningStat{Count: 2, First: at, Last: at, Samples: []string{hostileReason}}
	h.Rejects[correlate.RejectKey{Host: "mail", Daemon: "smtpd", Action: "reject", Stage: "RCPT" + ctrl, Code: 550, Enhanced: "5.1.1",
		Category: "user_unknown", Reason: hostileReason, ClientHost: xssSVG, ClientIP: xssAttr}] =
		&correlate.RejectStat{Count: 3, First: at, Last: at, Sample: hostileReason, SampleFrom: hostileSender, SampleTo: hostileRecipient}
	h.Traffic[correlate.HostKey{Host: "mail", Instance: "postfix"}] = &correlate.Traffic{NoQueue: 3}
	b := NewBuilder(Options{Rules: engine(t), Now: testNow, Filter: Filter{Sender: ""}})
	b.AddHour(h)
	b.AddMessage(m)
	return b.Report()
}

// controls finds bytes and runes that act on a terminal or fake text:
// C0 controls other than newline and tab, DEL, C1 controls, bidi
// overrides, line separators, invalid UTF-8.
func controls(s string) []string {
	var out []string
	for i, r := range s {
		switch {
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 ||
			(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			out = append(out, strings.ToValidUTF8(s[max(0, i-20):i], "?")+"‸")
			if len(out) == 5 {
				return out
			}
		case r == utf8.RuneError:
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 { // not U+FFFD itself
				out = append(out, "invalid UTF-8 at "+strings.ToValidUTF8(s[max(0, i-20):i], "?"))
			}
		}
	}
	return out
}

func TestHostileText(t *testing.T) {
	r := hostileReport(t)
	// The hostile values did reach the report (else the test proves nothing).
	if len(r.Diagnoses) == 0 || r.Diagnoses[0].Samples[0].Reason != hostileReason || len(r.Senders) == 0 || r.Senders[0].Sender != hostileSender {
		t.Fatalf("hostile values not in the report: %+v", r.Diagnoses)
	}
	for _, f := range renderers() {
		var b bytes.Buffer
		if err := f.render(&b, r); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		t.Run(f.ext, func(t *testing.T) {
			if f.ext != "json" {
				if c := controls(out); len(c) > 0 {
					t.Errorf("control characters in the output: %q", c)
				}
				for _, line := range strings.Split(out, "\n") {
					if strings.HasPrefix(strings.TrimSpace(line), "fake: line") {
						t.Errorf("a newline in log text started a line: %q", line)
					}
				}
			}
			switch f.ext {
			case "html":
				checkHTML(t, out)
			case "md":
				checkMarkdown(t, out)
			case "json":
				var back Report
				if err := json.Unmarshal(b.Bytes(), &back); err != nil {
					t.Fatal(err)
				}
				if back.Diagnoses[0].Samples[0].Reason != hostileReason {
					t.Errorf("JSON does not carry the reason exactly: %q", back.Diagnoses[0].Samples[0].Reason)
				}
				for _, raw := range []string{"<script", "\x1b", "\x00"} {
					if strings.Contains(out, raw) {
						t.Errorf("JSON contains raw %q", raw)
					}
				}
			case "txt":
				if !strings.Contains(out, `\x1b[2J`) {
					t.Error("the escape sequence is not shown escaped")
				}
			}
		})
	}
	// Colour on: the only escape sequences are the report's own SGR codes.
	var b bytes.Buffer
	if err := WriteText(&b, r, TextOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	stripped := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(b.String(), "")
	if c := controls(stripped); len(c) > 0 {
		t.Errorf("with colour, control characters besides SGR: %q", c)
	}
}

// The HTML page: no active content, no resource to load, log text escaped.
func checkHTML(t *testing.T, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for _, bad := range []string{"<script", "<img", "<svg/", "<iframe", "<object", "<embed", "<link", "<base", "@import", "url(", "javascript:", `"><img`} {
		if strings.Contains(lower, bad) {
			t.Errorf("HTML contains %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the hostile recipient is not in the page, escaped")
	}
	checkNoRequests(t, out)
}

// checkNoRequests asserts the page names no resource outside itself:
// every src/href-like attribute is a fragment (#id), and the
// Content-Security-Policy forbids loading anything.
func checkNoRequests(t *testing.T, out string) {
	t.Helper()
	// Escaped text holds no '<': every "<name" starts a real tag.
	tag := regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	attr := regexp.MustCompile(`(?i)\s(src|href|xlink:href|action|formaction|poster|data|srcset|background|ping)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)`)
	for _, tg := range tag.FindAllString(out, -1) {
		for _, m := range attr.FindAllStringSubmatch(tg, -1) {
			if v := strings.Trim(m[2], `"'`); !strings.HasPrefix(v, "#") {
				t.Errorf("%s: attribute %s=%q may load a resource", tg, m[1], v)
			}
		}
	}
	if !strings.Contains(out, `content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`) {
		t.Error("no Content-Security-Policy forbidding network requests")
	}
	if n := strings.Count(strings.ToLower(out), "<meta http-equiv"); n != 1 {
		t.Errorf("%d meta http-equiv tags, want only the CSP", n)
	}
}

// Markdown: no raw HTML, every table row keeps its column count.
func checkMarkdown(t *testing.T, out string) {
	t.Helper()
	// Raw HTML needs an unescaped '<', a link an unescaped "](".
	for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(^|[^\\])<`), regexp.MustCompile(`(^|[^\\])\]\(`)} {
		if m := bad.FindString(out); m != "" {
			t.Errorf("Markdown has unescaped %q", m)
		}
	}
	if !strings.Contains(out, `\<script\>alert(1)\</script\>`) {
		t.Error("the hostile recipient is not in the document, escaped")
	}
	unescapedPipes := func(line string) int {
		n := 0
		for i := 0; i < len(line); i++ {
			if line[i] == '\\' {
				i++
				continue
			}
			if line[i] == '|' {
				n++
			}
		}
		return n
	}
	cols := -1
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			cols = -1
			continue
		}
		n := unescapedPipes(line)
		if cols < 0 {
			cols = n
		} else if n != cols {
			t.Errorf("table row with %d cells, header has %d: %q", n-1, cols-1, line)
		}
	}
}

// TestHTMLNoRequestsGolden checks the committed HTML reports too.
func TestHTMLNoRequestsGolden(t *testing.T) {
	for _, name := range []string{"real-postfix.html", "genlog.html"} {
		b, err := readGolden(name)
		if err != nil {
			t.Fatal(err)
		}
		checkNoRequests(t, string(b))
	}
}
