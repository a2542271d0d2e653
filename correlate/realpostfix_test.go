package correlate_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/correlate/memindex"
	"github.com/pfdiag/pfdiag/parser/input"
	"time"
)

// corpusDir finds a real-postfix sample: the copy in testdata/corpus, else
// the shared corpus the team reads from.
func corpusDir(t *testing.T, name string) string {
	t.Helper()
	for _, d := range []string{
		filepath.Join("..", "testdata", "corpus", name),
		filepath.Join("..", "..", "shared", "corpus", name),
	} {
		if _, err := os.Stat(filepath.Join(d, "mail.log")); err == nil {
			return d
		}
	}
	t.Skipf("corpus %s not found in testdata/corpus or ../shared/corpus", name)
	return ""
}

// fakeClassify stands in for the rules engine: correlate must work with
// any classifier, and these tests check linking, not classification.
func fakeClassify(reason, daemon, status, dsn, relay, domain string) string {
	switch {
	case strings.Contains(reason, "User unknown"), strings.Contains(reason, "unknown user"):
		return "user_unknown"
	case strings.Contains(reason, "Connection refused"):
		return "connection_refused"
	}
	return "fake_" + status
}

func ingestPaths(t *testing.T, idx correlate.Index, opts correlate.IngestOptions, paths ...string) *correlate.Ingester {
	t.Helper()
	ctx := context.Background()
	if opts.Correlator.Classify == nil {
		opts.Correlator.Classify = fakeClassify
	}
	if opts.Parse.Year == 0 {
		opts.Parse.Year = 2026
	}
	in, err := correlate.NewIngester(ctx, idx, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		f, err := input.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Read(ctx, f); err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		f.Close()
	}
	return in
}

func allMessages(t *testing.T, idx correlate.Index, q correlate.Query) []*correlate.Message {
	t.Helper()
	var out []*correlate.Message
	if err := idx.Messages(context.Background(), q, func(m *correlate.Message) error {
		out = append(out, m)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

type expectedRow struct {
	scenario, recipient, status, category string
}

func readExpected(t *testing.T, path string) []expectedRow {
	t.Helper()
	var rows []expectedRow
	for i, l := range readLines(t, path) {
		if i == 0 || l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) < 4 {
			t.Fatalf("%s:%d: %d fields", path, i+1, len(f))
		}
		rows = append(rows, expectedRow{f[0], f[1], f[2], f[3]})
	}
	return rows
}

func TestRealPostfix(t *testing.T) {
	for _, name := range []string{"real-postfix", "real-postfix-longids"} {
		t.Run(name, func(t *testing.T) {
			dir := corpusDir(t, name)
			logPath := filepath.Join(dir, "mail.log")
			idx := memindex.New()
			ingestPaths(t, idx, correlate.IngestOptions{}, logPath)
			msgs := allMessages(t, idx, correlate.Query{})
			lines := readLines(t, logPath)

			t.Run("every status line linked", func(t *testing.T) {
				want := 0
				for _, l := range lines {
					if strings.Contains(l, ": to=<") && strings.Contains(l, ", status=") {
						want++
					}
				}
				got := 0
				for _, m := range msgs {
					m.Deliveries(func(h *correlate.Message, r *correlate.Recipient, a *correlate.Attempt) {
						if a.Synthetic {
							return
						}
						got++
						if a.Line < 1 || int(a.Line) > len(lines) {
							t.Errorf("%s: attempt line %d out of range", h.QueueID, a.Line)
							return
						}
						l := lines[a.Line-1]
						if !strings.Contains(l, " "+h.QueueID+": to=<"+r.Address+">") {
							t.Errorf("%s %s linked to line %d: %s", h.QueueID, r.Address, a.Line, l)
						}
					})
				}
				if got != want {
					t.Errorf("attempts linked = %d, status lines = %d", got, want)
				}
			})

			for _, row := range readExpected(t, filepath.Join(dir, "expected.tsv")) {
				t.Run(row.scenario, func(t *testing.T) {
					if row.status == "rejected" {
						checkRejected(t, idx, row)
						return
					}
					found := allMessages(t, idx, correlate.Query{By: correlate.ByRecipient, Value: row.recipient})
					if len(found) != 1 {
						t.Fatalf("messages for %s: %d, want 1", row.recipient, len(found))
					}
					m := found[0]
					if row.status == "held" {
						if f := m.FinalFate(); f != correlate.FateHeld {
							t.Errorf("fate = %v, want held", f)
						}
					}
					var got *correlate.Outcome
					for _, o := range m.Outcomes() {
						if strings.EqualFold(o.Address, row.recipient) {
							o := o
							got = &o
						}
					}
					if got == nil {
						t.Fatalf("%s: recipient %s not in message %s", row.scenario, row.recipient, m.QueueID)
					}
					if got.Status.String() != row.status {
						t.Errorf("final status = %s, want %s (message %s, fate %s)", got.Status, row.status, m.QueueID, m.FinalFate())
					}
				})
			}
		})
	}
}

// checkRejected finds the reject or warning a "rejected" row left: such
// mail was never queued, so there is no recipient record.
func checkRejected(t *testing.T, idx correlate.Index, row expectedRow) {
	t.Helper()
	domain := correlate.Domain(row.recipient)
	var hours []*correlate.Hour
	if err := idx.Hours(context.Background(), timeZero, timeZero, func(h *correlate.Hour) error {
		hours = append(hours, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tot := correlate.Totals(hours)
	switch row.category {
	case "user_unknown":
		for k, v := range tot.Rejects {
			if k.Domain == domain && strings.Contains(v.SampleTo, row.recipient) && k.Code == 550 {
				return
			}
		}
		t.Errorf("no reject for %s", row.recipient)
	case "message_too_large":
		// The three ways Postfix refuses a message that is too big.
		want := map[string]bool{
			"reject 552 Message size exceeds fixed limit":  false,
			"warning smtpd queue file size limit exceeded": false,
			"fatal sendmail message file too big":          false,
		}
		for k, v := range tot.Rejects {
			if k.Code == 552 && strings.Contains(v.Sample, "Message size exceeds fixed limit") {
				want["reject 552 Message size exceeds fixed limit"] = true
			}
		}
		for k := range tot.Warnings {
			if k.Severity == "warning" && k.Daemon == "smtpd" && strings.Contains(k.Text, "queue file size limit exceeded") {
				want["warning smtpd queue file size limit exceeded"] = true
			}
			if k.Severity == "fatal" && k.Daemon == "sendmail" && strings.Contains(k.Text, "message file too big") {
				want["fatal sendmail message file too big"] = true
			}
		}
		for k, ok := range want {
			if !ok {
				t.Errorf("missing %s", k)
			}
		}
	default:
		t.Errorf("no check for rejected category %s", row.category)
	}
}

var timeZero time.Time
