package reports

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
)

// TestRelayTableIsTheMap feeds more distinct relays than the relay table
// keeps, to domains whose attempts mostly go to one relay (the Builder
// remembers a domain's last relay record), and checks the relay rows
// against a plain map pruned the same way.
func TestRelayTableIsTheMap(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds more than maxRelays relays")
	}
	r := rand.New(rand.NewPCG(5, 6))
	b := NewBuilder(Options{Rules: engine(t), Now: testNow, Loc: time.UTC, Top: 1 << 20})
	type acc struct{ attempts, sent int64 }
	want := map[string]*acc{}
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	alt := map[string]string{} // a domain's other relay, for a while
	for i := range 3 * maxRelays {
		dom := fmt.Sprintf("d%d.example", r.IntN(40))
		host := "mx." + dom
		if r.IntN(2) == 0 {
			if alt[dom] == "" || r.IntN(5) > 0 {
				alt[dom] = fmt.Sprintf("mx%d.example", i)
			}
			host = alt[dom]
		}
		relay := host + "[192.0.2.1]:25"
		if r.IntN(4) == 0 {
			relay = host + "[192.0.2.2]:25" // another address of the same host
		}
		st := correlate.StatusSent
		if r.IntN(5) == 0 {
			st = correlate.StatusDeferred
		}
		at := t0.Add(time.Duration(i) * time.Second)
		b.AddMessage(&correlate.Message{
			Ref: correlate.Ref{Host: "mx", QueueID: fmt.Sprintf("Q%d", i), First: at}, LastSeen: at,
			Recipients: []correlate.Recipient{{Address: "u@" + dom, Status: st, Attempts: []correlate.Attempt{
				{Time: at, Relay: relay, Status: st, Delay: 1, Category: map[bool]string{true: "", false: "greylisted"}[st == correlate.StatusSent]},
			}}},
		})
		a := want[host]
		if a == nil {
			if len(want) >= maxRelays {
				prune(want, func(a *acc) int64 { return a.attempts })
			}
			a = &acc{}
			want[host] = a
		}
		a.attempts++
		if st == correlate.StatusSent {
			a.sent++
		}
	}
	var rows []RelayRow
	for k, a := range want {
		rows = append(rows, RelayRow{Relay: k, Attempts: a.attempts, Sent: a.sent})
	}
	slices.SortFunc(rows, func(x, y RelayRow) int {
		return cmp.Or(cmp.Compare(y.Attempts, x.Attempts), cmp.Compare(x.Relay, y.Relay))
	})
	rep := b.Report()
	if !rep.Traffic.Approximate {
		t.Error("the relay table was pruned: want the report marked approximate")
	}
	if len(rep.Relays) != len(rows) {
		t.Fatalf("got %d relay rows, want %d", len(rep.Relays), len(rows))
	}
	for i, got := range rep.Relays {
		w := rows[i]
		if got.Relay != w.Relay || got.Attempts != w.Attempts || got.Sent != w.Sent {
			t.Errorf("row %d: got %s %d attempts %d sent, want %s %d %d", i, got.Relay, got.Attempts, got.Sent, w.Relay, w.Attempts, w.Sent)
		}
	}
}

// TestArrivalSlotIsTheZone checks the per-day and per-hour-of-day
// received counts (the Builder caches a UTC hour's local day and hour)
// against the plain computation, in zones with whole-hour, half-hour and
// changing offsets, with arrivals out of order and around midnight.
func TestArrivalSlotIsTheZone(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, name := range []string{"UTC", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Skipf("zone %s: %v", name, err)
		}
		b := NewBuilder(Options{Rules: engine(t), Now: testNow, Loc: loc})
		days := map[string]int64{}
		var hod [24]int64
		t0 := time.Date(2026, 3, 7, 20, 0, 0, 0, time.UTC) // a DST change within the range
		for i := range 5000 {
			at := t0.Add(time.Duration(r.IntN(4*24*3600)) * time.Second)
			if i%3 == 0 { // runs within one hour
				at = t0.Add(time.Duration(i/3%96)*time.Hour + time.Duration(r.IntN(3600))*time.Second)
			}
			b.AddMessage(&correlate.Message{
				Ref: correlate.Ref{Host: "mx", QueueID: fmt.Sprintf("Q%d", i), First: at}, LastSeen: at, Arrival: at,
				Origin: correlate.OriginSMTP, Queued: true, HasSender: true, Sender: "s@example.org", Size: 100,
			})
			lt := at.In(loc)
			days[lt.Format("2006-01-02")]++
			hod[lt.Hour()]++
		}
		rep := b.Report()
		got := map[string]int64{}
		for _, d := range rep.Traffic.PerDay {
			got[d.Date] = d.Received
		}
		if fmt.Sprint(got) != fmt.Sprint(days) {
			t.Errorf("%s: per day %v, want %v", name, got, days)
		}
		for h, row := range rep.Traffic.PerHour {
			if row.Received != hod[h] {
				t.Errorf("%s: hour %d: %d received, want %d", name, h, row.Received, hod[h])
			}
		}
	}
}

// TestDomainOf: the report's one-pass domainOf gives what
// correlate.Domain gives.
func TestDomainOf(t *testing.T) {
	for _, addr := range []string{
		"", "@", "a@", "@b", "user@Example.COM", "user@example.com", "USER@example.com",
		"a@b@C.d", "no-at-all", "Mixed@Case@Host.Example", "x@\u00c9xample.com", "x@ex\u00e4mple.ORG",
		"\"q@uoted\"@dom.ain", "trailing@dot.", "A@", "@A",
	} {
		if got, want := domainOf(addr), correlate.Domain(addr); got != want {
			t.Errorf("domainOf(%q) = %q, want %q", addr, got, want)
		}
	}
	const alphabet = "aZ@.\xc3\x89-"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := domainOf(string(b)), correlate.Domain(string(b)); got != want {
			t.Fatalf("domainOf(%q) = %q, want %q", b, got, want)
		}
	}
}
