package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
	"github.com/pfdiag/pfdiag/reports/live"
	"github.com/pfdiag/pfdiag/rules"
)

const testLog = `2026-11-30T12:00:01+00:00 mail postfix/qmgr[10]: 1A2B3C4D5E: from=<a@ours.example>, size=100, nrcpt=3 (queue active)
2026-11-30T12:00:02+00:00 mail postfix/smtp[11]: 1A2B3C4D5E: to=<x@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.27.26]:25, delay=1.5, delays=0.5/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)
2026-11-30T12:00:03+00:00 mail postfix/smtp[11]: 1A2B3C4D5E: to=<y@yahoo.com>, relay=mta5.am0.yahoodns.net[67.195.204.72]:25, delay=2.5, delays=0.5/0/1/1, dsn=4.7.0, status=deferred (host mta5.am0.yahoodns.net[67.195.204.72] said: 421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints (in reply to MAIL FROM command))
2026-11-30T12:00:04+00:00 mail postfix/smtp[11]: 1A2B3C4D5E: to=<z@example.org>, relay=mx.example.org[192.0.2.9]:25, delay=30, delays=0.5/0/29/0.5, dsn=5.1.1, status=bounced (host mx.example.org[192.0.2.9] said: 550 5.1.1 <z@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
2026-11-30T12:00:05+00:00 mail2 postfix/smtp[12]: 9F8E7D6C5B: to=<w@b` + "\xff" + `ad.example>, relay=mx.bad.example[192.0.2.7]:25, delay=0.2, delays=0.1/0/0.05/0.05, dsn=2.0.0, status=sent (250 ok)
2026-11-30T12:00:06+00:00 mail postfix/cleanup[13]: warning: database /etc/postfix/virtual.db is older than source file /etc/postfix/virtual
2026-11-30T12:00:07+00:00 mail postfix/smtpd[14]: NOQUEUE: reject: RCPT from unknown[198.51.100.3]: 554 5.7.1 <q@ours.example>: Relay access denied; from=<s@spam.example> to=<q@ours.example> proto=ESMTP helo=<x>
this line is garbage
`

// ingest reads testLog into a memory index and returns its hours.
func ingest(t *testing.T, eng *rules.Engine) []*correlate.Hour {
	t.Helper()
	idx := memindex.New()
	classify := func(reason, daemon, status, dsn, relay, domain string) string {
		if status == "reject" {
			status = ""
		}
		return eng.Classify(rules.Input{Reason: reason, Daemon: daemon, Status: status, DSN: dsn, Relay: relay, Domain: domain}).Category
	}
	in, err := correlate.NewIngester(context.Background(), idx, correlate.IngestOptions{
		Correlator: correlate.Options{Classify: classify}, Parse: parser.Options{Loc: time.UTC}})
	if err != nil {
		t.Fatal(err)
	}
	f := strings.NewReader(testLog)
	if err := readAll(in, f); err != nil {
		t.Fatal(err)
	}
	var hours []*correlate.Hour
	idx.Hours(context.Background(), time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		hours = append(hours, h)
		return nil
	})
	return hours
}

func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the sample of family name with the labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no %s", name)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s%v: no such sample", name, labels)
	return 0
}

func TestScrape(t *testing.T) {
	eng, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	hours := ingest(t, eng)
	var cats []string
	for _, c := range eng.Categories() {
		if !c.Finding {
			cats = append(cats, c.ID)
		}
	}
	m := New(Options{TopDomains: 2, Categories: cats, Finding: func(k correlate.WarningKey) string {
		return eng.Finding(k.Severity, k.Daemon, k.Text).Category
	}})
	m.Seed(hours)
	m.SetDeferred(1)
	m.SetProblems([]live.Problem{{Scope: "domain", Dest: "yahoo.com", Category: "rate_limited"}})
	m.FollowEvent("rotated", 0)
	m.FollowEvent("missed", 120)
	m.Checkpointed(time.Unix(1796000000, 0), time.Date(2026, 11, 30, 12, 0, 7, 0, time.UTC))
	srv := httptest.NewServer(Handler(Registry(m), func() Health { return Health{OK: true, Status: "caught up"} }))
	defer srv.Close()
	fams := scrape(t, srv.URL+"/metrics")

	tests := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pfdiag_lines_total", nil, 8},
		{"pfdiag_unparsed_lines_total", nil, 1},
		{"pfdiag_deliveries_total", []string{"status", "sent"}, 2},
		{"pfdiag_deliveries_total", []string{"status", "deferred"}, 1},
		{"pfdiag_deliveries_total", []string{"status", "bounced"}, 1},
		{"pfdiag_deliveries_total", []string{"status", "expired"}, 0},
		{"pfdiag_diagnoses_total", []string{"category", "user_unknown"}, 1},
		{"pfdiag_diagnoses_total", []string{"category", "rate_limited"}, 1},
		{"pfdiag_diagnoses_total", []string{"category", "blocklisted_ip"}, 0},
		{"pfdiag_rejects_total", []string{"category", "relay_denied"}, 1},
		{"pfdiag_findings_total", []string{"category", "map_outdated"}, 1},
		{"pfdiag_delivery_delay_seconds", []string{"status", "sent"}, 2},
		{"pfdiag_delivery_delay_seconds", []string{"status", "bounced"}, 1},
		{"pfdiag_delivery_stage_delay_seconds", []string{"status", "deferred", "stage", "c"}, 1},
		// TopDomains 2: the busiest two (ties by name), the rest other.
		{"pfdiag_destination_deliveries_total", []string{"domain", "example.org", "status", "bounced"}, 1},
		{"pfdiag_destination_deliveries_total", []string{"domain", "b\ufffdad.example", "status", "sent"}, 1},
		{"pfdiag_destination_deliveries_total", []string{"domain", "other", "status", "deferred"}, 1},
		{"pfdiag_host_deliveries_total", []string{"host", "mail2", "status", "sent"}, 1},
		{"pfdiag_deferred_messages", nil, 1},
		{"pfdiag_active_problems", nil, 1},
		{"pfdiag_problem_active", []string{"scope", "domain", "destination", "yahoo.com", "category", "rate_limited"}, 1},
		{"pfdiag_follow_events_total", []string{"event", "rotated"}, 1},
		{"pfdiag_follow_missed_bytes_total", nil, 120},
		{"pfdiag_checkpoints_total", nil, 1},
		{"pfdiag_last_line_timestamp_seconds", nil, float64(time.Date(2026, 11, 30, 12, 0, 7, 0, time.UTC).Unix())},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.name, tt.labels), func(t *testing.T) {
			if got := value(t, fams, tt.name, tt.labels...); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Histogram buckets are cumulative and the sum is the delays' sum.
	for _, mf := range fams["pfdiag_delivery_delay_seconds"].Metric {
		if mf.Label[0].GetValue() != "sent" {
			continue
		}
		h := mf.Histogram
		if h.GetSampleSum() != 1.7 {
			t.Errorf("sum %v, want 1.7", h.GetSampleSum())
		}
		for _, b := range h.Bucket {
			want := uint64(0)
			if b.GetUpperBound() >= 0.25 {
				want = 1
			}
			if b.GetUpperBound() >= 2 {
				want = 2
			}
			if b.GetCumulativeCount() != want {
				t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
			}
		}
	}
	if fams["process_cpu_seconds_total"] == nil || fams["go_goroutines"] == nil {
		t.Error("no process or Go collector")
	}

	// Counters grow by what later checkpoints add; labels given stay.
	m.Add(hours...)
	fams = scrape(t, srv.URL+"/metrics")
	if got := value(t, fams, "pfdiag_lines_total"); got != 16 {
		t.Errorf("after Add: %v lines", got)
	}
	if got := value(t, fams, "pfdiag_destination_deliveries_total", "domain", "other", "status", "sent"); got != 2 {
		t.Errorf("gmail.com stays other: %v", got)
	}

	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"caught up"`) {
		t.Errorf("healthz %d %s", resp.StatusCode, b)
	}
}

func TestHealthFailing(t *testing.T) {
	srv := httptest.NewServer(Handler(Registry(New(Options{})), func() Health { return Health{Status: "commit failed"} }))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d", resp.StatusCode)
	}
	resp, _ = http.Get(srv.URL + "/nothing")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/nothing: %d", resp.StatusCode)
	}
}

func TestTopN(t *testing.T) {
	n := newTopN(2)
	n.seed(map[string]int64{"a": 5, "b": 9, "c": 1})
	got := []string{n.label("a"), n.label("b"), n.label("c"), n.label(""), n.label("other")}
	if strings.Join(got, ",") != "a,b,other,none,other" {
		t.Errorf("got %v", got)
	}
	n2 := newTopN(1)
	if n2.label("x") != "x" || n2.label("y") != Other || n2.label("x") != "x" {
		t.Error("first come not kept")
	}
	if l := newTopN(3).label(strings.Repeat("é", 100)); len(l) > maxLabel {
		t.Errorf("label of %d bytes", len(l))
	}
}

func readAll(in *correlate.Ingester, r io.Reader) error {
	f, err := input.Open("-", r)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = in.Read(context.Background(), f)
	return err
}
