package rules

import (
	"bytes"

	"github.com/pfdiag/pfdiag/parser"
)

// EventKind says how a parsed line is diagnosed.
type EventKind int

// The kinds of line Event distinguishes.
const (
	NoFailure   EventKind = iota // nothing to diagnose: a delivered message, a connect, …
	Failure                      // a delivery/queue failure or a reject: Classify
	Operational                  // a warning:/fatal:/panic: line or a client-abuse verdict: Finding
)

// Event diagnoses one parsed log line: status=deferred/bounced/expired… and
// reject lines with Classify, warnings and postscreen/dnsblog verdicts with
// Finding. It reports NoFailure (and a zero Diagnosis) for other lines.
func (e *Engine) Event(ev *parser.Event) (Diagnosis, EventKind) {
	if in, ok := InputFromEvent(ev); ok {
		return e.Classify(in), Failure
	}
	switch ev.Kind {
	case parser.KindWarning:
		return e.Finding(string(ev.Severity), string(ev.Daemon), string(ev.Reason)), Operational
	case parser.KindPostscreen, parser.KindDNSBL:
		switch string(ev.Verdict) {
		case "", "CONNECT", "PASS OLD", "PASS NEW", "WHITELISTED", "ALLOWLISTED", "WHITELIST VETO", "ALLOWLIST VETO", "DISCONNECT":
			if ev.Kind == parser.KindPostscreen {
				return Diagnosis{}, NoFailure
			}
		}
		return e.Finding("", string(ev.Daemon), string(msgText(ev))), Operational
	}
	return Diagnosis{}, NoFailure
}

// InputFromEvent builds the Input for a line that records a failure: a
// delivery attempt that did not succeed, a queue expiry, a reject, or a
// connect error logged without a queue ID. ok is false for other lines.
func InputFromEvent(ev *parser.Event) (in Input, ok bool) {
	switch ev.Kind {
	case parser.KindDelivery:
		switch string(ev.Status) {
		case "sent", "delivered", "deliverable", "":
			return Input{}, false
		}
		in = Input{Reason: string(ev.Reason), Daemon: string(ev.Daemon), Status: string(ev.Status),
			DSN: string(ev.DSN), Relay: string(ev.Relay)}
	case parser.KindExpired:
		in = Input{Daemon: string(ev.Daemon), Status: string(ev.Status)}
	case parser.KindReject:
		in = Input{Reason: string(ev.Reason), Daemon: string(ev.Daemon)}
	case parser.KindConnectError:
		in = Input{Reason: string(msgText(ev)), Daemon: string(ev.Daemon)}
	default:
		return Input{}, false
	}
	if i := bytes.LastIndexByte(ev.To, '@'); i >= 0 {
		in.Domain = string(ev.To[i+1:])
	}
	return in, true
}

// msgText is the message without a leading queue ID.
func msgText(ev *parser.Event) []byte {
	m := ev.Msg
	if len(ev.QueueID) > 0 && bytes.HasPrefix(m, ev.QueueID) && bytes.HasPrefix(m[len(ev.QueueID):], []byte(": ")) {
		m = m[len(ev.QueueID)+2:]
	}
	return m
}
