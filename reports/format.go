package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pfdiag/pfdiag/reports/queue"
)

// Helpers shared by the text, Markdown and HTML renderers.

// term makes log text inert on a terminal (control characters, ANSI
// escapes, bidi overrides and invalid UTF-8 written as visible escapes)
// and clips it to n runes (0: no limit).
func term(s string, n int) string {
	return clipRunes(queue.Terminal(s), n)
}

// clipRunes shortens s to n runes, marking the cut with "…".
func clipRunes(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := 0; k < n-1; k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}

// seconds formats a delay: 0.42s, 12s, 5m12s, 3h05m, 2d04h.
func seconds(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0:
		return "-"
	case v < 10:
		return strconv.FormatFloat(v, 'f', -1, 64) + "s"
	case v < 60:
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + "s"
	}
	s := int64(math.Round(v))
	switch {
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// size formats bytes: 812 B, 41.2 KiB, 3.1 MiB, 1.2 GiB.
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// pct formats a fraction as a percentage with one decimal.
func pct(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}

func pctOf(n, total int64) string {
	if total == 0 {
		return "-"
	}
	return pct(float64(n) / float64(total))
}

// num formats a count with thousands separators: 1234567 → 1,234,567.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	b.WriteString(s[:pre])
	for i := pre; i < len(s); i += 3 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// stamp formats a time in the report's zone.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05")
}

// span formats a first..last range, dropping the repeated date.
func span(first, last time.Time) string {
	if first.IsZero() {
		return "-"
	}
	if first.Format("2006-01-02") == last.Format("2006-01-02") {
		return stamp(first) + " .. " + last.Format("15:04:05")
	}
	return stamp(first) + " .. " + stamp(last)
}

// zone names the report's zone ("UTC", "CET", "+05:30").
func zone(r *Report) string {
	loc := r.loc
	if loc == nil {
		loc = time.UTC
	}
	t := r.Summary.First
	if t.IsZero() {
		t = r.Generated
	}
	name, _ := t.In(loc).Zone()
	return name
}

// senderName shows the null sender as <> and an unknown one as ?.
func senderName(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// windowText describes the filter.
func windowText(f *Filter) string {
	var parts []string
	if !f.Since.IsZero() {
		parts = append(parts, "since "+stamp(f.Since))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until "+stamp(f.Until))
	}
	for _, kv := range [][2]string{{"host", f.Host}, {"instance", f.Instance}, {"sender", f.Sender},
		{"recipient domain", f.RecipientDomain}, {"category", f.Category}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}

// bucket groups hourly timeline rows into at most n consecutive buckets
// of k hours (k a power of two), empty ones included, so that a chart of
// the result has a linear time axis even where the timeline has gaps.
func bucket(rows []HourRow, n int) ([]HourRow, int) {
	if len(rows) == 0 {
		return rows, 1
	}
	first := rows[0].Hour
	span := int64(rows[len(rows)-1].Hour.Sub(first)/time.Hour) + 1
	k := int64(1)
	for span > int64(n)*k {
		k *= 2
	}
	out := make([]HourRow, (span+k-1)/k)
	for i := range out {
		out[i].Hour = first.Add(time.Duration(int64(i)*k) * time.Hour)
	}
	for _, r := range rows {
		agg := &out[int64(r.Hour.Sub(first)/time.Hour)/k]
		agg.Sent += r.Sent
		agg.Deferred += r.Deferred
		agg.Bounced += r.Bounced
		agg.Expired += r.Expired
		agg.Rejected += r.Rejected
	}
	return out, int(k)
}

// maxFailures is the largest deferred+bounced+expired of the rows.
func maxFailures(rows []HourRow) int64 {
	var m int64
	for _, r := range rows {
		m = max(m, r.Deferred+r.Bounced+r.Expired)
	}
	return m
}

// explainCauses lists the root causes of expiries.
func causesText(c []Count) string {
	var parts []string
	for _, x := range c {
		parts = append(parts, fmt.Sprintf("%s %d", x.Name, x.Count))
	}
	return strings.Join(parts, ", ")
}

// extraFix reports whether a group's fix says more than the diagnosis's
// own (not merely the same text for another domain).
func extraFix(d *Diagnosis, g *Group) bool {
	if g.Fix == "" || g.Fix == d.Fix || len(d.Groups) == 0 {
		return false
	}
	top := &d.Groups[0]
	fix := strings.ReplaceAll(g.Fix, g.Domain, top.Domain)
	if g.Relay != "" && top.Relay != "" {
		fix = strings.ReplaceAll(fix, g.Relay, top.Relay)
	}
	return fix != d.Fix
}

// lineText shows an empty sample line as such.
func lineText(s string) string {
	if s == "" {
		return "(empty line)"
	}
	return s
}

// pctl formats a percentile, "-" when there was nothing to measure.
func pctl(v float64, count int64) string {
	if count == 0 {
		return "-"
	}
	return seconds(v)
}
