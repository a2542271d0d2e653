package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pfdiag/pfdiag/correlate"
)

// cmdTrace implements `pfdiag trace QUEUE_ID | --message-id ID |
// --recipient ADDR | --sender ADDR [--since T] [--until T] [--json]`:
// the story of each matching message, from the index.
func cmdTrace(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "trace", "[flags] QUEUE_ID | --message-id ID | --recipient ADDR | --sender ADDR")
	idxFlags := addIndexFlags(fs, false)
	msgID := fs.String("message-id", "", "find messages by their Message-ID header (with or without <>)")
	rcpt := fs.String("recipient", "", "find messages to this address (or orig_to)")
	sender := fs.String("sender", "", "find messages from this envelope sender (\"<>\" for bounces)")
	sinceS := fs.String("since", "", "only messages seen at or after `T` (RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], or a duration ago: 24h, 7d)")
	untilS := fs.String("until", "", "only messages seen before `T` (same forms as --since)")
	asJSON := fs.Bool("json", false, "one JSON object per message (stable interface)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	q := correlate.Query{}
	n := 0
	if fs.NArg() > 1 {
		return usagef("one queue ID at a time (got %d arguments)", fs.NArg())
	}
	if fs.NArg() == 1 {
		q.By, q.Value = correlate.ByQueueID, fs.Arg(0)
		n++
	}
	for _, f := range []struct {
		v  string
		by correlate.Field
	}{{*msgID, correlate.ByMessageID}, {*rcpt, correlate.ByRecipient}, {*sender, correlate.BySender}} {
		if f.v != "" || (f.by == correlate.BySender && fs.Changed("sender")) {
			q.By, q.Value = f.by, f.v
			n++
		}
	}
	if n != 1 {
		return usagef("give exactly one of QUEUE_ID, --message-id, --recipient, --sender")
	}
	now := e.now()
	var err error
	if q.Since, err = parseWhen(*sinceS, now); err != nil {
		return usagef("--since: %v", err)
	}
	if q.Until, err = parseWhen(*untilS, now); err != nil {
		return usagef("--until: %v", err)
	}
	idx, err := idxFlags.open(e, true)
	if err != nil {
		return err
	}
	defer idx.Close()
	var msgs []*correlate.Message
	if err := idx.Messages(ctx, q, func(m *correlate.Message) error {
		msgs = append(msgs, m)
		return nil
	}); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return &exitError{1, fmt.Errorf("no message found for %s %s", fieldName(q.By), quoteArg(q.Value))}
	}
	slices.SortStableFunc(msgs, func(a, b *correlate.Message) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return strings.Compare(a.QueueID, b.QueueID)
	})
	w := bufio.NewWriter(e.stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // a terminal or jq reads it, not a browser
	for i, m := range msgs {
		if *asJSON {
			if err := enc.Encode(traceJSON(m)); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			w.WriteByte('\n')
		}
		writeTrace(w, m)
	}
	return nil
}

func fieldName(f correlate.Field) string {
	switch f {
	case correlate.ByMessageID:
		return "message-id"
	case correlate.ByRecipient:
		return "recipient"
	case correlate.BySender:
		return "sender"
	}
	return "queue ID"
}

func quoteArg(s string) string {
	if s == "" {
		return "<>"
	}
	return clean(s)
}

// parseWhen reads a point in time: RFC 3339, a date or date and time in
// the local zone, or a duration before now ("24h", "7d", "2w").
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := parseRetain(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (RFC 3339, YYYY-MM-DD[ HH:MM[:SS]], or 24h, 7d…)", s)
}

// clean makes log text safe for a terminal: control characters (an
// escape sequence in a reason text could rewrite the screen) and invalid
// UTF-8 are shown as \xNN.
func clean(s string) string {
	ok := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r == utf8.RuneError && n == 1) {
			ok = false
			break
		}
		i += n
	}
	if ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r == utf8.RuneError && n == 1) {
			for _, c := range []byte(s[i : i+n]) {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	t = t.Local()
	if t.Nanosecond() != 0 {
		return t.Format("2006-01-02 15:04:05.000000")
	}
	return t.Format("2006-01-02 15:04:05")
}

func fmtSecs(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func addr(s string) string { return "<" + clean(s) + ">" }

// traceEvent is one line of a message's story.
type traceEvent struct {
	t    time.Time
	text string
}

// writeTrace writes the story of one message: a header, then every line
// of every queue it passed through, in time order, then the outcome per
// recipient.
func writeTrace(w io.Writer, m *correlate.Message) {
	queues := 0
	m.Walk(func(*correlate.Message) { queues++ })
	fmt.Fprintf(w, "%s %s %s: %s", clean(m.Host), clean(m.Instance), clean(m.QueueID), m.FinalFate())
	if queues > 1 {
		fmt.Fprintf(w, " (through %d queues)", queues)
	}
	fmt.Fprintln(w)
	if m.MessageID != "" {
		fmt.Fprintf(w, "  message-id: %s\n", clean(m.MessageID))
	}
	if m.HasSender {
		fmt.Fprintf(w, "  from: %s", addr(m.Sender))
		if m.Size > 0 {
			fmt.Fprintf(w, ", size %d", m.Size)
		}
		fmt.Fprintln(w)
	}
	if c := clientText(m); c != "" {
		fmt.Fprintf(w, "  client: %s\n", c)
	}
	if m.NoticeFor != nil {
		fmt.Fprintf(w, "  %s notification about %s %s\n", clean(m.NoticeFor.Kind), clean(m.NoticeFor.Ref.Instance), clean(m.NoticeFor.Ref.QueueID))
	}
	var evs []traceEvent
	add := func(t time.Time, format string, a ...any) {
		evs = append(evs, traceEvent{t, fmt.Sprintf(format, a...)})
	}
	m.Walk(func(h *correlate.Message) {
		q := clean(h.Instance) + " " + clean(h.QueueID)
		if p := h.Parent(); p != nil {
			add(h.First, "%s: re-injected from %s %s", q, clean(p.Instance), clean(p.QueueID))
		}
		switch {
		case h.Origin == correlate.OriginSMTP:
			add(h.Arrival, "%s: received from %s", q, clientText(h))
		case h.Origin == correlate.OriginPickup:
			add(h.Arrival, "%s: received by pickup (uid %d)", q, h.Client.UID)
		case !h.Arrival.IsZero() && h.Arrival.Before(h.First):
			add(h.Arrival, "%s: arrived (from delay=; earlier lines not in the log)", q)
		}
		if h.Queued {
			add(h.First, "%s: queued: from=%s, size=%d, nrcpt=%d", q, addr(h.Sender), h.Size, h.Nrcpt)
		}
		for _, n := range h.Notes {
			text := ""
			if n.Text != "" {
				text = ": " + clean(n.Text)
			}
			add(n.Time, "%s: %s %s%s", q, clean(n.Daemon), clean(n.Action), text)
		}
		for i := range h.Recipients {
			r := &h.Recipients[i]
			for _, a := range r.Attempts {
				var b strings.Builder
				fmt.Fprintf(&b, "%s: to=%s", q, addr(r.Address))
				if r.OrigTo != "" {
					fmt.Fprintf(&b, " (orig_to=%s)", addr(r.OrigTo))
				}
				fmt.Fprintf(&b, " %s", a.Status)
				if a.Category != "" {
					fmt.Fprintf(&b, " [%s]", a.Category)
				}
				if a.Relay != "" {
					fmt.Fprintf(&b, " relay=%s", clean(a.Relay))
				}
				if a.DSN != "" {
					fmt.Fprintf(&b, " dsn=%s", clean(a.DSN))
				}
				if !a.Synthetic {
					fmt.Fprintf(&b, " delay=%s", fmtSecs(a.Delay))
					if a.HasDelays {
						fmt.Fprintf(&b, " delays=%s/%s/%s/%s", fmtSecs(a.Delays[0]), fmtSecs(a.Delays[1]), fmtSecs(a.Delays[2]), fmtSecs(a.Delays[3]))
					}
				}
				if a.Reason != "" {
					fmt.Fprintf(&b, " (%s)", clean(a.Reason))
				}
				add(a.Time, "%s", b.String())
			}
		}
		for _, n := range h.Notices {
			add(n.Time, "%s: %s %s notification: %s %s", q, clean(n.To), clean(n.Kind), clean(n.Ref.Instance), clean(n.Ref.QueueID))
		}
		switch {
		case h.Fate.Final():
			add(h.FateTime, "%s: left the queue: %s", q, h.Fate)
		case h.Fate == correlate.FateHeld:
			add(h.LastSeen, "%s: on hold when the log ends", q)
		default:
			add(h.LastSeen, "%s: still queued when the log ends", q)
		}
	})
	slices.SortStableFunc(evs, func(a, b traceEvent) int { return a.t.Compare(b.t) })
	for _, ev := range evs {
		fmt.Fprintf(w, "  %s  %s\n", fmtTime(ev.t), ev.text)
	}
	fmt.Fprintln(w, "  outcome:")
	for _, o := range m.Outcomes() {
		fmt.Fprintf(w, "    %s %s", addr(o.Address), o.Status)
		if o.Category != "" && o.Status != correlate.StatusSent {
			fmt.Fprintf(w, " [%s]", o.Category)
		}
		fmt.Fprintf(w, ", %d attempt", len(o.Attempts))
		if len(o.Attempts) != 1 {
			fmt.Fprint(w, "s")
		}
		fmt.Fprintln(w)
	}
}

func clientText(m *correlate.Message) string {
	c := &m.Client
	switch m.Origin {
	case correlate.OriginPickup:
		return fmt.Sprintf("pickup (uid %d)", c.UID)
	case correlate.OriginNotification:
		return "generated by Postfix (bounce)"
	}
	s := c.String()
	if s == "" {
		return ""
	}
	s = clean(s)
	if c.SASLUser != "" {
		s += ", sasl_username=" + clean(c.SASLUser)
	}
	if c.Helo != "" {
		s += ", helo=" + clean(c.Helo)
	}
	if c.Service != "" && c.Service != "smtpd" {
		s += " (" + clean(c.Service) + ")"
	}
	return s
}

// The JSON form of a trace: a stable interface (documented in README).
type jsonTrace struct {
	Host         string          `json:"host"`
	Instance     string          `json:"instance"`
	QueueID      string          `json:"queue_id"`
	MessageID    string          `json:"message_id"`
	Sender       string          `json:"sender"`
	Client       string          `json:"client"`
	ClientIP     string          `json:"client_ip,omitempty"`
	SASLUsername string          `json:"sasl_username,omitempty"`
	Origin       string          `json:"origin"`
	Arrival      *time.Time      `json:"arrival"`
	FirstSeen    time.Time       `json:"first_seen"`
	LastSeen     time.Time       `json:"last_seen"`
	Size         int64           `json:"size"`
	Nrcpt        int             `json:"nrcpt"`
	Fate         string          `json:"fate"`
	Recipients   []jsonRecipient `json:"recipients"`
	Hops         []jsonHop       `json:"hops"`
	Notices      []jsonNotice    `json:"notifications,omitempty"`
	NoticeFor    *jsonNotice     `json:"notification_for,omitempty"`
	Notes        []jsonNote      `json:"notes,omitempty"`
}

type jsonRecipient struct {
	Address  string        `json:"address"`
	OrigTo   string        `json:"orig_to,omitempty"`
	Status   string        `json:"status"`
	Category string        `json:"category,omitempty"`
	Attempts []jsonAttempt `json:"attempts"`
}

type jsonAttempt struct {
	Time     time.Time   `json:"time"`
	QueueID  string      `json:"queue_id"`
	Daemon   string      `json:"daemon"`
	Relay    string      `json:"relay"`
	Delay    float64     `json:"delay"`
	Delays   *[4]float64 `json:"delays,omitempty"`
	DSN      string      `json:"dsn"`
	Status   string      `json:"status"`
	Reason   string      `json:"reason"`
	Category string      `json:"category,omitempty"`
	QueuedAs string      `json:"queued_as,omitempty"`
	Expiry   bool        `json:"expiry,omitempty"`
}

type jsonHop struct {
	Host      string    `json:"host"`
	Instance  string    `json:"instance"`
	QueueID   string    `json:"queue_id"`
	FirstSeen time.Time `json:"first_seen"`
	Fate      string    `json:"fate"`
}

type jsonNotice struct {
	Kind     string    `json:"kind"`
	To       string    `json:"to"`
	Instance string    `json:"instance"`
	QueueID  string    `json:"queue_id"`
	Time     time.Time `json:"time"`
}

type jsonNote struct {
	Time    time.Time `json:"time"`
	QueueID string    `json:"queue_id"`
	Daemon  string    `json:"daemon"`
	Action  string    `json:"action"`
	Text    string    `json:"text,omitempty"`
}

func traceJSON(m *correlate.Message) jsonTrace {
	j := jsonTrace{
		Host: m.Host, Instance: m.Instance, QueueID: m.QueueID, MessageID: m.MessageID,
		Sender: m.Sender, Client: m.Client.String(), ClientIP: m.Client.IP, SASLUsername: m.Client.SASLUser,
		Origin: m.Origin.String(), FirstSeen: m.First, Size: m.Size, Nrcpt: m.Nrcpt,
		Fate: m.FinalFate().String(), Recipients: []jsonRecipient{}, Hops: []jsonHop{},
	}
	if m.Origin == correlate.OriginPickup {
		j.Client = "pickup"
	}
	if !m.Arrival.IsZero() {
		a := m.Arrival
		j.Arrival = &a
	}
	_, j.LastSeen = m.Span()
	m.Walk(func(h *correlate.Message) {
		j.Hops = append(j.Hops, jsonHop{h.Host, h.Instance, h.QueueID, h.First, h.Fate.String()})
		for _, n := range h.Notes {
			j.Notes = append(j.Notes, jsonNote{n.Time, h.QueueID, n.Daemon, n.Action, n.Text})
		}
		for _, n := range h.Notices {
			j.Notices = append(j.Notices, jsonNotice{n.Kind, n.To, n.Ref.Instance, n.Ref.QueueID, n.Time})
		}
	})
	if n := m.NoticeFor; n != nil {
		j.NoticeFor = &jsonNotice{n.Kind, n.To, n.Ref.Instance, n.Ref.QueueID, n.Time}
	}
	for _, o := range m.Outcomes() {
		r := jsonRecipient{Address: o.Address, Status: o.Status.String(), Attempts: []jsonAttempt{}}
		if o.Status.Failed() {
			r.Category = o.Category
		}
		if rc := m.Recipient(o.Address); rc != nil {
			r.OrigTo = rc.OrigTo
		}
		for i, a := range o.Attempts {
			ja := jsonAttempt{
				Time: a.Time, QueueID: o.AttemptHops[i].QueueID, Daemon: a.Daemon, Relay: a.Relay, Delay: a.Delay, DSN: a.DSN,
				Status: a.Status.String(), Reason: a.Reason, Category: a.Category, QueuedAs: a.QueuedAs, Expiry: a.Synthetic,
			}
			if a.HasDelays {
				d := a.Delays
				ja.Delays = &d
			}
			r.Attempts = append(r.Attempts, ja)
		}
		j.Recipients = append(j.Recipients, r)
	}
	return j
}
