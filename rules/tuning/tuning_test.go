package tuning

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

var t0 = time.Date(2024, 11, 30, 7, 0, 0, 0, time.UTC)

// att is one attempt of a test scenario.
type att struct {
	domain   string
	a        correlate.Attempt
	n        int  // how many (1 when 0)
	spread   bool // one per minute instead of all at t0
	nullFrom bool
}

func sent(domain, relay string, n int) att {
	return att{domain: domain, n: n, spread: true, a: correlate.Attempt{Relay: relay, Status: correlate.StatusSent, DSN: "2.0.0", HasDelays: true}}
}

func failed(domain, relay, cat, reason string, n int) att {
	return att{domain: domain, n: n, a: correlate.Attempt{Relay: relay, Status: correlate.StatusDeferred, DSN: "4.7.0", Category: cat, Reason: reason, HasDelays: true}}
}

func collect(atts []att, reverse bool) *Collector {
	var all []struct {
		a        correlate.Attempt
		d        string
		nullFrom bool
	}
	for _, x := range atts {
		for i := range max(x.n, 1) {
			a := x.a
			if a.Time.IsZero() {
				a.Time = t0
				if x.spread {
					a.Time = t0.Add(time.Duration(i%60) * time.Minute)
				}
			}
			all = append(all, struct {
				a        correlate.Attempt
				d        string
				nullFrom bool
			}{a, x.domain, x.nullFrom})
		}
	}
	if reverse {
		slices.Reverse(all)
	}
	c := NewCollector()
	for i := range all {
		c.Attempt(&all[i].a, all[i].d, all[i].nullFrom)
	}
	return c
}

func postconf(t *testing.T, text string) Postconf {
	t.Helper()
	p, err := ParsePostconf(strings.NewReader(text), "postconf.txt")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// lines renders suggestions as "file: line" for comparison.
func lines(ss []Suggestion) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.File+": "+s.Line())
	}
	return out
}

const (
	gmailMX   = "gmail-smtp-in.l.google.com[142.250.49.27]:25"
	yahooMX   = "mta5.am0.yahoodns.net[67.195.228.85]:25"
	rateText  = "host gmail-smtp-in.l.google.com[142.250.49.27] said: 421-4.7.28 Our system has detected an unusual rate of unsolicited mail"
	connText  = "host mta5.am0.yahoodns.net[67.195.228.85] refused to talk to me: 421 4.7.0 too many connections"
	tryAgain  = "Host or domain name not found. Name service error for name=%s type=MX: Host not found, try again"
	v6Unreach = "connect to mx.example.net[2001:db8::25]:25: Network is unreachable"
)

func TestSuggest(t *testing.T) {
	dnsFails := func(n int) []att {
		var out []att
		for i := range n {
			d := fmt.Sprintf("unrelated%d.example", i)
			out = append(out, failed(d, "none", "dns_lookup_failure", fmt.Sprintf(tryAgain, d), 2))
		}
		return out
	}
	slowB := func(n int, b float64) att {
		return att{domain: "example.org", n: n, a: correlate.Attempt{Relay: "mx.example.org[192.0.2.9]:25", Status: correlate.StatusSent, HasDelays: true, Delays: [4]float64{0, b, 0.1, 0.1}}}
	}
	deferredFor := func(days float64, n int, null bool) att {
		return att{domain: "slow.example", n: n, nullFrom: null, a: correlate.Attempt{Relay: "mx.slow.example[192.0.2.7]:25", Status: correlate.StatusDeferred,
			Category: "connection_timeout", Delay: days * 86400, Reason: "connect to mx.slow.example[192.0.2.7]:25: Connection timed out"}}
	}
	tests := []struct {
		name     string
		atts     []att
		postconf string
		want     []string // file: line
		wantIDs  []string
		evidence int64 // of the first suggestion, when not 0
	}{
		{
			name: "rate limits at Google: paced slow transport",
			atts: []att{sent("gmail.com", gmailMX, 350), failed("gmail.com", gmailMX, "rate_limited", rateText, 8),
				failed("googlemail.com", gmailMX, "rate_limited", rateText, 2)},
			want: []string{
				"master.cf: slow_google  unix  -  -  n  -  -  smtp -o syslog_name=postfix/slow_google",
				"main.cf: slow_google_destination_rate_delay = 10s",
				"main.cf: slow_google_destination_concurrency_limit = 1",
				"main.cf: transport_maps = hash:/etc/postfix/transport",
				"/etc/postfix/transport: gmail.com  slow_google:",
				"/etc/postfix/transport: googlemail.com  slow_google:",
			},
			evidence: 10,
		},
		{
			name: "too many connections via relay=none: provider from the text, concurrency 2",
			atts: []att{sent("yahoo.com", yahooMX, 20), failed("yahoo.com", "none", "too_many_connections", "delivery temporarily suspended: "+connText, 3),
				failed("aol.com", "none", "too_many_connections", connText, 3)},
			want: []string{
				"master.cf: slow_yahoodns  unix  -  -  n  -  -  smtp -o syslog_name=postfix/slow_yahoodns",
				"main.cf: slow_yahoodns_destination_concurrency_limit = 2",
				"main.cf: transport_maps = hash:/etc/postfix/transport",
				"/etc/postfix/transport: aol.com  slow_yahoodns:",
				"/etc/postfix/transport: yahoo.com  slow_yahoodns:",
			},
		},
		{
			name: "already tuned: lower concurrency, existing transport map, no master.cf line",
			atts: []att{failed("yahoo.com", yahooMX, "too_many_connections", connText, 6)},
			postconf: "transport_maps = hash:/etc/postfix/transport_custom, regexp:/etc/postfix/transport.re\n" +
				"slow_yahoodns_destination_concurrency_limit = 2\n",
			want: []string{
				"main.cf: slow_yahoodns_destination_concurrency_limit = 1",
				"/etc/postfix/transport_custom: yahoo.com  slow_yahoodns:",
			},
		},
		{
			name:     "rate delay already at the proposed value: doubled",
			atts:     []att{sent("gmail.com", gmailMX, 100), failed("gmail.com", gmailMX, "rate_limited", rateText, 6)},
			postconf: "slow_google_destination_rate_delay = 40s\nslow_google_destination_concurrency_limit = 1\ntransport_maps = hash:/etc/postfix/transport\n",
			want: []string{
				"main.cf: slow_google_destination_rate_delay = 80s",
				"/etc/postfix/transport: gmail.com  slow_google:",
			},
		},
		{
			name: "concentrated: only the provider with a real share gets a transport",
			atts: append([]att{failed("gmail.com", gmailMX, "rate_limited", rateText, 100)}, func() []att {
				var out []att
				for i := range 10 {
					d := fmt.Sprintf("small%d.example", i)
					out = append(out, failed(d, "mx."+d+"[192.0.2.3]:25", "too_many_connections", "421 too many connections", 5))
				}
				return out
			}()...),
			want: []string{
				"master.cf: slow_google  unix  -  -  n  -  -  smtp -o syslog_name=postfix/slow_google",
				"main.cf: slow_google_destination_rate_delay = 30s",
				"main.cf: slow_google_destination_concurrency_limit = 1",
				"main.cf: transport_maps = hash:/etc/postfix/transport",
				"/etc/postfix/transport: gmail.com  slow_google:",
			},
		},
		{
			name: "too few throttling deferrals: nothing",
			atts: []att{sent("gmail.com", gmailMX, 100), failed("gmail.com", gmailMX, "rate_limited", rateText, 4)},
		},
		{
			name:    "IPv6 unreachable: prefer IPv4",
			atts:    []att{failed("example.net", "none", "network_unreachable", v6Unreach, 3)},
			want:    []string{"main.cf: smtp_address_preference = ipv4"},
			wantIDs: []string{"ipv4"},
		},
		{
			name:     "IPv6 unreachable, IPv4 already preferred: IPv4 only",
			atts:     []att{failed("example.net", "none", "network_unreachable", v6Unreach, 3)},
			postconf: "smtp_address_preference = ipv4\n",
			want:     []string{"main.cf: inet_protocols = ipv4"},
		},
		{
			name:     "IPv6 unreachable, already IPv4 only: nothing",
			atts:     []att{failed("example.net", "none", "network_unreachable", v6Unreach, 3)},
			postconf: "inet_protocols = ipv4\n",
		},
		{
			name: "IPv4 unreachable is not an IPv6 problem",
			atts: []att{failed("example.net", "none", "network_unreachable", "connect to mx.example.net[192.0.2.1]:25: Network is unreachable", 5)},
		},
		{
			name:    "try again for many unrelated domains: our resolver",
			atts:    dnsFails(6),
			want:    []string{"resolv.conf: nameserver 127.0.0.1"},
			wantIDs: []string{"resolver"},
		},
		{
			name: "try again for one domain: theirs",
			atts: []att{failed("broken.example", "none", "dns_lookup_failure", fmt.Sprintf(tryAgain, "broken.example"), 20)},
		},
		{
			name: "long b delays: more delivery agents",
			atts: []att{slowB(30, 8), slowB(100, 0.01)},
			want: []string{"main.cf: default_process_limit = 200"},
		},
		{
			name:     "long b delays with a configured limit",
			atts:     []att{slowB(30, 8), slowB(100, 0.01)},
			postconf: "default_process_limit = 300\n",
			want:     []string{"main.cf: default_process_limit = 600"},
		},
		{
			name: "a few slow b delays among many: nothing",
			atts: []att{slowB(30, 8), slowB(1000, 0.01)},
		},
		{
			name:     "deferred for days, nothing delivered late: 2d",
			atts:     []att{deferredFor(2.5, 5, false)},
			want:     []string{"main.cf: maximal_queue_lifetime = 2d"},
			evidence: 5,
		},
		{
			name: "deferred for days, a late success after 3.5 days: keep 4d",
			atts: []att{deferredFor(2.5, 5, false), {domain: "slow.example", a: correlate.Attempt{Relay: "mx.slow.example[192.0.2.7]:25", Status: correlate.StatusSent, Delay: 3.5 * 86400}}},
			want: []string{"main.cf: maximal_queue_lifetime = 4d"},
		},
		{
			name:     "lifetime already short: nothing",
			atts:     []att{deferredFor(1.5, 5, false)},
			postconf: "maximal_queue_lifetime = 2d\n",
		},
		{
			name: "notifications deferred for days: bounce_queue_lifetime",
			atts: []att{deferredFor(2, 4, true)},
			want: []string{"main.cf: bounce_queue_lifetime = 1d"},
		},
		{
			name:     "bounce_queue_lifetime already a day: nothing",
			atts:     []att{deferredFor(2, 4, true)},
			postconf: "bounce_queue_lifetime = 86400s\n",
		},
		{
			name: "hostile domains never reach the transport map",
			atts: []att{failed("gmail.com", gmailMX, "rate_limited", rateText, 5),
				failed("evil.com\nrelayhost = [attacker]", gmailMX, "rate_limited", rateText, 5),
				failed("<script>.com", gmailMX, "rate_limited", rateText, 5)},
			want: []string{
				"master.cf: slow_google  unix  -  -  n  -  -  smtp -o syslog_name=postfix/slow_google",
				"main.cf: slow_google_destination_rate_delay = 30s",
				"main.cf: slow_google_destination_concurrency_limit = 1",
				"main.cf: transport_maps = hash:/etc/postfix/transport",
				"/etc/postfix/transport: gmail.com  slow_google:",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := Postconf{}
			if tc.postconf != "" {
				pc = postconf(t, tc.postconf)
			}
			got := Suggest(collect(tc.atts, false), pc)
			if !reflect.DeepEqual(lines(got), tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(lines(got), "\n  "), strings.Join(tc.want, "\n  "))
			}
			// The same attempts in another order give the same result.
			if rev := Suggest(collect(tc.atts, true), pc); !reflect.DeepEqual(rev, got) {
				t.Errorf("depends on the order of the attempts:\n%v\n%v", lines(rev), lines(got))
			}
			for i, s := range got {
				if s.Rationale == "" || s.Evidence <= 0 || s.ID == "" {
					t.Errorf("line %d %+v: want an ID, a rationale and evidence", i, s)
				}
				if s.ID == got[0].ID && (s.Rationale != got[0].Rationale || s.Evidence != got[0].Evidence) {
					t.Errorf("line %d of change %s: rationale/evidence differ within the change", i, s.ID)
				}
			}
			if tc.evidence != 0 && (len(got) == 0 || got[0].Evidence != tc.evidence) {
				t.Errorf("evidence: got %v, want %d", got, tc.evidence)
			}
			for i, id := range tc.wantIDs {
				if i >= len(got) || got[i].ID != id {
					t.Errorf("suggestion %d: want id %q, got %v", i, id, got)
				}
			}
		})
	}
}

// TestSuggestNeverProposesWhatIsSet feeds every kind of evidence, then
// sets exactly what was proposed, and expects no main.cf parameter to be
// proposed again with the value it already has.
func TestSuggestNeverProposesWhatIsSet(t *testing.T) {
	c := collect([]att{
		sent("gmail.com", gmailMX, 350), failed("gmail.com", gmailMX, "rate_limited", rateText, 10),
		failed("example.net", "none", "network_unreachable", v6Unreach, 3),
		{domain: "slow.example", n: 5, a: correlate.Attempt{Status: correlate.StatusDeferred, Delay: 3 * 86400, Category: "connection_timeout"}},
	}, false)
	first := Suggest(c, Postconf{})
	var conf strings.Builder
	for _, s := range first {
		if s.Parameter != "" {
			fmt.Fprintf(&conf, "%s = %s\n", s.Parameter, s.Value)
		}
	}
	again := Suggest(c, postconf(t, conf.String()))
	for _, s := range again {
		if s.Parameter == "" {
			continue
		}
		for _, f := range first {
			if f.Parameter == s.Parameter && f.Value == s.Value {
				t.Errorf("proposed again although set: %s = %s", s.Parameter, s.Value)
			}
		}
	}
}

func TestParsePostconf(t *testing.T) {
	in := "# postconf -n\n" +
		"alias_maps = hash:/etc/aliases\n" +
		"smtpd_recipient_restrictions = permit_mynetworks,\n" +
		"    reject_unauth_destination\n" +
		"postconf: warning: /etc/postfix/main.cf: unused parameter: foo=bar\n" +
		"\n" +
		"maximal_queue_lifetime = 3d\n" +
		"bounce_queue_lifetime=7200\n" +
		"smtp_destination_concurrency_limit = $default_destination_concurrency_limit\n" +
		"default_destination_concurrency_limit = 7\n"
	p := postconf(t, in)
	for _, c := range []struct{ name, want string }{
		{"alias_maps", "hash:/etc/aliases"},
		{"smtpd_recipient_restrictions", "permit_mynetworks, reject_unauth_destination"},
		{"smtp_destination_concurrency_limit", "7"},
		{"inet_protocols", "all"}, // Postfix's default
		{"not_a_parameter", ""},
	} {
		if got := p.Get(c.name); got != c.want {
			t.Errorf("Get(%s) = %q, want %q", c.name, got, c.want)
		}
	}
	if d, ok := p.Duration("maximal_queue_lifetime", 'd'); !ok || d != 72*time.Hour {
		t.Errorf("maximal_queue_lifetime = %v %v, want 72h", d, ok)
	}
	// bounce_queue_lifetime's default unit is days: 7200 without a unit is 7200 days.
	if d, ok := p.Duration("bounce_queue_lifetime", 'd'); !ok || d != 7200*24*time.Hour {
		t.Errorf("bounce_queue_lifetime = %v %v", d, ok)
	}
	if !p.Known() || (Postconf{}).Known() {
		t.Error("Known: want true for a parsed configuration, false for the zero value")
	}
	for _, bad := range []string{"this is not a setting\n", "  continuation first\n", "bad name! = 1\n"} {
		_, err := ParsePostconf(strings.NewReader(bad), "main.cf")
		if err == nil || !strings.HasPrefix(err.Error(), "main.cf:1: ") {
			t.Errorf("ParsePostconf(%q): error %v, want one naming main.cf:1", bad, err)
		}
	}
	if _, err := ParsePostconf(errReader{}, "pc"); !errors.Is(err, errBoom) {
		t.Errorf("read error: %v", err)
	}
}

var errBoom = errors.New("boom")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBoom }

func TestRegisteredAndValid(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"gmail-smtp-in.l.google.com", "google.com"},
		{"example-com.mail.protection.outlook.com", "outlook.com"},
		{"mx1.example.co.uk", "example.co.uk"},
		{"MX.Example.COM.", "example.com"},
		{"localhost", ""},
		{"127.0.0.1", ""}, // an address names no provider
		{"bad host.com", ""},
		{"", ""},
	} {
		if got := registered(c.in); got != c.want {
			t.Errorf("registered(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want bool
	}{{"example.com", true}, {"a-b.example", true}, {"-a.example", false}, {"a..b", false}, {"a.b.", false},
		{"x\n.com", false}, {"UPPER.com", false}, {strings.Repeat("a", 64) + ".com", false}} {
		if got := validDomain(c.in); got != c.want {
			t.Errorf("validDomain(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := transportName("évil;rm -rf.com"); got != "slow_vilrmrf" {
		t.Errorf("transportName = %q", got)
	}
}
