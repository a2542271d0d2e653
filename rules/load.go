package rules

import (
	"errors"
	"fmt"
	"hash/maphash"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// ParseError is an error in a rule file, reported as "file:line: reason".
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// loader accumulates categories and rules from several files; a later file
// overrides an earlier one rule by rule.
type loader struct {
	cats     map[string]*Category
	catOrder []string
	rules    []*Rule // delivery and finding rules, load order
	byID     map[string]int
	removed  map[string]bool
}

func newLoader() *loader {
	return &loader{cats: map[string]*Category{}, byID: map[string]int{}, removed: map[string]bool{}}
}

func (l *loader) loadFile(name string) error {
	b, err := os.ReadFile(name)
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	return l.load(name, b)
}

func (l *loader) load(file string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return yamlError(file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return perr(file, root, "want a mapping with categories:, rules: and findings:")
	}
	seen := map[string]bool{}
	// Categories first, wherever they stand in the file: rules refer to them.
	for pass := 0; pass < 2; pass++ {
		for i := 0; i+1 < len(root.Content); i += 2 {
			k, v := root.Content[i], root.Content[i+1]
			switch k.Value {
			case "categories":
				if pass == 0 {
					if err := l.categories(file, v); err != nil {
						return err
					}
				}
			case "rules", "findings":
				if pass == 1 {
					if err := l.ruleList(file, v, k.Value == "findings", seen); err != nil {
						return err
					}
				}
			default:
				if pass == 0 {
					return perr(file, k, "unknown section %q (want categories, rules or findings)", k.Value)
				}
			}
		}
	}
	return nil
}

// yamlError turns yaml.v3's "yaml: line N: msg" into file:N: msg.
func yamlError(file string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if strings.HasPrefix(msg, "line ") {
		rest := msg[5:]
		if i := strings.Index(rest, ": "); i > 0 {
			if n, e := strconv.Atoi(rest[:i]); e == nil {
				return &ParseError{File: file, Line: n, Err: errors.New(rest[i+2:])}
			}
		}
	}
	return &ParseError{File: file, Err: errors.New(msg)}
}

func perr(file string, n *yaml.Node, format string, a ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ParseError{File: file, Line: line, Err: fmt.Errorf(format, a...)}
}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func (l *loader) categories(file string, seq *yaml.Node) error {
	if seq.Kind != yaml.SequenceNode {
		return perr(file, seq, "categories: want a list")
	}
	for _, n := range seq.Content {
		if n.Kind != yaml.MappingNode {
			return perr(file, n, "category: want a mapping")
		}
		c := &Category{Source: fmt.Sprintf("%s:%d", file, n.Line)}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			var err error
			switch k.Value {
			case "id":
				c.ID, err = scalar(file, v)
			case "finding":
				c.Finding, err = boolean(file, v)
			case "actor":
				c.Actor, err = scalar(file, v)
				if err == nil {
					err = checkActor(file, v, c.Actor)
				}
			case "explanation":
				c.Explanation, err = scalar(file, v)
			case "fix":
				c.Fix, err = scalar(file, v)
			case "reference":
				c.Reference, err = scalar(file, v)
			default:
				return perr(file, k, "unknown category field %q", k.Value)
			}
			if err != nil {
				return err
			}
		}
		if !idRE.MatchString(c.ID) {
			return perr(file, n, "category id %q: want lower-case letters, digits, _ . -", c.ID)
		}
		if _, ok := l.cats[c.ID]; !ok {
			l.catOrder = append(l.catOrder, c.ID)
		}
		l.cats[c.ID] = c
	}
	return nil
}

func (l *loader) ruleList(file string, seq *yaml.Node, finding bool, seen map[string]bool) error {
	if seq.Kind != yaml.SequenceNode {
		return perr(file, seq, "want a list of rules")
	}
	for _, n := range seq.Content {
		r, disabled, err := l.rule(file, n, finding)
		if err != nil {
			return err
		}
		if seen[r.ID] {
			return perr(file, n, "rule %q defined twice in this file", r.ID)
		}
		seen[r.ID] = true
		if disabled {
			if i, ok := l.byID[r.ID]; ok {
				l.rules[i] = nil
				delete(l.byID, r.ID)
				continue
			}
			return perr(file, n, "rule %q: disabled, but no such rule is loaded", r.ID)
		}
		if i, ok := l.byID[r.ID]; ok {
			if l.rules[i].Finding != r.Finding {
				return perr(file, n, "rule %q: overrides a rule of the other section", r.ID)
			}
			l.rules[i] = r
			continue
		}
		l.byID[r.ID] = len(l.rules)
		l.rules = append(l.rules, r)
	}
	return nil
}

func scalar(file string, v *yaml.Node) (string, error) {
	if v.Kind != yaml.ScalarNode {
		return "", perr(file, v, "want a single value")
	}
	return v.Value, nil
}

func boolean(file string, v *yaml.Node) (bool, error) {
	s, err := scalar(file, v)
	if err != nil {
		return false, err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, perr(file, v, "want true or false, not %q", s)
	}
	return b, nil
}

// list accepts a single scalar or a list of scalars.
func list(file string, v *yaml.Node) ([]string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		if v.Value == "" {
			return nil, perr(file, v, "empty value")
		}
		return []string{v.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, c := range v.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				return nil, perr(file, c, "want a non-empty text")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, perr(file, v, "want a text or a list of texts")
}

var actors = map[string]bool{"us": true, "recipient": true, "sender": true, "network": true, "nobody": true, "—": true}

func checkActor(file string, v *yaml.Node, a string) error {
	for _, p := range strings.Split(a, " or ") {
		if !actors[strings.TrimSpace(p)] {
			return perr(file, v, "actor %q: want us, recipient, sender, network, nobody or \"X or Y\"", a)
		}
	}
	return nil
}

var (
	codeRE      = regexp.MustCompile(`^[2-5][0-9x][0-9x]$`)
	enhancedRE  = regexp.MustCompile(`^[245x](\.([0-9]{1,3}|x)){0,2}$`)
	knownStages = map[string]bool{"RCPT TO": true, "MAIL FROM": true, "DATA": true, "end of DATA": true, "EHLO": true, "HELO": true,
		"LHLO": true, "STARTTLS": true, "AUTH": true, "BDAT": true, "QUIT": true, "XFORWARD": true, "XCLIENT": true, "RSET": true, "greeting": true}
	severities = map[string]bool{"warning": true, "error": true, "fatal": true, "panic": true, "info": true}
	statuses   = map[string]bool{"deferred": true, "bounced": true, "expired": true, "force-expired": true, "undeliverable": true, "softbounce": true}
)

func (l *loader) rule(file string, n *yaml.Node, finding bool) (*Rule, bool, error) {
	if n.Kind != yaml.MappingNode {
		return nil, false, perr(file, n, "rule: want a mapping")
	}
	r := &Rule{Finding: finding, Source: fmt.Sprintf("%s:%d", file, n.Line)}
	disabled := false
	var catNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "id":
			r.ID, err = scalar(file, v)
		case "category":
			r.Category, err = scalar(file, v)
			catNode = v
		case "priority":
			var s string
			if s, err = scalar(file, v); err == nil {
				if r.Priority, err = strconv.Atoi(s); err != nil {
					err = perr(file, v, "priority %q: want an integer", s)
				}
			}
		case "disabled":
			disabled, err = boolean(file, v)
		case "daemon":
			r.Daemons, err = list(file, v)
		case "status":
			if r.Statuses, err = list(file, v); err == nil {
				for _, s := range r.Statuses {
					if !statuses[strings.ToLower(s)] {
						err = perr(file, v, "status %q: want deferred, bounced, expired, force-expired, undeliverable or SOFTBOUNCE", s)
					}
				}
			}
		case "severity":
			if r.Severity, err = list(file, v); err == nil {
				for _, s := range r.Severity {
					if !severities[s] {
						err = perr(file, v, "severity %q: want warning, error, fatal, panic or info", s)
					}
				}
			}
		case "dsn":
			r.DSN, err = enhancedList(file, v)
		case "enhanced":
			r.Enhanced, err = enhancedList(file, v)
		case "code":
			if r.Codes, err = list(file, v); err == nil {
				for i, c := range r.Codes {
					c = strings.ToLower(c)
					r.Codes[i] = c
					if !codeRE.MatchString(c) {
						err = perr(file, v, "code %q: want a reply code such as 550, 5xx or 45x", c)
					}
				}
			}
		case "stage":
			if r.Stages, err = list(file, v); err == nil {
				for i, s := range r.Stages {
					c := canonicalStage(strings.ToLower(s))
					if strings.EqualFold(s, "greeting") {
						c = "greeting"
					}
					if !knownStages[c] {
						err = perr(file, v, "stage %q: want RCPT TO, MAIL FROM, DATA, end of DATA, EHLO, greeting…", s)
					}
					r.Stages[i] = c
				}
			}
		case "relay":
			r.Relays, err = domainList(file, v)
		case "domain":
			r.Domains, err = domainList(file, v)
		case "hop":
			if r.Hop, err = scalar(file, v); err == nil && r.Hop != "local" && r.Hop != "remote" {
				err = perr(file, v, "hop %q: want local or remote", r.Hop)
			}
		case "reply":
			var b bool
			if b, err = boolean(file, v); err == nil {
				r.Reply = "no"
				if b {
					r.Reply = "yes"
				}
			}
		case "any":
			r.Any, err = phraseList(file, v)
		case "all":
			r.All, err = phraseList(file, v)
		case "none":
			r.None, err = phraseList(file, v)
		case "regexp":
			r.Regexp, err = scalar(file, v)
			if err == nil {
				if _, e := regexp.Compile(r.Regexp); e != nil {
					err = perr(file, v, "regexp: %v", e)
				} else if r.Regexp != strings.ToLower(r.Regexp) && !strings.Contains(r.Regexp, `\`) {
					err = perr(file, v, "regexp %q: it is matched against lower-case text; write it in lower case", r.Regexp)
				}
			}
		case "extract":
			r.Extract, err = scalar(file, v)
			if err == nil {
				if re, e := regexp.Compile(r.Extract); e != nil {
					err = perr(file, v, "extract: %v", e)
				} else if len(re.SubexpNames()) < 2 {
					err = perr(file, v, "extract: want at least one named group (?P<name>…)")
				}
			}
		case "actor":
			if r.Actor, err = scalar(file, v); err == nil {
				err = checkActor(file, v, r.Actor)
			}
		case "explanation":
			r.Explanation, err = scalar(file, v)
		case "fix":
			r.Fix, err = scalar(file, v)
		case "reference":
			r.Reference, err = scalar(file, v)
		case "seen", "note":
			// documentation only: where a wording was seen
		default:
			return nil, false, perr(file, k, "unknown rule field %q", k.Value)
		}
		if err != nil {
			return nil, false, err
		}
	}
	if !idRE.MatchString(r.ID) {
		return nil, false, perr(file, n, "rule id %q: want lower-case letters, digits, _ . -", r.ID)
	}
	if disabled {
		return r, true, nil
	}
	c, ok := l.cats[r.Category]
	if !ok {
		return nil, false, perr(file, catNodeOr(catNode, n), "rule %q: unknown category %q", r.ID, r.Category)
	}
	// A finding rule may name a delivery category when the warning or
	// fatal line itself reports a refused message (sendmail's "message
	// file too big" is message_too_large, not a crash); a delivery rule
	// never names a finding.
	if c.Finding && !finding {
		return nil, false, perr(file, catNodeOr(catNode, n), "rule %q: category %q is a finding, not a delivery category", r.ID, r.Category)
	}
	if finding && len(r.Statuses) > 0 {
		return nil, false, perr(file, n, "rule %q: findings take severity:, not status:", r.ID)
	}
	if !finding && len(r.Severity) > 0 {
		return nil, false, perr(file, n, "rule %q: delivery rules take status:, not severity:", r.ID)
	}
	if r.Fix == "" {
		r.Fix = c.Fix
	}
	var groups []string
	if r.Extract != "" {
		groups = regexp.MustCompile(r.Extract).SubexpNames()
	}
	if _, err := parseTemplate(r.Fix, groups); err != nil {
		return nil, false, perr(file, n, "rule %q: fix: %v", r.ID, err)
	}
	return r, false, nil
}

func catNodeOr(a, b *yaml.Node) *yaml.Node {
	if a != nil {
		return a
	}
	return b
}

func enhancedList(file string, v *yaml.Node) ([]string, error) {
	l, err := list(file, v)
	if err != nil {
		return nil, err
	}
	for i, s := range l {
		s = strings.ToLower(s)
		l[i] = s
		if !enhancedRE.MatchString(s) {
			return nil, perr(file, v, "status code %q: want class.subject.detail or a prefix (5.7.1, 5.7, x.7.1)", s)
		}
	}
	return l, nil
}

func domainList(file string, v *yaml.Node) ([]string, error) {
	l, err := list(file, v)
	if err != nil {
		return nil, err
	}
	for i, s := range l {
		s = strings.ToLower(strings.Trim(s, ". "))
		if s == "" || strings.ContainsAny(s, " []/@") {
			return nil, perr(file, v, "domain %q: want a domain name suffix such as google.com", l[i])
		}
		l[i] = s
	}
	return l, nil
}

// phraseList lower-cases phrases and refuses one the cache key would mask:
// rules match the normalised text, so such a phrase could never match.
func phraseList(file string, v *yaml.Node) ([]string, error) {
	l, err := list(file, v)
	if err != nil {
		return nil, err
	}
	for i, s := range l {
		want := strings.Join(strings.Fields(strings.ToLower(s)), " ")
		var f facts
		got := string(normalise(nil, s, &f))
		if got != want {
			return nil, perr(file, v, "phrase %q: contains text that is masked before matching (address, IP, bracketed host, number of 4+ digits, long ID); it would read %q", s, got)
		}
		// A leading or trailing space is part of the phrase: " rbl" must
		// not match "marble".
		if strings.TrimLeft(s, " \t") != s {
			want = " " + want
		}
		if strings.TrimRight(s, " \t") != s {
			want += " "
		}
		l[i] = want
	}
	return l, nil
}

// engine compiles what was loaded.
func (l *loader) engine() (*Engine, error) {
	e := &Engine{cats: l.cats, norm: newTable[string, *entry](cacheLimit), exact: newTable[exactID, *Diagnosis](cacheLimit),
		exactCat: newTable[exactID, string](cacheLimit)}
	// The seen filter (512 KiB) is read before it is written: written
	// once now, its pages are mapped writable from the start instead of
	// mapping the shared zero page first and replacing it on the first
	// store (a second fault and a TLB flush on every CPU per page).
	clear(e.seen.slots[:])
	e.seed = maphash.MakeSeed()
	if _, ok := e.cats[Unclassified]; !ok {
		return nil, &ParseError{File: DefaultFile, Err: errors.New("no unclassified category")}
	}
	nphrases := 0
	for _, r := range l.rules {
		if r != nil {
			nphrases += len(r.Any) + len(r.All) + len(r.None)
		}
	}
	index := make(map[string]int, nphrases)
	e.phrases = make([]string, 0, nphrases)
	phrase := func(p string) int {
		if i, ok := index[p]; ok {
			return i
		}
		index[p] = len(e.phrases)
		e.phrases = append(e.phrases, p)
		return len(e.phrases) - 1
	}
	relays, domains := map[string]bool{}, map[string]bool{}
	for order, r := range l.rules {
		if r == nil {
			continue
		}
		c := &compiled{Rule: *r, order: order}
		for _, p := range r.Any {
			c.any = append(c.any, phrase(p))
		}
		for _, p := range r.All {
			c.all = append(c.all, phrase(p))
		}
		for _, p := range r.None {
			c.none = append(c.none, phrase(p))
		}
		if src := r.Regexp; src != "" {
			// Checked when the rule was loaded (and default.yaml's by
			// TestDefaultLoaded): compiling cannot fail.
			c.re = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(src) })
		}
		var groups []string
		if r.Extract != "" {
			c.extract = regexp.MustCompile(r.Extract)
			groups = c.extract.SubexpNames()
		}
		t, err := parseTemplate(r.Fix, groups)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Source, err)
		}
		c.fix, c.fixVaries = t, t.varies()
		c.codes = r.Codes
		for _, s := range r.DSN {
			c.dsn = append(c.dsn, strings.Split(s, "."))
		}
		for _, s := range r.Enhanced {
			c.enhanced = append(c.enhanced, strings.Split(s, "."))
		}
		for _, s := range r.Relays {
			if !relays[s] {
				relays[s] = true
				e.relays = append(e.relays, s)
			}
		}
		for _, s := range r.Domains {
			if !domains[s] {
				domains[s] = true
				e.domains = append(e.domains, s)
			}
		}
		if r.Finding {
			e.findings = append(e.findings, c)
		} else {
			e.rules = append(e.rules, c)
		}
	}
	for _, s := range [][]*compiled{e.rules, e.findings} {
		sort.SliceStable(s, func(i, j int) bool { return s[i].Priority > s[j].Priority })
	}
	// Longest suffixes first, so the key's class is the most specific one.
	for _, s := range [][]string{e.relays, e.domains} {
		sort.SliceStable(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	}
	e.order = l.catOrder
	e.auto = automatonFor(e.phrases)
	e.preRules = newPrefilter(e.rules, len(e.phrases))
	e.preFinds = newPrefilter(e.findings, len(e.phrases))
	return e, nil
}

func sortCategories(cs []Category) {
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Finding != cs[j].Finding {
			return !cs[i].Finding
		}
		return false
	})
}
