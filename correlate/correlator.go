package correlate

import (
	"bytes"
	"cmp"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/pfdiag/pfdiag/parser"
)

// Classifier returns the taxonomy category (see taxonomy.md) of a failed
// delivery or a reject. correlate does not import the rules engine (the
// dependency goes the other way); cmd/pfdiag passes rules.Engine.Classify.
// status is the Postfix status word ("deferred", "bounced", "expired") or
// "reject" for smtpd/cleanup/postscreen check actions.
type Classifier func(reason, daemon, status, dsn, relay, domain string) string

// Unclassified is the category used when there is no Classifier or it
// returns "".
const Unclassified = "unclassified"

// QueueExpired is the category of a recipient returned by qmgr's expiry.
const QueueExpired = "queue_expired"

// Options configure a Correlator. The zero value is usable.
type Options struct {
	// Classify assigns categories to failures and rejects.
	Classify Classifier
	// MaxOpen bounds the messages held in memory; beyond it the least
	// recently seen are written out as still queued. 0 means 200000.
	MaxOpen int
	// StaleAfter: a message qmgr never took ("queue active"), idle this
	// long in log time, was never queued (the client left, or cleanup
	// refused the file) and is written out as aborted. 0 means 1h.
	StaleAfter time.Duration
	// Grace is how long (log time) a finished message waits for a late
	// "queued as" re-injection line before it is written. Checkpoints
	// write everything finished regardless. 0 means 30s.
	Grace time.Duration
	// LinkWindow bounds the time between a message queued through a
	// local relay and the re-injected copy's first line. 0 means 10m.
	LinkWindow time.Duration
	// OnAttempt, when set, is called for every delivery attempt as it is
	// recorded (to= lines, and expiries), with its category: live tail
	// counts and reports from it. m, r and a belong to the correlator and
	// are valid only during the call.
	OnAttempt func(m *Message, r *Recipient, a *Attempt)
}

func (o *Options) defaults() {
	if o.MaxOpen <= 0 {
		o.MaxOpen = 200000
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = time.Hour
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.LinkWindow <= 0 {
		o.LinkWindow = 10 * time.Minute
	}
}

// Stats counts what one Correlator saw.
type Stats struct {
	Lines      int64
	Unparsed   int64            // malformed, unknown and foreign lines
	Messages   int64            // messages first seen (re-injected copies and notifications included once)
	Finished   int64            // messages that left the queue (or were written out)
	Deliveries [numStatus]int64 // attempts by status, expiries included
	Rejects    int64            // reject actions (NOQUEUE or not)
	Warnings   int64            // warning/error/fatal/panic lines
}

// openState is the correlator's bookkeeping for a message in memory.
type openState struct {
	open      int   // root: nodes of the tree not finished yet
	finished  bool  // this node left its queue
	persisted bool  // root: stored as an open message by a checkpoint
	dirty     bool  // root: changed since the last checkpoint
	inGrace   bool  // root: finished, waiting in the grace queue
	emitted   bool  // root: handed to the index
	expired   bool  // qmgr logged the expiry
	counted   byte  // traffic bucket counted in: 'r' received, 'n' notification, 'i' re-injected
	spareUsed uint8 // block's first recipient (1) and first attempt (2) are in use
	countedAt int64
	doneAt    time.Time
	doneSeq   int64
	graceRefs int32          // entries of the grace queue that point to this message
	rcptIdx   map[string]int // recipients by address, for large messages
	block     *msgBlock      // the allocation this state is part of (nil when restored)
	next      *Message       // next incarnation in the queue with the same queue ID
	slot      *qidSlot       // its queue ID's slot, while the slot points to it
}

// qidSlot is what the correlator holds per queue ID: one map entry for
// the three things it looks up by queue ID alone, so that a message's
// life (created, finished, written) costs few map operations. A slot
// leaves the map when all three are nil.
type qidSlot struct {
	qid  string   // the key
	hash uint64   // of qid, with the table's seed
	next *qidSlot // in the table's chain
	// active: the incarnations in the queue, chained by state.next (the
	// rare ones of other hosts or instances hang off the first).
	active *Message
	// gone: the last incarnation that left the queue and has not been
	// handed to the index yet. A reused queue ID first seen in the same
	// second as that incarnation (hand-written logs, or a classic log's
	// one-second resolution) would otherwise get the same Ref and
	// overwrite it in the checkpoint: its First is moved on by a
	// microsecond instead.
	gone *Message
	// smtp: the root received by smtpd (a re-injection candidate; the
	// host is checked).
	smtp *Message
}

func (s *qidSlot) empty() bool { return s.active == nil && s.gone == nil && s.smtp == nil }

type session struct {
	host, prog string
	pid        int
	connect    time.Time
	port       int
	helo       string
	next       *session
}

type expectation struct {
	parent *Message
	t      time.Time
}

// hourAcc accumulates the correlator's half of one hour's aggregate
// delta between checkpoints: lines, samples, rejects and warnings (the
// aggregator keeps the rest).
type hourAcc struct {
	h         *Hour
	lines     map[string]*[64]int64
	lastHost  string
	lastLines *[64]int64
}

// Correlator is the state machine that turns parser events into Messages.
// It is not safe for concurrent use: one goroutine feeds it events in log
// order and takes its output.
//
// Finished messages are collected until TakeDone; Checkpoint returns what
// must be stored atomically with the read position (open messages that
// changed, hour aggregates, other state).
type Correlator struct {
	opts    Options
	qids    qidTable // queue ID → incarnations in the queue, the last gone, the smtpd root
	nactive int
	// freeSlots are dropped slots, for reuse.
	freeSlots []*qidSlot
	// lastGot is the incarnation activeFind found last: a message's lines
	// mostly follow each other. Any change to the incarnations in the
	// queue forgets it.
	lastGot  *Message
	expect   map[string]*expectation
	sessions sessionTable // smtpd sessions by pid, host and program
	freeSess []*session
	grace    []*Message
	graceAt  int
	graceFor time.Time // the now graceCut is for
	graceCut time.Time // now - Grace
	// The head of the grace queue was found waiting at log time waitNow:
	// it keeps waiting, without a look at it, while the log time stays
	// waitNow and seq stays below waitSeq (its grace in lines). Anything
	// that changes a message's grace state clears waitHead.
	waitHead *Message
	waitNow  time.Time
	waitSeq  int64
	done     []*Message
	closed   []Ref
	pool     *msgPool    // blocks of written messages, for reuse (Ingester.Release)
	spare    []*msgBlock // blocks taken from pool
	hours    map[int64]*hourAcc
	curIdx   int64
	accT     time.Time // the time accAt was last asked about, in hour accIdxT
	accIdxT  int64
	cur      *hourAcc
	sizeHint hourSizes // map sizes for the next hour
	agg      *aggregator
	ops      *opBatch // ops recorded for the aggregator, not handed over yet
	now      time.Time
	seq      int64 // events processed over the index's life (sweeps are deterministic)
	stats    Stats

	strs     *interner // hosts, relays, domains, categories, normalised texts
	reasons  *interner // failure reasons (they repeat; "sent" replies mostly do not)
	tok      tokens    // daemons, instances, dsn, actions, stages…
	kb       []byte
	scratch  []byte
	rejCat   map[string]string
	catCache map[catKey]string
	pre      string // the category of the event being processed when the Ingester classified it ahead
	seed     maphash.Seed

	lastHost string
	// relayLocal remembers localRelay by interned relay (the same string
	// in memory is the same value: strings are immutable, and the entry
	// keeps it alive).
	relayLocal [64]struct {
		relay string
		local bool
	}
}

// sweepEvery is how often (events) stale messages, sessions and expected
// links are looked for.
const sweepEvery = 1 << 16

// graceLines bounds the grace period in lines too, whatever the log's
// clock does.
const graceLines = 1 << 15

// New returns a Correlator.
func New(opts Options) *Correlator {
	opts.defaults()
	seed := maphash.MakeSeed()
	return &Correlator{
		opts:     opts,
		sessions: newSessionTable(seed),
		qids:     newQidTable(seed),
		expect:   map[string]*expectation{},
		hours:    map[int64]*hourAcc{},
		agg:      newAggregator(),
		pool:     &msgPool{},
		ops:      &opBatch{},
		curIdx:   -1 << 62,
		// 8192 front slots: a 1M-line genlog asks for ~5000 distinct
		// hosts, relays, domains and categories, and with 2048 one
		// lookup in ten went to the map (32k, cache-cold); with 8192,
		// 12k.
		strs:     newInterner(1<<14, 1<<13),
		reasons:  newInterner(1<<12, 1<<10),
		rejCat:   map[string]string{},
		catCache: map[catKey]string{},
		seed:     seed,
	}
}

// Stats returns the counts so far.
func (c *Correlator) Stats() Stats { return c.stats }

// Open returns the number of messages in memory that have not left the queue.
func (c *Correlator) Open() int { return c.nactive }

// The queue-ID map is keyed by queue ID alone (cheap to hash, no key to
// build); the rare incarnations of one ID on other hosts or instances
// hang off the first.

// sameID is s == string(b), deciding most unequal queue IDs by their
// last byte without a call.
func sameID(s string, b []byte) bool {
	n := len(b)
	return len(s) == n && (n == 0 || s[n-1] == b[n-1]) && s == string(b)
}

// activeFind returns the incarnation in the queue, or nil and the queue
// ID's slot (nil when there is none) for create.
func (c *Correlator) activeFind(host string, inst, qid []byte) (*Message, *qidSlot) {
	// (Hosts are interned: a message's Host is mostly the very string
	// host is, which sameStr tells without a call.)
	if m := c.lastGot; m != nil && sameID(m.QueueID, qid) && (sameStr(m.Host, host) || m.Host == host) && m.Instance == string(inst) {
		return m, nil
	}
	s := c.qids.get(qid)
	if s == nil {
		return nil, nil
	}
	for m := s.active; m != nil; m = m.state.next {
		if (sameStr(m.Host, host) || m.Host == host) && m.Instance == string(inst) {
			c.lastGot = m
			return m, s
		}
	}
	return nil, s
}

func (c *Correlator) activeGet(host string, inst, qid []byte) *Message {
	m, _ := c.activeFind(host, inst, qid)
	return m
}

// slotOf returns the slot of m's queue ID, or nil. A slot that points to
// m is the one in m's state: it cannot leave the map while it does.
func (c *Correlator) slotOf(m *Message) *qidSlot {
	if m.state != nil && m.state.slot != nil {
		return m.state.slot
	}
	return c.qids.getString(m.QueueID)
}

// slotFor returns the slot of qid, adding one.
func (c *Correlator) slotFor(qid string) *qidSlot {
	s := c.qids.getString(qid)
	if s == nil {
		s = c.newSlot()
		s.qid = qid
		c.qids.add(s)
	}
	return s
}

// newSlot returns an empty slot, reusing a dropped one. A message's
// state may still point to a dropped slot: every use of it through a
// message that is no longer in the queue compares the message with what
// the slot holds, and a slot holds only messages of its queue ID.
func (c *Correlator) newSlot() *qidSlot {
	if n := len(c.freeSlots); n > 0 {
		s := c.freeSlots[n-1]
		c.freeSlots = c.freeSlots[:n-1]
		return s
	}
	return &qidSlot{}
}

// dropSlot removes s, the slot of qid, from the map once it holds nothing.
func (c *Correlator) dropSlot(s *qidSlot, qid string) {
	if s.empty() {
		c.qids.remove(s)
		*s = qidSlot{}
		if len(c.freeSlots) < 4096 {
			c.freeSlots = append(c.freeSlots, s)
		}
	}
}

// activeAdd puts m in the queue; s is its queue ID's slot or nil.
func (c *Correlator) activeAdd(m *Message, s *qidSlot) {
	c.lastGot = nil
	if s == nil {
		s = c.slotFor(m.QueueID)
	}
	m.state.slot = s
	m.state.next = s.active
	s.active = m
	c.nactive++
}

func (c *Correlator) activeDel(m *Message) {
	c.lastGot = nil
	s := c.slotOf(m)
	if s == nil {
		return
	}
	var prev *Message
	for e := s.active; e != nil; prev, e = e, e.state.next {
		if e != m {
			continue
		}
		if prev != nil {
			prev.state.next = e.state.next
		} else {
			s.active = e.state.next
		}
		e.state.next = nil
		c.nactive--
		c.dropSlot(s, m.QueueID)
		return
	}
}

// activeList returns the incarnations in the queue, in a stable order.
func (c *Correlator) activeList() []*Message {
	out := make([]*Message, 0, c.nactive)
	c.qids.all(func(s *qidSlot) {
		for m := s.active; m != nil; m = m.state.next {
			out = append(out, m)
		}
	})
	sortByRef(out)
	return out
}

func (c *Correlator) sessionGet(host string, ev *parser.Event) (*session, *session) {
	var prev *session
	for s := *c.sessions.bucket(ev.PID); s != nil; prev, s = s, s.next {
		if s.pid == ev.PID && s.host == host && s.prog == string(ev.Program) {
			return s, prev
		}
	}
	return nil, nil
}

func (c *Correlator) sessionDel(s, prev *session) { c.sessions.del(s, prev) }

// sessionAdd adds s in place of a session of the same host, program and
// process.
func (c *Correlator) sessionAdd(s *session) { c.sessions.add(s) }

// Sessions are reused: a busy server opens one per connection.
func (c *Correlator) newSession() *session {
	if n := len(c.freeSess); n > 0 {
		s := c.freeSess[n-1]
		c.freeSess = c.freeSess[:n-1]
		return s
	}
	return new(session)
}

func (c *Correlator) freeSession(s *session) {
	if len(c.freeSess) < 1024 {
		*s = session{}
		c.freeSess = append(c.freeSess, s)
	}
}

// sessionList returns the open smtpd sessions in a stable order.
func (c *Correlator) sessionList() []*session {
	var out []*session
	c.sessions.all(func(s *session) { out = append(out, s) })
	slices.SortFunc(out, func(a, b *session) int {
		if a.pid != b.pid {
			return a.pid - b.pid
		}
		if a.host != b.host {
			return cmp.Compare(a.host, b.host)
		}
		return cmp.Compare(a.prog, b.prog)
	})
	return out
}

func (c *Correlator) sessionFind(host, prog string, pid int) (*session, *session) {
	return c.sessions.find(host, prog, pid)
}

// Now returns the log time of the latest event.
func (c *Correlator) Now() time.Time { return c.now }

// TakeDone returns the messages finished since the last call (roots, with
// their hops) and forgets them.
func (c *Correlator) TakeDone() []*Message {
	d := c.done
	c.done = nil
	return d
}

func hourIndex(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - 3599) / 3600
	}
	return u / 3600
}

func (c *Correlator) acc(t time.Time) *hourAcc {
	idx := hourIndex(t)
	if idx == c.curIdx {
		return c.cur
	}
	return c.accIdx(idx)
}

// accAt is acc for the line being processed: most lines have the time of
// the line before, whose hour is the current one.
func (c *Correlator) accAt(t time.Time) *hourAcc {
	if t == c.accT && c.cur != nil && c.curIdx == c.accIdxT {
		return c.cur
	}
	a := c.acc(t)
	c.accT, c.accIdxT = t, c.curIdx
	return a
}

func (c *Correlator) accIdx(idx int64) *hourAcc {
	a := c.hours[idx]
	if a == nil {
		if c.cur != nil {
			c.sizeHint = c.cur.h.sizes()
		}
		a = &hourAcc{h: newHourSized(time.Unix(idx*3600, 0), c.sizeHint), lines: map[string]*[64]int64{}}
		c.hours[idx] = a
	}
	c.curIdx, c.cur = idx, a
	return a
}

func (a *hourAcc) line(host string, k parser.Kind) {
	// (host is interned: mostly the very string of the line before,
	// which sameStr tells without a call.)
	if a.lastLines == nil || !sameStr(a.lastHost, host) && a.lastHost != host {
		l := a.lines[host]
		if l == nil {
			l = new([64]int64)
			a.lines[host] = l
		}
		a.lastHost, a.lastLines = host, l
	}
	a.lastLines[k&63]++
}

// host returns the interned host name; most lines are from the same host
// as the one before.
func (c *Correlator) host(b []byte) string {
	if len(b) == len(c.lastHost) && len(b) > 0 && string(b) == c.lastHost {
		return c.lastHost
	}
	return c.newHost(b)
}

func (c *Correlator) newHost(b []byte) string {
	s := c.strs.get(b)
	c.lastHost = s
	return s
}

func (c *Correlator) hkey(host string, qid []byte) []byte {
	c.kb = append(c.kb[:0], host...)
	c.kb = append(c.kb, 0)
	c.kb = append(c.kb, qid...)
	return c.kb
}

func validQID(q []byte) bool {
	return len(q) > 0 && string(q) != "NOQUEUE"
}

// lookup returns the incarnation in the queue, counting the line.
func (c *Correlator) lookup(host string, inst, qid []byte, t time.Time) *Message {
	m, _ := c.activeFind(host, inst, qid)
	if m != nil {
		c.seen(m, t)
	}
	return m
}

// seen counts a line of m at t.
func (c *Correlator) seen(m *Message, t time.Time) {
	if after(t, m.LastSeen) {
		m.LastSeen = t
	}
	m.Lines++
	c.touch(m)
}

// get returns the incarnation in the queue, creating one: the first line
// of a queue ID not in the queue starts a new incarnation.
func (c *Correlator) get(host string, inst, qid []byte, t time.Time) *Message {
	m, s := c.activeFind(host, inst, qid)
	if m != nil {
		c.seen(m, t)
		return m
	}
	m = c.create(host, inst, qid, t, s)
	m.Lines = 1
	return m
}

// newMessage allocates a message with its state, its first recipient and
// that recipient's first attempt in one block: most messages have one
// recipient, and four allocations per message were a third of the
// correlator's. A block handed back by Ingester.Release is reused first.
func (c *Correlator) newMessage() *Message {
	if len(c.spare) == 0 {
		c.spare = c.pool.take(c.spare)
	}
	var b *msgBlock
	if n := len(c.spare); n > 0 {
		b = c.spare[n-1]
		c.spare[n-1] = nil
		c.spare = c.spare[:n-1]
	} else {
		b = new(msgBlock)
	}
	b.m.state = &b.st
	// The spare slots are used when the first recipient and attempt come
	// (until then the slices stay nil: nil and empty differ to callers).
	b.st.block = b
	b.m.pooled = true
	return &b.m
}

// msgBlock is newMessage's allocation (896 bytes).
type msgBlock struct {
	m  Message
	st openState
	r  [1]Recipient
	a  [1]Attempt
}

// msgPool keeps message blocks handed back by the index writer's
// goroutine (Ingester.Release) until the correlator takes them: finished
// messages were a quarter of all the memory an ingest allocates.
type msgPool struct {
	mu   sync.Mutex
	free []*msgBlock // zeroed
}

// maxPooled bounds the blocks kept (about 7 MB): more than the index
// writer's queue holds.
const maxPooled = 8192

// take moves the free blocks into dst (empty) and returns it.
func (p *msgPool) take(dst []*msgBlock) []*msgBlock {
	p.mu.Lock()
	dst, p.free = p.free, dst
	p.mu.Unlock()
	return dst
}

// put zeroes the blocks of the recyclable trees among msgs and keeps them.
func (p *msgPool) put(msgs []*Message) {
	var blocks []*msgBlock
	for _, root := range msgs {
		if !root.recycle {
			continue
		}
		root.Walk(func(h *Message) {
			// Only pooled messages are marked recyclable (see emit); the
			// Message is the block's first field.
			blocks = append(blocks, (*msgBlock)(unsafe.Pointer(h)))
		})
	}
	if len(blocks) == 0 {
		return
	}
	for _, b := range blocks {
		*b = msgBlock{}
	}
	p.mu.Lock()
	if n := maxPooled - len(p.free); n < len(blocks) {
		blocks = blocks[:max(n, 0)]
	}
	p.free = append(p.free, blocks...)
	p.mu.Unlock()
}

// create starts an incarnation; s is the queue ID's slot as activeFind
// returned it (nil: none yet).
func (c *Correlator) create(host string, inst, qid []byte, t time.Time, s *qidSlot) *Message {
	return c.createID(host, inst, string(qid), t, s)
}

// createID is create with the queue ID made a string by the caller.
func (c *Correlator) createID(host string, inst []byte, qid string, t time.Time, s *qidSlot) *Message {
	m := c.newMessage()
	m.Ref = Ref{Host: host, Instance: c.tok.get(inst), QueueID: qid, First: t}
	if s == nil {
		s = c.newSlot()
		s.qid = m.QueueID
		c.qids.add(s)
	}
	if g := s.gone; g != nil && g.state != nil && g.Host == m.Host && g.Instance == m.Instance && !t.After(g.First) {
		m.First = g.First.Add(time.Microsecond) // the codec keeps microseconds
	}
	m.LastSeen = t
	m.state.open = 1
	c.activeAdd(m, s)
	c.stats.Messages++
	c.touch(m)
	return m
}

// touch marks the root of m as changed since the last checkpoint. Dirty
// roots are found through the queue-ID slots at the checkpoint, so finished
// messages are not kept alive by a list of changes.
func (c *Correlator) touch(m *Message) {
	r := m.Root()
	if r.state != nil {
		r.state.dirty = true
	}
}

// Process feeds one event. Events must come in log order.
func (c *Correlator) Process(ev *parser.Event) {
	c.seq++
	t := ev.Time
	switch {
	case t.IsZero():
		t = c.now
	case t != c.now && moves(t, c.now):
		// Log time follows the log: forward, and back when the log's
		// clock jumps back (year inference after the file's mtime, a
		// host's clock reset). Small steps back are several writers'
		// lines arriving out of order.
		c.now = t
	}
	host := c.host(ev.Host)
	a := c.accAt(t)
	a.line(host, ev.Kind)
	c.stats.Lines++

	switch ev.Kind {
	case parser.KindMalformed, parser.KindUnknown, parser.KindForeign:
		c.stats.Unparsed++
		c.sample(a, host, ev, t)
	case parser.KindConnect:
		if string(ev.Daemon) == "smtpd" {
			s := c.newSession()
			*s = session{host: host, prog: c.tok.get(ev.Program), pid: ev.PID, connect: t, port: ev.ClientPort}
			c.sessionAdd(s)
		}
	case parser.KindDisconnect:
		if string(ev.Daemon) == "smtpd" {
			if s, prev := c.sessionGet(host, ev); s != nil {
				c.sessionDel(s, prev)
				c.freeSession(s)
			}
		}
	case parser.KindClient:
		if validQID(ev.QueueID) {
			c.client(ev, host, t)
		}
	case parser.KindPickup:
		if validQID(ev.QueueID) {
			m := c.get(host, ev.Instance, ev.QueueID, t)
			m.Origin = OriginPickup
			m.Client.Service = c.tok.get(ev.Daemon)
			m.Client.PID = ev.PID
			m.Client.UID, m.Client.HasUID = ev.UID, ev.HasUID
			if ev.HasFrom && !m.HasSender {
				m.Sender, m.HasSender = string(ev.From), true
			}
			if m.Arrival.IsZero() {
				m.Arrival = t
			}
		}
	case parser.KindMessageID:
		if validQID(ev.QueueID) {
			m := c.get(host, ev.Instance, ev.QueueID, t)
			if m.MessageID == "" || !ev.Resent {
				m.MessageID = string(ev.MessageID)
			}
			if m.Arrival.IsZero() {
				m.Arrival = t
			}
		}
	case parser.KindQueued:
		if validQID(ev.QueueID) {
			c.queued(ev, host, t)
		}
	case parser.KindDelivery:
		if validQID(ev.QueueID) {
			c.delivery(ev, host, t)
		}
	case parser.KindExpired:
		if validQID(ev.QueueID) {
			c.expired(ev, host, t)
		}
	case parser.KindNotification:
		if validQID(ev.QueueID) && validQID(ev.NewQueueID) {
			c.notification(ev, host, t)
		}
	case parser.KindRemoved:
		if validQID(ev.QueueID) {
			m := c.get(host, ev.Instance, ev.QueueID, t)
			c.finish(m, c.removedFate(m), t)
		}
	case parser.KindPostsuper:
		if validQID(ev.QueueID) {
			c.postsuper(ev, host, t)
		}
	case parser.KindReject:
		c.reject(ev, host, t, a)
	case parser.KindWarning:
		c.warning(ev, host, t, a)
	default:
		// Other lines about a queued message (smtp's "host … said:"
		// about one MX of several, skipped) are linked to it.
		if validQID(ev.QueueID) && ev.Kind != parser.KindMaster {
			c.lookup(host, ev.Instance, ev.QueueID, t)
		}
	}
	if !c.graceWaiting() {
		c.drainGrace(false)
	}
	if c.seq%sweepEvery == 0 {
		c.sweep()
	}
}

// moves reports whether the log time t moves the clock from now: t is
// after now, or more than an hour before it. It is t.After(now) ||
// hourBefore(t, now) from one reading of each time's seconds (log times
// carry no monotonic clock reading, which After would compare instead).
func moves(t, now time.Time) bool {
	ts, ns := t.Unix(), now.Unix()
	tn, nn := t.Nanosecond(), now.Nanosecond()
	d := ns - ts
	return ts > ns || ts == ns && tn > nn || d > 3600 || d == 3600 && nn > tn
}

// after is t.After(u) for log times (no monotonic clock reading).
func after(t, u time.Time) bool {
	ts, us := t.Unix(), u.Unix()
	return ts > us || ts == us && t.Nanosecond() > u.Nanosecond()
}

// hourBefore reports whether t is more than an hour before now
// (now.Sub(t) > time.Hour without Duration's overflow handling).
func hourBefore(t, now time.Time) bool {
	d := now.Unix() - t.Unix()
	return d > 3600 || d == 3600 && now.Nanosecond() > t.Nanosecond()
}

func (c *Correlator) sample(a *hourAcc, host string, ev *parser.Event, t time.Time) {
	n := 0
	for i := range a.h.Samples {
		if a.h.Samples[i].Kind == ev.Kind && a.h.Samples[i].Host == host {
			n++
		}
	}
	if n < SamplesPerKind {
		a.h.Samples = append(a.h.Samples, Sample{Host: host, Kind: ev.Kind, Time: t, Line: ev.Line, Text: sample(ev.Raw)})
	}
}

func (c *Correlator) client(ev *parser.Event, host string, t time.Time) {
	// The client's name and address, and the queue ID of a new message,
	// share one allocation: client= is most messages' first line.
	b := append(append(append(c.scratch[:0], ev.ClientHost...), ev.ClientIP...), ev.SASLUser...)
	m, s := c.activeFind(host, ev.Instance, ev.QueueID)
	if m == nil {
		b = append(b, ev.QueueID...)
	}
	c.scratch = b
	all := string(b)
	nh, na, nu := len(ev.ClientHost), len(ev.ClientHost)+len(ev.ClientIP), len(ev.ClientHost)+len(ev.ClientIP)+len(ev.SASLUser)
	if m != nil {
		c.seen(m, t)
	} else {
		m = c.createID(host, ev.Instance, all[nu:], t, s)
		m.Lines = 1
	}
	m.Origin = OriginSMTP
	cl := &m.Client
	cl.Host = all[:nh]
	cl.IP = all[nh:na]
	if ev.ClientPort != 0 {
		cl.Port = ev.ClientPort
	}
	if len(ev.SASLUser) > 0 {
		cl.SASLMethod = c.tok.get(ev.SASLMethod)
		cl.SASLUser = all[na:nu]
	}
	if len(ev.Service) > 0 {
		c.scratch = append(append(append(c.scratch[:0], ev.Service...), '/'), ev.Daemon...)
		cl.Service = c.tok.get(c.scratch)
	} else {
		cl.Service = c.tok.get(ev.Daemon)
	}
	cl.PID = ev.PID
	if s, _ := c.sessionGet(host, ev); s != nil {
		cl.Connect = s.connect
		if cl.Port == 0 {
			cl.Port = s.port
		}
		if s.helo != "" {
			cl.Helo = s.helo
		}
	}
	if m.Arrival.IsZero() {
		m.Arrival = t
	}
	if m.parent != nil {
		return
	}
	if len(c.expect) > 0 {
		k := c.hkey(host, ev.QueueID)
		if x := c.expect[string(k)]; x != nil {
			delete(c.expect, string(k))
			if t.Sub(x.t) <= c.opts.LinkWindow && c.adopt(x.parent, m) {
				return
			}
		}
	}
	c.slotOf(m).smtp = m
}

func (c *Correlator) queued(ev *parser.Event, host string, t time.Time) {
	m := c.get(host, ev.Instance, ev.QueueID, t)
	first := !m.Queued
	m.Queued = true
	if ev.HasFrom && (!m.HasSender || m.Sender != string(ev.From)) {
		// (A deferred message's sender is logged again at every retry.)
		m.Sender, m.HasSender = string(ev.From), true
	}
	m.Size = ev.Size
	m.Nrcpt = ev.Nrcpt
	if m.Fate == FateHeld {
		c.release(m)
	}
	if m.Arrival.IsZero() {
		m.Arrival = t
	}
	// A message first seen at qmgr arrived before the log began: it is
	// not counted as received in this window.
	if first && m.state.counted == 0 && (m.Lines > 1 || m.Origin != OriginUnknown) {
		kind := byte('r')
		switch {
		case m.parent != nil:
			kind = 'i'
		case m.Origin == OriginNotification:
			kind = 'n'
		}
		c.count(m, kind, t)
	}
}

// count adds m to the hour's traffic as received, notification or
// re-injected; recount moves it when a later line tells what it was.
func (c *Correlator) count(m *Message, kind byte, t time.Time) {
	st := m.state
	st.counted, st.countedAt = kind, hourIndex(t)
	c.countDelta(m, kind, st.countedAt, 1)
}

func (c *Correlator) recount(m *Message, kind byte) {
	st := m.state
	if st == nil || st.counted == 0 || st.counted == kind {
		return
	}
	c.countDelta(m, st.counted, st.countedAt, -1)
	st.counted = kind
	c.countDelta(m, kind, st.countedAt, 1)
}

func (c *Correlator) countDelta(m *Message, kind byte, idx int64, n int64) {
	c.ops.counts = append(c.ops.counts, countOp{idx: idx, n: n, size: m.Size, host: m.Host, inst: m.Instance, sender: m.Sender, kind: kind})
	c.opAdded()
}

// opAdded hands the ops over when a batch is full.
func (c *Correlator) opAdded() {
	if c.ops.len() >= opBatchSize {
		c.ops = c.agg.submit(c.ops)
	}
}

// traffic records n more of one Traffic counter of m's instance at t.
func (c *Correlator) traffic(host, inst string, t time.Time, f trafficField, n int64) {
	c.ops.traffic = append(c.ops.traffic, trafficOp{idx: hourIndex(t), host: host, inst: inst, field: f, n: n})
	c.opAdded()
}

// syncAgg waits until the aggregator has applied every op recorded.
func (c *Correlator) syncAgg() {
	b := c.ops
	b.barrier = make(chan struct{})
	done := b.barrier
	c.ops = c.agg.submit(b)
	<-done
}

// startAggregator applies the ops on a goroutine of their own until
// stopAggregator (the Ingester does it while it reads a file).
func (c *Correlator) startAggregator() {
	if c.agg.feed == nil {
		c.agg.start()
	}
}

func (c *Correlator) stopAggregator() {
	if c.agg.feed != nil {
		c.syncAgg()
		c.agg.stop()
	}
}

func parseStatus(b []byte) Status {
	switch string(b) {
	case "sent":
		return StatusSent
	case "deferred":
		return StatusDeferred
	case "bounced":
		return StatusBounced
	}
	return ParseStatus(string(b))
}

// recipientFor finds or adds the recipient.
func (m *Message) recipientFor(to, origTo []byte) *Recipient {
	if r := m.findRecipient(to); r != nil {
		return r
	}
	return m.addRecipient(string(to), string(origTo))
}

// findRecipient returns the recipient with the address, or nil.
func (m *Message) findRecipient(to []byte) *Recipient {
	st := m.state
	if st != nil && st.rcptIdx != nil {
		if i, ok := st.rcptIdx[string(to)]; ok {
			return &m.Recipients[i]
		}
	} else {
		for i := range m.Recipients {
			if m.Recipients[i].Address == string(to) {
				return &m.Recipients[i]
			}
		}
	}
	return nil
}

// addRecipient adds a recipient findRecipient did not find.
func (m *Message) addRecipient(to, origTo string) *Recipient {
	st := m.state
	if m.Recipients == nil {
		switch {
		case m.Nrcpt > 1:
			// qmgr said how many recipients come: one allocation instead
			// of growing through 1, 2, 4, 8… (each a copy, and fresh
			// memory to fault in).
			m.Recipients = make([]Recipient, 0, min(m.Nrcpt, maxPresized))
		case st != nil && st.block != nil && st.spareUsed&1 == 0:
			// The first recipient goes in newMessage's slot.
			m.Recipients = st.block.r[:0:1]
			st.spareUsed |= 1
		}
	}
	m.Recipients = append(m.Recipients, Recipient{Address: to, OrigTo: origTo})
	if st != nil {
		if st.rcptIdx == nil && len(m.Recipients) > 16 {
			st.rcptIdx = make(map[string]int, 2*len(m.Recipients))
			for i := range m.Recipients {
				st.rcptIdx[m.Recipients[i].Address] = i
			}
		} else if st.rcptIdx != nil {
			st.rcptIdx[to] = len(m.Recipients) - 1
		}
	}
	return &m.Recipients[len(m.Recipients)-1]
}

// maxPresized bounds the recipients room made from nrcpt= (a hostile
// nrcpt=100000000 must not allocate gigabytes); past it the slice grows.
const maxPresized = 256

// classify asks the Classifier, remembering its answers for the exact
// same input: a deferred recipient is retried with the same reply for
// hours, and a classifier (normalising, matching rules) costs
// microseconds per call.
func (c *Correlator) classify(reason, daemon, status, dsn, relay, domain string) string {
	if c.opts.Classify == nil {
		return Unclassified
	}
	// Keyed by a seeded 64-bit hash of the fields and their length (as
	// the rules engine's exact cache): no key string to build, copy and
	// compare for texts of a few hundred bytes.
	var h maphash.Hash
	h.SetSeed(c.seed)
	n := len(status)
	h.WriteString(status)
	for _, f := range [...]string{dsn, daemon, domain, relay, reason} {
		h.WriteByte(0)
		h.WriteString(f)
		n += 1 + len(f)
	}
	key := catKey{h.Sum64(), n}
	if cat, ok := c.catCache[key]; ok {
		return cat
	}
	cat := c.opts.Classify(reason, daemon, status, dsn, relay, domain)
	if cat == "" {
		cat = Unclassified
	}
	cat = c.strs.get([]byte(cat))
	if len(c.catCache) >= 1<<12 {
		clear(c.catCache)
	}
	c.catCache[key] = cat
	return cat
}

type catKey struct {
	h uint64
	n int
}

func (c *Correlator) delivery(ev *parser.Event, host string, t time.Time) {
	m := c.get(host, ev.Instance, ev.QueueID, t)
	m.Queued = true
	st := parseStatus(ev.Status)
	internReason := st != StatusSent && len(ev.Reason) <= 256
	r := m.findRecipient(ev.To)
	var reason string
	if r == nil && !internReason {
		// A new recipient and a reason kept as it is ("250 2.0.0 Ok:
		// queued as …" seldom repeats): one allocation for the address,
		// the original address and the reason.
		b := append(append(append(c.scratch[:0], ev.To...), ev.OrigTo...), ev.Reason...)
		c.scratch = b
		all := string(b)
		na, no := len(ev.To), len(ev.To)+len(ev.OrigTo)
		r = m.addRecipient(all[:na], all[na:no])
		reason = all[no:]
	} else {
		if r == nil {
			r = m.addRecipient(string(ev.To), string(ev.OrigTo))
		}
		if internReason {
			reason = c.reasons.get(ev.Reason)
		} else {
			reason = string(ev.Reason)
		}
	}
	if r.OrigTo == "" && len(ev.OrigTo) > 0 {
		r.OrigTo = string(ev.OrigTo)
	}
	at := Attempt{
		Time:      t,
		Line:      ev.Line,
		Daemon:    c.tok.get(ev.Daemon),
		Relay:     c.strs.get(ev.Relay),
		Delay:     ev.Delay,
		Delays:    ev.Delays,
		HasDelays: ev.HasDelays,
		DSN:       c.tok.get(ev.DSN),
		Status:    st,
	}
	at.Transport = at.Daemon
	if len(ev.Service) > 0 {
		at.Transport = c.tok.get(ev.Service)
	}
	at.Reason = reason
	domain := c.strs.lower(domainBytes(ev.To), &c.scratch)
	if st.Failed() {
		if c.pre != "" {
			at.Category = c.pre // classified ahead, from the same inputs (Ingester)
		} else {
			at.Category = c.classify(at.Reason, at.Daemon, string(ev.Status), at.DSN, at.Relay, domain)
		}
	}
	if m.Arrival.IsZero() || (m.Origin == OriginUnknown && ev.Delay > 0) {
		if ev.Delay > 0 {
			a := t.Add(-time.Duration(ev.Delay * float64(time.Second)))
			if m.Arrival.IsZero() || a.Before(m.Arrival) {
				m.Arrival = a
			}
		} else if m.Arrival.IsZero() {
			m.Arrival = t
		}
	}
	var child []byte
	if st == StatusSent && c.localRelay(at.Relay, ev.Relay) {
		if q := queuedAs(ev.Reason); q != nil && !bytes.Equal(q, ev.QueueID) {
			child = q
			at.QueuedAs = string(q)
		}
	}
	if st := m.state; r.Attempts == nil && st.block != nil && st.spareUsed&2 == 0 {
		r.Attempts = st.block.a[:0:1]
		st.spareUsed |= 2
	}
	r.Attempts = append(r.Attempts, at)
	if m.Fate != FateHeld {
		r.Status = st
	}
	r.Category = at.Category
	c.account(m, r.Address, &at, domain, t)
	if c.opts.OnAttempt != nil {
		c.opts.OnAttempt(m, r, &r.Attempts[len(r.Attempts)-1])
	}
	if child != nil {
		c.link(m, host, child, t)
	}
}

// localRelay is localRelay(b) for the interned relay s (the same
// bytes), remembered by the identity of s: most deliveries go to a few
// relays, and the test scanned each relay= value byte by byte.
func (c *Correlator) localRelay(s string, b []byte) bool {
	if len(s) == 0 {
		return localRelay(b)
	}
	e := &c.relayLocal[(strID(s)>>4)&(uintptr(len(c.relayLocal))-1)]
	if !sameStr(e.relay, s) {
		e.relay, e.local = s, localRelay(b)
	}
	return e.local
}

func domainBytes(addr []byte) []byte {
	i := bytes.LastIndexByte(addr, '@')
	if i < 0 {
		return nil
	}
	return addr[i+1:]
}

// account adds one attempt to the hour's aggregates.
func (c *Correlator) account(m *Message, rcpt string, at *Attempt, domain string, t time.Time) {
	c.stats.Deliveries[at.Status]++
	c.ops.deliveries = append(c.ops.deliveries, deliveryOp{
		t: t, host: m.Host, inst: m.Instance, transport: at.Transport,
		category: at.Category, domain: domain, relay: at.Relay,
		queueID: m.QueueID, rcpt: rcpt, dsn: at.DSN, reason: at.Reason, sender: m.Sender,
		delay: at.Delay, delays: at.Delays, status: at.Status,
		hasDelays: at.HasDelays, synthetic: at.Synthetic, hasSender: m.HasSender,
	})
	c.opAdded()
}

// link connects a message handed to a local relay with the queue that
// accepted it ("queued as child").
func (c *Correlator) link(parent *Message, host string, child []byte, t time.Time) {
	if s := c.qids.get(child); s != nil && s.smtp != nil {
		ch := s.smtp
		if ch.state != nil && !ch.state.emitted && ch.parent == nil && ch.Host == host &&
			ch.First.After(t.Add(-c.opts.LinkWindow)) && !ch.First.After(t.Add(c.opts.LinkWindow)) {
			if c.adopt(parent, ch) {
				return
			}
		}
	}
	// The copy has not logged its first line yet (lines of two instances
	// interleave): wait for it.
	c.expect[string(c.hkey(host, child))] = &expectation{parent: parent, t: t}
	parent.linked = true // c.expect points to it: its blocks are never reused
}

// adopt makes child (a root) a hop of parent.
func (c *Correlator) adopt(parent, child *Message) bool {
	proot := parent.Root()
	if child.parent != nil || child == proot || child.state == nil || child.state.emitted ||
		proot.state == nil || proot.state.emitted {
		return false
	}
	cs := child.state
	c.waitHead = nil
	cs.inGrace = false
	proot.state.open += cs.open
	if proot.state.open > 0 {
		proot.state.inGrace = false
	}
	if cs.persisted {
		c.closed = append(c.closed, child.Ref)
		cs.persisted = false
	}
	child.parent = parent
	parent.Hops = append(parent.Hops, child)
	c.recount(child, 'i')
	c.stats.Messages--
	if s := c.slotOf(child); s != nil && s.smtp == child {
		s.smtp = nil
		c.dropSlot(s, child.QueueID)
	}
	if proot.state.open == 0 && !proot.state.inGrace && proot.state.finished {
		// Both were finished: back to the grace queue as one.
		c.toGrace(proot)
	}
	c.touch(parent)
	return true
}

func (c *Correlator) expired(ev *parser.Event, host string, t time.Time) {
	m := c.get(host, ev.Instance, ev.QueueID, t)
	if ev.HasFrom && !m.HasSender {
		m.Sender, m.HasSender = string(ev.From), true
	}
	if m.state.expired {
		return
	}
	m.state.expired = true
	c.scratch = append(append(append(c.scratch[:0], ev.Status...), ", "...), ev.Reason...)
	reason := c.reasons.get(c.scratch)
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if !r.Status.Pending() {
			continue
		}
		at := Attempt{Time: t, Line: ev.Line, Daemon: c.tok.get(ev.Daemon), Status: StatusExpired,
			Reason: reason, Category: QueueExpired, Synthetic: true}
		if n := len(r.Attempts); n > 0 {
			last := &r.Attempts[n-1]
			at.DSN, at.Relay, at.Transport = last.DSN, last.Relay, last.Transport
			at.Delay = t.Sub(m.Arrival).Seconds()
			if m.Arrival.IsZero() || at.Delay < 0 {
				at.Delay = 0
			}
		}
		r.Attempts = append(r.Attempts, at)
		r.Status, r.Category = StatusExpired, QueueExpired
		c.account(m, r.Address, &at, c.strs.lower([]byte(Domain(r.Address)), &c.scratch), t)
		if c.opts.OnAttempt != nil {
			c.opts.OnAttempt(m, r, &r.Attempts[len(r.Attempts)-1])
		}
	}
}

func (c *Correlator) notification(ev *parser.Event, host string, t time.Time) {
	m := c.get(host, ev.Instance, ev.QueueID, t)
	child, s := c.activeFind(host, ev.Instance, ev.NewQueueID)
	if child == nil {
		child = c.create(host, ev.Instance, ev.NewQueueID, t, s)
	}
	to := "sender"
	if bytes.Contains(ev.Msg, []byte("postmaster ")) {
		to = "postmaster"
	}
	kind := c.tok.get(ev.Notice)
	m.Notices = append(m.Notices, Notice{Kind: kind, To: to, Ref: child.Ref, Time: t})
	if child.NoticeFor == nil && child != m {
		child.NoticeFor = &Notice{Kind: kind, To: to, Ref: m.Ref, Time: t}
		child.Origin = OriginNotification
		c.recount(child, 'n')
		c.touch(child)
	}
}

// removedFate decides the fate of a message qmgr removed.
func (c *Correlator) removedFate(m *Message) Fate {
	if m.state.expired {
		return FateExpired
	}
	sent, failed := 0, 0
	for i := range m.Recipients {
		switch m.Recipients[i].Status {
		case StatusBounced, StatusExpired, StatusUndeliverable:
			failed++
		case StatusSent, StatusDeliverable:
			sent++
		}
	}
	switch {
	case failed > 0:
		return FateBounced
	case sent > 0:
		return FateDelivered
	}
	return FateRemoved
}

func (c *Correlator) postsuper(ev *parser.Event, host string, t time.Time) {
	m := c.get(host, ev.Instance, ev.QueueID, t)
	action := c.tok.get(ev.Action)
	m.Notes = append(m.Notes, Note{Time: t, Line: ev.Line, Daemon: c.tok.get(ev.Daemon), Action: action})
	c.acc(t)
	c.traffic(m.Host, m.Instance, t, trafficTouch, 0) // the row, whatever the action
	switch action {
	case "removed":
		for i := range m.Recipients {
			if r := &m.Recipients[i]; r.Status.Pending() {
				r.Status = StatusDeleted
			}
		}
		c.traffic(m.Host, m.Instance, t, trafficDeleted, 1)
		c.finish(m, FateDeleted, t)
	case "placed on hold":
		c.hold(m, t)
	case "released from hold":
		c.release(m)
	}
}

// hold puts m on hold, counting it in the traffic of the hour of t.
func (c *Correlator) hold(m *Message, t time.Time) {
	if m.Fate != FateHeld {
		c.traffic(m.Host, m.Instance, t, trafficHeld, 1)
	} else {
		c.traffic(m.Host, m.Instance, t, trafficTouch, 0)
	}
	m.Held = true
	m.Fate = FateHeld
	for i := range m.Recipients {
		if r := &m.Recipients[i]; r.Status.Pending() {
			r.Status = StatusHeld
		}
	}
}

func (c *Correlator) release(m *Message) {
	m.Held = false
	m.Fate = FateQueued
	for i := range m.Recipients {
		r := &m.Recipients[i]
		if r.Status != StatusHeld {
			continue
		}
		r.Status = StatusQueued
		if n := len(r.Attempts); n > 0 {
			r.Status = r.Attempts[n-1].Status
		}
	}
}

// finish records that m left its queue.
func (c *Correlator) finish(m *Message, f Fate, t time.Time) {
	st := m.state
	if st == nil || st.finished {
		return
	}
	m.Fate, m.FateTime = f, t
	st.finished = true
	// The slot keeps m as gone: activeDel does not drop it.
	c.slotOf(m).gone = m
	c.activeDel(m)
	c.acc(t)
	c.traffic(m.Host, m.Instance, t, trafficRemoved, 1)
	if f == FateRejected {
		c.traffic(m.Host, m.Instance, t, trafficRejected, 1)
	}
	c.touch(m)
	root := m.Root()
	root.state.open--
	if root.state.open <= 0 {
		root.state.open = 0
		c.toGrace(root)
	}
}

func (c *Correlator) toGrace(root *Message) {
	c.waitHead = nil
	root.state.finished = root.state.finished || root.Fate.Final()
	root.state.inGrace = true
	root.state.doneAt = c.now
	root.state.doneSeq = c.seq
	root.state.graceRefs++
	c.grace = append(c.grace, root)
}

// graceWaiting is drainGrace's test that nothing is due, small enough to
// be inlined in Process.
func (c *Correlator) graceWaiting() bool {
	return c.waitHead != nil && c.seq < c.waitSeq && c.now == c.waitNow && c.graceAt < len(c.grace) &&
		c.grace[c.graceAt] == c.waitHead
}

// drainGrace hands finished messages whose grace period is over (or all,
// at a checkpoint) to the index.
func (c *Correlator) drainGrace(all bool) {
	// Called for every line: most of the time the head is still waiting.
	if !all && c.waitHead != nil && c.graceAt < len(c.grace) && c.grace[c.graceAt] == c.waitHead &&
		c.seq < c.waitSeq && c.now == c.waitNow {
		return
	}
	c.waitHead = nil
	if c.now != c.graceFor {
		c.graceFor, c.graceCut = c.now, c.now.Add(-c.opts.Grace)
	}
	for c.graceAt < len(c.grace) {
		r := c.grace[c.graceAt]
		if r.state == nil {
			c.grace[c.graceAt] = nil
			c.graceAt++
			continue
		}
		// Waiting: finished less than Grace ago in log time (and not
		// after "now": the log's clock went back since) and less than
		// graceLines lines ago.
		if r.state.inGrace && !all && !after(c.graceCut, r.state.doneAt) &&
			!after(r.state.doneAt, c.now) && c.seq-r.state.doneSeq < graceLines {
			c.waitHead, c.waitNow, c.waitSeq = r, c.now, r.state.doneSeq+graceLines
			break
		}
		c.grace[c.graceAt] = nil
		c.graceAt++
		r.state.graceRefs--
		if r.state.inGrace && !r.state.emitted && r.parent == nil && r.state.open == 0 {
			r.state.inGrace = false
			c.emit(r)
		}
	}
	if c.graceAt == len(c.grace) {
		c.grace, c.graceAt = c.grace[:0], 0
	} else if c.graceAt > 1024 && c.graceAt > len(c.grace)/2 {
		n := copy(c.grace, c.grace[c.graceAt:])
		clear(c.grace[n:])
		c.grace, c.graceAt = c.grace[:n], 0
	}
}

func (c *Correlator) emit(root *Message) {
	c.waitHead = nil
	st := root.state
	st.emitted = true
	if st.persisted {
		c.closed = append(c.closed, root.Ref)
		st.persisted = false
	}
	// The blocks of the tree can be reused once the index has written it
	// (Ingester.Release) unless the correlator still points to one: from
	// a later entry of the grace queue (skipped once the state is gone),
	// or from an expected re-injection.
	if len(root.Hops) == 0 {
		// Most messages are one queue incarnation.
		root.recycle = root.pooled && !root.linked && st.graceRefs == 0
		c.forget(root)
	} else {
		recycle := true
		root.Walk(func(h *Message) {
			if !h.pooled || h.linked || h.state == nil || h.state.graceRefs != 0 {
				recycle = false
			}
		})
		root.recycle = recycle
		root.Walk(c.forget)
	}
	// Keep the root's state pointer cleared: the message is immutable now.
	c.done = append(c.done, root)
	c.stats.Finished++
}

// forget drops what the correlator holds of h, which is being written.
func (c *Correlator) forget(h *Message) {
	if s := c.slotOf(h); s != nil {
		if s.gone == h || s.smtp == h {
			if s.gone == h {
				s.gone = nil
			}
			if s.smtp == h {
				s.smtp = nil
			}
			c.dropSlot(s, h.QueueID)
		}
	}
	if h.state != nil && !h.state.finished {
		// Written out while still queued (MaxOpen): forget it.
		c.activeDel(h)
	}
	h.state = nil
}

func (c *Correlator) reject(ev *parser.Event, host string, t time.Time, a *hourAcc) {
	daemon := c.tok.get(ev.Daemon)
	action := c.tok.get(ev.Action)
	hasQID := validQID(ev.QueueID)
	if string(ev.Daemon) == "smtpd" && len(ev.Helo) > 0 {
		if s, _ := c.sessionGet(host, ev); s != nil {
			s.helo = string(ev.Helo)
		}
	}
	isReject := action == "reject" || action == "milter-reject" || action == "proxy-reject"
	if isReject {
		c.stats.Rejects++
	}
	// Aggregate every check action; reports pick the ones they show.
	c.scratch = normalizeText(c.scratch[:0], ev.Reason)
	norm := c.reasons.get(c.scratch)
	domain := c.strs.lower(domainBytes(ev.To), &c.scratch)
	cat := ""
	if isReject || action == "discard" || action == "hold" {
		var ok bool
		c.kb = append(append(append(c.kb[:0], ev.Stage...), 0), norm...)
		if cat, ok = c.rejCat[string(c.kb)]; !ok {
			ck := string(c.kb)
			cat = c.classify(string(ev.Reason), daemon, "reject", c.tok.get(ev.Enhanced), "", domain)
			if len(c.rejCat) > 4096 {
				clear(c.rejCat)
			}
			c.rejCat[ck] = cat
		}
	}
	// The client's name and address, and the samples of a new row, are
	// substrings of one allocation (most rejects are from a new client).
	b := append(append(c.scratch[:0], ev.ClientHost...), ev.ClientIP...)
	b = appendSample(b, ev.Reason)
	ns := len(b)
	b = append(append(b, ev.From...), ev.To...)
	c.scratch = b
	all := string(b)
	nh, ni, nf := len(ev.ClientHost), len(ev.ClientHost)+len(ev.ClientIP), ns+len(ev.From)
	k := RejectKey{
		Host: host, Daemon: daemon, Action: action, Stage: c.tok.get(ev.Stage), Code: ev.Code,
		Enhanced: c.tok.get(ev.Enhanced), Category: cat, Reason: norm,
		ClientHost: all[:nh], ClientIP: all[nh:ni], Domain: domain,
		HasQueueID: hasQID, Postscreen: daemon == "postscreen", SenderIsNul: ev.HasFrom && len(ev.From) == 0,
	}
	r := a.h.Rejects[k]
	if r == nil {
		r = &RejectStat{First: t, Sample: all[ni:ns], SampleFrom: all[ns:nf], SampleTo: all[nf:]}
		a.h.Rejects[k] = r
	}
	r.Count++
	r.Last = t
	if !hasQID {
		if isReject {
			c.traffic(host, c.tok.get(ev.Instance), t, trafficNoQueue, 1)
		}
		return
	}
	m := c.get(host, ev.Instance, ev.QueueID, t)
	text := string(ev.Reason)
	if len(ev.Stage) > 0 {
		text = string(ev.Stage) + ": " + text
	}
	m.Notes = append(m.Notes, Note{Time: t, Line: ev.Line, Daemon: daemon, Action: action, Text: text})
	if len(ev.Helo) > 0 && m.Client.Helo == "" {
		m.Client.Helo = string(ev.Helo)
	}
	if ev.HasFrom && !m.HasSender {
		m.Sender, m.HasSender = string(ev.From), true
	}
	switch action {
	case "hold", "milter-hold":
		if len(ev.To) > 0 {
			m.recipientFor(ev.To, nil)
		}
		c.hold(m, t)
	case "reject", "milter-reject", "proxy-reject":
		switch string(ev.Stage) {
		case "RCPT", "MAIL", "CONNECT", "EHLO", "HELO", "VRFY", "ETRN":
			// One recipient (or an early command) refused; the message
			// may still be queued with the others.
		default:
			c.finish(m, FateRejected, t)
		}
	case "discard", "milter-discard":
		c.finish(m, FateDiscarded, t)
	}
}

func (c *Correlator) warning(ev *parser.Event, host string, t time.Time, a *hourAcc) {
	c.stats.Warnings++
	c.scratch = normalizeText(c.scratch[:0], ev.Reason)
	k := WarningKey{Host: host, Severity: c.tok.get(ev.Severity), Daemon: c.tok.get(ev.Daemon), Text: c.reasons.get(c.scratch)}
	w := a.h.Warnings[k]
	if w == nil {
		w = &WarningStat{First: t}
		a.h.Warnings[k] = w
	}
	w.Count++
	w.Last = t
	if len(w.Samples) < WarningSamples {
		w.Samples = append(w.Samples, sample(ev.Reason))
	}
	if !validQID(ev.QueueID) {
		return
	}
	m := c.get(host, ev.Instance, ev.QueueID, t)
	m.Notes = append(m.Notes, Note{Time: t, Line: ev.Line, Daemon: k.Daemon, Action: k.Severity, Text: sample(ev.Reason)})
	// smtpd "warning: QID: queue file size limit exceeded": the client is
	// told 552 and the file is never queued.
	if bytes.HasPrefix(ev.Reason, []byte("queue file size limit exceeded")) && !m.Queued {
		c.finish(m, FateRejected, t)
	}
}

// sweep writes out messages that will never finish (never queued and
// idle, or beyond MaxOpen) and forgets stale sessions and expectations.
// It runs every sweepEvery events, so two runs over the same lines sweep
// at the same places.
func (c *Correlator) sweep() {
	c.waitHead = nil
	cutoff := c.now.Add(-c.opts.StaleAfter)
	for _, m := range c.activeList() {
		if !m.Queued && m.Fate != FateHeld && m.LastSeen.Before(cutoff) {
			c.finish(m, FateAborted, m.LastSeen)
		}
	}
	if over := c.nactive - c.opts.MaxOpen; over > 0 {
		all := c.activeList()
		slices.SortFunc(all, func(a, b *Message) int {
			if x := a.LastSeen.Compare(b.LastSeen); x != 0 {
				return x
			}
			return compareRef(&a.Ref, &b.Ref)
		})
		over += c.opts.MaxOpen / 10
		for _, m := range all {
			if over <= 0 {
				break
			}
			r := m.Root()
			if r.state == nil || r.state.emitted {
				continue
			}
			r.state.inGrace = false
			n := 0
			r.Walk(func(h *Message) {
				if h.state != nil && !h.state.finished {
					n++
				}
			})
			over -= n
			c.emit(r)
		}
	}
	old := c.now.Add(-time.Hour)
	for _, s := range c.sessionList() {
		if s.connect.Before(old) {
			if x, prev := c.sessionFind(s.host, s.prog, s.pid); x != nil {
				c.sessionDel(x, prev)
			}
		}
	}
	for k, x := range c.expect {
		if x.t.Before(c.now.Add(-c.opts.LinkWindow)) || x.parent.Root().state == nil {
			delete(c.expect, k)
		}
	}
}

func compareRef(a, b *Ref) int {
	if x := a.First.Compare(b.First); x != 0 {
		return x
	}
	if a.Host != b.Host {
		return cmp.Compare(a.Host, b.Host)
	}
	if a.Instance != b.Instance {
		return cmp.Compare(a.Instance, b.Instance)
	}
	return cmp.Compare(a.QueueID, b.QueueID)
}

func sortByRef(ms []*Message) {
	slices.SortFunc(ms, func(a, b *Message) int { return compareRef(&a.Ref, &b.Ref) })
}

// Checkpoint returns what must be committed with the read position:
// finished messages are first handed over (TakeDone must be called after
// Checkpoint and its messages Appended before Commit), then open
// messages changed since the last checkpoint, closed ones, the hour
// aggregates and the other state.
func (c *Correlator) Checkpoint() *Checkpoint {
	cp := &Checkpoint{}
	for _, m := range c.activeList() {
		r := m.Root()
		st := r.state
		if st == nil || !st.dirty || st.emitted || st.inGrace {
			continue
		}
		st.dirty = false
		cp.Open = append(cp.Open, r)
		st.persisted = true
	}
	// Messages that finished but wait out their grace period are stored
	// like open ones (with their final fate): a checkpoint does not cut
	// the wait short, so where checkpoints fall changes nothing.
	for _, r := range c.grace[c.graceAt:] {
		st := r.state
		if st == nil || !st.dirty || st.emitted || !st.inGrace || r.parent != nil {
			continue
		}
		st.dirty = false
		cp.Open = append(cp.Open, r)
		st.persisted = true
	}
	sortByRef(cp.Open)
	cp.Closed, c.closed = c.closed, nil
	// The two halves of each hour: the correlator's and the aggregator's
	// (once it has applied every op recorded so far).
	c.syncAgg()
	aggHours := c.agg.take()
	idxs := make([]int64, 0, len(c.hours)+len(aggHours))
	for idx := range c.hours {
		idxs = append(idxs, idx)
	}
	for idx := range aggHours {
		if c.hours[idx] == nil {
			idxs = append(idxs, idx)
		}
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		var h *Hour
		if a := c.hours[idx]; a != nil {
			for host, l := range a.lines {
				for k, n := range l {
					if n != 0 {
						a.h.Lines[LineKey{host, parser.Kind(k)}] += n
					}
				}
			}
			h = a.h
		}
		if g := aggHours[idx]; g != nil {
			if h == nil {
				h = g.h
			} else {
				h.Traffic, h.Deliveries, h.Senders, h.Delays = g.h.Traffic, g.h.Deliveries, g.h.Senders, g.h.Delays
			}
		}
		if !h.Empty() {
			cp.Hours = append(cp.Hours, h)
		}
	}
	if c.cur != nil {
		c.sizeHint = c.cur.h.sizes()
	}
	clear(c.hours)
	c.cur, c.curIdx = nil, -1<<62
	cp.State = c.encodeState()
	return cp
}

// Restore resumes from a committed snapshot. It must be called before
// the first Process.
func (c *Correlator) Restore(s *Snapshot) error {
	byRef := map[Ref]*Message{}
	for _, root := range s.Open {
		root.parent = nil
		open := 0
		root.Walk(func(h *Message) {
			st := &openState{finished: h.Fate.Final()}
			h.state = st
			byRef[h.Ref] = h
			if !st.finished {
				open++
				c.activeAdd(h, nil)
			} else if s := c.slotFor(h.QueueID); s.gone == nil || h.First.After(s.gone.First) {
				s.gone = h
				st.slot = s
			}
		})
		root.state.open = open
		root.state.persisted = true
		root.state.finished = root.Fate.Final()
		if root.Origin == OriginSMTP {
			s := c.slotFor(root.QueueID)
			s.smtp = root
			root.state.slot = s
		}
		if open == 0 {
			// Finished, waiting out its grace period (its time is in
			// the state).
			c.toGrace(root)
		}
		if _, last := root.Span(); last.After(c.now) {
			c.now = last
		}
	}
	if err := c.decodeState(s.State, byRef); err != nil {
		return err
	}
	// The grace queue drains in completion order.
	c.waitHead = nil
	slices.SortStableFunc(c.grace, func(a, b *Message) int {
		if a.state.doneSeq != b.state.doneSeq {
			return cmp.Compare(a.state.doneSeq, b.state.doneSeq)
		}
		return compareRef(&a.Ref, &b.Ref)
	})
	return nil
}

// stateVersion 2 added the grace queue's line numbers.
const stateVersion = 2

func (c *Correlator) encodeState() []byte {
	e := encoder{}
	e.byte(stateVersion)
	e.varint(c.seq)
	e.abstime(c.now)
	sessions := c.sessionList()
	e.uvarint(uint64(len(sessions)))
	for _, s := range sessions {
		e.str(s.host)
		e.str(s.prog)
		e.int(s.pid)
		e.abstime(s.connect)
		e.int(s.port)
		e.str(s.helo)
	}
	keys := make([]string, 0, len(c.expect))
	for k, x := range c.expect {
		if r := x.parent.Root(); r.state != nil && !r.state.emitted {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		x := c.expect[k]
		e.str(k)
		e.abstime(x.t)
		e.str(x.parent.Host)
		e.str(x.parent.Instance)
		e.str(x.parent.QueueID)
		e.abstime(x.parent.First)
	}
	// What the records do not say about open messages: how they were
	// counted in the traffic (a later line may move the count) and
	// whether qmgr logged their expiry.
	var marked []*Message
	for _, m := range c.activeList() {
		if m.state.counted != 0 || m.state.expired {
			marked = append(marked, m)
		}
	}
	e.uvarint(uint64(len(marked)))
	for _, m := range marked {
		st := m.state
		e.str(m.Host)
		e.str(m.Instance)
		e.str(m.QueueID)
		e.byte(st.counted)
		e.varint(st.countedAt)
		e.bool(st.expired)
	}
	// When each message in the grace queue finished.
	var waiting []*Message
	for _, r := range c.grace[c.graceAt:] {
		if r.state != nil && r.state.inGrace && !r.state.emitted && r.parent == nil {
			waiting = append(waiting, r)
		}
	}
	e.uvarint(uint64(len(waiting)))
	for _, r := range waiting {
		e.str(r.Host)
		e.str(r.Instance)
		e.str(r.QueueID)
		e.abstime(r.First)
		e.abstime(r.state.doneAt)
		e.varint(r.state.doneSeq)
	}
	return e.b
}

func (c *Correlator) decodeState(b []byte, byRef map[Ref]*Message) error {
	if len(b) == 0 {
		return nil
	}
	d := decoder{b: b}
	v := d.byte()
	if v != 1 && v != stateVersion {
		return fmt.Errorf("correlator state: %w: version %d", ErrCorrupt, v)
	}
	c.seq = d.varint()
	if t := d.abstime(); t.After(c.now) {
		c.now = t
	}
	for n := d.count(6); n > 0 && d.err == nil; n-- {
		s := &session{host: d.str(), prog: d.str(), pid: d.int(), connect: d.abstime(), port: d.int(), helo: d.str()}
		if d.err == nil {
			c.sessionAdd(s)
		}
	}
	for n := d.count(6); n > 0 && d.err == nil; n-- {
		k := d.str()
		t := d.abstime()
		var r Ref
		r.Host, r.Instance, r.QueueID, r.First = d.str(), d.str(), d.str(), d.abstime()
		if p := byRef[normRef(r)]; p != nil {
			c.expect[k] = &expectation{parent: p, t: t}
		}
	}
	for n := d.count(6); n > 0 && d.err == nil; n-- {
		host, inst, qid := d.str(), d.str(), d.str()
		counted, at, expired := d.byte(), d.varint(), d.bool()
		if m := c.activeGet(host, []byte(inst), []byte(qid)); m != nil {
			m.state.counted, m.state.countedAt, m.state.expired = counted, at, expired
		}
	}
	for n := d.count(6); n > 0 && d.err == nil; n-- {
		var r Ref
		r.Host, r.Instance, r.QueueID, r.First = d.str(), d.str(), d.str(), d.abstime()
		done, seq := d.abstime(), c.seq
		if v >= 2 {
			seq = d.varint()
		}
		if m := byRef[normRef(r)]; m != nil && m.state != nil && m.state.inGrace {
			m.state.doneAt, m.state.doneSeq = done, seq
		}
	}
	if d.err != nil {
		return fmt.Errorf("correlator state: %w", d.err)
	}
	return nil
}

// normRef makes a decoded Ref comparable with one from a decoded message
// (both are time.UnixMicro values in the local zone).
func normRef(r Ref) Ref {
	if !r.First.IsZero() {
		r.First = time.UnixMicro(r.First.UnixMicro())
	}
	return r
}
