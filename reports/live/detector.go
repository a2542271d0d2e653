package live

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Failure is one failed delivery attempt, or one operational finding.
type Failure struct {
	Time      time.Time
	Host      string // syslog host
	QueueID   string
	Recipient string
	Domain    string // recipient domain, lower case
	Relay     string // relay= as logged: "mx.example.com[192.0.2.1]:25", "none"
	Status    string // deferred, bounced, expired, SOFTBOUNCE…
	DSN       string
	Reason    string
	Category  string // taxonomy id
	Permanent bool   // the diagnosis' class is permanent (bounced, expired)
	Fix       string
	// Finding marks an operational finding (warning:, fatal:, panic:):
	// its destination is the host.
	Finding bool
}

// Scope says what a problem's destination is.
type Scope uint8

// Scopes. ScopeAuto uses the relay host for relay_auth_failure,
// auth_required and relay_denied (the next hop is what must change) and
// the recipient domain otherwise.
const (
	ScopeAuto Scope = iota
	ScopeDomain
	ScopeRelay
)

// ParseScope reads "auto", "domain" or "relay".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "auto", "":
		return ScopeAuto, nil
	case "domain":
		return ScopeDomain, nil
	case "relay":
		return ScopeRelay, nil
	}
	return 0, fmt.Errorf("unknown scope %q (want auto, domain or relay)", s)
}

// Options configure a Detector. Zero values take the defaults.
type Options struct {
	// Window is the span failures are counted over. Default 5m.
	Window time.Duration
	// Threshold is the number of failures of one category for one
	// destination within Window that makes a problem. Default 10.
	Threshold int
	// FindingThreshold is the same for operational findings (per host).
	// Default 1; negative disables findings.
	FindingThreshold int
	// ClearAfter: a problem clears when its destination has had no
	// failure of its category for this long. Default Window.
	ClearAfter time.Duration
	// By chooses destinations (see Scope).
	By Scope
	// Ignore lists categories that never make a problem (default:
	// greylisted, which clears by itself and is expected).
	Ignore []string
	// Each also reports every permanent failure (bounce, expiry).
	Each bool
	// MaxKeys bounds the (destination, category) pairs tracked.
	// Default 10000.
	MaxKeys int
}

// DefaultIgnore returns Options.Ignore's default: greylisting, expected and
// cleared by the next attempt.
func DefaultIgnore() []string { return []string{"greylisted"} }

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = 5 * time.Minute
	}
	if o.Threshold <= 0 {
		o.Threshold = 10
	}
	if o.FindingThreshold == 0 {
		o.FindingThreshold = 1
	}
	if o.ClearAfter <= 0 {
		o.ClearAfter = o.Window
	}
	if o.Ignore == nil {
		o.Ignore = DefaultIgnore()
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10000
	}
}

// Kind says what an Event reports.
type Kind uint8

// Event kinds. The names returned by String are the "event" of the JSON
// lines and a stable interface.
const (
	KindProblem   Kind = iota // a category crossed the threshold for a destination
	KindEscalated             // the problem doubled, or turned permanent
	KindCleared               // no failure for ClearAfter
	KindOngoing               // a problem already active when the live part of the log starts
	KindBounce                // one permanent failure (Options.Each)
)

var kindNames = [...]string{"problem", "escalated", "cleared", "ongoing", "bounce"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Event is one notable change.
type Event struct {
	Kind     Kind
	Time     time.Time // when it was noticed (log time)
	Scope    string    // "domain", "relay" or "host"
	Dest     string
	Category string

	// Problems: the failures in the window ending at Time.
	Count     int
	Temporary int
	Permanent int
	Window    time.Duration
	First     time.Time // first and last failure in the window
	Last      time.Time
	Since     time.Time // when the problem started
	Total     int       // failures since then
	Delivered int       // deliveries to the destination since then
	Finding   bool      // counts are warnings, not deliveries
	Fix       string

	// Bounces (and the last failure of a problem: its sample).
	Host      string
	QueueID   string
	Recipient string
	Status    string
	DSN       string
	Reason    string
}

// Problem is an active problem, for metrics.
type Problem struct {
	Scope, Dest, Category string
	Since                 time.Time
	Count                 int // failures in the window
}

// buckets per window: counts are kept per Window/numBuckets.
const numBuckets = 30

type bucket struct {
	idx         int64 // absolute bucket number; 0 = empty
	temp, perm  int
	first, last time.Time
}

type key struct {
	scope    string
	dest     string
	category string
}

type tracker struct {
	key
	b        [numBuckets]bucket
	lastFail time.Time
	sample   Failure // the latest failure: its fix, reason…
	prob     *problem
}

type problem struct {
	since     time.Time
	level     int // escalations: the count reached Threshold·2^level
	permanent bool
	total     int
	delivered int
}

// Detector finds problems in a stream of failures. It is not safe for
// concurrent use.
type Detector struct {
	opts   Options
	width  time.Duration
	keys   map[key]*tracker
	active map[string][]*tracker // "scope\x00dest" → active problems there
	now    time.Time
}

// New returns a Detector.
func New(opts Options) *Detector {
	opts.defaults()
	w := opts.Window / numBuckets
	if w <= 0 {
		w = time.Nanosecond
	}
	return &Detector{opts: opts, width: w, keys: map[key]*tracker{}, active: map[string][]*tracker{}}
}

// Options returns the options in effect (defaults filled in).
func (d *Detector) Options() Options { return d.opts }

// Now returns the detector's clock: the latest failure or Advance.
func (d *Detector) Now() time.Time { return d.now }

// RelayHost returns the host part of a relay= value:
// "mx.example.com[192.0.2.1]:25" → "mx.example.com", "[192.0.2.1]:587" →
// "192.0.2.1", "none" and "" → "".
func RelayHost(relay string) string {
	if relay == "" || relay == "none" {
		return ""
	}
	if strings.HasPrefix(relay, "[") {
		if i := strings.IndexByte(relay, ']'); i > 0 {
			return relay[1:i]
		}
		return ""
	}
	if i := strings.IndexByte(relay, '['); i >= 0 {
		relay = relay[:i]
	} else if i := strings.LastIndexByte(relay, ':'); i >= 0 {
		relay = relay[:i]
	}
	return strings.ToLower(relay)
}

// relayCategories are the categories whose destination is the next hop.
var relayCategories = map[string]bool{"relay_auth_failure": true, "auth_required": true, "relay_denied": true}

// keyOf returns the destination of f.
func (d *Detector) keyOf(f *Failure) (key, bool) {
	if f.Finding {
		if f.Host == "" {
			return key{}, false
		}
		return key{"host", f.Host, f.Category}, true
	}
	relay := RelayHost(f.Relay)
	switch {
	case d.opts.By == ScopeRelay && relay != "":
		return key{"relay", relay, f.Category}, true
	case d.opts.By == ScopeAuto && relay != "" && relayCategories[f.Category]:
		return key{"relay", relay, f.Category}, true
	case f.Domain != "":
		return key{"domain", f.Domain, f.Category}, true
	case relay != "":
		return key{"relay", relay, f.Category}, true
	}
	return key{}, false
}

func (d *Detector) threshold(k *key) int {
	if k.scope == "host" {
		return d.opts.FindingThreshold
	}
	return d.opts.Threshold
}

// Failure counts one failure and appends the events it causes to out.
func (d *Detector) Failure(f *Failure, out []Event) []Event {
	if f.Time.After(d.now) {
		d.now = f.Time
	}
	if d.opts.Each && !f.Finding && f.Permanent {
		out = append(out, Event{Kind: KindBounce, Time: f.Time, Scope: "domain", Dest: f.Domain,
			Category: f.Category, Fix: f.Fix, Host: f.Host, QueueID: f.QueueID, Recipient: f.Recipient,
			Status: f.Status, DSN: f.DSN, Reason: f.Reason})
	}
	if f.Category == "" || slices.Contains(d.opts.Ignore, f.Category) || (f.Finding && d.opts.FindingThreshold < 0) {
		return out
	}
	k, ok := d.keyOf(f)
	if !ok {
		return out
	}
	t := d.keys[k]
	if t == nil {
		if len(d.keys) >= d.opts.MaxKeys {
			d.evict()
		}
		t = &tracker{key: k}
		d.keys[k] = t
	}
	if !d.add(t, f) {
		return out // older than the window
	}
	t.sample = *f
	if f.Time.After(t.lastFail) {
		t.lastFail = f.Time
	}
	n, temp, perm, first, last := d.count(t)
	if p := t.prob; p != nil {
		p.total++
		ev := d.event(KindEscalated, t, n, temp, perm, first, last)
		escalated := false
		for n >= d.threshold(&t.key)<<(p.level+1) {
			p.level++
			escalated = true
		}
		if f.Permanent && !p.permanent && !t.Finding() {
			p.permanent = true
			escalated = true
		}
		if escalated {
			out = append(out, ev)
		}
		return out
	}
	if n >= d.threshold(&t.key) {
		t.prob = &problem{since: first, total: n, permanent: perm > 0}
		for n >= d.threshold(&t.key)<<(t.prob.level+1) {
			t.prob.level++
		}
		ak := k.scope + "\x00" + k.dest
		d.active[ak] = append(d.active[ak], t)
		out = append(out, d.event(KindProblem, t, n, temp, perm, first, last))
	}
	return out
}

// Finding reports whether the tracker counts operational findings.
func (t *tracker) Finding() bool { return t.scope == "host" }

// add counts f in its bucket; false if it is older than the window.
func (d *Detector) add(t *tracker, f *Failure) bool {
	idx := f.Time.UnixNano()/int64(d.width) + 1 // +1: 0 marks an empty bucket
	now := d.now.UnixNano()/int64(d.width) + 1
	if idx <= now-numBuckets {
		return false
	}
	b := &t.b[idx%numBuckets]
	if b.idx != idx {
		*b = bucket{idx: idx}
	}
	if f.Permanent {
		b.perm++
	} else {
		b.temp++
	}
	if b.first.IsZero() || f.Time.Before(b.first) {
		b.first = f.Time
	}
	if f.Time.After(b.last) {
		b.last = f.Time
	}
	return true
}

// count sums the buckets within the window ending now.
func (d *Detector) count(t *tracker) (n, temp, perm int, first, last time.Time) {
	now := d.now.UnixNano()/int64(d.width) + 1
	for i := range t.b {
		b := &t.b[i]
		if b.idx == 0 || b.idx <= now-numBuckets || b.idx > now {
			continue
		}
		temp += b.temp
		perm += b.perm
		if first.IsZero() || b.first.Before(first) {
			first = b.first
		}
		if b.last.After(last) {
			last = b.last
		}
	}
	return temp + perm, temp, perm, first, last
}

func (d *Detector) event(k Kind, t *tracker, n, temp, perm int, first, last time.Time) Event {
	s := &t.sample
	ev := Event{Kind: k, Time: d.now, Scope: t.scope, Dest: t.dest, Category: t.category,
		Count: n, Temporary: temp, Permanent: perm, Window: d.opts.Window, First: first, Last: last,
		Finding: t.Finding(), Fix: s.Fix, Host: s.Host, QueueID: s.QueueID, Recipient: s.Recipient,
		Status: s.Status, DSN: s.DSN, Reason: s.Reason}
	if p := t.prob; p != nil {
		ev.Since, ev.Total, ev.Delivered = p.since, p.total, p.delivered
	}
	return ev
}

// HasProblems reports whether a problem is active (Delivered only matters
// then: the caller can skip making its arguments).
func (d *Detector) HasProblems() bool { return len(d.active) > 0 }

// Delivered counts a successful delivery: the "delivered meanwhile" of
// the problems of its domain and relay.
func (d *Detector) Delivered(t time.Time, domain, relay string) {
	if t.After(d.now) {
		d.now = t
	}
	if len(d.active) == 0 {
		return
	}
	for _, dest := range [...]string{"domain\x00" + domain, "relay\x00" + RelayHost(relay)} {
		for _, tr := range d.active[dest] {
			tr.prob.delivered++
		}
	}
}

// Advance moves the clock to now (if later) and appends the problems that
// cleared.
func (d *Detector) Advance(now time.Time, out []Event) []Event {
	if now.After(d.now) {
		d.now = now
	}
	start := len(out)
	for ak, ts := range d.active {
		kept := ts[:0]
		for _, t := range ts {
			if d.now.Sub(t.lastFail) < d.opts.ClearAfter {
				kept = append(kept, t)
				continue
			}
			n, temp, perm, first, last := d.count(t)
			ev := d.event(KindCleared, t, n, temp, perm, first, last)
			ev.Last = t.lastFail
			out = append(out, ev)
			t.prob = nil
		}
		if len(kept) == 0 {
			delete(d.active, ak)
		} else {
			d.active[ak] = kept
		}
	}
	// Map iteration order is random: report in a stable order.
	slices.SortFunc(out[start:], func(a, b Event) int {
		return strings.Compare(a.Scope+"\x00"+a.Dest+"\x00"+a.Category, b.Scope+"\x00"+b.Dest+"\x00"+b.Category)
	})
	return out
}

// Deadline returns when the next problem would clear if nothing else
// fails (zero without active problems): the caller's timer.
func (d *Detector) Deadline() time.Time {
	var next time.Time
	for _, ts := range d.active {
		for _, t := range ts {
			c := t.lastFail.Add(d.opts.ClearAfter)
			if next.IsZero() || c.Before(next) {
				next = c
			}
		}
	}
	return next
}

// Ongoing appends a KindOngoing event for every active problem, in a
// stable order.
func (d *Detector) Ongoing(out []Event) []Event {
	start := len(out)
	for _, ts := range d.active {
		for _, t := range ts {
			n, temp, perm, first, last := d.count(t)
			out = append(out, d.event(KindOngoing, t, n, temp, perm, first, last))
		}
	}
	slices.SortFunc(out[start:], func(a, b Event) int {
		return strings.Compare(a.Scope+"\x00"+a.Dest+"\x00"+a.Category, b.Scope+"\x00"+b.Dest+"\x00"+b.Category)
	})
	return out
}

// Active returns the active problems, in a stable order.
func (d *Detector) Active() []Problem {
	var out []Problem
	for _, ts := range d.active {
		for _, t := range ts {
			n, _, _, _, _ := d.count(t)
			out = append(out, Problem{Scope: t.scope, Dest: t.dest, Category: t.category, Since: t.prob.since, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b Problem) int {
		return strings.Compare(a.Scope+"\x00"+a.Dest+"\x00"+a.Category, b.Scope+"\x00"+b.Dest+"\x00"+b.Category)
	})
	return out
}

// evict forgets the tenth of the tracked destinations that failed longest
// ago, keeping active problems.
func (d *Detector) evict() {
	var idle []*tracker
	for _, t := range d.keys {
		if t.prob == nil {
			idle = append(idle, t)
		}
	}
	slices.SortFunc(idle, func(a, b *tracker) int { return a.lastFail.Compare(b.lastFail) })
	n := max(1, len(d.keys)/10)
	for _, t := range idle[:min(n, len(idle))] {
		delete(d.keys, t.key)
	}
}
