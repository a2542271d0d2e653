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
		"With --index (or an index threshold) it also rates the last --window of the log in the index:\n"+
		"bounce rate and failures per category. Thresholds are Nagios ranges: N alerts above N, N: below N,\n"+
		"@A:B inside A..B.")
	pq := addPostqueueFlags(fs)
	deferredWarn := fs.String("deferred-warn", "500", "WARNING `RANGE` for the number of messages in the deferred queue (empty: none)")
	deferredCrit := fs.String("deferred-crit", "1000", "CRITICAL `RANGE` for the number of messages in the deferred queue (empty: none)")
	holdWarn := fs.String("hold-warn", "", "WARNING `RANGE` for the number of messages in the hold queue")
	holdCrit := fs.String("hold-crit", "", "CRITICAL `RANGE` for the number of messages in the hold queue")
	ruleFiles := fs.StringArray("rules", nil, "extra rule `FILE` (YAML) added to the defaults; repeatable")
	catWarn := fs.StringArray("queue-category-warn", nil, "WARNING when queued recipients in `CATEGORY=RANGE` (e.g. blocklisted_ip=0); repeatable")
	catCrit := fs.StringArray("queue-category-crit", nil, "CRITICAL when queued recipients in `CATEGORY=RANGE`; repeatable")
	indexDir := fs.String("index", "", "read delivery outcomes of the last --window from the index in `DIR` (default with a window threshold: $XDG_STATE_HOME/pfdiag, else ~/.local/state/pfdiag)")
	window := fs.String("window", "15m", "the recent `DURATION` of the log the index thresholds look at")
	bounceWarn := fs.String("bounce-warn", "", "WARNING `RANGE` for the bounce rate in percent over the window, e.g. 5")
	bounceCrit := fs.String("bounce-crit", "", "CRITICAL `RANGE` for the bounce rate in percent over the window, e.g. 20")
	minFinal := fs.Int("min-deliveries", 10, "rate the bounce rate only with at least `N` delivered or bounced recipients in the window")
	winCatWarn := fs.StringArray("category-warn", nil, "WARNING when failed attempts in the window in `CATEGORY=RANGE` (e.g. blocklisted_ip=0); repeatable")
	winCatCrit := fs.StringArray("category-crit", nil, "CRITICAL when failed attempts in the window in `CATEGORY=RANGE`; repeatable")
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
	catChecks, err := categoryThresholds(eng, "queue-category", "queue_", *catWarn, *catCrit)
	if err != nil {
		return unknown(e, "bad arguments: %v", err)
	}
	for _, th := range catChecks {
		cat := strings.TrimPrefix(th.label, "queue_")
		th.show = func(v string) string { return v + " queued " + cat }
	}
	win, err := newWindowCheck(eng, *indexDir, *window, *bounceWarn, *bounceCrit, *minFinal, *winCatWarn, *winCatCrit)
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

	if win != nil {
		wsum, wperf, err := win.run(ctx, e, &res)
		if err != nil {
			return unknown(e, "%v", err)
		}
		summary += ", " + wsum
		perf = append(perf, wperf...)
	}
	return res.finish(e, summary, perf)
}

// windowCheck is the part of check that reads the index: the bounce rate
// and failures per category over the last window of the log.
type windowCheck struct {
	dir      string
	window   time.Duration
	bounce   *threshold
	minFinal int
	cats     []*threshold
}

// newWindowCheck returns nil when no flag asks for the index.
func newWindowCheck(eng *rules.Engine, dir, window, bw, bc string, minFinal int, cw, cc []string) (*windowCheck, error) {
	if dir == "" && bw == "" && bc == "" && len(cw) == 0 && len(cc) == 0 {
		return nil, nil
	}
	d, err := parseAge(window)
	if err != nil || d <= 0 {
		return nil, fmt.Errorf("--window %q: want a duration such as 15m or 1h", window)
	}
	w := &windowCheck{dir: dir, window: d, minFinal: minFinal}
	if w.bounce, err = newThreshold("bounce_rate", bw, bc); err != nil {
		return nil, err
	}
	w.bounce.uom = "%"
	w.bounce.show = func(v string) string { return "bounce rate " + v + " in " + formatDuration(d) }
	if w.cats, err = categoryThresholds(eng, "category", "window_", cw, cc); err != nil {
		return nil, err
	}
	for _, th := range w.cats {
		cat := strings.TrimPrefix(th.label, "window_")
		th.show = func(v string) string { return v + " " + cat + " in " + formatDuration(d) }
	}
	return w, nil
}

// run reads the window from the index, adds its alerts to res and returns
// the summary text and perfdata. An index that cannot be opened is an
// error (UNKNOWN); one not updated during the window is a warning, since
// its counts would claim a quiet server. The index is found as every
// pfdiag command finds it (--index, else the default directory).
func (w *windowCheck) run(ctx context.Context, e *env, res *checkResult) (string, []string, error) {
	flags := indexFlags{dir: w.dir, retain: "0"}
	idx, err := flags.open(e, true)
	if err != nil {
		return "", nil, fmt.Errorf("cannot open the index: %v", err)
	}
	defer idx.Close()
	return w.evaluate(ctx, idx, e.now(), res)
}

func (w *windowCheck) evaluate(ctx context.Context, idx correlate.Index, now time.Time, res *checkResult) (string, []string, error) {
	since := now.Add(-w.window)
	srcs, err := idx.Sources(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the index: %v", err)
	}
	var updated time.Time
	for _, s := range srcs {
		if s.Updated.After(updated) {
			updated = s.Updated
		}
	}
	if updated.Before(since) {
		if res.state < stateWarning {
			res.state = stateWarning
		}
		what := "index never updated"
		if !updated.IsZero() {
			what = "index last updated " + updated.UTC().Format(time.RFC3339)
		}
		res.alerts = append(res.alerts, fmt.Sprintf("%s, before the %s window (is pfdiag ingest or tail running?)", what, formatDuration(w.window)))
		return "no window data", nil, nil
	}
	ws, err := collectWindow(ctx, idx, since, now)
	if err != nil {
		return "", nil, fmt.Errorf("cannot read the index: %v", err)
	}
	final := ws.sent + ws.bounced + ws.expired
	rate := math.Round(ws.bounceRate()*10) / 10
	w.bounce.value = rate
	checks := make([]*threshold, 0, 1+len(w.cats))
	if final >= w.minFinal {
		checks = append(checks, w.bounce)
	} else if w.bounce.warn.set || w.bounce.crit.set {
		res.notes = append(res.notes, fmt.Sprintf("bounce rate not rated below %d deliveries", w.minFinal))
	}
	for _, th := range w.cats {
		th.value = float64(ws.categories[strings.TrimPrefix(th.label, "window_")])
		checks = append(checks, th)
	}
	res.evaluate(checks)
	perf := []string{w.bounce.perfdata(),
		perfValue("sent", float64(ws.sent)), perfValue("bounced", float64(ws.bounced)),
		perfValue("expired", float64(ws.expired)), perfValue("deferrals", float64(ws.deferred))}
	for _, th := range w.cats {
		perf = append(perf, th.perfdata())
	}
	sum := fmt.Sprintf("bounce rate %s%% of %d in %s", formatNumber(rate), final, formatDuration(w.window))
	return sum, perf, nil
}

// formatDuration writes 15m, 1h, 1h30m, 2d.
func formatDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	return s
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
		r.alerts = append(r.alerts, fmt.Sprintf("%s (%s %s)", th.text(), strings.ToLower(stateNames[s]), th.describe(s)))
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
	show       func(v string) string // the value in words for the status line; nil: "V label"
}

// text is the value in words, for the status line.
func (t *threshold) text() string {
	v := formatNumber(t.value) + t.uom
	if t.show != nil {
		return t.show(v)
	}
	return v + " " + t.label
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

// categoryThresholds parses the CATEGORY=RANGE values of the flags
// --NAME-warn and --NAME-crit into thresholds labelled prefix+CATEGORY.
func categoryThresholds(eng *rules.Engine, name, prefix string, warns, crits []string) ([]*threshold, error) {
	type pair struct{ warn, crit string }
	byCat := map[string]*pair{}
	var order []string
	parse := func(vals []string, crit bool) error {
		flag := name + "-warn"
		if crit {
			flag = name + "-crit"
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
		th, err := newThreshold(prefix+cat, byCat[cat].warn, byCat[cat].crit)
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
