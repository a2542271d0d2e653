package correlate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/parser/input"
)

// FuzzIngest runs arbitrary text through the whole pipeline (parser,
// correlator, checkpoints, index, codec) and checks that nothing panics,
// every delivery line is linked to a message, and what is stored decodes.
func FuzzIngest(f *testing.F) {
	for _, seed := range [][]string{
		delivered("10:00:00", "mail", "postfix", "4A5F6C200C", "a@x.test", "b@y.test"),
		contentFilter("child first"),
		contentFilter("sent first"),
		{"Nov 30 07:34:35 mail postfix-out/qmgr[16943]: 194C4C2223: from=<mailtest@mail.test.local>, status=expired, returned to sender",
			"Nov 30 07:34:35 mail postfix-out/bounce[17103]: 194C4C2223: sender non-delivery notification: 194C4C2223",
			"Nov 30 07:34:35 mail postfix-out/qmgr[16943]: 194C4C2223: removed"},
		{"Nov 30 07:33:57 mail postfix/cleanup[5]: 0ED90C2221: hold: header Subject: x from local; from=<a@x.test> to=<q@y.test>: held",
			"Nov 30 07:33:57 mail postfix/postsuper[4]: 0ED90C2221: released from hold",
			"Nov 30 07:33:57 mail postfix/postsuper[4]: 0ED90C2221: removed"},
		{"\x00\x00garbage", "Nov 31 99:99:99 mail postfix/smtp[x]: : to=<>, status=", ""},
	} {
		f.Add(strings.Join(seed, "\n"))
	}
	f.Fuzz(func(t *testing.T, text string) {
		idx := memindex.New()
		ctx := context.Background()
		in, err := correlate.NewIngester(ctx, idx, correlate.IngestOptions{
			Correlator:      correlate.Options{Classify: fakeClassify},
			Parse:           parser.Options{Year: 2026, Loc: time.UTC},
			CheckpointLines: 3,
		})
		if err != nil {
			t.Fatal(err)
		}
		file, err := input.Open("-", strings.NewReader(text))
		if err != nil {
			return // not a log at all (e.g. a truncated gzip header)
		}
		if _, err := in.Read(ctx, file); err != nil {
			return // a corrupt compressed stream: reported, not a crash
		}
		deliveries := 0
		r := parser.NewReader(strings.NewReader(text), parser.Options{Year: 2026, Loc: time.UTC})
		for r.Scan() {
			ev := r.Event()
			if ev.Kind == parser.KindDelivery && len(ev.QueueID) > 0 && string(ev.QueueID) != "NOQUEUE" {
				deliveries++
			}
		}
		linked := 0
		if err := idx.Messages(ctx, correlate.Query{}, func(m *correlate.Message) error {
			m.Deliveries(func(_ *correlate.Message, _ *correlate.Recipient, a *correlate.Attempt) {
				if !a.Synthetic {
					linked++
				}
			})
			m.Outcomes()
			m.FinalFate()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if linked != deliveries {
			t.Errorf("%d delivery lines, %d attempts linked", deliveries, linked)
		}
		if err := idx.Hours(ctx, time.Time{}, time.Time{}, func(*correlate.Hour) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzDecode feeds arbitrary bytes to the record decoders: a damaged
// index must give an error, never a panic or a huge allocation.
func FuzzDecode(f *testing.F) {
	m := correlate.AppendMessage(nil, &correlate.Message{Ref: correlate.Ref{Host: "mail", QueueID: "ABC", First: time.Unix(1e9, 0)},
		Recipients: []correlate.Recipient{{Address: "a@b", Attempts: []correlate.Attempt{{Reason: "x", HasDelays: true}}}}})
	f.Add(m)
	h := correlate.NewHour(time.Unix(1e9, 0))
	h.Lines[correlate.LineKey{Host: "mail", Kind: parser.KindDelivery}] = 3
	h.Warnings[correlate.WarningKey{Host: "mail", Text: "w"}] = &correlate.WarningStat{Count: 1, Samples: []string{"s"}}
	f.Add(correlate.AppendHour(nil, h))
	f.Add(correlate.AppendSource(nil, &correlate.Source{Fingerprint: "fp", Offset: 10}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := correlate.DecodeMessage(b); err == nil {
			m.Outcomes()
			correlate.AppendMessage(nil, m)
		}
		if h, err := correlate.DecodeHour(b); err == nil {
			correlate.AppendHour(nil, h)
		}
		correlate.DecodeSource(b)
	})
}
