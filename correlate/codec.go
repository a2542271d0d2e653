package correlate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pfdiag/pfdiag/parser"
)

// The binary encoding of records stored in an index. It is compact
// (varints, times relative to the message's first line, delays in
// milliseconds) because an archive holds millions of messages and the
// index is read back in full for reports. Every record starts with a
// format version byte; decoders reject versions they do not know rather
// than misread them.

const (
	messageVersion = 1
	hourVersion    = 1
	sourceVersion  = 2 // 2 added Cursor
)

// ErrCorrupt is returned for a record that cannot be decoded.
var ErrCorrupt = errors.New("corrupt record")

type encoder struct{ b []byte }

func (e *encoder) byte(v byte)         { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64)    { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)      { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) int(v int)           { e.varint(int64(v)) }
func (e *encoder) bool(v bool)         { e.byte(b2u(v)) }
func (e *encoder) status(s Status)     { e.byte(byte(s)) }
func (e *encoder) abstime(t time.Time) { e.varint(unixMicro(t)) }

// str writes a length and the bytes. Most strings of a record are short
// or empty: their length is one byte, written without AppendUvarint's
// loop (the same bytes).
func (e *encoder) str(s string) {
	if len(s) < 0x80 {
		e.b = append(e.b, byte(len(s)))
	} else {
		e.uvarint(uint64(len(s)))
	}
	e.b = append(e.b, s...)
}

func b2u(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// unixMicro maps the zero time to 0 (no log line is from 1970).
func unixMicro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// reltime encodes t relative to base (base.UnixMicro(), computed once
// per record): 0 for the zero time.
func (e *encoder) reltime(base int64, t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	d := t.UnixMicro() - base
	e.uvarint(uint64(d<<1^d>>63) + 1) // zigzag, shifted past 0
}

// ms stores seconds with millisecond precision (Postfix logs at most two
// decimals).
func (e *encoder) ms(v float64) {
	if v == 0 {
		e.b = append(e.b, 0) // most delays= stages
		return
	}
	if v < 0 || math.IsNaN(v) {
		v = 0
	}
	if v > 1e12 {
		v = 1e12
	}
	e.uvarint(uint64(math.Round(v * 1000)))
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = ErrCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int { return int(d.varint()) }

// count reads a length that must fit in what is left (each element takes
// at least min bytes), so a corrupt length cannot make us allocate.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail()
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) bool() bool { return d.byte() != 0 }

func (d *decoder) status() Status {
	s := Status(d.byte())
	if s >= numStatus {
		d.fail()
		return 0
	}
	return s
}

func (d *decoder) abstime() time.Time {
	v := d.varint()
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v)
}

func (d *decoder) reltime(base time.Time) time.Time {
	v := d.uvarint()
	if v == 0 {
		return time.Time{}
	}
	v--
	delta := int64(v>>1) ^ -int64(v&1)
	return time.UnixMicro(base.UnixMicro() + delta)
}

func (d *decoder) ms() float64 { return float64(d.uvarint()) / 1000 }

// AppendMessage appends the binary encoding of m (with its hops) to b.
func AppendMessage(b []byte, m *Message) []byte {
	e := encoder{b: b}
	e.byte(messageVersion)
	e.message(m, 0)
	return e.b
}

func (e *encoder) ref(base int64, r *Ref) {
	e.str(r.Host)
	e.str(r.Instance)
	e.str(r.QueueID)
	e.reltime(base, r.First)
}

func (e *encoder) message(m *Message, depth int) {
	e.str(m.Host)
	e.str(m.Instance)
	e.str(m.QueueID)
	e.abstime(m.First)
	base := m.First.UnixMicro()
	e.reltime(base, m.LastSeen)
	e.reltime(base, m.Arrival)
	e.byte(byte(m.Origin))
	c := &m.Client
	e.str(c.Host)
	e.str(c.IP)
	e.int(c.Port)
	e.str(c.Helo)
	e.str(c.SASLMethod)
	e.str(c.SASLUser)
	e.str(c.Service)
	e.int(c.PID)
	e.reltime(base, c.Connect)
	e.int(c.UID)
	e.bool(c.HasUID)
	e.str(m.MessageID)
	e.str(m.Sender)
	e.byte(b2u(m.HasSender) | b2u(m.Queued)<<1 | b2u(m.Held)<<2)
	e.varint(m.Size)
	e.int(m.Nrcpt)
	e.byte(byte(m.Fate))
	e.reltime(base, m.FateTime)
	e.int(m.Lines)
	e.uvarint(uint64(len(m.Recipients)))
	for i := range m.Recipients {
		r := &m.Recipients[i]
		e.str(r.Address)
		e.str(r.OrigTo)
		e.status(r.Status)
		e.str(r.Category)
		e.uvarint(uint64(len(r.Attempts)))
		for j := range r.Attempts {
			a := &r.Attempts[j]
			e.reltime(base, a.Time)
			e.varint(a.Line)
			e.str(a.Transport)
			e.str(a.Daemon)
			e.str(a.Relay)
			e.ms(a.Delay)
			e.byte(b2u(a.HasDelays) | b2u(a.Synthetic)<<1)
			if a.HasDelays {
				for _, v := range a.Delays {
					e.ms(v)
				}
			}
			e.str(a.DSN)
			e.status(a.Status)
			e.str(a.Reason)
			e.str(a.Category)
			e.str(a.QueuedAs)
		}
	}
	e.uvarint(uint64(len(m.Notes)))
	for i := range m.Notes {
		n := &m.Notes[i]
		e.reltime(base, n.Time)
		e.varint(n.Line)
		e.str(n.Daemon)
		e.str(n.Action)
		e.str(n.Text)
	}
	e.uvarint(uint64(len(m.Notices)))
	for i := range m.Notices {
		e.notice(base, &m.Notices[i])
	}
	e.bool(m.NoticeFor != nil)
	if m.NoticeFor != nil {
		e.notice(base, m.NoticeFor)
	}
	if depth >= maxHopDepth {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(m.Hops)))
	for _, h := range m.Hops {
		e.message(h, depth+1)
	}
}

// maxHopDepth bounds re-injection chains (a mail loop through a content
// filter must not make a record without end).
const maxHopDepth = 8

func (e *encoder) notice(base int64, n *Notice) {
	e.str(n.Kind)
	e.str(n.To)
	e.ref(base, &n.Ref)
	e.reltime(base, n.Time)
}

// DecodeMessage decodes a record written by AppendMessage.
func DecodeMessage(b []byte) (*Message, error) {
	d := decoder{b: b}
	if v := d.byte(); v != messageVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: message format version %d", ErrCorrupt, v)
	}
	m := d.message(0)
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

func (d *decoder) ref(base time.Time) Ref {
	var r Ref
	r.Host = d.str()
	r.Instance = d.str()
	r.QueueID = d.str()
	r.First = d.reltime(base)
	return r
}

func (d *decoder) notice(base time.Time) Notice {
	var n Notice
	n.Kind = d.str()
	n.To = d.str()
	n.Ref = d.ref(base)
	n.Time = d.reltime(base)
	return n
}

func (d *decoder) message(depth int) *Message {
	m := &Message{}
	m.Host = d.str()
	m.Instance = d.str()
	m.QueueID = d.str()
	m.First = d.abstime()
	base := m.First
	m.LastSeen = d.reltime(base)
	m.Arrival = d.reltime(base)
	m.Origin = Origin(d.byte())
	c := &m.Client
	c.Host = d.str()
	c.IP = d.str()
	c.Port = d.int()
	c.Helo = d.str()
	c.SASLMethod = d.str()
	c.SASLUser = d.str()
	c.Service = d.str()
	c.PID = d.int()
	c.Connect = d.reltime(base)
	c.UID = d.int()
	c.HasUID = d.bool()
	m.MessageID = d.str()
	m.Sender = d.str()
	fl := d.byte()
	m.HasSender, m.Queued, m.Held = fl&1 != 0, fl&2 != 0, fl&4 != 0
	m.Size = d.varint()
	m.Nrcpt = d.int()
	m.Fate = Fate(d.byte())
	if m.Fate >= numFate {
		d.fail()
	}
	m.FateTime = d.reltime(base)
	m.Lines = d.int()
	if n := d.count(4); n > 0 {
		m.Recipients = make([]Recipient, n)
		for i := range m.Recipients {
			r := &m.Recipients[i]
			r.Address = d.str()
			r.OrigTo = d.str()
			r.Status = d.status()
			r.Category = d.str()
			if na := d.count(12); na > 0 {
				r.Attempts = make([]Attempt, na)
				for j := range r.Attempts {
					a := &r.Attempts[j]
					a.Time = d.reltime(base)
					a.Line = d.varint()
					a.Transport = d.str()
					a.Daemon = d.str()
					a.Relay = d.str()
					a.Delay = d.ms()
					fl := d.byte()
					a.HasDelays, a.Synthetic = fl&1 != 0, fl&2 != 0
					if a.HasDelays {
						for k := range a.Delays {
							a.Delays[k] = d.ms()
						}
					}
					a.DSN = d.str()
					a.Status = d.status()
					a.Reason = d.str()
					a.Category = d.str()
					a.QueuedAs = d.str()
				}
			}
		}
	}
	if n := d.count(5); n > 0 {
		m.Notes = make([]Note, n)
		for i := range m.Notes {
			nt := &m.Notes[i]
			nt.Time = d.reltime(base)
			nt.Line = d.varint()
			nt.Daemon = d.str()
			nt.Action = d.str()
			nt.Text = d.str()
		}
	}
	if n := d.count(6); n > 0 {
		m.Notices = make([]Notice, n)
		for i := range m.Notices {
			m.Notices[i] = d.notice(base)
		}
	}
	if d.bool() {
		n := d.notice(base)
		m.NoticeFor = &n
	}
	if n := d.count(20); n > 0 {
		if depth >= maxHopDepth {
			d.fail()
			return m
		}
		m.Hops = make([]*Message, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			h := d.message(depth + 1)
			h.parent = m
			m.Hops = append(m.Hops, h)
		}
	}
	return m
}

// HourSizeHint is a little more than the size of h's encoding (rows take
// 60-200 bytes).
func HourSizeHint(h *Hour) int {
	n := len(h.Lines) + len(h.Traffic) + len(h.Deliveries) + len(h.Senders) + len(h.Rejects) + len(h.Warnings)
	return 256 + 40*len(h.Lines) + 160*(n-len(h.Lines)) + len(h.Delays)*5*NumDelayBuckets*2 + len(h.Samples)*200
}

// AppendHour appends the binary encoding of h to b. Map entries are
// written in no particular order; DecodeHour does not depend on it.
func AppendHour(b []byte, h *Hour) []byte {
	// Size the buffer once instead of doubling it through hundreds of
	// kilobytes (also when b holds a prefix).
	b = slices.Grow(b, HourSizeHint(h))
	e := encoder{b: b}
	e.byte(hourVersion)
	e.abstime(h.Start)
	base := h.Start.UnixMicro()
	e.uvarint(uint64(len(h.Lines)))
	for k, v := range h.Lines {
		e.str(k.Host)
		e.byte(byte(k.Kind))
		e.varint(v)
	}
	e.uvarint(uint64(len(h.Samples)))
	for _, s := range h.Samples {
		e.str(s.Host)
		e.byte(byte(s.Kind))
		e.reltime(base, s.Time)
		e.varint(s.Line)
		e.str(s.Text)
	}
	e.uvarint(uint64(len(h.Traffic)))
	for k, t := range h.Traffic {
		e.str(k.Host)
		e.str(k.Instance)
		for _, v := range [...]int64{t.Received, t.ReceivedBytes, t.Notifications, t.Reinjected,
			t.Sent, t.Deferred, t.Bounced, t.Expired, t.Held, t.Deleted, t.Rejected, t.Removed, t.NoQueue} {
			e.varint(v)
		}
	}
	e.uvarint(uint64(len(h.Deliveries)))
	for k, v := range h.Deliveries {
		e.str(k.Host)
		e.str(k.Instance)
		e.str(k.Transport)
		e.status(k.Status)
		e.str(k.Category)
		e.str(k.Domain)
		e.str(k.Relay)
		e.varint(v.Count)
		e.ms(v.DelaySum)
		e.ms(v.DelayMax)
		for _, s := range v.DelaysSum {
			e.ms(s)
		}
		e.reltime(base, v.First)
		e.reltime(base, v.Last)
		e.str(v.SampleQueueID)
		e.str(v.SampleRecipient)
		e.str(v.SampleDSN)
		e.str(v.SampleReason)
	}
	e.uvarint(uint64(len(h.Senders)))
	for k, v := range h.Senders {
		e.str(k.Host)
		e.str(k.Sender)
		for _, n := range [...]int64{v.Messages, v.Bytes, v.Deferred, v.Bounced, v.Expired} {
			e.varint(n)
		}
	}
	e.uvarint(uint64(len(h.Rejects)))
	for k, v := range h.Rejects {
		e.str(k.Host)
		e.str(k.Daemon)
		e.str(k.Action)
		e.str(k.Stage)
		e.int(k.Code)
		e.str(k.Enhanced)
		e.str(k.Category)
		e.str(k.Reason)
		e.str(k.ClientHost)
		e.str(k.ClientIP)
		e.str(k.Domain)
		e.byte(b2u(k.HasQueueID) | b2u(k.Postscreen)<<1 | b2u(k.SenderIsNul)<<2)
		e.varint(v.Count)
		e.reltime(base, v.First)
		e.reltime(base, v.Last)
		e.str(v.Sample)
		e.str(v.SampleFrom)
		e.str(v.SampleTo)
	}
	e.uvarint(uint64(len(h.Warnings)))
	for k, v := range h.Warnings {
		e.str(k.Host)
		e.str(k.Severity)
		e.str(k.Daemon)
		e.str(k.Text)
		e.varint(v.Count)
		e.reltime(base, v.First)
		e.reltime(base, v.Last)
		e.uvarint(uint64(len(v.Samples)))
		for _, s := range v.Samples {
			e.str(s)
		}
	}
	e.uvarint(uint64(len(h.Delays)))
	for k, v := range h.Delays {
		e.str(k.Host)
		e.str(k.Instance)
		e.status(k.Status)
		e.histogram(&v.Total)
		for i := range v.Stages {
			e.histogram(&v.Stages[i])
		}
	}
	return e.b
}

func (e *encoder) histogram(h *Histogram) {
	for _, v := range h {
		e.varint(v)
	}
}

func (d *decoder) histogram(h *Histogram) {
	for i := range h {
		h[i] = d.varint()
	}
}

// DecodeHour decodes a record written by AppendHour.
func DecodeHour(b []byte) (*Hour, error) {
	d := decoder{b: b}
	if v := d.byte(); v != hourVersion {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: hour format version %d", ErrCorrupt, v)
	}
	h := NewHour(time.Time{})
	h.Start = d.abstime().UTC()
	base := h.Start
	for n := d.count(3); n > 0 && d.err == nil; n-- {
		k := LineKey{Host: d.str(), Kind: parser.Kind(d.byte())}
		h.Lines[k] += d.varint()
	}
	for n := d.count(5); n > 0 && d.err == nil; n-- {
		var s Sample
		s.Host = d.str()
		s.Kind = parser.Kind(d.byte())
		s.Time = d.reltime(base)
		s.Line = d.varint()
		s.Text = d.str()
		h.Samples = append(h.Samples, s)
	}
	for n := d.count(15); n > 0 && d.err == nil; n-- {
		k := HostKey{Host: d.str(), Instance: d.str()}
		t := h.traffic(k)
		for _, p := range [...]*int64{&t.Received, &t.ReceivedBytes, &t.Notifications, &t.Reinjected,
			&t.Sent, &t.Deferred, &t.Bounced, &t.Expired, &t.Held, &t.Deleted, &t.Rejected, &t.Removed, &t.NoQueue} {
			*p += d.varint()
		}
	}
	for n := d.count(20); n > 0 && d.err == nil; n-- {
		var k DeliveryKey
		k.Host = d.str()
		k.Instance = d.str()
		k.Transport = d.str()
		k.Status = d.status()
		k.Category = d.str()
		k.Domain = d.str()
		k.Relay = d.str()
		v := &DeliveryStat{}
		v.Count = d.varint()
		v.DelaySum = d.ms()
		v.DelayMax = d.ms()
		for i := range v.DelaysSum {
			v.DelaysSum[i] = d.ms()
		}
		v.First = d.reltime(base)
		v.Last = d.reltime(base)
		v.SampleQueueID = d.str()
		v.SampleRecipient = d.str()
		v.SampleDSN = d.str()
		v.SampleReason = d.str()
		h.Deliveries[k] = v
	}
	for n := d.count(7); n > 0 && d.err == nil; n-- {
		k := SenderKey{Host: d.str(), Sender: d.str()}
		v := &SenderStat{}
		for _, p := range [...]*int64{&v.Messages, &v.Bytes, &v.Deferred, &v.Bounced, &v.Expired} {
			*p = d.varint()
		}
		h.Senders[k] = v
	}
	for n := d.count(18); n > 0 && d.err == nil; n-- {
		var k RejectKey
		k.Host = d.str()
		k.Daemon = d.str()
		k.Action = d.str()
		k.Stage = d.str()
		k.Code = d.int()
		k.Enhanced = d.str()
		k.Category = d.str()
		k.Reason = d.str()
		k.ClientHost = d.str()
		k.ClientIP = d.str()
		k.Domain = d.str()
		fl := d.byte()
		k.HasQueueID, k.Postscreen, k.SenderIsNul = fl&1 != 0, fl&2 != 0, fl&4 != 0
		v := &RejectStat{}
		v.Count = d.varint()
		v.First = d.reltime(base)
		v.Last = d.reltime(base)
		v.Sample = d.str()
		v.SampleFrom = d.str()
		v.SampleTo = d.str()
		h.Rejects[k] = v
	}
	for n := d.count(8); n > 0 && d.err == nil; n-- {
		var k WarningKey
		k.Host = d.str()
		k.Severity = d.str()
		k.Daemon = d.str()
		k.Text = d.str()
		v := &WarningStat{}
		v.Count = d.varint()
		v.First = d.reltime(base)
		v.Last = d.reltime(base)
		for m := d.count(1); m > 0 && d.err == nil; m-- {
			v.Samples = append(v.Samples, d.str())
		}
		h.Warnings[k] = v
	}
	for n := d.count(3 + 5*NumDelayBuckets); n > 0 && d.err == nil; n-- {
		var k DelayKey
		k.Host = d.str()
		k.Instance = d.str()
		k.Status = d.status()
		v := &DelayStat{}
		d.histogram(&v.Total)
		for i := range v.Stages {
			d.histogram(&v.Stages[i])
		}
		h.Delays[k] = v
	}
	if d.err != nil {
		return nil, d.err
	}
	return h, nil
}

// AppendSource appends the binary encoding of s to b.
func AppendSource(b []byte, s *Source) []byte {
	e := encoder{b: b}
	e.byte(sourceVersion)
	e.str(s.Fingerprint)
	e.str(s.Name)
	e.uvarint(s.Dev)
	e.uvarint(s.Ino)
	e.str(s.Compression)
	e.varint(s.Offset)
	e.varint(s.Lines)
	e.varint(s.Size)
	e.abstime(s.ModTime)
	e.abstime(s.Updated)
	e.str(s.Cursor)
	return e.b
}

// DecodeSource decodes a record written by AppendSource.
func DecodeSource(b []byte) (Source, error) {
	d := decoder{b: b}
	var s Source
	v := d.byte()
	if v != 1 && v != sourceVersion {
		if d.err != nil {
			return s, d.err
		}
		return s, fmt.Errorf("%w: source format version %d", ErrCorrupt, v)
	}
	s.Fingerprint = d.str()
	s.Name = d.str()
	s.Dev = d.uvarint()
	s.Ino = d.uvarint()
	s.Compression = d.str()
	s.Offset = d.varint()
	s.Lines = d.varint()
	s.Size = d.varint()
	s.ModTime = d.abstime()
	s.Updated = d.abstime()
	if v >= 2 {
		s.Cursor = d.str()
	}
	return s, d.err
}
