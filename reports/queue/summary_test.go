package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/rules"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func engine(t testing.TB) *rules.Engine {
	t.Helper()
	e, err := rules.Default()
	if err != nil {
		t.Fatalf("rules.Default: %v", err)
	}
	return e
}

// tableClassifier is a fixed Classifier for the golden files. They test
// this package's counting and formatting, and must not change whenever the
// rule set's wording does; the real engine is checked by the semantic
// tests (TestSummaryCorpus, TestSummaryExpected).
type tableClassifier struct{}

var classifierTable = []struct {
	phrase string
	d      rules.Diagnosis
}{
	{"greylist", rules.Diagnosis{Category: "greylisted", Actor: "nobody", Explanation: "Deliberate temporary reject.", Fix: "Nothing to do if a later attempt succeeds."}},
	{"connection refused", rules.Diagnosis{Category: "connection_refused", Actor: "recipient", Explanation: "Nothing listens at the MX.", Fix: "Receiver side for {domain}; the queue retries."}},
	{"initial server greeting", rules.Diagnosis{Category: "connection_lost", Actor: "network or recipient", Explanation: "The session stalled.", Fix: "Check smtp_helo_timeout for {domain}."}},
	{"lost connection", rules.Diagnosis{Category: "connection_lost", Actor: "network or recipient", Explanation: "The session was dropped.", Fix: "Check smtp_*_timeout for {domain}."}},
	{"connection timed out", rules.Diagnosis{Category: "connection_timeout", Actor: "network", Explanation: "TCP connect timed out.", Fix: "Test outbound port 25."}},
	{"name service error", rules.Diagnosis{Category: "dns_lookup_failure", Actor: "us or recipient", Explanation: "DNS lookup failed.", Fix: "dig MX {domain}"}},
	{"mailbox full", rules.Diagnosis{Category: "mailbox_full", Actor: "recipient", Explanation: "Over quota.", Fix: "Nothing to do here."}},
	{"reverse hostname", rules.Diagnosis{Category: "rdns_missing", Actor: "us", Explanation: "No PTR.", Fix: "Set a PTR record."}},
	{"too many connections", rules.Diagnosis{Category: "too_many_connections", Actor: "us", Explanation: "Too many sessions.", Fix: "Lower the concurrency to {domain}."}},
	{"user unknown", rules.Diagnosis{Category: "user_unknown", Actor: "sender", Explanation: "No such mailbox.", Fix: "Remove the address."}},
}

func (tableClassifier) Classify(in rules.Input) rules.Diagnosis {
	low := strings.ToLower(in.Reason)
	for _, r := range classifierTable {
		if strings.Contains(low, r.phrase) {
			d := r.d
			d.Fix = strings.ReplaceAll(d.Fix, "{domain}", in.Domain)
			if in.Status == "deferred" {
				d.Class = rules.Temporary
			}
			return d
		}
	}
	return rules.Diagnosis{Category: rules.Unclassified, Actor: "—"}
}

func summarizeFile(t testing.TB, path string, opts Options) *Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if opts.Classifier == nil {
		opts.Classifier = engine(t)
	}
	rep, err := Summarize(context.Background(), NewReader(f), opts)
	if err != nil {
		t.Fatalf("Summarize(%s): %v", path, err)
	}
	return rep
}

// golden compares got with testdata/golden/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports/queue -update rewrites it)\n--- got ---\n%s", path, got)
	}
}

func renderAll(t *testing.T, base string, rep *Report) {
	t.Helper()
	for _, f := range []struct {
		ext   string
		write func(*bytes.Buffer, *Report) error
	}{
		{"txt", func(b *bytes.Buffer, r *Report) error { return WriteText(b, r) }},
		{"json", func(b *bytes.Buffer, r *Report) error { return WriteJSON(b, r) }},
		{"md", func(b *bytes.Buffer, r *Report) error { return WriteMarkdown(b, r) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b, rep); err != nil {
			t.Fatal(err)
		}
		golden(t, base+"."+f.ext, b.Bytes())
		if f.ext != "json" {
			assertNoControls(t, b.String())
		}
	}
}

// assertNoControls fails if terminal output holds a control character other
// than the newlines between lines.
func assertNoControls(t *testing.T, s string) {
	t.Helper()
	for i, r := range s {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r == 0x2028 || r == 0x2029 {
			t.Fatalf("output holds %U at byte %d: %q", r, i, s[max(0, i-40):min(len(s), i+40)])
		}
	}
}

// corpusNow is ten minutes after the messages of the real runs arrived.
var corpusNow = time.Unix(1796024700, 0).UTC()

func TestSummaryCorpus(t *testing.T) {
	for _, name := range []string{"real-postfix", "real-postfix-longids"} {
		t.Run(name, func(t *testing.T) {
			dir := corpusDir(t, name)
			rep := summarizeFile(t, filepath.Join(dir, "postqueue.json"), Options{Now: corpusNow})
			renderAll(t, name, summarizeFile(t, filepath.Join(dir, "postqueue.json"), Options{Now: corpusNow, Classifier: tableClassifier{}}))
			mq := parseMailq(t, filepath.Join(dir, "postqueue.txt"))
			q := rep.Queues
			if q["active"].Messages != mq.active || q["hold"].Messages != mq.hold ||
				q["deferred"].Messages+q["incoming"].Messages+q["maildrop"].Messages != mq.other {
				t.Errorf("queues = %+v; postqueue -p: active %d, hold %d, other %d", q, mq.active, mq.hold, mq.other)
			}
			if rep.Totals.Messages != mq.requests || uint64(rep.Totals.Bytes)/1024 != mq.kbytes {
				t.Errorf("totals = %+v; postqueue -p: %d Requests, %d Kbytes", rep.Totals, mq.requests, mq.kbytes)
			}
			var bytesSum int64
			for _, c := range q {
				bytesSum += c.Bytes
			}
			if bytesSum != rep.Totals.Bytes {
				t.Errorf("queue bytes add up to %d, total %d", bytesSum, rep.Totals.Bytes)
			}
			n := rep.NoReason
			for _, c := range rep.Categories {
				n += c
			}
			if n != rep.Totals.Recipients {
				t.Errorf("categories + no reason = %d recipients, want %d", n, rep.Totals.Recipients)
			}
			if rep.Ages.Rows[0].Domain != "TOTAL" || rep.Ages.Rows[0].Total != rep.Totals.Recipients {
				t.Errorf("age matrix TOTAL row = %+v", rep.Ages.Rows[0])
			}
			// One recipient without a reason: the message put on hold before
			// its first delivery attempt.
			if rep.NoReason != 1 {
				t.Errorf("recipients without reason = %d, want 1", rep.NoReason)
			}
		})
	}
}

// TestSummaryExpected checks the categories of the queued recipients against
// the scenario table (expected.tsv) written by the same run.
func TestSummaryExpected(t *testing.T) {
	dir := corpusDir(t, "real-postfix")
	want := map[string]string{} // recipient → category
	b, err := os.ReadFile(filepath.Join(dir, "expected.tsv"))
	if err != nil {
		t.Skipf("no expected.tsv: %v", err)
	}
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 4 {
			continue
		}
		want[f[1]] = f[3]
	}
	e := engine(t)
	known := map[string]bool{}
	for _, c := range e.Categories() {
		known[c.ID] = true
	}
	f, err := os.Open(filepath.Join(dir, "postqueue.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	checked := 0
	r := NewReader(f)
	for r.Scan() {
		m := r.Message()
		for _, rc := range m.Recipients {
			if rc.DelayReason == "" {
				continue
			}
			status := ""
			if m.Queue == "deferred" {
				status = "deferred"
			}
			got := e.Classify(rules.Input{Reason: rc.DelayReason, Status: status, Domain: domainOf(rc.Address)}).Category
			w, ok := want[rc.Address]
			if !ok || !known[w] { // "held" is a scenario, not a category
				continue
			}
			checked++
			if got != w {
				t.Errorf("%s: category %s, expected.tsv says %s (%q)", rc.Address, got, w, rc.DelayReason)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d queued recipients checked against expected.tsv", checked)
	}
}

func TestSummaryHostile(t *testing.T) {
	now := time.Unix(1796030000, 0).UTC()
	rep := summarizeFile(t, filepath.Join("testdata", "hostile.jsonl"), Options{Now: now, Classifier: tableClassifier{},
		Filter: Filter{RecipientDomains: []string{"victim.example"}}})
	in := rep.Input
	if in.Lines != 13 || in.Malformed != 3 {
		t.Errorf("lines %d malformed %d, want 13 and 3", in.Lines, in.Malformed)
	}
	var lines []int
	for _, p := range in.Problems {
		lines = append(lines, p.Line)
	}
	if !slices.Equal(lines, []int{6, 8, 12}) {
		t.Errorf("malformed lines %v, want [6 8 12]", lines)
	}
	// Invalid: "D203DC2180\n-d ALL", "ALL", "-", "abcdef12"; "BBBBBB1" is valid hex.
	if in.InvalidIDs != 4 || !slices.Equal(in.InvalidAt, []int{2, 3, 4, 10}) {
		t.Errorf("invalid IDs %d at %v, want 4 at [2 3 4 10]", in.InvalidIDs, in.InvalidAt)
	}
	sel := rep.Selection
	if sel == nil {
		t.Fatal("no selection")
	}
	wantIDs := []string{"9DAF6C2176", "0ED90C2221", "4jdG4m2MZbz5yXn", "CCCCCC2"}
	if strings.Join(sel.IDs, " ") != strings.Join(wantIDs, " ") {
		t.Errorf("selected IDs %q, want %q", sel.IDs, wantIDs)
	}
	if sel.InvalidIDs != 4 || sel.Partial != 1 {
		t.Errorf("selection invalid %d partial %d, want 4 and 1", sel.InvalidIDs, sel.Partial)
	}
	var ids bytes.Buffer
	if err := WriteIDs(&ids, rep); err != nil {
		t.Fatal(err)
	}
	if got := ids.String(); got != strings.Join(wantIDs, "\n")+"\n" {
		t.Errorf("WriteIDs = %q", got)
	}
	if _, ok := rep.Queues["other"]; !ok {
		// "corrupt" is not a queue postqueue lists; it is counted apart.
		if rep.Input.Unknown["corrupt"] != 0 {
			t.Errorf("unknown queue counted without an \"other\" row")
		}
	}
	renderAll(t, "hostile", rep)

	// The JSON form reads back to the same strings.
	var b bytes.Buffer
	WriteJSON(&b, rep)
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("JSON output does not parse: %v", err)
	}
	if back.Selection.Listing[4].Recipients[0].Address != "line1\nline2@victim.example" {
		t.Errorf("JSON lost the raw address: %q", back.Selection.Listing[4].Recipients[0].Address)
	}
}

func TestSummaryAll(t *testing.T) {
	now := time.Unix(1796030000, 0).UTC()
	rep := summarizeFile(t, filepath.Join("testdata", "hostile.jsonl"), Options{Now: now, Classifier: tableClassifier{}})
	if rep.Selection != nil {
		t.Fatal("selection without a filter")
	}
	if rep.Totals.Messages != 10 || rep.Queues["other"].Messages != 1 || rep.Input.Unknown["corrupt"] != 1 {
		t.Errorf("totals %+v other %+v unknown %v", rep.Totals, rep.Queues["other"], rep.Input.Unknown)
	}
	if rep.ForcedExpire != 1 {
		t.Errorf("forced expire = %d, want 1", rep.ForcedExpire)
	}
	renderAll(t, "hostile-all", rep)
}
