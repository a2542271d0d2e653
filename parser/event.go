package parser

import (
	"bytes"
	"time"
)

// Kind says what a log line is. The names returned by String are part of
// the stable JSON interface of `pfdiag parse`.
type Kind uint8

// The kinds of line. Malformed, Unknown and Foreign are never errors: they
// are counted and sampled by the caller.
const (
	KindMalformed    Kind = iota // no recognisable syslog header
	KindUnknown                  // a Postfix line this parser does not understand
	KindForeign                  // another program's line (dovecot, amavis, opendkim, kernel…)
	KindConnect                  // smtpd/tlsproxy "connect from host[ip]"
	KindDisconnect               // smtpd "disconnect from host[ip] ehlo=1 … commands=N"
	KindSession                  // smtpd session notes: lost connection, timeout, too many errors, pipelining…
	KindTLS                      // "… TLS connection established to/from …", SSL errors
	KindClient                   // smtpd "QID: client=host[ip], sasl_method=…, sasl_username=…"
	KindReject                   // smtpd/cleanup/postscreen "QID|NOQUEUE: reject|discard|hold|filter|warn|milter-reject…: …"
	KindMessageID                // cleanup "QID: message-id=<…>" and resent-message-id
	KindQueued                   // qmgr "QID: from=<s>, size=N, nrcpt=N (queue active)"
	KindRemoved                  // qmgr "QID: removed"
	KindExpired                  // qmgr "QID: from=<s>, status=expired, returned to sender" (and force-expired)
	KindSkipped                  // qmgr "QID: skipped, still being delivered"
	KindDelivery                 // smtp/lmtp/local/virtual/pipe/error/discard/retry "QID: to=<r>, … status=S (reason)"
	KindNotification             // bounce "QID: sender non-delivery notification: QID2"
	KindPostsuper                // postsuper "QID: placed on hold" etc. and its summaries
	KindPickup                   // pickup "QID: uid=N from=<s>"
	KindPostscreen               // postscreen verdicts: CONNECT, PASS NEW, PREGREET, DNSBL rank…
	KindDNSBL                    // dnsblog "addr A listed by domain D as R"
	KindStats                    // anvil and scache statistics
	KindWarning                  // "warning:", "error:", "fatal:", "panic:" from any Postfix program
	KindMaster                   // master and postfix-script: start, stop, reload
	KindConnectError             // smtp/lmtp "connect to host[ip]:port: reason" without a queue ID
	KindInfo                     // other understood informational lines (no delivery meaning)
	numKinds
)

var kindNames = [numKinds]string{
	"malformed", "unknown", "foreign", "connect", "disconnect", "session", "tls",
	"client", "reject", "message_id", "queued", "removed", "expired", "skipped",
	"delivery", "notification", "postsuper", "pickup", "postscreen", "dnsbl",
	"stats", "warning", "master", "connect_error", "info",
}

// String returns the kind's stable name, as used in JSON output.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds returns every kind in numeric order (for stable reports).
func Kinds() []Kind {
	ks := make([]Kind, numKinds)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// KindFromString is the inverse of Kind.String.
func KindFromString(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// IsPostfix reports whether the line was written by a Postfix program
// (everything but malformed and foreign lines).
func (k Kind) IsPostfix() bool { return k != KindMalformed && k != KindForeign }

// Stamp is a timestamp as written in the line, before a year is chosen for
// classic syslog lines. Resolving it needs the order of lines (Dec→Jan
// rollover), so the pure line parser leaves it to a Clock.
type Stamp struct {
	Year                   int   // 0: not in the line (classic syslog)
	Month                  int   // 1-12; 0 means no timestamp at all
	Day, Hour, Min, Sec    int   //
	Nsec                   int   //
	Offset                 int   // seconds east of UTC, when HasZone
	HasZone                bool  // the line carries its zone (RFC 3339, RFC 5424)
	Unix                   int64 // journald __REALTIME_TIMESTAMP in µs; 0 when absent
	fromJournal, fromEpoch bool
}

// Valid reports whether the line had a usable timestamp.
func (s *Stamp) Valid() bool { return s.Month != 0 || s.fromEpoch }

// Event is one parsed log line. Byte-slice fields point into the line (or
// into the Event's own scratch space for journald input) and are valid only
// until the next line is parsed into the same Event: copy what you keep
// (Clone does). Fields not relevant to Kind are empty.
//
// Typed fields, not a map, keep the hot path free of allocations.
type Event struct {
	// The header fields come first and the delivery fields next, apart
	// from the rest: a consumer reads events a worker parsed on another
	// core, and these are the ones it reads for nearly every line, so
	// they share a few cache lines. Stamp, Time, Line and End, which a
	// BatchReader's Next reads or sets for every line, are first of all.
	// The order is not part of the API.
	Kind     Kind
	TooLong  bool      // the line exceeded Options.MaxLineLen; Raw holds its head
	PID      int       //
	Time     time.Time // zero until resolved by a Clock (Reader does it)
	Line     int64     // 1-based line number in its input (set by the readers)
	End      int64     // stream offset just past the line and its newline (set by the readers)
	Stamp    Stamp     // the timestamp as written
	Host     []byte    // syslog host field
	Instance []byte    // syslog_name's first part: "postfix", "postfix-out"
	Daemon   []byte    // last part of the tag: "smtpd", "smtp", "qmgr"
	QueueID  []byte    // queue ID, "NOQUEUE", or empty
	Program  []byte    // syslog tag as logged: "postfix-out/submission/smtpd"
	Service  []byte    // master.cf service between instance and daemon: "submission"; empty if none

	// Delivery status (Kind == KindDelivery; Status also for KindExpired).
	Relay     []byte // "mx.example.com[192.0.2.1]:25", "local", "none"
	DSN       []byte // "4.7.1"
	Status    []byte // "sent", "deferred", "bounced", "expired", "force-expired", "undeliverable", "SOFTBOUNCE"…
	Reason    []byte // text in the parentheses after status= (outer parentheses removed); reject/warning/session text
	Delay     float64
	Delays    [4]float64 // a/b/c/d of delays=
	HasDelays bool
	ConnUse   int

	// Envelope.
	To        []byte
	OrigTo    []byte
	From      []byte // sender address without <>; empty for the null sender
	HasFrom   bool   // from=<…> was present (tells <> from absent)
	Resent    bool   // MessageID is a resent-message-id
	HasUID    bool
	Size      int64
	Nrcpt     int
	MessageID []byte // message-id or resent-message-id value (with <> as logged)
	UID       int    // pickup uid=

	// Client side (connect, disconnect, client=, reject, postscreen…).
	ClientHost []byte // "mail-ed11-f18.google.com" or "unknown"
	ClientIP   []byte // "209.85.218.18", "2001:db8::1"
	ClientPort int
	SASLMethod []byte
	SASLUser   []byte

	// Checks and rejects (Kind == KindReject) and sessions.
	Action   []byte // reject, discard, hold, filter, warn, redirect, milter-reject, warning (header_checks WARN)…
	Stage    []byte // RCPT, MAIL, CONNECT, EHLO, DATA, END-OF-MESSAGE, header, body, BDAT…
	Code     int    // SMTP reply code (550) when the text starts with one
	Enhanced []byte // enhanced status code "5.7.1" when present
	Proto    []byte
	Helo     []byte

	// Notifications (bounce) and re-injection.
	NewQueueID []byte // the queue ID of the notification (bounce) or of postsuper's target
	Notice     []byte // "non-delivery", "delay", "delivery status", "success"…

	// Warnings.
	Severity []byte // warning, error, fatal, panic

	// Master / postfix-script.
	Version []byte

	// Postscreen verdict ("PASS NEW", "PREGREET", "DNSBL", …), dnsblog list.
	Verdict []byte
	List    []byte // dnsblog/postscreen DNSBL domain

	// The line itself.
	Msg []byte // the text after "tag[pid]: " (including any queue ID)
	Raw []byte // the whole line, without line terminator

	scratch []byte // journald: MESSAGE, host and tag decoded here
}

// reset clears the event for reuse, keeping the scratch buffer.
func (e *Event) reset() {
	s := e.scratch[:0]
	*e = Event{}
	e.scratch = s
}

// Clone returns a copy whose byte slices no longer alias the line.
func (e *Event) Clone() Event {
	c := *e
	c.scratch = nil
	for _, f := range c.fields() {
		if *f != nil {
			*f = bytes.Clone(*f)
		}
	}
	return c
}

// fields lists every byte-slice field, for Clone.
func (e *Event) fields() []*[]byte {
	return []*[]byte{
		&e.Host, &e.Program, &e.Instance, &e.Service, &e.Daemon, &e.QueueID, &e.Msg, &e.Raw,
		&e.ClientHost, &e.ClientIP, &e.SASLMethod, &e.SASLUser, &e.From, &e.To, &e.OrigTo,
		&e.MessageID, &e.Relay, &e.DSN, &e.Status, &e.Reason, &e.Action, &e.Stage,
		&e.Enhanced, &e.Proto, &e.Helo, &e.NewQueueID, &e.Notice, &e.Severity,
		&e.Version, &e.Verdict, &e.List,
	}
}
