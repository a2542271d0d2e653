package correlate

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/parser"
)

// checkSlots verifies what the queue-ID slots must say after every line,
// which is what three maps (in the queue, gone, received by smtpd) said
// before they became one: no empty slot, every incarnation in the queue
// unfinished and pointing to its slot, gone and smtp roots not written,
// the open count, and the incarnation activeFind remembers.
func checkSlots(t *testing.T, c *Correlator, where string) {
	t.Helper()
	n, slots := 0, 0
	c.qids.all(func(s *qidSlot) {
		slots++
		qid := s.qid
		if got := c.qids.getString(qid); got != s {
			t.Fatalf("%s: the slot of %s is not found by its queue ID", where, qid)
		}
		if s.empty() {
			t.Fatalf("%s: empty slot for %s left in the map", where, qid)
		}
		for m := s.active; m != nil; m = m.state.next {
			n++
			if m.QueueID != qid || m.state.slot != s || m.state.finished {
				t.Fatalf("%s: %s in the queue of %s: slot %p (want %p), finished %v", where, m.Ref, qid, m.state.slot, s, m.state.finished)
			}
		}
		for _, m := range []*Message{s.gone, s.smtp} {
			if m != nil && (m.QueueID != qid || m.state == nil) {
				t.Fatalf("%s: slot of %s holds %s (state %v)", where, qid, m.Ref, m.state != nil)
			}
		}
		if g := s.gone; g != nil && !g.state.finished {
			t.Fatalf("%s: %s is gone but not finished", where, g.Ref)
		}
	})
	if slots != c.qids.n {
		t.Fatalf("%s: %d slots in the table, its count says %d", where, slots, c.qids.n)
	}
	if n != c.nactive {
		t.Fatalf("%s: %d incarnations in the queue, Open says %d", where, n, c.nactive)
	}
	if m := c.lastGot; m != nil {
		found := false
		if s := c.qids.getString(m.QueueID); s != nil {
			for e := s.active; e != nil; e = e.state.next {
				found = found || e == m
			}
		}
		if !found {
			t.Fatalf("%s: activeFind remembers %s, which is not in the queue", where, m.Ref)
		}
	}
}

// churnLog makes lines about a few queue IDs on two hosts and two
// instances, reused, re-injected through "queued as", notified about,
// held, deleted and expired, in random order.
func churnLog(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	qids := []string{"4A5F6C200C", "D203DC2180", "1E708258AAE", "3F2A1258B01", "A7CA7C2178"}
	hosts := []string{"mail", "mail2"}
	insts := []string{"postfix", "postfix-out"}
	var out []string
	sec := 0
	for i := 0; i < n; i++ {
		if rng.IntN(3) == 0 {
			sec++
		}
		ts := fmt.Sprintf("Nov 30 %02d:%02d:%02d ", 10+sec/3600, sec/60%60, sec%60)
		q, q2 := qids[rng.IntN(len(qids))], qids[rng.IntN(len(qids))]
		p := hosts[rng.IntN(2)] + " " + insts[rng.IntN(2)]
		rcpt := fmt.Sprintf("r%d@y%d.test", rng.IntN(3), rng.IntN(2))
		var l string
		switch rng.IntN(14) {
		case 0:
			l = p + "/smtpd[300]: " + q + ": client=c.test[192.0.2.9]"
		case 1:
			l = p + "/pickup[100]: " + q + ": uid=0 from=<a@x.test>"
		case 2:
			l = p + "/cleanup[101]: " + q + ": message-id=<" + q + "@x.test>"
		case 3:
			l = p + "/qmgr[102]: " + q + ": from=<a@x.test>, size=321, nrcpt=2 (queue active)"
		case 4:
			l = p + "/smtp[103]: " + q + ": to=<" + rcpt + ">, relay=mx.y.test[192.0.2.25]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)"
		case 5:
			l = p + "/smtp[103]: " + q + ": to=<" + rcpt + ">, relay=127.0.0.1[127.0.0.1]:10025, delay=1, delays=0.1/0/0/0.9, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as " + q2 + ")"
		case 6:
			l = p + "/smtp[103]: " + q + ": to=<" + rcpt + ">, relay=mx.y.test[192.0.2.25]:25, delay=3, delays=0.1/0/2/0.9, dsn=4.4.1, status=deferred (connect to mx.y.test[192.0.2.25]:25: Connection timed out)"
		case 7, 8:
			l = p + "/qmgr[102]: " + q + ": removed"
		case 9:
			l = p + "/bounce[104]: " + q + ": sender non-delivery notification: " + q2
		case 10:
			l = p + "/postsuper[105]: " + q + ": placed on hold"
		case 11:
			l = p + "/postsuper[105]: " + q + ": removed"
		case 12:
			l = p + "/qmgr[102]: " + q + ": from=<a@x.test>, status=expired, returned to sender"
		case 13:
			l = p + "/cleanup[101]: " + q + ": reject: header Subject: x from c.test[192.0.2.9]; from=<a@x.test> to=<" + rcpt + "> proto=ESMTP helo=<c.test>: 5.7.1 spam"
		}
		out = append(out, ts+l)
	}
	return out
}

func TestQueueIDSlots(t *testing.T) {
	type run struct {
		name  string
		lines []string
		opts  Options
		every int
	}
	var runs []run
	for seed := uint64(1); seed <= 6; seed++ {
		runs = append(runs,
			run{fmt.Sprintf("churn%d", seed), churnLog(seed, 4000), Options{}, 500},
			run{fmt.Sprintf("churn%d-tight", seed), churnLog(seed, 4000), Options{MaxOpen: 3, Grace: time.Second, StaleAfter: time.Minute, LinkWindow: 30 * time.Second}, 37})
	}
	logs, _ := filepath.Glob(filepath.Join("..", "testdata", "corpus", "*", "mail.log"))
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		runs = append(runs, run{p, lines, Options{}, 1000}, run{p + "-tight", lines, Options{MaxOpen: 5, Grace: time.Second}, 50})
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			c := New(r.opts)
			rd := parser.NewReader(strings.NewReader(strings.Join(r.lines, "\n")+"\n"), parser.Options{Year: 2024, Loc: time.UTC})
			i := 0
			for rd.Scan() {
				i++
				c.Process(rd.Event())
				checkSlots(t, c, fmt.Sprintf("line %d", i))
				if i%r.every == 0 {
					c.Checkpoint()
					c.TakeDone()
					checkSlots(t, c, fmt.Sprintf("checkpoint at line %d", i))
				}
			}
			c.Checkpoint()
			for _, m := range c.TakeDone() {
				m.Walk(func(h *Message) {
					if h.state != nil {
						t.Errorf("%s written with its state", h.Ref)
					}
				})
			}
			checkSlots(t, c, "end")
		})
	}
}
