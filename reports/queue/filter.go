package queue

import (
	"fmt"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/rules"
)

// Filter selects messages. Within one field the values are alternatives;
// different fields must all hold. The recipient-level conditions
// (RecipientDomains, Categories, ReasonContains) must hold for one and the
// same recipient. The zero Filter selects nothing in particular: Active
// reports false and every message is summarised.
type Filter struct {
	All              bool     // select every message (for --ids without another condition)
	Queues           []string // queue names: active, deferred, hold, incoming, maildrop
	Senders          []string // envelope sender, case-insensitive; "<>" or "MAILER-DAEMON" is the null sender
	SenderDomains    []string // "example.com" exactly; ".example.com" its subdomains (as Postfix's parent_domain_matches_subdomains)
	RecipientDomains []string // as SenderDomains
	Categories       []string // taxonomy ids of the delay reason
	ReasonContains   []string // case-insensitive substring of the delay reason
	OlderThan        time.Duration
}

// Active reports whether the filter selects anything in particular.
func (f *Filter) Active() bool {
	return f.All || len(f.Queues)+len(f.Senders)+len(f.SenderDomains)+len(f.RecipientDomains)+
		len(f.Categories)+len(f.ReasonContains) > 0 || f.OlderThan > 0
}

// Criteria describes the filter, one condition per entry, for the report.
func (f *Filter) Criteria() []string {
	var out []string
	add := func(name string, vs []string) {
		if len(vs) > 0 {
			out = append(out, name+" "+strings.Join(vs, " or "))
		}
	}
	if f.All {
		out = append(out, "all messages")
	}
	add("queue", f.Queues)
	add("sender", f.Senders)
	add("sender domain", f.SenderDomains)
	add("recipient domain", f.RecipientDomains)
	add("category", f.Categories)
	if len(f.ReasonContains) > 0 {
		q := make([]string, len(f.ReasonContains))
		for i, s := range f.ReasonContains {
			q[i] = fmt.Sprintf("%q", s)
		}
		add("reason contains", q)
	}
	if f.OlderThan > 0 {
		out = append(out, "older than "+f.OlderThan.String())
	}
	return out
}

// Check reports an invalid filter: an unknown queue name, an empty domain
// or reason text, a negative age.
func (f *Filter) Check() error {
	_, err := f.compile()
	return err
}

type compiledFilter struct {
	active     bool
	rcptLevel  bool
	queues     []string
	senders    []string // lower-case; "" is the null sender
	senderDoms []string
	rcptDoms   []string
	cats       []string
	reasons    []string // lower-case
	olderThan  int64    // seconds
}

func (f *Filter) compile() (compiledFilter, error) {
	c := compiledFilter{active: f.Active()}
	for _, q := range f.Queues {
		if !knownQueue(q) {
			return c, fmt.Errorf("unknown queue %q (want one of %s)", q, strings.Join(queueNames[:], ", "))
		}
		c.queues = append(c.queues, q)
	}
	for _, s := range f.Senders {
		if s == "<>" || strings.EqualFold(s, "MAILER-DAEMON") {
			s = ""
		}
		c.senders = append(c.senders, strings.ToLower(s))
	}
	doms := func(in []string) ([]string, error) {
		var out []string
		for _, d := range in {
			d = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(d, "@"), "."))
			if d == "" || d == "." {
				return nil, fmt.Errorf("empty domain")
			}
			out = append(out, d)
		}
		return out, nil
	}
	var err error
	if c.senderDoms, err = doms(f.SenderDomains); err != nil {
		return c, err
	}
	if c.rcptDoms, err = doms(f.RecipientDomains); err != nil {
		return c, err
	}
	c.cats = append(c.cats, f.Categories...)
	for _, r := range f.ReasonContains {
		if r == "" {
			return c, fmt.Errorf("empty --reason-contains text")
		}
		c.reasons = append(c.reasons, strings.ToLower(r))
	}
	if f.OlderThan < 0 {
		return c, fmt.Errorf("negative age %v", f.OlderThan)
	}
	c.olderThan = int64(f.OlderThan / time.Second)
	c.rcptLevel = len(c.rcptDoms)+len(c.cats)+len(c.reasons) > 0
	return c, nil
}

// domainMatch applies Postfix's convention: "example.com" matches that
// domain only, ".example.com" any of its subdomains.
func domainMatch(pats []string, d string) bool {
	for _, p := range pats {
		if p[0] == '.' {
			if len(d) > len(p) && strings.HasSuffix(d, p) {
				return true
			}
		} else if d == p {
			return true
		}
	}
	return false
}

// match reports whether m is selected and how many of its recipients
// matched the recipient-level conditions (all of them when there are none).
func (c *compiledFilter) match(m *Message, age int64, doms []string, diag []rules.Diagnosis) (bool, int) {
	if len(c.queues) > 0 && !contains(c.queues, m.Queue) {
		return false, 0
	}
	if c.olderThan > 0 && age <= c.olderThan {
		return false, 0
	}
	if len(c.senders) > 0 && !containsFold(c.senders, m.Sender) {
		return false, 0
	}
	if len(c.senderDoms) > 0 {
		if m.Sender == "" || !domainMatch(c.senderDoms, domainOf(m.Sender)) {
			return false, 0
		}
	}
	if !c.rcptLevel {
		return true, len(m.Recipients)
	}
	n := 0
	for i := range m.Recipients {
		if c.matchRcpt(&m.Recipients[i], doms[i], &diag[i]) {
			n++
		}
	}
	return n > 0, n
}

func (c *compiledFilter) matchRcpt(r *Recipient, dom string, d *rules.Diagnosis) bool {
	if len(c.rcptDoms) > 0 && !domainMatch(c.rcptDoms, dom) {
		return false
	}
	if len(c.cats) > 0 && (d.Category == "" || !contains(c.cats, d.Category)) {
		return false
	}
	if len(c.reasons) > 0 {
		if r.DelayReason == "" {
			return false
		}
		lr := strings.ToLower(r.DelayReason)
		ok := false
		for _, s := range c.reasons {
			if strings.Contains(lr, s) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// containsFold reports whether lower-case list holds s, ignoring case.
func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
