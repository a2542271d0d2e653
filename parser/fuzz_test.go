package parser

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedLines are a few lines of every shape; the committed corpus under
// testdata/fuzz adds more.
var seedLines = []string{
	`Nov 30 07:33:55 mail postfix/smtp[16961]: 967FBC2175: to=<nosuchuser@remote.test>, relay=127.0.0.1[127.0.0.1]:2526, delay=0.07, delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <x>: User unknown (in reply to RCPT TO command))`,
	`2026-11-30T07:10:02.123456+01:00 mail postfix-out/submission/smtpd[1]: NOQUEUE: reject: RCPT from a[192.0.2.1]: 554 5.7.1 x; from=<> to=<a@b> proto=ESMTP helo=<h>`,
	`<22>1 2026-11-30T07:10:02Z mail postfix/smtp 1234 - [a b="c"] 8FFDEC2174: removed`,
	`{"MESSAGE":[56,70],"SYSLOG_IDENTIFIER":"postfix/qmgr","__REALTIME_TIMESTAMP":"1"}`,
	`Nov 30 07:33:55 mail postfix/cleanup[1]: C0D2CC2180: hold: header Subject: x from local; from=<a> to=<b>: y`,
	`Nov 30 07:34:36 mail postfix-out/qmgr[16944]: 4jdG4m1zMFz5yXh: from=<a@b>, status=expired, returned to sender`,
	"Jun  4 07:10:02 mail postfix/postscreen[1]: PREGREET 11 after 0.09 from [192.0.2.1]:1234: EHLO x\\r\\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range seedLines {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := Parse(line)
		if ev.Kind >= numKinds {
			t.Fatalf("kind %d out of range", ev.Kind)
		}
		if (err != nil) != (ev.Kind == KindMalformed) {
			t.Fatalf("err %v with kind %s", err, ev.Kind)
		}
		if ev.Kind == KindDelivery && len(ev.Status) == 0 {
			t.Fatalf("delivery without status: %q", line)
		}
		if ev.Kind == KindReject && len(ev.Action) == 0 {
			t.Fatalf("reject without action: %q", line)
		}
		// A BatchReader parses into used events: a line must come out
		// as into a new one.
		var used Event
		fillAll(reflect.ValueOf(&used).Elem())
		emitBatch(line, false, &used, nil)
		used.Time = ev.Time
		if d := sameParse(&used, &ev); d != "" {
			t.Fatalf("%q parsed into a used event: %s", line, d)
		}
		out := ev.AppendJSON(nil, true)
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s", out)
		}
		// Clone must not alias the input.
		c := ev.Clone()
		for i := range line {
			line[i] = '#'
		}
		if out2 := c.AppendJSON(nil, true); !bytes.Equal(out, out2) {
			t.Fatalf("clone aliases its line:\n%s\n%s", out, out2)
		}
	})
}

// FuzzReader checks that the sequential and the parallel reader (parsing
// on its goroutines or on the caller's) agree on any input, and account
// for every byte.
func FuzzReader(f *testing.F) {
	f.Add([]byte(strings.Join(seedLines, "\n")), uint16(0))
	f.Add([]byte("a\n\nb\r\n\x00\xff"), uint16(10))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16) {
		opts := Options{MaxLineLen: int(maxLine), Ref: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Loc: time.UTC}
		a, err := readAllFrom("Reader", bytes.NewReader(data), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, impl := range impls[1:] {
			b, err := readAllFrom(impl, bytes.NewReader(data), opts)
			if err != nil {
				t.Fatalf("%s: %v", impl, err)
			}
			sameEvents(t, a, b)
		}
		if n := len(a); n > 0 && a[n-1].End != int64(len(data)) {
			t.Fatalf("last End %d, input %d bytes", a[n-1].End, len(data))
		}
		if len(a) == 0 && len(data) > 0 {
			t.Fatalf("%d bytes gave no events", len(data))
		}
	})
}
