package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/pfdiag/pfdiag/reports/queue"
)

// md makes text safe for a Markdown table cell or paragraph: control
// characters become visible escapes (a newline cannot end the table row)
// and the punctuation CommonMark and GitHub give a meaning (| ` < > * _ [ ]
// & ~ \) is backslash-escaped, so log text can neither break a table nor
// inject HTML or links. n clips it (0: no limit).
func md(s string, n int) string {
	return queue.Markdown(clipRunes(s, n))
}

type mdOut struct{ w *bufio.Writer }

func (o *mdOut) p(format string, a ...any) { fmt.Fprintf(o.w, format, a...) }

// table writes a Markdown table; cells are already escaped.
func (o *mdOut) table(head []string, right []bool, rows [][]string) {
	if len(rows) == 0 {
		o.p("_none_\n\n")
		return
	}
	o.p("| %s |\n|", strings.Join(head, " | "))
	for i := range head {
		if right[i] {
			o.p("---:|")
		} else {
			o.p("---|")
		}
	}
	o.p("\n")
	for _, r := range rows {
		o.p("| %s |\n", strings.Join(r, " | "))
	}
	o.p("\n")
}

// WriteMarkdown writes the report as a Markdown document (GitHub
// Flavored), for tickets and wikis. All log text is escaped (see md).
func WriteMarkdown(w io.Writer, r *Report) error {
	o := &mdOut{w: bufio.NewWriter(w)}
	s := &r.Summary
	d := s.Deliveries
	o.p("# pfdiag postmortem report\n\n")
	o.p("- **Window:** %s (%s)\n", span(s.First, s.Last), md(zone(r), 0))
	if f := windowText(&r.Filter); f != "" {
		o.p("- **Filter:** %s\n", md(f, 0))
	}
	o.p("- **Generated:** %s\n\n", stamp(r.Generated))

	o.p("## Summary\n\n")
	o.table([]string{"", "count", "share"}, []bool{false, true, true}, [][]string{
		{"lines read", num(s.Lines), ""},
		{"unparsed lines", num(s.Unparsed), pctOf(s.Unparsed, s.Lines)},
		{"messages received", num(s.Messages), size(s.BytesReceived)},
		{"notifications generated", num(s.Notifications), ""},
		{"deliveries", num(d.Total), ""},
		{"sent", num(d.Sent), pct(s.Rates.Sent)},
		{"deferred", num(d.Deferred), pct(s.Rates.Deferred)},
		{"bounced", num(d.Bounced), pct(s.Rates.Bounced)},
		{"expired", num(d.Expired), pct(s.Rates.Expired)},
		{"NOQUEUE rejects", num(s.NoQueueRejects), ""},
		{"warnings", num(s.Warnings), ""},
	})
	if len(s.UnparsedSamples) > 0 {
		o.p("Unparsed samples:\n\n")
		var rows [][]string
		for _, x := range s.UnparsedSamples {
			rows = append(rows, []string{md(x.Host, 40), num(x.Line), md(x.Kind, 0), md(lineText(x.Text), reasonWidth)})
		}
		o.table([]string{"host", "line", "kind", "text"}, []bool{false, true, false, false}, rows)
	}

	o.p("## Diagnoses, ranked by impact\n\n")
	if len(r.Diagnoses) == 0 {
		o.p("No delivery failures.\n\n")
	}
	for i, dg := range r.Diagnoses {
		o.p("### %d. %s (%s) — who acts: %s\n\n", i+1, md(dg.Category, 0), md(dg.Class, 0), md(dg.Actor, 0))
		o.p("%s deliveries (deferred %s, bounced %s, expired %s), %s messages, %s undelivered; seen %s.\n\n",
			num(dg.Deliveries), num(dg.Deferred), num(dg.Bounced), num(dg.Expired), num(dg.Messages), num(dg.Undelivered), span(dg.First, dg.Last))
		o.p("- **Domains (%s):** %s\n", num(dg.DomainCount), md(countsText(dg.Domains, 5, dg.DomainCount), 0))
		o.p("- **Relays:** %s\n", md(countsText(dg.Relays, 5, dg.RelayCount), 0))
		if len(dg.Causes) > 0 {
			o.p("- **Root causes** (last deferral before expiry): %s\n", md(causesText(dg.Causes), 0))
		}
		if dg.Explanation != "" {
			o.p("- **Why:** %s\n", md(dg.Explanation, 0))
		}
		if dg.Fix != "" {
			o.p("- **Fix:** %s\n", md(dg.Fix, 0))
		}
		for _, g := range dg.Groups[min(1, len(dg.Groups)):min(4, len(dg.Groups))] {
			if extraFix(&dg, &g) {
				o.p("- **Fix for %s:** %s\n", md(g.Domain, cellWidth), md(g.Fix, 0))
			}
		}
		o.p("\n")
		var rows [][]string
		for _, x := range dg.Samples {
			rows = append(rows, []string{stamp(x.Time), md(x.QueueID, 20), md(x.Recipient, cellWidth), md(x.Status, 0), md(x.DSN, 10), md(x.Reason, reasonWidth)})
		}
		o.table([]string{"time", "queue ID", "recipient", "status", "dsn", "reason"}, []bool{false, false, false, false, false, false}, rows)
	}

	o.p("## Tuning suggestions\n\n")
	if len(r.Suggestions) == 0 {
		o.p("Nothing to change from what the logs show.\n\n")
	} else {
		if !r.PostconfGiven {
			o.p("Assuming Postfix's defaults (give `--postconf` with the output of `postconf -n` to take the current values into account).\n\n")
		}
		last := ""
		for _, sg := range r.Suggestions {
			if sg.ID != last {
				if last != "" {
					o.p("\n")
				}
				last = sg.ID
				o.p("**%s** (evidence: %s): %s\n\n", md(sg.ID, 0), num(sg.Evidence), md(sg.Rationale, 0))
			}
			cur := ""
			if sg.Current != "" {
				cur = " (now: " + md(sg.Current, 40) + ")"
			}
			o.p("- %s: %s%s\n", md(sg.File, 40), md(sg.Line(), 0), cur)
		}
		o.p("\n")
	}

	o.p("## Recipient domains\n\n")
	var rows [][]string
	for _, x := range r.Domains {
		rows = append(rows, []string{md(x.Domain, cellWidth), num(x.Attempts), num(x.Sent), num(x.Deferred), num(x.Bounced), num(x.Expired), md(x.Top, 0), seconds(x.MedianDelay)})
	}
	o.table([]string{"domain", "attempts", "sent", "deferred", "bounced", "expired", "top diagnosis", "median delay"}, []bool{false, true, true, true, true, true, false, true}, rows)

	o.p("## Relays\n\n")
	rows = nil
	for _, x := range r.Relays {
		rows = append(rows, []string{md(x.Relay, cellWidth), num(x.Attempts), num(x.Sent), num(x.Deferred), num(x.Bounced), num(x.Expired), md(x.Top, 0), seconds(x.MedianDelay)})
	}
	o.table([]string{"relay", "attempts", "sent", "deferred", "bounced", "expired", "top diagnosis", "median delay"}, []bool{false, true, true, true, true, true, false, true}, rows)

	o.p("## Senders with the most failures\n\n")
	rows = nil
	for _, x := range r.Senders {
		rows = append(rows, []string{md(senderName(x.Sender), cellWidth), md(strings.Join(x.SASLUsers, ", "), 40), num(x.Messages), num(x.Sent), num(x.Deferred),
			num(x.Bounced), num(x.Expired), num(x.BouncedRecipients), md(x.Signal, 0)})
	}
	o.table([]string{"sender", "SASL user", "messages", "sent", "deferred", "bounced", "expired", "bounced to", "signal"}, []bool{false, false, true, true, true, true, true, true, false}, rows)

	o.p("## Delays (delays=a/b/c/d)\n\n%s attempts with delays=.\n\n", num(r.Delays.Attempts))
	rows = nil
	for _, x := range r.Delays.Stages {
		rows = append(rows, []string{x.Stage, num(x.Count), pctl(x.P50, x.Count), pctl(x.P95, x.Count), pctl(x.P99, x.Count), pctl(x.Max, x.Count), md(x.Meaning, 0)})
	}
	o.table([]string{"stage", "count", "p50", "p95", "p99", "max", "a high value means"}, []bool{false, true, true, true, true, true, false}, rows)

	o.p("## Timeline\n\n")
	tl, k := bucket(r.Timeline, 48)
	if k > 1 {
		o.p("%d hours per row.\n\n", k)
	}
	rows = nil
	for _, x := range tl {
		rows = append(rows, []string{x.Hour.Format("2006-01-02 15:04"), num(x.Sent), num(x.Deferred), num(x.Bounced), num(x.Expired), num(x.Rejected)})
	}
	o.table([]string{"hour", "sent", "deferred", "bounced", "expired", "NOQUEUE rejects"}, []bool{false, true, true, true, true, true}, rows)

	o.p("## Rejects\n\n")
	rows = nil
	for _, x := range r.Rejects {
		rows = append(rows, []string{num(x.Count), md(x.Daemon, 20), md(x.Stage, 20), md(codeText(x.Code, x.Enhanced), 20), md(x.Category, 0), num(x.Clients), md(x.Sample, reasonWidth)})
	}
	o.table([]string{"count", "daemon", "stage", "code", "category", "clients", "sample"}, []bool{true, false, false, false, false, true, false}, rows)

	o.p("## Operational findings\n\n")
	rows = nil
	for _, x := range r.Findings {
		rows = append(rows, []string{md(x.Category, 0), md(x.Severity, 0), num(x.Count), md(strings.Join(x.Daemons, ", "), cellWidth), md(x.Fix, 0), md(strings.Join(x.Samples, " / "), reasonWidth)})
	}
	o.table([]string{"finding", "severity", "lines", "daemons", "fix", "samples"}, []bool{false, false, true, false, false, false}, rows)

	o.traffic(r)
	return o.w.Flush()
}

func (o *mdOut) traffic(r *Report) {
	t := &r.Traffic
	o.p("## Traffic (pflogsumm style)\n\n")
	if t.Approximate {
		o.p("More distinct addresses than kept: distinct counts are lower bounds.\n\n")
	}
	o.table([]string{"grand totals", ""}, []bool{false, true}, [][]string{
		{"received", num(t.Received)}, {"delivered", num(t.Delivered)}, {"deferred", num(t.Deferred)},
		{"bounced", num(t.Bounced)}, {"expired", num(t.Expired)}, {"rejected", num(t.Rejected)},
		{"reject warnings", num(t.RejectWarnings)}, {"held", num(t.Held)}, {"discarded", num(t.Discarded)},
		{"bytes received", size(t.BytesReceived)}, {"bytes delivered", size(t.BytesDelivered)},
		{"senders", num(t.Senders)}, {"sending domains", num(t.SendingDomains)},
		{"recipients", num(t.Recipients)}, {"recipient domains", num(t.RecipientDomains)},
	})
	day := func(title string, rows []DayRow, suffix string) {
		o.p("### %s\n\n", title)
		var rs [][]string
		for _, d := range rows {
			rs = append(rs, []string{d.Date + suffix, num(d.Received), num(d.Delivered), num(d.Deferred), num(d.Bounced), num(d.Rejected)})
		}
		o.table([]string{"", "received", "delivered", "deferred", "bounced", "rejected"}, []bool{false, true, true, true, true, true}, rs)
	}
	day("Per day", t.PerDay, "")
	day("Per hour of day (summed over the days)", t.PerHour, ":00")
	o.p("### Delivered, by recipient domain\n\n")
	var rs [][]string
	for _, d := range t.DomainsDelivered {
		rs = append(rs, []string{md(d.Domain, cellWidth), num(d.Count), size(d.Bytes), num(d.Deferred), seconds(d.AvgDelay), seconds(d.MaxDelay)})
	}
	o.table([]string{"domain", "sent", "bytes", "deferred", "avg delay", "max delay"}, []bool{false, true, true, true, true, true}, rs)
	o.p("### Received, by sender domain\n\n")
	rs = nil
	for _, d := range t.DomainsReceived {
		rs = append(rs, []string{md(d.Domain, cellWidth), num(d.Count), size(d.Bytes)})
	}
	o.table([]string{"domain", "messages", "bytes"}, []bool{false, true, true}, rs)
	for _, l := range []struct {
		title string
		rows  []AddrCount
	}{
		{"Senders by message count", t.TopSendersByCount}, {"Senders by size", t.TopSendersBySize},
		{"Recipients by delivery count", t.TopRecipientsByCount}, {"Recipients by size", t.TopRecipientsBySize},
	} {
		o.p("### %s\n\n", l.title)
		rs = nil
		for _, a := range l.rows {
			rs = append(rs, []string{md(senderName(a.Address), cellWidth), num(a.Count), size(a.Bytes)})
		}
		o.table([]string{"address", "count", "bytes"}, []bool{false, true, true}, rs)
	}
	for _, l := range []struct {
		title string
		rows  []DetailRow
	}{{"Deferral detail", t.DeferralDetail}, {"Bounce detail", t.BounceDetail}} {
		o.p("### %s\n\n", l.title)
		rs = nil
		for _, d := range l.rows {
			rs = append(rs, []string{num(d.Count), md(d.Category, 0), md(d.DSN, 10), md(d.Relay, 40), md(d.Sample, reasonWidth)})
		}
		o.table([]string{"count", "category", "dsn", "relay", "sample reason"}, []bool{true, false, false, false, false}, rs)
	}
	o.p("### Warning, error, fatal and panic detail\n\n")
	rs = nil
	for _, w := range t.WarningDetail {
		rs = append(rs, []string{num(w.Count), md(w.Severity, 0), md(w.Daemon, 20), md(w.Sample, reasonWidth)})
	}
	o.table([]string{"count", "severity", "daemon", "text"}, []bool{true, false, false, false}, rs)
}
