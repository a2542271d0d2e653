package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// firstPlain is the matcher without the prefilter: every rule, in order.
func firstPlain(m *matchState, list []*compiled) *compiled {
	for _, r := range list {
		if m.matches(r) {
			return r
		}
	}
	return nil
}

// matchBoth runs the prefiltered and the plain matcher on one input and
// returns the ids of the rules they chose ("" for none).
func matchBoth(e *Engine, in Input, finding bool) (fast, plain string) {
	var f facts
	key := e.key(nil, &in, &f)
	f.norm = string(key[:f.textEnd])
	list, pf := e.rules, &e.preRules
	if finding {
		list, pf = e.findings, &e.preFinds
	}
	id := func(r *compiled) string {
		if r == nil {
			return ""
		}
		return r.ID
	}
	var d1, d2 Diagnosis
	f1, f2 := f, f
	m1 := e.matcher(&in, &f1, &d1, finding)
	m2 := e.matcher(&in, &f2, &d2, finding)
	return id(m1.first(list, pf)), id(firstPlain(&m2, list))
}

// TestPrefilterAgrees: the prefiltered matcher chooses the rule the plain
// loop over every rule chooses, on every wording case, every failure text
// of the benchmark log when there is one, and with a user rule file whose
// rules need no phrase, all: phrases only, and more than 64 rules.
func TestPrefilterAgrees(t *testing.T) {
	var ins []Case
	for _, name := range caseFiles {
		ins = append(ins, readCaseFile(t, name)...)
	}
	site := filepath.Join(t.TempDir(), "site.yaml")
	yaml := "rules:\n"
	for i := 0; i < 70; i++ {
		yaml += "  - id: site-" + itoa(i) + "\n    category: user_unknown\n    priority: " + itoa(2000-i) + "\n"
		switch i % 3 {
		case 0:
			yaml += "    all: [\"no such\", \"mailbox x" + itoa(i) + "\"]\n"
		case 1:
			yaml += "    any: [\"zzz" + itoa(i) + "\", \"quota y" + itoa(i) + "\"]\n"
		case 2:
			yaml += "    code: \"59" + itoa(i%10) + "\"\n    none: [\"user unknown\"]\n"
		}
	}
	if err := os.WriteFile(site, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	siteEngine, err := New(site)
	if err != nil {
		t.Fatal(err)
	}
	extra := []Input{
		{Reason: "host x[192.0.2.1] said: 550 no such mailbox x0 here", Daemon: "smtp", Status: "bounced"},
		{Reason: "host x[192.0.2.1] said: 550 no such mailbox x3", Daemon: "smtp", Status: "bounced"},
		{Reason: "host x[192.0.2.1] said: 452 quota y4 exceeded", Daemon: "smtp", Status: "deferred"},
		{Reason: "host x[192.0.2.1] said: 592 go away", Daemon: "smtp", Status: "bounced"},
		{Reason: "host x[192.0.2.1] said: 592 user unknown", Daemon: "smtp", Status: "bounced"},
	}
	for name, e := range map[string]*Engine{"default": mustDefault(t), "site": siteEngine} {
		t.Run(name, func(t *testing.T) {
			n := 0
			check := func(in Input, finding bool) {
				t.Helper()
				n++
				if fast, plain := matchBoth(e, in, finding); fast != plain {
					t.Errorf("%q (%s %s): prefiltered %q, plain %q", in.Reason, in.Daemon, in.Status, fast, plain)
				}
			}
			for _, c := range ins {
				in := c.Input
				if c.Finding {
					in.Status = c.Severity
				}
				check(in, c.Finding)
			}
			for _, in := range extra {
				check(in, false)
			}
			if log, ok := failureInputs(t); ok {
				for _, in := range log {
					check(in, false)
				}
			} else {
				t.Log("no benchmark log (" + defaultBenchLog + "): wording cases only")
			}
			t.Logf("%d inputs agree", n)
		})
	}
}
