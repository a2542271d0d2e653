package parser

import (
	"bytes"
	"errors"
)

// ErrMalformed is returned by Parse for a line without a recognisable
// syslog header. The Event is still filled (Kind == KindMalformed).
var ErrMalformed = errors.New("no syslog header")

// ParseError reports a malformed line, in the manner of encoding/csv.
type ParseError struct {
	Line int64 // 1-based line number, 0 if unknown
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return "line " + itoa(e.Line) + ": " + e.Err.Error()
	}
	return e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Parse parses one line. It is pure: the timestamp is left in ev.Stamp and
// ev.Time is set only when the line carries a year or an epoch (RFC 3339,
// RFC 5424, journald); classic syslog lines need a Clock (Reader uses one)
// for their year. The Event aliases line.
//
// A line that is not understood is not an error: it comes back as
// KindUnknown or KindForeign. Only a line without any syslog header gives
// an error (*ParseError wrapping ErrMalformed), with Kind == KindMalformed.
func Parse(line []byte) (Event, error) {
	var ev Event
	ParseInto(line, &ev)
	if ev.Kind == KindMalformed {
		return ev, &ParseError{Err: ErrMalformed}
	}
	if ev.Stamp.Year != 0 || ev.Stamp.fromEpoch {
		var c Clock
		ev.Time = c.Resolve(&ev.Stamp)
	}
	return ev, nil
}

// ParseInto parses line into ev, reusing ev's scratch space. It never
// allocates for syslog input and never panics. ev.Time is not set.
func ParseInto(line []byte, ev *Event) {
	ev.reset()
	parseLine(line, ev, nil)
}

// parseLine is ParseInto on an Event already reset. prev, when not nil,
// is the previous line's timestamp (see stampHint).
func parseLine(line []byte, ev *Event, prev *stampHint) {
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	ev.Raw = line
	msg, tag, ok := parseHeader(line, ev, prev)
	if !ok {
		ev.Kind = KindMalformed
		ev.Stamp = Stamp{}
		ev.Host, ev.Program, ev.PID = nil, nil, 0
		return
	}
	ev.Msg = msg
	var postfix bool
	switch tag {
	case tagSplit:
		postfix = isPostfixTag(ev)
	case tagUnsplit:
		postfix = splitProgram(ev)
	}
	if !postfix {
		ev.Kind = KindForeign
		return
	}
	ev.Kind = KindUnknown
	parsePostfix(ev, msg)
}

// splitProgram splits the syslog tag into instance, service and daemon and
// reports whether it is a Postfix program. Postfix tags are syslog_name
// (which may itself contain '/') plus "/daemon": "postfix/smtp",
// "postfix-out/smtp", "postfix/submission/smtpd", "postfix-192.0.2.7/local".
// A tag is Postfix's when its last part is a Postfix daemon name, or when it
// has a '/' and starts with "postfix" (then the daemon may be unknown).
func splitProgram(ev *Event) bool {
	p := ev.Program
	// Tags are short ("postfix/smtpd"): plain loops beat IndexByte's call.
	first := 0
	for first < len(p) && p[first] != '/' {
		first++
	}
	if first == len(p) {
		return false
	}
	last := len(p) - 1
	for p[last] != '/' {
		last--
	}
	setTagParts(ev, p, first, last)
	return isPostfixTag(ev)
}

// setTagParts splits the tag p at its first and last '/'.
func setTagParts(ev *Event, p []byte, first, last int) {
	ev.Instance = p[:first]
	if last > first {
		ev.Service = p[first+1 : last]
	}
	ev.Daemon = p[last+1:]
}

// isPostfixTag is splitProgram's verdict on a split tag.
func isPostfixTag(ev *Event) bool {
	return isDaemon(ev.Daemon) || hasPrefix(ev.Instance, "postfix")
}

// isDaemon reports whether d names a Postfix program (postconf -d
// daemon_directory's contents plus the commands that log).
func isDaemon(d []byte) bool {
	switch string(d) {
	case "smtpd", "smtp", "lmtp", "qmgr", "oqmgr", "cleanup", "pickup", "local",
		"virtual", "pipe", "error", "retry", "discard", "bounce", "defer", "trace",
		"anvil", "scache", "showq", "flush", "proxymap", "tlsmgr", "tlsproxy",
		"postscreen", "dnsblog", "verify", "trivial-rewrite", "spawn", "master",
		"postfix-script", "postlogd", "postdrop", "sendmail", "postsuper",
		"postqueue", "postmap", "postalias", "postconf", "postcat", "postkick",
		"postlock", "postlog", "postmulti", "qmqpd", "nqmgr", "postfix":
		return true
	}
	return false
}

// parsePostfix dispatches on the message text. Kind stays KindUnknown when
// nothing matches.
func parsePostfix(ev *Event, msg []byte) {
	if sev, text, ok := cutSeverity(msg); ok {
		parseWarning(ev, sev, text)
		return
	}
	if qid, rest, ok := splitQueueID(msg); ok {
		ev.QueueID = qid
		parseWithQueueID(ev, rest)
		return
	}
	parseNoQueueID(ev, msg)
}

// cutSeverity recognises Postfix's msg_warn/msg_error/msg_fatal/msg_panic
// prefixes.
func cutSeverity(msg []byte) (sev, text []byte, ok bool) {
	if len(msg) < 7 {
		return nil, nil, false
	}
	switch msg[0] {
	case 'w':
		if hasPrefix(msg, "warning: ") {
			return msg[:7], msg[9:], true
		}
	case 'e':
		if hasPrefix(msg, "error: ") {
			return msg[:5], msg[7:], true
		}
	case 'f':
		if hasPrefix(msg, "fatal: ") {
			return msg[:5], msg[7:], true
		}
	case 'p':
		if hasPrefix(msg, "panic: ") {
			return msg[:5], msg[7:], true
		}
	}
	return nil, nil, false
}

func parseWarning(ev *Event, sev, text []byte) {
	ev.Kind = KindWarning
	ev.Severity = sev
	ev.Reason = text
	// "warning: 8FFDEC2174: queue file size limit exceeded"
	if qid, rest, ok := splitQueueID(text); ok && len(qid) > 0 && qid[0] != 'N' {
		ev.QueueID = qid
		ev.Reason = rest
	}
	// Many warnings name a client: "… from unknown[192.0.2.1]: …".
	if i := indexStr(text, " from "); i >= 0 && i < 200 {
		ev.setClientAt(text[i+6:])
	}
}

// splitQueueID splits "QID: rest" where QID is a queue ID or NOQUEUE.
func splitQueueID(msg []byte) (qid, rest []byte, ok bool) {
	// Queue IDs are at most 24 characters; look for ": " within that.
	// Every kind of queue ID (and NOQUEUE) is letters and digits, so the
	// first ':' can only end one if nothing else comes before it: one
	// pass finds where the letters and digits stop and whether they can
	// be a short queue ID.
	n := len(msg)
	if n > 26 {
		n = 26
	}
	i := 0
	var bad byte
	for i < n {
		c := qidByte[msg[i]]
		if c&notAlnum != 0 {
			break
		}
		bad |= c
		i++
	}
	if i == n || msg[i] != ':' || i < 5 || i+1 >= len(msg) || msg[i+1] != ' ' {
		return nil, nil, false
	}
	id := msg[:i]
	if bad == 0 && i <= 20 || string(id) == "NOQUEUE" || IsQueueID(id) || isLenientQueueID(id) {
		return id, msg[i+2:], true
	}
	return nil, nil, false
}

func parseWithQueueID(ev *Event, b []byte) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case 't':
		if hasPrefix(b, "to=") {
			parseDelivery(ev, b)
			return
		}
	case 'f':
		if hasPrefix(b, "from=<") {
			parseQmgrFrom(ev, b)
			return
		}
	case 'c':
		if rest, ok := cutPrefix(b, "client="); ok {
			parseClient(ev, rest)
			return
		}
	case 'm':
		if rest, ok := cutPrefix(b, "message-id="); ok {
			ev.Kind = KindMessageID
			ev.MessageID = bytes.TrimSpace(rest)
			return
		}
	case 'r':
		if rest, ok := cutPrefix(b, "resent-message-id="); ok {
			ev.Kind = KindMessageID
			ev.MessageID = bytes.TrimSpace(rest)
			ev.Resent = true
			return
		}
		if hasPrefix(b, "removed") && (len(b) == 7 || b[7] < 'a' || b[7] > 'z') {
			if string(ev.Daemon) == "postsuper" {
				ev.Kind = KindPostsuper
				ev.Action = b
			} else {
				ev.Kind = KindRemoved
			}
			return
		}
		if string(b) == "released from hold" || string(b) == "requeued" {
			ev.Kind = KindPostsuper
			ev.Action = b
			return
		}
	case 'p':
		if string(b) == "placed on hold" {
			ev.Kind = KindPostsuper
			ev.Action = b
			return
		}
	case 'e':
		if string(b) == "expired" {
			ev.Kind = KindPostsuper
			ev.Action = b
			return
		}
		if hasPrefix(b, "enabling PIX workarounds") {
			ev.Kind = KindInfo
			ev.Reason = b
			return
		}
	case 's':
		if string(b) == "skipped, still being delivered" {
			ev.Kind = KindSkipped
			return
		}
	case 'u':
		if rest, ok := cutPrefix(b, "uid="); ok {
			parsePickup(ev, rest)
			return
		}
	case 'b':
		if hasPrefix(b, "breaking line") {
			ev.Kind = KindInfo
			ev.Reason = b
			return
		}
	case 'h', 'l':
		// smtp/lmtp, about one MX of several, before the final status:
		// "host mx[ip] said: 421 … (in reply to …)", "lost connection with
		// mx[ip] while sending RCPT TO", "conversation with mx[ip] timed out …".
		if parseReplyNote(ev, b) {
			return
		}
	}
	if b[0] == 'c' && parseReplyNote(ev, b) {
		return
	}
	if r, ok := cutPrefix(b, "SASL authentication failed; server "); ok {
		// smtp: "SASL authentication failed; server mx[ip] said: 535 5.7.8 …"
		ev.Kind = KindInfo
		ev.Reason = b
		if end := hostAddrEnd(r); end > 0 {
			ev.Relay = r[:end]
		}
		return
	}
	if parseNotification(ev, b) {
		return
	}
	if action, rest, ok := cutAction(b); ok {
		parseCheck(ev, action, rest)
		return
	}
	if string(ev.QueueID) == "NOQUEUE" {
		parseNoQueueID(ev, b) // "NOQUEUE: lost connection after CONNECT from …"
		return
	}
	// A status line whose recipient lost its "to=" (seen in exporters' test
	// logs): "QID: user@example.com, relay=…, dsn=…, status=deferred (…)".
	if c := bytes.IndexByte(b, ','); c > 0 && bytes.IndexByte(b[:c], ' ') < 0 &&
		hasPrefix(b[c:], ", relay=") && indexStr(b, ", status=") > 0 {
		parseDelivery(ev, b[c+2:])
		ev.To = bytes.Trim(b[:c], "<>")
	}
}

// cutAction recognises the access(5)/header_checks(5)/milter actions that
// smtpd and cleanup log: "reject: ", "milter-reject: ", "hold: ", …
func cutAction(b []byte) (action, rest []byte, ok bool) {
	i := 0
	for i < len(b) && i < 24 && (b[i] >= 'a' && b[i] <= 'z' || b[i] == '-' || b[i] == '_') {
		i++
	}
	if i == 0 || i+1 >= len(b) || b[i] != ':' || b[i+1] != ' ' {
		return nil, nil, false
	}
	a := b[:i]
	switch string(a) {
	case "reject", "reject_warning", "discard", "hold", "filter", "redirect", "warn",
		"warning", "info", "replace", "prepend", "bcc", "strip", "dunno",
		"milter-reject", "milter-discard", "milter-hold", "milter-header-redirect",
		"milter-redirect", "milter-body-replace", "milter-header-replace",
		"proxy-reject", "proxy-accept":
		return a, b[i+2:], true
	}
	return nil, nil, false
}

// parseCheck reads the text after an action word. Two shapes exist:
//
//	smtpd/milter:  RCPT from host[ip]: 550 5.1.1 <x>: text; from=<s> to=<r> proto=ESMTP helo=<h>
//	cleanup:       header Subject: text from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 text
//
// postscreen separates the trailing fields with ", ".
func parseCheck(ev *Event, action, b []byte) {
	ev.Kind = KindReject
	ev.Action = action
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 {
		ev.Reason = b
		return
	}
	ev.Stage = b[:sp]
	rest := b[sp+1:]
	if string(ev.Stage) == "header" || string(ev.Stage) == "body" {
		parseContentCheck(ev, rest)
		return
	}
	if r, ok := cutPrefix(rest, "from "); ok {
		if end := ev.setClientAt(r); end > 0 {
			rest = r[end:]
			rest, _ = cutPrefix(rest, ": ")
		}
	}
	// The trailing envelope is "; from=<s> to=<r> proto=P helo=<h>". Reply
	// texts and addresses are written by strangers and may contain the
	// same words, so anchor on the last " proto=", then the last " to=<"
	// before it, then the last "; from=<" before that.
	text := rest
	if i := envelopeStart(rest); i >= 0 {
		text = rest[:i]
		parseEnvelopeFields(ev, rest[i+2:])
	}
	ev.Reason = text
	ev.Code, ev.Enhanced = parseCodes(text)
}

// envelopeStart finds the "; from=<" that starts smtpd's trailing
// envelope fields, or -1.
func envelopeStart(b []byte) int {
	limit := len(b)
	if p := lastIndexStr(b, " proto="); p >= 0 {
		limit = p
	}
	if t := lastIndexStr(b[:limit], " to=<"); t >= 0 {
		limit = t
	}
	return lastIndexStr(b[:limit], "; from=<")
}

// parseContentCheck reads cleanup's header/body check log:
// "Subject: text from host[ip]; from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 reason".
func parseContentCheck(ev *Event, b []byte) {
	i := envelopeStart(b)
	if i < 0 {
		ev.Reason = b
		return
	}
	what := b[:i]
	if j := lastIndexStr(what, " from "); j >= 0 {
		client := what[j+6:]
		if hostAddrEnd(client) > 0 {
			ev.setClient(client)
		}
	}
	rest := parseEnvelopeFields(ev, b[i+2:])
	if r, ok := cutPrefix(rest, ": "); ok {
		ev.Reason = r
		ev.Code, ev.Enhanced = parseCodes(r)
	} else {
		ev.Reason = what
	}
}

// parseEnvelopeFields reads "from=<s> to=<r> proto=P helo=<h>" (space or
// ", " separated) and returns what follows.
func parseEnvelopeFields(ev *Event, b []byte) []byte {
	for len(b) > 0 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == ',') {
			b = b[1:]
		}
		eq := bytes.IndexByte(b, '=')
		if eq <= 0 || eq > 12 {
			return b
		}
		key := b[:eq]
		v := b[eq+1:]
		var val []byte
		if len(v) > 0 && v[0] == '<' {
			var ok bool
			val, v, ok = angleValue(v)
			if !ok {
				return nil
			}
		} else {
			end := 0
			for end < len(v) && v[end] != ' ' && v[end] != ',' && v[end] != ':' && v[end] != ';' {
				end++
			}
			val, v = v[:end], v[end:]
		}
		switch string(key) {
		case "from":
			ev.From, ev.HasFrom = val, true
		case "to":
			ev.To = val
		case "proto":
			ev.Proto = val
		case "helo":
			ev.Helo = val
		case "orig_to":
			ev.OrigTo = val
		default:
			return b
		}
		b = v
		if len(b) > 0 && b[0] == ':' {
			return b
		}
	}
	return b
}

// parseDelivery reads a delivery status line:
//
//	to=<r>, orig_to=<o>, relay=h[ip]:25, conn_use=2, delay=0.07,
//	delays=0.01/0.01/0/0.05, dsn=5.1.1, status=bounced (reason (with parens))
func parseDelivery(ev *Event, b []byte) {
	parseDeliveryFields(ev, b)
	// A line cut before its status (syslog truncation, a crash) is not a
	// delivery: counting it would invent an attempt with no outcome.
	if len(ev.Status) > 0 {
		ev.Kind = KindDelivery
	}
}

func parseDeliveryFields(ev *Event, b []byte) {
	for len(b) > 0 {
		// Keys are a few bytes: a loop finds their '=' sooner than
		// IndexByte's call.
		eq := 0
		for eq < len(b) && b[eq] != '=' {
			eq++
		}
		if eq == 0 || eq == len(b) {
			return
		}
		key := b[:eq]
		v := b[eq+1:]
		if string(key) == "status" {
			sp := bytes.IndexByte(v, ' ')
			if sp < 0 {
				ev.Status = v
				return
			}
			ev.Status = v[:sp]
			r := v[sp+1:]
			if len(r) >= 2 && r[0] == '(' && r[len(r)-1] == ')' {
				r = r[1 : len(r)-1]
			}
			ev.Reason = r
			return
		}
		var val []byte
		if len(v) > 0 && v[0] == '<' {
			var ok bool
			val, v, ok = angleValue(v)
			if !ok {
				return
			}
		} else {
			c := bytes.IndexByte(v, ',')
			if c < 0 {
				c = len(v)
			}
			val, v = v[:c], v[c:]
		}
		switch string(key) {
		case "to":
			ev.To = val
		case "orig_to":
			ev.OrigTo = val
		case "relay":
			ev.Relay = val
		case "conn_use":
			ev.ConnUse, _ = atoiN(val, 9)
		case "delay":
			ev.Delay, _ = parseFloat(val)
		case "delays":
			ev.HasDelays = parseDelays(val, &ev.Delays)
		case "dsn":
			ev.DSN = val
		}
		b, _ = cutPrefix(v, ", ")
	}
}

func parseDelays(b []byte, d *[4]float64) bool {
	for k := 0; k < 4; k++ {
		v, n := parseFloat(b)
		if n == 0 {
			return false
		}
		d[k] = v
		b = b[n:]
		if k < 3 {
			if len(b) == 0 || b[0] != '/' {
				return false
			}
			b = b[1:]
		}
	}
	return len(b) == 0
}

// parseQmgrFrom reads "from=<s>, size=N, nrcpt=N (queue active)" and
// "from=<s>, status=expired, returned to sender".
func parseQmgrFrom(ev *Event, b []byte) {
	v, rest, ok := angleValue(b[5:])
	if !ok {
		return
	}
	ev.From, ev.HasFrom = v, true
	isQueued := false
	for len(rest) > 0 {
		rest, _ = cutPrefix(rest, ", ")
		eq := bytes.IndexByte(rest, '=')
		if eq <= 0 {
			break
		}
		key, val := rest[:eq], rest[eq+1:]
		end := 0
		for end < len(val) && val[end] != ',' && val[end] != ' ' {
			end++
		}
		switch string(key) {
		case "size":
			n, _ := atoi64(val[:end])
			ev.Size = n
			isQueued = true
		case "nrcpt":
			ev.Nrcpt, _ = atoiN(val[:end], 9)
		case "status":
			ev.Status = val[:end]
			ev.Kind = KindExpired
			ev.Reason = bytes.TrimPrefix(val[end:], []byte(", "))
			return
		}
		rest = val[end:]
		if len(rest) > 0 && rest[0] == ' ' {
			ev.Reason = rest[1:] // "(queue active)"
			break
		}
	}
	if isQueued {
		ev.Kind = KindQueued
	}
}

// parseClient reads smtpd's "client=host[ip]:port, sasl_method=PLAIN,
// sasl_username=u, orig_queue_id=…, orig_client=…".
func parseClient(ev *Event, b []byte) {
	ev.Kind = KindClient
	end := bytes.IndexByte(b, ',')
	if end < 0 {
		end = len(b)
	}
	ev.setClient(b[:end])
	b = b[end:]
	for len(b) > 0 {
		b, _ = cutPrefix(b, ", ")
		eq := bytes.IndexByte(b, '=')
		if eq <= 0 {
			return
		}
		key, val := b[:eq], b[eq+1:]
		c := bytes.Index(val, []byte(", "))
		if c < 0 {
			c = len(val)
		}
		switch string(key) {
		case "sasl_method":
			ev.SASLMethod = val[:c]
		case "sasl_username":
			ev.SASLUser = val[:c]
		}
		b = val[c:]
	}
}

// parsePickup reads pickup's "uid=0 from=<s>".
func parsePickup(ev *Event, b []byte) {
	ev.Kind = KindPickup
	uid, n := atoiN(b, 10)
	if n > 0 {
		ev.UID, ev.HasUID = uid, true
	}
	if i := indexStr(b, "from=<"); i >= 0 {
		if v, _, ok := angleValue(b[i+5:]); ok {
			ev.From, ev.HasFrom = v, true
		}
	}
}

// parseNotification reads bounce's "sender non-delivery notification: QID",
// "sender delay notification: QID", "postmaster non-delivery notification: QID",
// "sender delivery status notification: QID".
func parseNotification(ev *Event, b []byte) bool {
	var rest []byte
	var ok bool
	if rest, ok = cutPrefix(b, "sender "); !ok {
		if rest, ok = cutPrefix(b, "postmaster "); !ok {
			return false
		}
	}
	i := indexStr(rest, " notification: ")
	if i < 0 {
		return false
	}
	ev.Kind = KindNotification
	ev.Notice = rest[:i]
	ev.NewQueueID = rest[i+len(" notification: "):]
	return true
}

// parseNoQueueID handles lines without a queue ID, by daemon.
func parseNoQueueID(ev *Event, b []byte) {
	switch string(ev.Daemon) {
	case "smtpd", "lmtp", "smtp", "tlsproxy", "postscreen", "qmqpd":
		if parseSession(ev, b) {
			return
		}
		if string(ev.Daemon) == "postscreen" || string(ev.Daemon) == "tlsproxy" {
			parsePostscreen(ev, b)
		}
	case "dnsblog":
		parseDNSBL(ev, b)
	case "anvil", "scache":
		if hasPrefix(b, "statistics: ") {
			ev.Kind = KindStats
			ev.Reason = b[len("statistics: "):]
		}
	case "master", "postfix-script", "postfix":
		parseMaster(ev, b)
	case "postsuper":
		// "Deleted: 3 messages", "Placed on hold: 1 message", "Requeued: …"
		if c := bytes.IndexByte(b, ':'); c > 0 && c+2 < len(b) && isDigit(b[c+2]) {
			ev.Kind = KindPostsuper
			ev.Action = b[:c]
			ev.Reason = b[c+2:]
		}
	case "verify", "postscreen_cache":
		if hasPrefix(b, "cache ") && indexStr(b, " cleanup: ") >= 0 {
			ev.Kind = KindStats
			ev.Reason = b
		}
	}
	if ev.Kind == KindUnknown && (hasPrefix(b, "table ") && indexStr(b, " has changed -- restarting") > 0) {
		ev.Kind = KindInfo
		ev.Reason = b
	}
}

// parseSession reads smtpd/smtp/lmtp session lines that carry no queue ID.
func parseSession(ev *Event, b []byte) bool {
	var b0 byte // first byte, for the note lists' prefilters (0 never starts one)
	if len(b) > 0 {
		b0 = b[0]
	}
	switch {
	case b0 != 'c' && b0 != 'd':
		// None of the three below: most lines that get here are one
		// of them, most others start with a capital.
	case hasPrefix(b, "connect from "):
		ev.Kind = KindConnect
		ev.setClient(b[len("connect from "):])
		return true
	case hasPrefix(b, "disconnect from "):
		ev.Kind = KindDisconnect
		r := b[len("disconnect from "):]
		if end := ev.setClientAt(r); end > 0 {
			ev.Reason = bytes.TrimPrefix(r[end:], []byte(" "))
		}
		return true
	case hasPrefix(b, "connect to "):
		// smtp/lmtp: "connect to mx.example.com[192.0.2.1]:25: Connection timed out"
		ev.Kind = KindConnectError
		r := b[len("connect to "):]
		if end := hostAddrEnd(r); end > 0 {
			ev.Relay = r[:end]
			ev.Reason = bytes.TrimPrefix(r[end:], []byte(": "))
		} else if c := bytes.Index(r, []byte(": ")); c > 0 {
			ev.Relay, ev.Reason = r[:c], r[c+2:]
		}
		return true
	}
	// "lost connection after RCPT from host[ip]", "timeout after DATA (12 bytes) from …",
	// "too many errors after AUTH from …", "improper command pipelining after CONNECT from …: …"
	for _, p := range &sessionNotes {
		if !noteFirst.session[b0] {
			break
		}
		if r, ok := cutPrefix(b, p); ok {
			ev.Kind = KindSession
			ev.Action = b[:len(p)-len(" after ")]
			if i := indexStr(r, " from "); i >= 0 {
				ev.Stage = r[:i]
				rest := r[i+6:]
				if end := ev.setClientAt(rest); end > 0 {
					ev.Reason = bytes.TrimPrefix(rest[end:], []byte(": "))
				}
			}
			return true
		}
	}
	// Only a match starting in the first 16 bytes counts: search no further.
	if i := indexTLSEstablished(b); i >= 0 {
		ev.Kind = KindTLS
		r := b[i+len("TLS connection established "):]
		r, isTo := cutPrefix(r, "to ")
		if !isTo {
			r, _ = cutPrefix(r, "from ")
		}
		var end int
		if isTo {
			if end = hostAddrEnd(r); end > 0 {
				ev.Relay = r[:end]
			}
		} else {
			end = ev.setClientAt(r)
		}
		if end > 0 {
			ev.Reason = bytes.TrimPrefix(r[end:], []byte(": "))
		}
		return true
	}
	for _, p := range &tlsNotes {
		if !noteFirst.tls[b0] {
			break
		}
		if hasPrefix(b, p) {
			ev.Kind = KindTLS
			ev.Reason = b
			if i := indexStr(b, " from "); i >= 0 {
				ev.setClientAt(b[i+6:])
			} else if i := indexStr(b, " to "); i >= 0 {
				if end := hostAddrEnd(b[i+4:]); end > 0 {
					ev.Relay = b[i+4 : i+4+end]
				}
			}
			return true
		}
	}
	for _, p := range &smtpInfoNotes {
		if !noteFirst.info[b0] {
			break
		}
		if hasPrefix(b, p) {
			ev.Kind = KindInfo
			ev.Reason = b
			return true
		}
	}
	return false
}

// indexTLSEstablished returns where "TLS connection established "
// starts in b if it starts in the first 16 bytes, else -1: a loop over
// 16 bytes for the 'T' costs less than a substring search.
func indexTLSEstablished(b []byte) int {
	const s = "TLS connection established "
	for i := 0; i < 16 && i+len(s) <= len(b); i++ {
		if b[i] == 'T' && string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}

// noteFirst holds the first bytes of the note lists: most lines that get
// this far (postscreen's verdicts) match none, and one table lookup skips
// a list instead of a comparison per entry.
var noteFirst = struct{ session, tls, info [256]bool }{
	firstBytes(sessionNotes[:]), firstBytes(tlsNotes[:]), firstBytes(smtpInfoNotes[:]),
}

func firstBytes(ps []string) (t [256]bool) {
	for _, p := range ps {
		t[p[0]] = true
	}
	return t
}

// sessionNotes are smtpd's end-of-session messages (smtpd.c).
var sessionNotes = [...]string{
	"lost connection after ", "timeout after ", "too many errors after ",
	"improper command pipelining after ", "hangup after ", "bare <LF> received after ",
}

func parseReplyNote(ev *Event, b []byte) bool {
	for _, p := range &replyNotes {
		if r, ok := cutPrefix(b, p); ok {
			ev.Kind = KindInfo
			ev.Reason = b
			if end := hostAddrEnd(r); end > 0 {
				ev.Relay = r[:end]
			}
			if i := indexStr(b, " said: "); i >= 0 {
				ev.Code, ev.Enhanced = parseCodes(b[i+7:])
			}
			return true
		}
	}
	return false
}

// replyNotes start smtp/lmtp messages about one server of several.
var replyNotes = [...]string{"host ", "lost connection with ", "conversation with "}

// tlsNotes are TLS messages of smtp, smtpd and tlsproxy (tls_client.c, tls_server.c).
var tlsNotes = [...]string{
	"SSL_accept error ", "SSL_connect error ", "setting up TLS connection ",
	"Host offered STARTTLS", "certificate verification failed ",
	"server certificate verification failed ", "client certificate verification failed ",
	"untrusted issuer ", "server certificate not trusted", "peer certificate ",
	"re-using session", "TLS handshake failed", "Cannot start TLS",
}

// smtpInfoNotes are other smtp/smtpd informational messages.
var smtpInfoNotes = [...]string{
	"discarding EHLO keywords", "proxy-accept", "proxy-reject", "enabling PIX workarounds",
	"reject: ", "NOQUEUE: ", "CONNECT from ", "DISCONNECT ",
}

// parsePostscreen reads postscreen verdicts: "PASS NEW [ip]:port",
// "PREGREET 11 after 0.09 from [ip]:port: EHLO …", "DNSBL rank 6 for [ip]:port",
// "HANGUP after 0.5 from [ip]:port in tests after SMTP handshake",
// "COMMAND PIPELINING from [ip]:port after …", "cache … full cleanup: …".
func parsePostscreen(ev *Event, b []byte) {
	i := 0
	for i < len(b) && (b[i] >= 'A' && b[i] <= 'Z' || b[i] == ' ' || b[i] == '-') {
		i++
	}
	verdict := bytes.TrimRight(b[:i], " ")
	if len(verdict) < 3 {
		if hasPrefix(b, "cache ") {
			ev.Kind = KindStats
			ev.Reason = b
		}
		return
	}
	ev.Kind = KindPostscreen
	ev.Verdict = verdict
	rest := b[len(verdict):]
	if lb := bytes.IndexByte(rest, '['); lb >= 0 {
		// postscreen writes clients as "[ip]:port" with no name.
		if end := ev.setClientAt(rest[lb:]); end > 0 {
			ev.Reason = bytes.TrimPrefix(rest[lb+end:], []byte(": "))
			if len(ev.Reason) == 0 || bytes.Equal(ev.Reason, rest[lb+end:]) {
				ev.Reason = bytes.TrimSpace(rest[lb+end:])
			}
		}
	}
	if bytes.Equal(verdict, []byte("DNSBL")) {
		ev.Reason = bytes.TrimSpace(rest)
	}
}

// parseDNSBL reads dnsblog's "addr 192.0.2.1 listed by domain zen.spamhaus.org as 127.0.0.4".
func parseDNSBL(ev *Event, b []byte) {
	r, ok := cutPrefix(b, "addr ")
	if !ok {
		return
	}
	sp := bytes.IndexByte(r, ' ')
	if sp < 0 {
		return
	}
	ev.Kind = KindDNSBL
	ev.ClientIP = r[:sp]
	r = r[sp+1:]
	if r2, ok := cutPrefix(r, "listed by domain "); ok {
		if i := indexStr(r2, " as "); i >= 0 {
			ev.List = r2[:i]
			ev.Reason = r2[i+4:]
		} else {
			ev.List = r2
		}
	} else {
		ev.Reason = r
	}
}

// parseMaster reads master and postfix-script lifecycle lines.
func parseMaster(ev *Event, b []byte) {
	switch {
	case hasPrefix(b, "daemon started -- version "), hasPrefix(b, "reload -- version "):
		ev.Kind = KindMaster
		i := indexStr(b, " -- version ")
		ev.Action = b[:i]
		v := b[i+len(" -- version "):]
		if c := bytes.IndexByte(v, ','); c >= 0 {
			v = v[:c]
		}
		ev.Version = v
	case hasPrefix(b, "terminating on signal"), hasPrefix(b, "daemon started"),
		hasPrefix(b, "starting the Postfix mail system"), hasPrefix(b, "stopping the Postfix mail system"),
		hasPrefix(b, "refreshing the Postfix mail system"), hasPrefix(b, "the Postfix mail system is"),
		hasPrefix(b, "waiting for the Postfix mail system"), hasPrefix(b, "reload "),
		hasPrefix(b, "starting mail system"), hasPrefix(b, "stopping mail system"):
		ev.Kind = KindMaster
		ev.Action = b
	}
}
