package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/rules"
)

// Delay reasons in the wordings Postfix and real receivers use (from the
// real-postfix runs and well-known provider replies); {rcpt}, {dom} and
// {ip} are filled per recipient so that most texts are distinct, as in a
// real queue.
var benchReasons = []string{
	"host mx.{dom}[{ip}] said: 452 4.2.2 <{rcpt}>: Recipient address rejected: Mailbox full (in reply to RCPT TO command)",
	"conversation with mx.{dom}[{ip}] timed out while receiving the initial server greeting",
	"connect to mx.{dom}[{ip}]:25: Connection refused",
	"connect to mx.{dom}[{ip}]:25: Connection timed out",
	"lost connection with mx.{dom}[{ip}] while sending end of data -- message may be sent more than once",
	"lost connection with mx.{dom}[{ip}] while sending RCPT TO",
	"host mx.{dom}[{ip}] said: 451 4.7.1 Greylisting in action, please come back later (in reply to RCPT TO command)",
	"host mx.{dom}[{ip}] said: 450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{dom}.html (in reply to RCPT TO command)",
	"host mx.{dom}[{ip}] said: 450 4.7.1 Client host rejected: cannot find your reverse hostname, [203.0.113.9] (in reply to RCPT TO command)",
	"host mx.{dom}[{ip}] refused to talk to me: 421 4.7.0 mx.{dom} Error: too many connections from 203.0.113.9",
	"Host or domain name not found. Name service error for name={dom} type=MX: Host not found, try again",
	"delivery temporarily suspended: connect to mx.{dom}[{ip}]:25: Connection timed out",
	"host gmail-smtp-in.l.google.com[{ip}] said: 421-4.7.28 [203.0.113.9 15] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. (in reply to end of DATA command)",
	"host mx.{dom}[{ip}] said: 451 4.7.650 The mail server [203.0.113.9] has been temporarily rate limited due to IP reputation. (in reply to MAIL FROM command)",
	"host mx.{dom}[{ip}] said: 421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred due to unexpected volume or user complaints (in reply to MAIL FROM command)",
	"Network is unreachable",
	"connect to mx.{dom}[2001:db8::25]:25: Network is unreachable",
	"TLS is required, but was not offered by host mx.{dom}[{ip}]",
	"host mx.{dom}[{ip}] said: 554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org (in reply to RCPT TO command)",
	"unknown mail transport error",
}

// benchQueue returns a deterministic postqueue -j listing of n messages with
// a realistic mix of queues, senders, recipient domains and reasons.
func benchQueue(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	queues := []struct {
		name string
		p    int
	}{{"deferred", 85}, {"active", 6}, {"hold", 4}, {"incoming", 3}, {"maildrop", 2}}
	domains := make([]string, 500)
	for i := range domains {
		domains[i] = fmt.Sprintf("d%03d.example", i)
	}
	copy(domains, []string{"gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "t-online.de", "icloud.com", "hotmail.com"})
	senders := make([]string, 200)
	for i := range senders {
		senders[i] = fmt.Sprintf("user%d@shop%d.example", i, i%20)
	}
	senders[0] = "" // bounces
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	now := int64(1796030000)
	type rc struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason,omitempty"`
	}
	type msg struct {
		Queue        string `json:"queue_name"`
		ID           string `json:"queue_id"`
		Arrival      int64  `json:"arrival_time"`
		Size         int64  `json:"message_size"`
		ForcedExpire bool   `json:"forced_expire"`
		Sender       string `json:"sender"`
		Recipients   []rc   `json:"recipients"`
	}
	for i := 0; i < n; i++ {
		p := rng.IntN(100)
		q := queues[0].name
		for _, c := range queues {
			if p < c.p {
				q = c.name
				break
			}
			p -= c.p
		}
		m := msg{Queue: q, ID: fmt.Sprintf("%05X%X", rng.IntN(1<<20), 0x100000+i),
			Arrival: now - int64(rng.ExpFloat64()*6000), Size: 300 + int64(rng.ExpFloat64()*20000),
			Sender: senders[int(rng.ExpFloat64()*20)%len(senders)]}
		nr := 1 + int(rng.ExpFloat64()*0.7)
		for j := 0; j < nr; j++ {
			di := int(rng.ExpFloat64()*40) % len(domains)
			dom := domains[di]
			addr := fmt.Sprintf("u%d@%s", rng.IntN(50000), dom)
			r := rc{Address: addr}
			if q == "deferred" || q == "hold" && j%2 == 0 {
				ip := fmt.Sprintf("192.0.2.%d", di%250+1) // one MX address per domain, as in life
				r.DelayReason = strings.NewReplacer("{rcpt}", addr, "{dom}", dom, "{ip}", ip).
					Replace(benchReasons[int(rng.ExpFloat64()*5)%len(benchReasons)])
			}
			m.Recipients = append(m.Recipients, r)
		}
		enc.Encode(m)
	}
	return b.Bytes()
}

// BenchmarkSummarize summarises a 100,000-message listing. "warm" reuses one
// rules engine (its cache filled by earlier iterations); "cold" builds the
// engine per iteration, as one run of `pfdiag queue` does.
func BenchmarkSummarize(b *testing.B) {
	data := benchQueue(100_000)
	lines := bytes.Count(data, []byte("\n"))
	now := time.Unix(1796030000, 0)
	run := func(b *testing.B, e *rules.Engine, filter Filter) {
		rep, err := Summarize(context.Background(), NewReader(bytes.NewReader(data)), Options{Now: now, Classifier: e, Filter: filter})
		if err != nil || rep.Input.Messages != lines {
			b.Fatalf("Summarize: %v, %d messages of %d", err, rep.Input.Messages, lines)
		}
		if err := WriteText(io.Discard, rep); err != nil {
			b.Fatal(err)
		}
	}
	bench := func(name string, cold bool, filter Filter) {
		b.Run(name, func(b *testing.B) {
			e, _ := rules.Default()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if cold {
					var err error
					if e, err = rules.Default(); err != nil {
						b.Fatal(err)
					}
				}
				run(b, e, filter)
			}
			b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
	bench("cold", true, Filter{})
	bench("warm", false, Filter{})
	bench("select", true, Filter{Queues: []string{"deferred"}, Categories: []string{"greylisted"}, OlderThan: time.Hour})
}

// BenchmarkReader is the JSON-lines reader alone.
func BenchmarkReader(b *testing.B) {
	data := benchQueue(100_000)
	lines := bytes.Count(data, []byte("\n"))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		n := 0
		for r.Scan() {
			n++
		}
		if n != lines {
			b.Fatalf("%d messages of %d", n, lines)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

var benchOut = flag.String("write-bench-queue", "", "write the 100,000-message benchmark listing to `FILE` (for timing the binary)")

// TestWriteBenchQueue writes the benchmark listing for an end-to-end timing
// of the binary: go test ./reports/queue -run WriteBenchQueue -write-bench-queue /tmp/q.json
func TestWriteBenchQueue(t *testing.T) {
	if *benchOut == "" {
		t.Skip("no -write-bench-queue FILE given")
	}
	if err := os.WriteFile(*benchOut, benchQueue(100_000), 0o644); err != nil {
		t.Fatal(err)
	}
}
