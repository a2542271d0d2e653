package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/rules"
)

// cmdExplain implements `pfdiag explain [TEXT...|-]`: the diagnosis of reason
// texts or whole log lines, from the arguments or stdin (one per line).
func cmdExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "explain", "[flags] [TEXT...|-]")
	asJSON := fs.Bool("json", false, "one JSON object per input line, in input order")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	eng, err := rules.New(*ruleFiles...)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	n := 0
	explain := func(line string) error {
		if strings.TrimSpace(line) == "" {
			return nil
		}
		x := explainLine(eng, line)
		var err error
		if *asJSON {
			err = writeExplainJSON(w, &x)
		} else {
			if n > 0 {
				w.WriteString("\n")
			}
			err = writeExplainText(w, &x)
		}
		n++
		return err
	}
	texts := fs.Args()
	if len(texts) == 0 || (len(texts) == 1 && texts[0] == "-") {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := explain(strings.TrimRight(sc.Text(), "\r")); err != nil {
				return err
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("stdin: %w", err)
		}
	} else {
		for _, t := range texts {
			if err := explain(t); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// explained is one input and its diagnosis.
type explained struct {
	Input   string
	Kind    string // "failure", "finding", "none"
	Note    string // why a line has no diagnosis
	Context rules.Input
	D       rules.Diagnosis
}

// explainLine takes a whole Postfix log line apart with the parser; anything
// else is a reason text ("warning: …" texts are operational findings).
func explainLine(eng *rules.Engine, line string) explained {
	x := explained{Input: line}
	if ev, err := parser.Parse([]byte(line)); err == nil && ev.Kind.IsPostfix() {
		d, kind := eng.Event(&ev)
		switch kind {
		case rules.Failure:
			x.Kind, x.D = "failure", d
			x.Context, _ = rules.InputFromEvent(&ev)
		case rules.Operational:
			x.Kind, x.D = "finding", d
		default:
			x.Kind = "none"
			x.Note = "not a failure: a " + ev.Kind.String() + " line"
			if len(ev.Status) > 0 {
				x.Note += " with status=" + string(ev.Status)
			}
		}
		return x
	}
	text := strings.TrimSpace(line)
	for _, sev := range []string{"warning", "error", "fatal", "panic"} {
		if rest, ok := strings.CutPrefix(text, sev+": "); ok {
			x.Kind, x.D = "finding", eng.Finding(sev, "", rest)
			return x
		}
	}
	x.Context = rules.Input{Reason: text}
	// A pasted "status=bounced (…)" fragment: keep the status, drop the framing.
	if rest, ok := strings.CutPrefix(text, "status="); ok {
		if st, reason, ok := strings.Cut(rest, " ("); ok {
			x.Context = rules.Input{Status: st, Reason: strings.TrimSuffix(reason, ")")}
		}
	}
	x.Kind, x.D = "failure", eng.Classify(x.Context)
	return x
}

func writeExplainText(w *bufio.Writer, x *explained) error {
	p := func(label, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-12s %s\n", label+":", safeText(v))
		}
	}
	p("input", x.Input)
	if x.Kind == "none" {
		p("category", "-")
		p("note", x.Note)
		return nil
	}
	cat := x.D.Category
	if x.D.Rule != "" {
		cat += " (rule " + x.D.Rule + ")"
	}
	p("category", cat)
	p("class", x.D.Class)
	p("actor", x.D.Actor)
	var codes []string
	if x.D.Code != 0 {
		codes = append(codes, fmt.Sprint(x.D.Code))
	}
	if x.D.Enhanced != "" {
		codes = append(codes, x.D.Enhanced)
	}
	if x.D.Stage != "" {
		codes = append(codes, "at "+x.D.Stage)
	}
	p("reply", strings.Join(codes, " "))
	p("explanation", x.D.Explanation)
	p("fix", x.D.Fix)
	p("reference", x.D.Reference)
	return nil
}

type explainJSON struct {
	Input       string `json:"input"`
	Kind        string `json:"kind"`
	Category    string `json:"category"`
	Class       string `json:"class"`
	Actor       string `json:"actor"`
	Rule        string `json:"rule"`
	Explanation string `json:"explanation"`
	Fix         string `json:"fix"`
	Reference   string `json:"reference,omitempty"`
	Code        int    `json:"code,omitempty"`
	Enhanced    string `json:"enhanced,omitempty"`
	Stage       string `json:"stage,omitempty"`
	Note        string `json:"note,omitempty"`
}

func writeExplainJSON(w io.Writer, x *explained) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // reason texts are full of <addresses>
	return enc.Encode(explainJSON{
		Input: x.Input, Kind: x.Kind, Category: x.D.Category, Class: x.D.Class, Actor: x.D.Actor,
		Rule: x.D.Rule, Explanation: x.D.Explanation, Fix: x.D.Fix, Reference: x.D.Reference,
		Code: x.D.Code, Enhanced: x.D.Enhanced, Stage: x.D.Stage, Note: x.Note,
	})
}

// safeText keeps hostile log text from driving the terminal: control
// characters and invalid UTF-8 are shown escaped.
func safeText(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
