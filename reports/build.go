package reports

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pfdiag/pfdiag/correlate"
	"github.com/pfdiag/pfdiag/parser"
	"github.com/pfdiag/pfdiag/rules/tuning"
)

// Options configure a Builder.
type Options struct {
	Filter Filter
	// Top is how many rows each ranked list keeps; 0 means 20.
	Top int
	// Loc is the zone times are shown in and days are cut in; nil is UTC.
	Loc *time.Location
	// Now is when the report is made (Report.Generated).
	Now time.Time
	// Rules gives actors, explanations and fixes (required).
	Rules Diagnoser
	// Postconf is the current configuration for the tuning suggestions;
	// the zero value means Postfix's defaults.
	Postconf tuning.Postconf
}

// Memory bounds: beyond these many distinct keys a table keeps its
// busiest half and the report says its distinct counts are approximate.
const (
	maxDomains    = 100000
	maxRelays     = 50000
	maxSenders    = 100000
	maxAddrs      = 20000
	maxGroups     = 20000 // recipient domains per diagnosis
	maxBouncedSet = 1000  // distinct bounced recipients remembered per sender
	maxClients    = 1000  // distinct client IPs per reject reason
	maxDetails    = 20000
	numSamples    = 3 // sample reasons per diagnosis
	numLines      = 5 // unparsed line samples
)

// Builder accumulates messages and hour aggregates from an index (or
// straight from an ingest) and makes a Report. Feed it with AddHour, in
// time order, and AddMessage, in any order; the result does not depend on
// the message order. Not safe for concurrent use.
type Builder struct {
	opts Options
	loc  *time.Location
	top  int

	// Normalised filter values.
	sender, domain string
	msgFilter      bool // a filter that selects messages/deliveries (sender, domain, category)

	first, last         time.Time
	hourFirst, hourLast time.Time // span of the hours with lines, when no record has a time

	// From hour aggregates.
	lines       int64
	linesByKind map[string]int64
	unparsed    int64
	samples     []LineSample
	noQueue     int64
	rejected    int64
	held        int64
	warnCount   int64
	rejects     map[rejectKey]*rejectAcc
	warnings    map[correlate.WarningKey]*warnAcc
	sampleSlots map[sampleSlot]int // unparsed samples taken per hour, host and kind

	// From messages.
	del           Deliveries
	received      int64
	bytesRecv     int64
	bytesDeliv    int64
	notifications int64
	fates         [256]int64 // by correlate.Fate
	cats          map[string]*catAcc
	doms          map[string]*destAcc
	relays        map[string]*destAcc
	relaysGen     uint64 // changes when relays are pruned (destAcc.relayAcc)
	senders       map[string]*senderAcc
	rcpts         *addrTable // sent, by recipient
	recvSenders   *addrTable // received, by sender
	recvDomains   *addrTable // received, by sender domain
	details       map[detailKey]*detailAcc
	hours         map[int64]*HourRow
	days          map[int]*DayRow
	hod           [24]DayRow
	stages        [5]hist // a, b, c, d, delay= of sent
	keys          keyCache
	withDelays    int64
	approximate   bool
	tune          *tuning.Collector

	msgCats []string // categories of the message being added

	// The sender's record of the message being added, once looked up
	// (every attempt of a message has its sender).
	msgSender   *senderAcc
	msgSenderOK bool
	// Whether the message's SASL user was given to its sender's record:
	// the first attempt with a record does it, for the whole message
	// (the later ones would find it there).
	msgSASL bool

	// The hour of the last attempt (attempts come roughly in time order).
	lastSlot  int64
	slotOK    bool
	slotCache hourSlot

	// The same for arrivals (without a timeline row).
	lastArr  int64
	arrOK    bool
	arrCache hourSlot

	outBuf []correlate.Outcome
}

type catAcc struct {
	n, deferred, bounced, expired int64
	messages, undelivered         int64
	first, last                   time.Time
	groups                        map[string]*groupAcc
	relays                        map[string]int64
	samples                       []Sample
	causes                        map[string]int64
}

type groupAcc struct {
	n      int64
	sample Sample
}

type destAcc struct {
	attempts, sent, deferred, bounced, expired int64
	bytes                                      int64
	delaySum, delayMax                         float64
	cats                                       []catCount // failures by category: a few per record
	delays                                     sparseHist

	// A recipient domain's attempts go to the same few relays: its last
	// attempt's relay= and that relay's record (valid while relaysGen
	// has not changed) save most lookups in the relay table, and its
	// record in the tuning collector saves the collector's lookup.
	relay    string
	relayAcc *destAcc
	relayGen uint64
	tune     tuning.DomainRef
}

type senderAcc struct {
	messages, attempts, sent, deferred, bounced, expired int64
	bouncedTo                                            map[string]struct{}
	bouncedMore                                          int64 // beyond maxBouncedSet
	sasl                                                 []string
}

type addrAcc struct{ count, bytes int64 }

type detailKey struct {
	status               correlate.Status
	category, dsn, relay string
}

type detailAcc struct {
	n      int64
	sample string
}

type sampleSlot struct {
	hour int64
	host string
	kind parser.Kind
}

type rejectKey struct {
	daemon, action, stage string
	code                  int
	enhanced, category    string
	reason                string
	queued                bool
}

type rejectAcc struct {
	n           int64
	first, last time.Time
	sample      string
	clients     map[string]int64
}

type warnAcc struct {
	n           int64
	first, last time.Time
	// byHour holds each hour's samples as the index would merge them
	// (at most correlate.WarningSamples, in the order they came): the
	// report takes the first distinct ones of the earliest hours, whatever
	// order the hours are added in.
	byHour map[int64][]string
}

// add merges one hour's samples and forgets hours too late to matter.
func (a *warnAcc) add(hour int64, samples []string) {
	if a.byHour == nil {
		a.byHour = map[int64][]string{}
	}
	cur := a.byHour[hour]
	for _, s := range samples {
		if len(cur) >= correlate.WarningSamples {
			break
		}
		cur = append(cur, s)
	}
	a.byHour[hour] = cur
	if len(a.byHour) > 2 {
		hours := make([]int64, 0, len(a.byHour))
		for h := range a.byHour {
			hours = append(hours, h)
		}
		slices.Sort(hours)
		var seen []string
		for i, h := range hours {
			if len(seen) >= correlate.WarningSamples {
				for _, late := range hours[i:] {
					delete(a.byHour, late)
				}
				break
			}
			for _, s := range a.byHour[h] {
				if !slices.Contains(seen, s) {
					seen = append(seen, s)
				}
			}
		}
	}
}

// samples returns the first distinct samples of the earliest hours.
func (a *warnAcc) samples() []string {
	hours := make([]int64, 0, len(a.byHour))
	for h := range a.byHour {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	var out []string
	for _, h := range hours {
		for _, s := range a.byHour[h] {
			if len(out) < correlate.WarningSamples && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// NewBuilder returns an empty Builder.
func NewBuilder(opts Options) *Builder {
	b := &Builder{
		opts:        opts,
		loc:         opts.Loc,
		top:         opts.Top,
		linesByKind: map[string]int64{},
		rejects:     map[rejectKey]*rejectAcc{},
		warnings:    map[correlate.WarningKey]*warnAcc{},
		sampleSlots: map[sampleSlot]int{},
		cats:        map[string]*catAcc{},
		doms:        map[string]*destAcc{},
		relays:      map[string]*destAcc{},
		senders:     map[string]*senderAcc{},
		rcpts:       newAddrTable(),
		recvSenders: newAddrTable(),
		recvDomains: newAddrTable(),
		details:     map[detailKey]*detailAcc{},
		hours:       map[int64]*HourRow{},
		days:        map[int]*DayRow{},
		tune:        tuning.NewCollector(),
	}
	if b.loc == nil {
		b.loc = time.UTC
	}
	if b.top <= 0 {
		b.top = 20
	}
	f := &opts.Filter
	if f.Sender != "" {
		b.sender = correlate.LookupValue(correlate.BySender, f.Sender)
	}
	b.domain = normDomain(f.RecipientDomain)
	b.msgFilter = f.Sender != "" || b.domain != "" || f.Category != ""
	return b
}

func normDomain(d string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(d), "@"), "."))
}

// inWindow reports whether t is inside [Since, Until).
func (b *Builder) inWindow(t time.Time) bool {
	f := &b.opts.Filter
	if !f.Since.IsZero() && t.Before(f.Since) {
		return false
	}
	if !f.Until.IsZero() && !t.Before(f.Until) {
		return false
	}
	return true
}

func (b *Builder) seen(t time.Time) {
	if t.IsZero() {
		return
	}
	if b.first.IsZero() || t.Before(b.first) {
		b.first = t
	}
	if t.After(b.last) {
		b.last = t
	}
}

// AddHour adds one hour of aggregates, or a part of one (an ingest
// checkpoint's delta): hours and parts may come in any order, and the
// parts of an hour give what their merge (correlate.Hour.Merge) gives.
func (b *Builder) AddHour(h *correlate.Hour) {
	f := &b.opts.Filter
	end := h.Start.Add(time.Hour)
	if (!f.Since.IsZero() && !end.After(f.Since)) || (!f.Until.IsZero() && !h.Start.Before(f.Until)) {
		return
	}
	hostOK := func(host string) bool { return f.Host == "" || host == f.Host }
	any := false
	for k, n := range h.Lines {
		if !hostOK(k.Host) || n == 0 {
			continue
		}
		any = true
		b.lines += n
		b.linesByKind[k.Kind.String()] += n
		switch k.Kind {
		case parser.KindMalformed, parser.KindUnknown, parser.KindForeign:
			b.unparsed += n
		}
	}
	if any {
		b.hourFirst = minT(b.hourFirst, h.Start)
		if end.After(b.hourLast) {
			b.hourLast = end
		}
	}
	hourIdx := h.Start.Unix() / 3600
	for _, s := range h.Samples {
		slot := sampleSlot{hourIdx, s.Host, s.Kind}
		if !hostOK(s.Host) || b.sampleSlots[slot] >= correlate.SamplesPerKind {
			continue
		}
		b.sampleSlots[slot]++
		b.samples = append(b.samples, LineSample{Host: s.Host, Kind: s.Kind.String(), Time: s.Time, Line: s.Line, Text: s.Text})
	}
	if len(b.samples) > 64*numLines {
		b.trimSamples()
	}
	hr := b.hour(h.Start)
	for k, t := range h.Traffic {
		if !hostOK(k.Host) || (f.Instance != "" && k.Instance != f.Instance) {
			continue
		}
		b.noQueue += t.NoQueue
		b.rejected += t.Rejected
		b.held += t.Held
		hr.Rejected += t.NoQueue
		d := b.day(h.Start)
		d.Rejected += t.NoQueue + t.Rejected
		b.hod[h.Start.In(b.loc).Hour()].Rejected += t.NoQueue + t.Rejected
	}
	for k, r := range h.Rejects {
		if !hostOK(k.Host) || (b.domain != "" && k.Domain != b.domain) || (f.Category != "" && k.Category != f.Category) {
			continue
		}
		rk := rejectKey{daemon: k.Daemon, action: k.Action, stage: k.Stage, code: k.Code, enhanced: k.Enhanced,
			category: k.Category, reason: maskAddrs(k.Reason), queued: k.HasQueueID}
		a := b.rejects[rk]
		if a == nil {
			a = &rejectAcc{first: r.First, sample: r.Sample, clients: map[string]int64{}}
			b.rejects[rk] = a
		}
		a.n += r.Count
		b.seen(r.First)
		b.seen(r.Last)
		if r.First.Before(a.first) || (r.First.Equal(a.first) && r.Sample < a.sample) {
			a.first, a.sample = r.First, r.Sample
		}
		if r.Last.After(a.last) {
			a.last = r.Last
		}
		ip := k.ClientIP
		if ip == "" {
			ip = k.ClientHost
		}
		if _, ok := a.clients[ip]; ok || len(a.clients) < maxClients {
			a.clients[ip] += r.Count
		} else {
			b.approximate = true
		}
	}
	for k, w := range h.Warnings {
		if !hostOK(k.Host) {
			continue
		}
		b.warnCount += w.Count
		a := b.warnings[k]
		if a == nil {
			a = &warnAcc{first: w.First}
			b.warnings[k] = a
		}
		a.n += w.Count
		b.seen(w.First)
		b.seen(w.Last)
		a.first = minT(a.first, w.First)
		if w.Last.After(a.last) {
			a.last = w.Last
		}
		a.add(hourIdx, w.Samples)
	}
}

// maskAddrs replaces the bare addresses the index's normalised reject
// texts still hold ("…/Why?s=mfrom;id=user@example.org;ip=…") with "*@*",
// so rejects that differ only by the address are one row.
func maskAddrs(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	start := 0
	flush := func(end int) {
		tok := s[start:end]
		if strings.Contains(tok, "@") && tok != "<*>" {
			b.WriteString("*@*")
		} else {
			b.WriteString(tok)
		}
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', ';', '=', '<', '>', '(', ')', ',', '"', '\'', '[', ']', ':':
			flush(i)
			b.WriteByte(s[i])
			start = i + 1
		}
	}
	flush(len(s))
	return b.String()
}

func minT(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// trimSamples keeps the earliest unparsed samples.
func (b *Builder) trimSamples() {
	slices.SortFunc(b.samples, func(x, y LineSample) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Host, y.Host); c != 0 {
			return c
		}
		if c := cmp.Compare(x.Line, y.Line); c != 0 {
			return c
		}
		return cmp.Compare(x.Text, y.Text)
	})
	if len(b.samples) > numLines {
		b.samples = slices.Clip(b.samples[:numLines])
	}
}

func (b *Builder) hour(t time.Time) *HourRow {
	k := t.Unix() / 3600
	if t.Unix() < 0 {
		k = (t.Unix() - 3599) / 3600
	}
	r := b.hours[k]
	if r == nil {
		r = &HourRow{Hour: time.Unix(k*3600, 0)}
		b.hours[k] = r
	}
	return r
}

// hourSlot caches, per UTC hour, its timeline row and the local day and
// hour of day it falls in (when the zone's offset is whole hours, every
// instant of the hour is in the same local day and hour).
type hourSlot struct {
	row *HourRow
	day *DayRow
	hod int
}

// slot returns the timeline row, the day row and the hour-of-day row of t.
func (b *Builder) slot(t time.Time) (*HourRow, *DayRow, *DayRow) {
	k := t.Unix() / 3600
	if t.Unix() < 0 {
		k = (t.Unix() - 3599) / 3600
	}
	if k == b.lastSlot && b.slotOK {
		sl := &b.slotCache
		return sl.row, sl.day, &b.hod[sl.hod]
	}
	lt := t.In(b.loc)
	if _, off := lt.Zone(); off%3600 != 0 {
		b.slotOK = false
		return b.hour(t), b.day(t), &b.hod[lt.Hour()]
	}
	b.slotCache = hourSlot{row: b.hour(t), day: b.day(t), hod: lt.Hour()}
	b.lastSlot, b.slotOK = k, true
	return b.slotCache.row, b.slotCache.day, &b.hod[b.slotCache.hod]
}

// arrival returns the day row and the hour-of-day row of t, as b.day and
// b.hod would.
func (b *Builder) arrival(t time.Time) (*DayRow, *DayRow) {
	k := t.Unix() / 3600
	if t.Unix() < 0 {
		k = (t.Unix() - 3599) / 3600
	}
	if k == b.lastArr && b.arrOK {
		return b.arrCache.day, &b.hod[b.arrCache.hod]
	}
	lt := t.In(b.loc)
	if _, off := lt.Zone(); off%3600 != 0 {
		b.arrOK = false
		return b.day(t), &b.hod[lt.Hour()]
	}
	b.arrCache = hourSlot{day: b.day(t), hod: lt.Hour()}
	b.lastArr, b.arrOK = k, true
	return b.arrCache.day, &b.hod[b.arrCache.hod]
}

func (b *Builder) day(t time.Time) *DayRow {
	y, m, d := t.In(b.loc).Date()
	k := y*10000 + int(m)*100 + d
	r := b.days[k]
	if r == nil {
		r = &DayRow{Date: time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02")}
		b.days[k] = r
	}
	return r
}

// received reports whether a message was received here: queued by qmgr
// after it came from an SMTP client, pickup or a local submission, or
// with its cleanup line in the log (its client line may be missing).
// Notifications Postfix generated, messages first seen at qmgr (queued
// before the log begins) and messages refused before qmgr took them are
// not received. The index's hour aggregates count the same way.
func received(m *correlate.Message) bool {
	if !m.Queued || m.NoticeFor != nil {
		return false
	}
	switch m.Origin {
	case correlate.OriginSMTP, correlate.OriginPickup, correlate.OriginLocal:
		return true
	case correlate.OriginUnknown:
		return m.MessageID != ""
	}
	return false
}

// AddMessage adds one message (a root, with its hops).
func (b *Builder) AddMessage(m *correlate.Message) {
	f := &b.opts.Filter
	if f.Host != "" && m.Host != f.Host {
		return
	}
	if f.Sender != "" && (!m.HasSender || correlate.LookupValue(correlate.BySender, m.Sender) != b.sender) {
		return
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		first, last := m.Span()
		if (!f.Since.IsZero() && last.Before(f.Since)) || (!f.Until.IsZero() && !first.Before(f.Until)) {
			return
		}
	}
	null := (m.HasSender && m.Sender == "") || m.Origin == correlate.OriginNotification
	b.msgCats = b.msgCats[:0]
	b.msgSender, b.msgSenderOK, b.msgSASL = nil, false, false
	inScope := false
	m.Walk(func(h *correlate.Message) {
		if f.Instance != "" && h.Instance != f.Instance {
			return
		}
		for i := range h.Recipients {
			r := &h.Recipients[i]
			dom := domainOf(r.Address)
			if b.domain != "" && dom != b.domain {
				continue
			}
			if !b.msgFilter || f.Category == "" {
				inScope = true
			}
			for j := range r.Attempts {
				a := &r.Attempts[j]
				if !b.inWindow(a.Time) || (f.Category != "" && a.Category != f.Category) {
					continue
				}
				inScope = true
				b.attempt(m, h, r, a, dom, null)
			}
		}
	})
	if !b.msgFilter {
		inScope = true
	}
	rootOK := f.Instance == "" || m.Instance == f.Instance
	if inScope && rootOK && b.inWindow(m.Arrival) && !m.Arrival.IsZero() {
		switch {
		case received(m):
			b.receivedMsg(m)
		case m.Origin == correlate.OriginNotification:
			b.notifications++
		}
	}
	if inScope && rootOK {
		b.fates[m.FinalFate()]++
	}
	if len(b.msgCats) > 0 {
		b.outcomes(m)
	}
}

func (b *Builder) receivedMsg(m *correlate.Message) {
	b.seen(m.Arrival)
	b.received++
	b.bytesRecv += m.Size
	day, hod := b.arrival(m.Arrival)
	day.Received++
	hod.Received++
	s := m.Sender
	if !m.HasSender {
		s = "?"
	}
	if a := addr(b, b.recvSenders, s, maxAddrs); a != nil {
		a.count++
		a.bytes += m.Size
	}
	d := domainOf(m.Sender)
	if m.Sender == "" {
		d = "<>"
	} else if d == "" {
		d = "(local)"
	}
	if a := addr(b, b.recvDomains, d, maxDomains); a != nil {
		a.count++
		a.bytes += m.Size
	}
	if sa := b.senderOf(s); sa != nil {
		sa.messages++
	}
}

// senderOf returns the record of the sender of the message being added
// (key), nil when there is none; it is looked up once per message.
func (b *Builder) senderOf(key string) *senderAcc {
	if !b.msgSenderOK {
		b.msgSender, b.msgSenderOK = b.senders[key], true
	}
	return b.msgSender
}

// addr returns the counter for key, making room when the table is full.
func addr(b *Builder, m *addrTable, key string, limit int) *addrAcc {
	a := m.get(key)
	if a == nil {
		if m.len() >= limit {
			m.prune()
			b.approximate = true
		}
		a = m.add(key)
	}
	return a
}

// prune keeps the busier half of a table.
func prune[K comparable, V any](m map[K]V, weight func(V) int64) {
	ws := make([]int64, 0, len(m))
	for _, v := range m {
		ws = append(ws, weight(v))
	}
	slices.Sort(ws)
	cut := ws[len(ws)/2]
	for k, v := range m {
		if weight(v) <= cut {
			delete(m, k)
		}
	}
}

// relayHost is the host name of relay= ("mx.example.com[192.0.2.1]:25" →
// "mx.example.com"), or the address when the name is unknown.
func relayHost(relay string) string {
	i := strings.IndexByte(relay, '[')
	if i < 0 {
		return relay
	}
	if i > 0 {
		return relay[:i]
	}
	j := strings.IndexByte(relay, ']')
	if j < 0 {
		return relay
	}
	return relay[1:j]
}

func (b *Builder) dest(m map[string]*destAcc, key string, limit int) *destAcc {
	d := m[key]
	if d == nil {
		if len(m) >= limit {
			prune(m, func(d *destAcc) int64 { return d.attempts })
			b.approximate = true
		}
		d = &destAcc{}
		m[key] = d
	}
	return d
}

// add counts an attempt; delayKey is the histogram bucket of a.Delay
// when it was sent.
func (d *destAcc) add(a *correlate.Attempt, size int64, delayKey int) {
	d.attempts++
	switch a.Status {
	case correlate.StatusSent:
		d.sent++
		d.bytes += size
		d.delaySum += a.Delay
		d.delayMax = max(d.delayMax, a.Delay)
		d.delays.addKey(delayKey)
	case correlate.StatusDeferred:
		d.deferred++
	case correlate.StatusBounced:
		d.bounced++
	case correlate.StatusExpired:
		d.expired++
	}
	if a.Status.Failed() && a.Category != "" {
		d.cats = countCat(d.cats, a.Category)
	}
}

// catCount is a category's count in a destAcc: a slice searched in
// order instead of a map, since a domain or relay fails in a few
// categories only (a map lookup hashed the name and read scattered
// memory on every failed delivery).
type catCount struct {
	cat string
	n   int64
}

// countCat adds one to cat's count in cs.
func countCat(cs []catCount, cat string) []catCount {
	for i := range cs {
		if cs[i].cat == cat {
			cs[i].n++
			return cs
		}
	}
	return append(cs, catCount{cat, 1})
}

// catMap returns cs as a map, as topCounts takes.
func catMap(cs []catCount) map[string]int64 {
	m := make(map[string]int64, len(cs))
	for _, c := range cs {
		m[c.cat] += c.n
	}
	return m
}

func (b *Builder) attempt(m, h *correlate.Message, r *correlate.Recipient, a *correlate.Attempt, dom string, null bool) {
	switch a.Status {
	case correlate.StatusSent, correlate.StatusDeferred, correlate.StatusBounced, correlate.StatusExpired:
	default:
		return // address verification probes and other states are not deliveries
	}
	b.seen(a.Time)
	hr, day, hod := b.slot(a.Time)
	switch a.Status {
	case correlate.StatusSent:
		b.del.Sent++
		hr.Sent++
		day.Delivered++
		hod.Delivered++
		b.bytesDeliv += m.Size
		if ra := addr(b, b.rcpts, r.Address, maxAddrs); ra != nil {
			ra.count++
			ra.bytes += m.Size
		}
	case correlate.StatusDeferred:
		b.del.Deferred++
		hr.Deferred++
		day.Deferred++
		hod.Deferred++
	case correlate.StatusBounced:
		b.del.Bounced++
		hr.Bounced++
		day.Bounced++
		hod.Bounced++
	case correlate.StatusExpired:
		b.del.Expired++
		hr.Expired++
	}
	delayKey := 0 // the bucket of delay= of a sent attempt, for three histograms
	if a.Status == correlate.StatusSent {
		delayKey = b.keys.key(a.Delay)
	}
	da := b.dest(b.doms, dom, maxDomains)
	da.add(a, m.Size, delayKey)
	ra := da.relayAcc
	if ra == nil || a.Relay != da.relay || da.relayGen != b.relaysGen {
		if len(b.relays) >= maxRelays {
			b.relaysGen++ // dest prunes: records may go
		}
		ra = b.dest(b.relays, relayHost(a.Relay), maxRelays)
		da.relay, da.relayAcc, da.relayGen = a.Relay, ra, b.relaysGen
	}
	ra.add(a, m.Size, delayKey)

	sk := m.Sender
	if !m.HasSender {
		sk = "?"
	}
	sa := b.senderOf(sk)
	if sa == nil && a.Status != correlate.StatusSent {
		if len(b.senders) >= maxSenders {
			prune(b.senders, func(s *senderAcc) int64 { return s.bounced + s.deferred + s.expired })
			b.approximate = true
		}
		sa = &senderAcc{}
		b.senders[sk] = sa
		b.msgSender = sa
	}
	if sa != nil {
		sa.attempts++
		switch a.Status {
		case correlate.StatusSent:
			sa.sent++
		case correlate.StatusDeferred:
			sa.deferred++
		case correlate.StatusBounced:
			sa.bounced++
			if sa.bouncedTo == nil {
				sa.bouncedTo = map[string]struct{}{}
			}
			if _, ok := sa.bouncedTo[r.Address]; !ok {
				if len(sa.bouncedTo) < maxBouncedSet {
					sa.bouncedTo[r.Address] = struct{}{}
				} else {
					sa.bouncedMore++
				}
			}
		case correlate.StatusExpired:
			sa.expired++
		}
		if !b.msgSASL {
			b.msgSASL = true
			if u := m.Client.SASLUser; u != "" && len(sa.sasl) < 3 && !slices.Contains(sa.sasl, u) {
				sa.sasl = append(sa.sasl, u)
			}
		}
	}

	if a.HasDelays && !a.Synthetic {
		b.withDelays++
		for i := range 4 {
			b.stages[i].addKey(b.keys.key(a.Delays[i]), a.Delays[i])
		}
	}
	if a.Status == correlate.StatusSent && !a.Synthetic {
		b.stages[4].addKey(delayKey, a.Delay)
	}
	b.tune.AttemptRef(a, dom, &da.tune, null)

	if a.Status == correlate.StatusSent {
		return
	}
	cat := a.Category
	if cat == "" {
		cat = correlate.Unclassified
	}
	if !slices.Contains(b.msgCats, cat) {
		b.msgCats = append(b.msgCats, cat)
	}
	c := b.cats[cat]
	if c == nil {
		c = &catAcc{groups: map[string]*groupAcc{}, relays: map[string]int64{}, first: a.Time, last: a.Time}
		b.cats[cat] = c
	}
	c.n++
	switch a.Status {
	case correlate.StatusDeferred:
		c.deferred++
	case correlate.StatusBounced:
		c.bounced++
	case correlate.StatusExpired:
		c.expired++
	}
	c.first = minT(c.first, a.Time)
	if a.Time.After(c.last) {
		c.last = a.Time
	}
	rh := relayHost(a.Relay)
	if _, ok := c.relays[rh]; ok || len(c.relays) < maxGroups {
		c.relays[rh]++
	}
	s := Sample{Time: a.Time, Host: m.Host, QueueID: h.QueueID, Recipient: r.Address, Status: a.Status.String(),
		DSN: a.DSN, Relay: a.Relay, Reason: a.Reason}
	g := c.groups[dom]
	if g == nil {
		if len(c.groups) >= maxGroups {
			prune(c.groups, func(g *groupAcc) int64 { return g.n })
			b.approximate = true
		}
		g = &groupAcc{sample: s}
		c.groups[dom] = g
	} else if sampleLess(&s, &g.sample) {
		g.sample = s
	}
	g.n++
	c.samples = addSample(c.samples, s)

	dk := detailKey{status: a.Status, category: cat, dsn: a.DSN, relay: rh}
	d := b.details[dk]
	if d == nil {
		if len(b.details) >= maxDetails {
			prune(b.details, func(d *detailAcc) int64 { return d.n })
			b.approximate = true
		}
		d = &detailAcc{sample: a.Reason}
		b.details[dk] = d
	} else if a.Reason < d.sample {
		d.sample = a.Reason
	}
	d.n++
}

func sampleLess(x, y *Sample) bool {
	if c := x.Time.Compare(y.Time); c != 0 {
		return c < 0
	}
	if x.QueueID != y.QueueID {
		return x.QueueID < y.QueueID
	}
	if x.Recipient != y.Recipient {
		return x.Recipient < y.Recipient
	}
	return x.Reason < y.Reason
}

// addSample keeps the numSamples distinct reason texts seen first: the
// result is the same whatever order the attempts come in.
func addSample(ss []Sample, s Sample) []Sample {
	for i := range ss {
		if ss[i].Reason == s.Reason {
			if sampleLess(&s, &ss[i]) {
				ss[i] = s
			}
			return ss
		}
	}
	if len(ss) < numSamples {
		return append(ss, s)
	}
	worst := 0
	for i := range ss {
		if sampleLess(&ss[worst], &ss[i]) {
			worst = i
		}
	}
	if sampleLess(&s, &ss[worst]) {
		ss[worst] = s
	}
	return ss
}

// outcomes counts, per category, the messages with a recipient that
// ended in it, and for expiries the deferral that preceded them.
func (b *Builder) outcomes(m *correlate.Message) {
	f := &b.opts.Filter
	var done []string
	var outcomes []correlate.Outcome
	if len(m.Hops) > 0 {
		outcomes = m.Outcomes()
	} else {
		// Without re-injection a recipient's outcome is its own state:
		// no need for Outcomes' copies.
		outcomes = b.outBuf[:0]
		for i := range m.Recipients {
			r := &m.Recipients[i]
			outcomes = append(outcomes, correlate.Outcome{Address: r.Address, Status: r.Status, Category: r.Category, Attempts: r.Attempts})
		}
		b.outBuf = outcomes
	}
	for _, o := range outcomes {
		if b.domain != "" && correlate.Domain(o.Address) != b.domain {
			continue
		}
		switch o.Status {
		case correlate.StatusBounced, correlate.StatusExpired, correlate.StatusDeferred:
		default:
			continue
		}
		cat := o.Category
		if cat == "" {
			cat = correlate.Unclassified
		}
		if f.Category != "" && cat != f.Category {
			continue
		}
		c := b.cats[cat]
		if c == nil || !slices.Contains(b.msgCats, cat) {
			continue
		}
		if !slices.Contains(done, cat) {
			done = append(done, cat)
			c.undelivered++
		}
		if o.Status == correlate.StatusExpired {
			for i := len(o.Attempts) - 1; i >= 0; i-- {
				a := &o.Attempts[i]
				if !a.Synthetic && a.Status == correlate.StatusDeferred {
					if c.causes == nil {
						c.causes = map[string]int64{}
					}
					c.causes[cmp.Or(a.Category, correlate.Unclassified)]++
					break
				}
			}
		}
	}
	for _, cat := range b.msgCats {
		b.cats[cat].messages++
	}
}

// domainOf is correlate.Domain (the lower-cased part after the last @,
// "" without one) in one pass from the end instead of two: it runs for
// every recipient and sender the report counts.
func domainOf(addr string) string {
	upper := false
	for i := len(addr) - 1; i >= 0; i-- {
		switch c := addr[i]; {
		case c == '@':
			if i == len(addr)-1 {
				return ""
			}
			if upper {
				return strings.ToLower(addr[i+1:])
			}
			return addr[i+1:]
		case c >= 'A' && c <= 'Z':
			upper = true
		}
	}
	return ""
}

// ratio is n/d, 0 when d is 0.
func ratio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return math.Round(float64(n)/float64(d)*10000) / 10000
}
