package reports

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// TextOptions configure WriteText.
type TextOptions struct {
	// Color adds ANSI colours (headings, failure counts). cmd/pfdiag sets
	// it only when stdout is a terminal and NO_COLOR is not set.
	Color bool
}

// Widths at which log text is clipped in the text and Markdown reports
// (the JSON report keeps it whole).
const (
	reasonWidth = 160
	cellWidth   = 60
)

type textOut struct {
	w     *bufio.Writer
	color bool
}

const (
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// c colours s (already made safe) when colour is on.
func (o *textOut) c(code, s string) string {
	if !o.color || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (o *textOut) p(format string, a ...any) { fmt.Fprintf(o.w, format, a...) }

func (o *textOut) heading(s string) {
	o.p("\n%s\n", o.c(ansiBold, s))
}

// table is an aligned text table; cells are already made safe.
type table struct {
	head  []string
	right []bool // right-align column
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (o *textOut) table(t *table, indent string) {
	if len(t.rows) == 0 {
		o.p("%s(none)\n", indent)
		return
	}
	w := make([]int, len(t.head))
	for i, h := range t.head {
		w[i] = utf8.RuneCountInString(h)
	}
	for _, r := range t.rows {
		for i, c := range r {
			w[i] = max(w[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string, head bool) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range cells {
			pad := strings.Repeat(" ", w[i]-utf8.RuneCountInString(c))
			if head {
				c = o.c(ansiDim, c)
			}
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(cells)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		o.w.WriteString(strings.TrimRight(b.String(), " ") + "\n")
	}
	line(t.head, true)
	for _, r := range t.rows {
		line(r, false)
	}
}

// WriteText writes the report for a terminal or a plain-text mail. Every
// string that came from the log goes through term: it cannot move the
// cursor, change colours or fake a line.
func WriteText(w io.Writer, r *Report, opts TextOptions) error {
	o := &textOut{w: bufio.NewWriter(w), color: opts.Color}
	s := &r.Summary
	o.p("%s\n", o.c(ansiBold, "pfdiag postmortem report"))
	o.p("window     %s (%s)\n", span(s.First, s.Last), zone(r))
	if f := windowText(&r.Filter); f != "" {
		o.p("filter     %s\n", term(f, 0))
	}
	o.p("generated  %s\n", stamp(r.Generated))

	o.heading("SUMMARY")
	d := s.Deliveries
	o.p("  lines read         %s (unparsed %s)\n", num(s.Lines), num(s.Unparsed))
	o.p("  messages received  %s (%s), notifications %s\n", num(s.Messages), size(s.BytesReceived), num(s.Notifications))
	o.p("  deliveries         %s: sent %s (%s), deferred %s (%s), bounced %s (%s), expired %s (%s)\n", num(d.Total),
		o.c(ansiGreen, num(d.Sent)), pct(s.Rates.Sent), o.c(ansiYellow, num(d.Deferred)), pct(s.Rates.Deferred),
		o.c(ansiRed, num(d.Bounced)), pct(s.Rates.Bounced), o.c(ansiRed, num(d.Expired)), pct(s.Rates.Expired))
	o.p("  NOQUEUE rejects    %s\n", num(s.NoQueueRejects))
	o.p("  warnings           %s\n", num(s.Warnings))
	if len(s.UnparsedSamples) > 0 {
		o.p("  unparsed samples:\n")
		for _, x := range s.UnparsedSamples {
			o.p("    %s line %d (%s): %s\n", term(x.Host, 40), x.Line, term(x.Kind, 0), term(lineText(x.Text), reasonWidth))
		}
	}

	o.heading("DIAGNOSES (ranked by impact)")
	if len(r.Diagnoses) == 0 {
		o.p("  no delivery failures\n")
	}
	for i, dg := range r.Diagnoses {
		o.text(i+1, &dg)
	}

	o.heading("TUNING SUGGESTIONS")
	o.suggestions(r)

	o.heading("RECIPIENT DOMAINS")
	t := &table{head: []string{"domain", "attempts", "sent", "deferred", "bounced", "expired", "top diagnosis", "median delay"},
		right: []bool{false, true, true, true, true, true, false, true}}
	for _, x := range r.Domains {
		t.add(term(x.Domain, cellWidth), num(x.Attempts), num(x.Sent), num(x.Deferred), num(x.Bounced), num(x.Expired), term(x.Top, 0), seconds(x.MedianDelay))
	}
	o.table(t, "  ")

	o.heading("RELAYS")
	t = &table{head: []string{"relay", "attempts", "sent", "deferred", "bounced", "expired", "top diagnosis", "median delay"},
		right: []bool{false, true, true, true, true, true, false, true}}
	for _, x := range r.Relays {
		t.add(term(x.Relay, cellWidth), num(x.Attempts), num(x.Sent), num(x.Deferred), num(x.Bounced), num(x.Expired), term(x.Top, 0), seconds(x.MedianDelay))
	}
	o.table(t, "  ")

	o.heading("SENDERS WITH THE MOST FAILURES")
	t = &table{head: []string{"sender", "sasl user", "messages", "sent", "deferred", "bounced", "expired", "bounced to", "signal"},
		right: []bool{false, false, true, true, true, true, true, true, false}}
	for _, x := range r.Senders {
		t.add(term(senderName(x.Sender), cellWidth), term(strings.Join(x.SASLUsers, ","), 30), num(x.Messages), num(x.Sent),
			num(x.Deferred), num(x.Bounced), num(x.Expired), num(x.BouncedRecipients), x.Signal)
	}
	o.table(t, "  ")

	o.heading("DELAYS (delays=a/b/c/d)")
	o.p("  %s attempts with delays=\n", num(r.Delays.Attempts))
	t = &table{head: []string{"stage", "count", "p50", "p95", "p99", "max", "a high value means"}, right: []bool{false, true, true, true, true, true, false}}
	for _, x := range r.Delays.Stages {
		t.add(x.Stage, num(x.Count), seconds(x.P50), seconds(x.P95), seconds(x.P99), seconds(x.Max), x.Meaning)
	}
	o.table(t, "  ")

	o.heading("TIMELINE (deferrals = and bounces/expiries # per hour)")
	o.timeline(r.Timeline)

	o.heading("REJECTS")
	t = &table{head: []string{"count", "daemon", "stage", "code", "category", "clients", "sample"}, right: []bool{true, false, false, true, false, true, false}}
	for _, x := range r.Rejects {
		t.add(num(x.Count), term(x.Daemon, 20), term(x.Stage, 20), codeText(x.Code, x.Enhanced), term(x.Category, 0), num(x.Clients), term(x.Sample, reasonWidth))
	}
	o.table(t, "  ")

	o.heading("OPERATIONAL FINDINGS")
	if len(r.Findings) == 0 {
		o.p("  (none)\n")
	}
	for _, x := range r.Findings {
		o.p("  %s %s: %s line(s) from %s, %s\n", o.c(ansiBold, term(x.Category, 0)), term(x.Severity, 0), num(x.Count), term(strings.Join(x.Daemons, ", "), cellWidth), span(x.First, x.Last))
		if x.Explanation != "" {
			o.p("    why: %s\n", term(x.Explanation, 0))
		}
		if x.Fix != "" {
			o.p("    fix: %s\n", term(x.Fix, 0))
		}
		for _, smp := range x.Samples {
			o.p("    e.g. %s\n", term(smp, reasonWidth))
		}
	}

	o.trafficText(r)
	return o.w.Flush()
}

func codeText(code int, enhanced string) string {
	s := ""
	if code > 0 {
		s = fmt.Sprint(code)
	}
	if enhanced != "" {
		if s != "" {
			s += " "
		}
		s += term(enhanced, 12)
	}
	return s
}

func (o *textOut) text(i int, d *Diagnosis) {
	o.p("\n  %2d. %s  %s  who acts: %s\n", i, o.c(ansiBold, term(d.Category, 0)), d.Class, term(d.Actor, 0))
	o.p("      %s deliveries (deferred %s, bounced %s, expired %s), %s messages, %s undelivered\n",
		num(d.Deliveries), o.c(ansiYellow, num(d.Deferred)), o.c(ansiRed, num(d.Bounced)), o.c(ansiRed, num(d.Expired)),
		num(d.Messages), num(d.Undelivered))
	o.p("      %s domain(s): %s\n", num(d.DomainCount), term(countsText(d.Domains, 5, d.DomainCount), 0))
	o.p("      relays: %s\n", term(countsText(d.Relays, 5, d.RelayCount), 0))
	o.p("      seen %s\n", span(d.First, d.Last))
	if len(d.Causes) > 0 {
		o.p("      root causes (last deferral before expiry): %s\n", causesText(d.Causes))
	}
	if d.Explanation != "" {
		o.p("      why: %s\n", term(d.Explanation, 0))
	}
	if d.Fix != "" {
		o.p("      fix: %s\n", term(d.Fix, 0))
	}
	for _, g := range d.Groups[min(1, len(d.Groups)):min(4, len(d.Groups))] {
		if extraFix(d, &g) {
			o.p("      fix for %s: %s\n", term(g.Domain, cellWidth), term(g.Fix, 0))
		}
	}
	for _, s := range d.Samples {
		o.p("      e.g. %s %s %s %s %s: %s\n", s.Time.Format("01-02 15:04:05"), term(s.QueueID, 20), term(s.Recipient, cellWidth),
			term(s.Status, 0), term(s.DSN, 10), term(s.Reason, reasonWidth))
	}
}

// countsText is "a 3, b 2, +N more": the first n of c, out of total
// distinct names.
func countsText(c []Count, n int, total int64) string {
	var parts []string
	shown := 0
	for _, x := range c[:min(n, len(c))] {
		name := x.Name
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s %s", name, num(x.Count)))
		shown++
	}
	if more := total - int64(shown); more > 0 {
		parts = append(parts, fmt.Sprintf("+%s more", num(more)))
	}
	return strings.Join(parts, ", ")
}

func (o *textOut) suggestions(r *Report) {
	if len(r.Suggestions) == 0 {
		o.p("  nothing to change from what the logs show\n")
		return
	}
	if !r.PostconfGiven {
		o.p("  (assuming Postfix's defaults; give --postconf with the output of postconf -n to take the current values into account)\n")
	}
	// Long transport lists are cut here (the other formats keep them).
	const maxLines = 12
	last, n, hidden := "", 0, 0
	flush := func() {
		if hidden > 0 {
			o.p("    … %d more lines (the JSON, Markdown and HTML reports list them all)\n", hidden)
		}
	}
	for _, s := range r.Suggestions {
		if s.ID != last {
			flush()
			last, n, hidden = s.ID, 0, 0
			o.p("\n  %s  (evidence: %s)\n", o.c(ansiBold, term(s.ID, 0)), num(s.Evidence))
			o.p("    %s\n", term(s.Rationale, 0))
		}
		if n++; n > maxLines {
			hidden++
			continue
		}
		cur := ""
		if s.Current != "" {
			cur = "    # now: " + term(s.Current, 40)
		}
		o.p("    %-14s %s%s\n", term(s.File, 40)+":", term(s.Line(), 0), cur)
	}
	flush()
}

func (o *textOut) timeline(rows []HourRow) {
	if len(rows) == 0 {
		o.p("  (no deliveries)\n")
		return
	}
	rows, k := bucket(rows, 48)
	if k > 1 {
		o.p("  (%d hours per row)\n", k)
	}
	m := maxFailures(rows)
	const width = 50
	for _, r := range rows {
		fails := r.Bounced + r.Expired
		var nd, nb int
		if m > 0 {
			nd = int((r.Deferred*width + m - 1) / m)
			nb = int((fails*width + m - 1) / m)
		}
		bar := o.c(ansiYellow, strings.Repeat("=", nd)) + o.c(ansiRed, strings.Repeat("#", nb))
		o.p("  %s  %6s %6s  %s\n", r.Hour.Format("2006-01-02 15:04"), num(r.Deferred), num(fails), bar)
	}
}

func (o *textOut) trafficText(r *Report) {
	t := &r.Traffic
	o.heading("TRAFFIC (pflogsumm style)")
	if t.Approximate {
		o.p("  (more distinct addresses than kept: distinct counts are lower bounds)\n")
	}
	gt := &table{head: []string{"grand totals", ""}, right: []bool{false, true}}
	for _, kv := range []struct {
		k string
		v string
	}{
		{"received", num(t.Received)}, {"delivered", num(t.Delivered)}, {"deferred", num(t.Deferred)},
		{"bounced", num(t.Bounced)}, {"expired", num(t.Expired)}, {"rejected", num(t.Rejected)},
		{"reject warnings", num(t.RejectWarnings)}, {"held", num(t.Held)}, {"discarded", num(t.Discarded)},
		{"bytes received", size(t.BytesReceived)}, {"bytes delivered", size(t.BytesDelivered)},
		{"senders", num(t.Senders)}, {"sending domains", num(t.SendingDomains)},
		{"recipients", num(t.Recipients)}, {"recipient domains", num(t.RecipientDomains)},
	} {
		gt.add(kv.k, kv.v)
	}
	o.table(gt, "  ")

	o.p("\n  per day\n")
	tb := &table{head: []string{"date", "received", "delivered", "deferred", "bounced", "rejected"}, right: []bool{false, true, true, true, true, true}}
	for _, d := range t.PerDay {
		tb.add(d.Date, num(d.Received), num(d.Delivered), num(d.Deferred), num(d.Bounced), num(d.Rejected))
	}
	o.table(tb, "    ")
	o.p("\n  per hour of day (summed over the days)\n")
	tb = &table{head: []string{"hour", "received", "delivered", "deferred", "bounced", "rejected"}, right: []bool{false, true, true, true, true, true}}
	for _, d := range t.PerHour {
		tb.add(d.Date+":00", num(d.Received), num(d.Delivered), num(d.Deferred), num(d.Bounced), num(d.Rejected))
	}
	o.table(tb, "    ")

	o.p("\n  delivered, by recipient domain\n")
	tb = &table{head: []string{"domain", "sent", "bytes", "deferred", "avg delay", "max delay"}, right: []bool{false, true, true, true, true, true}}
	for _, d := range t.DomainsDelivered {
		tb.add(term(d.Domain, cellWidth), num(d.Count), size(d.Bytes), num(d.Deferred), seconds(d.AvgDelay), seconds(d.MaxDelay))
	}
	o.table(tb, "    ")
	o.p("\n  received, by sender domain\n")
	tb = &table{head: []string{"domain", "messages", "bytes"}, right: []bool{false, true, true}}
	for _, d := range t.DomainsReceived {
		tb.add(term(d.Domain, cellWidth), num(d.Count), size(d.Bytes))
	}
	o.table(tb, "    ")
	for _, l := range []struct {
		title string
		rows  []AddrCount
	}{
		{"senders by message count", t.TopSendersByCount}, {"senders by size", t.TopSendersBySize},
		{"recipients by delivery count", t.TopRecipientsByCount}, {"recipients by size", t.TopRecipientsBySize},
	} {
		o.p("\n  %s\n", l.title)
		tb = &table{head: []string{"address", "count", "bytes"}, right: []bool{false, true, true}}
		for _, a := range l.rows {
			tb.add(term(senderName(a.Address), cellWidth), num(a.Count), size(a.Bytes))
		}
		o.table(tb, "    ")
	}
	for _, l := range []struct {
		title string
		rows  []DetailRow
	}{{"deferral detail", t.DeferralDetail}, {"bounce detail", t.BounceDetail}} {
		o.p("\n  %s\n", l.title)
		tb = &table{head: []string{"count", "category", "dsn", "relay", "sample reason"}, right: []bool{true, false, false, false, false}}
		for _, d := range l.rows {
			tb.add(num(d.Count), term(d.Category, 0), term(d.DSN, 10), term(d.Relay, 40), term(d.Sample, reasonWidth))
		}
		o.table(tb, "    ")
	}
	o.p("\n  warning/error/fatal/panic detail\n")
	tb = &table{head: []string{"count", "severity", "daemon", "text"}, right: []bool{true, false, false, false}}
	for _, w := range t.WarningDetail {
		tb.add(num(w.Count), term(w.Severity, 0), term(w.Daemon, 20), term(w.Sample, reasonWidth))
	}
	o.table(tb, "    ")
}
