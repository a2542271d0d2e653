package queue

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// WriteJSON writes the report as one indented JSON document. Strings are
// escaped by encoding/json (control characters, <, >, &, U+2028/9), so the
// document is safe to embed and to read back.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteIDs writes the selected, validated queue IDs, one per line: the input
// of `postsuper -d -` (or -h, -H, -r). Nothing else is ever written, so the
// output cannot carry anything but queue IDs into postsuper.
func WriteIDs(w io.Writer, r *Report) error {
	if r.Selection == nil {
		return nil
	}
	bw := bufio.NewWriter(w)
	for _, id := range r.Selection.IDs {
		if !ValidID(id) { // never trust the slice alone: it is exported
			continue
		}
		bw.WriteString(id)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// textWidth bounds a delay reason or fix on one line of text output.
const textWidth = 160

// clip escapes s for a terminal and cuts it to n runes.
func clip(s string, n int) string {
	s = Terminal(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, k := 0, 0
	for i = range s {
		if k == n-1 {
			break
		}
		k++
	}
	return s[:i] + "…"
}

func sender(s string) string {
	if s == "" {
		return "<>"
	}
	return s
}

// Age formats seconds as the largest two units: 45s, 12m30s, 3h05m, 2d04h.
func Age(sec int64) string {
	neg := ""
	if sec < 0 {
		neg, sec = "-", -sec
	}
	switch {
	case sec < 60:
		return fmt.Sprintf("%s%ds", neg, sec)
	case sec < 3600:
		return fmt.Sprintf("%s%dm%02ds", neg, sec/60, sec%60)
	case sec < 86400:
		return fmt.Sprintf("%s%dh%02dm", neg, sec/3600, sec%3600/60)
	}
	return fmt.Sprintf("%s%dd%02dh", neg, sec/86400, sec%86400/3600)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// WriteText writes the report for a terminal. Every string that came from
// the queue goes through Terminal.
func WriteText(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }

	if sel := r.Selection; sel != nil {
		writeSelectionText(bw, r, sel)
		p("\nSummary of the selection\n\n")
	}
	p("Queue: %s, %s, %d bytes (%s)\n",
		plural(r.Totals.Messages, "message", "messages"),
		plural(r.Totals.Recipients, "recipient", "recipients"),
		r.Totals.Bytes, r.Now.Format("2006-01-02 15:04:05 MST"))
	if in := r.Input; in.Malformed > 0 || in.InvalidIDs > 0 || len(in.Unknown) > 0 {
		p("Input: %s read, %s malformed, %s with an invalid queue ID", plural(in.Lines, "line", "lines"),
			strconv.Itoa(in.Malformed), plural(in.InvalidIDs, "message", "messages"))
		if len(in.Unknown) > 0 {
			p(", %d in unknown queues", sumMap(in.Unknown))
		}
		p("\n")
	}
	if r.ForcedExpire > 0 {
		p("Forced to expire (postsuper -e): %s\n", plural(r.ForcedExpire, "message", "messages"))
	}

	p("\n%-10s %10s %10s %12s\n", "Queue", "messages", "recipients", "bytes")
	for _, q := range queueOrder(r) {
		c := r.Queues[q]
		p("%-10s %10d %10d %12d\n", q, c.Messages, c.Recipients, c.Bytes)
	}

	withReason := r.Totals.Recipients - r.NoReason
	p("\nDiagnoses of delay reasons (%s; %d without a reason)\n", plural(withReason, "recipient", "recipients"), r.NoReason)
	if len(r.Diagnoses) == 0 {
		p("  none\n")
	}
	for _, d := range r.Diagnoses {
		p("  %-24s %6d rcpt %6d msg  %s, actor: %s\n", d.Category, d.Recipients, d.Messages, d.Class, d.Actor)
		if len(d.Fixes) > 0 && d.Fixes[0].Name != "" {
			p("      fix: %s\n", clip(d.Fixes[0].Name, textWidth))
			if d.FixVariants > 1 {
				p("           (%d variants of this fix with other values; --format json lists the top 5)\n", d.FixVariants)
			}
		}
		if len(d.Domains) > 0 {
			var ds []string
			for _, n := range d.Domains {
				ds = append(ds, fmt.Sprintf("%s (%d)", Terminal(n.Name), n.Count))
			}
			p("      domains: %s\n", strings.Join(ds, ", "))
		}
		for _, s := range d.Samples {
			p("      e.g. %s\n", clip(s, textWidth))
		}
	}

	p("\nSenders\n  %8s %10s %12s  %s\n", "messages", "recipients", "bytes", "sender")
	for _, s := range r.Senders {
		p("  %8d %10d %12d  %s\n", s.Messages, s.Recipients, s.Bytes, clip(sender(s.Sender), textWidth))
	}

	p("\nRecipient domains\n  %10s %8s  %-24s %s\n", "recipients", "messages", "main category", "domain")
	for _, d := range r.RecipientDomains {
		cat := d.TopCategory
		if cat == "" {
			cat = "-"
		}
		p("  %10d %8d  %-24s %s\n", d.Recipients, d.Messages, cat, clip(d.Domain, textWidth))
	}

	writeAgesText(bw, r)
	return bw.Flush()
}

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// queueOrder lists the five queues, then "other" if any message was in a
// queue postqueue never reports.
func queueOrder(r *Report) []string {
	out := QueueNames()
	if _, ok := r.Queues["other"]; ok {
		out = append(out, "other")
	}
	return out
}

// writeAgesText prints the matrix like qshape: domain names right-aligned,
// the total in column T, then one column per bucket.
func writeAgesText(bw *bufio.Writer, r *Report) {
	m := r.Ages
	fmt.Fprintf(bw, "\nRecipients by domain and age in minutes (qshape buckets: \"10\" is 5 to 10 minutes)\n")
	dw := 18
	names := make([]string, len(m.Rows))
	for i, row := range m.Rows {
		names[i] = Terminal(row.Domain)
		if n := utf8.RuneCountInString(names[i]); n > dw {
			dw = n
		}
	}
	if dw > 40 {
		dw = 40
	}
	cols := make([]int, 1+len(m.Buckets))
	heads := append([]string{"T"}, m.Buckets...)
	for i, h := range heads {
		cols[i] = len(h) + 1
	}
	for _, row := range m.Rows {
		vals := append([]int{row.Total}, row.Counts...)
		for i, v := range vals {
			if l := len(strconv.Itoa(v)) + 1; l > cols[i] {
				cols[i] = l
			}
		}
	}
	for i := range cols {
		if cols[i] < 4 {
			cols[i] = 4
		}
	}
	fmt.Fprintf(bw, "%*s", dw, "")
	for i, h := range heads {
		fmt.Fprintf(bw, "%*s", cols[i], h)
	}
	bw.WriteByte('\n')
	for k, row := range m.Rows {
		name := names[k]
		if n := utf8.RuneCountInString(name); n > dw { // keep the tail, as qshape does
			rs := []rune(name)
			name = "+" + string(rs[n-dw+1:])
		}
		fmt.Fprintf(bw, "%*s", dw, name)
		vals := append([]int{row.Total}, row.Counts...)
		for i, v := range vals {
			fmt.Fprintf(bw, "%*d", cols[i], v)
		}
		bw.WriteByte('\n')
	}
}

func writeSelectionText(bw *bufio.Writer, r *Report, sel *Selection) {
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	p("Selection: %s\n", Terminal(strings.Join(sel.Criteria, "; ")))
	p("Selected %s of %d (%s, %d matched; %d bytes)\n",
		plural(sel.Messages, "message", "messages"), r.Input.Messages,
		plural(sel.Recipients, "recipient", "recipients"), sel.Matched, sel.Bytes)
	if len(sel.Listing) > 0 {
		p("\n  %-17s %-9s %8s %8s  %s\n", "queue ID", "queue", "age", "size", "sender")
	}
	for _, it := range sel.Listing {
		id := it.ID
		if !it.ValidID {
			id = "INVALID " + clip(id, 24)
		}
		p("  %-17s %-9s %8s %8d  %s\n", id, clip(it.Queue, 12), Age(it.Age), it.Size, clip(sender(it.Sender), textWidth))
		for _, rc := range it.Recipients {
			mark := " "
			if !rc.Matched {
				mark = "-" // will go with the message although it did not match
			}
			cat := rc.Category
			if cat == "" {
				cat = "(no reason)"
			}
			p("    %s %s  [%s]", mark, clip(rc.Address, 80), cat)
			if rc.Reason != "" {
				p("  %s", clip(rc.Reason, textWidth))
			}
			p("\n")
		}
		if it.More > 0 {
			p("      … and %s more\n", plural(it.More, "recipient", "recipients"))
		}
	}
	if n := sel.Messages - len(sel.Listing); n > 0 && len(sel.Listing) > 0 {
		p("  … and %d more (--limit N shows more; --format json lists every ID)\n", n)
	}
	if sel.Partial > 0 {
		p("\nNote: %s recipients that did not match (marked -); postsuper acts on whole messages, so they go too.\n",
			plural(sel.Partial, "selected message also has", "selected messages also have"))
	}
	if sel.InvalidIDs > 0 {
		p("Note: %s an invalid queue ID and will never be printed by --ids.\n",
			plural(sel.InvalidIDs, "selected message has", "selected messages have"))
	}
	if sel.ShortIDs > 0 {
		p("Note: short queue IDs are reused once a message has left the queue; act soon after listing\n" +
			"      (enable_long_queue_ids = yes avoids this).\n")
	}
	if len(sel.Commands) > 0 && len(sel.IDs) > 0 {
		p("\nTo act on the %s (pfdiag itself never changes the queue):\n", plural(len(sel.IDs), "selected message", "selected messages"))
		for _, c := range sel.Commands {
			p("  %-8s %s\n", c.Action+":", commandText(c.Command))
		}
	}
}

// commandText returns a command line as it must be typed: unchanged when
// it holds nothing a terminal acts on (backslashes inside shell quotes are
// meant literally), else escaped as any other text.
func commandText(s string) string {
	if t := Terminal(s); t != strings.ReplaceAll(s, `\`, `\\`) {
		return t
	}
	return s
}

// WriteMarkdown writes the report as a Markdown document. Queue data goes
// through Markdown, which escapes control characters and the punctuation
// that would start HTML, links, code or a new table cell.
func WriteMarkdown(w io.Writer, r *Report) error {
	bw := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(bw, format, a...) }
	md := Markdown

	p("# Postfix queue\n\n")
	p("%s, %s, %d bytes at %s.\n", plural(r.Totals.Messages, "message", "messages"),
		plural(r.Totals.Recipients, "recipient", "recipients"), r.Totals.Bytes, r.Now.Format("2006-01-02 15:04:05 MST"))
	if in := r.Input; in.Malformed > 0 || in.InvalidIDs > 0 {
		p("\nInput: %s read, %d malformed, %s with an invalid queue ID.\n",
			plural(in.Lines, "line", "lines"), in.Malformed, plural(in.InvalidIDs, "message", "messages"))
	}
	if sel := r.Selection; sel != nil {
		p("\n## Selection\n\n%s: %s of %d (%s, %d matched; %d bytes).\n\n",
			md(strings.Join(sel.Criteria, "; ")), plural(sel.Messages, "message", "messages"), r.Input.Messages,
			plural(sel.Recipients, "recipient", "recipients"), sel.Matched, sel.Bytes)
		if len(sel.Listing) > 0 {
			p("| queue ID | queue | age | size | sender | recipients |\n|---|---|---:|---:|---|---|\n")
			for _, it := range sel.Listing {
				var rs []string
				for _, rc := range it.Recipients {
					c := rc.Category
					if c == "" {
						c = "no reason"
					}
					rs = append(rs, md(rc.Address)+" ("+md(c)+")")
				}
				if it.More > 0 {
					rs = append(rs, fmt.Sprintf("… %d more", it.More))
				}
				id := md(it.ID)
				if !it.ValidID {
					id = "invalid: " + id
				}
				p("| %s | %s | %s | %d | %s | %s |\n", id, md(it.Queue), Age(it.Age), it.Size, md(sender(it.Sender)), strings.Join(rs, "<br>"))
			}
		}
		if len(sel.Commands) > 0 && len(sel.IDs) > 0 {
			p("\n```sh\n")
			for _, c := range sel.Commands {
				p("# %s\n%s\n", c.Action, strings.ReplaceAll(commandText(c.Command), "```", "'''"))
			}
			p("```\n")
		}
	}

	p("\n## Queues\n\n| queue | messages | recipients | bytes |\n|---|---:|---:|---:|\n")
	for _, q := range queueOrder(r) {
		c := r.Queues[q]
		p("| %s | %d | %d | %d |\n", q, c.Messages, c.Recipients, c.Bytes)
	}

	p("\n## Diagnoses\n\n")
	if len(r.Diagnoses) == 0 {
		p("No recipient has a delay reason.\n")
	} else {
		p("| category | recipients | messages | class | actor | fix | example |\n|---|---:|---:|---|---|---|---|\n")
		for _, d := range r.Diagnoses {
			var fixes []string
			for _, f := range d.Fixes {
				if f.Name != "" {
					fixes = append(fixes, md(f.Name))
				}
			}
			ex := ""
			if len(d.Samples) > 0 {
				ex = md(d.Samples[0])
			}
			p("| %s | %d | %d | %s | %s | %s | %s |\n", md(d.Category), d.Recipients, d.Messages,
				md(d.Class), md(d.Actor), strings.Join(fixes, "<br>"), ex)
		}
	}
	if r.NoReason > 0 {
		p("\n%s without a delay reason.\n", plural(r.NoReason, "recipient", "recipients"))
	}

	p("\n## Senders\n\n| sender | messages | recipients | bytes |\n|---|---:|---:|---:|\n")
	for _, s := range r.Senders {
		p("| %s | %d | %d | %d |\n", md(sender(s.Sender)), s.Messages, s.Recipients, s.Bytes)
	}

	p("\n## Recipient domains\n\n| domain | recipients | messages | main category |\n|---|---:|---:|---|\n")
	for _, d := range r.RecipientDomains {
		p("| %s | %d | %d | %s |\n", md(d.Domain), d.Recipients, d.Messages, md(d.TopCategory))
	}

	p("\n## Age (minutes) by recipient domain\n\n| domain | T |")
	for _, b := range r.Ages.Buckets {
		p(" %s |", b)
	}
	p("\n|---|---:|%s\n", strings.Repeat("---:|", len(r.Ages.Buckets)))
	for _, row := range r.Ages.Rows {
		p("| %s | %d |", md(row.Domain), row.Total)
		for _, c := range row.Counts {
			p(" %d |", c)
		}
		p("\n")
	}
	return bw.Flush()
}
