package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/pfdiag/pfdiag/parser/input"
	"github.com/pfdiag/pfdiag/reports/queue"
	"github.com/pfdiag/pfdiag/rules"
)

// cmdQueue implements `pfdiag queue [FILE|-]`: the summary of a postqueue -j
// listing, and selections of messages for postsuper. It never changes the
// queue: --ids prints validated queue IDs for the administrator to pipe
// into postsuper.
func cmdQueue(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "queue", "[flags] [FILE|-]\n\n"+
		"Summarises `postqueue -j` output from FILE, stdin (-), or by running postqueue -j itself.\n"+
		"Selection flags pick messages; --ids prints their validated queue IDs for `postsuper -d -`.")
	format := fs.String("format", "text", "output `format`: text, json or markdown")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	pq := addPostqueueFlags(fs)
	top := fs.Int("top", 20, "show the `N` biggest senders and recipient domains (0: all)")
	limit := fs.Int("limit", 50, "list at most `N` selected messages in text/markdown (0: none)")
	ids := fs.Bool("ids", false, "print only the selected, validated queue IDs, one per line (for postsuper -d -)")
	var f queue.Filter
	fs.BoolVar(&f.All, "all", false, "select every message (needed for --ids without another selection)")
	fs.StringSliceVar(&f.Queues, "queue", nil, "select messages in `QUEUE` (active, deferred, hold, incoming, maildrop); repeatable or comma-separated")
	fs.StringArrayVar(&f.Senders, "sender", nil, "select messages from envelope sender `ADDR` (<> for bounces); repeatable")
	fs.StringSliceVar(&f.SenderDomains, "sender-domain", nil, "select messages whose sender is in `DOMAIN` (.DOMAIN: its subdomains)")
	fs.StringSliceVar(&f.RecipientDomains, "recipient-domain", nil, "select messages with a recipient in `DOMAIN` (.DOMAIN: its subdomains)")
	fs.StringSliceVar(&f.Categories, "category", nil, "select messages with a recipient whose delay reason is diagnosed as `CATEGORY`")
	fs.StringArrayVar(&f.ReasonContains, "reason-contains", nil, "select messages with a recipient whose delay reason contains `TEXT` (case-insensitive); repeatable")
	nowFlag := fs.String("now", "", "reference `TIME` for ages, RFC 3339 or Unix seconds (default: the current time; set it to when a saved listing was taken)")
	olderThan := fs.String("older-than", "", "select messages queued longer than `AGE` (Go duration, or Nd for days: 90m, 12h, 3d)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("at most one input (FILE or -), got %d", fs.NArg())
	}
	switch *format {
	case "text", "json", "markdown":
	default:
		return usagef("--format %q: want text, json or markdown", *format)
	}
	if *ids && fs.Changed("format") {
		return usagef("--ids prints queue IDs only; it cannot be combined with --format")
	}
	if *olderThan != "" {
		d, err := parseAge(*olderThan)
		if err != nil {
			return usagef("--older-than: %v", err)
		}
		f.OlderThan = d
	}
	now := e.now()
	if *nowFlag != "" {
		t, err := parseTime(*nowFlag)
		if err != nil {
			return usagef("--now: %v", err)
		}
		now = t
	}
	if err := checkSelectionValues(fs); err != nil {
		return err
	}
	if err := f.Check(); err != nil {
		return usagef("%v", err)
	}
	if *ids && !f.Active() {
		return usagef("--ids needs a selection (e.g. --queue deferred --category greylisted); --all selects every message")
	}
	eng, err := rules.New(*ruleFiles...)
	if err != nil {
		return err
	}
	if err := checkCategories(eng, "category", f.Categories); err != nil {
		return err
	}
	if *top == 0 {
		*top = -1
	}
	if *limit == 0 {
		*limit = -1
	}

	src, err := openQueueInput(ctx, e, fs.Args(), pq)
	if err != nil {
		return err
	}
	rep, err := queue.Summarize(ctx, queue.NewReader(src), queue.Options{
		Now: now, Classifier: eng, Filter: f, Top: *top, Listing: *limit,
	})
	if cerr := src.finish(e.stderr, "queue"); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", src.name, err)
	}
	reportInputProblems(e, "queue", src.name, rep, *ids)
	if rep.Selection != nil {
		rep.Selection.Commands = postsuperCommands(fs, pq, src, f)
	}

	switch {
	case *ids:
		return queue.WriteIDs(e.stdout, rep)
	case *format == "json":
		return queue.WriteJSON(e.stdout, rep)
	case *format == "markdown":
		return queue.WriteMarkdown(e.stdout, rep)
	}
	return queue.WriteText(e.stdout, rep)
}

// parseTime accepts RFC 3339 or Unix seconds (the arrival_time unit).
func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-30T07:45:00Z) or Unix seconds", s)
	}
	return t, nil
}

// parseAge accepts a Go duration or a whole number of days ("3d").
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 36500 {
			return 0, fmt.Errorf("%q: want a number of days such as 3d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 90m, 12h or 3d", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q: negative age", s)
	}
	return d, nil
}

// selectionFlags are the flags that select messages; postsuperCommands
// repeats them.
var selectionFlags = [...]string{"all", "queue", "sender", "sender-domain", "recipient-domain", "category", "reason-contains", "older-than", "now"}

// checkSelectionValues refuses control characters in selection values:
// delay reasons and addresses in postqueue output never contain them
// (Postfix makes them printable), and the suggested postsuper command line
// must be printable exactly as it is to be typed.
func checkSelectionValues(fs *pflag.FlagSet) error {
	var err error
	fs.Visit(func(fl *pflag.Flag) {
		if err != nil || !isSelectionFlag(fl.Name) {
			return
		}
		for _, v := range flagValues(fl) {
			if !printableArg(v) {
				err = usagef("--%s: control characters or invalid UTF-8 in %q", fl.Name, v)
				return
			}
		}
	})
	return err
}

func isSelectionFlag(name string) bool {
	for _, n := range selectionFlags {
		if n == name {
			return true
		}
	}
	return false
}

func flagValues(fl *pflag.Flag) []string {
	if sv, ok := fl.Value.(pflag.SliceValue); ok {
		return sv.GetSlice()
	}
	return []string{fl.Value.String()}
}

func printableArg(s string) bool {
	// Terminal escapes control characters, bidi controls and invalid UTF-8,
	// and doubles backslashes; nothing else may change.
	return queue.Terminal(s) == strings.ReplaceAll(s, `\`, `\\`)
}

// checkCategories makes a typo in --category a usage error instead of a
// selection that silently matches nothing.
func checkCategories(eng *rules.Engine, flag string, cats []string) error {
	if len(cats) == 0 {
		return nil
	}
	known := map[string]bool{}
	var names []string
	for _, c := range eng.Categories() {
		if !c.Finding {
			known[c.ID] = true
			names = append(names, c.ID)
		}
	}
	known[rules.Unclassified] = true
	for _, c := range cats {
		if !known[c] {
			sort.Strings(names)
			return usagef("--%s %q is not a delivery category; known: %s", flag, c, strings.Join(names, ", "))
		}
	}
	return nil
}

// postqueueFlags say how to run postqueue when no input is given.
type postqueueFlags struct {
	path      *string
	configDir *string
}

func addPostqueueFlags(fs *pflag.FlagSet) postqueueFlags {
	return postqueueFlags{
		path:      fs.String("postqueue", "", "run this postqueue `PATH` (default: postqueue from PATH, /usr/sbin, /usr/local/sbin)"),
		configDir: fs.StringP("config-dir", "c", "", "Postfix instance configuration `DIR` (postqueue -c DIR -j, postsuper -c DIR)"),
	}
}

// queueSource is an opened postqueue -j listing.
type queueSource struct {
	io.Reader
	name   string // file name, "stdin" or the postqueue command
	kind   string // "file", "stdin" or "postqueue"
	file   *input.File
	cmd    *exec.Cmd
	stderr *capped
}

// openQueueInput opens FILE or stdin, or starts postqueue -j. postqueue is
// executed directly with an argument vector: no shell ever sees the
// configuration directory or anything else.
func openQueueInput(ctx context.Context, e *env, args []string, pq postqueueFlags) (*queueSource, error) {
	if len(args) == 1 {
		f, err := input.Open(args[0], e.stdin)
		if err != nil {
			return nil, err
		}
		s := &queueSource{Reader: f, name: args[0], kind: "file", file: f}
		if args[0] == "-" {
			s.name, s.kind = "stdin", "stdin"
		}
		return s, nil
	}
	path, err := findPostqueue(*pq.path)
	if err != nil {
		return nil, err
	}
	argv := []string{"-j"}
	if *pq.configDir != "" {
		argv = []string{"-c", *pq.configDir, "-j"}
	}
	cmd := exec.CommandContext(ctx, path, argv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &queueSource{Reader: out, name: path + " " + strings.Join(argv, " "), kind: "postqueue", cmd: cmd, stderr: &capped{max: 4096}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot run %s: %w", path, err)
	}
	return s, nil
}

// findPostqueue returns the postqueue to run: the one given, else the first
// in PATH, /usr/sbin or /usr/local/sbin (sbin is often not in a user's PATH).
func findPostqueue(given string) (string, error) {
	if given != "" {
		p, err := exec.LookPath(given)
		if err != nil {
			return "", fmt.Errorf("--postqueue %s: %w", given, err)
		}
		return p, nil
	}
	for _, c := range []string{"postqueue", "/usr/sbin/postqueue", "/usr/local/sbin/postqueue"} {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no input: postqueue not found (give a postqueue -j FILE, - for stdin, or --postqueue PATH)")
}

// finish closes a file, or waits for postqueue and turns a failure into an
// error carrying the first line of its stderr. Warnings postqueue wrote on
// success are passed on, escaped.
func (s *queueSource) finish(warn io.Writer, name string) error {
	if s.file != nil {
		if s.kind == "file" {
			return s.file.Close()
		}
		return nil
	}
	io.Copy(io.Discard, s.Reader) // let postqueue finish writing if we stopped early
	err := s.cmd.Wait()
	msg := firstLine(s.stderr.Bytes())
	if err != nil {
		if msg != "" {
			return fmt.Errorf("%v: %s", err, queue.Terminal(msg))
		}
		return err
	}
	if msg != "" {
		fmt.Fprintf(warn, "pfdiag %s: %s said: %s\n", name, queue.Terminal(s.name), queue.Terminal(msg))
	}
	return nil
}

func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSpace(b))
}

// capped keeps the first max bytes written to it and discards the rest, so
// a chatty child cannot grow our memory.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		if len(p) > room {
			c.Buffer.Write(p[:room])
		} else {
			c.Buffer.Write(p)
		}
	}
	return len(p), nil
}

// maxReported bounds the malformed lines listed on stderr; all are counted.
const maxReported = 10

// reportInputProblems writes malformed lines (with their line numbers) and
// invalid queue IDs to stderr, escaped: they are never fatal.
func reportInputProblems(e *env, cmd, name string, rep *queue.Report, ids bool) {
	in := rep.Input
	if in.Malformed > 0 {
		fmt.Fprintf(e.stderr, "pfdiag %s: %s: %d malformed %s skipped, the rest was used\n", cmd, queue.Terminal(name), in.Malformed, plural(in.Malformed, "line", "lines"))
		for i, p := range in.Problems {
			if i == maxReported {
				fmt.Fprintf(e.stderr, "pfdiag %s: %s: … and %d more malformed lines\n", cmd, queue.Terminal(name), in.Malformed-maxReported)
				break
			}
			fmt.Fprintf(e.stderr, "pfdiag %s: %s:%d: %s\n", cmd, queue.Terminal(name), p.Line, queue.Terminal(p.Error))
		}
	}
	if in.InvalidIDs > 0 {
		lines := make([]string, 0, len(in.InvalidAt))
		for _, l := range in.InvalidAt {
			lines = append(lines, strconv.Itoa(l))
		}
		more := ""
		if in.InvalidIDs > len(in.InvalidAt) {
			more = ", …"
		}
		what := "listed but never printed by --ids"
		if ids && rep.Selection != nil {
			what = fmt.Sprintf("%d of them selected and not printed", rep.Selection.InvalidIDs)
		}
		fmt.Fprintf(e.stderr, "pfdiag %s: %s: %d %s with an invalid queue ID (%s), %s (%s %s%s)\n", cmd, queue.Terminal(name),
			in.InvalidIDs, plural(in.InvalidIDs, "message", "messages"), "not a Postfix short or long queue ID", what, plural(len(lines), "line", "lines"), strings.Join(lines, ", "), more)
	}
	for q, n := range in.Unknown {
		fmt.Fprintf(e.stderr, "pfdiag %s: %s: %d %s in queue %q, which postqueue never lists (counted as \"other\")\n",
			cmd, queue.Terminal(name), n, plural(n, "message", "messages"), queue.Terminal(q))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// postsuperCommands returns the command lines that act on the selection:
// the same pfdiag selection with --ids, piped into postsuper. For a live
// run they re-select from the live queue at the moment they run; for a
// FILE they use the same snapshot; for stdin they feed postqueue -j in.
// With --queue the postsuper command names the queues too, so that it
// cannot touch a message that has meanwhile moved elsewhere.
func postsuperCommands(fs *pflag.FlagSet, pq postqueueFlags, src *queueSource, f queue.Filter) []queue.Command {
	var sel []string
	for _, name := range selectionFlags {
		fl := fs.Lookup(name)
		if fl == nil || !fl.Changed {
			continue
		}
		if name == "all" {
			sel = append(sel, "--all")
			continue
		}
		for _, v := range flagValues(fl) {
			sel = append(sel, "--"+name, shellQuote(v))
		}
	}
	for _, name := range []string{"rules"} {
		if fl := fs.Lookup(name); fl != nil && fl.Changed {
			for _, v := range flagValues(fl) {
				sel = append(sel, "--"+name, shellQuote(v))
			}
		}
	}
	var pfdiag []string
	switch src.kind {
	case "file":
		name := src.name
		if strings.HasPrefix(name, "-") {
			name = "./" + name // not an option
		}
		pfdiag = append(append([]string{"pfdiag", "queue"}, sel...), "--ids", shellQuote(name))
	case "stdin":
		pre := []string{"postqueue"}
		if *pq.configDir != "" {
			pre = append(pre, "-c", shellQuote(*pq.configDir))
		}
		pfdiag = append(append(append(pre, "-j", "|", "pfdiag", "queue"), sel...), "--ids", "-")
	default:
		pfdiag = []string{"pfdiag", "queue"}
		if *pq.path != "" {
			pfdiag = append(pfdiag, "--postqueue", shellQuote(*pq.path))
		}
		if *pq.configDir != "" {
			pfdiag = append(pfdiag, "-c", shellQuote(*pq.configDir))
		}
		pfdiag = append(append(pfdiag, sel...), "--ids")
	}
	super := []string{"postsuper"}
	if *pq.configDir != "" {
		super = append(super, "-c", shellQuote(*pq.configDir))
	}
	var out []queue.Command
	for _, a := range []struct{ action, opt string }{
		{"delete", "-d"}, {"hold", "-h"}, {"release", "-H"}, {"requeue", "-r"},
	} {
		c := append(append(append([]string{}, pfdiag...), "|"), super...)
		c = append(c, a.opt, "-")
		c = append(c, f.Queues...)
		out = append(out, queue.Command{Action: a.action, Command: strings.Join(c, " ")})
	}
	return out
}

// shellQuote returns s as one POSIX shell word: unchanged when it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("@%+=:,./_-", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
