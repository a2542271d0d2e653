package reports

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser/input"
)

// FuzzReport runs the whole pipeline on arbitrary log text — parse,
// correlate, index, report, render every format — and checks that nothing
// panics and that no log text comes out active: no control character in
// the text and Markdown reports, no tag or resource in the HTML page.
func FuzzReport(f *testing.F) {
	f.Add([]byte("Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: User unknown (in reply to RCPT TO command))\n"))
	f.Add([]byte("Nov 30 07:33:55 mail postfix/qmgr[1]: ABC123: from=<\"><img src=x onerror=alert(1)>@evil.test>, size=1, nrcpt=1 (queue active)\n" +
		"Nov 30 07:33:56 mail postfix/smtp[2]: ABC123: to=<<script>alert(1)</script>@x.test>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to x[2001:db8::1]:25: Network is unreachable \x1b[2J\x07)\n" +
		"Nov 30 07:33:57 mail postfix/qmgr[1]: ABC123: from=<>, status=expired, returned to sender\n"))
	f.Add([]byte("Nov 30 07:33:55 mail postfix/smtpd[3]: NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 <|`x`|@y>: Relay access denied; from=<a@b> to=<|@c> proto=ESMTP helo=<\u202e>\n" +
		"Nov 30 07:33:55 mail postfix/smtpd[3]: warning: <svg/onload=alert(1)> \x00\xff\n"))
	eng := engine(f)
	tag := regexp.MustCompile(`<[a-zA-Z][^>]*>`)
	attr := regexp.MustCompile(`(?i)\s(src|href|xlink:href|action|formaction|poster|data|srcset|background|ping)\s*=`)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		idx := memindex.New()
		opts := correlate.IngestOptions{Correlator: correlate.Options{Classify: classifier(eng)}, Now: func() time.Time { return testNow }}
		opts.Parse.Year, opts.Parse.Loc = 2024, time.UTC
		in, err := correlate.NewIngester(ctx, idx, opts)
		if err != nil {
			t.Fatal(err)
		}
		file, err := input.Open("-", bytes.NewReader(data))
		if err != nil {
			return // not even an input (e.g. a damaged gzip header)
		}
		in.Read(ctx, file) // read errors are reported, never fatal
		r, err := FromIndex(ctx, idx, Options{Rules: eng, Now: testNow, Loc: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		for _, fm := range renderers() {
			var b bytes.Buffer
			if err := fm.render(&b, r); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			switch fm.ext {
			case "txt", "md":
				if c := controls(out); len(c) > 0 {
					t.Fatalf("%s: control characters: %q", fm.ext, c)
				}
			case "html":
				if c := controls(out); len(c) > 0 {
					t.Fatalf("html: control characters: %q", c)
				}
				for _, tg := range tag.FindAllString(out, -1) {
					if name := strings.ToLower(strings.Fields(tg[1:])[0]); name == "script" || name == "img" || name == "iframe" {
						t.Fatalf("html: tag %q", tg)
					}
					for _, m := range attr.FindAllStringIndex(tg, -1) {
						if v := tg[m[1]:]; !strings.HasPrefix(v, `"#`) {
							t.Fatalf("html: %q may load a resource", tg)
						}
					}
				}
			}
		}
	})
}
