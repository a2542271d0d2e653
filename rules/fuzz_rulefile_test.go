package rules

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzRuleFile feeds arbitrary bytes as a --rules file (loaded over the
// default rules, as New does; TestLoadErrors covers New's file reading). A rule file is
// text an admin writes (or copies from a forum): it must never crash
// pfdiag. Either it is refused with an error that names the file (a
// *ParseError, "file:line: reason") or the engine it makes classifies
// text into one of its own categories. Seeds: the TestLoadErrors cases,
// a valid site file and testdata/fuzz/FuzzRuleFile.
func FuzzRuleFile(f *testing.F) {
	for _, s := range []string{
		"",
		"rules:\n  - id: a\n   category: x\n",
		"rules:\n  - id: a\n    category: user_unknown\n    colour: red\n",
		"rules:\n  - id: a\n    category: user_unknown\n    regexp: 'a('\n",
		"rules:\n  - id: a\n    category: user_unknown\n    any: [x]\n    fix: \"{{.Nope}}\"\n",
		"rules:\n  - id: a\n    category: user_unknown\n    code: 5000\n",
		"rules:\n  - id: spf-550-gmail\n    disabled: true\n",
		"categories:\n  - id: site_quirk\n    actor: recipient\n    explanation: Rebooting.\n    fix: Wait.\n" +
			"rules:\n  - id: site-quirk\n    category: site_quirk\n    priority: 900\n    status: [deferred]\n    code: [\"4xx\"]\n" +
			"    any: [\"gateway is rebooting\"]\n    relay: [partner.example]\n    fix: \"Wait for {{.Domain}}.\"\n",
		"rules: &a [*a]\n",
		"\xff\xfe\x00rules:\n",
	} {
		f.Add([]byte(s))
	}
	// The default rules are loaded once: New would parse them again for
	// every input, and the fuzzer would spend its time there.
	base := newLoader()
	if err := base.load(DefaultFile, defaultRules); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const p = "site.yaml"
		l := &loader{cats: maps.Clone(base.cats), catOrder: slices.Clone(base.catOrder),
			rules: slices.Clone(base.rules), byID: maps.Clone(base.byID), removed: maps.Clone(base.removed)}
		err := l.load(p, data)
		var e *Engine
		if err == nil {
			e, err = l.engine()
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), p) && !strings.HasPrefix(err.Error(), DefaultFile) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if strings.ContainsAny(err.Error(), "\n") && !strings.HasPrefix(err.Error(), p+":") {
				t.Fatalf("multi-line error without a position: %q", err)
			}
			return
		}
		cats := map[string]bool{}
		for _, c := range e.Categories() {
			cats[c.ID] = true
		}
		for _, in := range []Input{
			{Reason: "host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)", Daemon: "smtp", Status: "bounced", DSN: "5.1.1", Relay: "mx.example.com[192.0.2.1]:25", Domain: "example.com"},
			{Reason: string(data), Daemon: "smtp", Status: "deferred", DSN: "4.0.0"},
		} {
			if d := e.Classify(in); !cats[d.Category] {
				t.Fatalf("category %q is not one of the engine's", d.Category)
			}
		}
		if d := e.Finding("warning", "smtpd", string(data)); d.Category != "" && !cats[d.Category] {
			t.Fatalf("finding category %q is not one of the engine's", d.Category)
		}
	})
}
