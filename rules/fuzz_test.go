package rules

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzClassify feeds arbitrary reasons and context to Classify and Finding:
// they must never panic, always return a known category, and agree with
// themselves on a second (cached) call. Seeds: testdata/fuzz/FuzzClassify.
func FuzzClassify(f *testing.F) {
	f.Add("host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)", "smtp", "bounced", "5.1.1", "mx.example.com[192.0.2.1]:25", "example.com")
	f.Add("delivery temporarily suspended: connect to mx[192.0.2.1]:25: Connection timed out", "error", "deferred", "4.4.1", "none", "")
	f.Add("550-5.7.1 [192.0.2.7 12] a 550-5.7.1 b 550 5.7.1 c", "", "", "", "", "")
	f.Add("<<<[[[@@@===name=", "", "SOFTBOUNCE", "9.9.9", "[", "@")
	e, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	cats := map[string]bool{}
	for _, c := range e.Categories() {
		cats[c.ID] = true
	}
	f.Fuzz(func(t *testing.T, reason, daemon, status, dsn, relay, domain string) {
		in := Input{Reason: reason, Daemon: daemon, Status: status, DSN: dsn, Relay: relay, Domain: domain}
		d := e.Classify(in)
		if !cats[d.Category] {
			t.Fatalf("unknown category %q for %q", d.Category, reason)
		}
		if d.Category != Unclassified && d.Rule == "" {
			t.Fatalf("category %q without a rule", d.Category)
		}
		if d.Class != "" && d.Class != Temporary && d.Class != Permanent {
			t.Fatalf("class %q", d.Class)
		}
		if d.Code != 0 && (d.Code < 200 || d.Code > 599) {
			t.Fatalf("code %d", d.Code)
		}
		if utf8.ValidString(reason) && !utf8.ValidString(d.Stage) {
			t.Fatalf("stage %q", d.Stage)
		}
		if again := e.Classify(in); again != d {
			t.Fatalf("second call differs:\n%+v\n%+v", d, again)
		}
		for i := 0; i < 2; i++ {
			if c := e.Category(in); c != d.Category {
				t.Fatalf("Category = %q, Classify says %q", c, d.Category)
			}
		}
		fd := e.Finding(status, daemon, reason)
		if !cats[fd.Category] || fd.Category == Unclassified {
			t.Fatalf("finding category %q", fd.Category)
		}
		for _, finding := range []bool{false, true} {
			if fast, plain := matchBoth(e, in, finding); fast != plain {
				t.Fatalf("finding=%v: prefiltered matcher chose %q, the plain loop %q", finding, fast, plain)
			}
		}
		checkNormalise(t, reason)
		var fa facts
		if n := normalise(nil, reason, &fa); len(n) > 3*len(reason)+8 {
			t.Fatalf("normalised text grew: %d -> %d", len(reason), len(n))
		}
		_ = strings.TrimSpace(d.Fix)
	})
}
