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
	memo    []int8 // 0 unknown, 1 present, 2 absent
	bigrams *bigramSet
}

// bigramSet records which byte pairs occur in a text (65,536 bits).
type bigramSet [1 << 10]uint64

func (b *bigramSet) add(t string) {
	for i := 0; i+1 < len(t); i++ {
		v := uint16(t[i])<<8 | uint16(t[i+1])
		b[v>>6] |= 1 << (v & 63)
	}
}

func (b *bigramSet) has(v uint16) bool { return b[v>>6]&(1<<(v&63)) != 0 }

// phraseBigrams returns byte pairs every text containing the phrase must
// contain: the first, the last and the two rarest (by English letter
// frequency; digits and punctuation count as rare). Zero pairs mean "no
// filter" (a phrase shorter than two bytes).
func phraseBigrams(p string) [4]uint16 {
	var out [4]uint16
	if len(p) < 2 {
		return out
	}
	pair := func(i int) uint16 { return uint16(p[i])<<8 | uint16(p[i+1]) }
	out[0], out[1] = pair(0), pair(len(p)-2)
	best, second := -1, -1
	for i := 0; i+1 < len(p); i++ {
		switch {
		case best < 0 || rarity(p, i) > rarity(p, best):
			best, second = i, best
		case second < 0 || rarity(p, i) > rarity(p, second):
			second = i
		}
	}
	out[2], out[3] = pair(best), pair(best)
	if second >= 0 {
		out[3] = pair(second)
	}
	return out
}

// rarity scores the byte pair at p[i]: higher is rarer in mail texts.
func rarity(p string, i int) int { return byteRarity(p[i]) + byteRarity(p[i+1]) }

func byteRarity(c byte) int {
	const common = "etaoinshrdlcumwfgypbvkjxqz" // most frequent first
	if i := strings.IndexByte(common, c); i >= 0 {
		return i
	}
	if c == ' ' {
		return 0
	}
	return 20 // digits and punctuation
}

func (m *matchState) has(p int) bool {
	if m.memo == nil {
		m.memo = make([]int8, len(m.e.phrases))
		m.bigrams = new(bigramSet)
		m.bigrams.add(m.text)
	}
	switch m.memo[p] {
	case 1:
		return true
	case 2:
		return false
	}
	// Most phrases are absent from any given text: a few bit tests on the
	// text's byte pairs rule them out before a substring search.
	ok := false
	if bg := &m.e.bigrams[p]; bg[0] == 0 || (m.bigrams.has(bg[2]) && m.bigrams.has(bg[3]) && m.bigrams.has(bg[0]) && m.bigrams.has(bg[1])) {
		ok = strings.Contains(m.text, m.e.phrases[p])
	}
	if ok {
		m.memo[p] = 1
	} else {
		m.memo[p] = 2
	}
	return ok
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
