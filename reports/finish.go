package reports

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/rules"
	"github.com/pfdiag/pfdiag/rules/tuning"
)

// stageName names the delays= stages, then delay= of delivered mail.
func stageName(i int) string {
	return [5]string{"a", "b", "c", "d", "total"}[i]
}

// stageMeaning says what a high value of each delays= stage means
// (postconf(5) and Postfix's QSHAPE_README).
func stageMeaning(i int) string {
	switch i {
	case 0:
		return "before the queue manager: receiving the message, cleanup and content filters; for retries, the time spent in the deferred queue"
	case 1:
		return "in the queue manager: waiting for a delivery agent; high values mean active-queue congestion (process or destination concurrency limits)"
	case 2:
		return "connection set-up: DNS lookups, TCP connect, greeting, HELO and TLS; high values mean slow or unreachable MX hosts, DNS trouble or tarpitting"
	case 3:
		return "transmission: sending the message; high values mean large messages, a slow link or a receiver scanning content"
	}
	return "delay= of delivered mail: arrival to delivery, end to end"
}

// Report makes the report from what was added. The Builder can be used
// again afterwards (Report does not change it).
func (b *Builder) Report() *Report {
	r := &Report{
		SchemaVersion: SchemaVersion,
		Generated:     b.t(b.opts.Now.Truncate(time.Second)),
		Filter:        b.opts.Filter,
		PostconfGiven: b.opts.Postconf.Known(),
		Top:           b.top,
		loc:           b.loc,
	}
	r.Filter.Since, r.Filter.Until = b.t(r.Filter.Since), b.t(r.Filter.Until)
	b.summary(r)
	r.Diagnoses = b.diagnoses()
	r.Domains = b.domainRows()
	r.Relays = b.relayRows()
	r.Senders = b.senderRows()
	r.Delays = b.delays()
	r.Timeline = b.timeline()
	r.Rejects = b.rejectRows()
	r.Findings, r.Traffic.WarningDetail = b.findings()
	b.traffic(r)
	r.Suggestions = tuning.Suggest(b.tune, b.opts.Postconf)
	if r.Suggestions == nil {
		r.Suggestions = []tuning.Suggestion{}
	}
	return r
}

// t returns t in the report's zone (the zero time stays zero).
func (b *Builder) t(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.In(b.loc)
}

func (b *Builder) summary(r *Report) {
	s := &r.Summary
	s.First, s.Last = b.t(b.first), b.t(b.last)
	if b.first.IsZero() {
		s.First, s.Last = b.t(b.hourFirst), b.t(b.hourLast)
	}
	s.Lines = b.lines
	s.LinesByKind = b.linesByKind
	s.Unparsed = b.unparsed
	b.trimSamples()
	s.UnparsedSamples = make([]LineSample, len(b.samples))
	for i, x := range b.samples {
		x.Time = b.t(x.Time)
		s.UnparsedSamples[i] = x
	}
	s.Messages = b.received
	s.BytesReceived = b.bytesRecv
	s.Notifications = b.notifications
	s.Fates = map[string]int64{}
	for f, n := range b.fates {
		if n > 0 {
			s.Fates[correlate.Fate(f).String()] += n
		}
	}
	d := b.del
	d.Total = d.Sent + d.Deferred + d.Bounced + d.Expired
	s.Deliveries = d
	s.Rates = Rates{Sent: ratio(d.Sent, d.Total), Deferred: ratio(d.Deferred, d.Total), Bounced: ratio(d.Bounced, d.Total), Expired: ratio(d.Expired, d.Total)}
	s.NoQueueRejects = b.noQueue
	s.Warnings = b.warnCount
}

// countOrder ranks counts: the largest first, ties by name.
func countOrder(x, y *Count) int {
	if x.Count != y.Count {
		return cmp.Compare(y.Count, x.Count)
	}
	return cmp.Compare(x.Name, y.Name)
}

// topCounts returns the n largest entries, ties by name (n < 0: all).
func topCounts(m map[string]int64, n int) []Count {
	if n == 1 && len(m) > 1 {
		var best Count
		first := true
		for k, v := range m {
			if c := (Count{k, v}); first || countOrder(&c, &best) < 0 {
				best, first = c, false
			}
		}
		return []Count{best}
	}
	if n > 0 && len(m) > n {
		// A few out of many (top domains and relays of a diagnosis, a
		// reject's busiest client): kept in a heap, not sorted.
		top := newTop(n, countOrder)
		for k, v := range m {
			top.add(Count{k, v})
		}
		return top.sorted()
	}
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sortCounts(out)
	if n >= 0 && len(out) > n {
		out = out[:n]
	}
	return out
}

func sortCounts(c []Count) {
	slices.SortFunc(c, func(x, y Count) int {
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Compare(x.Name, y.Name)
	})
}

func (b *Builder) sample(s Sample) Sample {
	s.Time = b.t(s.Time)
	return s
}

// diagnose asks the rules for the actor, explanation and fix of a sample.
// The category stays the one recorded at ingest: if the rules now say
// something else (other rule files), the category's own texts are used.
func (b *Builder) diagnose(cat string, s *Sample) rules.Diagnosis {
	domain := correlate.Domain(s.Recipient)
	d := b.opts.Rules.Classify(rules.Input{Reason: s.Reason, Daemon: "", Status: s.Status, DSN: s.DSN, Relay: s.Relay, Domain: domain})
	if d.Category == cat {
		return d
	}
	if e, ok := b.opts.Rules.(interface{ Categories() []rules.Category }); ok {
		for _, c := range e.Categories() {
			if c.ID == cat {
				fix := c.Fix
				if strings.Contains(fix, "{{") {
					fix = ""
				}
				return rules.Diagnosis{Category: cat, Class: d.Class, Actor: c.Actor, Explanation: c.Explanation, Fix: fix, Reference: c.Reference}
			}
		}
	}
	return rules.Diagnosis{Category: cat, Class: d.Class}
}

func (b *Builder) diagnoses() []Diagnosis {
	out := make([]Diagnosis, 0, len(b.cats))
	for cat, c := range b.cats {
		d := Diagnosis{
			Category: cat, Deliveries: c.n, Deferred: c.deferred, Bounced: c.bounced, Expired: c.expired,
			Messages: c.messages, Undelivered: c.undelivered, DomainCount: int64(len(c.groups)),
			First: b.t(c.first), Last: b.t(c.last),
		}
		var classes []string
		if c.deferred > 0 {
			classes = append(classes, rules.Temporary)
		}
		if c.bounced+c.expired > 0 {
			classes = append(classes, rules.Permanent)
		}
		d.Class = strings.Join(classes, "+")
		var top []Count
		if len(c.groups) > b.top {
			t := newTop(b.top, countOrder)
			for dom, g := range c.groups {
				t.add(Count{dom, g.n})
			}
			top = t.sorted()
		} else {
			top = make([]Count, 0, len(c.groups))
			for dom, g := range c.groups {
				top = append(top, Count{dom, g.n})
			}
			sortCounts(top)
		}
		d.Domains = top
		if len(d.Domains) > 10 {
			d.Domains = d.Domains[:10]
		}
		d.Relays = topCounts(c.relays, 10)
		d.RelayCount = int64(len(c.relays))
		for i, tc := range top {
			if i == 10 {
				break
			}
			g := c.groups[tc.Name]
			dg := b.diagnose(cat, &g.sample)
			if i == 0 {
				d.Actor, d.Explanation, d.Fix, d.Reference = dg.Actor, dg.Explanation, dg.Fix, dg.Reference
			}
			d.Groups = append(d.Groups, Group{Domain: tc.Name, Deliveries: g.n, Relay: relayHost(g.sample.Relay), Fix: dg.Fix, Sample: b.sample(g.sample)})
		}
		ss := slices.Clone(c.samples)
		slices.SortFunc(ss, func(x, y Sample) int {
			if sampleLess(&x, &y) {
				return -1
			}
			if sampleLess(&y, &x) {
				return 1
			}
			return 0
		})
		for _, s := range ss {
			d.Samples = append(d.Samples, b.sample(s))
		}
		if len(c.causes) > 0 {
			d.Causes = topCounts(c.causes, -1)
		}
		d.Groups, d.Samples = orEmpty(d.Groups), orEmpty(d.Samples)
		out = append(out, d)
	}
	// Impact: messages that did not get through, then messages delayed,
	// then attempts.
	slices.SortFunc(out, func(x, y Diagnosis) int {
		if x.Undelivered != y.Undelivered {
			return cmp.Compare(y.Undelivered, x.Undelivered)
		}
		if x.Messages != y.Messages {
			return cmp.Compare(y.Messages, x.Messages)
		}
		if x.Deliveries != y.Deliveries {
			return cmp.Compare(y.Deliveries, x.Deliveries)
		}
		return cmp.Compare(x.Category, y.Category)
	})
	return out
}

func topCat(m map[string]int64) string {
	t := topCounts(m, 1)
	if len(t) == 0 {
		return ""
	}
	return t[0].Name
}

func (b *Builder) domainRows() []DomainRow {
	top := newTop(b.top, func(x, y *DomainRow) int {
		if x.Attempts != y.Attempts {
			return cmp.Compare(y.Attempts, x.Attempts)
		}
		return cmp.Compare(x.Domain, y.Domain)
	})
	for k, d := range b.doms {
		top.add(DomainRow{Domain: k, Attempts: d.attempts, Sent: d.sent, Deferred: d.deferred, Bounced: d.bounced, Expired: d.expired})
	}
	out := top.sorted()
	for i := range out {
		d := b.doms[out[i].Domain]
		out[i].MedianDelay, out[i].Top = d.delays.median(), topCat(catMap(d.cats))
	}
	return out
}

func (b *Builder) relayRows() []RelayRow {
	top := newTop(b.top, func(x, y *RelayRow) int {
		if x.Attempts != y.Attempts {
			return cmp.Compare(y.Attempts, x.Attempts)
		}
		return cmp.Compare(x.Relay, y.Relay)
	})
	for k, d := range b.relays {
		top.add(RelayRow{Relay: k, Attempts: d.attempts, Sent: d.sent, Deferred: d.deferred, Bounced: d.bounced, Expired: d.expired})
	}
	out := top.sorted()
	for i := range out {
		d := b.relays[out[i].Relay]
		out[i].MedianDelay, out[i].Top = d.delays.median(), topCat(catMap(d.cats))
	}
	return out
}

// Senders whose bounces reach this many distinct recipients, making up
// this share of their attempts, get a signal.
const (
	signalRecipients = 10
	signalShare      = 0.2
)

func (b *Builder) senderRows() []SenderRow {
	out := make([]SenderRow, 0, len(b.senders))
	for k, s := range b.senders {
		if s.deferred+s.bounced+s.expired == 0 {
			continue
		}
		row := SenderRow{Sender: k, SASLUsers: slices.Clone(s.sasl), Messages: s.messages, Attempts: s.attempts, Sent: s.sent,
			Deferred: s.deferred, Bounced: s.bounced, Expired: s.expired, BouncedRecipients: int64(len(s.bouncedTo)) + s.bouncedMore}
		if row.SASLUsers == nil {
			row.SASLUsers = []string{}
		}
		slices.Sort(row.SASLUsers)
		if row.BouncedRecipients >= signalRecipients && float64(s.bounced) >= signalShare*float64(s.attempts) {
			row.Signal = "many bounces to distinct recipients: a compromised account or a stale list"
			if k == "" {
				row.Signal = "many notifications bounce: backscatter to forged senders"
			}
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(x, y SenderRow) int {
		if x.BouncedRecipients != y.BouncedRecipients {
			return cmp.Compare(y.BouncedRecipients, x.BouncedRecipients)
		}
		fx, fy := x.Deferred+x.Bounced+x.Expired, y.Deferred+y.Bounced+y.Expired
		if fx != fy {
			return cmp.Compare(fy, fx)
		}
		return cmp.Compare(x.Sender, y.Sender)
	})
	if len(out) > b.top {
		out = out[:b.top]
	}
	return out
}

func nan0(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

func (b *Builder) delays() Delays {
	d := Delays{Attempts: b.withDelays}
	for i := range b.stages {
		h := &b.stages[i]
		d.Stages = append(d.Stages, StageDelay{Stage: stageName(i), Meaning: stageMeaning(i), Count: h.n,
			P50: nan0(h.quantile(0.5)), P95: nan0(h.quantile(0.95)), P99: nan0(h.quantile(0.99)), Max: round2(h.max)})
	}
	return d
}

// maxTimelineHours bounds the hours filled in between the first and the
// last one with data (a month); beyond it only hours with data are listed
// (a stray timestamp years away must not make a report of empty hours).
const maxTimelineHours = 31 * 24

func (b *Builder) timeline() []HourRow {
	if len(b.hours) == 0 {
		return []HourRow{}
	}
	keys := make([]int64, 0, len(b.hours))
	for k, h := range b.hours {
		if h.Sent+h.Deferred+h.Bounced+h.Expired+h.Rejected > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return []HourRow{}
	}
	slices.Sort(keys)
	lo, hi := keys[0], keys[len(keys)-1]
	var out []HourRow
	if hi-lo < maxTimelineHours {
		for k := lo; k <= hi; k++ {
			row := HourRow{Hour: time.Unix(k*3600, 0)}
			if h := b.hours[k]; h != nil {
				row = *h
			}
			row.Hour = b.t(row.Hour)
			out = append(out, row)
		}
		return out
	}
	for _, k := range keys {
		row := *b.hours[k]
		row.Hour = b.t(row.Hour)
		out = append(out, row)
	}
	return out
}

func (b *Builder) rejectRows() []RejectRow {
	// The order is total: every field of the key takes part.
	top := newTop(b.top, func(x, y *RejectRow) int {
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Or(cmp.Compare(x.Reason, y.Reason), cmp.Compare(x.Daemon, y.Daemon), cmp.Compare(x.Action, y.Action),
			cmp.Compare(x.Stage, y.Stage), cmp.Compare(x.Code, y.Code), cmp.Compare(x.Enhanced, y.Enhanced),
			cmp.Compare(x.Category, y.Category), boolCmp(x.Queued, y.Queued))
	})
	for k, a := range b.rejects {
		switch k.action {
		case "reject", "milter-reject", "proxy-reject", "discard", "milter-discard":
		default:
			continue // warn, hold, filter, redirect: not rejects
		}
		tc := topCounts(a.clients, 1)
		row := RejectRow{Daemon: k.daemon, Action: k.action, Stage: k.stage, Code: k.code, Enhanced: k.enhanced,
			Category: k.category, Reason: k.reason, Sample: a.sample, Count: a.n, Clients: int64(len(a.clients)),
			Queued: k.queued, First: b.t(a.first), Last: b.t(a.last)}
		if len(tc) > 0 {
			row.TopClient = tc[0].Name
		}
		top.add(row)
	}
	return orEmpty(top.sorted())
}

func severityRank(s string) int {
	switch s {
	case "panic":
		return 4
	case "fatal":
		return 3
	case "error":
		return 2
	case "warning":
		return 1
	}
	return 0
}

type findingAcc struct {
	row  FindingRow
	best int64 // count of the member the fix comes from
}

func (b *Builder) findings() ([]FindingRow, []WarningRow) {
	keys := make([]correlate.WarningKey, 0, len(b.warnings))
	for k := range b.warnings {
		keys = append(keys, k)
	}
	// A stable order for the merge: by time, then key.
	slices.SortFunc(keys, func(x, y correlate.WarningKey) int {
		ax, ay := b.warnings[x], b.warnings[y]
		if c := ax.first.Compare(ay.first); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.Host, y.Host), cmp.Compare(x.Severity, y.Severity), cmp.Compare(x.Daemon, y.Daemon), cmp.Compare(x.Text, y.Text))
	})
	groups := map[string]*findingAcc{}
	type wk struct{ sev, daemon, text string }
	detail := map[wk]*WarningRow{}
	for _, k := range keys {
		a := b.warnings[k]
		samples := a.samples()
		text := k.Text
		if len(samples) > 0 {
			text = samples[0]
		}
		d := b.opts.Rules.Finding(k.Severity, k.Daemon, text)
		g := groups[d.Category]
		if g == nil {
			g = &findingAcc{row: FindingRow{Category: d.Category, First: a.first, Last: a.last}}
			groups[d.Category] = g
		}
		row := &g.row
		row.Count += a.n
		if severityRank(k.Severity) > severityRank(row.Severity) {
			row.Severity = k.Severity
		}
		if a.n > g.best {
			g.best = a.n
			row.Explanation, row.Fix = d.Explanation, d.Fix
		}
		if !slices.Contains(row.Daemons, k.Daemon) {
			row.Daemons = append(row.Daemons, k.Daemon)
		}
		for _, s := range samples {
			if len(row.Samples) < 3 && !slices.Contains(row.Samples, s) {
				row.Samples = append(row.Samples, s)
			}
		}
		row.First = minT(row.First, a.first)
		if a.last.After(row.Last) {
			row.Last = a.last
		}
		dk := wk{k.Severity, k.Daemon, k.Text}
		w := detail[dk]
		if w == nil {
			w = &WarningRow{Severity: k.Severity, Daemon: k.Daemon, Text: k.Text, Sample: text}
			detail[dk] = w
		}
		w.Count += a.n
	}
	out := make([]FindingRow, 0, len(groups))
	for _, g := range groups {
		g.row.First, g.row.Last = b.t(g.row.First), b.t(g.row.Last)
		slices.Sort(g.row.Daemons)
		out = append(out, g.row)
	}
	slices.SortFunc(out, func(x, y FindingRow) int {
		if rx, ry := severityRank(x.Severity), severityRank(y.Severity); rx != ry {
			return cmp.Compare(ry, rx)
		}
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Compare(x.Category, y.Category)
	})
	ws := make([]WarningRow, 0, len(detail))
	for _, w := range detail {
		ws = append(ws, *w)
	}
	slices.SortFunc(ws, func(x, y WarningRow) int {
		if rx, ry := severityRank(x.Severity), severityRank(y.Severity); rx != ry {
			return cmp.Compare(ry, rx)
		}
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Or(cmp.Compare(x.Daemon, y.Daemon), cmp.Compare(x.Text, y.Text))
	})
	if len(ws) > b.top {
		ws = ws[:b.top]
	}
	return out, ws
}

func addrRows(m *addrTable, n int, bySize bool) []AddrCount {
	top := newTop(n, func(x, y *AddrCount) int {
		kx, ky := x.Count, y.Count
		if bySize {
			kx, ky = x.Bytes, y.Bytes
		}
		if kx != ky {
			return cmp.Compare(ky, kx)
		}
		return cmp.Compare(x.Address, y.Address)
	})
	m.each(func(k string, a *addrAcc) {
		top.add(AddrCount{Address: k, Count: a.count, Bytes: a.bytes})
	})
	return top.sorted()
}

func (b *Builder) traffic(r *Report) {
	t := &r.Traffic
	t.Received = b.received
	t.Delivered = b.del.Sent
	t.Deferred = b.del.Deferred
	t.Bounced = b.del.Bounced
	t.Expired = b.del.Expired
	t.Rejected = b.noQueue + b.rejected
	t.Held = b.held
	for k, a := range b.rejects {
		switch k.action {
		case "warn":
			t.RejectWarnings += a.n
		case "discard", "milter-discard":
			t.Discarded += a.n
		}
	}
	t.BytesReceived = b.bytesRecv
	t.BytesDelivered = b.bytesDeliv
	t.Senders = int64(b.recvSenders.len())
	t.SendingDomains = int64(b.recvDomains.len())
	t.Recipients = int64(b.rcpts.len())
	for _, a := range b.doms {
		if a.sent > 0 {
			t.RecipientDomains++
		}
	}
	t.Approximate = b.approximate

	days := make([]int, 0, len(b.days))
	for k := range b.days {
		days = append(days, k)
	}
	slices.Sort(days)
	t.PerDay = []DayRow{}
	for _, k := range days {
		t.PerDay = append(t.PerDay, *b.days[k])
	}
	t.PerHour = make([]DayRow, 24)
	for h := range 24 {
		row := b.hod[h]
		row.Date = twoDigits(h)
		t.PerHour[h] = row
	}

	top := newTop(b.top, func(x, y *DomainTraffic) int {
		if x.Count != y.Count {
			return cmp.Compare(y.Count, x.Count)
		}
		return cmp.Compare(x.Domain, y.Domain)
	})
	for k, d := range b.doms {
		if d.sent == 0 && d.deferred == 0 {
			continue
		}
		row := DomainTraffic{Domain: k, Count: d.sent, Bytes: d.bytes, Deferred: d.deferred, MaxDelay: round2(d.delayMax)}
		if d.sent > 0 {
			row.AvgDelay = math.Round(d.delaySum/float64(d.sent)*100) / 100
		}
		top.add(row)
	}
	t.DomainsDelivered = orEmpty(top.sorted())
	var dr []DomainCount
	for _, a := range addrRows(b.recvDomains, b.top, false) {
		dr = append(dr, DomainCount{Domain: a.Address, Count: a.Count, Bytes: a.Bytes})
	}
	t.DomainsReceived = orEmpty(dr)
	t.TopSendersByCount = addrRows(b.recvSenders, b.top, false)
	t.TopSendersBySize = addrRows(b.recvSenders, b.top, true)
	t.TopRecipientsByCount = addrRows(b.rcpts, b.top, false)
	t.TopRecipientsBySize = addrRows(b.rcpts, b.top, true)
	t.DeferralDetail = b.detailRows(correlate.StatusDeferred)
	t.BounceDetail = b.detailRows(correlate.StatusBounced)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func twoDigits(n int) string {
	return string([]byte{byte('0' + n/10), byte('0' + n%10)})
}

func (b *Builder) detailRows(st correlate.Status) []DetailRow {
	// A total order: the rows of one status differ by category, dsn or relay.
	top := newTop(b.top, func(x, y *DetailRow) int {
		return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Category, y.Category), cmp.Compare(x.DSN, y.DSN), cmp.Compare(x.Relay, y.Relay))
	})
	for k, d := range b.details {
		if k.status != st {
			continue
		}
		top.add(DetailRow{Category: k.category, DSN: k.dsn, Relay: k.relay, Count: d.n, Sample: d.sample})
	}
	return orEmpty(top.sorted())
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}
