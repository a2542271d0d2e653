package correlate_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
)

// feed ingests log lines (as one stream) into idx with a fresh Ingester,
// as one `pfdiag ingest -` run would.
func feed(t *testing.T, idx correlate.Index, lines ...string) *correlate.Ingester {
	t.Helper()
	return feedEvery(t, idx, 0, lines...)
}

// feedEvery is feed with a checkpoint every n lines (0: the default).
func feedEvery(t *testing.T, idx correlate.Index, n int, lines ...string) *correlate.Ingester {
	t.Helper()
	text := strings.Join(lines, "\n") + "\n"
	ctx := context.Background()
	in, err := correlate.NewIngester(ctx, idx, correlate.IngestOptions{
		Correlator:      correlate.Options{Classify: fakeClassify},
		Parse:           parser.Options{Year: 2026, Loc: time.UTC},
		CheckpointLines: int64(n),
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := input.Open("-", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Read(ctx, f); err != nil {
		t.Fatal(err)
	}
	return in
}

func byQID(t *testing.T, idx correlate.Index, qid string) []*correlate.Message {
	t.Helper()
	ms := allMessages(t, idx, correlate.Query{By: correlate.ByQueueID, Value: qid})
	slices.SortFunc(ms, func(a, b *correlate.Message) int { return a.First.Compare(b.First) })
	return ms
}

func one(t *testing.T, idx correlate.Index, qid string) *correlate.Message {
	t.Helper()
	ms := byQID(t, idx, qid)
	if len(ms) != 1 {
		t.Fatalf("%d messages found by queue ID %s, want 1", len(ms), qid)
	}
	return ms[0]
}

func totals(t *testing.T, idx correlate.Index) *correlate.Hour {
	t.Helper()
	var hs []*correlate.Hour
	if err := idx.Hours(context.Background(), time.Time{}, time.Time{}, func(h *correlate.Hour) error {
		hs = append(hs, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return correlate.Totals(hs)
}

func statuses(m *correlate.Message) string {
	var s []string
	for _, o := range m.Outcomes() {
		s = append(s, o.Address+"="+o.Status.String())
	}
	return strings.Join(s, " ")
}

// A delivered message, from pickup to removal.
func delivered(ts, host, inst, qid, from, to string) []string {
	p := host + " " + inst
	return []string{
		"Nov 30 " + ts + " " + p + "/pickup[100]: " + qid + ": uid=0 from=<" + from + ">",
		"Nov 30 " + ts + " " + p + "/cleanup[101]: " + qid + ": message-id=<" + qid + "@example.test>",
		"Nov 30 " + ts + " " + p + "/qmgr[102]: " + qid + ": from=<" + from + ">, size=321, nrcpt=1 (queue active)",
		"Nov 30 " + ts + " " + p + "/smtp[103]: " + qid + ": to=<" + to + ">, relay=mx.example.net[192.0.2.25]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)",
		"Nov 30 " + ts + " " + p + "/qmgr[102]: " + qid + ": removed",
	}
}

func TestQueueIDReuse(t *testing.T) {
	idx := memindex.New()
	lines := delivered("10:00:00", "mail", "postfix", "4A5F6C200C", "a@x.test", "b@y.test")
	lines = append(lines,
		"Nov 30 10:05:00 mail postfix/pickup[100]: 4A5F6C200C: uid=0 from=<c@x.test>",
		"Nov 30 10:05:00 mail postfix/qmgr[102]: 4A5F6C200C: from=<c@x.test>, size=400, nrcpt=1 (queue active)",
		"Nov 30 10:05:01 mail postfix/smtp[103]: 4A5F6C200C: to=<gone@y.test>, relay=mx.example.net[192.0.2.25]:25, delay=1, delays=0/0/0.5/0.5, dsn=5.1.1, status=bounced (host mx.example.net[192.0.2.25] said: 550 5.1.1 User unknown)",
		"Nov 30 10:05:01 mail postfix/qmgr[102]: 4A5F6C200C: removed",
	)
	feed(t, idx, lines...)
	ms := byQID(t, idx, "4A5F6C200C")
	if len(ms) != 2 {
		t.Fatalf("%d incarnations, want 2", len(ms))
	}
	if got := statuses(ms[0]); got != "b@y.test=sent" || ms[0].Sender != "a@x.test" || ms[0].Fate != correlate.FateDelivered {
		t.Errorf("first incarnation: %s from %s, %s", got, ms[0].Sender, ms[0].Fate)
	}
	if got := statuses(ms[1]); got != "gone@y.test=bounced" || ms[1].Sender != "c@x.test" || ms[1].Fate != correlate.FateBounced {
		t.Errorf("second incarnation: %s from %s, %s", got, ms[1].Sender, ms[1].Fate)
	}
	if !ms[1].First.After(ms[0].First) {
		t.Errorf("incarnations not told apart by first-seen time")
	}
}

// A queue ID reused within the second its previous incarnation was first
// seen in (classic syslog has one-second resolution; hand-written logs do
// it too) must still be two messages: the second's first-seen time is
// moved on by a microsecond so their Refs differ, also in the checkpoint
// that holds both while they wait out their grace period.
func TestQueueIDReuseSameSecond(t *testing.T) {
	for _, checkpointEvery := range []int{0, 1, 3} {
		idx := memindex.New()
		lines := delivered("10:00:00", "mail", "postfix", "4A5F6C200C", "a@x.test", "b@y.test")
		lines = append(lines, delivered("10:00:00", "mail", "postfix", "4A5F6C200C", "c@x.test", "d@y.test")...)
		lines = append(lines, delivered("10:00:00", "mail", "postfix", "4A5F6C200C", "e@x.test", "f@y.test")...)
		feedEvery(t, idx, checkpointEvery, lines...)
		ms := byQID(t, idx, "4A5F6C200C")
		if len(ms) != 3 {
			t.Fatalf("checkpoint every %d: %d incarnations, want 3", checkpointEvery, len(ms))
		}
		seen := map[string]bool{}
		for _, m := range ms {
			seen[statuses(m)] = true
		}
		for _, want := range []string{"b@y.test=sent", "d@y.test=sent", "f@y.test=sent"} {
			if !seen[want] {
				t.Errorf("checkpoint every %d: no incarnation with %s (have %v)", checkpointEvery, want, seen)
			}
		}
		if tr := totals(t, idx).TotalTraffic(); tr.Sent != 3 {
			t.Errorf("checkpoint every %d: %d sent in the hour totals, want 3", checkpointEvery, tr.Sent)
		}
	}
}

func TestSameQueueIDTwoInstancesAndHosts(t *testing.T) {
	idx := memindex.New()
	a := delivered("10:00:00", "mail", "postfix", "D203DC2180", "a@x.test", "one@y.test")
	b := delivered("10:00:00", "mail", "postfix-out", "D203DC2180", "a@x.test", "two@y.test")
	c := delivered("10:00:00", "mail2", "postfix", "D203DC2180", "a@x.test", "three@y.test")
	var lines []string
	for i := range a { // interleaved, as one syslog file
		lines = append(lines, a[i], b[i], c[i])
	}
	feed(t, idx, lines...)
	ms := byQID(t, idx, "D203DC2180")
	if len(ms) != 3 {
		t.Fatalf("%d messages, want 3", len(ms))
	}
	got := map[string]string{}
	for _, m := range ms {
		got[m.Host+"/"+m.Instance] = statuses(m)
		if m.Lines != 5 {
			t.Errorf("%s/%s: %d lines linked, want 5", m.Host, m.Instance, m.Lines)
		}
	}
	want := map[string]string{"mail/postfix": "one@y.test=sent", "mail/postfix-out": "two@y.test=sent", "mail2/postfix": "three@y.test=sent"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	tr := totals(t, idx).TotalTraffic()
	if tr.Received != 3 || tr.Sent != 3 {
		t.Errorf("received %d sent %d, want 3 3", tr.Received, tr.Sent)
	}
}

func TestNonDeliveryNotificationLinked(t *testing.T) {
	idx := memindex.New()
	feed(t, idx,
		"Nov 30 07:33:55 mail postfix/pickup[16869]: 967FBC2175: uid=0 from=<mailtest@mail.test.local>",
		"Nov 30 07:33:55 mail postfix/cleanup[16954]: 967FBC2175: message-id=<20261130073355.967FBC2175@mail.test.local>",
		"Nov 30 07:33:55 mail postfix/qmgr[16870]: 967FBC2175: from=<mailtest@mail.test.local>, size=385, nrcpt=1 (queue active)",
		"Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nosuchuser@remote.test>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))",
		"Nov 30 07:33:55 mail postfix/cleanup[16954]: A7CA7C2178: message-id=<20261130073355.A7CA7C2178@mail.test.local>",
		"Nov 30 07:33:55 mail postfix/bounce[16984]: 967FBC2175: sender non-delivery notification: A7CA7C2178",
		"Nov 30 07:33:55 mail postfix/qmgr[16870]: A7CA7C2178: from=<>, size=2525, nrcpt=1 (queue active)",
		"Nov 30 07:33:55 mail postfix/qmgr[16870]: 967FBC2175: removed",
		"Nov 30 07:33:55 mail postfix/local[16962]: A7CA7C2178: to=<mailtest@mail.test.local>, relay=local, delay=0.01, delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 30 07:33:55 mail postfix/qmgr[16870]: A7CA7C2178: removed",
	)
	orig := one(t, idx, "967FBC2175")
	ndr := one(t, idx, "A7CA7C2178")
	if len(orig.Notices) != 1 || orig.Notices[0].Kind != "non-delivery" || orig.Notices[0].Ref.QueueID != "A7CA7C2178" || !orig.Notices[0].Ref.First.Equal(ndr.First) {
		t.Errorf("original's notices = %+v", orig.Notices)
	}
	if ndr.NoticeFor == nil || ndr.NoticeFor.Ref.QueueID != "967FBC2175" || !ndr.NoticeFor.Ref.First.Equal(orig.First) {
		t.Errorf("notification's link = %+v", ndr.NoticeFor)
	}
	if ndr.Origin != correlate.OriginNotification || !ndr.HasSender || ndr.Sender != "" {
		t.Errorf("notification: origin %v sender %q", ndr.Origin, ndr.Sender)
	}
	if orig.Fate != correlate.FateBounced || ndr.Fate != correlate.FateDelivered {
		t.Errorf("fates %v %v", orig.Fate, ndr.Fate)
	}
	if c := orig.Recipients[0].Category; c != "user_unknown" {
		t.Errorf("category %q (from the classifier)", c)
	}
	tr := totals(t, idx).TotalTraffic()
	if tr.Received != 1 || tr.Notifications != 1 || tr.Bounced != 1 || tr.Sent != 1 {
		t.Errorf("traffic %+v", tr)
	}
}

// amavis-style content filter: the message goes to 127.0.0.1:10024 and
// comes back through the smtpd on 10025 with a new queue ID.
func contentFilter(order string) []string {
	parent := []string{
		"Nov 30 11:00:00 mail postfix/smtpd[200]: connect from mail-ed1-f50.google.com[209.85.208.50]",
		"Nov 30 11:00:00 mail postfix/smtpd[200]: 1E708258AAE: client=mail-ed1-f50.google.com[209.85.208.50]",
		"Nov 30 11:00:00 mail postfix/cleanup[201]: 1E708258AAE: message-id=<abc@google.test>",
		"Nov 30 11:00:00 mail postfix/qmgr[202]: 1E708258AAE: from=<s@google.test>, size=5000, nrcpt=1 (queue active)",
		"Nov 30 11:00:01 mail postfix/smtpd[200]: disconnect from mail-ed1-f50.google.com[209.85.208.50] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
	}
	child := []string{
		"Nov 30 11:00:02 mail postfix/10025/smtpd[300]: connect from localhost[127.0.0.1]",
		"Nov 30 11:00:02 mail postfix/10025/smtpd[300]: 3F2A1258B01: client=localhost[127.0.0.1]",
		"Nov 30 11:00:02 mail postfix/cleanup[201]: 3F2A1258B01: message-id=<abc@google.test>",
		"Nov 30 11:00:02 mail postfix/qmgr[202]: 3F2A1258B01: from=<s@google.test>, size=5400, nrcpt=1 (queue active)",
	}
	sent := "Nov 30 11:00:02 mail postfix/smtp[203]: 1E708258AAE: to=<r@example.com>, relay=127.0.0.1[127.0.0.1]:10024, delay=2, delays=0.1/0/0/1.9, dsn=2.0.0, status=sent (250 2.0.0 from MTA(smtp:[127.0.0.1]:10025): 250 2.0.0 Ok: queued as 3F2A1258B01)"
	parentRemoved := "Nov 30 11:00:02 mail postfix/qmgr[202]: 1E708258AAE: removed"
	childDone := []string{
		"Nov 30 11:00:03 mail postfix/lmtp[204]: 3F2A1258B01: to=<r@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.3, delays=0/0/0/0.3, dsn=4.2.2, status=deferred (host mail.example.com[private/dovecot-lmtp] said: 452 4.2.2 <r@example.com> Quota exceeded (mailbox for user is full) (in reply to end of DATA command))",
		"Nov 30 11:10:03 mail postfix/qmgr[202]: 3F2A1258B01: from=<s@google.test>, size=5400, nrcpt=1 (queue active)",
		"Nov 30 11:10:03 mail postfix/lmtp[204]: 3F2A1258B01: to=<r@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=601, delays=600/0/0/1, dsn=5.2.2, status=bounced (host mail.example.com[private/dovecot-lmtp] said: 552 5.2.2 <r@example.com> Quota exceeded (in reply to end of DATA command))",
		"Nov 30 11:10:03 mail postfix/qmgr[202]: 3F2A1258B01: removed",
	}
	var out []string
	out = append(out, parent...)
	switch order {
	case "child first": // the usual order: the copy is queued before the 250 reply is logged
		out = append(out, child...)
		out = append(out, sent, parentRemoved)
		out = append(out, childDone...)
	case "sent first": // two syslog writers: the reply logged before the copy's first line
		out = append(out, sent, parentRemoved)
		out = append(out, child...)
		out = append(out, childDone...)
	case "child done first": // the copy delivered and removed before the sender logged the reply
		out = append(out, child...)
		out = append(out,
			"Nov 30 11:00:02 mail postfix/lmtp[204]: 3F2A1258B01: to=<r@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.3, delays=0/0/0/0.3, dsn=4.2.2, status=deferred (host mail.example.com[private/dovecot-lmtp] said: 452 4.2.2 <r@example.com> Quota exceeded (in reply to end of DATA command))",
			"Nov 30 11:00:02 mail postfix/lmtp[204]: 3F2A1258B01: to=<r@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.4, delays=0/0/0/0.4, dsn=5.2.2, status=bounced (host mail.example.com[private/dovecot-lmtp] said: 552 5.2.2 <r@example.com> Quota exceeded (in reply to end of DATA command))",
			"Nov 30 11:00:02 mail postfix/qmgr[202]: 3F2A1258B01: removed",
			sent, parentRemoved)
	}
	return out
}

func TestContentFilterReinjection(t *testing.T) {
	for _, order := range []string{"child first", "sent first", "child done first"} {
		t.Run(order, func(t *testing.T) {
			idx := memindex.New()
			feed(t, idx, contentFilter(order)...)
			all := allMessages(t, idx, correlate.Query{})
			if len(all) != 1 {
				t.Fatalf("%d messages, want 1 (one message through two queues)", len(all))
			}
			m := all[0]
			if m.QueueID != "1E708258AAE" || len(m.Hops) != 1 || m.Hops[0].QueueID != "3F2A1258B01" {
				t.Fatalf("root %s with %d hops", m.QueueID, len(m.Hops))
			}
			if m.Recipients[0].Attempts[0].QueuedAs != "3F2A1258B01" {
				t.Errorf("queued-as not recorded")
			}
			if got := statuses(m); got != "r@example.com=bounced" {
				t.Errorf("outcome %s, want bounced (the re-injected copy's)", got)
			}
			if f := m.FinalFate(); f != correlate.FateBounced {
				t.Errorf("final fate %v", f)
			}
			o := m.Outcomes()[0]
			if len(o.Attempts) != 3 || o.AttemptHops[2].QueueID != "3F2A1258B01" {
				t.Errorf("attempts through both queues: %d", len(o.Attempts))
			}
			if o.Category != "fake_bounced" {
				t.Errorf("category %q", o.Category)
			}
			if got := one(t, idx, "3F2A1258B01"); got.QueueID != "1E708258AAE" {
				t.Errorf("lookup by the second queue ID found %s", got.QueueID)
			}
			if m.Client.Host != "mail-ed1-f50.google.com" || m.Client.Connect.IsZero() {
				t.Errorf("client %+v", m.Client)
			}
			tr := totals(t, idx).TotalTraffic()
			if tr.Received != 1 || tr.Reinjected != 1 {
				t.Errorf("received %d re-injected %d, want 1 1", tr.Received, tr.Reinjected)
			}
		})
	}
}

func TestRemoteQueuedAsNotLinked(t *testing.T) {
	idx := memindex.New()
	lines := delivered("10:00:00", "mail", "postfix", "C1940256EDE", "a@x.test", "b@y.test")
	lines[3] = "Nov 30 10:00:00 mail postfix/smtp[103]: C1940256EDE: to=<b@y.test>, relay=mx.y.test[192.0.2.25]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 0798ED66C7B)"
	// Our own message with the remote server's queue ID, by coincidence.
	lines = append(lines, "Nov 30 10:00:00 mail postfix/smtpd[5]: 0798ED66C7B: client=unknown[198.51.100.7]")
	lines = append(lines, delivered("10:00:01", "mail", "postfix", "0798ED66C7B", "z@w.test", "q@x.test")[1:]...)
	feed(t, idx, lines...)
	if m := one(t, idx, "C1940256EDE"); len(m.Hops) != 0 {
		t.Errorf("a remote server's queue ID was taken for a re-injection")
	}
	if m := one(t, idx, "0798ED66C7B"); m.Parent() != nil || m.QueueID != "0798ED66C7B" {
		t.Errorf("unrelated message was adopted")
	}
}

func TestExpiry(t *testing.T) {
	idx := memindex.New()
	feed(t, idx,
		"Nov 30 10:00:00 mail postfix/pickup[1]: 165F0C221F: uid=0 from=<a@x.test>",
		"Nov 30 10:00:00 mail postfix/qmgr[2]: 165F0C221F: from=<a@x.test>, size=300, nrcpt=2 (queue active)",
		"Nov 30 10:00:01 mail postfix/smtp[3]: 165F0C221F: to=<ok@y.test>, relay=mx.y.test[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
		"Nov 30 10:00:01 mail postfix/smtp[3]: 165F0C221F: to=<slow@z.test>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to mx.z.test[192.0.2.9]:25: Connection refused)",
		"Nov 30 15:00:01 mail postfix/qmgr[2]: 165F0C221F: from=<a@x.test>, size=300, nrcpt=2 (queue active)",
		"Nov 30 15:00:02 mail postfix/smtp[3]: 165F0C221F: to=<slow@z.test>, relay=none, delay=18002, delays=18000/0/2/0, dsn=4.4.1, status=deferred (connect to mx.z.test[192.0.2.9]:25: Connection refused)",
		"Nov 30 15:00:02 mail postfix/qmgr[2]: 165F0C221F: from=<a@x.test>, status=expired, returned to sender",
		"Nov 30 15:00:02 mail postfix/qmgr[2]: 165F0C221F: removed",
	)
	m := one(t, idx, "165F0C221F")
	if got := statuses(m); got != "ok@y.test=sent slow@z.test=expired" {
		t.Errorf("outcome %s", got)
	}
	if m.Fate != correlate.FateExpired {
		t.Errorf("fate %v", m.Fate)
	}
	r := m.Recipient("slow@z.test")
	last := r.Attempts[len(r.Attempts)-1]
	if !last.Synthetic || last.Status != correlate.StatusExpired || last.Category != correlate.QueueExpired || last.DSN != "4.4.1" || last.Line != 7 {
		t.Errorf("expiry attempt %+v", last)
	}
	tr := totals(t, idx).TotalTraffic()
	if tr.Expired != 1 || tr.Deferred != 2 || tr.Sent != 1 || tr.Received != 1 {
		t.Errorf("traffic %+v", tr)
	}
}

func TestHoldReleaseDelete(t *testing.T) {
	idx := memindex.New()
	feed(t, idx,
		// postsuper -h after a deferral, then -H, then delivered.
		"Nov 30 07:33:57 mail postfix/pickup[1]: 0C4FAC2220: uid=0 from=<a@x.test>",
		"Nov 30 07:33:57 mail postfix/qmgr[2]: 0C4FAC2220: from=<a@x.test>, size=367, nrcpt=1 (queue active)",
		"Nov 30 07:33:57 mail postfix/smtp[3]: 0C4FAC2220: to=<held@strict.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.08, delays=0/0/0/0.08, dsn=4.2.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 450 4.2.0 <held@strict.test>: Recipient address rejected: Greylisted)",
		"Nov 30 07:33:57 mail postfix/postsuper[4]: 0C4FAC2220: placed on hold",
		"Nov 30 07:33:57 mail postfix/postsuper[4]: Placed on hold: 1 message",
		// header_checks HOLD: never tried, the recipient only in the hold line.
		"Nov 30 07:33:57 mail postfix/pickup[1]: 0ED90C2221: uid=0 from=<a@x.test>",
		"Nov 30 07:33:57 mail postfix/cleanup[5]: 0ED90C2221: hold: header Subject: [HOLD] quarantine test from local; from=<a@x.test> to=<quarantine@accept.test>: quarantined by test content policy",
		"Nov 30 07:33:57 mail postfix/cleanup[5]: 0ED90C2221: message-id=<q@x.test>",
		// deleted with postsuper -d while deferred.
		"Nov 30 07:33:58 mail postfix/pickup[1]: 1A2B3C4D5E: uid=0 from=<a@x.test>",
		"Nov 30 07:33:58 mail postfix/qmgr[2]: 1A2B3C4D5E: from=<a@x.test>, size=367, nrcpt=1 (queue active)",
		"Nov 30 07:33:58 mail postfix/smtp[3]: 1A2B3C4D5E: to=<d@z.test>, relay=none, delay=0.1, delays=0/0/0.1/0, dsn=4.4.1, status=deferred (connect to mx.z.test[192.0.2.9]:25: Connection refused)",
		"Nov 30 07:34:10 mail postfix/postsuper[6]: 1A2B3C4D5E: removed",
		// cleanup header_checks REJECT: rejected after a queue ID was assigned.
		"Nov 30 07:34:11 mail postfix/smtpd[7]: 2B3C4D5E6F: client=unknown[198.51.100.7]",
		"Nov 30 07:34:11 mail postfix/cleanup[5]: 2B3C4D5E6F: reject: header Subject: buy now from unknown[198.51.100.7]; from=<s@spam.test> to=<v@x.test> proto=ESMTP helo=<spam.test>: 5.7.1 message content rejected",
	)
	held := one(t, idx, "0C4FAC2220")
	if held.FinalFate() != correlate.FateHeld || statuses(held) != "held@strict.test=held" {
		t.Errorf("postsuper -h: fate %v, %s", held.FinalFate(), statuses(held))
	}
	q := one(t, idx, "0ED90C2221")
	if q.FinalFate() != correlate.FateHeld || statuses(q) != "quarantine@accept.test=held" {
		t.Errorf("header_checks HOLD: fate %v, %s", q.FinalFate(), statuses(q))
	}
	del := one(t, idx, "1A2B3C4D5E")
	if del.Fate != correlate.FateDeleted || statuses(del) != "d@z.test=deleted" {
		t.Errorf("postsuper -d: fate %v, %s", del.Fate, statuses(del))
	}
	rej := one(t, idx, "2B3C4D5E6F")
	if rej.Fate != correlate.FateRejected || rej.Client.Helo != "spam.test" {
		t.Errorf("cleanup reject: fate %v helo %q", rej.Fate, rej.Client.Helo)
	}
	// Released and delivered in a later run.
	feed(t, idx,
		"Nov 30 07:40:00 mail postfix/postsuper[8]: 0C4FAC2220: released from hold",
		"Nov 30 07:40:01 mail postfix/qmgr[2]: 0C4FAC2220: from=<a@x.test>, size=367, nrcpt=1 (queue active)",
		"Nov 30 07:40:01 mail postfix/smtp[3]: 0C4FAC2220: to=<held@strict.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=364, delays=364/0/0/0.1, dsn=2.0.0, status=sent (250 ok)",
		"Nov 30 07:40:01 mail postfix/qmgr[2]: 0C4FAC2220: removed",
	)
	held = one(t, idx, "0C4FAC2220")
	if held.Fate != correlate.FateDelivered || statuses(held) != "held@strict.test=sent" || len(held.Recipients[0].Attempts) != 2 {
		t.Errorf("released: fate %v, %s", held.Fate, statuses(held))
	}
	tr := totals(t, idx).TotalTraffic()
	if tr.Held != 2 || tr.Deleted != 1 || tr.Rejected != 1 {
		t.Errorf("traffic %+v", tr)
	}
}

func TestSessionJoin(t *testing.T) {
	idx := memindex.New()
	feed(t, idx,
		"Nov 30 09:00:00 mail postfix/submission/smtpd[4544]: connect from host-180-245.example-mobile.net[91.232.180.245]",
		"Nov 30 09:00:00 mail postfix/smtpd[4545]: connect from other.example[192.0.2.99]",
		"Nov 30 09:00:01 mail postfix/submission/smtpd[4544]: 22FD6256DC9: client=host-180-245.example-mobile.net[91.232.180.245], sasl_method=PLAIN, sasl_username=james@example.net",
		"Nov 30 09:00:01 mail postfix/submission/smtpd[4544]: 22FD6256DC9: reject: RCPT from host-180-245.example-mobile.net[91.232.180.245]: 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown; from=<james@example.net> to=<nobody@example.net> proto=ESMTP helo=<[10.0.0.5]>",
		"Nov 30 09:00:02 mail postfix/cleanup[5013]: 22FD6256DC9: message-id=<FF7B@example.com>",
		"Nov 30 09:00:02 mail postfix/submission/smtpd[4544]: disconnect from host-180-245.example-mobile.net[91.232.180.245] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1/2 data=1 quit=1 commands=8/9",
		"Nov 30 09:00:02 mail postfix/qmgr[4040]: 22FD6256DC9: from=<james@example.net>, size=5572, nrcpt=1 (queue active)",
	)
	m := one(t, idx, "22FD6256DC9")
	c := m.Client
	if c.Host != "host-180-245.example-mobile.net" || c.IP != "91.232.180.245" || c.SASLUser != "james@example.net" || c.SASLMethod != "PLAIN" {
		t.Errorf("client %+v", c)
	}
	if c.Service != "submission/smtpd" || c.PID != 4544 || c.Connect.Format("15:04:05") != "09:00:00" || c.Helo != "[10.0.0.5]" {
		t.Errorf("session: service %q pid %d connect %v helo %q", c.Service, c.PID, c.Connect, c.Helo)
	}
	if m.Fate != correlate.FateQueued || len(m.Notes) != 1 || m.Notes[0].Action != "reject" {
		t.Errorf("a rejected recipient does not reject the message: fate %v notes %+v", m.Fate, m.Notes)
	}
}

func TestNoQueueRejectsAndWarnings(t *testing.T) {
	idx := memindex.New()
	rej := func(ts, ip, rcpt string) string {
		return "Nov 30 " + ts + " mail postfix/smtpd[9]: NOQUEUE: reject: RCPT from unknown[" + ip + "]: 554 5.7.1 Service unavailable; Client host [" + ip + "] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/" + ip + "; from=<x@spam.test> to=<" + rcpt + "> proto=ESMTP helo=<spam.test>"
	}
	feed(t, idx,
		rej("09:00:00", "198.51.100.7", "a@example.com"),
		rej("09:10:00", "198.51.100.7", "b@example.com"),
		rej("09:20:00", "198.51.100.7", "c@example.com"),
		rej("09:30:00", "198.51.100.7", "d@other.test"),
		rej("09:40:00", "203.0.113.9", "a@example.com"),
		"Nov 30 09:41:00 mail postfix/smtpd[9]: warning: hostname 1-2-3-4.example.net does not resolve to address 192.0.2.4: Name or service not known",
		"Nov 30 09:42:00 mail postfix/smtpd[9]: warning: hostname 5-6-7-8.example.net does not resolve to address 192.0.2.8: Name or service not known",
		"Nov 30 09:43:00 mail postfix/sendmail[17059]: fatal: mailtest@mail.test.local(0): message file too big",
	)
	tot := totals(t, idx)
	type row struct {
		ip, domain string
		n          int64
	}
	var got []row
	for k, v := range tot.Rejects {
		if k.HasQueueID || k.Action != "reject" || k.Code != 554 || k.Enhanced != "5.7.1" {
			t.Errorf("reject key %+v", k)
		}
		got = append(got, row{k.ClientIP, k.Domain, v.Count})
	}
	slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.ip+a.domain, b.ip+b.domain) })
	want := []row{{"198.51.100.7", "example.com", 3}, {"198.51.100.7", "other.test", 1}, {"203.0.113.9", "example.com", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("rejects %+v, want %+v", got, want)
	}
	if tr := tot.TotalTraffic(); tr.NoQueue != 5 {
		t.Errorf("NOQUEUE %d", tr.NoQueue)
	}
	var warn []string
	for k, v := range tot.Warnings {
		warn = append(warn, k.Severity+" "+k.Daemon+" "+k.Text+" "+strings.Repeat("*", int(v.Count)))
	}
	slices.Sort(warn)
	wantWarn := []string{
		"fatal sendmail mailtest@mail.test.local(#): message file too big *",
		"warning smtpd hostname #-#-#-#.example.net does not resolve to address #.#.#.#: Name or service not known **",
	}
	if !slices.Equal(warn, wantWarn) {
		t.Errorf("warnings %q, want %q", warn, wantWarn)
	}
}

func TestNeverQueuedIsAborted(t *testing.T) {
	idx := memindex.New()
	feed(t, idx,
		"Nov 30 09:00:00 mail postfix/smtpd[9]: 3C4D5E6F70: client=unknown[198.51.100.7]",
		"Nov 30 09:00:05 mail postfix/smtpd[9]: lost connection after DATA from unknown[198.51.100.7]",
		"Nov 30 11:00:00 mail postfix/anvil[3]: statistics: max connection rate 1/60s for (smtp:198.51.100.7) at Nov 30 09:00:00",
	)
	// The sweep runs every 65536 lines; a checkpoint does not sweep, so
	// a message never queued stays open until then.
	if m := one(t, idx, "3C4D5E6F70"); m.Fate != correlate.FateQueued {
		t.Errorf("fate %v before the sweep", m.Fate)
	}
	lines := make([]string, 0, 70000)
	for i := 0; i < 70000; i++ {
		lines = append(lines, "Nov 30 12:00:00 mail postfix/anvil[3]: statistics: max cache size 1 at Nov 30 11:00:00")
	}
	feed(t, idx, lines...)
	if m := one(t, idx, "3C4D5E6F70"); m.Fate != correlate.FateAborted {
		t.Errorf("fate %v after the sweep, want aborted", m.Fate)
	}
}

// TestLogClockJumpsBack: the log's clock jumps back (a year, as year
// inference does after a file's modification time) and forward again;
// finished messages still leave memory.
func TestLogClockJumpsBack(t *testing.T) {
	var lines []string
	msg := func(ts time.Time, qid string) {
		s := ts.Format(time.RFC3339)
		lines = append(lines,
			s+" mail postfix/pickup[1]: "+qid+": uid=0 from=<a@x.test>",
			s+" mail postfix/qmgr[2]: "+qid+": from=<a@x.test>, size=300, nrcpt=1 (queue active)",
			s+" mail postfix/smtp[3]: "+qid+": to=<b@y.test>, relay=mx.y.test[192.0.2.1]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
			s+" mail postfix/qmgr[2]: "+qid+": removed",
		)
	}
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	msg(base.AddDate(1, 0, 0), "F0000000001") // a year ahead
	for i := 0; i < 6000; i++ {
		msg(base.Add(time.Duration(i)*time.Second), fmt.Sprintf("A%010X", i))
	}
	msg(base.AddDate(1, 0, 1), "F0000000002") // ahead again
	for i := 0; i < 6000; i++ {
		msg(base.Add(time.Duration(6000+i)*time.Second), fmt.Sprintf("B%010X", i))
	}
	in := feed(t, memindex.New(), lines...)
	st := in.Correlator().Stats()
	if st.Messages != 12002 || st.Finished < 11900 {
		t.Errorf("%d messages, %d written as finished: finished messages stay in memory when the clock jumps", st.Messages, st.Finished)
	}
}
