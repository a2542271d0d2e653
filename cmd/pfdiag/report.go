package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/pfdiag/pfdiag/reports"
	"github.com/pfdiag/pfdiag/rules"
	"github.com/pfdiag/pfdiag/rules/tuning"
)

// cmdReport implements `pfdiag report`: the postmortem report from what
// the index already holds, without reading logs. The index is opened
// read-only, so several reports can run at once (not beside a writer).
func cmdReport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "report", "[flags]\n\n"+
		"Writes the postmortem report (diagnoses, domains, relays, senders, delays, timeline,\n"+
		"rejects, findings, pflogsumm-style traffic, tuning suggestions) from the index.")
	idxFlags := addIndexFlags(fs, false)
	rf := addReportFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("report reads the index, not logs (got %q); use pfdiag analyze FILE... to read logs", fs.Arg(0))
	}
	_, opts, err := rf.options(e)
	if err != nil {
		return err
	}
	idx, err := idxFlags.open(e, true)
	if err != nil {
		return err
	}
	r, err := reports.FromIndex(ctx, idx, opts)
	if cerr := idx.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return rf.write(e, r)
}

// reportFlags are the flags analyze and report share.
type reportFlags struct {
	since, until string
	filter       reports.Filter
	format       string
	output       string
	rules        []string
	postconf     string
	top          int
	quiet        bool
}

func addReportFlags(fs *pflag.FlagSet) *reportFlags {
	f := &reportFlags{}
	fs.StringVar(&f.since, "since", "", "report from `TIME` on: RFC 3339, a date (2006-01-02, local midnight), or an age before now (24h, 7d, 2w)")
	fs.StringVar(&f.until, "until", "", "report up to `TIME` (exclusive), same forms as --since")
	fs.StringVar(&f.filter.Host, "host", "", "only the syslog `HOST` (multi-host logs)")
	fs.StringVar(&f.filter.Instance, "instance", "", "only the Postfix `INSTANCE` (syslog_name prefix, e.g. postfix-out)")
	fs.StringVar(&f.filter.Sender, "sender", "", "only messages from envelope sender `ADDR` (<> for notifications)")
	fs.StringVar(&f.filter.RecipientDomain, "recipient-domain", "", "only deliveries to recipient `DOMAIN`")
	fs.StringVar(&f.filter.Category, "category", "", "only failures diagnosed as `CATEGORY` (see pfdiag rules)")
	fs.StringVarP(&f.format, "format", "f", "text", "output `FORMAT`: text, json, markdown or html")
	fs.StringVarP(&f.output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.StringArrayVar(&f.rules, "rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	fs.StringVar(&f.postconf, "postconf", "", "`FILE` with the output of postconf -n (or postconf): tuning suggestions take the current values into account")
	fs.IntVar(&f.top, "top", 20, "rows per ranked list (`N`)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bar")
	return f
}

// options validates the flags and returns the rules engine and the
// report options.
func (f *reportFlags) options(e *env) (*rules.Engine, reports.Options, error) {
	var opts reports.Options
	switch f.format {
	case "text", "json", "markdown", "md", "html":
	default:
		return nil, opts, usagef("--format %q: want text, json, markdown or html", f.format)
	}
	if f.top <= 0 {
		return nil, opts, usagef("--top %d: want a positive number", f.top)
	}
	now := e.now()
	var err error
	if f.filter.Since, err = parseWhen(f.since, now); err != nil {
		return nil, opts, usagef("--since: %v", err)
	}
	if f.filter.Until, err = parseWhen(f.until, now); err != nil {
		return nil, opts, usagef("--until: %v", err)
	}
	if !f.filter.Since.IsZero() && !f.filter.Until.IsZero() && !f.filter.Since.Before(f.filter.Until) {
		return nil, opts, usagef("--since %s is not before --until %s", f.since, f.until)
	}
	eng, err := rules.New(f.rules...)
	if err != nil {
		return nil, opts, err
	}
	if c := f.filter.Category; c != "" {
		known := false
		for _, k := range eng.Categories() {
			if k.ID == c && !k.Finding {
				known = true
			}
		}
		if !known {
			return nil, opts, usagef("--category %q: not a delivery category (pfdiag rules lists them)", c)
		}
	}
	var pc tuning.Postconf
	if f.postconf != "" {
		fh, err := os.Open(f.postconf)
		if err != nil {
			return nil, opts, err
		}
		pc, err = tuning.ParsePostconf(fh, f.postconf)
		fh.Close()
		if err != nil {
			return nil, opts, err
		}
	}
	opts = reports.Options{Filter: f.filter, Top: f.top, Loc: time.Local, Now: now, Rules: eng, Postconf: pc}
	return eng, opts, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// useColor: colour only on a terminal, never with NO_COLOR
// (https://no-color.org: set and not empty) or TERM=dumb.
func useColor(e *env, w io.Writer) bool {
	return e.getenv("NO_COLOR") == "" && e.getenv("TERM") != "dumb" && isTerminal(w)
}

// write renders the report to stdout or -o FILE. A file is written next
// to its final name and renamed, so a failed run never leaves half a report.
func (f *reportFlags) write(e *env, r *reports.Report) error {
	return f.writeWith(e, func(w io.Writer, color bool) error { return f.renderTo(w, r, color) })
}

// renderTo renders r in the chosen format.
func (f *reportFlags) renderTo(w io.Writer, r *reports.Report, color bool) error {
	switch f.format {
	case "json":
		return reports.WriteJSON(w, r)
	case "markdown", "md":
		return reports.WriteMarkdown(w, r)
	case "html":
		return reports.WriteHTML(w, r)
	}
	return reports.WriteText(w, r, reports.TextOptions{Color: color})
}

// rendered is a report rendered ahead of writing (render, writeRendered).
type rendered struct {
	buf bytes.Buffer
	err error
}

// render renders r into memory as write would write it, to be written
// later by writeRendered.
func (f *reportFlags) render(e *env, r *reports.Report) *rendered {
	rd := &rendered{}
	color := false
	if f.toStdout() {
		color = useColor(e, e.stdout)
	}
	rd.err = f.renderTo(&rd.buf, r, color)
	return rd
}

// writeRendered writes what render made, as write does.
func (f *reportFlags) writeRendered(e *env, rd *rendered) error {
	return f.writeWith(e, func(w io.Writer, _ bool) error {
		if rd.err != nil {
			return rd.err
		}
		_, err := w.Write(rd.buf.Bytes())
		return err
	})
}

func (f *reportFlags) toStdout() bool { return f.output == "" || f.output == "-" }

// writeWith writes to stdout or -o FILE with render.
func (f *reportFlags) writeWith(e *env, render func(w io.Writer, color bool) error) error {
	if f.toStdout() {
		return render(e.stdout, useColor(e, e.stdout))
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.output), "."+filepath.Base(f.output)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := render(tmp, false); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", f.output, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", f.output, err)
	}
	return os.Rename(tmp.Name(), f.output)
}
