package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pfdiag/pfdiag/parser"
)

// cmdParse implements `pfdiag parse`: one JSON object per input line, or
// counts per kind with samples (--stats).
func cmdParse(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "parse", "[flags] [FILE...|-]")
	stats := fs.Bool("stats", false, "print counts per event kind with samples instead of events")
	raw := fs.Bool("raw", false, "include the raw line in each JSON object")
	year := fs.Int("year", 0, "year of the first line without one (default: from the file's modification time)")
	samples := fs.Int("samples", 5, "with --stats: samples kept per unparsed kind and per unknown daemon")
	format := fs.String("format", "text", "with --stats: text or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usagef("--format must be text or json, not %q", *format)
	}
	if *year < 0 || *year > 9999 {
		return usagef("--year %d is out of range", *year)
	}
	ins, err := openInputs(e, fs.Args(), *year)
	if err != nil {
		return err
	}
	defer closeInputs(ins)

	var st parseStats
	st.init(*samples)
	w := bufio.NewWriterSize(e.stdout, 256<<10)
	var buf []byte
	var readErrs []error
	for _, in := range ins {
		br := parser.NewBatchReader(in, in.opts)
		for {
			evs, err := br.Next(ctx)
			for i := range evs {
				ev := &evs[i]
				if *stats {
					st.add(in.Name, ev)
					continue
				}
				buf = ev.AppendJSON(buf[:0], *raw)
				buf = append(buf, '\n')
				if _, werr := w.Write(buf); werr != nil {
					br.Close()
					return werr
				}
			}
			if err == nil {
				continue
			}
			br.Close()
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rerr := readError(in.Name, br.Line(), err)
			fmt.Fprintf(e.stderr, "pfdiag parse: %v\n", rerr)
			readErrs = append(readErrs, rerr)
			st.ReadErrors = append(st.ReadErrors, rerr.Error())
			break
		}
	}
	if *stats {
		if *format == "json" {
			st.write(w)
		} else {
			st.writeText(w)
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(readErrs) > 0 {
		return &exitError{code: 1} // already reported, one line each
	}
	return nil
}

// parseStats is the --stats summary.
type parseStats struct {
	SchemaVersion int              `json:"schema_version"`
	Lines         int64            `json:"lines"`
	Kinds         map[string]int64 `json:"kinds"`
	// UnknownByDaemon counts Postfix lines not understood, per daemon.
	UnknownByDaemon map[string]int64    `json:"unknown_by_daemon"`
	ForeignByProg   map[string]int64    `json:"foreign_by_program"`
	Samples         map[string][]string `json:"samples"`
	ReadErrors      []string            `json:"read_errors,omitempty"`

	kinds   [32]int64
	max     int
	samples map[string][]string
}

func (s *parseStats) init(max int) {
	s.SchemaVersion = parser.SchemaVersion
	s.max = max
	s.UnknownByDaemon = map[string]int64{}
	s.ForeignByProg = map[string]int64{}
	s.samples = map[string][]string{}
}

func (s *parseStats) add(name string, ev *parser.Event) {
	s.Lines++
	s.kinds[ev.Kind]++
	var key string
	switch ev.Kind {
	case parser.KindUnknown:
		d := string(ev.Daemon)
		s.UnknownByDaemon[d]++
		key = "unknown " + d
	case parser.KindForeign:
		p := string(ev.Program)
		if len(s.ForeignByProg) < 1000 || s.ForeignByProg[p] > 0 {
			s.ForeignByProg[p]++
		}
		key = "foreign"
	case parser.KindMalformed:
		key = "malformed"
	default:
		return
	}
	if len(s.samples[key]) < s.max {
		line := string(ev.Raw)
		if len(line) > 300 {
			line = line[:300] + "…"
		}
		s.samples[key] = append(s.samples[key], fmt.Sprintf("%s:%d: %s", name, ev.Line, line))
	}
}

func (s *parseStats) finish() {
	s.Kinds = map[string]int64{}
	for _, k := range parser.Kinds() {
		if s.kinds[k] > 0 {
			s.Kinds[k.String()] = s.kinds[k]
		}
	}
	s.Samples = s.samples
}

func (s *parseStats) write(w io.Writer) {
	s.finish()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s)
}

func (s *parseStats) writeText(w io.Writer) {
	s.finish()
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%d\tlines\t\n", s.Lines)
	for _, k := range parser.Kinds() {
		if n := s.kinds[k]; n > 0 {
			fmt.Fprintf(tw, "%d\t%s\t\n", n, k)
		}
	}
	tw.Flush()
	printCounts(w, "unknown Postfix lines by daemon", s.UnknownByDaemon)
	printCounts(w, "foreign lines by program", s.ForeignByProg)
	keys := make([]string, 0, len(s.Samples))
	for k := range s.Samples {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "\nsamples (%s):\n", k)
		for _, l := range s.Samples[k] {
			fmt.Fprintf(w, "  %s\n", sanitizeTerminal(l))
		}
	}
	for _, r := range s.ReadErrors {
		fmt.Fprintf(w, "\nread error: %s\n", r)
	}
}

func printCounts(w io.Writer, title string, m map[string]int64) {
	if len(m) == 0 {
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintf(w, "\n%s:\n", title)
	for i, k := range keys {
		if i == 20 {
			fmt.Fprintf(w, "  … %d more\n", len(keys)-20)
			break
		}
		fmt.Fprintf(w, "  %8d  %s\n", m[k], sanitizeTerminal(k))
	}
}

// sanitizeTerminal neutralises control characters (ANSI escapes, CR,
// backspace…) in log text before it reaches a terminal: log text is
// written by strangers.
func sanitizeTerminal(s string) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\uFFFD' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
