package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/reports/queue"
	"github.com/pfdiag/pfdiag/rules"
)

// Nagios plugin states and their exit codes (Nagios Plugin API; Icinga,
// Zabbix and cron wrappers use the same convention).
const (
	stateOK       = 0
	stateWarning  = 1
	stateCritical = 2
	stateUnknown  = 3
)

var stateNames = [...]string{"OK", "WARNING", "CRITICAL", "UNKNOWN"}

// cmdCheck implements `pfdiag check [FILE|-]`: a monitoring plugin. It
// prints exactly one status line with performance data on stdout and exits
// 0 (OK), 1 (WARNING), 2 (CRITICAL) or 3 (UNKNOWN).
func cmdCheck(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "check", "[flags] [FILE|-]\n\n"+
		"Nagios/Icinga plugin: one status line with perfdata, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n"+
		"The queue is read from FILE (postqueue -j output), stdin (-), or by running postqueue -j.\n"+
		"Thresholds are Nagios ranges: N alerts above N, N: below N, @A:B inside A..B.")
	pq := addPostqueueFlags(fs)
	deferredWarn := fs.String("deferred-warn", "500", "WARNING `RANGE` for the number of messages in the deferred queue (empty: none)")
	deferredCrit := fs.String("deferred-crit", "1000", "CRITICAL `RANGE` for the number of messages in the deferred queue (empty: none)")
	holdWarn := fs.String("hold-warn", "", "WARNING `RANGE` for the number of messages in the hold queue")
	holdCrit := fs.String("hold-crit", "", "CRITICAL `RANGE` for the number of messages in the hold queue")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	catWarn := fs.StringArray("queue-category-warn", nil, "WARNING when queued recipients in `CATEGORY=RANGE` (e.g. blocklisted_ip=0); repeatable")
	catCrit := fs.StringArray("queue-category-crit", nil, "CRITICAL when queued recipients in `CATEGORY=RANGE`; repeatable")
	if err := parseFlags(fs, args); err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return unknown(e, "bad arguments: %v", err)
		}
		return err // --help
	}
	if fs.NArg() > 1 {
		return unknown(e, "bad arguments: at most one input (FILE or -), got %d", fs.NArg())
	}

	var checks []*threshold
	for _, t := range []struct{ label, warn, crit string }{
		{"deferred", *deferredWarn, *deferredCrit},
		{"hold", *holdWarn, *holdCrit},
	} {
		th, err := newThreshold(t.label, t.warn, t.crit)
		if err != nil {
			return unknown(e, "bad arguments: %v", err)
		}
		checks = append(checks, th)
	}
	eng, err := rules.New(*ruleFiles...)
	if err != nil {
		return unknown(e, "rules: %v", err)
	}
	catChecks, err := categoryThresholds(eng, *catWarn, *catCrit)
	if err != nil {
		return unknown(e, "bad arguments: %v", err)
	}

	src, err := openQueueInput(ctx, e, fs.Args(), pq)
	if err != nil {
		return unknown(e, "cannot read the queue: %v", err)
	}
	rep, err := queue.Summarize(ctx, queue.NewReader(src), queue.Options{Now: e.now(), Classifier: eng, Top: 1, Listing: -1})
	// A plugin's output is its one status line: postqueue's warnings on a
	// successful run are dropped, its failure becomes UNKNOWN.
	if cerr := src.finish(io.Discard, "check"); err == nil {
		err = cerr
	}
	if err != nil {
		return unknown(e, "cannot read the queue: %s: %v", src.name, err)
	}
	if rep.Input.Messages == 0 && rep.Input.Malformed > 0 {
		return unknown(e, "%s: no postqueue -j object in %d lines", src.name, rep.Input.Malformed)
	}

	values := map[string]float64{}
	for _, q := range queue.QueueNames() {
		values[q] = float64(rep.Queues[q].Messages)
	}
	for _, th := range checks {
		th.value = values[th.label]
	}
	for _, th := range catChecks {
		th.value = float64(rep.Categories[strings.TrimPrefix(th.label, "queue_")])
	}
	checks = append(checks, catChecks...)

	res := checkResult{}
	res.evaluate(checks)
	var perf []string
	for _, th := range checks {
		perf = append(perf, th.perfdata())
	}
	for _, q := range []string{"active", "incoming", "maildrop"} {
		perf = append(perf, perfValue(q, values[q]))
	}
	perf = append(perf, perfValue("bytes", float64(rep.Totals.Bytes))+"B")
	if rep.Input.Malformed > 0 {
		perf = append(perf, perfValue("malformed", float64(rep.Input.Malformed)))
		res.notes = append(res.notes, fmt.Sprintf("%d malformed lines", rep.Input.Malformed))
	}
	summary := fmt.Sprintf("%d deferred", rep.Queues["deferred"].Messages)
	return res.finish(e, summary, perf)
}

// unknown prints an UNKNOWN status line and exits 3.
func unknown(e *env, format string, a ...any) error {
	msg := strings.ReplaceAll(queue.Terminal(fmt.Sprintf(format, a...)), "|", "/") // '|' starts perfdata
	fmt.Fprintf(e.stdout, "PFDIAG UNKNOWN - %s\n", msg)
	return &exitError{code: stateUnknown}
}

// checkResult collects the state and the texts of the alerts.
type checkResult struct {
	state  int
	alerts []string
	notes  []string
}

func (r *checkResult) evaluate(checks []*threshold) {
	for _, th := range checks {
		s := th.state()
		if s == stateOK {
			continue
		}
		if s > r.state {
			r.state = s
		}
		r.alerts = append(r.alerts, fmt.Sprintf("%s %s (%s %s)", formatNumber(th.value), th.label, strings.ToLower(stateNames[s]), th.describe(s)))
	}
}

// finish prints the one status line: state, summary, alerts, then perfdata
// after '|', and returns the exit status with nothing else to print.
func (r *checkResult) finish(e *env, summary string, perf []string) error {
	text := summary
	if len(r.alerts) > 0 {
		text = strings.Join(r.alerts, ", ")
	}
	if len(r.notes) > 0 {
		text += "; " + strings.Join(r.notes, "; ")
	}
	text = strings.ReplaceAll(queue.Terminal(text), "|", "/")
	fmt.Fprintf(e.stdout, "PFDIAG %s - %s | %s\n", stateNames[r.state], text, strings.Join(perf, " "))
	if r.state == stateOK {
		return nil
	}
	return &exitError{code: r.state}
}

// threshold is one checked value with its warning and critical ranges.
type threshold struct {
	label      string
	value      float64
	uom        string
	warn, crit nagiosRange
}

func newThreshold(label, warn, crit string) (*threshold, error) {
	w, err := parseRange(warn)
	if err != nil {
		return nil, fmt.Errorf("%s warning threshold: %v", label, err)
	}
	c, err := parseRange(crit)
	if err != nil {
		return nil, fmt.Errorf("%s critical threshold: %v", label, err)
	}
	return &threshold{label: label, warn: w, crit: c}, nil
}

func (t *threshold) state() int {
	switch {
	case t.crit.alert(t.value):
		return stateCritical
	case t.warn.alert(t.value):
		return stateWarning
	}
	return stateOK
}

func (t *threshold) describe(state int) string {
	r := t.warn
	if state == stateCritical {
		r = t.crit
	}
	return r.describe()
}

// perfdata is 'label'=value[UOM];[warn];[crit] as in the Nagios plugin
// development guidelines; empty thresholds stay empty.
func (t *threshold) perfdata() string {
	s := perfLabel(t.label) + "=" + formatNumber(t.value) + t.uom
	w, c := t.warn.raw, t.crit.raw
	if w != "" || c != "" {
		s += ";" + w + ";" + c
	}
	return s
}

func perfValue(label string, v float64) string { return perfLabel(label) + "=" + formatNumber(v) }

// perfLabel quotes a label that holds anything but letters, digits, '_'
// and '-' (the guidelines allow any character but '=' and "'").
func perfLabel(l string) string {
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "'" + strings.NewReplacer("'", "", "=", "").Replace(l) + "'"
		}
	}
	return l
}

func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// categoryThresholds parses CATEGORY=RANGE flags into thresholds on the
// number of queued recipients whose delay reason has that category.
func categoryThresholds(eng *rules.Engine, warns, crits []string) ([]*threshold, error) {
	type pair struct{ warn, crit string }
	byCat := map[string]*pair{}
	var order []string
	parse := func(vals []string, crit bool) error {
		flag := "queue-category-warn"
		if crit {
			flag = "queue-category-crit"
		}
		for _, v := range vals {
			cat, rng, ok := strings.Cut(v, "=")
			if !ok || cat == "" {
				return fmt.Errorf("%q: want CATEGORY=RANGE", v)
			}
			if err := checkCategories(eng, flag, []string{cat}); err != nil {
				return err
			}
			p := byCat[cat]
			if p == nil {
				p = &pair{}
				byCat[cat] = p
				order = append(order, cat)
			}
			if crit {
				p.crit = rng
			} else {
				p.warn = rng
			}
		}
		return nil
	}
	if err := parse(warns, false); err != nil {
		return nil, err
	}
	if err := parse(crits, true); err != nil {
		return nil, err
	}
	var out []*threshold
	for _, cat := range order {
		th, err := newThreshold("queue_"+cat, byCat[cat].warn, byCat[cat].crit)
		if err != nil {
			return nil, err
		}
		out = append(out, th)
	}
	return out, nil
}

// nagiosRange is a threshold range of the Nagios plugin guidelines:
//
//	10      alert if < 0 or > 10
//	10:     alert if < 10
//	~:10    alert if > 10
//	10:20   alert if < 10 or > 20
//	@10:20  alert if >= 10 and <= 20
//
// The empty range never alerts.
type nagiosRange struct {
	raw        string
	set        bool
	start, end float64 // ±Inf for an open side
	inside     bool
}

func parseRange(s string) (nagiosRange, error) {
	r := nagiosRange{raw: s}
	if s == "" {
		return r, nil
	}
	r.set = true
	body := s
	if strings.HasPrefix(body, "@") {
		r.inside = true
		body = body[1:]
	}
	lo, hi, hasColon := strings.Cut(body, ":")
	if !hasColon {
		lo, hi = "0", body
	}
	var err error
	switch lo {
	case "~":
		r.start = math.Inf(-1)
	case "":
		r.start = 0
	default:
		if r.start, err = parseNumber(lo); err != nil {
			return r, fmt.Errorf("range %q: %v", s, err)
		}
	}
	if hi == "" {
		if !hasColon {
			return r, fmt.Errorf("range %q: empty", s)
		}
		r.end = math.Inf(1)
	} else if r.end, err = parseNumber(hi); err != nil {
		return r, fmt.Errorf("range %q: %v", s, err)
	}
	if r.start > r.end {
		return r, fmt.Errorf("range %q: start above end", s)
	}
	return r, nil
}

func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}

func (r nagiosRange) alert(v float64) bool {
	if !r.set {
		return false
	}
	in := v >= r.start && v <= r.end
	if r.inside {
		return in
	}
	return !in
}

// describe says in words when the range alerts, for the status line.
func (r nagiosRange) describe() string {
	lo, hi := formatNumber(r.start), formatNumber(r.end)
	switch {
	case r.inside:
		return "in " + lo + ".." + hi
	case math.IsInf(r.start, -1):
		return "> " + hi
	case math.IsInf(r.end, 1):
		return "< " + lo
	case r.start == 0:
		return "> " + hi
	}
	return "outside " + lo + ".." + hi
}

// windowStats are the delivery outcomes Postfix logged in a time window,
// from the index: one per to= line (and per recipient expired by qmgr), as
// the index counts them. Hand-offs to a content filter or another local
// instance ("queued as …") are not deliveries and are left out.
type windowStats struct {
	sent, deferred, bounced, expired int
	categories                       map[string]int // failed attempts (deferred, bounced, expired) per category
}

// bounceRate is the share of final outcomes that were permanent failures:
// (bounced + expired) / (sent + bounced + expired), in percent. Deferrals
// are not outcomes: the queue retries them.
func (w *windowStats) bounceRate() float64 {
	final := w.sent + w.bounced + w.expired
	if final == 0 {
		return 0
	}
	return 100 * float64(w.bounced+w.expired) / float64(final)
}

// collectWindow counts the attempts logged in [since, until).
func collectWindow(ctx context.Context, idx correlate.Index, since, until time.Time) (*windowStats, error) {
	w := &windowStats{categories: map[string]int{}}
	q := correlate.Query{Since: since, Until: until}
	err := idx.Messages(ctx, q, func(m *correlate.Message) error {
		m.Deliveries(func(_ *correlate.Message, _ *correlate.Recipient, a *correlate.Attempt) {
			if a.Time.Before(since) || !a.Time.Before(until) || a.QueuedAs != "" {
				return
			}
			switch a.Status {
			case correlate.StatusSent:
				w.sent++
			case correlate.StatusDeferred:
				w.deferred++
			case correlate.StatusBounced:
				w.bounced++
			case correlate.StatusExpired:
				w.expired++
			}
			if a.Status.Failed() && a.Category != "" {
				w.categories[a.Category]++
			}
		})
		return ctx.Err()
	})
	return w, err
}
