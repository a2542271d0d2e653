package rules

import (
	"math/bits"
	"regexp"
	"strings"
)

// compiled is a Rule prepared for matching.
type compiled struct {
	Rule
	any, all, none []int                 // indices into Engine.phrases
	re             func() *regexp.Regexp // compiled on first use: most texts never reach a rule's regexp
	extract        *regexp.Regexp
	fix            tmpl
	fixVaries      bool
	codes          []string // "550", "5xx"
	dsn, enhanced  [][]string
	order          int // position in load order, for stable sorting
}

// matchState evaluates rules against one normalised text. Phrase results
// are computed lazily and remembered, so a phrase shared by many rules is
// searched for once per text.
type matchState struct {
	e       *Engine
	text    string
	in      *Input
	f       *facts
	d       *Diagnosis
	finding bool
	present []uint64   // bit p: phrase p occurs in text (nil until the first phrase test)
	buf     [32]uint64 // present's storage when the phrases fit (2,048; the default rules have under 1,900)
}

func (m *matchState) scan() {
	if w := m.e.auto.words; w <= len(m.buf) {
		m.present = m.buf[:w]
	} else {
		m.present = make([]uint64, w)
	}
	m.e.auto.scan(m.text, m.present)
}

func (m *matchState) has(p int) bool {
	if m.present == nil {
		m.scan()
	}
	return m.present[p>>6]&(1<<(p&63)) != 0
}

// prefilter narrows the rules of one list (delivery rules or findings)
// to those whose phrase conditions can hold, from the phrases the
// automaton found: a rule with all: phrases needs one of them (the
// longest is indexed), a rule with only any: phrases needs one of those.
// It is a necessary condition only: every candidate is still tested in
// full, in the list's order, so the first match is the one the plain
// loop over every rule finds (TestPrefilterAgrees, FuzzClassify).
type prefilter struct {
	always []uint64 // bit i: rule i has no phrase to require, it is always tested
	start  []int32  // rules[start[p]:start[p+1]]: the rules phrase p admits
	rules  []int32
	first  int // the rules before it need no phrase: they are tried before the text is scanned
	n      int // rules in the list
}

func newPrefilter(list []*compiled, phrases int) prefilter {
	pf := prefilter{always: make([]uint64, (len(list)+63)/64), start: make([]int32, phrases+1), first: len(list), n: len(list)}
	trig := make([][]int, len(list))
	for i, r := range list {
		switch {
		case len(r.all) > 0:
			best := 0 // the longest, likely the rarest
			for k := range r.all {
				if len(r.All[k]) > len(r.All[best]) {
					best = k
				}
			}
			trig[i] = r.all[best : best+1]
		case len(r.any) > 0:
			trig[i] = r.any
		default:
			pf.always[i>>6] |= 1 << (i & 63)
			continue
		}
		pf.first = min(pf.first, i)
	}
	for _, ps := range trig {
		for _, p := range ps {
			pf.start[p+1]++
		}
	}
	for p := 1; p <= phrases; p++ {
		pf.start[p] += pf.start[p-1]
	}
	pf.rules = make([]int32, pf.start[phrases])
	fill := append([]int32(nil), pf.start[:phrases]...)
	for i, ps := range trig {
		for _, p := range ps {
			pf.rules[fill[p]] = int32(i)
			fill[p]++
		}
	}
	return pf
}

// first returns the first rule of list that matches, nil if none. Rules
// are tried in list order; those whose phrases cannot hold are skipped.
func (m *matchState) first(list []*compiled, pf *prefilter) *compiled {
	for _, r := range list[:pf.first] {
		if m.matches(r) {
			return r
		}
	}
	if pf.first == len(list) {
		return nil
	}
	if m.present == nil {
		m.scan()
	}
	var cbuf [8]uint64
	var cand []uint64
	if len(pf.always) <= len(cbuf) {
		cand = cbuf[:len(pf.always)]
	} else {
		cand = make([]uint64, len(pf.always))
	}
	copy(cand, pf.always)
	for w, word := range m.present {
		for word != 0 {
			p := w<<6 | bits.TrailingZeros64(word)
			word &= word - 1
			for _, i := range pf.rules[pf.start[p]:pf.start[p+1]] {
				cand[i>>6] |= 1 << (i & 63)
			}
		}
	}
	// The rules before pf.first were tried above.
	w0 := pf.first >> 6
	cand[w0] &^= 1<<(pf.first&63) - 1
	for w := w0; w < len(cand); w++ {
		for word := cand[w]; word != 0; word &= word - 1 {
			r := list[w<<6|bits.TrailingZeros64(word)]
			if m.matches(r) {
				return r
			}
		}
	}
	return nil
}

func (m *matchState) matches(r *compiled) bool {
	if len(r.Daemons) > 0 && !containsFold(r.Daemons, m.in.Daemon) {
		return false
	}
	if m.finding {
		if len(r.Severity) > 0 && !containsFold(r.Severity, m.in.Status) {
			return false
		}
	} else if len(r.Statuses) > 0 && !containsFold(r.Statuses, m.in.Status) {
		return false
	}
	if len(r.dsn) > 0 && !enhancedMatch(r.dsn, m.in.DSN) {
		return false
	}
	if len(r.enhanced) > 0 && !enhancedMatch(r.enhanced, m.d.Enhanced) {
		return false
	}
	if len(r.codes) > 0 && !codeMatch(r.codes, m.d.Code) {
		return false
	}
	if len(r.Stages) > 0 && !containsFold(r.Stages, m.d.Stage) {
		return false
	}
	if len(r.Relays) > 0 && !anySuffix(r.Relays, m.f.relayHost) {
		return false
	}
	if len(r.Domains) > 0 && !anySuffix(r.Domains, m.f.domain) {
		return false
	}
	switch r.Hop {
	case "local":
		if m.f.hop != 'l' {
			return false
		}
	case "remote":
		if m.f.hop == 'l' {
			return false
		}
	}
	switch r.Reply {
	case "yes":
		if m.f.replyAt < 0 {
			return false
		}
	case "no":
		if m.f.replyAt >= 0 {
			return false
		}
	}
	for _, p := range r.all {
		if !m.has(p) {
			return false
		}
	}
	if len(r.any) > 0 {
		ok := false
		for _, p := range r.any {
			if m.has(p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, p := range r.none {
		if m.has(p) {
			return false
		}
	}
	if r.re != nil && !r.re().MatchString(m.text) {
		return false
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func anySuffix(suffixes []string, host string) bool {
	for _, s := range suffixes {
		if hasDomainSuffix(host, s) {
			return true
		}
	}
	return false
}

// codeMatch: "550" exactly, or with x as a wildcard digit ("5xx", "45x").
func codeMatch(pats []string, code int) bool {
	if code == 0 {
		return false
	}
	c := [3]byte{byte('0' + code/100), byte('0' + code/10%10), byte('0' + code%10)}
	for _, p := range pats {
		ok := true
		for i := 0; i < 3; i++ {
			if p[i] != 'x' && p[i] != c[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// enhancedMatch compares component-wise: "5.7" matches 5.7.anything, "5.7.1"
// matches 5.7.1 only (not 5.7.13), "x.7.1" matches 4.7.1 and 5.7.1.
func enhancedMatch(pats [][]string, code string) bool {
	if code == "" {
		return false
	}
	var comp [3]string
	n := 0
	for s := code; n < 3; n++ {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			comp[n] = s
			n++
			break
		}
		comp[n] = s[:i]
		s = s[i+1:]
	}
	for _, p := range pats {
		if len(p) > n {
			continue
		}
		ok := true
		for i, x := range p {
			if x != "x" && x != comp[i] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
