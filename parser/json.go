package parser

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// SchemaVersion is the version of the JSON object AppendJSON writes. Fields
// are only added within a version, never renamed or removed.
const SchemaVersion = 1

// AppendJSON appends the event as one JSON object (no newline), the stable
// format of `pfdiag parse`:
//
//	{"time":"2026-11-30T07:33:55+01:00","host":"mail","program":"postfix/smtp",
//	 "instance":"postfix","service":"","daemon":"smtp","pid":16961,
//	 "queue_id":"967FBC2175","kind":"delivery","to":"nosuchuser@remote.test",…}
//
// time, host, program, instance, service, daemon, pid, queue_id and kind are
// always present; raw only when withRaw; the other fields when the line has
// them (delivery lines always carry to, orig_to, relay, delay, delays, dsn,
// status and reason). Invalid UTF-8 in log text becomes U+FFFD, as in
// encoding/json. It is hand-written because it runs once per line.
func (e *Event) AppendJSON(dst []byte, withRaw bool) []byte {
	dst = append(dst, `{"time":"`...)
	if !e.Time.IsZero() {
		dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, '"')
	dst = jsonField(dst, "host", e.Host)
	dst = jsonField(dst, "program", e.Program)
	dst = jsonField(dst, "instance", e.Instance)
	dst = jsonField(dst, "service", e.Service)
	dst = jsonField(dst, "daemon", e.Daemon)
	dst = append(dst, `,"pid":`...)
	dst = strconv.AppendInt(dst, int64(e.PID), 10)
	dst = jsonField(dst, "queue_id", e.QueueID)
	dst = append(dst, `,"kind":"`...)
	dst = append(dst, e.Kind.String()...)
	dst = append(dst, '"')
	if e.Line > 0 {
		dst = append(dst, `,"line":`...)
		dst = strconv.AppendInt(dst, e.Line, 10)
	}
	if e.Kind == KindDelivery {
		dst = jsonField(dst, "to", e.To)
		dst = jsonField(dst, "orig_to", e.OrigTo)
		dst = jsonField(dst, "relay", e.Relay)
		dst = append(dst, `,"delay":`...)
		dst = strconv.AppendFloat(dst, e.Delay, 'f', -1, 64)
		dst = append(dst, `,"delays":[`...)
		for i, d := range e.Delays {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendFloat(dst, d, 'f', -1, 64)
		}
		dst = append(dst, ']')
		dst = jsonField(dst, "dsn", e.DSN)
		dst = jsonField(dst, "status", e.Status)
		dst = jsonField(dst, "reason", e.Reason)
		if e.ConnUse > 0 {
			dst = append(dst, `,"conn_use":`...)
			dst = strconv.AppendInt(dst, int64(e.ConnUse), 10)
		}
	} else {
		dst = jsonOpt(dst, "to", e.To)
		dst = jsonOpt(dst, "orig_to", e.OrigTo)
		dst = jsonOpt(dst, "relay", e.Relay)
		dst = jsonOpt(dst, "status", e.Status)
		dst = jsonOpt(dst, "reason", e.Reason)
	}
	if e.HasFrom {
		dst = jsonField(dst, "from", e.From)
	}
	dst = jsonOpt(dst, "client_host", e.ClientHost)
	dst = jsonOpt(dst, "client_ip", e.ClientIP)
	if e.ClientPort > 0 {
		dst = append(dst, `,"client_port":`...)
		dst = strconv.AppendInt(dst, int64(e.ClientPort), 10)
	}
	dst = jsonOpt(dst, "sasl_method", e.SASLMethod)
	dst = jsonOpt(dst, "sasl_username", e.SASLUser)
	if e.Kind == KindQueued {
		dst = append(dst, `,"size":`...)
		dst = strconv.AppendInt(dst, e.Size, 10)
		dst = append(dst, `,"nrcpt":`...)
		dst = strconv.AppendInt(dst, int64(e.Nrcpt), 10)
	}
	if e.Kind == KindMessageID {
		dst = jsonField(dst, "message_id", e.MessageID)
		if e.Resent {
			dst = append(dst, `,"resent":true`...)
		}
	}
	if e.HasUID {
		dst = append(dst, `,"uid":`...)
		dst = strconv.AppendInt(dst, int64(e.UID), 10)
	}
	dst = jsonOpt(dst, "action", e.Action)
	dst = jsonOpt(dst, "stage", e.Stage)
	if e.Code > 0 {
		dst = append(dst, `,"code":`...)
		dst = strconv.AppendInt(dst, int64(e.Code), 10)
	}
	dst = jsonOpt(dst, "enhanced", e.Enhanced)
	dst = jsonOpt(dst, "proto", e.Proto)
	dst = jsonOpt(dst, "helo", e.Helo)
	dst = jsonOpt(dst, "new_queue_id", e.NewQueueID)
	dst = jsonOpt(dst, "notice", e.Notice)
	dst = jsonOpt(dst, "severity", e.Severity)
	dst = jsonOpt(dst, "version", e.Version)
	dst = jsonOpt(dst, "verdict", e.Verdict)
	dst = jsonOpt(dst, "list", e.List)
	if e.TooLong {
		dst = append(dst, `,"too_long":true`...)
	}
	if withRaw {
		dst = jsonField(dst, "raw", e.Raw)
	}
	return append(dst, '}')
}

func jsonOpt(dst []byte, name string, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	return jsonField(dst, name, v)
}

func jsonField(dst []byte, name string, v []byte) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return AppendJSONString(dst, v)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Control characters are
// escaped, invalid UTF-8 becomes U+FFFD, and '<', '>', '&' are escaped so
// the output is safe to embed in HTML.
func AppendJSONString(dst []byte, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c != 0x7f {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
