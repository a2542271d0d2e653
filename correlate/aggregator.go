package correlate

import (
	"time"
	"unsafe"
)

// The hour aggregates that take map work for every delivery and message
// (traffic, deliveries, senders, delay histograms) are kept by an
// aggregator. The correlator records what to add as ops, in batches;
// the aggregator applies them in order, inline or, while an Ingester
// reads a file, on its own goroutine: the correlator's goroutine is the
// critical path of an ingest, and these maps were a quarter of its work.
// Everything an op needs is copied into it (strings are immutable), so
// the result does not depend on when it is applied. Checkpoint waits for
// the ops recorded before it.
//
// Lines, samples, rejects and warnings stay with the correlator's
// hourAcc; Checkpoint joins the two halves of each hour.

// deliveryOp is one attempt for Correlator.account.
type deliveryOp struct {
	t                          time.Time
	host, inst, transport      string
	category, domain, relay    string
	queueID, rcpt, dsn, reason string
	sender                     string
	delay                      float64
	delays                     [4]float64
	status                     Status
	hasDelays, synthetic       bool
	hasSender                  bool
}

// countOp moves a message into (n=1) or out of (n=-1) an hour's
// received, notification or re-injected counts.
type countOp struct {
	idx        int64
	n          int64
	size       int64
	host, inst string
	sender     string
	kind       byte
}

// trafficOp adds n to one Traffic counter (or only makes the row).
type trafficOp struct {
	idx        int64
	host, inst string
	field      trafficField
	n          int64
}

type trafficField uint8

const (
	trafficTouch trafficField = iota // the row exists, nothing added
	trafficHeld
	trafficDeleted
	trafficRemoved
	trafficRejected
	trafficNoQueue
)

// opBatch is a batch of ops, applied type by type: ops of different types
// only add to counters (or make rows), so their relative order does not
// change the result; within a type the order is kept (first/last times
// and samples depend on it).
type opBatch struct {
	deliveries []deliveryOp
	counts     []countOp
	traffic    []trafficOp
	barrier    chan struct{} // closed once the batch (and those before it) is applied
}

func (b *opBatch) len() int { return len(b.deliveries) + len(b.counts) + len(b.traffic) }

// reset empties b for reuse. The ops are not cleared: clearing made the
// aggregator's core write every line of the batch (about 250 bytes a
// delivery) just before the correlator's core overwrote them, so each
// line went back and forth between the two cores' caches twice. What
// the stale ops keep alive (strings of at most a dozen batches) is
// overwritten when the batch is filled again.
func (b *opBatch) reset() {
	b.deliveries, b.counts, b.traffic, b.barrier = b.deliveries[:0], b.counts[:0], b.traffic[:0], nil
}

// opBatchSize: small enough that the batches in flight stay small (they
// are scanned by the garbage collector: at most 12 batches of about
// 500 KB of deliveries), large enough to make handing one over rare (a
// few hundred times per million lines).
const opBatchSize = 2048

type aggregator struct {
	hours    map[int64]*aggHour
	curIdx   int64
	cur      *aggHour
	sizeHint hourSizes

	// The goroutine, while started.
	feed chan *opBatch
	free chan *opBatch
	done chan struct{}
}

// aggHour is the aggregator's half of one hour.
type aggHour struct {
	h          *Hour // Traffic, Deliveries, Senders and Delays
	lastTrKey  HostKey
	lastTr     *Traffic
	delayCache [4]delayEntry
	delayNext  int
	dcache     *[256]deliveryEntry
}

func newAggregator() *aggregator {
	return &aggregator{hours: map[int64]*aggHour{}, curIdx: -1 << 62}
}

func (g *aggregator) hour(idx int64) *aggHour {
	if idx == g.curIdx {
		return g.cur
	}
	a := g.hours[idx]
	if a == nil {
		if g.cur != nil {
			g.sizeHint = g.cur.h.sizes()
		}
		a = &aggHour{h: newHourSized(time.Unix(idx*3600, 0), g.sizeHint)}
		g.hours[idx] = a
	}
	g.curIdx, g.cur = idx, a
	return a
}

// start runs the aggregator on its own goroutine until stop.
func (g *aggregator) start() {
	g.feed, g.free, g.done = make(chan *opBatch, 4), make(chan *opBatch, 8), make(chan struct{})
	go func(feed <-chan *opBatch, free chan<- *opBatch, done chan<- struct{}) {
		defer close(done)
		for b := range feed {
			g.apply(b)
			if b.barrier != nil {
				close(b.barrier)
			}
			b.reset()
			select {
			case free <- b:
			default:
			}
		}
	}(g.feed, g.free, g.done)
}

// stop ends the goroutine once it has applied everything sent.
func (g *aggregator) stop() {
	if g.feed == nil {
		return
	}
	close(g.feed)
	<-g.done
	g.feed, g.free, g.done = nil, nil, nil
}

// submit applies b, or hands it to the goroutine and returns an empty
// batch to fill next.
func (g *aggregator) submit(b *opBatch) *opBatch {
	if g.feed == nil {
		g.apply(b)
		if b.barrier != nil {
			close(b.barrier)
		}
		b.reset()
		return b
	}
	g.feed <- b
	select {
	case nb := <-g.free:
		return nb
	default:
		return &opBatch{}
	}
}

func (g *aggregator) apply(b *opBatch) {
	for i := range b.deliveries {
		g.delivery(&b.deliveries[i])
	}
	for i := range b.counts {
		g.count(&b.counts[i])
	}
	for i := range b.traffic {
		op := &b.traffic[i]
		tr := g.hour(op.idx).trafficFor(op.host, op.inst)
		switch op.field {
		case trafficHeld:
			tr.Held += op.n
		case trafficDeleted:
			tr.Deleted += op.n
		case trafficRemoved:
			tr.Removed += op.n
		case trafficRejected:
			tr.Rejected += op.n
		case trafficNoQueue:
			tr.NoQueue += op.n
		}
	}
}

// delivery adds one attempt (what Correlator.account did in place).
func (g *aggregator) delivery(op *deliveryOp) {
	a := g.hour(hourIndex(op.t))
	tr := a.trafficFor(op.host, op.inst)
	switch op.status {
	case StatusSent:
		tr.Sent++
	case StatusDeferred:
		tr.Deferred++
	case StatusBounced:
		tr.Bounced++
	case StatusExpired:
		tr.Expired++
	}
	k := DeliveryKey{Host: op.host, Instance: op.inst, Transport: op.transport, Status: op.status,
		Category: op.category, Domain: op.domain, Relay: op.relay}
	d, e := a.delivery(&k)
	if d == nil {
		d = &DeliveryStat{First: op.t, SampleQueueID: op.queueID, SampleRecipient: op.rcpt, SampleDSN: op.dsn}
		if op.status != StatusSent {
			// A "250 Ok" tells a report nothing; a failure's text does.
			d.SampleReason = op.reason
		}
		a.h.Deliveries[k] = d
		e.k, e.s = k, d
	}
	d.Count++
	d.DelaySum += op.delay
	if op.delay > d.DelayMax {
		d.DelayMax = op.delay
	}
	for i := range d.DelaysSum {
		d.DelaysSum[i] += op.delays[i]
	}
	d.Last = op.t
	if op.status.Failed() && op.hasSender {
		sk := SenderKey{op.host, op.sender}
		s := a.h.Senders[sk]
		if s == nil {
			s = &SenderStat{}
			a.h.Senders[sk] = s
		}
		switch op.status {
		case StatusDeferred:
			s.Deferred++
		case StatusBounced:
			s.Bounced++
		case StatusExpired:
			s.Expired++
		}
	}
	if !op.synthetic {
		ds := a.delayFor(op.host, op.inst, op.status)
		ds.Total.Add(op.delay)
		if op.hasDelays {
			for i := range ds.Stages {
				ds.Stages[i].Add(op.delays[i])
			}
		}
	}
}

// count is what Correlator.countDelta did in place.
func (g *aggregator) count(op *countOp) {
	a := g.hour(op.idx)
	tr := a.trafficFor(op.host, op.inst)
	switch op.kind {
	case 'r':
		tr.Received += op.n
		tr.ReceivedBytes += op.n * op.size
		sk := SenderKey{op.host, op.sender}
		s := a.h.Senders[sk]
		if s == nil {
			s = &SenderStat{}
			a.h.Senders[sk] = s
		}
		s.Messages += op.n
		s.Bytes += op.n * op.size
	case 'n':
		tr.Notifications += op.n
	case 'i':
		tr.Reinjected += op.n
	}
}

// take returns the aggregator's half of every hour and forgets them.
func (g *aggregator) take() map[int64]*aggHour {
	hs := g.hours
	if g.cur != nil {
		g.sizeHint = g.cur.h.sizes()
	}
	g.hours, g.cur, g.curIdx = map[int64]*aggHour{}, nil, -1<<62
	return hs
}

// trafficFor is Hour.traffic with a one-entry cache: most lines of a log
// come from one instance.
func (a *aggHour) trafficFor(host, inst string) *Traffic {
	if a.lastTr != nil && a.lastTrKey.Host == host && a.lastTrKey.Instance == inst {
		return a.lastTr
	}
	k := HostKey{host, inst}
	a.lastTrKey, a.lastTr = k, a.h.traffic(k)
	return a.lastTr
}

func (a *aggHour) delayFor(host, inst string, st Status) *DelayStat {
	k := DelayKey{host, inst, st}
	for i := range a.delayCache {
		if e := &a.delayCache[i]; e.s != nil && e.k == k {
			return e.s
		}
	}
	ds := a.h.Delays[k]
	if ds == nil {
		ds = &DelayStat{}
		a.h.Delays[k] = ds
	}
	a.delayCache[a.delayNext] = delayEntry{k, ds}
	a.delayNext = (a.delayNext + 1) % len(a.delayCache)
	return ds
}

// deliveryEntry caches a DeliveryKey's stat by the identity of its
// strings (interned: the same value is the same string), which is
// cheaper than hashing and comparing seven strings.
type deliveryEntry struct {
	k DeliveryKey
	s *DeliveryStat
}

type delayEntry struct {
	k DelayKey
	s *DelayStat
}

// sameStr reports whether a and b are the same string in memory (equal
// content follows; the converse need not hold).
func sameStr(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

func strID(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

// delivery returns the hour's stat for k, nil when there is none yet, and
// the cache entry to fill.
func (a *aggHour) delivery(k *DeliveryKey) (*DeliveryStat, *deliveryEntry) {
	if a.dcache == nil {
		a.dcache = new([256]deliveryEntry)
		// Its entries are read before they are written. Written once
		// now, the fresh pages are mapped writable at their first fault,
		// instead of mapping the shared zero page at the first read and
		// replacing it at the first store (a second fault and a TLB
		// flush on every CPU).
		clear(a.dcache[:])
	}
	h := (strID(k.Domain)*31+strID(k.Relay))*31 + strID(k.Category) + uintptr(k.Status)
	h ^= h >> 17
	h *= 0x9e3779b1
	e := &a.dcache[(h>>8)&255]
	if e.s != nil && e.k.Status == k.Status && sameStr(e.k.Domain, k.Domain) && sameStr(e.k.Relay, k.Relay) &&
		sameStr(e.k.Category, k.Category) && sameStr(e.k.Host, k.Host) && sameStr(e.k.Instance, k.Instance) &&
		sameStr(e.k.Transport, k.Transport) {
		return e.s, e
	}
	d := a.h.Deliveries[*k]
	if d != nil {
		e.k, e.s = *k, d
	}
	return d, e
}
