package rules

import (
	"regexp"
	"strings"
)

// compiled is a Rule prepared for matching.
type compiled struct {
	Rule
	any, all, none []int // indices into Engine.phrases
	re             *regexp.Regexp
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
	present []uint64 // bit p: phrase p occurs in text (nil until the first phrase test)
}

func (m *matchState) has(p int) bool {
	if m.present == nil {
		m.present = make([]uint64, m.e.auto.words)
		m.e.auto.scan(m.text, m.present)
	}
	return m.present[p>>6]&(1<<(p&63)) != 0
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
	if r.re != nil && !r.re.MatchString(m.text) {
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
