// Package indextest is the conformance suite every correlate.Index must
// pass: correlate/memindex and correlate/badgerindex run it from their
// tests, so both answer the same queries with the same records.
//
// It checks the contract of correlate.Index: staged messages are
// invisible until Commit; lookups by queue ID (of any hop), message-id,
// recipient (or orig_to) and sender, case rules and time windows; open
// messages replaced and closed by later checkpoints; hour aggregates
// merged across checkpoints; sources and correlator state replaced;
// callback errors and cancellation passed through.
package indextest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/parser"
)

// Run runs the suite; newIndex returns a fresh, empty, writable index
// each time it is called. The suite closes the indexes it gets.
func Run(t *testing.T, newIndex func() correlate.Index) {
	tests := []struct {
		name string
		fn   func(*testing.T, correlate.Index)
	}{
		{"Empty", testEmpty},
		{"StagedInvisibleUntilCommit", testStaged},
		{"RoundTrip", testRoundTrip},
		{"Lookup", testLookup},
		{"Window", testWindow},
		{"OpenMessages", testOpen},
		{"Hours", testHours},
		{"HoursManyCheckpoints", testHoursMany},
		{"SourcesAndState", testSourcesState},
		{"CallbackError", testCallbackError},
		{"Cancelled", testCancelled},
		{"ManyMessages", testMany},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx := newIndex()
			defer idx.Close()
			tc.fn(t, idx)
		})
	}
}

var base = time.Date(2026, 11, 30, 7, 33, 55, 0, time.UTC)

// Msg builds a finished message with one recipient per address: sent
// unless the address starts with "bad", which bounces after a deferral.
func Msg(host, inst, qid string, at time.Time, sender string, rcpts ...string) *correlate.Message {
	m := &correlate.Message{
		Ref:       correlate.Ref{Host: host, Instance: inst, QueueID: qid, First: at},
		LastSeen:  at.Add(2 * time.Second),
		Arrival:   at,
		Origin:    correlate.OriginSMTP,
		Client:    correlate.Client{Host: "mail-ed1-f1.google.com", IP: "209.85.208.1", Service: "smtpd", PID: 4242, Connect: at.Add(-time.Second)},
		MessageID: "<" + strings.ToUpper(qid) + "@Example.COM>",
		Sender:    sender,
		HasSender: true,
		Size:      1234,
		Nrcpt:     len(rcpts),
		Queued:    true,
		Fate:      correlate.FateDelivered,
		FateTime:  at.Add(2 * time.Second),
		Lines:     5,
	}
	for i, r := range rcpts {
		rc := correlate.Recipient{Address: r, Status: correlate.StatusSent}
		if strings.HasPrefix(r, "bad") {
			rc.Attempts = append(rc.Attempts, correlate.Attempt{
				Time: at.Add(time.Second), Line: int64(100 + i), Transport: "smtp", Daemon: "smtp",
				Relay: "mx.example.net[192.0.2.7]:25", Delay: 1.25, Delays: [4]float64{0.01, 0, 0.5, 0.74},
				HasDelays: true, DSN: "4.2.0", Status: correlate.StatusDeferred,
				Reason: "host mx.example.net[192.0.2.7] said: 450 4.2.0 Greylisted", Category: "greylisted",
			})
			rc.Status, rc.Category = correlate.StatusBounced, "user_unknown"
			m.Fate = correlate.FateBounced
			rc.Attempts = append(rc.Attempts, correlate.Attempt{
				Time: at.Add(2 * time.Second), Line: int64(200 + i), Transport: "smtp", Daemon: "smtp",
				Relay: "mx.example.net[192.0.2.7]:25", Delay: 2, DSN: "5.1.1", Status: correlate.StatusBounced,
				Reason: "host mx.example.net[192.0.2.7] said: 550 5.1.1 <" + r + ">: User unknown", Category: "user_unknown",
			})
		} else {
			rc.Attempts = append(rc.Attempts, correlate.Attempt{
				Time: at.Add(time.Second), Line: int64(100 + i), Transport: "lmtp", Daemon: "lmtp",
				Relay: "mail1.example.com[private/dovecot-lmtp]", Delay: 0.5, DSN: "2.0.0",
				Status: correlate.StatusSent, Reason: "250 2.0.0 Saved",
			})
		}
		m.Recipients = append(m.Recipients, rc)
	}
	return m
}

func enc(m *correlate.Message) []byte { return correlate.AppendMessage(nil, m) }

func collect(t *testing.T, idx correlate.Index, q correlate.Query) []*correlate.Message {
	t.Helper()
	var out []*correlate.Message
	if err := idx.Messages(context.Background(), q, func(m *correlate.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatalf("Messages(%+v): %v", q, err)
	}
	slices.SortFunc(out, func(a, b *correlate.Message) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return strings.Compare(a.QueueID, b.QueueID)
	})
	return out
}

// QueueIDs returns the queue IDs of the messages idx holds that match q,
// sorted and comma-separated (a test's one-line view of what an index
// answers).
func QueueIDs(t *testing.T, idx correlate.Index, q correlate.Query) string {
	t.Helper()
	var out []string
	if err := idx.Messages(context.Background(), q, func(m *correlate.Message) error {
		out = append(out, m.QueueID)
		return nil
	}); err != nil {
		t.Fatalf("Messages(%+v): %v", q, err)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func qids(ms []*correlate.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.QueueID)
	}
	return strings.Join(s, ",")
}

func commit(t *testing.T, idx correlate.Index, cp *correlate.Checkpoint, msgs ...*correlate.Message) {
	t.Helper()
	ctx := context.Background()
	if len(msgs) > 0 {
		if err := idx.Append(ctx, msgs); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	if cp == nil {
		cp = &correlate.Checkpoint{}
	}
	if err := idx.Commit(ctx, cp); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func testEmpty(t *testing.T, idx correlate.Index) {
	ctx := context.Background()
	s, err := idx.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Open) != 0 || len(s.Sources) != 0 || len(s.State) != 0 {
		t.Errorf("Load of an empty index = %+v", s)
	}
	if got := collect(t, idx, correlate.Query{}); len(got) != 0 {
		t.Errorf("Messages = %s", qids(got))
	}
	n := 0
	if err := idx.Hours(ctx, time.Time{}, time.Time{}, func(*correlate.Hour) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("Hours: %d, %v", n, err)
	}
}

func testStaged(t *testing.T, idx correlate.Index) {
	ctx := context.Background()
	if err := idx.Append(ctx, []*correlate.Message{Msg("mail", "postfix", "AAAA1", base, "a@x.example", "b@y.example")}); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, idx, correlate.Query{}); len(got) != 0 {
		t.Errorf("before Commit: Messages = %s", qids(got))
	}
	commit(t, idx, nil)
	if got := collect(t, idx, correlate.Query{}); qids(got) != "AAAA1" {
		t.Errorf("after Commit: Messages = %s", qids(got))
	}
}

func testRoundTrip(t *testing.T, idx correlate.Index) {
	m := Msg("mail", "postfix", "8FFDEC2174", base, "mailtest@mail.test.local", "ok@accept.test", "bad@remote.test")
	m.Notices = []correlate.Notice{{Kind: "non-delivery", To: "sender", Ref: correlate.Ref{Host: "mail", Instance: "postfix", QueueID: "A7303C21B9", First: base.Add(3 * time.Second)}, Time: base.Add(3 * time.Second)}}
	m.Notes = []correlate.Note{{Time: base, Line: 7, Daemon: "cleanup", Action: "warning", Text: "header Subject: <script>alert(1)</script>"}}
	// A hop: relayed to a second instance that expired it.
	h := Msg("mail", "postfix-out", "194C4C2223", base.Add(time.Second), "mailtest@mail.test.local", "ok@accept.test")
	h.Recipients[0].Status = correlate.StatusExpired
	h.Recipients[0].Category = correlate.QueueExpired
	h.Fate = correlate.FateExpired
	m.Recipients[0].Attempts[0].QueuedAs = "194C4C2223"
	m.Hops = []*correlate.Message{h}
	ndr := Msg("mail", "postfix", "A7303C21B9", base.Add(3*time.Second), "", "mailtest@mail.test.local")
	ndr.Origin = correlate.OriginNotification
	ndr.NoticeFor = &correlate.Notice{Kind: "non-delivery", To: "sender", Ref: m.Ref, Time: base.Add(3 * time.Second)}
	commit(t, idx, nil, m, ndr)
	got := collect(t, idx, correlate.Query{})
	if len(got) != 2 {
		t.Fatalf("Messages = %s", qids(got))
	}
	if !bytes.Equal(enc(got[0]), enc(m)) {
		t.Errorf("message changed in the index:\n got %+v\nwant %+v", got[0], m)
	}
	if !bytes.Equal(enc(got[1]), enc(ndr)) {
		t.Errorf("notification changed in the index:\n got %+v\nwant %+v", got[1], ndr)
	}
	if len(got[0].Hops) != 1 || got[0].Hops[0].Parent() != got[0] {
		t.Errorf("hop not linked to its parent")
	}
	o := got[0].Outcomes()
	if len(o) != 2 || o[0].Status != correlate.StatusExpired || o[0].Category != correlate.QueueExpired {
		t.Errorf("outcome through the hop = %+v", o)
	}
	if f := got[0].FinalFate(); f != correlate.FateExpired {
		t.Errorf("FinalFate = %v, want expired (the hop's)", f)
	}
}

func testLookup(t *testing.T, idx correlate.Index) {
	a := Msg("mail", "postfix", "AAAA1", base, "Alice@X.example", "bob@y.example", "Carol@Z.example")
	a.Recipients[1].OrigTo = "list@z.example"
	b := Msg("mail", "postfix", "BBBB2", base.Add(time.Minute), "", "alice@x.example")
	b.HasSender = true // the null sender <>
	hop := Msg("mail", "postfix", "CCCC3", base.Add(2*time.Minute), "dave@w.example", "erin@v.example")
	c := Msg("mail2", "postfix", "DDDD4", base.Add(2*time.Minute), "dave@w.example", "frank@u.example")
	c.Recipients[0].Attempts[0].QueuedAs = "CCCC3"
	c.Hops = []*correlate.Message{hop}
	open := Msg("mail", "postfix", "EEEE5", base.Add(3*time.Minute), "grace@t.example", "heidi@s.example")
	open.Fate = correlate.FateQueued
	commit(t, idx, &correlate.Checkpoint{Open: []*correlate.Message{open}}, a, b, c)

	cases := []struct {
		by    correlate.Field
		value string
		want  string
	}{
		{correlate.ByQueueID, "AAAA1", "AAAA1"},
		{correlate.ByQueueID, "aaaa1", ""}, // queue IDs are case-sensitive
		{correlate.ByQueueID, "CCCC3", "DDDD4"},
		{correlate.ByQueueID, "EEEE5", "EEEE5"},
		{correlate.ByQueueID, "ZZZZ9", ""},
		{correlate.ByMessageID, "<AAAA1@example.com>", "AAAA1"},
		{correlate.ByMessageID, "bbbb2@EXAMPLE.com", "BBBB2"},
		{correlate.ByRecipient, "CAROL@z.example", "AAAA1"},
		{correlate.ByRecipient, "<bob@y.example>", "AAAA1"},
		{correlate.ByRecipient, "list@z.example", "AAAA1"},
		{correlate.ByRecipient, "alice@x.example", "BBBB2"},
		{correlate.ByRecipient, "erin@v.example", "DDDD4"},
		{correlate.ByRecipient, "heidi@s.example", "EEEE5"},
		{correlate.BySender, "alice@x.example", "AAAA1"},
		{correlate.BySender, "", "BBBB2"},
		{correlate.BySender, "<>", "BBBB2"},
		{correlate.BySender, "dave@w.example", "DDDD4"},
		{correlate.BySender, "nobody@x.example", ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d/%s", tc.by, tc.value), func(t *testing.T) {
			if got := qids(collect(t, idx, correlate.Query{By: tc.by, Value: tc.value})); got != tc.want {
				t.Errorf("lookup %q = %q, want %q", tc.value, got, tc.want)
			}
		})
	}
}

func testWindow(t *testing.T, idx correlate.Index) {
	var ms []*correlate.Message
	for i := 0; i < 6; i++ {
		ms = append(ms, Msg("mail", "postfix", fmt.Sprintf("W%04d", i), base.Add(time.Duration(i)*time.Hour), "s@x.example", "r@y.example"))
	}
	// A long-lived message: first seen before the window, finished in it.
	long := Msg("mail", "postfix", "LONG1", base.Add(-48*time.Hour), "s@x.example", "r@y.example")
	long.LastSeen = base.Add(150 * time.Minute)
	ms = append(ms, long)
	commit(t, idx, nil, ms...)
	cases := []struct {
		since, until time.Time
		want         string
	}{
		{time.Time{}, time.Time{}, "LONG1,W0000,W0001,W0002,W0003,W0004,W0005"},
		{base.Add(2 * time.Hour), base.Add(4 * time.Hour), "LONG1,W0002,W0003"},
		{base.Add(2*time.Hour + 3*time.Second), base.Add(4 * time.Hour), "LONG1,W0003"}, // W0002 ended 2 s after it began
		{base.Add(5 * time.Hour), time.Time{}, "W0005"},
		{time.Time{}, base.Add(time.Hour), "LONG1,W0000"},
		{base.Add(10 * time.Hour), time.Time{}, ""},
	}
	for i, tc := range cases {
		q := correlate.Query{Since: tc.since, Until: tc.until}
		if got := qids(collect(t, idx, q)); got != tc.want {
			t.Errorf("case %d: window [%v, %v) = %q, want %q", i, tc.since, tc.until, got, tc.want)
		}
		q.By, q.Value = correlate.BySender, "s@x.example"
		if got := qids(collect(t, idx, q)); got != tc.want {
			t.Errorf("case %d: window with lookup = %q, want %q", i, got, tc.want)
		}
	}
}

func testOpen(t *testing.T, idx correlate.Index) {
	ctx := context.Background()
	a := Msg("mail", "postfix", "OPEN1", base, "s@x.example", "r@y.example")
	a.Fate, a.Recipients[0].Status = correlate.FateQueued, correlate.StatusDeferred
	b := Msg("mail", "postfix", "OPEN2", base.Add(time.Second), "s@x.example", "q@y.example")
	b.Fate = correlate.FateHeld
	commit(t, idx, &correlate.Checkpoint{Open: []*correlate.Message{a, b}})
	s, err := idx.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Open) != 2 {
		t.Fatalf("Load: %d open messages, want 2", len(s.Open))
	}
	// Mutating after Commit does not change the index.
	a.Lines = 999
	if got := collect(t, idx, correlate.Query{By: correlate.ByQueueID, Value: "OPEN1"}); len(got) != 1 || got[0].Lines != 5 {
		t.Errorf("open message = %+v", got)
	}
	// A later checkpoint replaces OPEN1 and leaves OPEN2 alone.
	a2 := Msg("mail", "postfix", "OPEN1", base, "s@x.example", "r@y.example")
	a2.Fate, a2.Lines = correlate.FateQueued, 6
	commit(t, idx, &correlate.Checkpoint{Open: []*correlate.Message{a2}})
	got := collect(t, idx, correlate.Query{})
	if qids(got) != "OPEN1,OPEN2" || got[0].Lines != 6 {
		t.Errorf("after replacing: %s lines=%d", qids(got), got[0].Lines)
	}
	// OPEN1 leaves the queue: closed as open, appended as finished.
	fin := Msg("mail", "postfix", "OPEN1", base, "s@x.example", "r@y.example")
	fin.Lines = 7
	commit(t, idx, &correlate.Checkpoint{Closed: []correlate.Ref{a.Ref}}, fin)
	got = collect(t, idx, correlate.Query{})
	if qids(got) != "OPEN1,OPEN2" || got[0].Lines != 7 || got[0].Fate != correlate.FateDelivered {
		t.Errorf("after closing: %s", qids(got))
	}
	s, err = idx.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Open) != 1 || s.Open[0].QueueID != "OPEN2" || s.Open[0].Fate != correlate.FateHeld {
		t.Errorf("Load after closing: %d open", len(s.Open))
	}
	// Closing what was never stored is harmless.
	commit(t, idx, &correlate.Checkpoint{Closed: []correlate.Ref{{Host: "mail", Instance: "postfix", QueueID: "NEVER", First: base}}})
	if got := collect(t, idx, correlate.Query{}); qids(got) != "OPEN1,OPEN2" {
		t.Errorf("after closing an unknown ref: %s", qids(got))
	}
}

func hour(at time.Time, sent, deferred int64) *correlate.Hour {
	h := correlate.NewHour(at)
	h.Lines[correlate.LineKey{Host: "mail", Kind: parser.KindDelivery}] = sent + deferred
	h.Traffic[correlate.HostKey{Host: "mail", Instance: "postfix"}] = &correlate.Traffic{Sent: sent, Deferred: deferred}
	h.Deliveries[correlate.DeliveryKey{Host: "mail", Instance: "postfix", Transport: "smtp", Status: correlate.StatusDeferred, Category: "greylisted", Domain: "y.example", Relay: "mx.y.example[192.0.2.1]:25"}] = &correlate.DeliveryStat{Count: deferred, First: at, Last: at, SampleQueueID: "AAAA1"}
	h.Warnings[correlate.WarningKey{Host: "mail", Severity: "warning", Daemon: "smtpd", Text: "hostname # does not resolve"}] = &correlate.WarningStat{Count: 1, First: at, Last: at, Samples: []string{"hostname 1 does not resolve"}}
	h.Samples = []correlate.Sample{{Host: "mail", Kind: parser.KindUnknown, Time: at, Line: 3, Text: "postfix/smtpd[1]: ???"}}
	return h
}

func hoursOf(t *testing.T, idx correlate.Index, since, until time.Time) []*correlate.Hour {
	t.Helper()
	var out []*correlate.Hour
	if err := idx.Hours(context.Background(), since, until, func(h *correlate.Hour) error {
		out = append(out, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testHours(t *testing.T, idx correlate.Index) {
	h0 := base.Truncate(time.Hour)
	commit(t, idx, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(h0, 3, 1), hour(h0.Add(time.Hour), 5, 0)}})
	commit(t, idx, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(h0.Add(time.Hour), 2, 4), hour(h0.Add(3*time.Hour), 1, 1)}})
	hs := hoursOf(t, idx, time.Time{}, time.Time{})
	if len(hs) != 3 {
		t.Fatalf("%d hours, want 3", len(hs))
	}
	for i, want := range []struct {
		start          time.Time
		sent, deferred int64
	}{{h0, 3, 1}, {h0.Add(time.Hour), 7, 4}, {h0.Add(3 * time.Hour), 1, 1}} {
		h := hs[i]
		tr := h.TotalTraffic()
		if !h.Start.Equal(want.start) || tr.Sent != want.sent || tr.Deferred != want.deferred {
			t.Errorf("hour %d: %v sent=%d deferred=%d, want %v %d %d", i, h.Start, tr.Sent, tr.Deferred, want.start, want.sent, want.deferred)
		}
		if n := h.LineCount(parser.KindDelivery); n != want.sent+want.deferred {
			t.Errorf("hour %d: %d delivery lines", i, n)
		}
	}
	if w := hs[1].Warnings[correlate.WarningKey{Host: "mail", Severity: "warning", Daemon: "smtpd", Text: "hostname # does not resolve"}]; w == nil || w.Count != 2 || len(w.Samples) != 2 {
		t.Errorf("merged warning = %+v", w)
	}
	if len(hs[1].Samples) != 2 {
		t.Errorf("merged samples = %d", len(hs[1].Samples))
	}
	// Windows select the hours that overlap them.
	if got := hoursOf(t, idx, h0.Add(90*time.Minute), time.Time{}); len(got) != 2 || !got[0].Start.Equal(h0.Add(time.Hour)) {
		t.Errorf("since: %d hours", len(got))
	}
	if got := hoursOf(t, idx, time.Time{}, h0.Add(time.Hour)); len(got) != 1 || !got[0].Start.Equal(h0) {
		t.Errorf("until: %d hours", len(got))
	}
	if got := hoursOf(t, idx, h0.Add(2*time.Hour), h0.Add(3*time.Hour)); len(got) != 0 {
		t.Errorf("empty window: %d hours", len(got))
	}
}

// testHoursMany commits more deltas to one hour than an implementation
// may keep apart, so merging stored versions is exercised.
func testHoursMany(t *testing.T, idx correlate.Index) {
	h0 := base.Truncate(time.Hour)
	for i := 0; i < 25; i++ {
		commit(t, idx, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(h0, 1, 2)}})
	}
	hs := hoursOf(t, idx, time.Time{}, time.Time{})
	if len(hs) != 1 {
		t.Fatalf("%d hours", len(hs))
	}
	tr := hs[0].TotalTraffic()
	if tr.Sent != 25 || tr.Deferred != 50 {
		t.Errorf("sent=%d deferred=%d, want 25 50", tr.Sent, tr.Deferred)
	}
	if n := len(hs[0].Samples); n != correlate.SamplesPerKind {
		t.Errorf("%d samples kept, want %d", n, correlate.SamplesPerKind)
	}
	d := hs[0].Deliveries[correlate.DeliveryKey{Host: "mail", Instance: "postfix", Transport: "smtp", Status: correlate.StatusDeferred, Category: "greylisted", Domain: "y.example", Relay: "mx.y.example[192.0.2.1]:25"}]
	if d == nil || d.Count != 50 || d.SampleQueueID != "AAAA1" {
		t.Errorf("deliveries = %+v", d)
	}
}

func testSourcesState(t *testing.T, idx correlate.Index) {
	ctx := context.Background()
	s1 := correlate.Source{Fingerprint: "fp1", Name: "/var/log/mail.log", Dev: 2049, Ino: 77, Offset: 100, Lines: 2, Size: 100, ModTime: base, Updated: base}
	s2 := correlate.Source{Fingerprint: "fp2", Name: "/var/log/mail.log.1.gz", Compression: "gzip", Offset: 5000, Lines: 40}
	s3 := correlate.Source{Fingerprint: "journal:postfix*", Name: "journal", Cursor: "s=0123;i=42;b=abcd", Lines: 7}
	commit(t, idx, &correlate.Checkpoint{Sources: []correlate.Source{s1, s2, s3}, State: []byte("state-1")})
	s1.Offset, s1.Lines, s1.Name = 250, 5, "/var/log/mail.log.1"
	commit(t, idx, &correlate.Checkpoint{Sources: []correlate.Source{s1}})
	snap, err := idx.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(snap.State) != "state-1" {
		t.Errorf("state = %q (a nil State must keep the stored one)", snap.State)
	}
	if len(snap.Sources) != 3 {
		t.Fatalf("sources = %+v", snap.Sources)
	}
	got := map[string]correlate.Source{}
	for _, s := range snap.Sources {
		got[s.Fingerprint] = s
	}
	if g := got["fp1"]; g.Offset != 250 || g.Lines != 5 || g.Name != "/var/log/mail.log.1" || g.Ino != 77 || !g.ModTime.Equal(base) {
		t.Errorf("fp1 = %+v", g)
	}
	if g := got["fp2"]; g.Offset != 5000 || g.Compression != "gzip" {
		t.Errorf("fp2 = %+v", g)
	}
	if g := got["journal:postfix*"]; g.Cursor != "s=0123;i=42;b=abcd" || g.Lines != 7 {
		t.Errorf("journal = %+v", g)
	}
	commit(t, idx, &correlate.Checkpoint{State: []byte("state-2")})
	if snap, _ = idx.Load(ctx); string(snap.State) != "state-2" {
		t.Errorf("state = %q, want state-2", snap.State)
	}
	srcs, err := idx.Sources(ctx)
	if err != nil || len(srcs) != 3 {
		t.Errorf("Sources = %v, %v", srcs, err)
	}
}

func testCallbackError(t *testing.T, idx correlate.Index) {
	commit(t, idx, nil, Msg("mail", "postfix", "AAAA1", base, "s@x.example", "r@y.example"),
		Msg("mail", "postfix", "BBBB2", base, "s@x.example", "r@y.example"))
	stop := errors.New("stop here")
	n := 0
	err := idx.Messages(context.Background(), correlate.Query{}, func(*correlate.Message) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Messages with a failing callback = %v after %d calls", err, n)
	}
	commit(t, idx, &correlate.Checkpoint{Hours: []*correlate.Hour{hour(base, 1, 1)}})
	if err := idx.Hours(context.Background(), time.Time{}, time.Time{}, func(*correlate.Hour) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Hours with a failing callback = %v", err)
	}
}

func testCancelled(t *testing.T, idx correlate.Index) {
	commit(t, idx, nil, Msg("mail", "postfix", "AAAA1", base, "s@x.example", "r@y.example"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := idx.Messages(ctx, correlate.Query{}, func(*correlate.Message) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Messages on a cancelled context = %v", err)
	}
	if err := idx.Commit(ctx, &correlate.Checkpoint{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit on a cancelled context = %v", err)
	}
}

// testMany crosses an implementation's internal batch sizes.
func testMany(t *testing.T, idx correlate.Index) {
	const n = 10000
	var ms []*correlate.Message
	for i := 0; i < n; i++ {
		ms = append(ms, Msg("mail", "postfix", fmt.Sprintf("M%06X", i), base.Add(time.Duration(i)*time.Second), fmt.Sprintf("s%d@x.example", i%100), fmt.Sprintf("r%d@y.example", i)))
		if len(ms) == 3000 {
			commit(t, idx, nil, ms...)
			ms = ms[:0]
		}
	}
	commit(t, idx, nil, ms...)
	if got := collect(t, idx, correlate.Query{}); len(got) != n {
		t.Errorf("%d messages, want %d", len(got), n)
	}
	if got := collect(t, idx, correlate.Query{By: correlate.ByRecipient, Value: "r7777@y.example"}); qids(got) != "M001E61" {
		t.Errorf("lookup = %s", qids(got))
	}
	if got := collect(t, idx, correlate.Query{By: correlate.BySender, Value: "s42@x.example"}); len(got) != n/100 {
		t.Errorf("sender lookup = %d messages, want %d", len(got), n/100)
	}
	q := correlate.Query{Since: base.Add(5000 * time.Second), Until: base.Add(5010 * time.Second)}
	if got := collect(t, idx, q); len(got) != 12 { // 4998..5009: each spans 2 s
		t.Errorf("window = %d messages (%s)", len(got), qids(got))
	}
}
