package correlate

import (
	"math"
	"time"

	"github.com/pfdiag/pfdiag/parser"
)

// Hour holds, for one clock hour (UTC), the counts reports and tail need
// without reading message records: lines per kind, unparsed samples,
// traffic, deliveries by status/category/domain/relay, senders, rejects
// without a queue ID, warnings, and delay histograms. Hours are merged
// (Merge) when a checkpoint adds to an hour already stored, so a report
// over --since/--until sums the hours in the window.
//
// Delivery counts are one per to= line, as Postfix logged them, plus one
// per recipient still pending when its message expired (Status expired,
// category queue_expired): genlog's --truth counts the same way.
type Hour struct {
	Start      time.Time // the hour, UTC
	Lines      map[LineKey]int64
	Samples    []Sample // unparsed lines, at most SamplesPerKind per host and kind
	Traffic    map[HostKey]*Traffic
	Deliveries map[DeliveryKey]*DeliveryStat
	Senders    map[SenderKey]*SenderStat
	Rejects    map[RejectKey]*RejectStat
	Warnings   map[WarningKey]*WarningStat
	Delays     map[DelayKey]*DelayStat
}

// SamplesPerKind bounds Hour.Samples per (host, kind); WarningSamples
// bounds WarningStat.Samples.
const (
	SamplesPerKind = 3
	WarningSamples = 3
	maxSampleLen   = 512
)

// LineKey counts lines by host and parser kind.
type LineKey struct {
	Host string
	Kind parser.Kind
}

// HostKey is one Postfix instance on one host.
type HostKey struct {
	Host     string
	Instance string
}

// Sample is one line kept as an example.
type Sample struct {
	Host string
	Kind parser.Kind
	Time time.Time
	Line int64
	Text string
}

// Traffic counts messages and deliveries of one instance in the hour.
type Traffic struct {
	Received      int64 // messages entering the queue from a client or pickup (not re-injections)
	ReceivedBytes int64 // their size= (counted when qmgr logs it)
	Notifications int64 // bounce/delay/success notices generated
	Reinjected    int64 // incarnations that continue another message (content filter, local relay)
	Sent          int64 // to= lines with status=sent
	Deferred      int64
	Bounced       int64
	Expired       int64 // recipients returned to sender by qmgr's expiry
	Held          int64 // messages put on hold
	Deleted       int64 // messages deleted with postsuper
	Rejected      int64 // messages rejected after they had a queue ID
	Removed       int64 // messages that left the queue
	NoQueue       int64 // rejects without a queue ID (smtpd/postscreen NOQUEUE)
}

// DeliveryKey groups delivery attempts.
type DeliveryKey struct {
	Host, Instance string
	Transport      string
	Status         Status
	Category       string // "" for sent
	Domain         string // recipient domain
	Relay          string
}

// DeliveryStat is the count for one DeliveryKey, with delay sums
// (stored with millisecond precision) and a sample.
type DeliveryStat struct {
	Count       int64
	DelaySum    float64
	DelayMax    float64
	DelaysSum   [4]float64
	First, Last time.Time
	// Sample is the first attempt of the hour: queue ID, recipient, dsn,
	// and for failures the reason text.
	SampleQueueID, SampleRecipient, SampleDSN, SampleReason string
}

// SenderKey groups by envelope sender ("" is the null sender <>).
type SenderKey struct {
	Host   string
	Sender string
}

// SenderStat counts one sender's messages and failed delivery attempts
// (a sender with many bounces to distinct recipients is a compromised
// account or a bad list).
type SenderStat struct {
	Messages int64 // messages received from this sender
	Bytes    int64
	Deferred int64 // failed delivery attempts by status
	Bounced  int64
	Expired  int64
}

// RejectKey groups rejects and other check actions logged by smtpd,
// postscreen and cleanup, NOQUEUE or not.
type RejectKey struct {
	Host        string
	Daemon      string // "smtpd", "postscreen", "cleanup"
	Action      string // "reject", "discard", "hold", "warn", "milter-reject", …
	Stage       string // "RCPT", "MAIL", "CONNECT", "END-OF-MESSAGE", "header", …
	Code        int    // 550
	Enhanced    string // "5.1.1"
	Category    string // from the Classifier
	Reason      string // normalised text (addresses, IPs and numbers masked)
	ClientHost  string
	ClientIP    string
	Domain      string // recipient domain, "" when the line has no to=
	HasQueueID  bool   // false for NOQUEUE
	Postscreen  bool   // postscreen's own verdict lines
	SenderIsNul bool   // from=<>
}

// RejectStat counts one RejectKey.
type RejectStat struct {
	Count       int64
	First, Last time.Time
	Sample      string // one raw reason text
	SampleFrom  string
	SampleTo    string
}

// WarningKey groups warning:, error:, fatal: and panic: lines.
type WarningKey struct {
	Host     string
	Severity string // "warning", "error", "fatal", "panic"
	Daemon   string
	Text     string // normalised
}

// WarningStat counts one WarningKey.
type WarningStat struct {
	Count       int64
	First, Last time.Time
	Samples     []string // raw texts, at most WarningSamples
}

// DelayKey groups delay histograms.
type DelayKey struct {
	Host, Instance string
	Status         Status
}

// DelayBounds are the upper bounds (seconds) of the delay histogram
// buckets; a last bucket catches everything above.
var DelayBounds = [...]float64{
	0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
	7200, 14400, 43200, 86400, 172800, 432000,
}

// NumDelayBuckets is len(DelayBounds)+1.
const NumDelayBuckets = len(DelayBounds) + 1

// Histogram counts values in DelayBounds buckets.
type Histogram [NumDelayBuckets]int64

// Add counts v.
func (h *Histogram) Add(v float64) { h[bucketOf(v)]++ }

// bucketOf is sort.SearchFloat64s(DelayBounds[:], v) (the first bound
// >= v; len(DelayBounds) above them all, and for NaN) without its call
// through a closure per step: the aggregator adds five values per
// delivery, most of them zero or a fraction of a second.
func bucketOf(v float64) int {
	b := &DelayBounds
	if v <= b[0] {
		return 0
	}
	// A binary search without branches to mispredict: base moves past
	// every bound that is not >= v (a NaN is >= nothing, so it ends past
	// them all, as in sort.SearchFloat64s).
	base, n := 0, len(b)
	for n > 1 {
		half := n / 2
		if !(b[base+half] >= v) {
			base += half
		}
		n -= half
	}
	if !(b[base] >= v) {
		base++
	}
	return base
}

// Count returns the number of values.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket holding quantile q
// (0 < q ≤ 1); +Inf for the last bucket, NaN when empty.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(n)))
	if rank < 1 {
		rank = 1
	}
	var c int64
	for i, v := range h {
		c += v
		if c >= rank {
			if i < len(DelayBounds) {
				return DelayBounds[i]
			}
			return math.Inf(1)
		}
	}
	return math.Inf(1)
}

// DelayStat holds histograms of delay= and of each delays= stage:
// a (before the queue manager), b (queue manager), c (connection set-up),
// d (transmission).
type DelayStat struct {
	Total  Histogram
	Stages [4]Histogram
}

// NewHour returns an empty hour starting at t truncated to the hour (UTC).
func NewHour(t time.Time) *Hour {
	return &Hour{
		Start:      t.UTC().Truncate(time.Hour),
		Lines:      map[LineKey]int64{},
		Traffic:    map[HostKey]*Traffic{},
		Deliveries: map[DeliveryKey]*DeliveryStat{},
		Senders:    map[SenderKey]*SenderStat{},
		Rejects:    map[RejectKey]*RejectStat{},
		Warnings:   map[WarningKey]*WarningStat{},
		Delays:     map[DelayKey]*DelayStat{},
	}
}

// hourSizes are map sizes an Hour is made with: the previous hour's,
// so that a busy hour's maps do not grow (rehashing every key) from empty.
type hourSizes struct{ lines, deliveries, senders, rejects, warnings int }

func (h *Hour) sizes() hourSizes {
	return hourSizes{len(h.Lines), len(h.Deliveries), len(h.Senders), len(h.Rejects), len(h.Warnings)}
}

func newHourSized(t time.Time, n hourSizes) *Hour {
	return &Hour{
		Start:      t.UTC().Truncate(time.Hour),
		Lines:      make(map[LineKey]int64, n.lines),
		Traffic:    map[HostKey]*Traffic{},
		Deliveries: make(map[DeliveryKey]*DeliveryStat, n.deliveries),
		Senders:    make(map[SenderKey]*SenderStat, n.senders),
		Rejects:    make(map[RejectKey]*RejectStat, n.rejects),
		Warnings:   make(map[WarningKey]*WarningStat, n.warnings),
		Delays:     map[DelayKey]*DelayStat{},
	}
}

func (h *Hour) traffic(k HostKey) *Traffic {
	t := h.Traffic[k]
	if t == nil {
		t = &Traffic{}
		h.Traffic[k] = t
	}
	return t
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (t *Traffic) add(o *Traffic) {
	t.Received += o.Received
	t.ReceivedBytes += o.ReceivedBytes
	t.Notifications += o.Notifications
	t.Reinjected += o.Reinjected
	t.Sent += o.Sent
	t.Deferred += o.Deferred
	t.Bounced += o.Bounced
	t.Expired += o.Expired
	t.Held += o.Held
	t.Deleted += o.Deleted
	t.Rejected += o.Rejected
	t.Removed += o.Removed
	t.NoQueue += o.NoQueue
}

// Merge adds o's counts to h. Both must be the same hour.
func (h *Hour) Merge(o *Hour) {
	for k, v := range o.Lines {
		h.Lines[k] += v
	}
	h.addSamples(o.Samples)
	for k, v := range o.Traffic {
		h.traffic(k).add(v)
	}
	for k, v := range o.Deliveries {
		d := h.Deliveries[k]
		if d == nil {
			c := *v
			h.Deliveries[k] = &c
			continue
		}
		d.Count += v.Count
		d.DelaySum += v.DelaySum
		d.DelayMax = math.Max(d.DelayMax, v.DelayMax)
		for i := range d.DelaysSum {
			d.DelaysSum[i] += v.DelaysSum[i]
		}
		if v.First.Before(d.First) {
			d.SampleQueueID, d.SampleRecipient, d.SampleDSN, d.SampleReason = v.SampleQueueID, v.SampleRecipient, v.SampleDSN, v.SampleReason
		}
		d.First, d.Last = minTime(d.First, v.First), maxTime(d.Last, v.Last)
	}
	for k, v := range o.Senders {
		s := h.Senders[k]
		if s == nil {
			c := *v
			h.Senders[k] = &c
			continue
		}
		s.Messages += v.Messages
		s.Bytes += v.Bytes
		s.Deferred += v.Deferred
		s.Bounced += v.Bounced
		s.Expired += v.Expired
	}
	for k, v := range o.Rejects {
		r := h.Rejects[k]
		if r == nil {
			c := *v
			h.Rejects[k] = &c
			continue
		}
		r.Count += v.Count
		if v.First.Before(r.First) {
			r.Sample, r.SampleFrom, r.SampleTo = v.Sample, v.SampleFrom, v.SampleTo
		}
		r.First, r.Last = minTime(r.First, v.First), maxTime(r.Last, v.Last)
	}
	for k, v := range o.Warnings {
		w := h.Warnings[k]
		if w == nil {
			c := *v
			c.Samples = append([]string(nil), v.Samples...)
			h.Warnings[k] = &c
			continue
		}
		w.Count += v.Count
		w.First, w.Last = minTime(w.First, v.First), maxTime(w.Last, v.Last)
		for _, s := range v.Samples {
			if len(w.Samples) >= WarningSamples {
				break
			}
			w.Samples = append(w.Samples, s)
		}
	}
	for k, v := range o.Delays {
		d := h.Delays[k]
		if d == nil {
			c := *v
			h.Delays[k] = &c
			continue
		}
		for i := range d.Total {
			d.Total[i] += v.Total[i]
		}
		for s := range d.Stages {
			for i := range d.Stages[s] {
				d.Stages[s][i] += v.Stages[s][i]
			}
		}
	}
}

// addSamples keeps at most SamplesPerKind samples per (host, kind).
func (h *Hour) addSamples(ss []Sample) {
	for _, s := range ss {
		n := 0
		for i := range h.Samples {
			if h.Samples[i].Host == s.Host && h.Samples[i].Kind == s.Kind {
				n++
			}
		}
		if n < SamplesPerKind {
			h.Samples = append(h.Samples, s)
		}
	}
}

// Empty reports whether the hour holds nothing.
func (h *Hour) Empty() bool {
	return len(h.Lines) == 0 && len(h.Samples) == 0 && len(h.Traffic) == 0 &&
		len(h.Deliveries) == 0 && len(h.Senders) == 0 && len(h.Rejects) == 0 &&
		len(h.Warnings) == 0 && len(h.Delays) == 0
}

// Totals sums hours into one (Start is the first hour's). It is what a
// report over a window starts from.
func Totals(hours []*Hour) *Hour {
	t := NewHour(time.Time{})
	for i, h := range hours {
		if i == 0 {
			t.Start = h.Start
		}
		t.Merge(h)
	}
	return t
}

// LineCount sums Lines over hosts for one kind.
func (h *Hour) LineCount(k parser.Kind) int64 {
	var n int64
	for key, v := range h.Lines {
		if key.Kind == k {
			n += v
		}
	}
	return n
}

// AllLines sums every line.
func (h *Hour) AllLines() int64 {
	var n int64
	for _, v := range h.Lines {
		n += v
	}
	return n
}

// Unparsed sums malformed, unknown and foreign lines.
func (h *Hour) Unparsed() int64 {
	return h.LineCount(parser.KindMalformed) + h.LineCount(parser.KindUnknown) + h.LineCount(parser.KindForeign)
}

// TotalTraffic sums Traffic over hosts and instances.
func (h *Hour) TotalTraffic() Traffic {
	var t Traffic
	for _, v := range h.Traffic {
		t.add(v)
	}
	return t
}
