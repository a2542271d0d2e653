package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/pfdiag/pfdiag/rules"
)

// cmdRules implements `pfdiag rules`: list the active rules, or
// `pfdiag rules check FILE.tsv…`: classify test cases and report the
// agreement, exit 1 when any case disagrees.
func cmdRules(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "rules", "[flags] [check FILE.tsv...]")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	asJSON := fs.Bool("json", false, "list the rules (or the check's misses) as JSON lines")
	quiet := fs.BoolP("quiet", "q", false, "check: print only the summary line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	eng, err := rules.New(*ruleFiles...)
	if err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "check" {
		if len(rest) < 2 {
			return usagef("check needs at least one FILE.tsv (columns: reason text, expected category)")
		}
		return rulesCheck(ctx, e, eng, rest[1:], *asJSON, *quiet)
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q (want no argument, or check FILE.tsv...)", rest[0])
	}
	w := bufio.NewWriter(e.stdout)
	if *asJSON {
		if err := writeRulesJSON(w, eng.Rules()); err != nil {
			return err
		}
	} else {
		writeRulesText(w, eng.Rules())
	}
	return w.Flush()
}

// conditions summarises what a rule looks at, in one line.
func conditions(r rules.Rule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+"="+strings.Join(v, ","))
		}
	}
	add("daemon", r.Daemons)
	add("status", r.Statuses)
	add("severity", r.Severity)
	add("dsn", r.DSN)
	add("enhanced", r.Enhanced)
	add("code", r.Codes)
	add("stage", r.Stages)
	add("relay", r.Relays)
	add("domain", r.Domains)
	if r.Hop != "" {
		parts = append(parts, "hop="+r.Hop)
	}
	if r.Reply != "" {
		parts = append(parts, "reply="+r.Reply)
	}
	quote := func(ps []string) []string {
		out := make([]string, len(ps))
		for i, p := range ps {
			out[i] = fmt.Sprintf("%q", p)
		}
		return out
	}
	if len(r.All) > 0 {
		parts = append(parts, "all("+strings.Join(quote(r.All), " ")+")")
	}
	if len(r.Any) > 0 {
		parts = append(parts, "any("+strings.Join(quote(r.Any), " ")+")")
	}
	if len(r.None) > 0 {
		parts = append(parts, "none("+strings.Join(quote(r.None), " ")+")")
	}
	if r.Regexp != "" {
		parts = append(parts, "regexp("+r.Regexp+")")
	}
	if len(parts) == 0 {
		return "(always)"
	}
	return strings.Join(parts, " ")
}

func writeRulesText(w io.Writer, rs []rules.Rule) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "PRIORITY\tID\tCATEGORY\tSOURCE\tCONDITIONS")
	section := ""
	for _, r := range rs {
		s := "delivery"
		if r.Finding {
			s = "finding"
		}
		if s != section {
			if section != "" {
				fmt.Fprintln(tw, "\t\t\t\t")
			}
			section = s
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Priority, r.ID, r.Category, r.Source, safeText(conditions(r)))
	}
	tw.Flush()
}

type ruleJSON struct {
	ID          string   `json:"id"`
	Category    string   `json:"category"`
	Finding     bool     `json:"finding,omitempty"`
	Priority    int      `json:"priority"`
	Daemon      []string `json:"daemon,omitempty"`
	Status      []string `json:"status,omitempty"`
	Severity    []string `json:"severity,omitempty"`
	DSN         []string `json:"dsn,omitempty"`
	Enhanced    []string `json:"enhanced,omitempty"`
	Code        []string `json:"code,omitempty"`
	Stage       []string `json:"stage,omitempty"`
	Relay       []string `json:"relay,omitempty"`
	Domain      []string `json:"domain,omitempty"`
	Hop         string   `json:"hop,omitempty"`
	Reply       string   `json:"reply,omitempty"`
	Any         []string `json:"any,omitempty"`
	All         []string `json:"all,omitempty"`
	None        []string `json:"none,omitempty"`
	Regexp      string   `json:"regexp,omitempty"`
	Actor       string   `json:"actor,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	Fix         string   `json:"fix,omitempty"`
	Reference   string   `json:"reference,omitempty"`
	Source      string   `json:"source"`
}

func writeRulesJSON(w io.Writer, rs []rules.Rule) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, r := range rs {
		if err := enc.Encode(ruleJSON{
			ID: r.ID, Category: r.Category, Finding: r.Finding, Priority: r.Priority,
			Daemon: r.Daemons, Status: r.Statuses, Severity: r.Severity, DSN: r.DSN, Enhanced: r.Enhanced,
			Code: r.Codes, Stage: r.Stages, Relay: r.Relays, Domain: r.Domains, Hop: r.Hop, Reply: r.Reply,
			Any: r.Any, All: r.All, None: r.None, Regexp: r.Regexp, Actor: r.Actor,
			Explanation: r.Explanation, Fix: r.Fix, Reference: r.Reference, Source: r.Source,
		}); err != nil {
			return err
		}
	}
	return nil
}

type missJSON struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Rule   string `json:"rule"`
}

func rulesCheck(ctx context.Context, e *env, eng *rules.Engine, files []string, asJSON, quiet bool) error {
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	total, agreed := 0, 0
	for _, name := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		var r io.Reader
		if name == "-" {
			r = e.stdin
		} else {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		cases, err := rules.ReadCases(r, name)
		if err != nil {
			return err
		}
		res := eng.Check(cases)
		total += res.Total
		agreed += res.Agreed
		for _, m := range res.Misses {
			switch {
			case quiet:
			case asJSON:
				if err := enc.Encode(missJSON{name, m.Line, m.Input.Reason, m.Want, m.Got.Category, m.Got.Rule}); err != nil {
					return err
				}
			default:
				rule := ""
				if m.Got.Rule != "" {
					rule = " (rule " + m.Got.Rule + ")"
				}
				fmt.Fprintf(w, "%s:%d: got %s%s, want %s: %s\n", name, m.Line, m.Got.Category, rule, m.Want, safeText(m.Input.Reason))
			}
		}
	}
	if !asJSON {
		pct := 100.0
		if total > 0 {
			pct = 100 * float64(agreed) / float64(total)
		}
		fmt.Fprintf(w, "%d of %d cases agree (%.1f%%), %d misses\n", agreed, total, pct, total-agreed)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if agreed < total {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d cases disagree", total-agreed, total)}
	}
	return nil
}
