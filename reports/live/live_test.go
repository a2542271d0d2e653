package live

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 12, 1, 0, 0, time.UTC)

func deferral(at time.Duration, domain, category string) *Failure {
	return &Failure{Time: t0.Add(at), Host: "mail", QueueID: "3F1A2C0D11", Recipient: "ann@" + domain,
		Domain: domain, Relay: "mx." + domain + "[192.0.2.1]:25", Status: "deferred", DSN: "4.7.28",
		Reason: "host said: 421 rate", Category: category, Fix: "slow down to " + domain}
}

func bounce(at time.Duration, domain, category string) *Failure {
	f := deferral(at, domain, category)
	f.Status, f.DSN, f.Permanent, f.Reason = "bounced", "5.1.1", true, "550 5.1.1 no such user"
	return f
}

// feed runs failures through d and returns the text of the events.
func feed(d *Detector, fs ...*Failure) []string {
	var out []string
	for _, f := range fs {
		for _, ev := range d.Failure(f, nil) {
			out = append(out, strings.TrimSuffix(string(AppendText(nil, &ev)), "\n"))
		}
	}
	return out
}

func texts(evs []Event) []string {
	var out []string
	for i := range evs {
		out = append(out, strings.TrimSuffix(string(AppendText(nil, &evs[i])), "\n"))
	}
	return out
}

func same(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProblemLifecycle(t *testing.T) {
	d := New(Options{})
	var fs []*Failure
	for i := range 37 {
		fs = append(fs, deferral(time.Duration(i)*8*time.Second, "gmail.com", "rate_limited"))
	}
	got := feed(d, fs...)
	same(t, got, []string{
		"2026-11-30 12:02:12 problem   gmail.com: rate_limited, 10 deferrals in 5m (12:01–12:02) → slow down to gmail.com",
		"2026-11-30 12:03:32 escalated gmail.com: rate_limited, 20 deferrals in 5m (12:01–12:03), 20 since 12:01 → slow down to gmail.com",
	})
	// A bounce turns it permanent: escalation.
	got = feed(d, bounce(5*time.Minute, "gmail.com", "rate_limited"))
	same(t, got, []string{
		"2026-11-30 12:06:00 escalated gmail.com: rate_limited, 36 failures (35 deferred, 1 bounced) in 5m (12:01–12:06), 38 since 12:01 → slow down to gmail.com",
	})
	d.Delivered(t0.Add(6*time.Minute), "gmail.com", "")
	d.Delivered(t0.Add(6*time.Minute), "yahoo.com", "")
	if dl := d.Deadline(); !dl.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("deadline %v", dl)
	}
	if evs := d.Advance(t0.Add(9*time.Minute), nil); len(evs) != 0 {
		t.Errorf("cleared too early: %v", texts(evs))
	}
	same(t, texts(d.Advance(t0.Add(10*time.Minute), nil)), []string{
		"2026-11-30 12:11:00 cleared   gmail.com: rate_limited, no failure since 12:06 (38 failures over 5m, 1 delivered meanwhile)",
	})
	if len(d.Active()) != 0 || !d.Deadline().IsZero() {
		t.Errorf("still active: %v", d.Active())
	}
	// It can start again.
	var again []*Failure
	for i := range 10 {
		again = append(again, deferral(20*time.Minute+time.Duration(i)*time.Second, "gmail.com", "rate_limited"))
	}
	if got := feed(d, again...); len(got) != 1 || !strings.Contains(got[0], " problem ") {
		t.Errorf("restart: %q", got)
	}
}

func TestWindowSlides(t *testing.T) {
	d := New(Options{Window: 5 * time.Minute, Threshold: 10})
	var fs []*Failure
	for i := range 60 {
		fs = append(fs, deferral(time.Duration(i)*time.Minute, "slow.example", "connection_timeout"))
	}
	if got := feed(d, fs...); len(got) != 0 {
		t.Errorf("one failure a minute made %q", got)
	}
	// Out-of-order lines older than the window are not counted.
	d2 := New(Options{Threshold: 2})
	feed(d2, deferral(time.Hour, "a.example", "x"))
	if got := feed(d2, deferral(0, "a.example", "x")); len(got) != 0 {
		t.Errorf("old line counted: %q", got)
	}
}

func TestScopes(t *testing.T) {
	auth := func(domain string) *Failure {
		f := deferral(0, domain, "relay_auth_failure")
		f.Relay = "smtp.relay.example[203.0.113.5]:587"
		return f
	}
	noRelay := func(domain string) *Failure {
		f := deferral(0, domain, "dns_lookup_failure")
		f.Relay = "none"
		return f
	}
	tests := []struct {
		name string
		by   Scope
		fs   []*Failure
		want string
	}{
		{"auth by relay", ScopeAuto, []*Failure{auth("a.example"), auth("b.example")}, "relay smtp.relay.example: relay_auth_failure, 2 deferrals"},
		{"domain", ScopeDomain, []*Failure{auth("a.example"), auth("a.example")}, "a.example: relay_auth_failure, 2 deferrals"},
		{"relay", ScopeRelay, []*Failure{deferral(0, "a.example", "x"), deferral(0, "a.example", "x")}, "relay mx.a.example: x, 2 deferrals"},
		{"relay none", ScopeRelay, []*Failure{noRelay("c.example"), noRelay("c.example")}, "c.example: dns_lookup_failure, 2 deferrals"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(Options{Threshold: 2, By: tt.by})
			got := feed(d, tt.fs...)
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRelayHost(t *testing.T) {
	for in, want := range map[string]string{
		"mx.Example.com[192.0.2.1]:25": "mx.example.com",
		"[192.0.2.1]:587":              "192.0.2.1",
		"none":                         "",
		"":                             "",
		"local":                        "local",
		"private/dovecot-lmtp":         "private/dovecot-lmtp",
		"127.0.0.1[127.0.0.1]:10024":   "127.0.0.1",
		"relay.example:587":            "relay.example",
	} {
		if got := RelayHost(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestFindingsIgnoreEach(t *testing.T) {
	d := New(Options{Each: true})
	disk := &Failure{Time: t0, Host: "mx1", Category: "queue_disk_full", Finding: true, Reason: "not enough free space in mail queue: 0 bytes < 1.5*message size limit", Fix: "free disk under queue_directory"}
	got := feed(d, disk)
	same(t, got, []string{"2026-11-30 12:01:00 problem   host mx1: queue_disk_full, 1 warning in 5m (12:01–12:01) → free disk under queue_directory"})
	var grey []*Failure
	for i := range 50 {
		grey = append(grey, deferral(time.Duration(i)*time.Second, "grey.example", "greylisted"))
	}
	if got := feed(d, grey...); len(got) != 0 {
		t.Errorf("greylisting made %q", got)
	}
	got = feed(d, bounce(time.Minute, "example.org", "user_unknown"))
	same(t, got, []string{"2026-11-30 12:02:00 bounce    mail 3F1A2C0D11 <ann@example.org> bounced 5.1.1 user_unknown: 550 5.1.1 no such user → slow down to example.org"})
	off := New(Options{FindingThreshold: -1})
	if got := feed(off, disk); len(got) != 0 {
		t.Errorf("findings disabled, got %q", got)
	}
}

func TestOngoingAndActive(t *testing.T) {
	d := New(Options{Threshold: 2})
	feed(d, deferral(0, "b.example", "x"), deferral(time.Second, "b.example", "x"),
		deferral(0, "a.example", "y"), deferral(time.Second, "a.example", "y"))
	got := texts(d.Ongoing(nil))
	same(t, got, []string{
		"2026-11-30 12:01:01 ongoing   a.example: y, 2 deferrals in 5m (12:01–12:01), since 12:01 → slow down to a.example",
		"2026-11-30 12:01:01 ongoing   b.example: x, 2 deferrals in 5m (12:01–12:01), since 12:01 → slow down to b.example",
	})
	act := d.Active()
	if len(act) != 2 || act[0].Dest != "a.example" || act[1].Count != 2 {
		t.Errorf("active %+v", act)
	}
}

func TestBounded(t *testing.T) {
	d := New(Options{MaxKeys: 100, Threshold: 1000})
	for i := range 10000 {
		d.Failure(deferral(time.Duration(i)*time.Millisecond, fmt.Sprintf("d%d.example", i), "x"), nil)
	}
	if len(d.keys) > 100 {
		t.Errorf("%d keys tracked", len(d.keys))
	}
}

func TestHostileText(t *testing.T) {
	f := bounce(0, "evil.example\x1b[2J", "user_unknown")
	f.Reason = "550 gone\n2026-11-30 12:00:00 cleared   gmail.com: all good\u202e\xff"
	f.Recipient = "a\rb@evil.example"
	d := New(Options{Each: true})
	evs := d.Failure(f, nil)
	line := string(AppendText(nil, &evs[0]))
	if strings.Count(line, "\n") != 1 || strings.ContainsAny(line[:len(line)-1], "\x1b\r\n\u202e") || strings.Contains(line, "\xff") {
		t.Errorf("not neutralised: %q", line)
	}
	j := AppendJSON(nil, &evs[0])
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatalf("bad JSON %s: %v", j, err)
	}
	if strings.Count(string(j), "\n") != 1 || m["recipient"] != "a\rb@evil.example" || m["event"] != "bounce" ||
		strings.Contains(string(j), "\u202e") || !strings.Contains(m["reason"].(string), "\u202e") {
		t.Errorf("JSON %s", j)
	}
}

func TestJSON(t *testing.T) {
	d := New(Options{Threshold: 2})
	evs := d.Failure(deferral(0, "gmail.com", "rate_limited"), nil)
	evs = d.Failure(deferral(time.Minute, "gmail.com", "rate_limited"), evs)
	evs = d.Advance(t0.Add(time.Hour), evs)
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	var got []string
	for i := range evs {
		got = append(got, strings.TrimSpace(string(AppendJSON(nil, &evs[i]))))
	}
	same(t, got, []string{
		`{"time":"2026-11-30T12:02:00Z","event":"problem","scope":"domain","destination":"gmail.com","category":"rate_limited","count":2,"deferred":2,"bounced":0,"window_seconds":300,"first":"2026-11-30T12:01:00Z","last":"2026-11-30T12:02:00Z","since":"2026-11-30T12:01:00Z","total":2,"delivered":0,"fix":"slow down to gmail.com","sample_queue_id":"3F1A2C0D11","sample_reason":"host said: 421 rate"}`,
		`{"time":"2026-11-30T13:01:00Z","event":"cleared","scope":"domain","destination":"gmail.com","category":"rate_limited","count":0,"deferred":0,"bounced":0,"window_seconds":300,"first":"","last":"2026-11-30T12:02:00Z","since":"2026-11-30T12:01:00Z","total":2,"delivered":0,"fix":"slow down to gmail.com","sample_queue_id":"3F1A2C0D11","sample_reason":"host said: 421 rate"}`,
	})
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"auto": ScopeAuto, "": ScopeAuto, "domain": ScopeDomain, "relay": ScopeRelay} {
		if got, err := ParseScope(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	if _, err := ParseScope("host"); err == nil {
		t.Error("no error for host")
	}
}

func BenchmarkFailure(b *testing.B) {
	d := New(Options{})
	fs := make([]*Failure, 1000)
	for i := range fs {
		fs[i] = deferral(time.Duration(i)*time.Second, fmt.Sprintf("d%d.example", i%50), "rate_limited")
	}
	var out []Event
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f := *fs[i%len(fs)]
		f.Time = t0.Add(time.Duration(i) * time.Millisecond)
		out = d.Failure(&f, out[:0])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "failures/s")
}
