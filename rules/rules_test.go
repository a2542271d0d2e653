package rules

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pfdiag/pfdiag/parser"
)

// caseFiles hold every wording test case: each rule must be exercised by at
// least one of them (TestEveryRuleExercised).
var caseFiles = []string{
	"testdata/wordings.tsv",
	"testdata/findings.tsv",
	"testdata/genlog_sample.tsv",
}

func mustDefault(t testing.TB) *Engine {
	t.Helper()
	e, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func readCaseFile(t testing.TB, name string) []Case {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs, err := ReadCases(f, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 {
		t.Fatalf("%s: no cases", name)
	}
	return cs
}

// TestWordings runs every case file; agreement must be complete.
func TestWordings(t *testing.T) {
	e := mustDefault(t)
	for _, name := range caseFiles {
		t.Run(filepath.Base(name), func(t *testing.T) {
			cs := readCaseFile(t, name)
			res := e.Check(cs)
			for _, m := range res.Misses {
				t.Errorf("%s:%d: got %s (rule %q), want %s\n\t%s", name, m.Line, m.Got.Category, m.Got.Rule, m.Want, m.Input.Reason)
			}
			for _, c := range cs {
				var d Diagnosis
				if c.Finding {
					d = e.Finding(c.Severity, c.Input.Daemon, c.Input.Reason)
				} else {
					d = e.Classify(c.Input)
				}
				if strings.Contains(d.Fix, "{{") || strings.Contains(d.Fix, "}}") {
					t.Errorf("%s:%d: rule %s renders template braces: %s", name, c.Line, d.Rule, d.Fix)
				}
			}
			t.Logf("%s: %d/%d agree", name, res.Agreed, res.Total)
		})
	}
}

// TestCaseFilesHaveSources: every wording says where it was seen.
func TestCaseFilesHaveSources(t *testing.T) {
	for _, name := range caseFiles {
		for _, c := range readCaseFile(t, name) {
			if c.Notes == "" {
				t.Errorf("%s:%d: no source column (where the wording was seen)", name, c.Line)
			}
		}
	}
}

// TestEveryRuleExercised: every rule of the default file is the matching
// rule of at least one test case.
func TestEveryRuleExercised(t *testing.T) {
	e := mustDefault(t)
	hit := map[string]int{}
	for _, name := range caseFiles {
		for _, c := range readCaseFile(t, name) {
			d := e.Run(c)
			if d.Category == c.Want {
				hit[d.Rule]++
			}
		}
	}
	for _, c := range realPostfixCases(t, "../testdata/corpus/real-postfix") {
		hit[e.Classify(c.in).Rule]++
	}
	var missing []string
	for _, r := range e.Rules() {
		if hit[r.ID] == 0 {
			missing = append(missing, r.ID+" ("+r.Source+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("rule %s is not exercised by any test case", m)
	}
}

type realCase struct {
	scenario, want string
	line           int
	raw            string
	in             Input
}

// realPostfixCases pairs every expected.tsv row whose status is deferred,
// bounced or expired with the real log lines of that recipient.
func realPostfixCases(t testing.TB, dir string) []realCase {
	t.Helper()
	exp, err := os.ReadFile(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, filepath.Join(dir, "mail.log"))
	var out []realCase
	for _, row := range strings.Split(strings.TrimSpace(string(exp)), "\n")[1:] {
		col := strings.Split(row, "\t")
		scenario, rcpt, status, want := col[0], col[1], col[2], col[3]
		switch status {
		case "deferred", "bounced", "expired":
		default:
			continue // rejected, held, sent: not a delivery failure of the queue
		}
		n := 0
		qids := map[string]bool{}
		for i, l := range lines {
			ev, err := parser.Parse([]byte(l))
			if err != nil || ev.Kind != parser.KindDelivery || string(ev.To) != rcpt {
				continue
			}
			qids[string(ev.QueueID)] = true
			in, ok := InputFromEvent(&ev)
			if !ok || status == "expired" || in.Status != status {
				continue
			}
			out = append(out, realCase{scenario, want, i + 1, l, in})
			n++
		}
		if status == "expired" {
			for i, l := range lines {
				ev, err := parser.Parse([]byte(l))
				if err != nil || ev.Kind != parser.KindExpired || !qids[string(ev.QueueID)] {
					continue
				}
				in, ok := InputFromEvent(&ev)
				if !ok {
					t.Fatalf("%s:%d: expiry line not taken as a failure", dir, i+1)
				}
				out = append(out, realCase{scenario, want, i + 1, l, in})
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: scenario %s: no %s line for %s", dir, scenario, status, rcpt)
		}
	}
	return out
}

func readLines(t testing.TB, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRealPostfix(t *testing.T) {
	e := mustDefault(t)
	for _, dir := range []string{"../testdata/corpus/real-postfix", "../testdata/corpus/real-postfix-longids"} {
		cases := realPostfixCases(t, dir)
		if len(cases) < 30 {
			t.Fatalf("%s: only %d cases", dir, len(cases))
		}
		for _, c := range cases {
			t.Run(filepath.Base(dir)+"/"+c.scenario, func(t *testing.T) {
				d := e.Classify(c.in)
				if d.Category != c.want {
					t.Errorf("%s:%d: got %s (rule %q), want %s\n\t%s", dir, c.line, d.Category, d.Rule, c.want, c.raw)
				}
				if d.Class == "" {
					t.Errorf("%s:%d: no class", dir, c.line)
				}
			})
		}
	}
}

func TestDecisionDetails(t *testing.T) {
	e := mustDefault(t)
	tests := []struct {
		name string
		in   Input
		want Diagnosis // only the non-empty fields are compared
	}{
		{
			name: "suspended keeps the cause; class from status",
			in:   Input{Reason: "delivery temporarily suspended: connect to mx1.example.com[192.0.2.1]:25: Connection timed out", Daemon: "error", Status: "deferred", DSN: "4.4.1"},
			want: Diagnosis{Category: "connection_timeout", Class: Temporary, Actor: "network", Enhanced: "4.4.1"},
		},
		{
			name: "soft_bounce: a 5xx logged as SOFTBOUNCE is temporary",
			in:   Input{Reason: "host mx.example.com[192.0.2.1] said: 550 5.1.1 <a@example.com>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)", Status: "SOFTBOUNCE", DSN: "5.1.1"},
			want: Diagnosis{Category: "user_unknown", Class: Temporary, Code: 550, Enhanced: "5.1.1", Stage: "RCPT TO"},
		},
		{
			name: "5xx greeting logged as deferred is temporary",
			in:   Input{Reason: "host mx.example.com[192.0.2.1] refused to talk to me: 554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org", Status: "deferred", DSN: "5.7.1"},
			want: Diagnosis{Category: "blocklisted_ip", Class: Temporary, Code: 554, Enhanced: "5.7.1", Stage: "greeting"},
		},
		{
			name: "no status: class from dsn",
			in:   Input{Reason: "host mx.example.com[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)"},
			want: Diagnosis{Category: "mailbox_full", Class: Temporary, Code: 452, Enhanced: "4.2.2"},
		},
		{
			name: "unclassified keeps the codes",
			in:   Input{Reason: "host mx.example.com[192.0.2.1] said: 550 5.9.9 Frobnication zork (in reply to MAIL FROM command)", Status: "bounced"},
			want: Diagnosis{Category: Unclassified, Class: Permanent, Code: 550, Enhanced: "5.9.9", Stage: "MAIL FROM"},
		},
		{
			name: "expired status is queue_expired whatever the text",
			in:   Input{Daemon: "qmgr", Status: "expired"},
			want: Diagnosis{Category: "queue_expired", Class: Permanent, Rule: "queue-expired"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.Classify(tt.in)
			check := func(field, got, want string) {
				if want != "" && got != want {
					t.Errorf("%s = %q, want %q", field, got, want)
				}
			}
			check("Category", got.Category, tt.want.Category)
			check("Class", got.Class, tt.want.Class)
			check("Actor", got.Actor, tt.want.Actor)
			check("Rule", got.Rule, tt.want.Rule)
			check("Enhanced", got.Enhanced, tt.want.Enhanced)
			check("Stage", got.Stage, tt.want.Stage)
			if tt.want.Code != 0 && got.Code != tt.want.Code {
				t.Errorf("Code = %d, want %d", got.Code, tt.want.Code)
			}
			if got.Explanation == "" || got.Fix == "" {
				t.Errorf("empty explanation or fix: %+v", got)
			}
		})
	}
}

func TestFixRendering(t *testing.T) {
	e := mustDefault(t)
	tests := []struct {
		name string
		in   Input
		want []string // substrings of the fix
	}{
		{
			name: "PTR for the IP the receiver names",
			in:   Input{Reason: "host mx.example.org[192.0.2.1] said: 550 5.7.1 Client host rejected: cannot find your hostname, [198.51.100.7] (in reply to RCPT TO command)", Status: "bounced"},
			want: []string{"198.51.100.7", "dig -x 198.51.100.7"},
		},
		{
			name: "domain from the name service error",
			in:   Input{Reason: "Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found, try again", Status: "deferred"},
			want: []string{"dig MX example.invalid"},
		},
		{
			name: "recipient domain from the input wins",
			in:   Input{Reason: "connect to mx.example.net[192.0.2.9]:25: Connection timed out", Status: "deferred", Domain: "example.net"},
			want: []string{"nc -vz 192.0.2.9 25"},
		},
		{
			name: "map file from the warning",
			in:   Input{Reason: "database /etc/postfix/sasl_passwd.db is older than source file /etc/postfix/sasl_passwd"},
			want: []string{"postmap /etc/postfix/sasl_passwd"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Diagnosis
			if strings.Contains(tt.in.Reason, "older than source") {
				d = e.Finding("warning", "smtp", tt.in.Reason)
			} else {
				d = e.Classify(tt.in)
			}
			for _, w := range tt.want {
				if !strings.Contains(d.Fix, w) {
					t.Errorf("fix %q does not contain %q", d.Fix, w)
				}
			}
		})
	}
}

// TestCacheRendersPerInput: two texts with the same normalised key share a
// diagnosis but each gets its own values in the fix.
func TestCacheRendersPerInput(t *testing.T) {
	e := mustDefault(t)
	a := e.Classify(Input{Reason: "host a.example[192.0.2.1] said: 550 5.7.1 Client host rejected: cannot find your hostname, [198.51.100.1] (in reply to RCPT TO command)"})
	b := e.Classify(Input{Reason: "host b.example[192.0.2.2] said: 550 5.7.1 Client host rejected: cannot find your hostname, [198.51.100.2] (in reply to RCPT TO command)"})
	if a.Category != b.Category || a.Rule != b.Rule {
		t.Fatalf("same key, different diagnosis: %v / %v", a, b)
	}
	if !strings.Contains(a.Fix, "198.51.100.1") || !strings.Contains(b.Fix, "198.51.100.2") {
		t.Errorf("fix not rendered per input:\n%s\n%s", a.Fix, b.Fix)
	}
	if n := e.cached(); n != 1 {
		t.Errorf("cache has %d entries, want 1", n)
	}
}

func TestConcurrentClassify(t *testing.T) {
	e := mustDefault(t)
	cs := readCaseFile(t, "testdata/genlog_sample.tsv")
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				for _, c := range cs {
					if d := e.Run(c); d.Category != c.Want {
						t.Errorf("line %d: got %s want %s", c.Line, d.Category, c.Want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

func TestNormalise(t *testing.T) {
	tests := []struct{ in, want string }{
		{"host mx.example.com[192.0.2.1] said: 550 5.1.1 <john@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
			"host [] said: 550 5.1.1 <>: recipient address rejected: user unknown (in reply to rcpt to command)"},
		{"host gmail-smtp-in.l.google.com[142.250.1.27] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-72ad0e2b0b5si1234567b3a.321 - gsmtp (in reply to RCPT TO command)",
			"host [] said: 550 5.1.1 the email account that you tried to reach does not exist. please try double-checking the recipient's email address for typos or unnecessary spaces. for more information, go to https://support.google.com/mail/?p=nosuchuser #-#.# - gsmtp (in reply to rcpt to command)"},
		{"Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again",
			"host or domain name not found. name service error for name=# type=mx: host not found, try again"},
		{"421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred",
			"421 4.7.0 [tss04] messages from #ip temporarily deferred"},
		{"connect to mx.example.com[2001:db8::1]:25: Network is unreachable",
			"connect to []:25: network is unreachable"},
		{"SPF fail - see http://www.openspf.net/Why?s=mfrom;id=user@example.org;ip=192.0.2.7;r=<UNKNOWN>",
			"spf fail - see http://www.openspf.net/why?s=mfrom;id=#@;ip=#ip;r=<unknown>"},
		{"queue file 4jdG030C8zz5ygf size 123456",
			"queue file # size #"},
		{"\x00\x01weird\xff  text\t", "weird\xff text"},
	}
	for _, tt := range tests {
		var f facts
		got := string(normalise(nil, tt.in, &f))
		if got != tt.want {
			t.Errorf("normalise(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestStage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"host x[192.0.2.1] said: 550 no (in reply to RCPT TO command)", "RCPT TO"},
		{"host x[192.0.2.1] said: 550 no (in reply to end of DATA command)", "end of DATA"},
		{"host x[192.0.2.1] refused to talk to me: 421 busy", "greeting"},
		{"conversation with x[192.0.2.1] timed out while receiving the initial server greeting", "greeting"},
		{"lost connection with x[192.0.2.1] while sending end of data -- message may be sent more than once", "end of DATA"},
		{"lost connection with x[192.0.2.1] while performing the EHLO handshake", "EHLO"},
		{"connect to x[192.0.2.1]:25: Connection refused", ""},
	}
	e := mustDefault(t)
	for _, tt := range tests {
		if got := e.Classify(Input{Reason: tt.in}).Stage; got != tt.want {
			t.Errorf("Stage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestClassOf(t *testing.T) {
	tests := []struct {
		status, dsn, enh string
		code             int
		want             string
	}{
		{"deferred", "5.7.1", "", 554, Temporary},
		{"SOFTBOUNCE", "5.1.1", "", 550, Temporary},
		{"bounced", "4.4.1", "", 0, Permanent},
		{"expired", "", "", 0, Permanent},
		{"force-expired", "", "", 0, Permanent},
		{"undeliverable", "", "", 0, Permanent},
		{"", "4.2.2", "", 0, Temporary},
		{"", "", "5.1.1", 0, Permanent},
		{"", "", "", 421, Temporary},
		{"", "", "", 0, ""},
	}
	for _, tt := range tests {
		if got := classOf(tt.status, tt.dsn, tt.enh, tt.code); got != tt.want {
			t.Errorf("classOf(%q,%q,%q,%d) = %q, want %q", tt.status, tt.dsn, tt.enh, tt.code, got, tt.want)
		}
	}
}

func TestEnhancedAndCodeMatch(t *testing.T) {
	pats := func(s ...string) [][]string {
		var out [][]string
		for _, p := range s {
			out = append(out, strings.Split(p, "."))
		}
		return out
	}
	tests := []struct {
		pats []string
		code string
		want bool
	}{
		{[]string{"5.7.1"}, "5.7.1", true},
		{[]string{"5.7.1"}, "5.7.13", false},
		{[]string{"5.7"}, "5.7.13", true},
		{[]string{"x.7.1"}, "4.7.1", true},
		{[]string{"x.1.1"}, "5.1.10", false},
		{[]string{"5.7.1"}, "", false},
	}
	for _, tt := range tests {
		if got := enhancedMatch(pats(tt.pats...), tt.code); got != tt.want {
			t.Errorf("enhancedMatch(%v, %q) = %v", tt.pats, tt.code, got)
		}
	}
	if !codeMatch([]string{"5xx"}, 554) || codeMatch([]string{"45x"}, 421) || !codeMatch([]string{"421"}, 421) || codeMatch([]string{"5xx"}, 0) {
		t.Error("codeMatch")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax", "rules:\n  - id: a\n   category: x\n", "bad.yaml:1: did not find expected"},
		{"unknown field", "rules:\n  - id: a\n    category: user_unknown\n    colour: red\n", "bad.yaml:4: unknown rule field \"colour\""},
		{"unknown category", "rules:\n  - id: a\n    category: nope\n    any: [x]\n", "bad.yaml:3: rule \"a\": unknown category \"nope\""},
		{"bad regexp", "rules:\n  - id: a\n    category: user_unknown\n    regexp: 'a('\n", "bad.yaml:4: regexp: "},
		{"bad code", "rules:\n  - id: a\n    category: user_unknown\n    code: 5000\n", "bad.yaml:4: code \"5000\""},
		{"masked phrase", "rules:\n  - id: a\n    category: user_unknown\n    any: [\"from 192.0.2.1\"]\n", "bad.yaml:4: phrase \"from 192.0.2.1\": contains text that is masked"},
		{"bad template", "rules:\n  - id: a\n    category: user_unknown\n    any: [x]\n    fix: \"{{.Nope}}\"\n", "bad.yaml:2: rule \"a\": fix: template field \"Nope\""},
		{"finding category in rules", "rules:\n  - id: a\n    category: map_outdated\n", "bad.yaml:3: rule \"a\": category \"map_outdated\" is a finding"},
		{"duplicate id", "rules:\n  - id: a\n    category: user_unknown\n  - id: a\n    category: user_unknown\n", "bad.yaml:4: rule \"a\" defined twice"},
		{"disable unknown", "rules:\n  - id: nope\n    disabled: true\n", "bad.yaml:2: rule \"nope\": disabled, but no such rule"},
		{"bad actor", "rules:\n  - id: a\n    category: user_unknown\n    actor: martians\n", "bad.yaml:4: actor \"martians\""},
		{"bad section", "stuff: []\n", "bad.yaml:1: unknown section \"stuff\""},
		{"bad stage", "rules:\n  - id: a\n    category: user_unknown\n    stage: [\"during lunch\"]\n", "bad.yaml:4: stage"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "bad.yaml")
			if err := os.WriteFile(p, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := New(p)
			if err == nil {
				t.Fatal("no error")
			}
			want := filepath.Join(dir, tt.want)
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want prefix %q", err, want)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
		})
	}
	if _, err := New(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestUserRules(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "site.yaml")
	const y = `
categories:
  - id: site_quirk
    actor: recipient
    explanation: Our partner's gateway says this when it is being rebooted.
    fix: Wait.
rules:
  # a new rule in a new category
  - id: partner-reboot
    category: site_quirk
    priority: 950
    any: ["frobnicator offline"]
  # override: greylisting counts as rate limiting here
  - id: greylisting
    category: rate_limited
    priority: 690
    any: ["greylisted"]
  # remove a default rule
  - id: temporary-lookup-failure
    disabled: true
`
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ reason, want string }{
		{"host gw.partner.example[192.0.2.1] said: 451 frobnicator offline (in reply to RCPT TO command)", "site_quirk"},
		{"host mx.example.com[192.0.2.1] said: 450 4.2.0 <a@b.example>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/b.example.html (in reply to RCPT TO command)", "rate_limited"},
	}
	for _, tt := range tests {
		if got := e.Classify(Input{Reason: tt.reason}); got.Category != tt.want {
			t.Errorf("%q: got %s (%s), want %s", tt.reason, got.Category, got.Rule, tt.want)
		}
	}
	// The disabled rule no longer decides; the enhanced code does.
	if got := e.Classify(Input{Reason: "host mx.example.com[192.0.2.1] said: 451 4.3.0 <a@b.example>: Temporary lookup failure (in reply to RCPT TO command)"}); got.Rule == "temporary-lookup-failure" {
		t.Errorf("disabled rule matched: %+v", got)
	}
	for _, r := range e.Rules() {
		if r.ID == "temporary-lookup-failure" {
			t.Error("disabled rule still listed")
		}
		if r.ID == "partner-reboot" && !strings.HasPrefix(r.Source, p+":") {
			t.Errorf("source %q", r.Source)
		}
	}
}

func TestFindingsFallback(t *testing.T) {
	e := mustDefault(t)
	if d := e.Finding("warning", "smtpd", "something nobody has seen before"); d.Category != "other_warning" {
		t.Errorf("got %s", d.Category)
	}
	if d := e.Finding("fatal", "master", "something nobody has seen before"); d.Category != "process_crash" {
		t.Errorf("got %s", d.Category)
	}
}

// TestCategoryAgreesWithClassify: Category is Classify's category, on a
// cold engine, from its caches (second and third calls), and whichever of
// the two is called first.
func TestCategoryAgreesWithClassify(t *testing.T) {
	ref := mustDefault(t)
	first, second := mustDefault(t), mustDefault(t)
	for _, c := range readCaseFile(t, "testdata/wordings.tsv") {
		if c.Finding {
			continue
		}
		want := ref.Classify(c.Input).Category
		t.Run(itoa(c.Line), func(t *testing.T) {
			for i := 0; i < 3; i++ {
				if got := first.Category(c.Input); got != want {
					t.Errorf("call %d: Category = %q, Classify says %q (%q)", i+1, got, want, c.Input.Reason)
				}
			}
			second.Classify(c.Input)
			if got := second.Category(c.Input); got != want {
				t.Errorf("after Classify: Category = %q, want %q (%q)", got, want, c.Input.Reason)
			}
		})
	}
}

// TestNestedTemplateRefused: a fallback is printed as it is, so a rule
// whose fallback holds another reference is refused at load time.
func TestNestedTemplateRefused(t *testing.T) {
	if _, err := parseTemplate("postmap {{.db|{{.map|<table>}}}}", []string{"db", "map"}); err == nil {
		t.Fatal("nested template accepted")
	}
	if _, err := parseTemplate("postmap {{.db|<table>}} and {{.map|}}", []string{"db", "map"}); err != nil {
		t.Fatal(err)
	}
}
