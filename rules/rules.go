package rules

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// DefaultFile is the name under which errors in the default rule file
// (default.yaml, compiled in as defaultLoaded) are reported, and the file
// the default rules' sources name.
const DefaultFile = "rules/default.yaml"

// Input is one failure to classify.
type Input struct {
	Reason string // text after status= without outer parentheses, a postqueue delay_reason, a reject text,
	// or for warnings the text after "warning: "
	Daemon string // smtp, lmtp, local, virtual, pipe, error, retry, qmgr, smtpd, cleanup, postscreen…
	Status string // deferred, bounced, expired, force-expired, undeliverable, SOFTBOUNCE, or "" (unknown: e.g. postqueue)
	DSN    string // "4.7.1" from dsn=, may be ""
	Relay  string // "mx.example.com[192.0.2.1]:25", "none", "local", may be ""
	Domain string // recipient domain, may be ""
}

// Diagnosis is what pfdiag says about one failure.
type Diagnosis struct {
	Category    string // taxonomy id, "unclassified" when no rule matched
	Class       string // "temporary" | "permanent" (from Status, then DSN first digit, then reply code)
	Actor       string // us | recipient | sender | network | nobody | us or recipient …
	Rule        string // id of the rule that matched ("" if unclassified)
	Explanation string // one sentence
	Fix         string // rendered with values from the log (domain, relay, IP, parameter, value)
	Reference   string // URL: postconf(5) parameter anchor or provider postmaster page
	Code        int    // reply code found in the text (e.g. 550), 0 if none
	Enhanced    string // enhanced status code found in the text or DSN
	Stage       string // SMTP stage from "(in reply to RCPT TO command)" → "RCPT TO", "greeting" for "refused to talk to me", "" if none
}

// Unclassified is the category of a failure no rule matched.
const Unclassified = "unclassified"

// Class values.
const (
	Temporary = "temporary"
	Permanent = "permanent"
)

// Rule is one classification rule as loaded from a rule file. Conditions
// that are empty do not constrain; all non-empty conditions must hold.
type Rule struct {
	ID       string
	Category string
	Finding  bool // an operational-finding rule (findings: section), not a delivery rule
	Priority int  // higher is tried first; equal priorities keep file order

	Daemons  []string // Input.Daemon is one of these
	Statuses []string // Input.Status is one of these (case-insensitive)
	Severity []string // findings: warning, error, fatal, panic
	DSN      []string // Input.DSN starts with one of these codes ("4.4", "5.1.1", "X.7.1")
	Enhanced []string // enhanced code in the text, else the DSN, starts with one of these
	Codes    []string // reply code is one of these ("550", "5xx", "45x")
	Stages   []string // SMTP stage: "RCPT TO", "MAIL FROM", "DATA", "end of DATA", "greeting"…
	Relays   []string // relay host name ends with one of these domains (dot boundary)
	Domains  []string // recipient domain ends with one of these domains
	Hop      string   // "local" or "remote": where the failing next hop is
	Reply    string   // "yes": the text carries a remote reply (said:, refused to talk to me:, a bare "550 …"); "no": it does not (Postfix's own text)

	Any    []string // at least one phrase occurs (case-insensitive)
	All    []string // every phrase occurs
	None   []string // no phrase occurs
	Regexp string   // RE2, matched against the normalised lower-case text

	Actor       string
	Explanation string
	Fix         string // template: {{.Domain}}, {{.IP|fallback}}, … (see Fields)
	Reference   string
	Extract     string // RE2 with named groups, run on the raw text, for the fix template

	Source string // "file:line" where the rule was defined
}

// Category describes one taxonomy id and the defaults its rules inherit.
type Category struct {
	ID          string
	Finding     bool
	Actor       string
	Explanation string
	Fix         string
	Reference   string
	Source      string
}

// Engine classifies failures. It is safe for concurrent use.
type Engine struct {
	cats     map[string]*Category
	order    []string    // category ids in file order
	rules    []*compiled // delivery rules, priority order
	findings []*compiled // finding rules, priority order
	preRules prefilter   // candidates among rules by the phrases found
	preFinds prefilter   // the same among findings
	phrases  []string    // distinct lower-case phrases, indexed by compiled rules
	auto     *automaton  // finds all phrases of a text in one pass
	relays   []string    // every relay suffix some rule names (key component)
	domains  []string    // every domain suffix some rule names (key component)

	norm     *table[string, *entry]      // by normalised key: the matcher runs once per entry
	exact    *table[exactID, *Diagnosis] // by raw text and context, for texts seen twice
	exactCat *table[exactID, string]     // the same for Category
	seed     maphash.Seed                // of exactID hashes
	// noExact turns the exact cache off (benchmarks of the normalised path).
	noExact bool
	seen    seenFilter
}

// entry is a cached diagnosis for one normalised key; fix is rendered per
// input when the rule's template uses values from the log.
type entry struct {
	d    Diagnosis
	rule *compiled // nil when unclassified
	last atomic.Pointer[rendered]
}

// rendered is a fix text and the template values it was rendered with.
type rendered struct {
	vals []string
	text string
}

// cacheLimit bounds the number of distinct normalised texts kept; past it the
// cache starts over, so memory stays bounded on hostile input.
const cacheLimit = 1 << 16

// Default returns an engine with the default rules (default.yaml).
func Default() (*Engine, error) { return New() }

// New returns an engine with the default rules plus the rules of the given
// files, in order: a rule whose id already exists replaces it, a rule with
// `disabled: true` removes it. Errors read "file:line: reason".
func New(files ...string) (*Engine, error) {
	// default.yaml, already parsed and checked (TestDefaultLoaded).
	l := defaultLoaded()
	for _, f := range files {
		if err := l.loadFile(f); err != nil {
			return nil, err
		}
	}
	return l.engine()
}

// Rules returns the active rules, delivery rules first, each group in the
// order they are tried.
func (e *Engine) Rules() []Rule {
	out := make([]Rule, 0, len(e.rules)+len(e.findings))
	for _, c := range e.rules {
		out = append(out, c.Rule)
	}
	for _, c := range e.findings {
		out = append(out, c.Rule)
	}
	return out
}

// Categories returns the taxonomy the engine knows, delivery categories
// first, in file order.
func (e *Engine) Categories() []Category {
	out := make([]Category, 0, len(e.order))
	for _, id := range e.order {
		out = append(out, *e.cats[id])
	}
	sortCategories(out)
	return out
}

// Classify diagnoses one delivery or queue failure. It has no side effects
// beyond its caches and never panics on any input.
//
// Two caches: an exact one keyed by the raw text and context (a retried
// message logs the same reply again and again: no normalising, and the fix
// is already rendered), in front of the normalised one (which runs the
// matcher once per distinct text; the fix is rendered per input).
func (e *Engine) Classify(in Input) Diagnosis {
	var xk exactID
	if !e.noExact {
		xk = e.exactKey(&in)
		if d, ok := e.exact.get(xk); ok {
			return *d
		}
	}
	var buf [keyBuf]byte
	var f facts
	key := e.key(buf[:0], &in, &f)
	ent, ok := e.norm.get(bytesView(key))
	if !ok {
		ent = e.miss(in, f, key, false)
	}
	d := ent.d
	if ent.rule != nil && ent.rule.fixVaries {
		d.Fix = ent.fix(&in, &f, &d)
	}
	// Every value the fix uses comes from the exact key, so the finished
	// diagnosis can be kept whole, for texts that come back.
	if !e.noExact && e.seen.again(xk.h) {
		kept := d
		e.exact.put(xk, &kept)
	}
	return d
}

// exactID identifies a raw text and its context by a 64-bit hash and the
// total length, instead of keeping the text: lookups compare 16 bytes, not
// a few hundred. Two different inputs collide with a probability of about
// 2^-64 per pair, below 10^-14 per lookup at the cache's bound.
// Category returns Classify(in).Category without the rest of the
// diagnosis (no fix is rendered, nothing is copied): what the correlator
// stores for every failure. It is cached the same way.
func (e *Engine) Category(in Input) string {
	var xk exactID
	if !e.noExact {
		xk = e.exactKey(&in)
		if c, ok := e.exactCat.get(xk); ok {
			return c
		}
	}
	var buf [keyBuf]byte
	var f facts
	key := e.key(buf[:0], &in, &f)
	ent, ok := e.norm.get(bytesView(key))
	if !ok {
		ent = e.miss(in, f, key, false)
	}
	if !e.noExact && e.seen.again(xk.h) {
		e.exactCat.put(xk, ent.d.Category)
	}
	return ent.d.Category
}

type exactID struct {
	h uint64
	n int
}

// exactKey hashes the raw text and every context field, separated by NULs.
func (e *Engine) exactKey(in *Input) exactID {
	r := in.Reason
	if len(r) > maxReason {
		r = r[:maxReason]
	}
	var h maphash.Hash
	h.SetSeed(e.seed)
	n := len(r)
	h.WriteString(r)
	for _, s := range [...]string{in.Daemon, in.Status, in.DSN, in.Relay, in.Domain} {
		h.WriteByte(0)
		h.WriteString(s)
		n += 1 + len(s)
	}
	return exactID{h.Sum64(), n}
}

// miss classifies a text the normalised cache does not have. It takes in
// and f by value so that the hit path keeps them on the stack.
func (e *Engine) miss(in Input, f facts, key []byte, finding bool) *entry {
	k := string(key)
	f.norm = k[:f.textEnd] // one allocation for the cache key and the text rules match
	var ent *entry
	if finding {
		ent = e.classifyFinding(&in, &f)
	} else {
		ent = e.classify(&in, &f)
	}
	return e.norm.put(k, ent)
}

// cached reports how many distinct normalised texts the cache holds.
func (e *Engine) cached() int { return e.norm.len() }

// fix renders the rule's fix for one input. The last rendering is kept with
// the values it used: a receiver names the same sending IP in every reply,
// so most calls reuse it without allocating.
func (ent *entry) fix(in *Input, f *facts, d *Diagnosis) string {
	var vals [maxFixFields]string
	t := &ent.rule.fix
	cur := t.values(in, f, d, vals[:0])
	if last := ent.last.Load(); last != nil && cur != nil && equalStrings(last.vals, cur) {
		return last.text
	}
	text := t.render(in, f, ent.rule.extract, d)
	if cur != nil {
		ent.last.Store(&rendered{vals: append([]string(nil), cur...), text: text})
	}
	return text
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// classify runs the matcher on a text not in the cache (f.norm set).
func (e *Engine) classify(in *Input, f *facts) *entry {
	var d Diagnosis
	m := e.matcher(in, f, &d, false)
	if r := m.first(e.rules, &e.preRules); r != nil {
		e.fill(&d, r)
		if !r.fixVaries {
			d.Fix = r.fix.render(in, f, nil, &d)
		}
		return &entry{d: d, rule: r}
	}
	d.Category = Unclassified
	if c := e.cats[Unclassified]; c != nil {
		d.Actor, d.Explanation, d.Fix, d.Reference = c.Actor, c.Explanation, c.Fix, c.Reference
	}
	return &entry{d: d}
}

// matcher sets what the text decides of d (code, enhanced code, stage and
// class for a delivery) and returns the matcher for f.norm.
func (e *Engine) matcher(in *Input, f *facts, d *Diagnosis, finding bool) matchState {
	if finding {
		*d = Diagnosis{Code: f.code, Enhanced: f.enhanced}
		return matchState{e: e, text: f.norm, in: in, f: f, d: d, finding: true}
	}
	f.stage = stageOf(f.norm)
	*d = Diagnosis{Code: f.code, Enhanced: f.enhanced, Stage: f.stage}
	if d.Enhanced == "" && validEnhanced(in.DSN) {
		d.Enhanced = in.DSN
	}
	d.Class = classOf(in.Status, in.DSN, d.Enhanced, d.Code)
	return matchState{e: e, text: f.norm, in: in, f: f, d: d}
}

// fill copies the rule's texts, falling back to its category's defaults.
func (e *Engine) fill(d *Diagnosis, r *compiled) {
	d.Category, d.Rule = r.Category, r.ID
	d.Actor, d.Explanation, d.Reference = r.Actor, r.Explanation, r.Reference
	if c := e.cats[r.Category]; c != nil {
		if d.Actor == "" {
			d.Actor = c.Actor
		}
		if d.Explanation == "" {
			d.Explanation = c.Explanation
		}
		if d.Reference == "" {
			d.Reference = c.Reference
		}
	}
}

// Finding diagnoses an operational finding: a warning:, error:, fatal: or
// panic: line (severity is that word, text what follows it), or an
// informational line such as a postscreen PREGREET verdict (severity "").
// It always returns a category of the taxonomy's second table: other_warning
// when nothing more specific matched.
func (e *Engine) Finding(severity, daemon, text string) Diagnosis {
	sev := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(severity), ":"))
	in := Input{Reason: text, Daemon: daemon, Status: sev}
	var buf [keyBuf]byte
	var f facts
	key := e.key(buf[:0], &in, &f)
	key = append(key, "\x01finding"...)
	ent, ok := e.norm.get(bytesView(key))
	if !ok {
		ent = e.miss(in, f, key, true)
	}
	d := ent.d
	if ent.rule != nil && ent.rule.fixVaries {
		d.Fix = ent.fix(&in, &f, &d)
	}
	return d
}

func (e *Engine) classifyFinding(in *Input, f *facts) *entry {
	var d Diagnosis
	m := e.matcher(in, f, &d, true)
	if r := m.first(e.findings, &e.preFinds); r != nil {
		e.fill(&d, r)
		if !r.fixVaries {
			d.Fix = r.fix.render(in, f, nil, &d)
		}
		return &entry{d: d, rule: r}
	}
	// The rule file ends with catch-alls; this only runs if a user file
	// disabled them.
	d.Category = "other_warning"
	if c := e.cats[d.Category]; c != nil {
		d.Actor, d.Explanation, d.Fix, d.Reference = c.Actor, c.Explanation, c.Fix, c.Reference
	}
	return &entry{d: d}
}

// classOf follows the taxonomy: how Postfix logged it first (status), then
// the first digit of dsn=, then of the enhanced code, then of the reply code.
func classOf(status, dsn, enhanced string, code int) string {
	switch strings.ToLower(status) {
	case "deferred", "softbounce", "defer":
		return Temporary
	case "bounced", "expired", "force-expired", "undeliverable", "bounce", "reject", "rejected":
		return Permanent
	}
	for _, s := range []string{dsn, enhanced} {
		if len(s) > 0 {
			switch s[0] {
			case '4':
				return Temporary
			case '5':
				return Permanent
			}
		}
	}
	switch code / 100 {
	case 4:
		return Temporary
	case 5:
		return Permanent
	}
	return ""
}
