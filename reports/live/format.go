package live

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pfdiag/pfdiag/reports/queue"
)

// AppendText appends ev as one line of text. Everything that comes from
// the log (destinations, addresses, reasons, fixes with values from the
// log) is escaped for the terminal: a hostile reason text cannot move the
// cursor, fake a line or hide itself.
func AppendText(dst []byte, ev *Event) []byte {
	dst = ev.Time.AppendFormat(dst, "2006-01-02 15:04:05")
	dst = append(dst, ' ')
	name := ev.Kind.String()
	dst = append(dst, name...)
	for i := len(name); i < len("escalated"); i++ {
		dst = append(dst, ' ')
	}
	dst = append(dst, ' ')
	t := queue.Terminal
	if ev.Kind == KindBounce {
		dst = append(dst, t(ev.Host)...)
		dst = append(dst, ' ')
		dst = append(dst, t(ev.QueueID)...)
		dst = append(dst, " <"...)
		dst = append(dst, t(ev.Recipient)...)
		dst = append(dst, "> "...)
		dst = append(dst, t(ev.Status)...)
		if ev.DSN != "" {
			dst = append(dst, ' ')
			dst = append(dst, t(ev.DSN)...)
		}
		dst = append(dst, ' ')
		dst = append(dst, t(ev.Category)...)
		if ev.Reason != "" {
			dst = append(dst, ": "...)
			dst = append(dst, t(ev.Reason)...)
		}
		return appendFix(dst, ev.Fix)
	}
	switch ev.Scope {
	case "relay", "host":
		dst = append(dst, ev.Scope...)
		dst = append(dst, ' ')
	}
	dst = append(dst, t(ev.Dest)...)
	dst = append(dst, ": "...)
	dst = append(dst, t(ev.Category)...)
	if ev.Kind == KindCleared {
		dst = append(dst, ", no failure since "...)
		dst = ev.Last.AppendFormat(dst, "15:04")
		dst = fmt.Appendf(dst, " (%s over %s, %d delivered meanwhile)",
			countPhrase(ev.Total, -1, -1, ev.Finding), fmtDuration(ev.Last.Sub(ev.Since)), ev.Delivered)
		return append(dst, '\n')
	}
	dst = append(dst, ", "...)
	dst = append(dst, countPhrase(ev.Count, ev.Temporary, ev.Permanent, ev.Finding)...)
	dst = append(dst, " in "...)
	dst = append(dst, fmtDuration(ev.Window)...)
	dst = append(dst, " ("...)
	dst = ev.First.AppendFormat(dst, "15:04")
	dst = append(dst, "–"...)
	dst = ev.Last.AppendFormat(dst, "15:04")
	dst = append(dst, ')')
	switch ev.Kind {
	case KindEscalated:
		dst = fmt.Appendf(dst, ", %d since ", ev.Total)
		dst = ev.Since.AppendFormat(dst, "15:04")
	case KindOngoing:
		dst = append(dst, ", since "...)
		dst = ev.Since.AppendFormat(dst, "15:04")
	}
	return appendFix(dst, ev.Fix)
}

func appendFix(dst []byte, fix string) []byte {
	if fix != "" {
		dst = append(dst, " → "...)
		dst = append(dst, queue.Terminal(fix)...)
	}
	return append(dst, '\n')
}

// countPhrase says "37 deferrals", "2 bounces", "12 failures (10
// deferred, 2 bounced)" or "3 warnings"; temp < 0 when unknown.
func countPhrase(n, temp, perm int, finding bool) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.Itoa(n) + " " + many
	}
	switch {
	case finding:
		return plural(n, "warning", "warnings")
	case temp < 0:
		return plural(n, "failure", "failures")
	case perm == 0:
		return plural(n, "deferral", "deferrals")
	case temp == 0:
		return plural(n, "bounce", "bounces")
	}
	return fmt.Sprintf("%d failures (%d deferred, %d bounced)", n, temp, perm)
}

// fmtDuration writes 5m, 1h30m, 45s, 2h.
func fmtDuration(d time.Duration) string {
	if d < time.Second {
		return "0s"
	}
	d = d.Round(time.Second)
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// jsonProblem is the JSON form of problem, escalated, ongoing and cleared
// events; its field names are a stable interface.
type jsonProblem struct {
	Time          string `json:"time"`
	Event         string `json:"event"`
	Scope         string `json:"scope"`
	Destination   string `json:"destination"`
	Category      string `json:"category"`
	Count         int    `json:"count"`
	Deferred      int    `json:"deferred"`
	Bounced       int    `json:"bounced"`
	WindowSeconds int64  `json:"window_seconds"`
	First         string `json:"first"`
	Last          string `json:"last"`
	Since         string `json:"since"`
	Total         int    `json:"total"`
	Delivered     int    `json:"delivered"`
	Warnings      bool   `json:"warnings,omitempty"`
	Fix           string `json:"fix,omitempty"`
	SampleQueueID string `json:"sample_queue_id,omitempty"`
	SampleReason  string `json:"sample_reason,omitempty"`
}

// jsonBounce is the JSON form of bounce events.
type jsonBounce struct {
	Time      string `json:"time"`
	Event     string `json:"event"`
	Host      string `json:"host"`
	QueueID   string `json:"queue_id"`
	Recipient string `json:"recipient"`
	Domain    string `json:"domain"`
	Status    string `json:"status"`
	DSN       string `json:"dsn,omitempty"`
	Category  string `json:"category"`
	Reason    string `json:"reason,omitempty"`
	Fix       string `json:"fix,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// AppendJSON appends ev as one JSON object and a newline. Invalid UTF-8
// from the log becomes U+FFFD; control characters are escaped.
func AppendJSON(dst []byte, ev *Event) []byte {
	var v any
	if ev.Kind == KindBounce {
		v = jsonBounce{Time: rfc3339(ev.Time), Event: ev.Kind.String(), Host: ev.Host, QueueID: ev.QueueID,
			Recipient: ev.Recipient, Domain: ev.Dest, Status: ev.Status, DSN: ev.DSN, Category: ev.Category,
			Reason: ev.Reason, Fix: ev.Fix}
	} else {
		j := jsonProblem{Time: rfc3339(ev.Time), Event: ev.Kind.String(), Scope: ev.Scope, Destination: ev.Dest,
			Category: ev.Category, Count: ev.Count, Deferred: ev.Temporary, Bounced: ev.Permanent,
			WindowSeconds: int64(ev.Window / time.Second), First: rfc3339(ev.First), Last: rfc3339(ev.Last),
			Since: rfc3339(ev.Since), Total: ev.Total, Delivered: ev.Delivered, Warnings: ev.Finding,
			Fix: ev.Fix, SampleQueueID: ev.QueueID, SampleReason: ev.Reason}
		if ev.Kind == KindCleared {
			j.Count, j.Deferred, j.Bounced = 0, 0, 0
		}
		v = j
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Cannot happen for these types; keep the line count honest.
		return fmt.Appendf(dst, "{\"event\":%q,\"error\":%q}\n", ev.Kind.String(), err.Error())
	}
	return appendJSONSafe(dst, buf.Bytes())
}

// appendJSONSafe appends JSON text with the characters encoding/json
// leaves raw but a terminal acts on (C1 controls, bidirectional overrides
// and isolates) written as \u escapes: `pfdiag tail --json` is also read
// on terminals.
func appendJSONSafe(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r >= 0x80 && r <= 0x9f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f:
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}
