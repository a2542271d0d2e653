package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/badgerindex"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
	"github.com/pfdiag/pfdiag/rules"
)

// deferredListing returns n deferred messages and h held ones, with the
// given delay reason, as postqueue -j writes them.
func deferredListing(n, h int, reason string) string {
	var b strings.Builder
	for i := 0; i < n+h; i++ {
		q := "deferred"
		if i >= n {
			q = "hold"
		}
		fmt.Fprintf(&b, `{"queue_name": %q, "queue_id": "%05X%X", "arrival_time": 1796024035, "message_size": 1000, "forced_expire": false, "sender": "s@example.com", "recipients": [{"address": "r%d@example.net", "delay_reason": %q}]}`+"\n",
			q, i, 0x10000+i, i, reason)
	}
	return b.String()
}

const refused = "connect to mx.example.net[192.0.2.1]:25: Connection refused"
const blocked = "host mx.example.net[192.0.2.1] said: 554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org (in reply to RCPT TO command)"

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		in   string
		args []string
		code int
		line string // the whole stdout
	}{
		{"ok", deferredListing(12, 2, refused), nil, 0,
			"PFDIAG OK - 12 deferred | deferred=12;500;1000 hold=2 active=0 incoming=0 maildrop=0 bytes=14000B\n"},
		{"empty queue", "", nil, 0,
			"PFDIAG OK - 0 deferred | deferred=0;500;1000 hold=0 active=0 incoming=0 maildrop=0 bytes=0B\n"},
		{"warning", deferredListing(612, 0, refused), nil, 1,
			"PFDIAG WARNING - 612 deferred (warning > 500) | deferred=612;500;1000 hold=0 active=0 incoming=0 maildrop=0 bytes=612000B\n"},
		{"boundary is not an alert", deferredListing(500, 0, refused), nil, 0,
			"PFDIAG OK - 500 deferred | deferred=500;500;1000 hold=0 active=0 incoming=0 maildrop=0 bytes=500000B\n"},
		{"critical", deferredListing(1001, 0, refused), nil, 2,
			"PFDIAG CRITICAL - 1001 deferred (critical > 1000) | deferred=1001;500;1000 hold=0 active=0 incoming=0 maildrop=0 bytes=1001000B\n"},
		{"custom thresholds and hold", deferredListing(3, 4, refused), []string{"--deferred-warn", "2", "--deferred-crit", "10", "--hold-crit", "3"}, 2,
			"PFDIAG CRITICAL - 3 deferred (warning > 2), 4 hold (critical > 3) | deferred=3;2;10 hold=4;;3 active=0 incoming=0 maildrop=0 bytes=7000B\n"},
		{"thresholds off", deferredListing(3000, 0, refused), []string{"--deferred-warn", "", "--deferred-crit", ""}, 0,
			"PFDIAG OK - 3000 deferred | deferred=3000 hold=0 active=0 incoming=0 maildrop=0 bytes=3000000B\n"},
		{"inside range", deferredListing(0, 0, refused), []string{"--deferred-crit", "@0:0"}, 2,
			"PFDIAG CRITICAL - 0 deferred (critical in 0..0) | deferred=0;500;@0:0 hold=0 active=0 incoming=0 maildrop=0 bytes=0B\n"},
		{"queued category", deferredListing(2, 0, blocked), []string{"--queue-category-warn", "blocklisted_ip=0", "--queue-category-crit", "blocklisted_ip=5"}, 1,
			"PFDIAG WARNING - 2 queued blocklisted_ip (warning > 0) | deferred=2;500;1000 hold=0 queue_blocklisted_ip=2;0;5 active=0 incoming=0 maildrop=0 bytes=2000B\n"},
		{"queued category absent", deferredListing(2, 0, refused), []string{"--queue-category-warn", "blocklisted_ip=0"}, 0,
			"PFDIAG OK - 2 deferred | deferred=2;500;1000 hold=0 queue_blocklisted_ip=0;0; active=0 incoming=0 maildrop=0 bytes=2000B\n"},
		{"malformed lines are noted", "garbage\n" + deferredListing(1, 0, refused), nil, 0,
			"PFDIAG OK - 1 deferred; 1 malformed lines | deferred=1;500;1000 hold=0 active=0 incoming=0 maildrop=0 bytes=1000B malformed=1\n"},
		{"nothing but garbage", "garbage\n{\n", nil, 3,
			"PFDIAG UNKNOWN - stdin: no postqueue -j object in 2 lines\n"},
		{"bad range", "", []string{"--deferred-warn", "ten"}, 3,
			"PFDIAG UNKNOWN - bad arguments: deferred warning threshold: range \"ten\": \"ten\" is not a number\n"},
		{"bad flag", "", []string{"--nope"}, 3,
			"PFDIAG UNKNOWN - bad arguments: unknown flag: --nope\n"},
		{"unknown category", "", []string{"--queue-category-warn", "blocklist=1"}, 3,
			""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"check"}, tt.args...), "-")
			code, out, errs := runCmd(t, tt.in, args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
			if tt.line != "" && out != tt.line {
				t.Errorf("stdout\n got %q\nwant %q", out, tt.line)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, "PFDIAG ") {
				t.Errorf("not one status line: %q", out)
			}
			if errs != "" {
				t.Errorf("stderr %q, want nothing", errs)
			}
		})
	}
}

func TestCheckUnknown(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCmd(t, "", "check", "--postqueue", filepath.Join(dir, "nonexistent"))
	if code != 3 || !strings.HasPrefix(out, "PFDIAG UNKNOWN - cannot read the queue: --postqueue ") {
		t.Errorf("missing postqueue: exit %d, %q", code, out)
	}
	pq, _ := fakePostqueue(t, "", true)
	code, out, _ = runCmd(t, "", "check", "--postqueue", pq)
	if code != 3 || !strings.Contains(out, "mail system is down") || strings.Count(out, "\n") != 1 {
		t.Errorf("postqueue failing: exit %d, %q", code, out)
	}
	code, out, _ = runCmd(t, "", "check", filepath.Join(dir, "nonexistent.json"))
	if code != 3 || !strings.HasPrefix(out, "PFDIAG UNKNOWN - cannot read the queue: ") {
		t.Errorf("missing file: exit %d, %q", code, out)
	}
	// A real listing through the fake postqueue: OK, 12 deferred.
	b, err := os.ReadFile(realQueue(t, "real-postfix"))
	if err != nil {
		t.Fatal(err)
	}
	pq, _ = fakePostqueue(t, string(b), false)
	code, out, errs := runCmd(t, "", "check", "--postqueue", pq, "--deferred-warn", "10")
	if code != 1 || !strings.HasPrefix(out, "PFDIAG WARNING - 12 deferred (warning > 10) | deferred=12;10;1000 hold=2 ") || errs != "" {
		t.Errorf("real listing: exit %d, %q, stderr %q", code, out, errs)
	}
}

func TestNagiosRange(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		raw     string
		alertAt []float64
		quietAt []float64
		bad     bool
	}{
		{"10", []float64{-1, 10.5, 11, inf}, []float64{0, 5, 10}, false},
		{"10:", []float64{-5, 9.9}, []float64{10, 1e9}, false},
		{"~:10", []float64{10.1, 1e9}, []float64{-1e9, 0, 10}, false},
		{"10:20", []float64{9, 21}, []float64{10, 15, 20}, false},
		{"@10:20", []float64{10, 15, 20}, []float64{9, 21}, false},
		{":5", []float64{6, -1}, []float64{0, 5}, false},
		{"", nil, []float64{-1e9, 0, 1e9}, false},
		{"20:10", nil, nil, true},
		{"x", nil, nil, true},
		{"1:x", nil, nil, true},
		{"@", nil, nil, true},
		{"NaN", nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			r, err := parseRange(tt.raw)
			if (err != nil) != tt.bad {
				t.Fatalf("parseRange(%q) error %v, want bad=%v", tt.raw, err, tt.bad)
			}
			for _, v := range tt.alertAt {
				if !r.alert(v) {
					t.Errorf("%q does not alert at %v", tt.raw, v)
				}
			}
			for _, v := range tt.quietAt {
				if r.alert(v) {
					t.Errorf("%q alerts at %v", tt.raw, v)
				}
			}
		})
	}
}

func TestPerfLabel(t *testing.T) {
	for in, want := range map[string]string{
		"deferred":             "deferred",
		"queue_blocklisted_ip": "queue_blocklisted_ip",
		"a b":                  "'a b'",
		"x='y":                 "'xy'",
	} {
		if got := perfLabel(in); got != want {
			t.Errorf("perfLabel(%q) = %s, want %s", in, got, want)
		}
	}
}

// ingestReal reads a real mail.log into an in-memory index through the
// correlator, classified by the default rules.
func ingestReal(t *testing.T, name string) correlate.Index {
	t.Helper()
	idx := memindex.New()
	ingestInto(t, idx, name)
	return idx
}

// ingestInto reads testdata/corpus/NAME/mail.log into idx, with the
// checkpoint time 2026-11-30 08:00 UTC.
func ingestInto(t *testing.T, idx correlate.Index, name string) {
	t.Helper()
	dir := filepath.Dir(realQueue(t, name))
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in, err := correlate.NewIngester(ctx, idx, correlate.IngestOptions{
		Correlator: correlate.Options{Classify: func(reason, daemon, status, dsn, relay, domain string) string {
			return eng.Classify(rules.Input{Reason: reason, Daemon: daemon, Status: status, DSN: dsn, Relay: relay, Domain: domain}).Category
		}},
		Parse: parser.Options{Year: 2026, Loc: time.UTC},
		Now:   func() time.Time { return time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := input.Open(filepath.Join(dir, "mail.log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := in.Read(ctx, f); err != nil {
		t.Fatal(err)
	}
}

// TestCollectWindowReal counts the outcomes of the real run and compares
// them with the run's own table of what each scenario ended as.
func TestCollectWindowReal(t *testing.T) {
	idx := ingestReal(t, "real-postfix")
	exp, err := os.ReadFile(filepath.Join(filepath.Dir(realQueue(t, "real-postfix")), "expected.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}    // final status → recipients
	wantCat := map[string]int{} // category of bounced/expired recipients
	for i, line := range strings.Split(strings.TrimSpace(string(exp)), "\n") {
		f := strings.Split(line, "\t")
		if i == 0 || len(f) < 4 {
			continue
		}
		want[f[2]]++
		if f[2] == "bounced" || f[2] == "expired" {
			wantCat[f[3]]++
		}
	}
	ctx := context.Background()
	all, err := collectWindow(ctx, idx, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if all.bounced != want["bounced"] || all.expired != want["expired"] {
		t.Errorf("bounced %d expired %d; expected.tsv: %d and %d", all.bounced, all.expired, want["bounced"], want["expired"])
	}
	// Every scenario that was sent, plus the notifications Postfix sent to
	// the local sender (bounces, delay warnings), which are deliveries too.
	if all.sent < want["sent"] {
		t.Errorf("sent %d, expected.tsv alone has %d", all.sent, want["sent"])
	}
	if all.deferred < want["deferred"] {
		t.Errorf("deferrals %d, fewer than the %d deferred recipients", all.deferred, want["deferred"])
	}
	for cat, n := range wantCat {
		if all.categories[cat] < n {
			t.Errorf("category %s: %d failures, expected.tsv has %d bounced/expired recipients in it", cat, all.categories[cat], n)
		}
	}
	// A window is a window: nothing before the run, nothing after it.
	none, err := collectWindow(ctx, idx, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if none.sent+none.deferred+none.bounced+none.expired != 0 {
		t.Errorf("window after the run counts %+v", none)
	}
	// Split the run at a minute boundary: the halves add up to the whole.
	mid := time.Date(2026, 11, 30, 7, 34, 0, 0, time.UTC)
	a, _ := collectWindow(ctx, idx, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), mid)
	b, _ := collectWindow(ctx, idx, mid, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if a.sent+b.sent != all.sent || a.bounced+b.bounced != all.bounced || a.deferred+b.deferred != all.deferred {
		t.Errorf("halves %+v + %+v != whole %+v", a, b, all)
	}
	t.Logf("whole run: sent %d deferred %d bounced %d expired %d, bounce rate %.1f%%, categories %v",
		all.sent, all.deferred, all.bounced, all.expired, all.bounceRate(), all.categories)
}

func TestWindowCheck(t *testing.T) {
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	idx := ingestReal(t, "real-postfix")
	// The run logged 07:33:55 to 07:34:41 UTC; its checkpoint is 08:00.
	at := func(h, m int) time.Time { return time.Date(2026, 11, 30, h, m, 0, 0, time.UTC) }
	tests := []struct {
		name          string
		now           time.Time
		window        string
		bw, bc        string
		minFinal      int
		cw, cc        []string
		state         int
		summary, perf string
		alerts, notes string
	}{
		{"quiet thresholds", at(7, 40), "15m", "50", "60", 10, nil, nil, stateOK,
			"bounce rate 35.6% of 45 in 15m",
			"bounce_rate=35.6%;50;60 sent=29 bounced=14 expired=2 deferrals=49", "", ""},
		{"bounce rate critical", at(7, 40), "15m", "10", "20", 10, nil, nil, stateCritical,
			"bounce rate 35.6% of 45 in 15m",
			"bounce_rate=35.6%;10;20 sent=29 bounced=14 expired=2 deferrals=49", "bounce rate 35.6% in 15m (critical > 20)", ""},
		{"too few deliveries to rate", at(7, 40), "15m", "10", "20", 100, nil, nil, stateOK,
			"bounce rate 35.6% of 45 in 15m",
			"bounce_rate=35.6%;10;20 sent=29 bounced=14 expired=2 deferrals=49", "", "bounce rate not rated below 100 deliveries"},
		{"categories", at(7, 40), "15m", "", "", 10, []string{"blocklisted_ip=0", "greylisted=20"}, []string{"blocklisted_ip=5"}, stateWarning,
			"bounce rate 35.6% of 45 in 15m",
			"bounce_rate=35.6% sent=29 bounced=14 expired=2 deferrals=49 window_blocklisted_ip=1;0;5 window_greylisted=10;20;",
			"1 blocklisted_ip in 15m (warning > 0)", ""},
		{"window before the run", at(7, 33), "1m", "10", "20", 0, nil, nil, stateOK,
			"bounce rate 0% of 0 in 1m",
			"bounce_rate=0%;10;20 sent=0 bounced=0 expired=0 deferrals=0", "", ""},
		{"stale index", at(9, 0), "15m", "10", "20", 10, nil, nil, stateWarning,
			"no window data", "",
			"index last updated 2026-11-30T08:00:00Z, before the 15m window (is pfdiag ingest or tail running?)", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := newWindowCheck(eng, "x", tt.window, tt.bw, tt.bc, tt.minFinal, tt.cw, tt.cc)
			if err != nil {
				t.Fatal(err)
			}
			var res checkResult
			sum, perf, err := w.evaluate(context.Background(), idx, tt.now, &res)
			if err != nil {
				t.Fatal(err)
			}
			if res.state != tt.state || sum != tt.summary || strings.Join(perf, " ") != tt.perf ||
				strings.Join(res.alerts, ", ") != tt.alerts || strings.Join(res.notes, "; ") != tt.notes {
				t.Errorf("got state %d, %q, perf %q, alerts %q, notes %q\nwant state %d, %q, perf %q, alerts %q, notes %q",
					res.state, sum, strings.Join(perf, " "), res.alerts, res.notes, tt.state, tt.summary, tt.perf, tt.alerts, tt.notes)
			}
		})
	}
}

// TestCheckIndex runs check against a real on-disk (Badger) index.
func TestCheckIndex(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "index")
	idx, err := badgerindex.Open(dir, badgerindex.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ingestInto(t, idx, "real-postfix")
	q := realQueue(t, "real-postfix")

	// While a writer holds the index, a check cannot read it: UNKNOWN.
	code, out, _ := runCmd(t, "", "check", "--index", dir, q)
	if code != 3 || !strings.HasPrefix(out, "PFDIAG UNKNOWN - cannot open the index: index "+dir+" is in use by another pfdiag process") {
		t.Errorf("locked index: exit %d, %q", code, out)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}

	// runCmd's clock is 07:45 UTC: the window 07:30-07:45 holds the run,
	// but the checkpoint (08:00) is after it, so the index is current.
	code, out, errs := runCmd(t, "", "check", "--index", dir, "--bounce-warn", "20", "--bounce-crit", "50", "--category-crit", "blocklisted_ip=0", q)
	want := "PFDIAG CRITICAL - bounce rate 35.6% in 15m (warning > 20), 1 blocklisted_ip in 15m (critical > 0) | " +
		"deferred=12;500;1000 hold=2 active=0 incoming=0 maildrop=0 bytes=5171B " +
		"bounce_rate=35.6%;20;50 sent=29 bounced=14 expired=2 deferrals=49 window_blocklisted_ip=1;;0\n"
	if code != 2 || out != want || errs != "" {
		t.Errorf("exit %d\n got %q\nwant %q\nstderr %q", code, out, want, errs)
	}
	code, out, _ = runCmd(t, "", "check", "--index", dir, "--window", "1m", q)
	if code != 0 || !strings.HasPrefix(out, "PFDIAG OK - 12 deferred, bounce rate 0% of 0 in 1m | ") {
		t.Errorf("1m window: exit %d, %q", code, out)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--index", filepath.Join(t.TempDir(), "none")}, "PFDIAG UNKNOWN - cannot open the index: open index "},
		{[]string{"--index", dir, "--window", "soon"}, "PFDIAG UNKNOWN - bad arguments: --window \"soon\""},
		{[]string{"--index", dir, "--bounce-warn", "x"}, "PFDIAG UNKNOWN - bad arguments: bounce_rate warning threshold"},
		{[]string{"--category-warn", "nope=1"}, "PFDIAG UNKNOWN - bad arguments: --category-warn \"nope\" is not a delivery category"},
	} {
		code, out, _ := runCmd(t, "", append(append([]string{"check"}, tt.args...), q)...)
		if code != 3 || !strings.HasPrefix(out, tt.want) {
			t.Errorf("%v: exit %d, %q; want 3, %q…", tt.args, code, out, tt.want)
		}
	}
}
