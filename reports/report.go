package reports

import (
	"time"

	"github.com/pfdiag/pfdiag/rules"
	"github.com/pfdiag/pfdiag/rules/tuning"
)

// SchemaVersion is the version of the JSON form of a Report. It changes
// only when a field is renamed, removed or changes meaning; fields may be
// added within a version.
const SchemaVersion = 1

// Diagnoser gives the actor, explanation and fix of a failure and the
// finding of a warning line; *rules.Engine is one. Reports never decide a
// category: failures carry the one the correlator recorded at ingest.
type Diagnoser interface {
	Classify(rules.Input) rules.Diagnosis
	Finding(severity, daemon, text string) rules.Diagnosis
}

// Report is a postmortem of the index over a window. Its JSON form is a
// stable interface (SchemaVersion); every list is sorted most important
// first, ties by name, so equal inputs give byte-identical output.
type Report struct {
	SchemaVersion int                 `json:"schema_version"`
	Generated     time.Time           `json:"generated"`
	Filter        Filter              `json:"filter"`
	Summary       Summary             `json:"summary"`
	Diagnoses     []Diagnosis         `json:"diagnoses"`
	Domains       []DomainRow         `json:"recipient_domains"`
	Relays        []RelayRow          `json:"relays"`
	Senders       []SenderRow         `json:"failing_senders"`
	Delays        Delays              `json:"delays"`
	Timeline      []HourRow           `json:"timeline"`
	Rejects       []RejectRow         `json:"rejects"`
	Findings      []FindingRow        `json:"findings"`
	Traffic       Traffic             `json:"traffic"`
	Suggestions   []tuning.Suggestion `json:"suggestions"`
	// PostconfGiven says whether the suggestions took a configuration
	// (--postconf) into account; otherwise they assume Postfix's defaults.
	PostconfGiven bool `json:"postconf_given"`
	// Top is the number of rows each ranked list was cut to.
	Top int `json:"top"`

	loc *time.Location
}

// Filter is what the report covers. Since/Until bound the time of every
// record; Host and Instance select a Postfix instance; Sender,
// RecipientDomain and Category narrow the message and delivery sections
// (summary deliveries and messages, diagnoses, domains, relays, senders,
// delays, timeline, traffic). The sections built from per-hour aggregates
// (lines, unparsed samples, rejects, findings, warnings) honour the time
// window and the host; rejects also honour RecipientDomain and Category.
type Filter struct {
	Since           time.Time `json:"since,omitzero"`
	Until           time.Time `json:"until,omitzero"`
	Host            string    `json:"host,omitempty"`
	Instance        string    `json:"instance,omitempty"`
	Sender          string    `json:"sender,omitempty"`
	RecipientDomain string    `json:"recipient_domain,omitempty"`
	Category        string    `json:"category,omitempty"`
}

// Summary is the first section.
type Summary struct {
	// First and Last are the earliest and latest record in the window.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// Lines counts the log lines read, Unparsed those pfdiag did not
	// understand (malformed, unknown Postfix lines, other programs').
	Lines           int64            `json:"lines"`
	LinesByKind     map[string]int64 `json:"lines_by_kind"`
	Unparsed        int64            `json:"unparsed"`
	UnparsedSamples []LineSample     `json:"unparsed_samples"`
	// Messages is the number of messages received (from an SMTP client,
	// pickup or a local submission) in the window.
	Messages      int64            `json:"messages"`
	BytesReceived int64            `json:"bytes_received"`
	Notifications int64            `json:"notifications"` // bounce/delay notices Postfix generated
	Fates         map[string]int64 `json:"fates"`         // messages seen in the window by how they left the queue
	// Deliveries counts delivery attempts, one per to= line as Postfix
	// logged them, plus one per recipient still pending when qmgr
	// expired its message.
	Deliveries Deliveries `json:"deliveries"`
	// Rates are the shares of Deliveries.Total.
	Rates          Rates `json:"rates"`
	NoQueueRejects int64 `json:"noqueue_rejects"`
	Warnings       int64 `json:"warnings"` // warning:, error:, fatal:, panic: lines
}

// Deliveries counts delivery attempts by status.
type Deliveries struct {
	Sent     int64 `json:"sent"`
	Deferred int64 `json:"deferred"`
	Bounced  int64 `json:"bounced"`
	Expired  int64 `json:"expired"`
	Total    int64 `json:"total"`
}

// Rates are fractions (0..1) of all delivery attempts.
type Rates struct {
	Sent     float64 `json:"sent"`
	Deferred float64 `json:"deferred"`
	Bounced  float64 `json:"bounced"`
	Expired  float64 `json:"expired"`
}

// LineSample is a log line kept as an example.
type LineSample struct {
	Host string    `json:"host"`
	Kind string    `json:"kind"`
	Time time.Time `json:"time,omitzero"`
	Line int64     `json:"line"`
	Text string    `json:"text"`
}

// Count is a name with a number.
type Count struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Sample is one delivery attempt shown as an example of a diagnosis.
type Sample struct {
	Time      time.Time `json:"time"`
	Host      string    `json:"host"`
	QueueID   string    `json:"queue_id"`
	Recipient string    `json:"recipient"`
	Status    string    `json:"status"`
	DSN       string    `json:"dsn"`
	Relay     string    `json:"relay"`
	Reason    string    `json:"reason"`
}

// Diagnosis is one category with everything that failed for it.
type Diagnosis struct {
	Category    string `json:"category"`
	Class       string `json:"class"` // temporary, permanent, or both joined by "+"
	Actor       string `json:"actor"` // who must act: us, recipient, sender, network, nobody…
	Explanation string `json:"explanation"`
	Fix         string `json:"fix"` // for the most affected domain, with its values filled in
	Reference   string `json:"reference,omitempty"`
	Deliveries  int64  `json:"deliveries"`
	Deferred    int64  `json:"deferred"`
	Bounced     int64  `json:"bounced"`
	Expired     int64  `json:"expired"`
	// Messages is the number of messages with at least one attempt in
	// this category; Undelivered those with a recipient that ended in it
	// (bounced, expired, or still deferred at the end of the window).
	Messages    int64     `json:"messages"`
	Undelivered int64     `json:"messages_undelivered"`
	DomainCount int64     `json:"domain_count"`
	Domains     []Count   `json:"domains"`
	RelayCount  int64     `json:"relay_count"`
	Relays      []Count   `json:"relays"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	Samples     []Sample  `json:"samples"`
	// Groups are the most affected recipient domains, each with the fix
	// the rules give for its own sample.
	Groups []Group `json:"groups"`
	// Causes, for queue_expired: the categories of the last deferral
	// before the expiry (the root cause).
	Causes []Count `json:"causes,omitempty"`
}

// Group is one recipient domain of a diagnosis.
type Group struct {
	Domain     string `json:"domain"`
	Deliveries int64  `json:"deliveries"`
	Relay      string `json:"relay"`
	Fix        string `json:"fix"`
	Sample     Sample `json:"sample"`
}

// DomainRow is one recipient domain.
type DomainRow struct {
	Domain      string  `json:"domain"`
	Attempts    int64   `json:"attempts"`
	Sent        int64   `json:"sent"`
	Deferred    int64   `json:"deferred"`
	Bounced     int64   `json:"bounced"`
	Expired     int64   `json:"expired"`
	Top         string  `json:"top_diagnosis,omitempty"`
	MedianDelay float64 `json:"median_delay"` // seconds, of sent attempts (delay=); -1 when none was sent
}

// RelayRow is one next hop (the host name of relay=, "none" when Postfix
// did not reach one).
type RelayRow struct {
	Relay       string  `json:"relay"`
	Attempts    int64   `json:"attempts"`
	Sent        int64   `json:"sent"`
	Deferred    int64   `json:"deferred"`
	Bounced     int64   `json:"bounced"`
	Expired     int64   `json:"expired"`
	Top         string  `json:"top_diagnosis,omitempty"`
	MedianDelay float64 `json:"median_delay"`
}

// SenderRow is one envelope sender with failures.
type SenderRow struct {
	Sender            string   `json:"sender"` // "" is the null sender <>
	SASLUsers         []string `json:"sasl_users"`
	Messages          int64    `json:"messages"`
	Attempts          int64    `json:"attempts"`
	Sent              int64    `json:"sent"`
	Deferred          int64    `json:"deferred"`
	Bounced           int64    `json:"bounced"`
	Expired           int64    `json:"expired"`
	BouncedRecipients int64    `json:"bounced_recipients"` // distinct
	// Signal is set when the pattern matches a compromised account or a
	// stale list: many bounces to distinct recipients.
	Signal string `json:"signal,omitempty"`
}

// Delays is the delay analysis from delays=a/b/c/d.
type Delays struct {
	Attempts int64        `json:"attempts"` // attempts with delays=
	Stages   []StageDelay `json:"stages"`   // a, b, c, d, then "total" (delay= of sent attempts)
}

// StageDelay holds percentiles (seconds) of one stage.
type StageDelay struct {
	Stage   string  `json:"stage"`
	Meaning string  `json:"meaning"`
	Count   int64   `json:"count"`
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// HourRow is one hour of the timeline.
type HourRow struct {
	Hour     time.Time `json:"hour"`
	Sent     int64     `json:"sent"`
	Deferred int64     `json:"deferred"`
	Bounced  int64     `json:"bounced"`
	Expired  int64     `json:"expired"`
	Rejected int64     `json:"rejected"` // NOQUEUE rejects
}

// RejectRow is one reject reason (NOQUEUE or after a queue ID).
type RejectRow struct {
	Daemon    string    `json:"daemon"`
	Action    string    `json:"action"`
	Stage     string    `json:"stage"`
	Code      int       `json:"code"`
	Enhanced  string    `json:"enhanced"`
	Category  string    `json:"category"`
	Reason    string    `json:"reason"` // normalised (addresses and numbers masked)
	Sample    string    `json:"sample"`
	Count     int64     `json:"count"`
	Clients   int64     `json:"clients"` // distinct client IPs
	TopClient string    `json:"top_client"`
	Queued    bool      `json:"queued"` // the message had a queue ID (cleanup/milter), not NOQUEUE
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
}

// FindingRow is one operational finding from warning:/error:/fatal:/panic: lines.
type FindingRow struct {
	Category    string    `json:"category"`
	Severity    string    `json:"severity"` // the worst seen
	Explanation string    `json:"explanation"`
	Fix         string    `json:"fix"`
	Count       int64     `json:"count"`
	Daemons     []string  `json:"daemons"`
	Samples     []string  `json:"samples"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
}

// Traffic is what pflogsumm reports, for admins who compare.
type Traffic struct {
	Received         int64 `json:"received"`
	Delivered        int64 `json:"delivered"` // sent attempts
	Deferred         int64 `json:"deferred"`
	Bounced          int64 `json:"bounced"`
	Expired          int64 `json:"expired"`
	Rejected         int64 `json:"rejected"`
	RejectWarnings   int64 `json:"reject_warnings"`
	Held             int64 `json:"held"`
	Discarded        int64 `json:"discarded"`
	BytesReceived    int64 `json:"bytes_received"`
	BytesDelivered   int64 `json:"bytes_delivered"`
	Senders          int64 `json:"senders"`
	SendingDomains   int64 `json:"sending_domains"`
	Recipients       int64 `json:"recipients"`
	RecipientDomains int64 `json:"recipient_domains"`
	// Approximate is set when an archive had more distinct addresses than
	// a report keeps counters for: distinct counts are then lower bounds
	// and the top lists are exact only for their leading rows.
	Approximate bool `json:"approximate"`

	PerDay               []DayRow        `json:"per_day"`
	PerHour              []DayRow        `json:"per_hour_of_day"` // summed over the days, Date is "00".."23"
	DomainsDelivered     []DomainTraffic `json:"domains_delivered"`
	DomainsReceived      []DomainCount   `json:"domains_received"`
	TopSendersByCount    []AddrCount     `json:"top_senders_by_count"`
	TopSendersBySize     []AddrCount     `json:"top_senders_by_size"`
	TopRecipientsByCount []AddrCount     `json:"top_recipients_by_count"`
	TopRecipientsBySize  []AddrCount     `json:"top_recipients_by_size"`
	DeferralDetail       []DetailRow     `json:"deferral_detail"`
	BounceDetail         []DetailRow     `json:"bounce_detail"`
	WarningDetail        []WarningRow    `json:"warning_detail"` // warning, error, fatal and panic lines
}

// DayRow is one day (or hour of day) of traffic.
type DayRow struct {
	Date      string `json:"date"`
	Received  int64  `json:"received"`
	Delivered int64  `json:"delivered"`
	Deferred  int64  `json:"deferred"`
	Bounced   int64  `json:"bounced"`
	Rejected  int64  `json:"rejected"`
}

// DomainTraffic is one domain's delivered (by recipient domain) or
// received (by sender domain) mail.
type DomainTraffic struct {
	Domain   string  `json:"domain"`
	Count    int64   `json:"count"`
	Bytes    int64   `json:"bytes"`
	Deferred int64   `json:"deferred"`
	AvgDelay float64 `json:"avg_delay"`
	MaxDelay float64 `json:"max_delay"`
}

// DomainCount is one sender domain's received messages and bytes
// ("<>" for the null sender, "(local)" for addresses without a domain).
type DomainCount struct {
	Domain string `json:"domain"`
	Count  int64  `json:"count"`
	Bytes  int64  `json:"bytes"`
}

// AddrCount is one address with its message count and bytes.
type AddrCount struct {
	Address string `json:"address"`
	Count   int64  `json:"count"`
	Bytes   int64  `json:"bytes"`
}

// DetailRow groups deferrals or bounces by category, DSN and next hop.
type DetailRow struct {
	Category string `json:"category"`
	DSN      string `json:"dsn"`
	Relay    string `json:"relay"`
	Count    int64  `json:"count"`
	Sample   string `json:"sample"`
}

// WarningRow is one (severity, daemon, normalised text).
type WarningRow struct {
	Severity string `json:"severity"`
	Daemon   string `json:"daemon"`
	Text     string `json:"text"`
	Count    int64  `json:"count"`
	Sample   string `json:"sample"`
}
